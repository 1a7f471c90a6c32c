"""The primary-key core: normalized keys, the bucket hash, the write path and the merge
on read, checked against plain Python models. These call the private `_core` functions
directly; the public Table API is tested elsewhere."""

from __future__ import annotations

import os
import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamina import _core
from lamina.errors import InvalidArgumentError, SchemaError

MASK = (1 << 64) - 1
K1 = 0x9E3779B97F4A7C15
K2 = 0xC2B2AE3D27D4EB4F
K3 = 0x165667B19E3779F9


def ref_hash(b: bytes) -> int:
    """The bucket hash as written in cpp/lamina/merge/hash.h."""
    h = (len(b) * K1) & MASK
    for i in range(0, len(b), 8):
        w = int.from_bytes(b[i : i + 8].ljust(8, b"\0"), "little")
        h ^= (w * K2) & MASK
        h = (((h << 31) | (h >> 33)) & MASK) * K1 & MASK
    h ^= h >> 33
    h = (h * K2) & MASK
    h ^= h >> 29
    h = (h * K3) & MASK
    h ^= h >> 32
    return h


def ref_int_part(v: int, signed: bool) -> bytes:
    return struct.pack(">Q", (v & MASK) ^ (1 << 63) if signed else v)


def ref_bytes_part(b: bytes) -> bytes:
    return b.replace(b"\0", b"\0\xff") + b"\0\0"


# ---- the bucket hash ------------------------------------------------------------------

# Pinned: the hash is part of the on-disk format and must never change.
HASH_VECTORS = [
    (b"", 0x0000000000000000),
    (b"\x80\x00\x00\x00\x00\x00\x00\x00", 0xA0A6221EB8FD7356),  # int key 0
    (b"a\x00\x00", 0x3FA121503F463E9A),  # string key "a"
    (bytes(range(1, 20)), 0xC36D8B2947A2C96B),
]


@pytest.mark.parametrize(("data", "expected"), HASH_VECTORS)
def test_hash_vectors(data: bytes, expected: int) -> None:
    assert _core.key_hash(data) == expected
    assert ref_hash(data) == expected


def test_hash_int_vectors_and_both_paths_agree() -> None:
    keys = [0, 1, -1, 2**63 - 1, -(2**63), 42]
    t = pa.table({"k": pa.array(keys, pa.int64())})
    hashes = _core.key_hashes(t, ["k"])
    assert hashes == [ref_hash(ref_int_part(k, True)) for k in keys]
    # The byte path (two columns) hashes the same bytes the same way.
    for k, h in zip(keys, hashes):
        assert _core.key_hash(ref_int_part(k, True)) == h
    # Widening a key column keeps its bytes and so its bucket.
    t32 = pa.table({"k": pa.array([0, 1, -1, 42], pa.int32())})
    t64 = pa.table({"k": pa.array([0, 1, -1, 42], pa.int64())})
    assert _core.key_hashes(t32, ["k"]) == _core.key_hashes(t64, ["k"])
    assert _core.normalize_keys(t32, ["k"]) == _core.normalize_keys(t64, ["k"])


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_hash_matches_reference(blobs: list[bytes]) -> None:
    for b in blobs:
        assert _core.key_hash(b) == ref_hash(b)


# ---- normalized keys ------------------------------------------------------------------

INT_TYPES = [
    (pa.int8(), -(2**7), 2**7 - 1, True),
    (pa.int16(), -(2**15), 2**15 - 1, True),
    (pa.int32(), -(2**31), 2**31 - 1, True),
    (pa.int64(), -(2**63), 2**63 - 1, True),
    (pa.uint8(), 0, 2**8 - 1, False),
    (pa.uint16(), 0, 2**16 - 1, False),
    (pa.uint32(), 0, 2**32 - 1, False),
    (pa.uint64(), 0, 2**64 - 1, False),
]
BYTES_TYPES = [pa.string(), pa.large_string(), pa.binary(), pa.large_binary()]


