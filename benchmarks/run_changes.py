"""Changelog reads (issue 13): ``t.changes(a, b)`` of one W1 upsert batch vs deltalake's
change data feed (``DeltaTable.load_cdf``) for the same change, same run.

Usage:
    python benchmarks/run_changes.py [--scale 1] [--repeat 3] [--systems lamina,deltalake]

W1 (``w1.py``) at ``--scale``: the base load and 5 upsert batches (3,000,000 distinct keys
at scale 1) are ingested into each system (lamina with ``write.sync=false``; deltalake
with ``delta.enableChangeDataFeed=true``, one merge per batch); the timed read is the
change of the **last** batch (400,000 rows: half updates of existing keys, half inserts):

- lamina: ``lamina.open_table(p).changes(before_last, last)`` → pyarrow Table (one row
  per inserted key, a ``-U``/``+U`` pair per updated key);
- deltalake: ``DeltaTable(p).load_cdf(starting_version=v, ending_version=v)`` read to a
  pyarrow Table (``insert`` / ``update_preimage`` / ``update_postimage`` rows).

Both results are checked: same number of inserts, pre-images and post-images. Times are
the first call in the process (cold: opens the table, nothing cached) and the best of
``--repeat`` warm calls.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import w1

KEY = "user_id"  # the W1 primary key (tables.py)


def timed(f: Any, repeat: int) -> tuple[float, float, Any]:
    t0 = time.perf_counter()
    out = f()
    first = time.perf_counter() - t0
    best = first
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return first, best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--systems", default="lamina,deltalake")
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    systems = args.systems.split(",")
    n_base = int(2_000_000 * args.scale)
    batch_rows = int(400_000 * args.scale)
    base = w1.base_table(n_base)
    batches = list(w1.upsert_batches(n_base, batch_rows=batch_rows))
    last = batches[-1]
    root = tempfile.mkdtemp(prefix="lamina-changes-", dir=args.tmp)
    results: dict[str, dict[str, Any]] = {}
    try:
        if "lamina" in systems:
            import lamina

            p = os.path.join(root, "lamina")
            t = lamina.create_table(
                p, base.schema, primary_key=[KEY], options={"write.sync": "false"}
            )
            t.write(base)
            for b in batches:
                t.write(b)
            end = t.current_snapshot().id
            first, best, out = timed(
                lambda: lamina.open_table(p).changes(end - 1, end), args.repeat
            )  # fmt: skip
            kinds = out.column("_row_kind")
            results["lamina"] = {
                "first": first, "best": best, "rows": out.num_rows,
                "inserts": pc.sum(pc.equal(kinds, "+I")).as_py(),
                "pre": pc.sum(pc.equal(kinds, "-U")).as_py(),
                "post": pc.sum(pc.equal(kinds, "+U")).as_py(),
            }  # fmt: skip
        if "deltalake" in systems:
            import deltalake
            from deltalake import DeltaTable, write_deltalake

            p = os.path.join(root, "delta")
            write_deltalake(p, base, configuration={"delta.enableChangeDataFeed": "true"})
            for b in batches:
                (
                    DeltaTable(p)
                    .merge(source=b, predicate=f"t.{KEY} = s.{KEY}", source_alias="s",
                           target_alias="t")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute()
                )  # fmt: skip
            v = DeltaTable(p).version()

            def cdf() -> pa.Table:
                reader = DeltaTable(p).load_cdf(starting_version=v, ending_version=v)
                return pa.table(reader.read_all()) if hasattr(reader, "read_all") else reader

            first, best, out = timed(cdf, args.repeat)
            kinds = out.column("_change_type").cast(pa.string())
            results["deltalake"] = {
                "first": first, "best": best, "rows": out.num_rows,
                "inserts": pc.sum(pc.equal(kinds, "insert")).as_py(),
                "pre": pc.sum(pc.equal(kinds, "update_preimage")).as_py(),
                "post": pc.sum(pc.equal(kinds, "update_postimage")).as_py(),
                "version": deltalake.__version__,
            }  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nchanges of the last W1 batch ({last.num_rows:,} upserts) at scale {args.scale}")
    print("| system | first call | best warm | rows | +I | -U | +U |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['first']:.3f} s | {r['best']:.3f} s | {r['rows']:,} | "
              f"{r['inserts']:,} | {r['pre']:,} | {r['post']:,} |")  # fmt: skip
    if "lamina" in results and "deltalake" in results:
        a, b = results["lamina"], results["deltalake"]
        ok = (a["inserts"], a["pre"], a["post"]) == (b["inserts"], b["pre"], b["post"])
        print(f"check: same inserts/pre-images/post-images: {ok}")
        print(f"deltalake / lamina: first call {b['first'] / a['first']:.1f}x, "
              f"warm {b['best'] / a['best']:.1f}x")  # fmt: skip
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
