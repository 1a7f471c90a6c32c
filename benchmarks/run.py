"""The W1 benchmark: lamina beside every table peer, one table of ratios, JSON and a chart.

Usage:
    python benchmarks/run.py [--scale S] [--systems a,b,...] [--paimon-scale S2]
        [--delta-scale S3] [--scaling 1,2,4] [--json out.json] [--png out.png]

W1 (BENCHMARKS.md): base load of 2,000,000 rows, then 5 upsert batches of 400,000 (half
updates, half new keys), each a separate commit; ``--scale`` multiplies the row counts. The
data is generated once per scale and every system ingests the same tables.

Measured per system: ingest (all commits), size on disk after ingest, merged full read (all
columns, latest version per key), merged 3-column projection, take of 1,000 random rows
(positions in the system's own order of the current table), lookup of 1,000 random
existing keys, then the system's compaction (time; see ``tables.py`` for what each peer
does) and size and merged read after it.

Peers (``tables.py``): pylance ``merge_insert``, deltalake ``merge``, Parquet files +
DuckDB dedup on read, Parquet files + polars dedup on read, pypaimon primary-key table.
pypaimon merges rows in Python and is far slower, so by default it runs at
``--paimon-scale`` (0.2, as in BENCHMARKS.md) beside lamina at the same scale, in a table
of its own. ``--delta-scale`` does the same for deltalake.

``--scaling 1,2,4`` then runs lamina (``--scaling-systems`` to add peers) at each scale and
prints how ingest, merged read and full compaction grow with the data: seconds per
million rows at each scale and the growth factor relative to the smallest scale (linear
growth: cost per row stays flat).

Systems run one after another in this process, each with its own directory, deleted before
the next starts. Every timed read opens the table itself; the table's files are read once
before timing (warm OS page cache). Timing: ingest and compaction once; reads best of
``--repeat`` after one untimed run (a read taking over 5 s: one timed run after the
untimed one). Ratios: peer/lamina for times (above 1: lamina is
faster), lamina/peer for sizes (below 1: lamina is smaller).

Checks (exit status 1 if one fails): every merged read has exactly the distinct-key count
of rows and distinct keys; lamina's merged read, sorted by user_id, equals the
parquet+duckdb result on six columns (user_id, ts, cat_3, dense_0, seq_items, country);
each peer's (user_id, ts) equal DuckDB's; takes return 1,000 distinct current rows;
lookups return the asked keys with their latest ``ts``; reads after compaction equal the
reference.

fsync: lamina runs with ``write.sync=false`` because none of the peers fsyncs (checked
with ``strace -e fsync,fdatasync``: pylance, deltalake and pyarrow.parquet make no such
call); ``lamina-fsync`` (the default ``write.sync=true``) is measured for ingest too.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run_format import best_of, machine
from systems import path_size, warm_page_cache
from tables import KEY, TableSystem, table_system
from w1 import DEFAULT_SEED, W1Scale, base_table, upsert_batches

PROJECTION = ["user_id", "dense_0", "seq_items"]
COMPARE_COLUMNS = ["user_id", "ts", "cat_3", "dense_0", "seq_items", "country"]
DEFAULT_SYSTEMS = [
    "parquet+duckdb",
    "lamina-fsync",
    "lamina",
    "lance",
    "deltalake",
    "parquet+polars",
    "pypaimon",
]
SMALL_SCALE_SYSTEMS = {"pypaimon"}  # run at --paimon-scale unless it equals --scale
METRICS = [
    "ingest",
    "size",
    "merged read",
    "3-col projection",
    "take 1,000 rows",
    "lookup 1,000 keys",
    "compaction",
    "size compacted",
    "read compacted",
]
SIZE_METRICS = {"size", "size compacted"}
# For a peer without compaction, lamina's compacted figures are compared with the
# peer's only state.
FALLBACK = {"size compacted": "size", "read compacted": "merged read"}
HERE = os.path.dirname(os.path.abspath(__file__))
SLOW_CALL_S = 5.0


@dataclass
class Result:
    system: str
    scale: float
    metrics: dict[str, float] = field(default_factory=dict)  # seconds, or bytes for sizes
    rounds: dict[str, int] = field(default_factory=dict)
    error: str = ""
    notes: str = ""


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def check(self, what: str, ok: bool, detail: str = "") -> None:
        self.checks.append({"check": what, "ok": bool(ok), "detail": detail})
        print(f"  {'ok' if ok else '!! CHECK FAILED'}: {what} {detail}", flush=True)


def _sorted(t: pa.Table, columns: list[str]) -> pa.Table:
    t = t.select(columns)
    return t.take(pc.sort_indices(t, [(KEY, "ascending")]))


def _first_diff(got: pa.Table, want: pa.Table) -> str:
    if got.num_rows != want.num_rows:
        return f"{got.num_rows} rows, want {want.num_rows}"
    for c in want.column_names:
        a, b = got.column(c).combine_chunks(), want.column(c).combine_chunks()
        if a.type != b.type:
            b = b.cast(a.type)
        if not a.equals(b):
            ne = (
                pc.invert(pc.fill_null(pc.equal(a, b), False))
                if not pa.types.is_list(a.type)
                else None
            )
            where = "" if ne is None else f" first at row {pc.index(ne, True).as_py()}"
            return f"column {c} differs{where}"
    return ""


def _current(ref: pa.Table, keys: pa.Array | pa.ChunkedArray) -> pa.Table:
    """The reference's (user_id, ts) rows of ``keys``, sorted by key (the reference is)."""
    want = ref.select([KEY, "ts"])
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    ordered = keys.take(pc.sort_indices(keys))
    return want.take(pc.index_in(ordered, want.column(KEY)))


