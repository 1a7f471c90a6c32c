"""Round trips through lamina.format against pyarrow's own data."""

from __future__ import annotations

import lamina
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamina.format import FileReader, read_file, write_file
from typegen import ALL_TYPES, assert_tables_equal, random_array, random_table


@pytest.mark.parametrize("typ", ALL_TYPES, ids=str)
@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_roundtrip_every_type(tmp_path, typ, n):
    rng = np.random.default_rng(n)
    table = pa.table({"v": random_array(typ, n, rng), "k": pa.array(np.arange(n))})
    path = tmp_path / "t.lam"
    write_file(path, table, max_page_rows=64)
    assert_tables_equal(read_file(path), table)
    r = FileReader(path)
    assert r.num_rows == n
    assert r.schema.equals(table.schema)
    if n:
        idx = rng.integers(0, n, 50)
        assert_tables_equal(r.take(idx), table.take(idx))
        assert_tables_equal(r.take(idx, columns=["v"]), table.take(idx).select(["v"]))


@pytest.mark.parametrize("null_fraction", [0.0, 1.0])
def test_no_nulls_and_all_nulls(tmp_path, null_fraction):
    table = random_table(300, seed=3, null_fraction=null_fraction)
    write_file(tmp_path / "t.lam", table, max_page_rows=100)
    r = FileReader(tmp_path / "t.lam")
    assert_tables_equal(r.read(), table)
    idx = np.arange(299, -1, -3)
    assert_tables_equal(r.take(idx), table.take(idx))


def test_pages_not_multiple_of_block_and_chunks(tmp_path):
    # Chunks of odd sizes give pages whose first row is not a multiple of 8.
    table = random_table(1001, seed=5)
    chunked = pa.concat_tables([table.slice(0, 13), table.slice(13, 500), table.slice(513)])
    write_file(tmp_path / "t.lam", chunked, max_page_rows=37)
    r = FileReader(tmp_path / "t.lam")
    assert_tables_equal(r.read(), table)
    idx = np.random.default_rng(0).integers(0, 1001, 400)
    assert_tables_equal(r.take(idx), table.take(idx))


def test_sliced_input_arrays(tmp_path):
    table = random_table(200, seed=11).slice(37, 101)
    write_file(tmp_path / "t.lam", table)
    assert_tables_equal(read_file(tmp_path / "t.lam"), table)


def test_projection_reads_only_named_columns(tmp_path):
    table = random_table(500, seed=2)
    write_file(tmp_path / "t.lam", table)
    cols = [table.column_names[5], table.column_names[0]]
    got = read_file(tmp_path / "t.lam", columns=cols)
    assert got.column_names == cols
    assert_tables_equal(got, table.select(cols))


def test_take_repeats_and_order(tmp_path):
    table = pa.table(
        {"x": np.arange(100_000, dtype=np.int64), "s": [str(i) for i in range(100_000)]}
    )
    write_file(tmp_path / "t.lam", table)
    r = FileReader(tmp_path / "t.lam")
    idx = np.array([99_999, 0, 5, 5, 70_000, 65_535, 65_536, 0])
    assert r.take(idx).equals(table.take(idx))
    assert r.take([]).num_rows == 0
    assert r.take(np.array([], dtype=np.int64)).schema.equals(table.schema)


def test_take_out_of_range(tmp_path):
    write_file(tmp_path / "t.lam", pa.table({"x": [1, 2, 3]}))
    r = FileReader(tmp_path / "t.lam")
    for bad in ([3], [-1], [0, 1, 10**12]):
        with pytest.raises(lamina.InvalidArgumentError):
            r.take(bad)
    with pytest.raises(lamina.InvalidArgumentError):
        r.take([0.5])