@st.composite
def key_tables(draw: Any) -> tuple[pa.Table, list[tuple[Any, ...]]]:
    ncols = draw(st.integers(1, 3))
    types: list[Any] = []
    cols: list[list[Any]] = []
    n = draw(st.integers(1, 30))
    for _ in range(ncols):
        if draw(st.booleans()):
            t, lo, hi, _s = draw(st.sampled_from(INT_TYPES))
            edge = st.sampled_from([lo, hi, 0, lo + 1, hi - 1, -1 if lo < 0 else 1])
            vals = draw(st.lists(st.one_of(st.integers(lo, hi), edge), min_size=n, max_size=n))
        else:
            t = draw(st.sampled_from(BYTES_TYPES))
            alphabet = st.sampled_from(["", "\0", "a", "a\0", "\0\0", "b", "\xff", "é"])
            texts = st.lists(alphabet, max_size=4).map("".join)
            vals = draw(st.lists(texts, min_size=n, max_size=n))
            if t in (pa.binary(), pa.large_binary()):
                vals = [v.encode() for v in vals]
        types.append(t)
        cols.append(vals)
    table = pa.table({f"c{i}": pa.array(cols[i], types[i]) for i in range(ncols)})
    rows = [tuple(c[r] for c in cols) for r in range(n)]
    return table, rows


@given(key_tables())
def test_normalized_key_order_is_tuple_order(data: tuple[pa.Table, list[tuple[Any, ...]]]) -> None:
    table, rows = data
    names = table.column_names
    keys = _core.normalize_keys(table, names)
    assert len(keys) == len(rows)
    for i in range(len(rows)):
        for j in range(len(rows)):
            a, b = rows[i], rows[j]
            # Python orders str by code point, which UTF-8 bytes preserve.
            assert (keys[i] < keys[j]) == (a < b)
            assert (keys[i] == keys[j]) == (a == b)
    # The documented encoding, part by part.
    for r, row in enumerate(rows):
        expect = b""
        for v, f in zip(row, table.schema):
            if pa.types.is_integer(f.type):
                expect += ref_int_part(v, pa.types.is_signed_integer(f.type))
            else:
                expect += ref_bytes_part(v.encode() if isinstance(v, str) else v)
        assert keys[r] == expect
    assert _core.key_hashes(table, names) == [ref_hash(k) for k in keys]


def test_null_key_is_a_schema_error() -> None:
    t = pa.table({"id": pa.array([1, None], pa.int64())})
    with pytest.raises(SchemaError, match="primary key column 'id' contains nulls"):
        _core.normalize_keys(t, ["id"])


# ---- a model of the engines -----------------------------------------------------------


def fold(fn: str, values: list[Any]) -> Any:
    """Folds one column's values of the versions since the last delete, oldest first."""
    nn = [v for v in values if v is not None]
    if fn == "last_value":
        return values[-1]
    if fn == "first_value":
        return values[0]
    if fn == "last_non_null":
        return nn[-1] if nn else None
    if fn == "first_non_null":
        return nn[0] if nn else None
    if fn == "sum":
        return sum(nn) if nn else None
    if fn == "min":
        return min(nn) if nn else None
    if fn == "max":
        return max(nn) if nn else None
    if fn == "count":
        return len(nn)
    if fn == "bool_and":
        return all(nn) if nn else None
    if fn == "bool_or":
        return any(nn) if nn else None
    if fn == "collect_list":
        return [x for v in nn for x in v] if nn else None
    raise AssertionError(fn)


def model(
    ops: list[tuple[int, list[dict[str, Any]]]],
    keys: list[str],
    columns: list[str],
    engine: str,
    aggregates: dict[str, str],
) -> dict[tuple[Any, ...], dict[str, Any]]:
    versions: dict[tuple[Any, ...], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for kind, rows in ops:
        for row in rows:
            versions[tuple(row[k] for k in keys)].append((kind, row))
    out = {}
    for key, vs in versions.items():
        last_delete = max((i for i, (kind, _) in enumerate(vs) if kind == 1), default=-1)
        live = [row for _, row in vs[last_delete + 1 :]]
        if not live:
            continue
        result = {}
        for c in columns:
            if c in keys:
                result[c] = live[-1][c]
                continue
            fn = {
                "deduplicate": "last_value",
                "first_row": "first_value",
                "partial_update": "last_non_null",
            }.get(engine) or aggregates.get(c, "last_non_null")
            result[c] = fold(fn, [row[c] for row in live])
        out[key] = result
    return out


def write_ops(
    tmp: Path,
    schema: pa.Schema,
    ops: list[tuple[int, list[dict[str, Any]]]],
    options: dict[str, Any],
    batch_rows: int = 1000,
) -> list[tuple[int, list[dict[str, Any]]]]:
    """Writes each op with its own call; returns (priority, files) per op."""
    written = []
    keys = options["key_columns"]
    for i, (kind, rows) in enumerate(ops):
        if kind == 0:
            table = pa.Table.from_pylist(rows, schema=schema)
        else:
            key_schema = pa.schema([schema.field(k) for k in keys])
            table = pa.Table.from_pylist([{k: r[k] for k in keys} for r in rows], schema=key_schema)
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(batch_rows))
        opts = dict(options, kind=kind, file_prefix=f"op{i}", directory=str(tmp))
        files = _core.table_write(reader, opts)
        written.append((i + 1, files))
    return written