def measure(fn: Any, k: int) -> tuple[float, int, Any]:
    """Best of ``k`` timed calls after an untimed one; a call that takes more than
    ``SLOW_CALL_S`` is timed once (after the untimed one): repeating it would add minutes
    and little precision."""
    t0 = time.perf_counter()
    result = fn()
    if time.perf_counter() - t0 >= SLOW_CALL_S:
        t0 = time.perf_counter()
        result = fn()
        return time.perf_counter() - t0, 1, result
    return best_of(fn, k, min_time=0.0 if k <= 3 else 0.3)


def run_system(
    run: Run,
    sys_: TableSystem,
    name: str,
    scale: float,
    root: str,
    base: pa.Table,
    batches: list[pa.Table],
    keys: np.ndarray,
    positions: np.ndarray,
    ref: pa.Table | None,
    repeat: int,
    ingest_only: bool,
) -> pa.Table | None:
    """Measures one system; returns its sorted merged read (COMPARE_COLUMNS) for use as
    the reference when ``ref`` is None (the first system), else None."""
    res = Result(name, scale, notes=sys_.notes)
    run.results.append(res)
    path = os.path.join(root, name.replace("+", "_"))
    s = W1Scale.scaled(scale)
    print(
        f"\n== {name} (scale {scale}: {s.rows_in:,} rows in, {s.distinct_keys:,} distinct keys)",
        flush=True,
    )
    out = None
    try:
        t0 = time.perf_counter()
        sys_.ingest(path, base, batches)
        res.metrics["ingest"] = time.perf_counter() - t0
        res.metrics["size"] = path_size(path)
        print(
            f"  ingest {res.metrics['ingest']:.2f} s "
            f"({s.rows_in / res.metrics['ingest'] / 1e6:.2f} M rows/s), "
            f"size {res.metrics['size'] / 2**20:.1f} MiB",
            flush=True,
        )
        if ingest_only:
            return None
        warm_page_cache(path)

        def timed(metric: str, fn: Any, k: int) -> Any:
            sec, n, result = measure(fn, k)
            res.metrics[metric], res.rounds[metric] = sec, n
            print(f"  {metric}: {sec:.3f} s (best of {n})", flush=True)
            return result

        merged = timed("merged read", lambda: sys_.read(path, None), repeat)
        run.check(
            f"{name}: merged read rows",
            merged.num_rows == s.distinct_keys,
            f"{merged.num_rows:,} rows, want {s.distinct_keys:,}",
        )
        n_keys = pc.count_distinct(merged.column(KEY)).as_py()
        run.check(f"{name}: distinct keys", n_keys == s.distinct_keys, f"{n_keys:,}")
        mine = _sorted(merged, COMPARE_COLUMNS)
        del merged
        gc.collect()
        if ref is None:
            out = mine
        else:
            cols = COMPARE_COLUMNS if name.startswith("lamina") else [KEY, "ts"]
            diff = _first_diff(mine.select(cols), ref.select(cols))
            run.check(f"{name}: merged read == parquet+duckdb on {cols}", not diff, diff)
        reference = ref if ref is not None else mine
        del mine

        proj = timed("3-col projection", lambda: sys_.read(path, PROJECTION), repeat + 2)
        run.check(
            f"{name}: projection rows",
            proj.num_rows == s.distinct_keys and proj.column_names == PROJECTION,
            f"{proj.num_rows:,} rows",
        )
        del proj

        def check_take(label: str) -> None:
            got = sys_.take(path, positions)
            ok = got.num_rows == len(positions) and pc.count_distinct(
                got.column(KEY)
            ).as_py() == len(positions)
            diff = "" if ok else f"{got.num_rows} rows"
            if ok:
                mine = _sorted(got, [KEY, "ts"])
                diff = _first_diff(mine, _current(reference, mine.column(KEY)))
            run.check(f"{name}: {label} returns distinct current rows", not diff, diff)

        timed("take 1,000 rows", lambda: sys_.take(path, positions), repeat + 2)
        check_take("take")

        got = timed("lookup 1,000 keys", lambda: sys_.lookup(path, keys, None), repeat + 2)
        diff = _first_diff(_sorted(got, [KEY, "ts"]), _current(reference, pa.array(keys)))
        run.check(f"{name}: lookup returns the keys' latest rows", not diff, diff)
        del got

        if sys_.compact is not None:
            t0 = time.perf_counter()
            sys_.compact(path)
            res.metrics["compaction"] = time.perf_counter() - t0
            res.metrics["size compacted"] = path_size(path)
            print(
                f"  compaction {res.metrics['compaction']:.2f} s -> "
                f"{res.metrics['size compacted'] / 2**20:.1f} MiB",
                flush=True,
            )
            warm_page_cache(path)
            merged = timed("read compacted", lambda: sys_.read(path, None), repeat)
            mine = _sorted(merged, COMPARE_COLUMNS)
            del merged
            cols = COMPARE_COLUMNS if name.startswith("lamina") else [KEY, "ts"]
            diff = _first_diff(mine.select(cols), reference.select(cols))
            run.check(f"{name}: read after compaction == reference on {cols}", not diff, diff)
            del mine
            if name.startswith("lamina"):
                timed("take compacted", lambda: sys_.take(path, positions), repeat + 2)
                check_take("take after compaction")
    except Exception as e:  # one system failing must not end the run
        res.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        print(f"  ERROR {res.error}")
        traceback.print_exc()
    finally:
        shutil.rmtree(path, ignore_errors=True)
        gc.collect()
    return out


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric in SIZE_METRICS:
        return f"{v / 2**20:,.0f} MiB" if v >= 100 * 2**20 else f"{v / 2**20:.1f} MiB"
    return f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s"


