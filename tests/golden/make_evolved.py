"""Builds the golden evolved table (``tests/golden/evolved-v2/``): schema format version 2
(a field with a default) and data files that carry field ids, read across renames, drops,
widenings, moves and defaults.

    python tests/golden/make_evolved.py            # refuses to overwrite
    python tests/golden/make_evolved.py --force    # regenerates it (only before a release)

A plain-Python model keyed by field id tracks what each snapshot holds (deduplicate
engine); ``evolved.expected.json`` holds, per retained snapshot, the schema
(``[name, arrow type string, nullable]``) and the rows sorted by key, plus an ``extra``
write and the rows expected after it and a full compaction. The script reads back at the
end and refuses to write anything if lamina and the model disagree.
``tests/test_golden_evolved.py`` checks that every later lamina still reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Any

import lamina
import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "evolved-v2")
SCHEMA = pa.schema(
    [("k", pa.int64()), ("a", pa.int32()), ("s", pa.string()), ("legacy", pa.string())]
)


class Model:
    def __init__(self) -> None:
        self.cols: list[tuple[int, str, pa.DataType]] = [
            (1, "k", pa.int64()), (2, "a", pa.int32()), (3, "s", pa.string()),
            (4, "legacy", pa.string()),
        ]  # fmt: skip
        self.next_id = 5
        self.defaults: dict[int, Any] = {}
        self.rows: dict[int, dict[int, Any]] = {}

    def schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(n, t, nullable=n != "k") for _, n, t in self.cols]
        )  # fmt: skip

    def write(self, t: lamina.Table, rows: list[dict[str, Any]]) -> Any:
        names = {n: fid for fid, n, _ in self.cols}
        for r in rows:
            self.rows[r["k"]] = {names[n]: v for n, v in r.items()}
        return t.write(pa.Table.from_pylist(rows, schema=self.schema()))

    def view(self) -> list[dict[str, Any]]:
        return [
            {n: r[fid] if fid in r else self.defaults.get(fid) for fid, n, _ in self.cols}
            for _, r in sorted(self.rows.items())
        ]

    def rename(self, old: str, new: str) -> None:
        self.cols = [(f, new if n == old else n, t) for f, n, t in self.cols]

    def retype(self, name: str, typ: pa.DataType) -> None:
        self.cols = [(f, n, typ if n == name else t) for f, n, t in self.cols]


def schema_json(s: pa.Schema) -> list[list[Any]]:
    return [[f.name, str(f.type), f.nullable] for f in s]


def build(path: str) -> dict[str, Any]:
    m = Model()
    t = lamina.create_table(path, SCHEMA, primary_key=["k"], options={"write.sync": "false"})
    snaps: dict[int, dict[str, Any]] = {}

    def record(snap: Any) -> None:
        snaps[snap.id] = {"schema": schema_json(m.schema()), "rows": m.view()}

    record(m.write(t, [{"k": k, "a": k * 10, "s": f"s{k}", "legacy": "old"} for k in range(6)]))
    with t.update_schema() as u:
        u.add_column("d", pa.int64(), default=7)
        u.rename_column("a", "clicks")
        u.drop_column("legacy")
    m.cols.append((m.next_id, "d", pa.int64()))
    m.defaults[m.next_id] = 7
    m.next_id += 1
    m.rename("a", "clicks")
    m.cols = [c for c in m.cols if c[1] != "legacy"]
    record(u.snapshot)
    record(
        m.write(
            t,
            [{"k": k, "clicks": -k, "s": None, "d": None if k % 2 else k} for k in range(3, 9)],
        )
    )
    with t.update_schema() as u:
        u.widen_column("clicks", pa.int64())
        u.widen_column("s", pa.large_string())
        u.add_column("n", pa.float64())
        u.move_column("n", after="k")
    m.retype("clicks", pa.int64())
    m.retype("s", pa.large_string())
    n_col = (m.next_id, "n", pa.float64())
    m.next_id += 1
    m.cols.insert(1, n_col)
    record(u.snapshot)
    rows = [{"k": k, "n": k / 4, "clicks": 2**40 + k, "s": f"w{k}", "d": 1} for k in (7, 9, 10)]
    record(m.write(t, rows))
    snap = t.delete({"k": [0, 9]})
    for k in (0, 9):
        m.rows.pop(k, None)
    record(snap)
    compacted = t.compact(full=True)  # some files rewritten with the newest schema
    assert compacted is not None
    record(compacted)
    record(m.write(t, [{"k": 12, "n": None, "clicks": 1, "s": "late", "d": None}]))

    extra = [{"k": 2, "n": None, "clicks": None, "s": "e", "d": None}, {"k": 11, "n": 1.5,
             "clicks": 5, "s": None, "d": 3}]  # fmt: skip
    after = Model()
    after.cols, after.defaults, after.next_id = list(m.cols), dict(m.defaults), m.next_id
    after.rows = {k: dict(r) for k, r in m.rows.items()}
    names = {n: fid for fid, n, _ in after.cols}
    for r in extra:
        after.rows[r["k"]] = {names[n]: v for n, v in r.items()}
    return {
        "snapshots": {str(k): v for k, v in sorted(snaps.items())},
        "latest": t.current_snapshot().id,
        "extra": {"rows": extra, "after": after.view()},
    }


def check(path: str, expected: dict[str, Any]) -> None:
    t = lamina.open_table(path)
    for sid, want in expected["snapshots"].items():
        got = t.read(snapshot=int(sid)).sort_by("k")
        assert schema_json(got.schema) == want["schema"], (sid, got.schema)
        assert got.to_pylist() == want["rows"], sid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    if os.path.exists(OUT):
        if not args.force:
            sys.exit(f"{OUT} exists; --force regenerates it")
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    path = os.path.join(OUT, "evolved")
    expected = build(path)
    check(path, expected)
    shutil.rmtree(os.path.join(path, "_inflight"), ignore_errors=True)
    with open(os.path.join(OUT, "evolved.expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
