"""The golden evolved table (``tests/golden/evolved-v2/``, built by
``tests/golden/make_evolved.py``) stays readable: schema files of format version 2 (a
default), data files with field ids, every retained snapshot read with the schema it had
(renames, a drop, widenings, a move, an added column with a default), and a write plus a
full compaction on a copy. Expected values come from the build script's model."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import lamina
import pyarrow as pa
import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "evolved-v2")


def schema_json(s: pa.Schema) -> list[list[Any]]:
    return [[f.name, str(f.type), f.nullable] for f in s]


@pytest.fixture
def golden(tmp_path: Any) -> tuple[lamina.Table, dict[str, Any]]:
    path = str(tmp_path / "evolved")
    shutil.copytree(os.path.join(HERE, "evolved"), path)
    with open(os.path.join(HERE, "evolved.expected.json")) as f:
        return lamina.open_table(path), json.load(f)


def test_every_snapshot_reads_with_its_schema(golden: Any) -> None:
    t, want = golden
    assert t.current_snapshot().id == want["latest"]
    assert sorted(s.id for s in t.snapshots()) == sorted(int(i) for i in want["snapshots"])
    for sid, snap in want["snapshots"].items():
        got = t.read(snapshot=int(sid)).sort_by("k")
        assert schema_json(got.schema) == snap["schema"], sid
        assert got.to_pylist() == snap["rows"], sid


def test_lookup_and_take_on_the_latest(golden: Any) -> None:
    t, want = golden
    rows = want["snapshots"][str(want["latest"])]["rows"]
    keys = [r["k"] for r in rows][::-1]
    assert t.lookup({"k": keys}).to_pylist() == rows[::-1]
    got = t.scan().take(list(range(len(rows)))).sort_by("k").to_pylist()
    assert got == rows


def test_schema_files_and_versions(golden: Any) -> None:
    t, _ = golden
    versions = []
    for sid, _schema in t.schema_history():
        with open(os.path.join(t.path, "schema", f"schema-{sid}.json")) as f:
            versions.append(json.load(f)["format_version"])
    assert versions == [1, 2, 2]  # schema 0 has no default


def test_write_and_full_compaction_on_a_copy(golden: Any) -> None:
    t, want = golden
    t.write(pa.Table.from_pylist(want["extra"]["rows"], schema=t.schema))
    assert t.read().sort_by("k").to_pylist() == want["extra"]["after"]
    assert t.compact(full=True) is not None
    assert lamina.open_table(t.path).read().sort_by("k").to_pylist() == want["extra"]["after"]
