"""Point lookup and positional take (python/lamina/_lookup.py, cpp/lamina/table/lookup.cc)
against a dict model and against the merged scan, for every merge engine."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import lamina
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lamina import _core, _lookup
from lamina.errors import CorruptFileError, InvalidArgumentError

ENGINES = ["deduplicate", "first_row", "partial_update", "aggregate"]
AGG = {"a": "sum", "b": "max", "c": "collect_list", "d": "count", "e": "first_non_null"}
VALUES = pa.schema(
    [("a", pa.int64()), ("b", pa.string()), ("c", pa.list_(pa.int32())),
     ("d", pa.int64()), ("e", pa.float64())]
)  # fmt: skip
VALUE_COLS = VALUES.names

# Table shapes: (key columns, partition_by). "s" is a string key part, "p" a partition.
SHAPES = {
    "int": (["k"], None),
    "composite": (["s", "k"], None),
    "partitioned": (["p", "k"], ["p"]),
}
KEY_TYPES = {"k": pa.int64(), "s": pa.string(), "p": pa.string()}


def _schema(key: list[str]) -> pa.Schema:
    return pa.schema([(c, KEY_TYPES[c]) for c in key] + list(VALUES))


def _combine(fn: str, old: Any, new: Any) -> Any:
    if fn == "count":
        return old + (new is not None)
    if old is None:
        return new
    if new is None:
        return old
    if fn == "sum":
        return old + new
    if fn == "max":
        return max(old, new)
    if fn == "collect_list":
        return old + new
    if fn == "first_non_null":
        return old
    raise AssertionError(fn)


class Model:
    """The rows a table should hold, folded one written row at a time."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.rows: dict[tuple[Any, ...], dict[str, Any]] = {}

    def upsert(self, k: tuple[Any, ...], v: dict[str, Any]) -> None:
        old = self.rows.get(k)
        if self.engine == "deduplicate" or old is None:
            new = dict(v)
            if self.engine == "aggregate":
                new["d"] = int(v["d"] is not None)
            self.rows[k] = new
        elif self.engine == "partial_update":
            old.update({c: x for c, x in v.items() if x is not None})
        elif self.engine == "aggregate":
            for c, fn in AGG.items():
                old[c] = _combine(fn, old[c], v[c])

    def delete(self, k: tuple[Any, ...]) -> None:
        self.rows.pop(k, None)


values = st.fixed_dictionaries(
    {
        "a": st.none() | st.integers(-100, 100),
        "b": st.none() | st.text("xyz\0", max_size=3),
        "c": st.none() | st.lists(st.integers(0, 9), max_size=3),
        "d": st.none() | st.integers(0, 5),
        "e": st.none() | st.floats(-1e3, 1e3, allow_nan=False),
    }
)
# Key parts: s and p from small alphabets (with a NUL byte, which the key encoding escapes).
key_parts = st.tuples(st.sampled_from(["", "a", "a\0", "b", "eu/x"]), st.integers(-3, 20))
ops = st.lists(
    st.one_of(
        st.lists(st.tuples(key_parts, values), min_size=1, max_size=10).map(lambda r: ("w", r)),
        st.lists(key_parts, min_size=1, max_size=4).map(lambda r: ("d", r)),
        st.booleans().map(lambda full: ("c", full)),
    ),
    min_size=1,
    max_size=8,
)


def _key(shape: str, part: tuple[str, int]) -> tuple[Any, ...]:
    return (part[1],) if shape == "int" else part


def _key_table(shape: str, ks: list[tuple[Any, ...]]) -> pa.Table:
    key = SHAPES[shape][0]
    return pa.table({c: pa.array([k[i] for k in ks], KEY_TYPES[c]) for i, c in enumerate(key)})


def _rows_table(shape: str, rows: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> pa.Table:
    t = _key_table(shape, [k for k, _ in rows])
    for c in VALUE_COLS:
        t = t.append_column(
            VALUES.field(c), pa.array([v[c] for _, v in rows], VALUES.field(c).type)
        )
    return t


@pytest.fixture
def tmp() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="lamina-lookup-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _build(
    path: str, shape: str, engine: str, buckets: int, program: list[Any]
) -> tuple[Any, Model]:
    key, partition_by = SHAPES[shape]
    table = lamina.create_table(
        path, _schema(key), primary_key=key, partition_by=partition_by, buckets=buckets,
        merge_engine=engine,
        options={f"fields.{c}.aggregate": fn for c, fn in AGG.items()} if engine == "aggregate"
        else None,
    )  # fmt: skip
    model = Model(engine)
    for op, arg in program:
        if op == "w":
            rows = [(_key(shape, k), v) for k, v in arg]
            table.write(_rows_table(shape, rows))
            for k, v in rows:
                model.upsert(k, v)
        elif op == "d":
            ks = [_key(shape, k) for k in arg]
            table.delete(_key_table(shape, ks))
            for k in ks:
                model.delete(k)
        else:
            table.compact(full=arg)
    return table, model