def read_all(
    tmp: Path,
    written: list[tuple[int, list[dict[str, Any]]]],
    columns: list[str],
    options: dict[str, Any],
) -> dict[tuple[Any, ...], dict[str, Any]]:
    keys = options["key_columns"]
    by_bucket: dict[Any, list[tuple[str, int]]] = defaultdict(list)
    for priority, files in written:
        for f in files:
            part = tuple(sorted(f["partition"].items()))
            by_bucket[(part, f["bucket"])].append((str(tmp / f["path"]), priority))
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for files in by_bucket.values():
        sc, ac = _core.table_merge_read(files, columns, options)
        batch = pa.RecordBatch._import_from_c_capsule(sc, ac)
        assert batch.schema.names == columns
        rows = batch.to_pylist()
        if all(k in columns for k in keys):
            ks = [tuple(r[k] for k in keys) for r in rows]
            assert ks == sorted(ks), "a bucket's rows come back sorted by key"
        for r in rows:
            key = tuple(r[k] for k in keys)
            assert key not in out, "a key lives in one bucket"
            out[key] = r
    return out


def check_files(
    tmp: Path, written: list[tuple[int, list[dict[str, Any]]]], options: dict[str, Any]
) -> None:
    keys = options["key_columns"]
    parts = options.get("partition_columns", [])
    for _, files in written:
        runs: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for f in files:
            path = tmp / f["path"]
            assert path.exists()
            assert f["file_size"] == path.stat().st_size
            bucket_dir = path.parent.name
            assert bucket_dir == f"bucket-{f['bucket']}"
            rd = _core.FileReader(str(path))
            assert rd.num_rows == f["row_count"]
            assert rd.column_names[-1] == "_kind"
            sc, ac = rd.read(list(range(rd.num_columns)))
            batch = pa.RecordBatch._import_from_c_capsule(sc, ac)
            kinds = batch.column("_kind").to_pylist()
            assert sum(kinds) == f["delete_count"]
            normalized = _core.normalize_keys(batch.select(keys), keys)
            assert normalized == sorted(set(normalized)), "a file is one sorted run"
            assert normalized[0] == f["min_key"] and normalized[-1] == f["max_key"]
            assert rd.key_range[:2] == (f["min_key"], f["max_key"])
            buckets = options["buckets"]
            assert all(
                h % buckets == f["bucket"] for h in _core.key_hashes(batch.select(keys), keys)
            )
            for p in parts:
                assert set(batch.column(p).to_pylist()) == {f["partition"][p]}
            runs[(tuple(sorted(f["partition"].items())), f["bucket"])].append(f)
        for run in runs.values():
            run.sort(key=lambda f: f["run_file"])
            for a, b in zip(run, run[1:]):
                assert a["max_key"] < b["min_key"], "files of one bucket's run are key-disjoint"


# ---- engines against the model --------------------------------------------------------

BASIC_SCHEMA = pa.schema(
    [
        ("p", pa.int32()),
        ("k", pa.string()),
        ("a", pa.int64()),
        ("b", pa.string()),
        ("c", pa.list_(pa.int32())),
    ]
)


@st.composite
def basic_ops(draw: Any) -> list[tuple[int, list[dict[str, Any]]]]:
    ops = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from([0, 0, 0, 1]))
        rows = []
        for _ in range(draw(st.integers(1, 12))):
            rows.append(
                {
                    "p": draw(st.integers(-1, 1)),
                    "k": draw(st.sampled_from(["", "a", "a\0", "b", "a/b", "zz"])),
                    "a": draw(st.one_of(st.none(), st.integers(-5, 5))),
                    "b": draw(st.one_of(st.none(), st.text("xy\0", max_size=3))),
                    "c": draw(st.one_of(st.none(), st.lists(st.integers(0, 9), max_size=3))),
                }
            )
        ops.append((kind, rows))
    return ops


