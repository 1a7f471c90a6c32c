"""Long crash-injection and concurrency-soak runs; prints the figures for
docs/reliability.md.

    python tests/reliability/long_run.py --kills 300 --soak-seconds 120

Exits with status 1 if anything was lost, corrupted or inconsistent.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reliability.crash import CrashCheckError, CrashConfig, CrashStats, run_campaign
from reliability.soak import run_soak

VARIANTS = [
    ("b1-sync", CrashConfig(buckets=1, partitioned=False, sync=True)),
    ("b2-sync", CrashConfig(buckets=2, partitioned=False, sync=True)),
    ("b2-partitioned-nosync", CrashConfig(buckets=2, partitioned=True, sync=False)),
    ("b1-partitioned-sync", CrashConfig(buckets=1, partitioned=True, sync=True)),
    (
        "b2-after-commit-nosync",
        CrashConfig(buckets=2, sync=False, options={"compaction.after_commit": "true"}),
    ),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=300, help="SIGKILLs, over all variants")
    ap.add_argument("--soak-seconds", type=float, default=120.0)
    ap.add_argument("--soak-writers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default=None, help="default: a temporary folder")
    args = ap.parse_args()
    failed = False
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        total = CrashStats()
        t0 = time.perf_counter()
        for n, (name, cfg) in enumerate(VARIANTS):
            kills = args.kills // len(VARIANTS) + (n < args.kills % len(VARIANTS))
            if kills == 0:
                continue
            d = os.path.join(work, f"crash-{name}")
            os.makedirs(d)
            try:
                st = run_campaign(d, cfg, seed=args.seed + n, kills=kills)
            except CrashCheckError as e:
                print(f"crash {name}: FAILED: {e}")
                failed = True
                continue
            print(f"crash {name}: {vars(st)}")
            total.add(st)
        crash_s = time.perf_counter() - t0
        print()
        print(f"crash injection ({crash_s:.0f} s)")
        print(f"  kills survived       {total.kills}  by mode {total.kills_by_mode}")
        print(f"  children exited      {total.clean_exits} (not killed; verified too)")
        print(f"  ops journaled        {total.ops_journaled}")
        print(
            f"  killed mid-op: committed whole {total.inflight_committed}, "
            f"not visible at all {total.inflight_dropped}"
        )
        print(f"  snapshots verified   {total.snapshots_verified}")
        print(f"  rows checked         {total.rows_checked}")
        print(f"  lookup keys checked  {total.lookups_checked}")
        print(f"  change rows checked  {total.changes_checked}")
        print(f"  orphans removed      {total.orphans_removed}")
        print(f"  lost rows            {total.lost}")
        print(f"  corrupted rows       {total.corrupted}")
        print(f"  crashes              {total.crashes}")
        if args.soak_seconds > 0:
            d = os.path.join(work, "soak")
            os.makedirs(d)
            s = run_soak(d, args.soak_seconds, seed=args.seed, writers=args.soak_writers,
                         sync=True, verify=300)  # fmt: skip
            print()
            print(
                f"concurrency soak ({s.seconds:.0f} s, {args.soak_writers} writers, "
                "1 deleter, 1 compactor, 2 readers)"
            )
            print(
                f"  concurrent commits   {s.commits + s.compactions} "
                f"({s.commits} writes/deletes, {s.compactions} compactions)"
            )
            print(f"  commit conflicts     {s.conflicts}")
            print(f"  reader views checked {s.reader_views_verified} (torn: {s.torn})")
            print(f"  snapshots verified   {s.snapshots_verified}")
            print(f"  rows checked         {s.rows_checked}")
            print(f"  lost rows            {s.lost}")
            print(f"  corrupted rows       {s.corrupted}")
            print(f"  errors               {len(s.errors)}")
            for e in s.errors[:20]:
                print(f"    {e}")
            failed = failed or bool(s.errors or s.lost or s.corrupted or s.torn)
        failed = failed or bool(total.lost or total.corrupted or total.crashes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
