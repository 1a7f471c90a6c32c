"""The golden changelog table (``tests/golden/changelog-v1/``, built by
``tests/golden/make_changelog.py``) stays readable: snapshots naming changelog files
(written before a rename and an added column with a default, read through field ids),
snapshots without one (computed by lookups), a compaction and a consumer file. Expected
values were computed both ways by the build script."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import lamina
import pyarrow as pa
import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "changelog-v1")


@pytest.fixture
def golden(tmp_path: Any) -> tuple[lamina.Table, dict[str, Any]]:
    path = str(tmp_path / "t")
    shutil.copytree(os.path.join(HERE, "table"), path)
    with open(os.path.join(HERE, "changelog.expected.json")) as f:
        return lamina.open_table(path), json.load(f)


def test_changes_read_from_golden_changelogs(golden: Any) -> None:
    t, want = golden
    last = t.current_snapshot().id
    assert [s.id for s in t.snapshots() if s.changelog is not None] == want["with_changelog"]
    assert t.changes(0, last, per_snapshot=True).to_pylist() == want["per_snapshot"]
    assert t.changes(0, last).to_pylist() == want["net"]
    assert t.consumers() == want["consumers"]


def test_golden_consumer_streams_and_table_takes_new_changelogs(golden: Any) -> None:
    t, want = golden
    pos = want["consumers"]["golden-reader"]

    # Stream batches come in their snapshot's schema: compare keys and kinds.
    def brief(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(r["k"], r["_row_kind"], r["_snapshot_id"]) for r in rows]

    got = [r for b in t.stream(consumer_id="golden-reader", timeout=0) for r in b.to_pylist()]
    assert brief(got) == brief([r for r in want["per_snapshot"] if r["_snapshot_id"] > pos])
    t.write(pa.table({"k": [4], "a": [42], "name": ["d"], "w": [7]}))
    snap = t.current_snapshot()
    assert snap.changelog is not None and len(snap.changelog) == 1
    assert [r["_row_kind"] for r in t.changes(snap.id - 1, snap.id).to_pylist()] == ["-U", "+U"]
    assert t.consumers() == {"golden-reader": snap.id - 1}