@pytest.mark.parametrize("engine", ["deduplicate", "first_row", "partial_update"])
@given(ops=basic_ops(), buckets=st.integers(1, 3), small=st.booleans(), partitioned=st.booleans())
def test_engines_match_model(
    tmp_path_factory: pytest.TempPathFactory,
    engine: str,
    ops: list[tuple[int, list[dict[str, Any]]]],
    buckets: int,
    small: bool,
    partitioned: bool,
) -> None:
    tmp = tmp_path_factory.mktemp("t")
    keys = ["p", "k"]
    options = {
        "key_columns": keys,
        "partition_columns": ["p"] if partitioned else [],
        "buckets": buckets,
        "engine": engine,
        "table_schema": BASIC_SCHEMA.__arrow_c_schema__(),
        "target_file_size": 40 if small else 1 << 20,
        "sync": False,
    }
    written = write_ops(tmp, BASIC_SCHEMA, ops, options, batch_rows=5)
    check_files(tmp, written, options)
    columns = BASIC_SCHEMA.names
    assert read_all(tmp, written, columns, options) == model(ops, keys, columns, engine, {})
    # A projection without the keys (and in another order).
    got = read_all(tmp, written, ["c", "p", "k", "a"], options)
    expected = model(ops, keys, ["c", "p", "k", "a"], engine, {})
    assert got == expected


AGG_SCHEMA = pa.schema(
    [
        ("k", pa.int64()),
        ("s", pa.int64()),
        ("fs", pa.float64()),
        ("mn", pa.int32()),
        ("mx", pa.string()),
        ("mnf", pa.float32()),
        ("cnt", pa.int64()),
        ("lv", pa.float64()),
        ("lnn", pa.int64()),
        ("fv", pa.string()),
        ("fnn", pa.int16()),
        ("band", pa.bool_()),
        ("bor", pa.bool_()),
        ("cl", pa.list_(pa.int64())),
        ("dflt", pa.uint8()),
    ]
)
AGGREGATES = {
    "s": "sum",
    "fs": "sum",
    "mn": "min",
    "mx": "max",
    "mnf": "min",
    "cnt": "count",
    "lv": "last_value",
    "lnn": "last_non_null",
    "fv": "first_value",
    "fnn": "first_non_null",
    "band": "bool_and",
    "bor": "bool_or",
    "cl": "collect_list",
}


@st.composite
def agg_ops(draw: Any) -> list[tuple[int, list[dict[str, Any]]]]:
    def maybe(s: Any) -> Any:
        return st.one_of(st.none(), s)

    ops = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from([0, 0, 0, 1]))
        rows = []
        for _ in range(draw(st.integers(1, 10))):
            rows.append(
                {
                    "k": draw(st.integers(-3, 3)),
                    "s": draw(maybe(st.integers(-100, 100))),
                    "fs": draw(maybe(st.sampled_from([0.5, 1.25, -2.0, 8.0]))),
                    "mn": draw(maybe(st.integers(-50, 50))),
                    "mx": draw(maybe(st.text("ab", max_size=3))),
                    "mnf": draw(maybe(st.sampled_from([-1.5, 0.0, 2.25]))),
                    "cnt": draw(maybe(st.integers(100, 200))),  # the value is ignored
                    "lv": draw(maybe(st.sampled_from([1.0, 2.0]))),
                    "lnn": draw(maybe(st.integers(0, 9))),
                    "fv": draw(maybe(st.text("pq", max_size=2))),
                    "fnn": draw(maybe(st.integers(-9, 9))),
                    "band": draw(maybe(st.booleans())),
                    "bor": draw(maybe(st.booleans())),
                    "cl": draw(maybe(st.lists(st.integers(0, 5), max_size=2))),
                    "dflt": draw(maybe(st.integers(0, 255))),
                }
            )
        ops.append((kind, rows))
    return ops


