"""Runs the file-format benchmarks once, in one process, and prints lamina beside its peers.

Usage:
    python benchmarks/run_format.py [--rows N] [--json out.json] [--png out.png]

Workloads (BENCHMARKS.md): Decode (one column of a one-column file, eight data shapes),
Wide (open a 10,000-column file and read 5 columns), and the W1 base table as one file
(size, random take of 1,000 rows, full read, 3-column projection, write).

Timing is best-of-k with ``time.perf_counter`` (at least k runs, and more until 0.3 s is
spent, so that millisecond operations get enough tries); every timed call opens the file.
Each file is read in full once, and each operation run once untimed, before timing, so
every system runs with a warm OS page cache. Ratios are peer/lamina for time (above 1:
lamina is faster) and lamina/peer for size (below 1: lamina is smaller).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from micro import DECODE_CASES, decode_column, wide_columns_to_read, wide_table
from systems import System, available_systems, warm_page_cache
from w1 import DEFAULT_SEED, base_table

PEERS = ["parquet", "parquet-zstd", "lance"]
W1_PEERS = ["parquet-zstd", "lance"]
W1_PROJECTION = ["user_id", "dense_0", "seq_items"]
HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Measurement:
    workload: str
    system: str
    seconds: float | None
    bytes: int | None = None
    api: str = ""
    rounds: int = 0
    error: str = ""
    note: str = ""
    all_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    results: list[Measurement] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def check(self, what: str, ok: bool, detail: str = "") -> None:
        self.checks.append({"check": what, "ok": bool(ok), "detail": detail})
        if not ok:
            print(f"  !! CHECK FAILED: {what} {detail}", flush=True)


def best_of(
    fn: Callable[[], Any], k: int, min_time: float = 0.3, max_rounds: int = 50
) -> tuple[float, int, Any]:
    """Runs ``fn`` once untimed, then at least ``k`` times and until ``min_time`` seconds
    are spent (at most ``max_rounds``), so that millisecond operations get enough tries
    on a noisy machine. Returns (fastest seconds, rounds, last result)."""
    result = fn()
    best = float("inf")
    spent = 0.0
    n = 0
    while n < k or (spent < min_time and n < max_rounds):
        t0 = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        n += 1
    return best, n, result


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0][:200]


def write(run: Run, sys_: System, path: str, table: pa.Table) -> int | None:
    try:
        size = sys_.write(path, table)
    # A crash in one system must not hide the other systems' numbers.
    except Exception as e:
        traceback.print_exc()
        run.check(f"{sys_.name} write {os.path.basename(path)}", False, _error(e))
        return None
    warm_page_cache(path)
    return size


def measure(
    run: Run,
    workload: str,
    sys_: System,
    size: int | None,
    variants: dict[str, Callable[[], Any]],
    k: int,
    expected: pa.Table | None,
) -> None:
    """Times each API variant, keeps the fastest, and checks every result against ``expected``."""
    if size is None:
        run.results.append(Measurement(workload, sys_.name, None, error="write failed"))
        return
    timings: dict[str, float] = {}
    n_rounds: dict[str, int] = {}
    errors = []
    for api, fn in variants.items():
        try:
            secs, n_rounds[api], result = best_of(fn, k)
        except Exception as e:
            traceback.print_exc()
            errors.append(f"{api}: {_error(e)}")
            run.check(f"{workload} / {sys_.name} {api} runs", False, _error(e))
            continue
        timings[api] = secs
        if expected is not None:
            ok = result.equals(expected)
            detail = ""
            if not ok:
                detail = _diff(result, expected)
            run.check(f"{workload} / {sys_.name} {api} equals source", ok, detail)
    if not timings:
        run.results.append(
            Measurement(workload, sys_.name, None, size, rounds=k, error="; ".join(errors))
        )
        return
    api = min(timings, key=timings.__getitem__)
    run.results.append(
        Measurement(
            workload,
            sys_.name,
            timings[api],
            size,
            api=api,
            rounds=n_rounds[api],
            all_seconds=timings,
        )
    )
    print(
        f"  {workload:<44} {sys_.name:<13} {_fmt_time(timings[api]):>9}  "
        f"{_fmt_size(size):>9}  {api}",
        flush=True,
    )


def _diff(got: pa.Table, want: pa.Table) -> str:
    if got.schema != want.schema:
        return f"schema {got.schema} != {want.schema}"
    if got.num_rows != want.num_rows:
        return f"{got.num_rows} rows != {want.num_rows}"
    bad = [n for n in want.column_names if not got.column(n).equals(want.column(n))]
    return f"columns differ: {bad[:5]}"


def run_decode(run: Run, systems: list[System], root: str, n: int, k: int) -> None:
    for case in DECODE_CASES:
        table = decode_column(case, n)
        for s in systems:
            path = os.path.join(root, f"decode-{case}.{s.name}{s.suffix}")
            size = write(run, s, path, table)
            measure(
                run,
                f"decode {case} ({n:,} values)",
                s,
                size,
                {"read([col])": functools.partial(s.read, path, [case])},
                k,
                table,
            )
            _remove(path)


def run_wide(run: Run, systems: list[System], root: str, n_cols: int, n_rows: int, k: int) -> None:
    table = wide_table(n_cols, n_rows)
    cols = wide_columns_to_read(table)
    want = table.select(cols)
    for s in systems:
        path = os.path.join(root, f"wide.{s.name}{s.suffix}")
        size = write(run, s, path, table)
        measure(
            run,
            f"wide: open + read 5 of {n_cols:,} cols",
            s,
            size,
            {"read(cols)": functools.partial(s.read, path, cols)},
            k,
            want,
        )
        _remove(path)


def run_w1(run: Run, systems: list[System], root: str, n: int, take_rows: int, k: int) -> None:
    table = base_table(n, DEFAULT_SEED)
    idx = np.random.default_rng(1234).choice(n, size=min(take_rows, n), replace=False)
    want_take = table.take(idx)
    want_proj = table.select(W1_PROJECTION)
    for s in systems:
        path = os.path.join(root, f"w1.{s.name}{s.suffix}")
        t0 = time.perf_counter()
        size = write(run, s, path, table)
        write_s = time.perf_counter() - t0
        if size is not None:
            run.results.append(
                Measurement(
                    f"W1 write {n:,} rows (1 round)", s.name, write_s, size, api="write", rounds=1
                )
            )
        measure(
            run,
            f"W1 take {len(idx):,} random rows",
            s,
            size,
            {api: functools.partial(f, path, idx, None) for api, f in s.take_variants.items()},
            k,
            want_take,
        )
        measure(
            run,
            "W1 3-col projection",
            s,
            size,
            {"read(cols)": functools.partial(s.read, path, W1_PROJECTION)},
            k,
            want_proj,
        )
        measure(
            run,
            f"W1 full read {n:,} rows",
            s,
            size,
            {"read()": functools.partial(s.read, path, None)},
            min(k, 3),
            table,
        )
        _remove(path)


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions(systems: list[System]) -> dict[str, str]:
    out = {"numpy": np.__version__, "pyarrow": pa.__version__}
    for s in systems:
        key = {"parquet": "pyarrow", "parquet-zstd": "pyarrow", "lance": "pylance"}.get(
            s.name, s.name
        )
        out[key] = s.version()
    return out


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "ERROR"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _fmt_size(b: int | None) -> str:
    if b is None:
        return "-"
    if b < 1 << 20:
        return f"{b / 1024:.1f} KiB"
    return f"{b / 2**20:.1f} MiB"


def table_rows(run: Run) -> list[dict[str, Any]]:
    """One row per (workload, peer): lamina's numbers, the peer's, and the ratios."""
    rows = []
    workloads = list(dict.fromkeys(m.workload for m in run.results))
    for w in workloads:
        ms = [m for m in run.results if m.workload == w]
        lam = next((m for m in ms if m.system == "lamina"), None)
        for p in (m for m in ms if m.system != "lamina"):
            time_ratio = p.seconds / lam.seconds if lam and lam.seconds and p.seconds else None
            size_ratio = lam.bytes / p.bytes if lam and lam.bytes and p.bytes else None
            rows.append(
                {
                    "workload": w,
                    "lamina_seconds": lam.seconds if lam else None,
                    "lamina_bytes": lam.bytes if lam else None,
                    "peer": p.system
                    if p.api in ("", "read()", "read(cols)", "read([col])", "write")
                    else f"{p.system} [{p.api}]",
                    "peer_seconds": p.seconds,
                    "peer_bytes": p.bytes,
                    "time_ratio_peer_over_lamina": time_ratio,
                    "size_ratio_lamina_over_peer": size_ratio,
                }
            )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    header = [
        "workload",
        "lamina",
        "lamina size",
        "peer",
        "peer time",
        "peer size",
        "time peer/lam",
        "size lam/peer",
    ]
    body = []
    last = None
    for r in rows:
        first = r["workload"] != last
        last = r["workload"]
        body.append(
            [
                r["workload"] if first else "",
                _fmt_time(r["lamina_seconds"]) if first else "",
                _fmt_size(r["lamina_bytes"]) if first else "",
                r["peer"],
                _fmt_time(r["peer_seconds"]),
                _fmt_size(r["peer_bytes"]),
                "-"
                if r["time_ratio_peer_over_lamina"] is None
                else f"{r['time_ratio_peer_over_lamina']:.2f}x",
                "-"
                if r["size_ratio_lamina_over_peer"] is None
                else f"{r['size_ratio_lamina_over_peer']:.2f}x",
            ]
        )
    widths = [
        max(len(header[i]), *(len(b[i]) for b in body)) if body else len(header[i])
        for i in range(len(header))
    ]
    right = {1, 2, 4, 5, 6, 7}

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                for i, c in enumerate(cells)
            )
            + " |"
        )

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for b in body:
        print(line(b))


def write_png(rows: list[dict[str, Any]], path: str, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in rows if r["time_ratio_peer_over_lamina"]]
    labels = [f"{r['workload']} vs {r['peer']}" for r in rows]
    ratios = [r["time_ratio_peer_over_lamina"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.28 * len(rows) + 1.5))
    ax.barh(range(len(rows)), ratios, color=["tab:green" if x >= 1 else "tab:red" for x in ratios])
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("peer time / lamina time (log; > 1 means lamina is faster)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="W1 base-table rows")
    ap.add_argument("--decode-rows", type=int, default=1_000_000, help="values per Decode column")
    ap.add_argument("--wide-columns", type=int, default=10_000)
    ap.add_argument("--wide-rows", type=int, default=1_000)
    ap.add_argument("--take-rows", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=5, help="k in best-of-k")
    ap.add_argument(
        "--only",
        choices=["decode", "wide", "w1"],
        action="append",
        help="run only these workloads (repeatable)",
    )
    ap.add_argument("--json", default=os.path.join(HERE, "results", "run_format.json"))
    ap.add_argument(
        "--png",
        default=os.path.join(HERE, "results", "run_format.png"),
        help="chart of time ratios (needs matplotlib; '' to skip)",
    )
    ap.add_argument("--workdir", default=None, help="where to write data files (default: tmp)")
    args = ap.parse_args(argv)

    systems = available_systems(["lamina", *PEERS])
    if not systems or systems[0].name != "lamina":
        print("lamina is not importable; set PYTHONPATH or install it", file=sys.stderr)
        return 2
    missing = [p for p in PEERS if p not in {s.name for s in systems}]
    mach, vers = machine(), versions(systems)
    print(f"machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory_gib']} GiB, {mach['os']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    if missing:
        print(f"peers not installed (skipped): {', '.join(missing)}")
    print(
        f"timing: best of at least {args.repeat} runs (full reads: 3) and at least 0.3 s "
        "of runs (at most 50), "
        "time.perf_counter, each call opens the file; warm page cache for every system "
        "(each file read once in full, and each operation run once untimed, before timing)"
    )
    print(flush=True)

    root = args.workdir or tempfile.mkdtemp(prefix="lamina-bench-")
    os.makedirs(root, exist_ok=True)
    only = set(args.only or ["decode", "wide", "w1"])
    run = Run()
    t_start = time.perf_counter()
    try:
        if "decode" in only:
            run_decode(run, systems, root, args.decode_rows, args.repeat)
        if "wide" in only:
            run_wide(run, systems, root, args.wide_columns, args.wide_rows, args.repeat)
        if "w1" in only:
            w1_systems = [s for s in systems if s.name == "lamina" or s.name in W1_PEERS]
            run_w1(run, w1_systems, root, args.rows, args.take_rows, args.repeat)
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - t_start

    rows = table_rows(run)
    print()
    print(
        f"lamina format benchmarks — {mach['cpu']}, {mach['cores']} cores; "
        + ", ".join(f"{k} {v}" for k, v in vers.items())
    )
    print(
        f"best of >= {args.repeat} runs (>= 0.3 s, <= 50 runs), warm page cache for all "
        "systems; each timed call opens the file; time ratio = peer/lamina "
        "(>1: lamina faster), size ratio = lamina/peer (<1: lamina smaller)"
    )
    print_table(rows)
    failed = [c for c in run.checks if not c["ok"]]
    print(f"W1 3-col projection reads {', '.join(W1_PROJECTION)}; W1 write is one round.")
    print(
        f"\ncorrectness: {len(run.checks) - len(failed)}/{len(run.checks)} results equal "
        "the source table" + ("" if not failed else "; FAILED:")
    )
    for c in failed:
        print(f"  {c['check']}: {c['detail']}")
    print(f"total run time {elapsed:.0f} s")

    out = {
        "machine": mach,
        "versions": vers,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "png")},
        "method": "best of at least k runs and at least 0.3 s of runs (at most 50), "
        "time.perf_counter; each timed call opens the file; warm page cache (each "
        "file read once, each operation run once untimed, first)",
        "results": [asdict(m) for m in run.results],
        "comparisons": rows,
        "checks": run.checks,
    }
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"wrote {args.json}")
    if args.png and write_png(
        rows, args.png, f"lamina vs peers — {mach['cpu']}, {mach['cores']} cores"
    ):
        print(f"wrote {args.png}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
