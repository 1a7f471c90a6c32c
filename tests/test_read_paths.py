"""Read paths: key-disjoint runs read without a merge (decoded straight into the output,
validity bitmaps only for pages with nulls), and the merge path when runs overlap or
carry deletes. Checked against pyarrow and a dict model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lamina
import lamina.format as lf
import pyarrow as pa
import pytest

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("x", pa.int32()),
        ("f", pa.float64()),
        ("b", pa.bool_()),
        ("s", pa.string()),
        ("l", pa.list_(pa.int64())),
        ("v", pa.list_(pa.float32(), 2)),
    ]
)


def _rows(keys: list[int], nulls: bool, salt: int = 0) -> pa.Table:
    def null(i: int, m: int) -> bool:
        return nulls and (i * 7 + m) % 5 == 0

    cols: dict[str, list[Any]] = {
        "id": keys,
        "x": [None if null(k, 1) else k * 3 + salt for k in keys],
        "f": [None if null(k, 2) else k / 4 + salt for k in keys],
        "b": [None if null(k, 3) else (k + salt) % 3 == 0 for k in keys],
        "s": [None if null(k, 4) else f"s{k}-{salt}" * (k % 4) for k in keys],
        "l": [
            None
            if null(k, 0)
            else [None if nulls and j == 1 else k + j + salt for j in range(k % 4)]
            for k in keys
        ],
        "v": [
            None if null(k, 2) else [float(k), None if nulls and k % 3 == 0 else 1.0] for k in keys
        ],
    }
    return pa.table(cols, schema=SCHEMA)


def _table(tmp_path: Path, **opts: str) -> lamina.Table:
    o = {"write.sync": "false", "compaction.num_sorted_run_trigger": "100"}
    o.update(opts)
    return lamina.create_table(str(tmp_path / "t"), SCHEMA, primary_key=["id"], options=o)


def _model(batches: list[pa.Table], deletes: list[list[int]] | None = None) -> pa.Table:
    rows: dict[int, dict[str, Any]] = {}
    for i, b in enumerate(batches):
        for r in b.to_pylist():
            rows[r["id"]] = r
        if deletes is not None and i < len(deletes):
            for k in deletes[i]:
                rows.pop(k, None)
    return pa.Table.from_pylist([rows[k] for k in sorted(rows)], schema=SCHEMA)


def _check(t: lamina.Table, expected: pa.Table, columns: list[str] | None = None) -> None:
    got = t.read(columns=columns) if columns else t.read()
    want = expected.select(columns) if columns else expected
    assert got.schema.names == want.schema.names
    assert [f.type for f in got.schema] == [f.type for f in want.schema]
    assert got.to_pylist() == want.to_pylist()


@pytest.mark.parametrize("nulls", [False, True])
@pytest.mark.parametrize("sizes", [[1000], [13, 1000, 7], [64, 128, 256]])
def test_disjoint_runs_read_without_merge(tmp_path: Path, nulls: bool, sizes: list[int]) -> None:
    t = _table(tmp_path)
    batches, start = [], 0
    for i, n in enumerate(sizes):
        # Later writes hold smaller keys: the runs' key order differs from their age.
        keys = list(range(10_000 - start - n, 10_000 - start))
        batches.append(_rows(keys, nulls and i != 0, salt=i))
        t.write(batches[-1])
        start += n
    _check(t, _model(batches))
    _check(t, _model(batches), ["s", "id"])
    _check(t, _model(batches), ["l", "v", "b"])


def test_nulls_only_in_a_late_page(tmp_path: Path) -> None:
    # The bitmap is allocated at the first page with nulls; earlier rows stay valid.
    t = _table(tmp_path)
    keys = list(range(5000))
    x: list[Any] = list(range(5000))
    x[4321] = None
    s: list[Any] = [str(k) for k in keys]
    s[4999] = None
    l_: list[Any] = [[k] for k in keys]
    l_[4000] = [None, 1]
    b = _rows(keys, False)
    b = b.set_column(1, "x", pa.array(x, pa.int32()))
    b = b.set_column(4, "s", pa.array(s, pa.string()))
    b = b.set_column(5, "l", pa.array(l_, pa.list_(pa.int64())))
    path = tmp_path / "f.lam"
    lf.write_file(str(path), b, max_page_rows=100)
    assert lf.read_file(str(path)).to_pylist() == b.to_pylist()
    t.write(b)
    _check(t, _model([b]))


def test_sliced_input_and_small_pages(tmp_path: Path) -> None:
    base = _rows(list(range(3000)), True)
    sl = base.slice(37, 2011)
    path = tmp_path / "f.lam"
    lf.write_file(str(path), sl, max_page_rows=123)
    got = lf.read_file(str(path))
    assert got.to_pylist() == sl.to_pylist()
    assert lf.read_file(str(path), ["l", "x"]).to_pylist() == sl.select(["l", "x"]).to_pylist()
    t = _table(tmp_path)
    t.write(sl)
    t.write(base.slice(2500, 300))  # disjoint from the first run
    _check(t, _model([sl, base.slice(2500, 300)]))


def test_overlapping_runs_merge(tmp_path: Path) -> None:
    t = _table(tmp_path)
    a = _rows(list(range(0, 600)), True, salt=1)
    b = _rows(list(range(300, 900, 2)), True, salt=2)
    t.write(a)
    t.write(b)
    _check(t, _model([a, b]))
    _check(t, _model([a, b]), ["id", "s"])


def test_deletes_take_the_merge_path(tmp_path: Path) -> None:
    t = _table(tmp_path)
    a = _rows(list(range(0, 500)), True)
    t.write(a)
    dels = list(range(0, 500, 3))
    t.delete(pa.table({"id": pa.array(dels, pa.int64())}))
    c = _rows(list(range(1000, 1100)), False, salt=3)  # disjoint, but deletes are present
    t.write(c)
    _check(t, _model([a, c], [dels]))
    t.compact(full=True)
    _check(t, _model([a, c], [dels]))


def test_first_row_engine_disjoint(tmp_path: Path) -> None:
    t = lamina.create_table(
        str(tmp_path / "fr"),
        SCHEMA,
        primary_key=["id"],
        merge_engine="first_row",
        options={"write.sync": "false"},
    )
    a = _rows(list(range(100, 200)), True)
    b = _rows(list(range(0, 50)), True, salt=5)
    t.write(a)
    t.write(b)
    _check(t, _model([b, a]))