@given(ops=agg_ops(), buckets=st.integers(1, 2), small=st.booleans())
def test_aggregate_engine_matches_model(
    tmp_path_factory: pytest.TempPathFactory,
    ops: list[tuple[int, list[dict[str, Any]]]],
    buckets: int,
    small: bool,
) -> None:
    tmp = tmp_path_factory.mktemp("agg")
    options = {
        "key_columns": ["k"],
        "buckets": buckets,
        "engine": "aggregate",
        "aggregates": AGGREGATES,
        "table_schema": AGG_SCHEMA.__arrow_c_schema__(),
        "target_file_size": 100 if small else 1 << 20,
    }
    written = write_ops(tmp, AGG_SCHEMA, ops, options, batch_rows=4)
    check_files(tmp, written, options)
    columns = AGG_SCHEMA.names
    got = read_all(tmp, written, columns, options)
    assert got == model(ops, ["k"], columns, "aggregate", AGGREGATES)


# ---- targeted cases -------------------------------------------------------------------

SIMPLE = pa.schema([("id", pa.int64()), ("v", pa.float64()), ("s", pa.string())])


def simple_options(tmp: Path, **kw: Any) -> dict[str, Any]:
    o = {
        "key_columns": ["id"],
        "partition_columns": [],
        "buckets": 1,
        "engine": "deduplicate",
        "table_schema": SIMPLE.__arrow_c_schema__(),
        "directory": str(tmp),
        "file_prefix": "f",
        "kind": 0,
        "target_file_size": 1 << 20,
        "sync": False,
    }
    o.update(kw)
    return o


def merge(
    files: list[tuple[str, int]], columns: list[str], options: dict[str, Any]
) -> pa.RecordBatch:
    sc, ac = _core.table_merge_read(files, columns, options)
    return pa.RecordBatch._import_from_c_capsule(sc, ac)


def test_later_row_of_one_write_wins(tmp_path: Path) -> None:
    t = pa.table(
        {"id": [3, 1, 3, 2, 1], "v": [1.0, 2.0, 3.0, 4.0, 5.0], "s": list("abcde")}, schema=SIMPLE
    )
    (f,) = _core.table_write(t, simple_options(tmp_path))
    assert f["row_count"] == 3 and f["delete_count"] == 0 and f["partition"] == {}
    assert f["path"] == "data/bucket-0/f-0.lam"
    out = merge([(str(tmp_path / f["path"]), 1)], ["id", "v", "s"], simple_options(tmp_path))
    assert out.to_pydict() == {"id": [1, 2, 3], "v": [5.0, 4.0, 3.0], "s": ["e", "d", "c"]}


def test_delete_then_reinsert(tmp_path: Path) -> None:
    o = simple_options(tmp_path)
    w1 = _core.table_write(
        pa.table({"id": [1, 2, 3], "v": [1.0, 2.0, 3.0], "s": ["a", "b", "c"]}, schema=SIMPLE),
        dict(o, file_prefix="a"),
    )
    d = _core.table_write(
        pa.table({"id": pa.array([2, 3], pa.int64())}), dict(o, file_prefix="b", kind=1)
    )
    assert d[0]["delete_count"] == 2
    w2 = _core.table_write(
        pa.table({"id": [3], "v": [None], "s": ["z"]}, schema=SIMPLE), dict(o, file_prefix="c")
    )
    files = [
        (str(tmp_path / w1[0]["path"]), 10),
        (str(tmp_path / d[0]["path"]), 20),
        (str(tmp_path / w2[0]["path"]), 30),
    ]
    assert merge(files, ["id", "v", "s"], o).to_pydict() == {
        "id": [1, 3],
        "v": [1.0, None],
        "s": ["a", "z"],
    }
    # Priorities, not list order, decide which version is newer.
    assert merge(files[::-1], ["id"], o).to_pydict() == {"id": [1, 3]}
    swapped = [(files[0][0], 10), (files[1][0], 40), (files[2][0], 30)]
    assert merge(swapped, ["id"], o).to_pydict() == {"id": [1]}
    # first_row: the reinsert after the delete starts afresh.
    fr = dict(o, engine="first_row")
    assert merge(files, ["id", "s"], fr).to_pydict() == {"id": [1, 3], "s": ["a", "z"]}


