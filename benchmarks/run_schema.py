"""Schema evolution cost (issue 12): how long a schema change takes to commit on a large
table, and whether reads of an evolved table stay as fast as of an unevolved one.

Usage:
    python benchmarks/run_schema.py [--rows 10000000] [--commits 4] [--repeat 3]

One table of ``--rows`` rows (int64 key, 6 value columns: int64, float64, string),
written in ``--commits`` commits (``write.sync=false``), then:

- the first schema change in a fresh process, timed as a user runs it: ``add_column``
  (with a default) + ``rename_column`` + ``widen_column`` (int32 → int64) +
  ``drop_column`` + ``move_column`` in one ``update_schema()``;
- a full read and a 3-column projection of the unevolved table and, on a copy, of the
  evolved one (same data; the renamed column is read by field id, the widened one is
  converted as it is read, the dropped column is not read, the added one is its default
  repeated): best of ``--repeat``.

The peer is the same table before the change (ratio evolved / unevolved; 1.0 = no cost).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import lamina
import numpy as np
import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("k", pa.int64()),
        ("clicks", pa.int64()),
        ("views", pa.int32()),
        ("ctr", pa.float64()),
        ("score", pa.float64()),
        ("country", pa.string()),
        ("legacy", pa.string()),
    ]
)

CHANGE = """
import sys, time, pyarrow as pa
t0 = time.perf_counter()
import lamina
t = lamina.open_table(sys.argv[1])
t1 = time.perf_counter()
with t.update_schema() as u:
    u.add_column("ctr_7d", pa.float32(), default=0.0)
    u.rename_column("clicks", "clicks_total")
    u.widen_column("views", pa.int64())
    u.drop_column("legacy")
    u.move_column("ctr_7d", after="clicks_total")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def make_table(path: str, rows: int, commits: int) -> None:
    rng = np.random.default_rng(1)
    t = lamina.create_table(path, SCHEMA, primary_key=["k"], options={"write.sync": "false"})
    per = rows // commits
    countries = np.array(["de", "fr", "us", "jp", "br", "in"], dtype=object)
    for c in range(commits):
        k = np.arange(c * per, (c + 1) * per, dtype=np.int64)
        t.write(
            pa.table(
                {
                    "k": k,
                    "clicks": rng.integers(0, 1000, per),
                    "views": rng.integers(0, 100000, per).astype(np.int32),
                    "ctr": rng.random(per),
                    "score": rng.normal(size=per),
                    "country": countries[rng.integers(0, len(countries), per)],
                    "legacy": countries[rng.integers(0, len(countries), per)],
                },
                schema=SCHEMA,
            )
        )


def best(f, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return min(out)


def reads(path: str, columns: list[str], repeat: int) -> tuple[float, float, int]:
    t = lamina.open_table(path)
    full = best(lambda: t.read(), repeat)
    proj = best(lambda: t.read(columns=columns), repeat)
    return full, proj, t.read(columns=["k"]).num_rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--commits", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="lamina-schema-", dir=args.tmp)
    try:
        base = os.path.join(root, "base")
        t0 = time.perf_counter()
        make_table(base, args.rows, args.commits)
        print(
            f"wrote {args.rows:,} rows in {args.commits} commits: {time.perf_counter() - t0:.1f} s"
        )
        evolved = os.path.join(root, "evolved")
        shutil.copytree(base, evolved)
        out = subprocess.run(
            [sys.executable, "-c", CHANGE, evolved], capture_output=True, text=True, check=True
        ).stdout.split()
        open_s, change_s = float(out[0]), float(out[1])
        b_full, b_proj, b_rows = reads(base, ["k", "clicks", "ctr"], args.repeat)
        e_full, e_proj, e_rows = reads(evolved, ["k", "clicks_total", "ctr"], args.repeat)
        e_wide = reads(evolved, ["k", "views"], args.repeat)[1]
        b_wide = reads(base, ["k", "views"], args.repeat)[1]
        assert b_rows == e_rows == args.rows
        got = lamina.open_table(evolved).lookup({"k": [0, args.rows - 1]}, columns=["clicks_total"])
        want = lamina.open_table(base).lookup({"k": [0, args.rows - 1]}, columns=["clicks"])
        assert got.column(0).equals(want.column(0)), "renamed column lost its data"
        print(f"\nschema evolution — {args.rows:,} rows in {args.commits} commits")
        print("| metric | unevolved | evolved | ratio |")
        print("|---|---|---|---|")
        print(f"| schema change commit (first call, fresh process) | — | {change_s * 1000:.1f} ms "
              f"(open_table {open_s * 1000:.0f} ms incl. import) | — |")  # fmt: skip
        print(f"| full read (best of {args.repeat}) | {b_full:.3f} s | {e_full:.3f} s | "
              f"{e_full / b_full:.2f}x |")  # fmt: skip
        print(f"| 3-column projection (best of {args.repeat}) | {b_proj * 1000:.1f} ms | "
              f"{e_proj * 1000:.1f} ms | {e_proj / b_proj:.2f}x |")  # fmt: skip
        print(f"| widened column k+views (best of {args.repeat}) | {b_wide * 1000:.1f} ms | "
              f"{e_wide * 1000:.1f} ms | {e_wide / b_wide:.2f}x |")  # fmt: skip
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
