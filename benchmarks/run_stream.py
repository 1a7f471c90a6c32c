"""Merged reads as a batch job runs them (issue 14): the first read in a fresh process,
its time and its peak memory, for a streaming read (``scan.to_batches``), a full
``to_arrow()`` and Parquet + DuckDB's deduplicating read of the same data.

Usage:
    python benchmarks/run_stream.py [--scale 1] [--systems lamina,parquet+duckdb]

W1 (``w1.py``) at ``--scale`` is ingested by each system as in ``run.py`` (lamina: base
load + 5 upsert batches, one run each; parquet+duckdb: one file per batch, the read keeps
the newest row per key). Each read runs in its own fresh process (imports done before
the clock starts), which reports its wall time, the best of two more reads in the same
process (warm), and the growth of its peak RSS
(``VmHWM``) over the read:

- lamina stream: ``to_batches()`` with the default 256 MiB budget, batches dropped as
  they come (a training or export loop);
- lamina to_arrow: ``t.read()`` (the whole merged table in memory);
- lamina to_arrow whole: the same with every merge from whole decoded runs (the path
  ``to_arrow`` takes below ``WHOLE_READ_BYTES``), for comparison;
- parquet+duckdb: the ``run.py`` query to an Arrow table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tables
import w1

_CHILD = r"""
import json, sys, time
mode, path = sys.argv[1], sys.argv[2]
if mode.startswith("lamina"):
    import lamina
    import lamina.scan
    if mode == "lamina-arrow-whole":  # every merge from whole decoded runs
        lamina.scan.WHOLE_READ_BYTES = 1 << 60
else:
    sys.path.insert(0, sys.argv[3])
    import tables
    system = tables.table_system("parquet+duckdb")
def hwm():  # peak RSS of this process image (ru_maxrss survives exec from a big parent)
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmHWM"))
def read():
    rows = nbytes = 0
    if mode == "lamina-stream":
        for b in lamina.open_table(path).scan().to_batches():
            rows += b.num_rows
            nbytes += b.nbytes
    elif mode.startswith("lamina-arrow"):
        t = lamina.open_table(path).read()
        rows, nbytes = t.num_rows, t.nbytes
    else:
        t = system.read(path, None)
        rows, nbytes = t.num_rows, t.nbytes
    return rows, nbytes
before = hwm()
t0 = time.perf_counter()
rows, nbytes = read()
sec = time.perf_counter() - t0
peak = hwm()
warm = []
for _ in range(2):  # the same read again in this process: warm pools, cached pages
    t0 = time.perf_counter()
    read()
    warm.append(time.perf_counter() - t0)
print(json.dumps({"sec": sec, "warm": min(warm), "rows": rows, "bytes": nbytes,
                  "grew": peak - before}))
"""


def fresh(mode: str, path: str) -> dict[str, float]:
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, path, here],
                         check=True, capture_output=True, text=True)  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--systems", default="lamina,parquet+duckdb")
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    s = w1.W1Scale.scaled(args.scale)
    root = tempfile.mkdtemp(prefix="lamina-stream-", dir=args.tmp)
    results = []
    try:
        for name in args.systems.split(","):
            path = os.path.join(root, name)
            t0 = time.perf_counter()
            tables.ingest_w1(name, path, args.scale)
            print(f"{name}: ingested in {time.perf_counter() - t0:.1f} s", flush=True)
            modes = (
                ["lamina-stream", "lamina-arrow", "lamina-arrow-whole"]
                if name == "lamina"
                else [name]
            )
            for mode in modes:
                r = fresh(mode, path)
                results.append((mode, r))
                print(f"  {mode}: {r['sec']:.2f} s (warm {r['warm']:.2f} s), peak RSS "
                      f"+{r['grew'] / 2**20:,.0f} MiB for {r['bytes'] / 2**20:,.0f} MiB of "
                      "output", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = {int(r["rows"]) for _, r in results}
    print(f"\nfirst merged read in a fresh process, W1 at scale {args.scale} "
          f"({s.distinct_keys:,} keys)")  # fmt: skip
    print("| read | first read | warm (best of 2 more) | peak RSS growth | output | RSS / output |")
    print("|---|---|---|---|---|---|")
    for mode, r in results:
        ratio = r["grew"] / max(1, r["bytes"])
        print(f"| {mode} | {r['sec']:.2f} s | {r['warm']:.2f} s | {r['grew'] / 2**20:,.0f} MiB | "
              f"{r['bytes'] / 2**20:,.0f} MiB | {ratio:.2f} |")  # fmt: skip
    print(f"check: every read returned the same row count: {len(rows) == 1}")
    return 0 if len(rows) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