def test_partition_folders_and_values(tmp_path: Path) -> None:
    schema = pa.schema(
        [("region", pa.string()), ("day", pa.int16()), ("id", pa.uint64()), ("v", pa.int8())]
    )
    t = pa.table(
        {
            "region": ["eu/west", "us", "eu/west", ".."],
            "day": [-7, 3, -7, 0],
            "id": [1, 2, 3, 4],
            "v": [1, 2, 3, 4],
        },
        schema=schema,
    )
    o = {
        "key_columns": ["region", "day", "id"],
        "partition_columns": ["region", "day"],
        "buckets": 4,
        "engine": "deduplicate",
        "table_schema": schema.__arrow_c_schema__(),
        "directory": str(tmp_path),
        "file_prefix": "x",
        "kind": 0,
    }
    files = _core.table_write(t, o)
    dirs = {os.path.dirname(os.path.dirname(f["path"])) for f in files}
    assert dirs == {
        "data/region=eu%2Fwest/day=-7",
        "data/region=us/day=3",
        "data/region=%2E%2E/day=0",
    }
    values = {(f["partition"]["region"], f["partition"]["day"]) for f in files}
    assert values == {("eu/west", -7), ("us", 3), ("..", 0)}
    assert sum(f["row_count"] for f in files) == 4


def test_target_file_size_splits_a_bucket_into_a_run(tmp_path: Path) -> None:
    n = 20_000
    t = pa.table(
        {
            "id": pa.array(range(n, 0, -1), pa.int64()),
            "v": [float(i) for i in range(n)],
            "s": [str(i) for i in range(n)],
        },
        schema=SIMPLE,
    )
    o = simple_options(tmp_path, target_file_size=50_000)
    files = _core.table_write(t, o)
    assert len(files) > 3
    assert sum(f["row_count"] for f in files) == n
    check_files(tmp_path, [(1, files)], o)
    out = merge([(str(tmp_path / f["path"]), 1) for f in files], ["id", "s"], o)
    assert out.column("id").to_pylist() == list(range(1, n + 1))
    assert out.column("s").to_pylist()[:2] == [str(n - 1), str(n - 2)]


def test_overlapping_runs_merge(tmp_path: Path) -> None:
    o = simple_options(tmp_path)
    files = []
    expected: dict[int, float] = {}
    for i in range(7):
        ids = list(range(i, 3000, 1 + i))
        vals = [float(i * 10_000 + x) for x in ids]
        t = pa.table({"id": ids, "v": vals, "s": [None] * len(ids)}, schema=SIMPLE)
        (f,) = _core.table_write(t, dict(o, file_prefix=f"r{i}"))
        files.append((str(tmp_path / f["path"]), 100 - i))  # earlier files are newer
        for x, v in zip(ids, vals):
            expected.setdefault(x, v)
    out = merge(files, ["id", "v"], o)
    assert out.column("id").to_pylist() == sorted(expected)
    assert out.column("v").to_pylist() == [expected[k] for k in sorted(expected)]


def test_files_missing_a_column_read_as_nulls(tmp_path: Path) -> None:
    old = pa.schema([("id", pa.int64()), ("v", pa.float64())])
    o_old = simple_options(tmp_path, table_schema=old.__arrow_c_schema__())
    (f1,) = _core.table_write(
        pa.table({"id": [1, 2], "v": [1.0, 2.0]}, schema=old), dict(o_old, file_prefix="old")
    )
    o = simple_options(tmp_path)
    (f2,) = _core.table_write(
        pa.table({"id": [2], "v": [5.0], "s": ["new"]}, schema=SIMPLE), dict(o, file_prefix="new")
    )
    out = merge(
        [(str(tmp_path / f1["path"]), 1), (str(tmp_path / f2["path"]), 2)], ["id", "v", "s"], o
    )
    assert out.to_pydict() == {"id": [1, 2], "v": [1.0, 5.0], "s": [None, "new"]}


def test_empty_inputs(tmp_path: Path) -> None:
    o = simple_options(tmp_path)
    assert _core.table_write(SIMPLE.empty_table(), o) == []
    out = merge([], ["id", "s"], o)
    assert out.num_rows == 0 and out.schema.names == ["id", "s"]


# ---- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "kind", "message"),
    [
        (pa.table({"id": [1], "v": [1.0]}), 0, "column 's' is missing"),
        (
            pa.table({"id": [1], "v": [1.0], "s": ["a"], "x": [1]}),
            0,
            "column 'x' is not in the table",
        ),
        (
            pa.table({"id": [1], "v": pa.array([1.0], pa.float32()), "s": ["a"]}),
            0,
            "column 'v' has type",
        ),
        (
            pa.table({"id": pa.array([1, None], pa.int64()), "v": [1.0, 2.0], "s": ["a", "b"]}),
            0,
            "primary key column 'id' contains nulls",
        ),
        (pa.table({"id": [1], "v": [1.0]}), 1, "column 'v' is not a primary key column"),
        (pa.table({"s": ["a"]}), 1, "column 's' is not a primary key column"),
    ],
)
def test_schema_errors_name_the_column(
    tmp_path: Path, table: pa.Table, kind: int, message: str
) -> None:
    with pytest.raises(SchemaError, match=message):
        _core.table_write(table, simple_options(tmp_path, kind=kind))
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.lam"))


