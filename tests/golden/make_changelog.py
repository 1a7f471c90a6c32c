"""Builds the golden changelog table (``tests/golden/changelog-v1/table``): snapshots that name
changelog files (``changelog.producer=lookup``, set by an option change after a first
write without one), a schema change between them (a rename and an added column with a
default), a compaction, and a consumer file.

    python tests/golden/make_changelog.py            # refuses to overwrite
    python tests/golden/make_changelog.py --force    # regenerates it (only before a release)

``changelog-v1/changelog.expected.json`` holds what later lamina versions must read from it: the
per-snapshot changes from 0 to the last snapshot, the net changes over the whole range,
which snapshots name a changelog, and the consumers. The script computes the expected
changes twice (from the written changelogs and from a copy of the table with every
changelog reference removed, i.e. by lookups) and refuses to write if they differ.
``tests/test_golden_changelog.py`` checks that every later lamina still reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Any

import lamina
import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "changelog-v1")
SCHEMA = pa.schema([("k", pa.int64()), ("a", pa.int64()), ("s", pa.string())])


def expected(t: lamina.Table) -> dict[str, Any]:
    last = t.current_snapshot().id
    return {
        "per_snapshot": t.changes(0, last, per_snapshot=True).to_pylist(),
        "net": t.changes(0, last).to_pylist(),
        "with_changelog": [s.id for s in t.snapshots() if s.changelog is not None],
        "consumers": t.consumers(),
    }


def build(path: str) -> None:
    t = lamina.create_table(path, SCHEMA, primary_key=["k"], options={"write.sync": "false"})
    t.write(pa.table({"k": [1, 2, 3, 4], "a": [10, 20, 30, 40], "s": ["a", "b", "c", "d"]}))
    t.update_schema().set_option("changelog.producer", "lookup").commit()
    t.write(pa.table({"k": [2, 5], "a": [21, 50], "s": ["b2", "e"]}))
    t.delete({"k": [1, 9]})
    t.update_schema().rename_column("s", "name").add_column("w", pa.int64(), default=7).commit()
    t.write(pa.table({"k": [3, 6], "a": [30, 60], "name": ["c", "f"], "w": [7, 8]}))
    t.compact(full=True)
    t.write(pa.table({"k": [4], "a": [41], "name": ["d"], "w": [7]}))
    t.reset_consumer("golden-reader", 3)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    if os.path.exists(OUT) and not args.force:
        print(f"{OUT} exists; pass --force to regenerate it", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "changelog-v1")
        build(path)
        t = lamina.open_table(path)
        want = expected(t)
        # The same table without its changelogs: every change computed by lookups.
        plain = os.path.join(tmp, "plain")
        shutil.copytree(path, plain)
        for name in os.listdir(os.path.join(plain, "snapshot")):
            if name.startswith("snapshot-"):
                f = os.path.join(plain, "snapshot", name)
                with open(f) as fh:
                    doc = json.load(fh)
                doc.pop("changelog", None)
                with open(f, "w") as fh:
                    json.dump(doc, fh)
        other = expected(lamina.open_table(plain))

        def images(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            # Computed by lookups, _snapshot_id of a net change is the last snapshot that
            # wrote the key, not the last that changed it (docs/tables.md, "Changes").
            return [{c: v for c, v in r.items() if c != "_snapshot_id"} for r in rows]

        if other["per_snapshot"] != want["per_snapshot"] or images(other["net"]) != images(
            want["net"]
        ):
            print("written changelogs and lookups disagree; nothing written", file=sys.stderr)
            return 1
        if os.path.exists(OUT):
            shutil.rmtree(OUT)
        os.makedirs(OUT)
        table = os.path.join(OUT, "table")
        shutil.copytree(path, table, ignore=shutil.ignore_patterns("_inflight", ".lock"))
        with open(os.path.join(OUT, "changelog.expected.json"), "w") as f:
            json.dump(want, f, indent=1, sort_keys=True)
            f.write("\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
