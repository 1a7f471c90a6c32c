"""Regression tests for issue 10 (correctness and bad-input fixes) in the C++ core:
NaN in min/max aggregates, pages per input chunk, NaN pages in file statistics, lookup
order, one aggregate validation, integer sum overflow. Each test is named after the bug
it pins."""

from __future__ import annotations

import datetime
import glob
import math
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import lamina
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamina.errors import InvalidArgumentError


@pytest.fixture
def tmp() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="lamina-issue10-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _data_files(root: str) -> list[str]:
    return sorted(glob.glob(os.path.join(root, "data", "**", "*.lam"), recursive=True))


# ---- item 3: min/max ignore NaN, whatever the arrival order ------------------------------


def _model_extreme(fn: str, xs: list[float | None]) -> float | None:
    """min/max over the non-NaN values; NaN if there were only NaNs (and nulls); else null."""
    nums = [x for x in xs if x is not None and not math.isnan(x)]
    if nums:
        return min(nums) if fn == "min" else max(nums)
    return math.nan if any(x is not None for x in xs) else None


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b


def _check_rows(got: pa.Table, want: dict[int, dict[str, float | None]], what: str) -> None:
    d = got.to_pydict()
    rows = {k: {"lo": d["lo"][i], "hi": d["hi"][i]} for i, k in enumerate(d["k"])}
    assert rows.keys() == want.keys(), what
    for k, w in want.items():
        for c in ("lo", "hi"):
            assert _same(rows[k][c], w[c]), (what, k, c, rows[k][c], w[c])


def _nan_table(path: str, dtype: pa.DataType) -> lamina.Table:
    schema = pa.schema([("k", pa.int64()), ("lo", dtype), ("hi", dtype)])
    return lamina.create_table(
        path,
        schema,
        primary_key=["k"],
        merge_engine="aggregate",
        options={"fields.lo.aggregate": "min", "fields.hi.aggregate": "max"},
    )


# A few values exact in float32 (ties and signed zeros included), NaN and null.
_FLOATS = st.none() | st.just(math.nan) | st.sampled_from([0.5, 1.0, -2.0, 0.0, -0.0, 2.0**60])


@given(
    width=st.sampled_from([32, 64]),
    rows=st.lists(st.tuples(st.integers(0, 3), _FLOATS), min_size=1, max_size=14),
    cuts=st.lists(st.integers(0, 14), max_size=4),
)
def test_min_max_with_nan_depend_on_neither_order_nor_compaction(
    width: int, rows: list[tuple[int, float | None]], cuts: list[int]
) -> None:
    """min([nan, 1, .5]) was NaN while min([1, nan, .5]) was 0.5, and a NaN run could
    turn 0.5 into 1.0 after compact(): every fold path must ignore NaN like null."""
    dtype = pa.float32() if width == 32 else pa.float64()
    d = tempfile.mkdtemp(prefix="lamina-issue10-")
    try:
        t = _nan_table(d + "/t", dtype)
        bounds = sorted({0, len(rows), *(c for c in cuts if c <= len(rows))})
        for a, b in zip(bounds, bounds[1:]):  # one write per chunk: a write collapses its
            chunk = rows[a:b]  # own duplicates, later commits fold across files
            t.write(
                pa.table(
                    {
                        "k": [k for k, _ in chunk],
                        "lo": pa.array([v for _, v in chunk], dtype),
                        "hi": pa.array([v for _, v in chunk], dtype),
                    }
                )
            )
        by_key: dict[int, list[float | None]] = {}
        for k, v in rows:
            by_key.setdefault(k, []).append(v)
        want = {
            k: {"lo": _model_extreme("min", xs), "hi": _model_extreme("max", xs)}
            for k, xs in by_key.items()
        }
        _check_rows(t.read(), want, "read")
        keys = sorted(want)
        _check_rows(t.lookup({"k": pa.array(keys, pa.int64())}), want, "lookup")
        _check_rows(t.scan().to_arrow(), want, "scan")
        t.compact(full=True)
        _check_rows(t.read(), want, "read after full compaction")
        _check_rows(t.lookup({"k": pa.array(keys, pa.int64())}), want, "lookup after compaction")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("dtype", [pa.float32(), pa.float64()])
def test_min_max_ignore_nan_in_every_arrival_order(tmp: str, dtype: pa.DataType) -> None:
    """The example of the issue, every permutation, in one write and one commit per row."""
    orders = [[math.nan, 1.0, 0.5], [1.0, math.nan, 0.5], [0.5, 1.0, math.nan]]
    for i, xs in enumerate(orders):
        for per_commit in (False, True):
            t = _nan_table(f"{tmp}/t{i}{per_commit}", dtype)
            chunks = [[x] for x in xs] if per_commit else [xs]
            for c in chunks:
                t.write(
                    pa.table(
                        {"k": [7] * len(c), "lo": pa.array(c, dtype), "hi": pa.array(c, dtype)}
                    )
                )
            for _ in range(2):
                got = t.read().to_pylist()
                assert got == [{"k": 7, "lo": 0.5, "hi": 1.0}], (xs, per_commit)
                t.compact(full=True)