def _as_dict(shape: str, t: pa.Table) -> dict[tuple[Any, ...], dict[str, Any]]:
    key = SHAPES[shape][0]
    d = t.to_pydict()
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for i in range(t.num_rows):
        k = tuple(d[c][i] for c in key)
        assert k not in out, f"key {k} twice in a lookup"
        out[k] = {c: d[c][i] for c in VALUE_COLS if c in d}
    return out


# ---- lookup ------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("shape", list(SHAPES))
@settings(max_examples=8)
@given(
    program=ops,
    buckets=st.sampled_from([1, 3]),
    wanted=st.lists(key_parts, max_size=12),
)
def test_lookup_matches_model(
    engine: str, shape: str, program: list[Any], buckets: int, wanted: list[Any]
) -> None:
    d = tempfile.mkdtemp(prefix="lamina-lookup-")
    try:
        table, model = _build(d + "/t", shape, engine, buckets, program)
        ks = [_key(shape, k) for k in wanted]
        ks += ks[:3]  # repeated keys in the request
        got = _as_dict(shape, _lookup.lookup(table._ctx, _key_table(shape, ks)))
        want = {k: model.rows[k] for k in ks if k in model.rows}
        assert got == want
        assert list(got) == list(want)  # request order, a repeated key at its first place
        # A projection without the key columns returns the same rows' values.
        proj = _lookup.lookup(table._ctx, _key_table(shape, ks), columns=["a", "c"])
        assert proj.column_names == ["a", "c"]
        assert proj.to_pylist() == [{"a": v["a"], "c": v["c"]} for v in want.values()]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_lookup_empty_request_and_empty_table(tmp: str) -> None:
    table, _ = _build(tmp + "/t", "int", "deduplicate", 2, [])
    assert _lookup.lookup(table._ctx, {"k": pa.array([1], pa.int64())}).num_rows == 0
    table.write(_rows_table("int", [((1,), dict.fromkeys(VALUE_COLS))]))
    empty = _lookup.lookup(table._ctx, {"k": pa.array([], pa.int64())}, columns=["k", "b"])
    assert empty.num_rows == 0 and empty.column_names == ["k", "b"]
    with pytest.raises(InvalidArgumentError):
        _lookup.lookup(table._ctx, {"k": [1]}, columns=["nope"])


def _big_int_table(path: str) -> tuple[Any, dict[int, tuple[int, str]]]:
    """Files of several pages (over 65,536 rows): page pruning and page-spanning ranges."""
    rng = np.random.default_rng(7)
    schema = pa.schema([("k", pa.int64()), ("v", pa.int64()), ("w", pa.string())])
    table = lamina.create_table(path, schema, primary_key=["k"])
    model: dict[int, tuple[int, str]] = {}
    base = rng.permutation(np.arange(0, 400_000, 2))  # even keys, 200,000 rows
    table.write(pa.table({"k": base, "v": base * 3, "w": pa.array((base % 7).astype(str))}))
    model.update((int(k), (int(k) * 3, str(k % 7))) for k in base)
    upd = rng.choice(500_000, 30_000, replace=False)  # updates, and new odd keys
    table.write(pa.table({"k": upd, "v": -upd, "w": pa.array(["u"] * len(upd))}))
    model.update((int(k), (-int(k), "u")) for k in upd)
    dels = rng.choice(500_000, 5_000, replace=False)
    table.delete(pa.table({"k": dels}))
    for k in dels:
        model.pop(int(k), None)
    return table, model


def test_lookup_multi_page_files(tmp: str) -> None:
    table, model = _big_int_table(tmp + "/t")
    rng = np.random.default_rng(1)
    for n in (1, 7, 2_000):
        ks = rng.integers(-10, 520_000, n)
        got = _lookup.lookup(table._ctx, {"k": ks}).to_pydict()
        want = {int(k): model[int(k)] for k in ks if int(k) in model}
        assert dict(zip(got["k"], zip(got["v"], got["w"]))) == want
        assert got["k"] == list(want)  # request order, a repeated key at its first place
    table.compact(full=True)
    ks = rng.integers(-10, 520_000, 3_000)
    got = _lookup.lookup(table._ctx, {"k": ks}, columns=["v", "k"]).to_pydict()
    want_v = {int(k): model[int(k)][0] for k in ks if int(k) in model}
    assert dict(zip(got["k"], got["v"])) == want_v