def ratio_rows(
    results: list[Result], scale: float, lamina_name: str = "lamina"
) -> list[dict[str, Any]]:
    """Per metric and peer: lamina's value, the peer's and the ratio."""
    lam = next((r for r in results if r.system == lamina_name), None)
    out: list[dict[str, Any]] = []
    for m in METRICS:
        lv = lam.metrics.get(m) if lam else None
        for p in results:
            if p is lam or p.system == "lamina-fsync":
                continue
            pv, compared = p.metrics.get(m), m
            if pv is None and m in FALLBACK and not p.error:
                compared = FALLBACK[m]
                pv = p.metrics.get(compared)
            ratio = None
            if lv and pv:
                ratio = lv / pv if m in SIZE_METRICS else pv / lv
            out.append(
                {
                    "scale": scale,
                    "metric": m,
                    "lamina": lv,
                    "peer": p.system,
                    "peer_value": pv,
                    "peer_metric": compared,
                    "ratio": ratio,
                }
            )
    return out


def print_table(results: list[Result], rows: list[dict[str, Any]]) -> None:
    peers = [r.system for r in results if r.system not in ("lamina", "lamina-fsync")]
    errors = {r.system for r in results if r.error}
    header = ["metric", "lamina"] + [c for p in peers for c in (p, "ratio")]
    table = []
    for m in METRICS:
        mine = [r for r in rows if r["metric"] == m]
        if not mine or all(r["lamina"] is None and r["peer_value"] is None for r in mine):
            continue
        cells = [m, _fmt(m, mine[0]["lamina"])]
        for p in peers:
            r = next((r for r in mine if r["peer"] == p), None)
            pv = None if r is None else r["peer_value"]
            note = "*" if r is not None and r["peer_metric"] != m and pv is not None else ""
            cells += [
                ("ERROR" if pv is None and p in errors else _fmt(m, pv)) + note,
                "-" if r is None or r["ratio"] is None else f"{r['ratio']:.2f}x",
            ]
        table.append(cells)
    if not table:
        return
    widths = [max(len(header[i]), *(len(r[i]) for r in table)) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells)
            )
            + " |"
        )

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in table:
        print(line(r))
    if any(r["peer_metric"] != r["metric"] and r["peer_value"] is not None for r in rows):
        print("  * the peer has no compaction: compared with its state after ingest")