def test_min_max_of_only_nan_is_nan_and_of_only_null_is_null(tmp: str) -> None:
    t = _nan_table(tmp + "/t", pa.float64())
    t.write(pa.table({"k": [1, 1, 2, 2], "lo": [None, math.nan, None, None],
                      "hi": [math.nan, None, None, None]}))  # fmt: skip
    t.write(pa.table({"k": [1, 2], "lo": pa.array([None, None], pa.float64()),
                      "hi": pa.array([math.nan, None], pa.float64())}))  # fmt: skip
    got = {r["k"]: r for r in t.read().to_pylist()}
    assert math.isnan(got[1]["lo"]) and math.isnan(got[1]["hi"])
    assert got[2]["lo"] is None and got[2]["hi"] is None


@pytest.mark.parametrize("dtype", [pa.float32(), pa.float64()])
def test_min_max_of_signed_zeros_does_not_depend_on_order(tmp: str, dtype: pa.DataType) -> None:
    """-0.0 == 0.0, so "keep the first of equals" made the sign depend on arrival order;
    min keeps -0.0 and max keeps +0.0 (the IEEE totalOrder extremes)."""
    for i, xs in enumerate(([0.0, -0.0], [-0.0, 0.0])):
        t = _nan_table(f"{tmp}/t{i}", dtype)
        t.write(pa.table({"k": [1, 1], "lo": pa.array(xs, dtype), "hi": pa.array(xs, dtype)}))
        row = t.read().to_pylist()[0]
        assert math.copysign(1.0, row["lo"]) == -1.0, xs
        assert math.copysign(1.0, row["hi"]) == 1.0, xs


# ---- item 11: small input chunks are coalesced into full pages ----------------------------


def _pages(path: str, column: str) -> int:
    return len(lamina.format.FileReader(path).page_statistics(column))