def test_lookup_composite_key_first_part_spans_pages(tmp: str) -> None:
    # Long string key parts fill ~1 MiB pages quickly, and one value of `s` spans many
    # pages: the search must not stop at the first page whose statistics match.
    s_vals = ["x" * 400 + c for c in "abc"]
    schema = pa.schema([("s", pa.string()), ("k", pa.int64()), ("v", pa.int64())])
    table = lamina.create_table(tmp + "/t", schema, primary_key=["s", "k"])
    n = 10_000
    s = [s_vals[i % 3] for i in range(n)]
    k = list(range(n))
    table.write(pa.table({"s": s, "k": k, "v": k}, schema=schema))
    table.write(pa.table({"s": s[::5], "k": k[::5], "v": [-x for x in k[::5]]}, schema=schema))
    first = table._live_files(table.snapshot(None))[0]
    reader = lamina.format.FileReader(os.path.join(table.path, first.path))
    assert len(reader.page_statistics("s")) >= 3  # the test needs several key pages
    model = {(a, b): (-b if b % 5 == 0 else b) for a, b in zip(s, k)}
    wanted = [(s_vals[j % 3], j) for j in range(0, n, 37)] + [(s_vals[0], 1), (s_vals[2], 10**9)]
    got = _lookup.lookup(
        table._ctx, pa.table({"s": [w[0] for w in wanted], "k": [w[1] for w in wanted]})
    ).to_pydict()
    assert dict(zip(zip(got["s"], got["k"]), got["v"])) == {
        w: model[w] for w in wanted if w in model
    }


def test_reader_cache_sees_a_file_rewritten_in_place(tmp: str) -> None:
    """Regression: cached readers keyed by path alone would skip the page checksums of a
    file corrupted after it was first read."""
    schema = pa.schema([("k", pa.int64()), ("v", pa.int64())])
    table = lamina.create_table(tmp + "/t", schema, primary_key=["k"])
    table.write(pa.table({"k": np.arange(1000), "v": np.arange(1000) * 7}))
    assert _lookup.lookup(table._ctx, {"k": [5]}).to_pydict() == {"k": [5], "v": [35]}
    assert _core.reader_cache_size() >= 1
    path = os.path.join(table.path, table._live_files(table.snapshot(None))[0].path)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[100] ^= 0xFF  # inside the first column's pages; same size, same inode
    with open(path, "r+b") as f:
        f.write(data)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(CorruptFileError):
        _lookup.lookup(table._ctx, {"k": [5]})
    _core.reader_cache_clear()
    assert _core.reader_cache_size() == 0


# ---- take --------------------------------------------------------------------------------


def _check_take(scan: Any, idx: list[int]) -> None:
    whole = scan.to_arrow()
    got = _lookup.take(scan, idx)
    assert got.column_names == whole.column_names
    assert got.to_pylist() == whole.take(pa.array(idx, pa.int64())).to_pylist()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("shape", list(SHAPES))