def test_null_key_in_a_later_batch_writes_nothing(tmp_path: Path) -> None:
    good = pa.record_batch({"id": [1, 2], "v": [1.0, 2.0], "s": ["a", "b"]}, schema=SIMPLE)
    bad = pa.record_batch({"id": [3, None], "v": [1.0, 2.0], "s": ["a", "b"]}, schema=SIMPLE)
    reader = pa.RecordBatchReader.from_batches(SIMPLE, [good, bad])
    with pytest.raises(SchemaError, match="'id' contains nulls"):
        _core.table_write(reader, simple_options(tmp_path, buckets=3))
    assert not any(tmp_path.rglob("*.lam"))


def test_bad_aggregate_options(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="column 'v'"):
        _core.table_write(
            SIMPLE.empty_table(),
            simple_options(tmp_path, engine="aggregate", aggregates={"v": "count"}),
        )
    with pytest.raises(InvalidArgumentError, match="'s'"):
        _core.table_write(
            SIMPLE.empty_table(),
            simple_options(tmp_path, engine="aggregate", aggregates={"s": "sum"}),
        )
    with pytest.raises(SchemaError, match="'id' cannot be aggregated"):
        _core.table_write(
            SIMPLE.empty_table(),
            simple_options(tmp_path, engine="aggregate", aggregates={"id": "max"}),
        )
    with pytest.raises(Exception, match="unknown aggregate function 'median'"):
        _core.table_write(
            SIMPLE.empty_table(),
            simple_options(tmp_path, engine="aggregate", aggregates={"v": "median"}),
        )
    with pytest.raises(Exception, match="unknown merge engine"):
        _core.table_write(SIMPLE.empty_table(), simple_options(tmp_path, engine="newest"))
    with pytest.raises(SchemaError, match="'nope'"):
        merge([], ["nope"], simple_options(tmp_path))


@pytest.mark.parametrize("key_type", [pa.int64(), pa.string()])
def test_per_row_sequences_decide_between_files(tmp_path: Path, key_type: pa.DataType) -> None:
    """Files written by compaction carry `_seq`; it outranks the file's priority."""
    schema = pa.schema([("id", key_type), ("v", pa.int64())])

    def key(i: int) -> Any:
        return i if key_type == pa.int64() else f"k{i:03d}"

    rows_a = [(key(i), 100 + i, 0, 10 if i % 2 else 30) for i in range(0, 40, 2)]
    rows_b = [(key(i), 200 + i, 1 if i % 6 == 0 else 0, 20) for i in range(0, 40, 3)]
    paths = []
    for name, rows in (("a", rows_a), ("b", rows_b)):
        t = pa.table(
            {
                "id": pa.array([r[0] for r in rows], key_type),
                "v": pa.array([None if r[2] else r[1] for r in rows], pa.int64()),
                "_kind": pa.array([r[2] for r in rows], pa.int8()),
                "_seq": pa.array([r[3] for r in rows], pa.uint64()),
            }
        )
        path = str(tmp_path / f"{name}.lam")
        _core.write_file(path, t.__arrow_c_stream__(), {})
        paths.append(path)
    versions: dict[Any, list[tuple[int, int, int, int]]] = defaultdict(list)
    for run, rows in enumerate((rows_a, rows_b)):
        for k, v, kind, seq in rows:
            versions[k].append((seq, run, kind, v))
    expected = {}
    for k, vs in versions.items():
        _seq, _run, kind, v = max(vs)  # newest: largest seq, then later file
        if kind == 0:
            expected[k] = v
    o = {
        "key_columns": ["id"],
        "engine": "deduplicate",
        "table_schema": schema.__arrow_c_schema__(),
    }
    # Priorities say b is newer; the sequences say otherwise for half of a's rows.
    out = merge([(paths[0], 1), (paths[1], 2)], ["id", "v"], o).to_pydict()
    assert dict(zip(out["id"], out["v"])) == expected