def write_png(
    rows: list[dict[str, Any]], scaling: list[dict[str, Any]], path: str, title: str
) -> bool:
    """Bar chart of the ratios per metric and peer (log scale), plus scaling lines."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no chart")
        return False
    main_scale = rows[0]["scale"] if rows else None
    rows = [r for r in rows if r["ratio"] and r["scale"] == main_scale]
    metrics = [m for m in METRICS if any(r["metric"] == m for r in rows)]
    peers = list(dict.fromkeys(r["peer"] for r in rows))
    ncharts = 2 if scaling else 1
    fig, axes = plt.subplots(1, ncharts, figsize=(7 + 5 * ncharts, 5.5), squeeze=False)
    ax = axes[0][0]
    width = 0.8 / max(1, len(peers))
    for i, p in enumerate(peers):
        xs, ys = [], []
        for j, m in enumerate(metrics):
            r = next((r for r in rows if r["metric"] == m and r["peer"] == p), None)
            if r is not None:
                # plot "how many times better lamina is" for every metric
                xs.append(j + i * width)
                ys.append(1 / r["ratio"] if r["metric"] in SIZE_METRICS else r["ratio"])
        ax.bar(xs, ys, width, label=p)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(metrics))])
    ax.set_xticklabels(metrics, rotation=30, ha="right")
    ax.set_ylabel("lamina advantage (peer time / lamina; peer size / lamina)")
    ax.set_title(f"W1 scale {main_scale}: above 1 = lamina better")
    ax.legend(fontsize=8)
    if scaling:
        ax2 = axes[0][1]
        for sysname, metric in dict.fromkeys((r["system"], r["metric"]) for r in scaling):
            pts = sorted(
                (r["rows_in"], r["seconds"])
                for r in scaling
                if r["system"] == sysname and r["metric"] == metric
            )
            ax2.plot(
                [p[0] / 1e6 for p in pts],
                [p[1] for p in pts],
                marker="o",
                label=f"{sysname} {metric}",
            )
        ax2.set_xlim(left=0)
        ax2.set_ylim(bottom=0)
        ax2.set_xlabel("rows in (millions)")
        ax2.set_ylabel("seconds")
        ax2.set_title("scaling (linear = straight line through 0)")
        ax2.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def generate(
    scale: float, lookup_keys: int
) -> tuple[pa.Table, list[pa.Table], np.ndarray, np.ndarray]:
    s = W1Scale.scaled(scale)
    t0 = time.perf_counter()
    base = base_table(s.base_rows, DEFAULT_SEED)
    batches = list(upsert_batches(s.base_rows, DEFAULT_SEED, s.n_batches, s.batch_rows))
    print(
        f"\n-- scale {scale}: generated {s.rows_in:,} rows in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    rng = np.random.default_rng([DEFAULT_SEED, 99])
    n = min(lookup_keys, s.distinct_keys)
    keys = rng.choice(s.distinct_keys, size=n, replace=False).astype(np.int64)
    positions = rng.choice(s.distinct_keys, size=n, replace=False).astype(np.int64)
    return base, batches, keys, positions


def run_group(
    run: Run,
    systems: dict[str, TableSystem],
    names: list[str],
    scale: float,
    root: str,
    args: argparse.Namespace,
) -> list[Result]:
    base, batches, keys, positions = generate(scale, args.lookup_keys)
    ref = None
    n_before = len(run.results)
    for n in names:
        got = run_system(
            run,
            systems[n],
            n,
            scale,
            root,
            base,
            batches,
            keys,
            positions,
            ref,
            args.repeat,
            ingest_only=(n == "lamina-fsync"),
        )
        if ref is None and got is not None:
            ref = got
    del base, batches, ref
    gc.collect()
    return run.results[n_before:]


def scaling_rows(
    run: Run, systems: dict[str, TableSystem], names: list[str], scales: list[float], root: str
) -> list[dict[str, Any]]:
    """Ingest, merged read (best of 2) and full compaction at each scale.

    Every system ingests first; the generated input is freed before the reads, so that
    the largest scale's input (several GB) and its merged read are not held at once.
    """
    out: list[dict[str, Any]] = []

    def record(n: str, scale: float, metric: str, sec: float) -> None:
        out.append(
            {
                "system": n,
                "scale": scale,
                "rows_in": W1Scale.scaled(scale).rows_in,
                "metric": metric,
                "seconds": sec,
            }
        )

    for scale in scales:
        s = W1Scale.scaled(scale)
        base, batches, _, _ = generate(scale, 0)
        paths: dict[str, str] = {}
        for n in names:
            path = os.path.join(root, "scaling-" + n.replace("+", "_"))
            try:
                t0 = time.perf_counter()
                systems[n].ingest(path, base, batches)
                record(n, scale, "ingest", time.perf_counter() - t0)
                paths[n] = path
            except Exception as e:
                print(f"  {n} @ scale {scale}: ERROR in ingest {type(e).__name__}: {e}")
                traceback.print_exc()
                shutil.rmtree(path, ignore_errors=True)
        del base, batches
        gc.collect()
        for n, path in paths.items():
            sys_ = systems[n]
            try:
                warm_page_cache(path)
                # best of two: the first read of a process also pays for mapping fresh
                # memory once
                read = float("inf")
                for _ in range(2):
                    t0 = time.perf_counter()
                    merged = sys_.read(path, None)
                    read = min(read, time.perf_counter() - t0)
                    rows = merged.num_rows
                    del merged
                    gc.collect()
                record(n, scale, "merged read", read)
                run.check(
                    f"scaling {n} @ {scale}: merged read rows", rows == s.distinct_keys, f"{rows:,}"
                )
                if sys_.compact is not None:
                    t0 = time.perf_counter()
                    sys_.compact(path)
                    record(n, scale, "compaction", time.perf_counter() - t0)
                print(
                    f"  {n} @ scale {scale}: "
                    + ", ".join(
                        f"{r['metric']} {r['seconds']:.2f} s"
                        for r in out
                        if r["system"] == n and r["scale"] == scale
                    ),
                    flush=True,
                )
            except Exception as e:
                print(f"  {n} @ scale {scale}: ERROR {type(e).__name__}: {e}")
                traceback.print_exc()
            finally:
                shutil.rmtree(path, ignore_errors=True)
                gc.collect()
    return out


def print_scaling(rows: list[dict[str, Any]]) -> None:
    print(
        "\nScaling (seconds per million rows in; growth = cost per row relative to the "
        "smallest scale, 1.00 = linear)"
    )
    print(
        "| system | metric | "
        + " | ".join(f"scale {s:g}" for s in sorted({r["scale"] for r in rows}))
        + " |"
    )
    scales = sorted({r["scale"] for r in rows})
    print("|---|---|" + "---|" * len(scales))
    for key in dict.fromkeys((r["system"], r["metric"]) for r in rows):
        by = {r["scale"]: r for r in rows if (r["system"], r["metric"]) == key}
        first = by.get(scales[0])
        cells = []
        for sc in scales:
            r = by.get(sc)
            if r is None:
                cells.append("-")
                continue
            per = r["seconds"] / (r["rows_in"] / 1e6)
            growth = (
                ""
                if first is None
                else (f" ({per / (first['seconds'] / (first['rows_in'] / 1e6)):.2f})")
            )
            cells.append(f"{r['seconds']:.2f} s = {per:.3f} s/M{growth}")
        print(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument(
        "--systems",
        default=",".join(DEFAULT_SYSTEMS),
        help="comma-separated, from "
        + ", ".join(DEFAULT_SYSTEMS)
        + " (parquet+duckdb is the reference and always runs first)",
    )
    ap.add_argument(
        "--paimon-scale",
        type=float,
        default=0.2,
        help="scale for pypaimon (and a paired lamina run)",
    )
    ap.add_argument(
        "--delta-scale",
        type=float,
        default=None,
        help="run deltalake (and lamina again, paired) at this smaller scale",
    )
    ap.add_argument(
        "--scaling", default="", help="comma-separated scales for the scaling run, e.g. 1,2,4"
    )
    ap.add_argument("--scaling-systems", default="lamina")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds of each read")
    ap.add_argument("--lookup-keys", type=int, default=1000)
    ap.add_argument("--json", default=os.path.join(HERE, "results", "run.json"))
    ap.add_argument("--png", default=os.path.join(HERE, "results", "run.png"))
    ap.add_argument("--tmp", default=None, help="directory for the tables")
    args = ap.parse_args(argv)

    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    if "parquet+duckdb" in names:
        names = ["parquet+duckdb"] + [n for n in names if n != "parquet+duckdb"]
    scaling = [float(x) for x in args.scaling.split(",") if x.strip()]
    scaling_names = [n.strip() for n in args.scaling_systems.split(",") if n.strip()]

    mach = machine()
    print(
        f"machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory_gib']} GiB, "
        f"{mach['os']}, Python {mach['python']}",
        flush=True,
    )
    systems: dict[str, TableSystem] = {}
    for n in dict.fromkeys(names + (scaling_names if scaling else [])):
        try:
            systems[n] = table_system(n)
        except ImportError as e:
            if n.startswith("lamina"):
                raise
            print(f"skipping {n}: {e}")
    vers = {"numpy": np.__version__, "pyarrow": pa.__version__}
    vers.update({n: s.version() for n, s in systems.items()})
    print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()), flush=True)

    small: dict[float, list[str]] = {}
    for n, sc in (("pypaimon", args.paimon_scale), ("deltalake", args.delta_scale)):
        if n in systems and n in names and sc is not None and sc != args.scale:
            small.setdefault(sc, [])
            small[sc].append(n)
    main_names = [n for n in names if n in systems and not any(n in v for v in small.values())]

    run = Run()
    root = tempfile.mkdtemp(prefix="lamina-bench-", dir=args.tmp)
    groups: dict[float, list[Result]] = {}
    scale_rows: list[dict[str, Any]] = []
    try:
        groups[args.scale] = run_group(run, systems, main_names, args.scale, root, args)
        for sc, extra in small.items():
            paired = [n for n in ("parquet+duckdb", "lamina") if n in systems] + extra
            groups[sc] = run_group(run, systems, paired, sc, root, args)
        report(groups, [], run, mach, vers, args, argv)
        if scaling:
            scale_rows = scaling_rows(
                run, systems, [n for n in scaling_names if n in systems], scaling, root
            )
            report(groups, scale_rows, run, mach, vers, args, argv)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    failed = [c for c in run.checks if not c["ok"]]
    return 1 if failed or any(r.error for r in run.results) else 0


def report(
    groups: dict[float, list[Result]],
    scale_rows: list[dict[str, Any]],
    run: Run,
    mach: dict[str, Any],
    vers: dict[str, str],
    args: argparse.Namespace,
    argv: list[str] | None,
) -> list[dict[str, Any]]:
    """Prints the tables and writes the JSON and the chart (again after the scaling run,
    so a failure there keeps the main results)."""
    all_rows: list[dict[str, Any]] = []
    for scale, results in groups.items():
        s = W1Scale.scaled(scale)
        print(
            f"\nW1 tables — scale {scale} ({s.base_rows:,} base + {s.n_batches} x "
            f"{s.batch_rows:,} upserts = {s.rows_in:,} rows in, {s.distinct_keys:,} "
            f"distinct keys) — {mach['cpu']}, {mach['cores']} cores"
        )
        print(
            "ratios: peer/lamina for times (>1: lamina faster), lamina/peer for sizes "
            "(<1: lamina smaller); lamina: write.sync=false"
        )
        rows = ratio_rows(results, scale)
        print_table(results, rows)
        all_rows += rows
        for r in results:
            if r.error:
                print(f"  {r.system}: ERROR {r.error}")
        fs = next((r for r in results if r.system == "lamina-fsync"), None)
        lm = next((r for r in results if r.system == "lamina"), None)
        if fs and lm and "ingest" in fs.metrics and "ingest" in lm.metrics:
            print(
                f"  lamina ingest with fsync (write.sync=true): {fs.metrics['ingest']:.2f} s"
                f" vs {lm.metrics['ingest']:.2f} s without"
            )
        if lm and "take compacted" in lm.metrics:
            print(
                f"  lamina take of 1,000 rows after compaction: "
                f"{_fmt('take', lm.metrics['take compacted'])}"
            )
    if scale_rows:
        print_scaling(scale_rows)
    failed = [c for c in run.checks if not c["ok"]]
    print(f"\nchecks: {len(run.checks) - len(failed)}/{len(run.checks)} passed")
    for c in failed:
        print(f"  FAILED {c['check']}: {c['detail']}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": mach,
                    "versions": vers,
                    "command": "python benchmarks/run.py "
                    + " ".join(sys.argv[1:] if argv is None else argv),
                    "results": [asdict(r) for r in run.results],
                    "ratios": all_rows,
                    "scaling": scale_rows,
                    "checks": run.checks,
                },
                f,
                indent=1,
            )
        print(f"wrote {args.json}")
    if args.png and write_png(
        all_rows,
        scale_rows,
        args.png,
        f"lamina vs peers on W1 — {mach['cpu']}, {mach['cores']} cores",
    ):
        print(f"wrote {args.png}")
    return all_rows


if __name__ == "__main__":
    sys.exit(main())