@settings(max_examples=6)
@given(program=ops, buckets=st.sampled_from([1, 3]), data=st.data(), more=st.data())
def test_take_matches_scan(
    engine: str, shape: str, program: list[Any], buckets: int, data: Any, more: Any
) -> None:
    d = tempfile.mkdtemp(prefix="lamina-take-")
    try:
        table, _ = _build(d + "/t", shape, engine, buckets, program)
        for _round in range(2):  # as written (some splits merge), then fully compacted
            scan = table.scan()
            n = scan.to_arrow().num_rows
            if n:
                idx = data.draw(st.lists(st.integers(0, n - 1), max_size=20))
                _check_take(scan, idx)
                _check_take(scan, idx[::-1] + idx)  # warm: cached take indexes
                _check_take(table.scan(columns=["c", "a"]), idx)
                _check_take(table.scan(columns=["a", *SHAPES[shape][0][-1:]]), idx)
            # A new commit makes new splits: no index of the old snapshot may serve them.
            extra = more.draw(st.lists(st.tuples(key_parts, values), min_size=1, max_size=6))
            table.write(_rows_table(shape, [(_key(shape, k), v) for k, v in extra]))
            gone = more.draw(st.lists(key_parts, max_size=3))
            if gone:
                table.delete(_key_table(shape, [_key(shape, k) for k in gone]))
            scan = table.scan()
            n = scan.to_arrow().num_rows
            if n:
                _check_take(scan, more.draw(st.lists(st.integers(0, n - 1), max_size=20)))
            with pytest.raises(InvalidArgumentError):
                _lookup.take(scan, [n])
            with pytest.raises(InvalidArgumentError):
                _lookup.take(scan, [-1])
            assert _lookup.take(scan, []).num_rows == 0
            table.compact(full=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_take_mixes_merged_and_concatenated_splits(tmp: str) -> None:
    schema = pa.schema([("k", pa.int64()), ("v", pa.string())])
    table = lamina.create_table(tmp + "/t", schema, primary_key=["k"], buckets=4)
    table.write(pa.table({"k": np.arange(200), "v": pa.array(np.arange(200).astype(str))}))
    table.compact(full=True)
    table.write(pa.table({"k": [3, 250], "v": ["three", "x"]}))  # two buckets now merge
    table.delete(pa.table({"k": [7]}))
    splits = table.scan().plan()
    assert any(s.needs_merge for s in splits) and not all(s.needs_merge for s in splits)
    rng = np.random.default_rng(3)
    n = table.scan().count()
    _check_take(table.scan(), list(rng.integers(0, n, 300)))
    # A filtered scan takes from its filtered rows.
    scan = table.scan(filter=pc.field("k") > 100)
    m = scan.to_arrow().num_rows
    _check_take(scan, [0, m - 1, 5, 5])
    with pytest.raises(InvalidArgumentError):
        _lookup.take(scan, [m])


def test_take_multi_page_compacted(tmp: str) -> None:
    table, _ = _big_int_table(tmp + "/t")
    table.compact(full=True)
    scan = table.scan()
    rng = np.random.default_rng(5)
    n = scan.count()
    idx = rng.integers(0, n, 2_000)
    whole = scan.to_arrow()
    got = _lookup.take(scan, idx)
    assert got.equals(whole.take(pa.array(idx)))
    with pytest.raises(InvalidArgumentError):
        _lookup.take(scan, np.array([0.5]))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=100)
@given(program=ops, buckets=st.sampled_from([1, 2, 5]), wanted=st.lists(key_parts, max_size=30))
def test_lookup_matches_model_long(
    engine: str, program: list[Any], buckets: int, wanted: list[Any]
) -> None:
    for shape in SHAPES:
        test_lookup_matches_model.hypothesis.inner_test(  # type: ignore[attr-defined]
            engine, shape, program, buckets, wanted
        )


def _overlapping(path: str, n1: int, n2: int, engine: str = "deduplicate") -> Any:
    """Two overlapping commits in one bucket: the scan's only split needs a merge."""
    schema = pa.schema([("k", pa.int64()), ("v", pa.string())])
    table = lamina.create_table(path, schema, primary_key=["k"], merge_engine=engine)
    table.write(pa.table({"k": np.arange(n1) * 2, "v": pa.array([f"a{i}" for i in range(n1)])}))
    table.write(pa.table({"k": np.arange(n2) * 3, "v": pa.array([f"b{i}" for i in range(n2)])}))
    return table


@pytest.mark.parametrize("engine", ["deduplicate", "first_row"])
def test_take_index_is_built_once_per_snapshot(tmp: str, engine: str) -> None:
    table = _overlapping(tmp + "/t", 3000, 2000, engine)
    scan = table.scan()
    assert [s.needs_merge for s in scan.plan()] == [True]
    rng = np.random.default_rng(11)
    n = scan.count()
    builds = _core.take_index_cache_stats()["builds"]
    for _ in range(3):
        _check_take(scan, list(rng.integers(0, n, 200)))
    _check_take(table.scan(columns=["v"]), [n - 1, 0, 0, 17])
    # One index serves every take and projection of the snapshot.
    assert _core.take_index_cache_stats()["builds"] == builds + 1
    assert _core.take_index_cache_stats()["bytes"] >= 8 * n
    table.write(pa.table({"k": [1, 5], "v": ["new1", "new5"]}))
    table.delete(pa.table({"k": [0, 3]}))
    scan = table.scan()
    n = scan.count()
    _check_take(scan, [*list(rng.integers(0, n, 200)), 0, 1, 2, n - 1])
    assert _core.take_index_cache_stats()["builds"] == builds + 2
    _core.take_index_cache_clear()
    assert _core.take_index_cache_stats()["indexes"] == 0
    _check_take(scan, [3, 2, 1])


def test_take_without_index_cache(tmp: str) -> None:
    """A capacity of 0 caches nothing; takes stay correct (the index is built per call)."""
    before = lamina.config.get().take_index_bytes
    lamina.config.set(take_index_bytes=0)
    _core.take_index_cache_clear()
    try:
        _check_take_without_cache(tmp)
    finally:
        lamina.config.set(take_index_bytes=before)


