"""The columnar gather of the write path (cpp/lamina/merge/gather.cc), checked against
pyarrow's ``take``.

A write sorts its rows by key and keeps the last row of each key, so the file it writes
holds ``input.take(order)`` where ``order`` is computed here with numpy. Inputs cover every
column type lamina stores, with nulls, empty values, several batches (a gather across
runs), sliced arrays (non-zero offsets in the Arrow C data), and input already in key
order (written without a gather). The merged read gathers too: two files with overlapping
keys and a column one of them lacks.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from lamina import _core
from lamina import format as lformat

N = 700  # not a multiple of 8 or of a page: partial validity bytes


def column_types() -> list[tuple[str, pa.DataType]]:
    return [
        ("i8", pa.int8()),
        ("i16", pa.int16()),
        ("i32", pa.int32()),
        ("u8", pa.uint8()),
        ("u16", pa.uint16()),
        ("u32", pa.uint32()),
        ("u64", pa.uint64()),
        ("f32", pa.float32()),
        ("f64", pa.float64()),
        ("b", pa.bool_()),
        ("d", pa.date32()),
        ("ts", pa.timestamp("us")),
        ("s", pa.string()),
        ("ls", pa.large_string()),
        ("bin", pa.binary()),
        ("lbin", pa.large_binary()),
        ("l64", pa.list_(pa.int64())),
        ("ll32", pa.large_list(pa.int32())),
        ("lf", pa.list_(pa.float32())),
        ("lstr", pa.list_(pa.string())),
        ("lbool", pa.list_(pa.bool_())),
        ("fsl", pa.list_(pa.float64(), 3)),
        ("fsi", pa.list_(pa.int16(), 2)),
    ]


def random_column(t: pa.DataType, n: int, rng: np.random.Generator, null_rate: float) -> pa.Array:
    """n random values of type t, about null_rate of them null (child nulls too)."""
    mask = rng.random(n) < null_rate if null_rate > 0 else None

    if pa.types.is_boolean(t):
        return pa.array(rng.integers(0, 2, n).astype(bool), t, mask=mask)
    if pa.types.is_integer(t):
        info = np.iinfo(t.to_pandas_dtype())
        v = rng.integers(info.min, info.max, n, dtype=t.to_pandas_dtype(), endpoint=True)
        return pa.array(v, t, mask=mask)
    if pa.types.is_floating(t):
        return pa.array(rng.standard_normal(n).astype(t.to_pandas_dtype()), t, mask=mask)
    if pa.types.is_date32(t):
        days = rng.integers(-10_000, 30_000, n).astype(np.int32)
        return pa.array(days, pa.int32(), mask=mask).cast(t)
    if pa.types.is_timestamp(t):
        return pa.array(rng.integers(0, 2**50, n), pa.int64(), mask=mask).cast(t)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        words = (rng.integers(0, 26, rng.integers(0, 30)) for _ in range(n))
        return pa.array(["".join(chr(97 + c) for c in w) for w in words], t, mask=mask)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        vals = [rng.bytes(int(rng.integers(0, 20))) for _ in range(n)]
        return pa.array(vals, t, mask=mask)
    if pa.types.is_fixed_size_list(t):
        child = random_column(t.value_type, n * t.list_size, rng, 0.0)
        arr = pa.FixedSizeListArray.from_arrays(child, t.list_size)
        if mask is None:
            return arr
        return pa.array([None if m else v for m, v in zip(mask, arr.to_pylist())], t)
    # list / large_list: lengths 0..12, child values with their own nulls
    lengths = rng.integers(0, 13, n)
    child = random_column(t.value_type, int(lengths.sum()), rng, null_rate / 2)
    values = child.to_pylist()
    rows: list[Any] = []
    pos = 0
    for k, ln in enumerate(lengths):
        rows.append(None if mask is not None and mask[k] else values[pos : pos + ln])
        pos += ln
    return pa.array(rows, t)


def make_table(
    keys: np.ndarray,
    rng: np.random.Generator,
    null_rate: float,
    types: list[tuple[str, pa.DataType]],
) -> pa.Table:
    cols = {"id": pa.array(keys, pa.int64())}
    for name, t in types:
        cols[name] = random_column(t, len(keys), rng, null_rate)
    return pa.table(cols)


def options(tmp: Path, schema: pa.Schema, prefix: str = "f", **kw: Any) -> dict[str, Any]:
    o = {
        "key_columns": ["id"],
        "partition_columns": [],
        "buckets": 1,
        "engine": "deduplicate",
        "table_schema": schema.__arrow_c_schema__(),
        "directory": str(tmp),
        "file_prefix": prefix,
        "kind": 0,
        "target_file_size": 1 << 30,
        "sync": False,
    }
    o.update(kw)
    return o


def read_file(tmp: Path, meta: dict[str, Any], names: list[str]) -> pa.Table:
    rd = _core.FileReader(str(tmp / meta["path"]))
    sc, ac = rd.read(list(range(len(names))))
    return pa.Table.from_batches([pa.RecordBatch._import_from_c_capsule(sc, ac)])


def last_of_each_key_sorted(keys: np.ndarray) -> np.ndarray:
    """Row indices that a write keeps (the last row of each key), in key order."""
    rev = keys[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)  # unique() sorts by key
    return (len(keys) - 1 - first_in_rev).astype(np.int64)


def write_and_check(
    tmp: Path, table: pa.Table, batches: list[pa.RecordBatch], **kw: Any
) -> list[dict[str, Any]]:
    keys = table.column("id").to_numpy()
    reader = pa.RecordBatchReader.from_batches(table.schema, batches)
    files: list[dict[str, Any]] = _core.table_write(reader, options(tmp, table.schema, **kw))
    expected = table.take(pa.array(last_of_each_key_sorted(keys)))
    got = pa.concat_tables(read_file(tmp, f, [*table.schema.names, "_kind"]) for f in files)
    assert got.num_rows == expected.num_rows
    for name in table.schema.names:
        assert got.column(name).equals(expected.column(name)), name
    assert got.column("_kind").to_pylist() == [0] * expected.num_rows
    return files


@pytest.mark.parametrize("null_rate", [0.0, 0.3])
def test_gather_every_type_one_batch(tmp_path: Path, null_rate: float) -> None:
    rng = np.random.default_rng(1)
    table = make_table(rng.permutation(N), rng, null_rate, column_types())
    write_and_check(tmp_path, table, table.to_batches())


def test_gather_across_batches_with_duplicates(tmp_path: Path) -> None:
    # Keys repeat within and across batches: the last row wins, rows come from every run.
    rng = np.random.default_rng(2)
    table = make_table(rng.integers(0, N // 2, N), rng, 0.25, column_types())
    write_and_check(tmp_path, table, table.to_batches(max_chunksize=97))


def test_gather_sliced_inputs(tmp_path: Path) -> None:
    # Slices carry an offset into every buffer (validity, values, offsets; not the child).
    rng = np.random.default_rng(3)
    full = make_table(rng.permutation(N + 50), rng, 0.3, column_types())
    table = full.slice(13, N)
    batches = [b for part in (table.slice(0, 301), table.slice(301)) for b in part.to_batches()]
    assert batches[0].column(1).offset == 13
    write_and_check(tmp_path, table.combine_chunks(), batches)


def test_gather_all_null_and_empty_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    table = make_table(rng.permutation(N), rng, 1.0, column_types())
    empty = {
        "s": pa.array([""] * N),
        "l64": pa.array([[]] * N, pa.list_(pa.int64())),
        "lstr": pa.array([[]] * N, pa.list_(pa.string())),
    }
    for name, arr in empty.items():
        table = table.set_column(table.schema.get_field_index(name), name, arr)
    write_and_check(tmp_path, table, table.to_batches(max_chunksize=200))


@pytest.mark.parametrize("sliced", [False, True])
def test_sorted_input_is_written_as_is(tmp_path: Path, sliced: bool) -> None:
    # Already in key order without duplicates: the write skips the gather and encodes the
    # input batches; the file must still equal the input, across batch boundaries.
    rng = np.random.default_rng(5)
    full = make_table(np.arange(N + 20) * 3, rng, 0.3, column_types())
    table = full.slice(7, N) if sliced else full.slice(0, N)
    write_and_check(tmp_path, table, table.to_batches(max_chunksize=128))


def test_sorted_input_split_into_files(tmp_path: Path) -> None:
    # A small target file size splits the sorted run; file boundaries fall inside batches.
    rng = np.random.default_rng(6)
    table = make_table(np.arange(N), rng, 0.2, [("s", pa.string()), ("l64", pa.list_(pa.int64()))])
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=150))
    files = _core.table_write(reader, options(tmp_path, table.schema, target_file_size=4096))
    assert len(files) > 2
    got = pa.concat_tables(read_file(tmp_path, f, [*table.schema.names, "_kind"]) for f in files)
    assert got.select(table.schema.names).equals(table)
    assert [f["run_file"] for f in files] == list(range(len(files)))


def test_gather_split_into_files_reuses_buffers(tmp_path: Path) -> None:
    # Unsorted input over several files: each file is gathered into the buffers of the one
    # before (and the last file's into those of an earlier write): leftovers must not leak.
    rng = np.random.default_rng(8)
    table = make_table(rng.permutation(3 * N), rng, 0.3, column_types())
    files = write_and_check(tmp_path / "a", table, table.to_batches(), target_file_size=60_000)
    assert len(files) > 3
    # A later write of another schema, fewer rows and other nulls gathers into the same
    # pooled buffers (gather.h): nothing of the first write may show through.
    small = make_table(rng.permutation(N // 3), rng, 0.5, list(reversed(column_types())))
    write_and_check(tmp_path / "b", small, small.to_batches())
    no_nulls = make_table(rng.permutation(N // 2), rng, 0.0, column_types())
    write_and_check(tmp_path / "c", no_nulls, no_nulls.to_batches(max_chunksize=100))


@pytest.mark.parametrize("duplicates", [False, True])
def test_gather_in_pieces_across_pages(tmp_path: Path, duplicates: bool) -> None:
    # Files of more than a page (65,536 rows): fixed-width columns are gathered a page at
    # a time right before they are encoded (file_writer.h ColumnSource), var-length ones
    # whole. Each file must still equal the model and hold the pages a whole column gives.
    rng = np.random.default_rng(9)
    n = 200_000
    keys = rng.integers(0, n // 2, n) if duplicates else rng.permutation(n)
    fixed = {"i8", "i16", "i32", "u8", "u16", "u32", "u64", "f32", "f64", "b", "d", "ts"}
    types = [(name, t) for name, t in column_types() if name in fixed]
    table = make_table(keys, rng, 0.2, types)
    table = table.append_column("s", pa.array(rng.integers(0, 9, n).astype(str))).append_column(
        "l",
        pa.ListArray.from_arrays(
            pa.array(np.arange(n + 1) // 2 * 2, pa.int32()), pa.array(np.arange(n), pa.int64())
        ),
    )
    files = write_and_check(
        tmp_path, table, table.to_batches(max_chunksize=70_000), target_file_size=8_000_000
    )
    assert max(f["row_count"] for f in files) > 65_536
    for f in files:
        rows = [p["num_rows"] for p in _core.FileReader(str(tmp_path / f["path"])).page_stats(1)]
        full, last = divmod(int(f["row_count"]), 65_536)
        assert rows == [65_536] * full + ([last] if last else [])


def test_empty_write(tmp_path: Path) -> None:
    schema = make_table(np.arange(1), np.random.default_rng(0), 0.0, column_types()).schema
    assert _core.table_write(schema.empty_table(), options(tmp_path, schema)) == []


def test_merged_read_gathers_across_files(tmp_path: Path) -> None:
    # Two files, overlapping keys, the older one lacking a column: the newer value wins and
    # rows only the old file has read the missing column as null.
    rng = np.random.default_rng(7)
    types = column_types()
    new = make_table(rng.permutation(N)[: N // 2] * 2, rng, 0.3, types)
    old = make_table(rng.permutation(N), rng, 0.3, types).drop_columns(["lstr"])
    f_old = _core.table_write(old, options(tmp_path, old.schema, prefix="old"))
    f_new = _core.table_write(new, options(tmp_path, new.schema, prefix="new"))
    names = new.schema.names
    files = [(str(tmp_path / f["path"]), 1) for f in f_old]
    files += [(str(tmp_path / f["path"]), 2) for f in f_new]
    sc, ac = _core.table_merge_read(files, names, options(tmp_path, new.schema))
    got = pa.Table.from_batches([pa.RecordBatch._import_from_c_capsule(sc, ac)])

    lstr = pa.nulls(old.num_rows, new.schema.field("lstr").type)
    both = pa.concat_tables([old.append_column("lstr", lstr).select(names), new])
    expected = both.take(pa.array(last_of_each_key_sorted(both.column("id").to_numpy())))
    for name in names:
        assert got.column(name).equals(expected.column(name)), name


# ---- page statistics taken by the write path's kernels (format/page_writer.cc) ----------


def page_min_max(path: Path, column: int, fmt: str) -> list[tuple[Any, Any]]:
    out = []
    for p in _core.FileReader(str(path)).page_stats(column):
        if p["min"] is None:
            out.append((None, None))
        elif fmt == "s":
            out.append((p["min"], p["max"]))
        else:
            out.append((struct.unpack(fmt, p["min"])[0], struct.unpack(fmt, p["max"])[0]))
    return out


def test_page_stats_match_numpy(tmp_path: Path) -> None:
    # Floats: NaN ignored, infinities kept, an all-NaN page has none; integers of every
    # signedness (taken from the encoder's range pass); strings (with repeats).
    rng = np.random.default_rng(9)
    rows, page = 4000, 1000
    f32 = rng.standard_normal(rows).astype(np.float32)
    f32[rng.random(rows) < 0.1] = np.nan
    f32[5] = np.inf
    f32[1500] = -np.inf
    f32[2000:3000] = np.nan
    f64 = rng.standard_normal(rows) * 1e300
    i64 = rng.integers(-(2**63), 2**63 - 1, rows, dtype=np.int64)
    u64 = rng.integers(0, 2**64 - 1, rows, dtype=np.uint64)
    u64[:3] = [2**64 - 1, 0, 2**63]
    i8 = rng.integers(-128, 127, rows, dtype=np.int8)
    words = np.array(["US", "GB", "DE", "", "zz", "a\x00b", "US"])
    s = words[rng.integers(0, len(words), rows)]
    table = pa.table({"f32": f32, "f64": f64, "i64": i64, "u64": u64, "i8": i8, "s": s})
    path = tmp_path / "stats.lam"
    lformat.write_file(path, table, max_page_rows=page, sync=False)
    for col, (name, fmt) in enumerate(
        [("f32", "<d"), ("f64", "<d"), ("i64", "<q"), ("u64", "<Q"), ("i8", "<q"), ("s", "s")]
    ):
        values = table.column(name).to_numpy(zero_copy_only=False)
        expected: list[tuple[Any, Any]] = []
        for a in range(0, rows, page):
            chunk = values[a : a + page]
            if name == "s":
                b = [x.encode() for x in chunk]
                expected.append((min(b), max(b)))
            elif chunk.dtype.kind == "f" and np.isnan(chunk).all():
                expected.append((None, None))
            elif chunk.dtype.kind == "f":
                expected.append((float(np.nanmin(chunk)), float(np.nanmax(chunk))))
            else:
                expected.append((int(chunk.min()), int(chunk.max())))
        assert page_min_max(path, col, fmt) == expected, name
