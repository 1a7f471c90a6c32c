"""Data files carry the table schema's field ids and reads match columns by them
(issue 11): a column keeps its data across a rename, and a column that merely reuses a
dropped column's name does not inherit its data. Files written without ids (format v1
tables, core calls given no ids) are matched by name. Also the typed ``TableSpec``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lamina
import pyarrow as pa
import pytest
from lamina import _core
from lamina.format import FileReader

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("s", pa.string())])


def spec(schema: pa.Schema, ids: list[int] | None, **kw: Any) -> Any:
    return _core.TableSpec(schema.__arrow_c_schema__(), ["id"], field_ids=ids, **kw)


def write(tmp: Path, table: pa.Table, sp: Any, prefix: str = "f") -> list[tuple[str, int]]:
    opts = {"table": sp, "directory": str(tmp), "file_prefix": prefix, "kind": 0, "sync": False}
    files = _core.table_write(table, opts)
    return [(str(tmp / f["path"]), i + 1) for i, f in enumerate(files)]


def read(files: list[tuple[str, int]], columns: list[str], options: Any) -> pa.Table:
    sc, ac = _core.table_merge_read(files, columns, options)
    return pa.Table.from_batches([pa.RecordBatch._import_from_c_capsule(sc, ac)])


def rows() -> pa.Table:
    return pa.table({"id": [3, 1, 2], "v": [30, 10, 20], "s": ["c", "a", "b"]}, schema=SCHEMA)


def test_data_files_carry_the_schema_field_ids(tmp_path):
    files = write(tmp_path, rows(), spec(SCHEMA, [7, 3, 12]))
    r = FileReader(files[0][0])
    assert r.field_ids == {"id": 7, "v": 3, "s": 12, "_kind": 0}
    assert r.schema.metadata == {b"lamina.field_ids": b"table"}


def test_a_renamed_column_keeps_its_data(tmp_path):
    files = write(tmp_path, rows(), spec(SCHEMA, [1, 2, 3]))
    renamed = pa.schema([("id", pa.int64()), ("value", pa.int64()), ("s", pa.string())])
    got = read(files, ["id", "value", "s"], spec(renamed, [1, 2, 3]))
    assert got.to_pydict() == {"id": [1, 2, 3], "value": [10, 20, 30], "s": ["a", "b", "c"]}


def test_a_new_column_reusing_a_name_reads_as_null(tmp_path):
    files = write(tmp_path, rows(), spec(SCHEMA, [1, 2, 3]))
    # "v" dropped (id 2) and added again as a new column (id 4): old files lack it.
    got = read(files, ["id", "v"], spec(SCHEMA, [1, 4, 3]))
    assert got.to_pydict() == {"id": [1, 2, 3], "v": [None, None, None]}


def test_the_key_is_found_by_id_too(tmp_path):
    files = write(tmp_path, rows(), spec(SCHEMA, [1, 2, 3]))
    renamed = pa.schema([("key", pa.int64()), ("v", pa.int64()), ("s", pa.string())])
    sp = _core.TableSpec(renamed.__arrow_c_schema__(), ["key"], field_ids=[1, 2, 3])
    assert read(files, ["key", "v"], sp).to_pydict() == {"key": [1, 2, 3], "v": [10, 20, 30]}
    # The lookup and take paths resolve columns through the same rule.
    keys = pa.table({"key": [2, 9, 3]})
    sc, ac = _core.table_lookup([(0, files)], keys, 1, ["key", "v"], sp)
    got = pa.RecordBatch._import_from_c_capsule(sc, ac).to_pydict()
    assert got == {"key": [2, 3], "v": [20, 30]}


def test_files_without_ids_are_matched_by_name(tmp_path):
    legacy = {"table_schema": SCHEMA.__arrow_c_schema__(), "key_columns": ["id"]}
    files = write_legacy(tmp_path, rows(), legacy)
    assert FileReader(files[0][0]).schema.metadata in (None, {})
    got = read(files, ["id", "v"], spec(SCHEMA, [5, 6, 7]))  # ids unrelated: by name
    assert got.to_pydict() == {"id": [1, 2, 3], "v": [10, 20, 30]}


def write_legacy(tmp: Path, table: pa.Table, options: dict[str, Any]) -> list[tuple[str, int]]:
    opts = {**options, "directory": str(tmp), "file_prefix": "l", "kind": 0, "sync": False}
    return [(str(tmp / f["path"]), 1) for f in _core.table_write(table, opts)]


def test_a_table_keeps_its_data_when_the_schema_file_renames_a_column(tmp_path):
    """End to end through the table: a schema file that renames a column (same id) reads
    the old data under the new name, also after compaction."""
    path = str(tmp_path / "t")
    t = lamina.create_table(path, SCHEMA, primary_key=["id"])
    t.write(rows())
    t.write(pa.table({"id": [4], "v": [40], "s": ["d"]}, schema=SCHEMA))
    sfile = os.path.join(path, "schema", "schema-0.json")
    with open(sfile, "rb") as fh:
        doc = json.loads(fh.read())
    for f in doc["fields"]:
        if f["name"] == "v":
            f["name"] = "value"
    with open(sfile, "w") as fh:
        json.dump(doc, fh)
    t = lamina.open_table(path)
    want = {"id": [1, 2, 3, 4], "value": [10, 20, 30, 40], "s": ["a", "b", "c", "d"]}
    assert t.read().sort_by("id").to_pydict() == want
    assert t.compact(full=True) is not None
    assert t.read().sort_by("id").to_pydict() == want
    assert t.lookup({"id": [4]}).to_pydict() == {k: v[3:] for k, v in want.items()}


def test_table_spec_validates_once_and_refuses_bad_input():
    sp = spec(SCHEMA, [1, 2, 3], engine="aggregate", aggregates={"v": "sum"})
    assert (sp.key_columns, sp.engine, sp.field_ids) == (["id"], "aggregate", [1, 2, 3])
    with pytest.raises(lamina.InvalidArgumentError, match="field_ids has 2 ids for 3"):
        spec(SCHEMA, [1, 2])
    with pytest.raises(lamina.InvalidArgumentError, match="repeated"):
        spec(SCHEMA, [1, 2, 2])
    with pytest.raises(lamina.InvalidArgumentError, match="out of range"):
        spec(SCHEMA, [0, 2, 3])
    with pytest.raises(lamina.SchemaError, match="not in the schema"):
        _core.TableSpec(SCHEMA.__arrow_c_schema__(), ["nope"])
    with pytest.raises(lamina.InvalidArgumentError, match="unknown merge engine"):
        spec(SCHEMA, None, engine="nope")
    with pytest.raises(lamina.InvalidArgumentError, match="sum"):
        spec(SCHEMA, None, engine="aggregate", aggregates={"s": "sum"})
    with pytest.raises(lamina.InvalidArgumentError, match="unknown table option 'bogus'"):
        _core.table_merge_read([], ["id"], {"table": sp, "bogus": 1})
    with pytest.raises(lamina.InvalidArgumentError, match="must be a TableSpec"):
        _core.table_merge_read([], ["id"], {"table": 1})