def _check_take_without_cache(tmp: str) -> None:
    table = _overlapping(tmp + "/t", 500, 400)
    scan = table.scan()
    n = scan.count()
    _check_take(scan, [n - 1, 0, 5, 5, 2])
    _check_take(scan, list(range(n))[::-7])
    assert _core.take_index_cache_stats()["indexes"] == 0


def test_take_index_sees_a_file_rewritten_in_place(tmp: str) -> None:
    """A data file replaced under the same path (a different file identity) gets a fresh
    index: the take follows the file's new rows, as the merged scan does."""
    a = _overlapping(tmp + "/a", 300, 200)
    b = _overlapping(tmp + "/b", 300, 250)  # same layout, 50 more keys in the second file
    scan = a.scan()
    n = scan.count()
    _check_take(scan, list(range(0, n, 3)))  # builds and caches the index
    fa = sorted(f.path for f in a._live_files(a.snapshot(None)))
    fb = sorted(f.path for f in b._live_files(b.snapshot(None)))
    sizes = {f.path: f.row_count for f in a._live_files(a.snapshot(None))}
    # The file holding the second commit: the one with 200 rows.
    target = next(p for p in fa if sizes[p] == 200)
    source = next(f.path for f in b._live_files(b.snapshot(None)) if f.row_count == 250)
    assert len(fa) == len(fb) == 2
    with open(os.path.join(b.path, source), "rb") as f:
        data = f.read()
    with open(os.path.join(a.path, target), "wb") as f:
        f.write(data)
    st_ = os.stat(os.path.join(a.path, target))
    os.utime(os.path.join(a.path, target), ns=(st_.st_atime_ns, st_.st_mtime_ns + 10**9))
    whole = a.scan().to_arrow()
    assert whole.num_rows > n  # the scan sees the new file
    idx = [whole.num_rows - 1, 0, n, n - 1, 7]
    assert _lookup.take(a.scan(), idx).to_pylist() == whole.take(pa.array(idx)).to_pylist()


def test_take_index_corrupt_file_is_reported(tmp: str) -> None:
    table = _overlapping(tmp + "/t", 2000, 1000)
    scan = table.scan()
    _check_take(scan, [0, 5])
    path = os.path.join(table.path, table._live_files(table.snapshot(None))[0].path)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[100] ^= 0xFF  # inside the key column's pages; same size, same inode
    with open(path, "r+b") as f:
        f.write(data)
    st_ = os.stat(path)
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))
    with pytest.raises(CorruptFileError):
        _lookup.take(table.scan(), [0, 5])


def test_take_index_many_files_repeated_unsorted(tmp: str) -> None:
    """Several overlapping runs with deletes, multi-page files, partitions and buckets."""
    schema = pa.schema([("p", pa.string()), ("k", pa.int64()), ("v", pa.float64())])
    table = lamina.create_table(
        tmp + "/t", schema, primary_key=["p", "k"], partition_by=["p"], buckets=2
    )
    rng = np.random.default_rng(2)
    for i in range(5):
        k = rng.choice(20_000, 6_000, replace=False)
        p = np.where(k % 3 == 0, "x", "y")
        table.write(pa.table({"p": p, "k": k, "v": rng.random(k.size) + i}))
        table.delete(pa.table({"p": ["x", "y"], "k": [int(k[0]) // 3 * 3, 1 + int(k[1]) // 3 * 3]}))
    scan = table.scan()
    assert sum(s.needs_merge for s in scan.plan()) >= 2
    n = scan.count()
    idx = np.concatenate([rng.integers(0, n, 3000), [n - 1, 0, n - 1]])
    whole = scan.to_arrow()
    assert _lookup.take(scan, idx).equals(whole.take(pa.array(idx)))
    assert _lookup.take(scan, idx[::-1]).equals(whole.take(pa.array(idx[::-1])))


def test_take_multi_page_merged(tmp: str) -> None:
    """Before compaction (multi-page files, updates, deletes): the index path, cold and warm,
    and with a range-split merge."""
    table, model = _big_int_table(tmp + "/t")
    scan = table.scan()
    assert all(s.needs_merge for s in scan.plan())
    n = scan.count()
    assert n == len(model)
    rng = np.random.default_rng(9)
    whole = scan.to_arrow()
    for _ in range(2):
        idx = rng.integers(0, n, 2_000)
        assert _lookup.take(scan, idx).equals(whole.take(pa.array(idx)))