def test_statistics_match_pyarrow(tmp_path):
    table = random_table(2000, seed=9)
    write_file(tmp_path / "t.lam", table, max_page_rows=300)
    r = FileReader(tmp_path / "t.lam")
    import pyarrow.compute as pc

    for name in table.column_names:
        col = table.column(name)
        stats = r.statistics(name)
        assert stats["null_count"] == col.null_count, name
        pages = r.page_statistics(name)
        assert sum(p["num_rows"] for p in pages) == 2000
        assert stats["num_pages"] == len(pages) == 7
        t = col.type
        if pa.types.is_integer(t):
            mm = pc.min_max(col)
            assert stats["min"] == mm["min"].as_py(), name
            assert stats["max"] == mm["max"].as_py(), name
        if pa.types.is_date32(t) or pa.types.is_timestamp(t):
            mm = pc.min_max(col)
            assert stats["min"].equals(mm["min"]), name
            assert stats["max"].equals(mm["max"]), name
        if pa.types.is_floating(t):
            finite = pc.filter(col, pc.invert(pc.is_nan(col)))
            mm = pc.min_max(finite)
            assert stats["min"] == pytest.approx(mm["min"].as_py()), name
            assert stats["max"] == pytest.approx(mm["max"].as_py()), name
        if pa.types.is_string(t):
            values = [v for v in col.to_pylist() if v is not None]
            assert stats["min"] == min(values)[:64]
            assert stats["max"] >= max(values)


def test_metadata_and_field_ids(tmp_path):
    table = pa.table({"a": [1], "b": [[1.0]]}).replace_schema_metadata({"origin": "test"})
    write_file(tmp_path / "t.lam", table, metadata={"lamina.key": b"\x00\x01"})
    r = FileReader(tmp_path / "t.lam")
    assert r.schema.metadata == {b"origin": b"test"}
    assert r.metadata == {"lamina.key": b"\x00\x01"}
    assert r.field_ids == {"a": 1, "b": 2}  # pre-order: b's child item is 3


def test_not_null_fields_keep_nullability(tmp_path):
    schema = pa.schema([pa.field("k", pa.int64(), nullable=False), pa.field("v", pa.string())])
    table = pa.table({"k": [1, 2], "v": ["a", None]}, schema=schema)
    write_file(tmp_path / "t.lam", table)
    assert read_file(tmp_path / "t.lam").schema.equals(schema)


class _StreamOnly:
    def __init__(self, table: pa.Table) -> None:
        self._t = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self._t.__arrow_c_stream__(requested_schema)


class _ArrayOnly:
    def __init__(self, batch: pa.RecordBatch) -> None:
        self._b = batch

    def __arrow_c_array__(self, requested_schema=None):
        return self._b.__arrow_c_array__(requested_schema)


def test_every_input_kind(tmp_path):
    pd = pytest.importorskip("pandas")
    table = pa.table({"x": np.arange(10), "s": [str(i) for i in range(10)]})
    inputs = {
        "table": table,
        "batch": table.to_batches()[0],
        "reader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
        "stream": _StreamOnly(table),
        "array": _ArrayOnly(table.to_batches()[0]),
        "pandas": pd.DataFrame({"x": np.arange(10), "s": [str(i) for i in range(10)]}),
    }
    for name, data in inputs.items():
        write_file(tmp_path / f"{name}.lam", data)
        # pandas may hand strings over as large_string; values must match either way.
        assert read_file(tmp_path / f"{name}.lam").cast(table.schema).equals(table), name


def test_generator_reader_input(tmp_path):
    schema = pa.schema([("x", pa.int32())])
    batches = (pa.record_batch([pa.array([i, i + 1], pa.int32())], schema=schema) for i in range(5))
    write_file(tmp_path / "g.lam", pa.RecordBatchReader.from_batches(schema, batches))
    assert read_file(tmp_path / "g.lam").column("x").to_pylist() == [
        v for i in range(5) for v in (i, i + 1)
    ]


@pytest.mark.parametrize(
    "typ,name",
    [
        (pa.decimal128(10, 2), "decimal"),
        (pa.struct([("a", pa.int32())]), "struct"),
        (pa.dictionary(pa.int32(), pa.string()), "dictionary"),
        (pa.float16(), "float16"),
        (pa.time32("s"), "time32"),
        (pa.list_(pa.list_(pa.int32())), "nested list"),
        (pa.map_(pa.string(), pa.int32()), "map"),
        (pa.null(), "null"),
    ],
)
def test_unsupported_types_name_the_column(tmp_path, typ, name):
    arr = pa.array([None, None], type=typ)
    table = pa.table({"ok": [1, 2], "bad_col": arr})
    with pytest.raises(lamina.InvalidArgumentError, match="bad_col") as exc:
        write_file(tmp_path / "t.lam", table)
    assert name in str(exc.value)
    assert not (tmp_path / "t.lam").exists()


