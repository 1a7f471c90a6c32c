"""Compaction benchmarks in one table: merge speed, W1 size after compaction, planning cost.

Usage:
    python benchmarks/run_compaction.py [--scale S] [--commits N] [--only a,b,c]
        [--json out.json]

(a) Compaction microbenchmark (BENCHMARKS.md, "Compaction"; data and both sides as in
    ``test_compaction.py``): a 1-bucket table with 10 overlapping runs of 500,000 rows
    merged by ``t.compact(full=True)`` (a fresh copy of the table per round) vs pyarrow
    reading the 10 Parquet files, sorting by (key, seq), keeping the last of each key and
    writing Parquet (zstd). Best of ``--repeat``; results checked equal.
(b) W1 (``--scale``, default 1) ingested by lamina and pylance with ``tables.py``
    (base + 5 upsert commits; lance ``merge_insert``). Sizes on disk: lamina after ingest,
    after ``compact(full=True)`` and after ``expire_snapshots(retain_last=1)``; lance after
    ingest, after ``ds.optimize.compact_files()`` and after
    ``ds.cleanup_old_versions(older_than=0)``. Target: lamina compacted <= 0.75x lance.
(c) Scan planning after 10 small commits vs after ``--commits`` (default 10,000) small
    commits (1-2 rows each, ``write.sync=false``, default compaction options, so inline
    compaction bounds the runs). Planning is ``lamina.open_table(p).scan().plan()`` on a
    fresh open (cold: new Table, empty caches; OS page cache warm) and ``t.scan().plan()``
    on a warm Table, best of several. Target: within 2x. If the commits project past
    ``--max-commit-seconds`` (default 360) after the first 1,000, the run stops at 3,000
    and says so. Per-commit cost is reported per 1,000-commit window.

Ratios: peer/lamina for times (above 1: lamina faster), lamina/peer for sizes (below 1:
lamina smaller), many-commits/10-commits for planning.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any

import numpy as np
import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_compaction as tc  # noqa: E402
from run_format import best_of, machine  # noqa: E402
from systems import path_size  # noqa: E402

ROWS: list[tuple[str, str, str, str, str, str]] = []  # metric, lamina, peer, ratio, target, ok
CHECKS: list[tuple[str, bool, str]] = []
RESULT: dict[str, Any] = {}


def check(what: str, ok: bool, detail: str = "") -> None:
    CHECKS.append((what, bool(ok), detail))
    print(f"  {'ok' if ok else '!! CHECK FAILED'}: {what} {detail}", flush=True)


def row(
    metric: str,
    lamina: str,
    peer: str = "",
    ratio: str = "",
    target: str = "",
    ok: bool | None = None,
) -> None:
    ROWS.append(
        (metric, lamina, peer, ratio, target, "" if ok is None else ("yes" if ok else "NO"))
    )


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


# ---- (a) -------------------------------------------------------------------------------


def part_a(root: str, repeat: int) -> None:
    print(f"\n== (a) compaction: {tc.N_RUNS} runs x {tc.RUN_ROWS:,} rows", flush=True)
    fx = tc.build(os.path.join(root, "a"))
    expected = tc.pyarrow_compact(fx.parquet, os.path.join(root, "a", "expected.parquet"))
    t = fx.fresh_table()
    _, s = tc.lamina_compact(t)
    diff = tc.same(t.read(), expected)
    check("lamina compaction == pyarrow merge", not diff, diff or f"{expected.num_rows:,} rows")
    check("summary rows_out", s["rows_out"] == expected.num_rows, str(s["rows_out"]))
    del t, expected
    gc.collect()

    best = float("inf")
    for _ in range(repeat):
        t = fx.fresh_table()
        sec, s = tc.lamina_compact(t)
        best = min(best, sec)
    out = os.path.join(root, "a", "out.parquet")
    pa_sec, _, _ = best_of(lambda: tc.pyarrow_compact(fx.parquet, out), repeat, min_time=0)
    rows_in = tc.N_RUNS * tc.RUN_ROWS
    print(f"  lamina {best:.3f} s, summary {s}", flush=True)
    print(
        f"  pyarrow {pa_sec:.3f} s, parquet in {mib(fx.parquet_bytes)}, "
        f"out {mib(os.path.getsize(out))}",
        flush=True,
    )
    RESULT["a"] = {
        "lamina_s": best,
        "pyarrow_s": pa_sec,
        "summary": s,
        "parquet_bytes_in": fx.parquet_bytes,
        "parquet_bytes_out": os.path.getsize(out),
    }
    name = f"(a) compact {tc.N_RUNS}x{tc.RUN_ROWS // 1000}k rows"
    row(name + " time", f"{best:.3f} s", f"pyarrow {pa_sec:.3f} s", f"{pa_sec / best:.2f}x")
    row(
        "(a)   rows/s (in)",
        f"{rows_in / best / 1e6:.2f} M/s",
        f"{rows_in / pa_sec / 1e6:.2f} M/s",
        f"{pa_sec / best:.2f}x",
    )
    row(
        "(a)   bytes/s (in, own files)",
        f"{s['bytes_in'] / best / 2**20:.0f} MiB/s",
        f"{fx.parquet_bytes / pa_sec / 2**20:.0f} MiB/s",
    )
    row(
        "(a)   bytes in -> out",
        f"{mib(s['bytes_in'])} -> {mib(s['bytes_out'])}",
        f"{mib(fx.parquet_bytes)} -> {mib(os.path.getsize(out))}",
        f"{s['bytes_out'] / os.path.getsize(out):.2f}x",
    )
    shutil.rmtree(os.path.join(root, "a"))


# ---- (b) -------------------------------------------------------------------------------


def part_b(root: str, scale: float) -> None:
    import lamina
    from tables import table_system
    from w1 import DEFAULT_SEED, W1Scale, base_table, upsert_batches

    s = W1Scale.scaled(scale)
    print(
        f"\n== (b) W1 size, scale {scale} ({s.rows_in:,} rows in, {s.distinct_keys:,} keys)",
        flush=True,
    )
    base = base_table(s.base_rows, DEFAULT_SEED)
    batches = list(upsert_batches(s.base_rows, DEFAULT_SEED, s.n_batches, s.batch_rows))
    res: dict[str, Any] = {"scale": scale}

    lp = os.path.join(root, "w1.lamina")
    t0 = time.perf_counter()
    table_system("lamina").ingest(lp, base, batches)
    res["lamina_ingest_s"] = time.perf_counter() - t0
    res["lamina_ingest"] = path_size(lp)
    t0 = time.perf_counter()
    snap = lamina.open_table(lp).compact(full=True)
    res["lamina_compact_s"] = time.perf_counter() - t0
    res["lamina_summary"] = None if snap is None else dict(snap.summary)
    res["lamina_compacted_dir"] = path_size(lp)
    t = lamina.open_table(lp)
    t.expire_snapshots(retain_last=1)
    res["lamina_compacted"] = path_size(lp)
    n = t.read(columns=["user_id"]).num_rows
    check("lamina W1 rows after compaction", n == s.distinct_keys, f"{n:,}")
    print(
        f"  lamina ingest {res['lamina_ingest_s']:.1f} s {mib(res['lamina_ingest'])}, "
        f"compact {res['lamina_compact_s']:.1f} s, dir {mib(res['lamina_compacted_dir'])}, "
        f"after expire {mib(res['lamina_compacted'])}",
        flush=True,
    )
    shutil.rmtree(lp)

    try:
        import lance
    except ImportError as e:
        print(f"  pylance missing ({e}); lance sizes skipped")
        RESULT["b"] = res
        row("(b) W1 size compacted", mib(res["lamina_compacted"]), "lance missing")
        return
    dp = os.path.join(root, "w1.lance")
    t0 = time.perf_counter()
    table_system("lance").ingest(dp, base, batches)
    res["lance_ingest_s"] = time.perf_counter() - t0
    res["lance_ingest"] = path_size(dp)
    del base, batches
    gc.collect()
    ds = lance.dataset(dp)
    t0 = time.perf_counter()
    ds.optimize.compact_files()
    res["lance_compact_s"] = time.perf_counter() - t0
    res["lance_compacted_dir"] = path_size(dp)
    ds = lance.dataset(dp)
    ds.cleanup_old_versions(older_than=datetime.timedelta(0))
    res["lance_compacted"] = path_size(dp)
    n = lance.dataset(dp).count_rows()
    check("lance W1 rows after compaction", n == s.distinct_keys, f"{n:,}")
    print(
        f"  lance ingest {res['lance_ingest_s']:.1f} s {mib(res['lance_ingest'])}, "
        f"compact_files {res['lance_compact_s']:.1f} s, dir {mib(res['lance_compacted_dir'])}, "
        f"after cleanup {mib(res['lance_compacted'])}",
        flush=True,
    )
    shutil.rmtree(dp)
    RESULT["b"] = res

    lam, lc = res["lamina_compacted"], res["lance_compacted"]
    sc = f"(b) W1 s={scale:g} size"
    row(
        f"{sc} compacted+cleaned",
        mib(lam),
        f"lance {mib(lc)}",
        f"{lam / lc:.2f}x",
        "<= 0.75x",
        lam / lc <= 0.75,
    )
    row(
        f"{sc} vs lance uncompacted",
        mib(lam),
        f"lance {mib(res['lance_ingest'])}",
        f"{lam / res['lance_ingest']:.2f}x",
    )
    row(
        f"{sc} after ingest",
        mib(res["lamina_ingest"]),
        f"lance {mib(res['lance_ingest'])}",
        f"{res['lamina_ingest'] / res['lance_ingest']:.2f}x",
    )
    row(
        f"{sc} compacted, old files kept",
        mib(res["lamina_compacted_dir"]),
        f"lance {mib(res['lance_compacted_dir'])}",
        f"{res['lamina_compacted_dir'] / res['lance_compacted_dir']:.2f}x",
    )
    row(
        "(b)   full compaction time",
        f"{res['lamina_compact_s']:.2f} s",
        f"lance {res['lance_compact_s']:.2f} s",
        f"{res['lance_compact_s'] / res['lamina_compact_s']:.2f}x",
    )


# ---- (c) -------------------------------------------------------------------------------

SMALL_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("v", pa.float64()),
        pa.field("s", pa.string()),
    ]
)


def small_commits(
    path: str, n: int, max_seconds: float | None, windows: list[tuple[int, float]] | None = None
) -> tuple[Any, int, float]:
    """Creates a table and commits ``n`` small writes (1-2 rows). Returns (table, commits
    made, seconds). With ``max_seconds``, stops at 3,000 if the first 1,000 commits
    project past it."""
    import lamina

    t = lamina.create_table(
        path, SMALL_SCHEMA, primary_key=["id"], buckets=1, options={"write.sync": "false"}
    )
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 3, n)
    keys = rng.integers(0, 1_000_000, int(sizes.sum()))
    pos = 0
    t0 = lap = time.perf_counter()
    done = 0
    for i in range(n):
        k = int(sizes[i])
        t.write(
            pa.table(
                {
                    "id": keys[pos : pos + k],
                    "v": rng.standard_normal(k),
                    "s": [f"x{j}" for j in range(k)],
                },
                schema=SMALL_SCHEMA,
            )
        )
        pos += k
        done = i + 1
        if done % 1000 == 0:
            now = time.perf_counter()
            if windows is not None:
                windows.append((done, (now - lap) / 1000))
                print(
                    f"  {done:,} commits, {now - lap:.2f} ms/commit over the last 1,000", flush=True
                )
            lap = now
            if max_seconds is not None and done == 1000 and (now - t0) * n / 1000 > max_seconds:
                n = 3000
                print(
                    f"  projected {(now - t0) * 10:.0f} s for 10,000: stopping at 3,000", flush=True
                )
        if done >= n:
            break
    return t, done, time.perf_counter() - t0


def plan_times(path: str, t: Any, repeat: int) -> tuple[float, float, int]:
    import lamina

    cold, _, splits = best_of(lambda: lamina.open_table(path).scan().plan(), repeat)
    warm, _, _ = best_of(lambda: t.scan().plan(), repeat)
    return cold, warm, sum(len(s.files) for s in splits)


def part_c(root: str, n_commits: int, max_seconds: float, repeat: int) -> None:
    print(f"\n== (c) planning after 10 vs {n_commits:,} small commits", flush=True)
    small_path = os.path.join(root, "c10")
    t10, _, _ = small_commits(small_path, 10, None)
    c10, w10, f10 = plan_times(small_path, t10, repeat)
    big_path = os.path.join(root, "cN")
    windows: list[tuple[int, float]] = []
    tN, done, sec = small_commits(big_path, n_commits, max_seconds, windows)
    cN, wN, fN = plan_times(big_path, tN, repeat)
    snap = tN.current_snapshot()
    n_man, n_live = len(snap.manifests), len(tN._live_files(snap))
    n_snap = len(tN.snapshots())
    kinds: dict[str, int] = {}
    for sn in tN.snapshots():
        kinds[sn.kind] = kinds.get(sn.kind, 0) + 1
    size = path_size(big_path)
    print(
        f"  {done:,} commits in {sec:.1f} s ({sec / done * 1e3:.2f} ms/commit); "
        f"{n_snap:,} snapshots {kinds}; {n_man} manifests, {n_live} live files; "
        f"dir {mib(size)}",
        flush=True,
    )
    print(
        f"  plan cold: {c10 * 1e3:.2f} ms (10) vs {cN * 1e3:.2f} ms ({done:,}); "
        f"warm: {w10 * 1e3:.3f} ms vs {wN * 1e3:.3f} ms",
        flush=True,
    )
    RESULT["c"] = {
        "commits": done,
        "commit_s": sec,
        "windows_ms": [(d, w * 1e3) for d, w in windows],
        "plan_cold_10": c10,
        "plan_warm_10": w10,
        "plan_cold_n": cN,
        "plan_warm_n": wN,
        "manifests": n_man,
        "live_files": n_live,
        "snapshots": n_snap,
        "snapshot_kinds": kinds,
        "dir_bytes": size,
        "files_planned_10": f10,
        "files_planned_n": fN,
    }
    note = "" if done == n_commits else f" (stopped at {done:,}: too slow)"
    row(
        f"(c) plan, fresh open: {done:,} vs 10 commits{note}",
        f"{cN * 1e3:.2f} ms",
        f"10 commits {c10 * 1e3:.2f} ms",
        f"{cN / c10:.2f}x",
        "<= 2x",
        cN / c10 <= 2,
    )
    row(
        f"(c) plan, warm Table: {done:,} vs 10 commits",
        f"{wN * 1e3:.3f} ms",
        f"10 commits {w10 * 1e3:.3f} ms",
        f"{wN / w10:.2f}x",
        "<= 2x",
        wN / w10 <= 2,
    )
    first, last = windows[0][1] if windows else sec / done, windows[-1][1] if windows else 0
    row(
        f"(c) commit cost, {done:,} commits",
        f"{sec / done * 1e3:.2f} ms/commit",
        f"first 1k {first * 1e3:.2f}, last 1k {last * 1e3:.2f} ms",
    )
    row(
        "(c) state at the end",
        f"{n_man} manifests, {n_live} live files",
        f"{n_snap:,} snapshots, {mib(size)}",
    )


# ---- main ------------------------------------------------------------------------------


def print_table() -> None:
    heads = ("metric", "lamina", "peer / baseline", "ratio", "target", "met")
    widths = [max(len(h), *(len(r[i]) for r in ROWS)) for i, h in enumerate(heads)]
    line = " | ".join(h.ljust(w) for h, w in zip(heads, widths))
    print("\n" + line)
    print("-+-".join("-" * w for w in widths))
    for r in ROWS:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="W1 scale for (b)")
    ap.add_argument("--commits", type=int, default=10_000, help="small commits for (c)")
    ap.add_argument("--max-commit-seconds", type=float, default=360.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="a,b,c")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "run_compaction.json"))
    ap.add_argument("--dir", default=None, help="scratch directory (default: a temp dir)")
    args = ap.parse_args(argv)

    import lamina

    m = machine()
    print(
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
        f"lamina {lamina.__version__}, pyarrow {pa.__version__}",
        flush=True,
    )
    parts = set(args.only.split(","))
    root = tempfile.mkdtemp(prefix="lamina-compaction-", dir=args.dir)
    started = time.perf_counter()
    try:
        for name, fn in (
            ("a", lambda: part_a(root, args.repeat)),
            ("b", lambda: part_b(root, args.scale)),
            ("c", lambda: part_c(root, args.commits, args.max_commit_seconds, max(args.repeat, 5))),
        ):
            if name in parts:
                try:
                    fn()
                except Exception as e:  # report and go on with the next part
                    import traceback

                    traceback.print_exc()
                    check(f"part ({name}) ran", False, f"{type(e).__name__}: {e}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_table()
    print(
        f"\n(total {time.perf_counter() - started:.0f} s; ratios: peer/lamina for times, "
        "lamina/peer for sizes, many/10 commits for planning)"
    )
    failed = [c for c in CHECKS if not c[1]]
    if failed:
        print("FAILED checks: " + "; ".join(f"{w} {d}" for w, _, d in failed))
    RESULT.update(machine=m, lamina=lamina.__version__, checks=CHECKS, rows=ROWS)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(RESULT, f, indent=2, default=str)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
