"""Golden files: tables and a data file written by earlier lamina versions stay readable.

``tests/golden/v<N>/`` holds what ``tests/golden/make_golden.py`` wrote with the lamina of
format version N (table folders, a standalone data file) and the results a model of the
writes expects (``<name>.expected.json``; value encoding in make_golden's docstring). A
change that breaks reading old tables fails here. Each test works on a copy in tmp_path:
nothing under tests/ is ever written.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import sys
from typing import Any

import lamina
import pyarrow as pa
import pyarrow.compute as pc
import pytest

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")

_spec = importlib.util.spec_from_file_location(
    "lamina_make_golden", os.path.join(GOLDEN, "make_golden.py")
)
assert _spec is not None and _spec.loader is not None
mg = importlib.util.module_from_spec(_spec)
_dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in tests/
try:
    _spec.loader.exec_module(mg)
finally:
    sys.dont_write_bytecode = _dont_write

VERSIONS = sorted(
    os.path.basename(p) for p in glob.glob(os.path.join(GOLDEN, "v*")) if os.path.isdir(p)
)
TABLES = [
    (v, os.path.basename(p)[: -len(".expected.json")])
    for v in VERSIONS
    for p in sorted(glob.glob(os.path.join(GOLDEN, v, "*.expected.json")))
    if os.path.isdir(os.path.join(GOLDEN, v, os.path.basename(p)[: -len(".expected.json")]))
]
IDS = [f"{v}-{n}" for v, n in TABLES]


def test_golden_files_present() -> None:
    assert "v1" in VERSIONS
    names = {n for v, n in TABLES if v == "v1"}
    assert names == {"dedup_types", "partitioned", "partial_update", "aggregate", "first_row"}
    assert os.path.isfile(os.path.join(GOLDEN, "v1", "standalone.lam"))


def _expected(version: str, name: str) -> dict[str, Any]:
    with open(os.path.join(GOLDEN, version, f"{name}.expected.json")) as f:
        exp: dict[str, Any] = json.load(f)
    return exp


@pytest.fixture(params=TABLES, ids=IDS)
def golden(request: Any, tmp_path: Any) -> tuple[lamina.Table, dict[str, Any]]:
    version, name = request.param
    dst = os.path.join(str(tmp_path), name)
    shutil.copytree(os.path.join(GOLDEN, version, name), dst)
    return lamina.open_table(dst), _expected(version, name)


def _rows(table: pa.Table, pk: list[str]) -> list[dict[str, Any]]:
    return sorted(mg.arrow_rows(table), key=lambda r: mg.sort_key(r, pk))


def _same(got: Any, want: Any) -> None:
    # JSON text compares NaN markers, -0.0 vs 0.0 and int vs float exactly.
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


def test_table_properties(golden: tuple[lamina.Table, dict[str, Any]]) -> None:
    t, exp = golden
    want = exp["table"]
    assert [[f.name, str(f.type), f.nullable] for f in t.schema] == want["schema"]
    assert t.primary_key == want["primary_key"]
    assert t.partition_by == want["partition_by"]
    assert t.buckets == want["buckets"]
    assert t.merge_engine == want["merge_engine"]
    options = t.options
    for k, v in want["options"].items():
        assert options[k] == v


def test_every_snapshot_reads(golden: tuple[lamina.Table, dict[str, Any]]) -> None:
    t, exp = golden
    pk = exp["table"]["primary_key"]
    assert sorted(s.id for s in t.snapshots()) == sorted(int(i) for i in exp["snapshots"])
    current = t.current_snapshot()
    assert current is not None and current.id == exp["latest"]
    for sid, want in exp["snapshots"].items():
        snap = t.snapshot(int(sid))
        assert snap is not None
        assert (snap.kind, snap.parent_id, snap.schema_id) == (want["kind"], want["parent_id"], 0)
        _same(_rows(t.read(snapshot=int(sid)), pk), want["rows"])
        assert t.scan(snapshot=int(sid)).count() == len(want["rows"])
    _same(_rows(t.read(), pk), exp["snapshots"][str(exp["latest"])]["rows"])
    for sid in exp["expired"]:
        with pytest.raises(lamina.SnapshotExpiredError):
            t.read(snapshot=sid)


def test_projection_and_filter(golden: tuple[lamina.Table, dict[str, Any]]) -> None:
    t, exp = golden
    pk = exp["table"]["primary_key"]
    rows = exp["snapshots"][str(exp["latest"])]["rows"]
    last = [f[0] for f in exp["table"]["schema"] if f[0] not in pk][-1]
    cols = [*pk, last]
    _same(_rows(t.read(columns=cols), pk), [{c: r[c] for c in cols} for r in rows])
    # A filter on the first key column (partition pruning for a partitioned table).
    first = rows[0][pk[0]]
    if not isinstance(first, dict):
        got = _rows(t.read(filter=pc.field(pk[0]) == first), pk)
        _same(got, [r for r in rows if r[pk[0]] == first])


def test_tags(golden: tuple[lamina.Table, dict[str, Any]]) -> None:
    t, exp = golden
    pk = exp["table"]["primary_key"]
    assert t.tags() == exp["tags"]
    for name, sid in exp["tags"].items():
        snap = t.snapshot(name)
        assert snap is not None and snap.id == sid
        _same(_rows(t.read(snapshot=name), pk), exp["snapshots"][str(sid)]["rows"])


def test_lookups(golden: tuple[lamina.Table, dict[str, Any]]) -> None:
    t, exp = golden
    assert exp["lookups"]
    for lk in exp["lookups"]:
        names = list(lk["keys"])
        keys = mg.to_arrow([dict(zip(names, vs)) for vs in zip(*lk["keys"].values())], t.schema)
        _same(mg.arrow_rows(t.lookup(keys)), lk["rows"])


def test_write_compact_read(golden: tuple[lamina.Table, dict[str, Any]]) -> None:
    """The current lamina keeps writing, deleting and compacting an old table."""
    t, exp = golden
    pk = exp["table"]["primary_key"]
    extra = exp["extra"]
    latest = exp["latest"]
    t.write(mg.to_arrow(extra["write"], t.schema))
    t.delete(mg.to_arrow(extra["delete"], t.schema))
    _same(_rows(t.read(), pk), extra["rows"])
    snap = t.compact(full=True)
    assert snap is not None and snap.kind == "compact" and snap.id == latest + 3
    _same(_rows(t.read(), pk), extra["rows"])
    assert t.scan().count() == len(extra["rows"])
    # Old snapshots still read after the new commits, and a reopened table agrees.
    _same(_rows(t.read(snapshot=latest), pk), exp["snapshots"][str(latest)]["rows"])
    t2 = lamina.open_table(t.path)
    _same(_rows(t2.read(), pk), extra["rows"])
    assert t2.expire_snapshots(retain_last=1)
    _same(_rows(t2.read(), pk), extra["rows"])


def test_version_markers(golden: tuple[lamina.Table, dict[str, Any]]) -> None:
    """Every file of a v<N> table says it is version N (or omits it, meaning 1)."""
    t, exp = golden
    v = exp["format_version"]
    root = t.path
    for path in glob.glob(os.path.join(root, "**", "*.lam"), recursive=True):
        with open(path, "rb") as f:
            data = f.read()
        assert data[:4] == b"LAMF" and data[-4:] == b"LAMF"
        assert int.from_bytes(data[4:8], "little") == v == int.from_bytes(data[-8:-4], "little")
    for path in glob.glob(os.path.join(root, "manifest", "*.lam")):
        meta = lamina.format.FileReader(path).metadata
        assert meta.get("lamina.manifest.format_version", b"1") == str(v).encode()
    for sub in ("schema", "snapshot", "tag"):
        for path in glob.glob(os.path.join(root, sub, "*.json")):
            with open(path) as f:
                assert json.load(f).get("format_version", 1) == v


@pytest.mark.parametrize("version", VERSIONS)
def test_standalone_file(version: str, tmp_path: Any) -> None:
    src = os.path.join(GOLDEN, version, "standalone.lam")
    path = os.path.join(str(tmp_path), "standalone.lam")
    shutil.copyfile(src, path)
    exp = _expected(version, "standalone")
    r = lamina.format.FileReader(path)
    assert [[f.name, str(f.type), f.nullable] for f in r.schema] == exp["schema"]
    assert r.num_rows == len(exp["rows"])
    assert {k: v.decode() for k, v in r.metadata.items()} == exp["metadata"]
    _same(mg.arrow_rows(lamina.format.read_file(path)), exp["rows"])
    _same(mg.arrow_rows(r.take(exp["take"]["indices"])), exp["take"]["rows"])
    cols = ["ts", "fsl", "b"]
    _same(
        mg.arrow_rows(r.read(cols)),
        [{c: row[c] for c in cols} for row in exp["rows"]],
    )


def test_metadata_doc_examples() -> None:
    """The worked examples of docs/metadata.md are these files' bytes."""
    v1 = os.path.join(GOLDEN, "v1")
    with open(os.path.join(v1, "first_row", "tag", "final.json"), "rb") as f:
        assert f.read() == b'{"name": "final", "snapshot_id": 5}'
    kv = b"\x00\x01\x1elamina.manifest.format_version\x011\x00\x0e"
    for path in glob.glob(os.path.join(v1, "*", "manifest", "*.lam")):
        with open(path, "rb") as f:
            assert kv in f.read()
    with open(os.path.join(v1, "partitioned", "snapshot", "snapshot-3.json"), "rb") as f:
        snap = json.loads(f.read())
    assert (snap["kind"], snap["record_count"], len(snap["manifests"])) == ("delete", 53, 3)