def test_bad_inputs(tmp_path):
    with pytest.raises(lamina.InvalidArgumentError):
        write_file(tmp_path / "t.lam", [1, 2, 3])
    with pytest.raises(FileNotFoundError):
        FileReader(tmp_path / "missing.lam")
    with pytest.raises(FileNotFoundError):
        write_file(tmp_path / "no" / "such" / "dir.lam", pa.table({"x": [1]}))
    write_file(tmp_path / "t.lam", pa.table({"x": [1]}))
    with pytest.raises(lamina.InvalidArgumentError):
        read_file(tmp_path / "t.lam", columns=["y"])
    with pytest.raises(lamina.InvalidArgumentError):
        write_file(tmp_path / "t.lam", pa.table({"x": [1]}), max_page_rows=0)


def test_empty_schema_and_zero_rows(tmp_path):
    write_file(tmp_path / "e.lam", pa.table({}))
    assert read_file(tmp_path / "e.lam").num_columns == 0
    empty = pa.table({"x": pa.array([], pa.int64()), "s": pa.array([], pa.string())})
    write_file(tmp_path / "z.lam", empty)
    assert read_file(tmp_path / "z.lam").equals(empty)


def test_wide_file_reads_projection(tmp_path):
    table = pa.table({f"c{i}": pa.array(np.full(10, i, dtype=np.int64)) for i in range(2000)})
    write_file(tmp_path / "w.lam", table)
    got = read_file(tmp_path / "w.lam", columns=["c1999", "c7"])
    assert got.column("c1999").to_pylist() == [1999] * 10
    assert got.column("c7").to_pylist() == [7] * 10


def test_reader_outlives_nothing(tmp_path):
    # Arrays handed to pyarrow keep their buffers after the reader is gone.
    write_file(tmp_path / "t.lam", pa.table({"s": ["a", "bb", None] * 1000}))
    r = FileReader(tmp_path / "t.lam")
    t = r.read()
    del r
    import gc

    gc.collect()
    assert t.column("s").to_pylist()[:3] == ["a", "bb", None]


_int_dtypes = st.sampled_from(
    ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
)


@given(dtype=_int_dtypes, data=st.data())
def test_property_integer_columns(tmp_path_factory, dtype, data):
    info = np.iinfo(dtype)
    values = data.draw(st.lists(st.integers(int(info.min), int(info.max)), max_size=300))
    nulls = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    page_rows = data.draw(st.integers(1, 100))
    arr = pa.array(np.array(values, dtype=dtype), mask=np.array(nulls, dtype=bool))
    table = pa.table({"v": arr})
    path = tmp_path_factory.mktemp("p") / "t.lam"
    write_file(path, table, max_page_rows=page_rows)
    r = FileReader(path)
    assert r.read().equals(table)
    if values:
        idx = np.array(
            data.draw(st.lists(st.integers(0, len(values) - 1), max_size=50)), dtype=np.int64
        )
        assert r.take(idx).equals(table.take(idx))


@given(
    values=st.lists(st.one_of(st.none(), st.text(max_size=20)), max_size=200),
    page_rows=st.integers(1, 64),
)
def test_property_strings(tmp_path_factory, values, page_rows):
    table = pa.table(
        {
            "s": pa.array(values, pa.string()),
            "l": pa.array([None if v is None else [v, v] for v in values], pa.list_(pa.string())),
        }
    )
    path = tmp_path_factory.mktemp("p") / "t.lam"
    write_file(path, table, max_page_rows=page_rows)
    r = FileReader(path)
    assert r.read().equals(table)
    if values:
        idx = list(range(len(values)))[::-1]
        assert r.take(idx).equals(table.take(idx))


@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=300))
def test_property_floats_bit_exact(tmp_path_factory, values):
    arr = pa.array(np.array(values, dtype=np.float32))
    table = pa.table({"f": arr})
    path = tmp_path_factory.mktemp("p") / "t.lam"
    write_file(path, table, max_page_rows=50)
    assert_tables_equal(read_file(path), table)