def _chunked(n: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(11)
    whole = pa.table(
        {
            "k": pa.array(np.arange(n, dtype=np.int64)),
            "v": pa.array(rng.normal(size=n)),
            "s": pa.array([f"s{i % 97}" for i in range(n)]),
            "l": pa.array([[i, i + 1] if i % 5 else None for i in range(n)], pa.list_(pa.int32())),
        }
    )
    return whole, pa.Table.from_batches(whole.to_batches(max_chunksize=1))


def test_file_writer_makes_one_page_per_input_chunk(tmp: str) -> None:
    """100,000 one-row chunks made 100,000 pages (26x the size, 20x slower writes)."""
    whole, chunked = _chunked(20_000)
    assert chunked.column("k").num_chunks == 20_000
    a, b = tmp + "/whole.lam", tmp + "/chunked.lam"
    lamina.format.write_file(a, whole, max_page_rows=4096)
    lamina.format.write_file(b, chunked, max_page_rows=4096)
    for c in whole.column_names:
        assert _pages(b, c) <= _pages(a, c) + 1, c
    assert os.path.getsize(b) <= 1.2 * os.path.getsize(a)
    assert lamina.format.read_file(b).equals(whole)
    # Mixed: big chunks keep their pages, small ones between them are merged.
    mixed = pa.Table.from_batches(
        whole.slice(0, 9000).to_batches() + whole.slice(9000, 300).to_batches(max_chunksize=1)
        + whole.slice(9300).to_batches()
    )  # fmt: skip
    lamina.format.write_file(tmp + "/mixed.lam", mixed, max_page_rows=4096)
    assert _pages(tmp + "/mixed.lam", "k") <= _pages(a, "k") + 3
    assert lamina.format.read_file(tmp + "/mixed.lam").equals(whole)


def test_table_write_makes_one_page_per_input_chunk(tmp: str) -> None:
    """Rows already in key order were written a page per input batch."""
    whole, chunked = _chunked(20_000)
    for name, data in (("whole", whole), ("chunked", chunked)):
        t = lamina.create_table(f"{tmp}/{name}", whole.schema, primary_key=["k"])
        t.write(data)
        assert t.read().sort_by("k").cast(whole.schema).equals(whole)
    (fa,), (fb,) = _data_files(f"{tmp}/whole"), _data_files(f"{tmp}/chunked")
    for c in whole.column_names:
        assert _pages(fb, c) <= _pages(fa, c) + 1, c
    assert os.path.getsize(fb) <= 1.2 * os.path.getsize(fa)


# ---- item 12: an all-NaN page does not erase a float column's min/max ---------------------


@pytest.mark.parametrize("dtype", [pa.float32(), pa.float64()])
def test_all_nan_page_erases_file_min_max(tmp: str, dtype: pa.DataType) -> None:
    xs = [1.5, 2.0, 3.0, 4.0] + [math.nan] * 4 + [None] * 4 + [-7.0, math.nan, None, 9.0]
    path = tmp + "/f.lam"
    lamina.format.write_file(path, pa.table({"x": pa.array(xs, dtype)}), max_page_rows=4)
    r = lamina.format.FileReader(path)
    pages = r.page_statistics("x")
    assert [p["min"] for p in pages] == [1.5, None, None, -7.0]
    s = r.statistics("x")
    assert (s["min"], s["max"], s["null_count"], s["num_pages"]) == (-7.0, 9.0, 5, 4)


def test_file_min_max_of_only_nan_is_unknown(tmp: str) -> None:
    path = tmp + "/f.lam"
    lamina.format.write_file(path, pa.table({"x": [math.nan, None, math.nan]}), max_page_rows=2)
    s = lamina.format.FileReader(path).statistics("x")
    assert (s["min"], s["max"], s["null_count"]) == (None, None, 1)


# ---- item 13: lookup returns rows in the order of the requested keys ----------------------


@pytest.mark.parametrize(
    ("key", "buckets", "partition_by"),
    [(["k"], 4, None), (["s", "k"], 3, None), (["s"], 5, None), (["p", "k"], 2, ["p"])],
)
def test_lookup_returns_rows_grouped_by_bucket(
    tmp: str, key: list[str], buckets: int, partition_by: list[str] | None
) -> None:
    """Rows came bucket by bucket; serving code expects the order of the request."""
    types = {"k": pa.int64(), "s": pa.string(), "p": pa.string()}
    schema = pa.schema([(c, types[c]) for c in key] + [("v", pa.int64())])
    t = lamina.create_table(
        tmp + "/t", schema, primary_key=key, partition_by=partition_by, buckets=buckets
    )
    rng = random.Random(13)

    def make_key(i: int) -> tuple[Any, ...]:
        parts = {"k": i % 50, "s": f"s{i % 37}\0{i // 37}", "p": ["eu", "us"][i % 2]}
        return tuple(parts[c] for c in key)

    model: dict[tuple[Any, ...], int] = {}
    for commit in range(3):
        ks = list({make_key(rng.randrange(200)) for _ in range(60)})
        rows = {c: [k[i] for k in ks] for i, c in enumerate(key)}
        vals = [rng.randrange(1000) + commit * 1000 for _ in ks]
        t.write(pa.table({**rows, "v": vals}, schema=schema))
        model.update(zip(ks, vals))
    gone = list(model)[:5]
    t.delete(pa.table({c: [k[i] for k in gone] for i, c in enumerate(key)}, schema=schema.remove(
        schema.get_field_index("v"))))  # fmt: skip
    for k in gone:
        del model[k]

    for trial in range(5):
        wanted = [make_key(rng.randrange(260)) for _ in range(80)] + gone[:2]
        wanted += wanted[: 10 * trial]  # repeated keys
        rng.shuffle(wanted)
        key_table = pa.table({c: [k[i] for k in wanted] for i, c in enumerate(key)})
        got = t.lookup(key_table)
        expect: list[tuple[Any, ...]] = []
        for k in wanted:
            if k in model and k not in expect:
                expect.append(k)
        d = got.to_pydict()
        assert [tuple(d[c][i] for c in key) for i in range(got.num_rows)] == expect
        assert d["v"] == [model[k] for k in expect]
        # Without the key columns, the values still come in request order.
        assert t.lookup(key_table, columns=["v"]).column("v").to_pylist() == d["v"]
    t.compact(full=True)
    got = t.lookup(key_table)
    assert got.column("v").to_pylist() == [model[k] for k in expect]
    assert t.lookup(key_table.slice(0, 0)).num_rows == 0


# ---- item 5: one aggregate validation, in the core ----------------------------------------

_TYPES: dict[str, tuple[pa.DataType, list[Any]]] = {
    "int8": (pa.int8(), [1, 2]),
    "int32": (pa.int32(), [1, 2]),
    "int64": (pa.int64(), [1, 2]),
    "uint16": (pa.uint16(), [1, 2]),
    "float32": (pa.float32(), [1.5, -2.0]),
    "float64": (pa.float64(), [1.5, -2.0]),
    "bool": (pa.bool_(), [True, False]),
    "string": (pa.string(), ["b", "a"]),
    "large_string": (pa.large_string(), ["b", "a"]),
    "binary": (pa.binary(), [b"b", b"a"]),
    "date32": (pa.date32(), [datetime.date(2020, 1, 2), datetime.date(2020, 1, 1)]),
    "timestamp": (pa.timestamp("us"), [datetime.datetime(2020, 1, d) for d in (2, 1)]),
    "list": (pa.list_(pa.int32()), [[1], [2, 3]]),
    "large_list": (pa.large_list(pa.int32()), [[1], [2, 3]]),
}  # fmt: skip
_INTS = {"int8", "int32", "int64", "uint16"}
_ORDERED = {*_INTS, "float32", "float64", "string", "large_string", "binary", "date32",
            "timestamp"}  # fmt: skip
_ACCEPTS: dict[str, set[str]] = {
    "sum": {*_INTS, "float32", "float64"},
    "min": _ORDERED,
    "max": _ORDERED,
    "count": {"int64"},
    "bool_and": {"bool"},
    "bool_or": {"bool"},
    "collect_list": {"list", "large_list"},
    "last_value": set(_TYPES),
    "first_non_null": set(_TYPES),
}
_CASES = [(fn, ty) for fn in _ACCEPTS for ty in _TYPES]


def _model_fold(fn: str, xs: list[Any]) -> Any:
    return {
        "sum": lambda: xs[0] + xs[1],
        "min": lambda: min(xs),
        "max": lambda: max(xs),
        "count": lambda: 2,
        "bool_and": lambda: xs[0] and xs[1],
        "bool_or": lambda: xs[0] or xs[1],
        "collect_list": lambda: xs[0] + xs[1],
        "last_value": lambda: xs[1],
        "first_non_null": lambda: xs[0],
    }[fn]()


@pytest.mark.parametrize(("fn", "ty"), _CASES, ids=[f"{f}-{t}" for f, t in _CASES])
def test_aggregate_validation_in_python_and_cpp_disagree(tmp: str, fn: str, ty: str) -> None:
    """create_table accepted min/max on bool or lists and count on int32, which every
    write then refused; now the core's check decides at create_table."""
    dtype, xs = _TYPES[ty]
    schema = pa.schema([("k", pa.int64()), ("v", dtype)])
    opts = {"fields.v.aggregate": fn}
    if ty not in _ACCEPTS[fn]:
        with pytest.raises(InvalidArgumentError, match="'v'"):
            lamina.create_table(tmp + "/t", schema, ["k"], merge_engine="aggregate", options=opts)
        assert not os.path.exists(tmp + "/t/schema/schema-0.json")
        return
    t = lamina.create_table(tmp + "/t", schema, ["k"], merge_engine="aggregate", options=opts)
    t.write(pa.table({"k": [1], "v": pa.array(xs[:1], dtype)}))
    t.write(pa.table({"k": [1], "v": pa.array(xs[1:], dtype)}))
    for _ in range(2):
        assert t.read().to_pylist() == [{"k": 1, "v": _model_fold(fn, xs)}]
        t.compact(full=True)


def test_check_aggregates_binding_refuses_unknown_functions() -> None:
    from lamina import _core

    schema = pa.schema([("v", pa.int64())])
    _core.check_aggregates(schema.__arrow_c_schema__(), {"v": "count"})
    with pytest.raises(InvalidArgumentError, match="unknown aggregate function"):
        _core.check_aggregates(schema.__arrow_c_schema__(), {"v": "median"})
    with pytest.raises(InvalidArgumentError, match="'w'"):
        _core.check_aggregates(schema.__arrow_c_schema__(), {"w": "sum"})


# ---- item 14: integer sum wraps around (two's complement) ---------------------------------


@pytest.mark.parametrize(
    ("dtype", "xs", "want"),
    [
        (pa.int8(), [100, 100], -56),
        (pa.int32(), [2**31 - 1, 1], -(2**31)),
        (pa.int64(), [2**63 - 1, 2], -(2**63) + 1),
        (pa.int64(), [-(2**63), -1], 2**63 - 1),
        (pa.uint8(), [200, 100], 44),
        (pa.uint64(), [2**64 - 1, 3], 2),
    ],
)
def test_integer_sum_overflow_wraps(tmp: str, dtype: pa.DataType, xs: list[int], want: int) -> None:
    """Pinned: integer sum wraps modulo 2^bits, in a write, across commits and after
    compaction (docs/tables.md)."""
    schema = pa.schema([("k", pa.int64()), ("v", dtype)])
    opts = {"fields.v.aggregate": "sum"}
    one = lamina.create_table(tmp + "/one", schema, ["k"], merge_engine="aggregate", options=opts)
    one.write(pa.table({"k": [1, 1], "v": pa.array(xs, dtype)}))
    many = lamina.create_table(tmp + "/many", schema, ["k"], merge_engine="aggregate", options=opts)
    for x in xs:
        many.write(pa.table({"k": [1], "v": pa.array([x], dtype)}))
    for t in (one, many):
        assert t.read().column("v").to_pylist() == [want]
        assert t.lookup({"k": [1]}).column("v").to_pylist() == [want]
        t.compact(full=True)
        assert t.read().column("v").to_pylist() == [want]
