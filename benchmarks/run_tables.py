"""Runs the W1 upsert workload on lamina and its table peers and prints one table of ratios.

Usage:
    python benchmarks/run_tables.py [--scale S] [--json out.json]
        [--systems lamina,lance,parquet+duckdb,deltalake] [--delta-scale S2]

W1 (BENCHMARKS.md): base load of 2,000,000 rows, then 5 upsert batches of 400,000 (half
updates, half new keys), each a separate commit; ``--scale`` multiplies the row counts.
Measured per system: ingest (all commits), size on disk after ingest, merged full read
(all columns, latest version per key), merged 3-column projection, lookup of 1,000 random
existing keys. lamina also reports a full compaction and its size and read after it.

Systems run one after another in this process, each with its own directory, which is
deleted before the next one starts. Every timed read opens the table itself; the table's
files are read once before timing (warm OS page cache). Timing: ingest once; reads best of
``--repeat`` (after one untimed run). Ratios: peer/lamina for times (above 1: lamina is
faster), lamina/peer for size (below 1: lamina is smaller).

Checks (exit status 1 if one fails): every merged read has exactly the distinct-key count
of rows and distinct keys; lamina's merged read, sorted by user_id, equals the
parquet+duckdb result on several columns (user_id, ts, cat_3, dense_0, seq_items,
country); each peer's (user_id, ts) equal DuckDB's; every lookup returns the asked keys
with their latest ``ts``.

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
DEFAULT_SYSTEMS = ["parquet+duckdb", "lamina-fsync", "lamina", "lance", "deltalake"]
METRICS = ["ingest", "size", "merged read", "3-col projection", "lookup 1,000 keys",
           "full compaction", "size compacted", "read compacted"]
SIZE_METRICS = {"size", "size compacted"}
HERE = os.path.dirname(os.path.abspath(__file__))


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
            ne = pc.invert(pc.fill_null(pc.equal(a, b), False)) if not pa.types.is_list(
                a.type) else None
            where = "" if ne is None else f" first at row {pc.index(ne, True).as_py()}"
            return f"column {c} differs{where}"
    return ""


def run_system(run: Run, sys_: TableSystem, name: str, scale: float, root: str,
               base: pa.Table, batches: list[pa.Table], keys: np.ndarray,
               ref: pa.Table | None, repeat: int, ingest_only: bool) -> pa.Table | None:
    """Measures one system; returns its sorted merged read (COMPARE_COLUMNS) for reference
    use when ``ref`` is None (the first system), else None."""
    res = Result(name, scale, notes=sys_.notes)
    run.results.append(res)
    path = os.path.join(root, name.replace("+", "_"))
    s = W1Scale.scaled(scale)
    print(f"\n== {name} (scale {scale}: {s.rows_in:,} rows in, "
          f"{s.distinct_keys:,} distinct keys)", flush=True)
    out = None
    try:
        t0 = time.perf_counter()
        sys_.ingest(path, base, batches)
        res.metrics["ingest"] = time.perf_counter() - t0
        res.metrics["size"] = path_size(path)
        print(f"  ingest {res.metrics['ingest']:.2f} s "
              f"({s.rows_in / res.metrics['ingest'] / 1e6:.2f} M rows/s), "
              f"size {res.metrics['size'] / 2**20:.1f} MiB", flush=True)
        if ingest_only:
            return None
        warm_page_cache(path)

        def timed(metric: str, fn: Any, k: int) -> Any:
            sec, n, result = best_of(fn, k, min_time=0.0 if k <= 3 else 0.3)
            res.metrics[metric], res.rounds[metric] = sec, n
            print(f"  {metric}: {sec:.3f} s (best of {n})", flush=True)
            return result

        merged = timed("merged read", lambda: sys_.read(path, None), repeat)
        run.check(f"{name}: merged read rows", merged.num_rows == s.distinct_keys,
                  f"{merged.num_rows:,} rows, want {s.distinct_keys:,}")
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
        del mine

        proj = timed("3-col projection", lambda: sys_.read(path, PROJECTION), repeat + 2)
        run.check(f"{name}: projection rows", proj.num_rows == s.distinct_keys
                  and proj.column_names == PROJECTION, f"{proj.num_rows:,} rows")
        del proj

        got = timed("lookup 1,000 keys", lambda: sys_.lookup(path, keys, None), repeat + 2)
        want_ts = (ref if ref is not None else out).select([KEY, "ts"])
        want = want_ts.take(pc.index_in(pa.array(np.sort(keys)), want_ts.column(KEY)))
        diff = _first_diff(_sorted(got, [KEY, "ts"]), want)
        run.check(f"{name}: lookup returns the keys' latest rows", not diff, diff)
        del got

        lamina = __import__("lamina") if name.startswith("lamina") else None
        if lamina is not None and not hasattr(lamina.Table, "compact"):
            print("  full compaction: Table.compact is not in this lamina build; skipped",
                  flush=True)
            res.notes += "; Table.compact missing in this build (compaction not measured)"
        elif name.startswith("lamina"):
            t0 = time.perf_counter()
            snap = lamina.open_table(path).compact(full=True)
            res.metrics["full compaction"] = time.perf_counter() - t0
            res.metrics["size compacted"] = path_size(path)
            live = lamina.open_table(path).scan().plan()
            print(f"  full compaction {res.metrics['full compaction']:.2f} s -> "
                  f"snapshot {getattr(snap, 'id', snap)}, "
                  f"{sum(len(sp.files) for sp in live)} live file(s), "
                  f"dir {res.metrics['size compacted'] / 2**20:.1f} MiB "
                  f"(old files not expired)", flush=True)
            try:
                t = lamina.open_table(path)
                t.expire_snapshots(retain_last=1)
                t.remove_orphan_files(older_than=__import__("datetime").timedelta(0))
                res.metrics["size compacted"] = path_size(path)
                print(f"  after expire_snapshots + remove_orphan_files: "
                      f"{res.metrics['size compacted'] / 2**20:.1f} MiB", flush=True)
            except Exception as e:  # reported; the run goes on
                print(f"  expire/remove orphans failed: {type(e).__name__}: {e}")
            warm_page_cache(path)
            merged = timed("read compacted", lambda: sys_.read(path, None), repeat)
            mine = _sorted(merged, COMPARE_COLUMNS)
            del merged
            diff = _first_diff(mine, ref) if ref is not None else ""
            run.check(f"{name}: read after compaction == parquet+duckdb", not diff, diff)
            del mine
    except Exception as e:  # one system failing must not end the run
        res.error = f"{type(e).__name__}: {e}"
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


def print_table(results: list[Result], lamina_name: str = "lamina") -> list[dict[str, Any]]:
    """One row per metric: lamina, then each peer's value and ratio."""
    lam = next((r for r in results if r.system == lamina_name), None)
    peers = [r for r in results if r is not lam]
    header = ["metric", lamina_name] + [c for p in peers for c in (p.system, "ratio")]
    rows, out = [], []
    for m in METRICS:
        lv = lam.metrics.get(m) if lam else None
        if lv is None and not any(m in p.metrics for p in peers):
            continue
        cells = [m, _fmt(m, lv)]
        for p in peers:
            pv = p.metrics.get(m)
            if m in ("size compacted", "read compacted", "full compaction") and pv is None:
                # compare lamina compacted against the peers' only state
                pv = p.metrics.get({"size compacted": "size",
                                    "read compacted": "merged read"}.get(m, ""))
            ratio = None
            if lv and pv:
                ratio = lv / pv if m in SIZE_METRICS else pv / lv
            cells += [_fmt(m, pv) if pv is not None or p.error == "" else "ERROR",
                      "-" if ratio is None else f"{ratio:.2f}x"]
            out.append({"metric": m, "lamina": lv, "peer": p.system, "peer_value": pv,
                        "ratio": ratio})
        rows.append(cells)
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                 for i, c in enumerate(cells)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                    help="comma-separated, from " + ", ".join(DEFAULT_SYSTEMS)
                    + " (parquet+duckdb is the reference and always runs first)")
    ap.add_argument("--delta-scale", type=float, default=None,
                    help="run deltalake (and lamina again, for a paired ratio) at this "
                         "smaller scale instead")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds of each read")
    ap.add_argument("--lookup-keys", type=int, default=1000)
    ap.add_argument("--json", default=os.path.join(HERE, "results", "run_tables.json"))
    ap.add_argument("--tmp", default=None, help="directory for the tables")
    args = ap.parse_args(argv)

    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    if "parquet+duckdb" in names:
        names = ["parquet+duckdb"] + [n for n in names if n != "parquet+duckdb"]
    delta_scale = args.delta_scale if args.delta_scale not in (None, args.scale) else None

    mach = machine()
    print(f"machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory_gib']} GiB, "
          f"{mach['os']}, Python {mach['python']}", flush=True)
    systems: dict[str, TableSystem] = {}
    for n in names:
        try:
            systems[n] = table_system(n)
        except ImportError as e:
            print(f"skipping {n}: {e}")
    vers = {"numpy": np.__version__, "pyarrow": pa.__version__}
    vers.update({n: s.version() for n, s in systems.items()})
    print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()), flush=True)

    run = Run()
    root = tempfile.mkdtemp(prefix="lamina-tables-", dir=args.tmp)
    tables: dict[float, list[Result]] = {}
    try:
        plan: list[tuple[float, list[str]]] = [
            (args.scale, [n for n in systems if not (delta_scale and n == "deltalake")])]
        if delta_scale and "deltalake" in systems:
            plan.append((delta_scale, [n for n in ("parquet+duckdb", "lamina", "deltalake")
                                       if n in systems]))
        for scale, todo in plan:
            s = W1Scale.scaled(scale)
            t0 = time.perf_counter()
            base = base_table(s.base_rows, DEFAULT_SEED)
            batches = list(upsert_batches(s.base_rows, DEFAULT_SEED, s.n_batches,
                                          s.batch_rows))
            print(f"\n-- scale {scale}: generated {s.rows_in:,} rows in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            keys = np.random.default_rng([DEFAULT_SEED, 99]).choice(
                s.distinct_keys, size=min(args.lookup_keys, s.distinct_keys),
                replace=False).astype(np.int64)
            ref = None
            n_before = len(run.results)
            for n in todo:
                got = run_system(run, systems[n], n, scale, root, base, batches, keys, ref,
                                 args.repeat, ingest_only=(n == "lamina-fsync"))
                if ref is None and got is not None:
                    ref = got
            tables[scale] = run.results[n_before:]
            del base, batches, ref
            gc.collect()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    ratio_rows = []
    for scale, results in tables.items():
        s = W1Scale.scaled(scale)
        print(f"\nW1 tables — scale {scale} ({s.base_rows:,} base + {s.n_batches} x "
              f"{s.batch_rows:,} upserts = {s.rows_in:,} rows in, {s.distinct_keys:,} "
              f"distinct keys) — {mach['cpu']}, {mach['cores']} cores")
        print("ratios: peer/lamina for times (>1: lamina faster), lamina/peer for sizes "
              "(<1: lamina smaller); lamina: write.sync=false; compacted rows compare "
              "lamina after full compaction with each peer's only state")
        for r in ratio_rows_for(print_table(results), scale):
            ratio_rows.append(r)
        for r in results:
            if r.error:
                print(f"  {r.system}: ERROR {r.error}")
        fs = next((r for r in results if r.system == "lamina-fsync"), None)
        lm = next((r for r in results if r.system == "lamina"), None)
        if fs and lm and "ingest" in fs.metrics and "ingest" in lm.metrics:
            print(f"  lamina ingest with fsync (write.sync=true): {fs.metrics['ingest']:.2f} s"
                  f" vs {lm.metrics['ingest']:.2f} s without")
    failed = [c for c in run.checks if not c["ok"]]
    print(f"\nchecks: {len(run.checks) - len(failed)}/{len(run.checks)} passed")
    for c in failed:
        print(f"  FAILED {c['check']}: {c['detail']}")

    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"machine": mach, "versions": vers,
                       "results": [asdict(r) for r in run.results],
                       "ratios": ratio_rows, "checks": run.checks}, f, indent=1)
        print(f"wrote {args.json}")
    return 1 if failed or any(r.error for r in run.results) else 0


def ratio_rows_for(rows: list[dict[str, Any]], scale: float) -> list[dict[str, Any]]:
    return [dict(r, scale=scale) for r in rows]


if __name__ == "__main__":
    sys.exit(main())
