"""Random Arrow arrays of every type lamina stores, with nulls, for round-trip tests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

INT_TYPES = [
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint16(),
    pa.uint32(),
    pa.uint64(),
]
SCALAR_TYPES = [
    *INT_TYPES,
    pa.float32(),
    pa.float64(),
    pa.bool_(),
    pa.string(),
    pa.large_string(),
    pa.binary(),
    pa.large_binary(),
    pa.date32(),
    pa.timestamp("s"),
    pa.timestamp("ms"),
    pa.timestamp("us", tz="UTC"),
    pa.timestamp("ns", tz="Europe/Paris"),
]
LIST_CHILD_TYPES = [pa.int64(), pa.int32(), pa.float32(), pa.string(), pa.bool_(), pa.uint8()]
ALL_TYPES = (
    SCALAR_TYPES
    + [pa.list_(t) for t in LIST_CHILD_TYPES]
    + [pa.large_list(pa.int64()), pa.large_list(pa.string())]
    + [pa.list_(pa.float32(), 8), pa.list_(pa.float64(), 3), pa.list_(pa.int16(), 2)]
)


def random_array(
    typ: pa.DataType, n: int, rng: np.random.Generator, null_fraction: float = 0.1
) -> pa.Array:
    mask = rng.random(n) < null_fraction if null_fraction > 0 else None
    if pa.types.is_integer(typ):
        info = np.iinfo(typ.to_pandas_dtype())
        kind = rng.integers(0, 3)
        if kind == 0:
            vals = rng.integers(info.min, info.max, n, dtype=typ.to_pandas_dtype(), endpoint=True)
        elif kind == 1:
            vals = rng.integers(0, min(100, int(info.max)), n).astype(typ.to_pandas_dtype())
        else:
            vals = np.sort(rng.integers(info.min // 2, info.max // 2, n)).astype(
                typ.to_pandas_dtype()
            )
        return pa.array(vals, type=typ, mask=mask)
    if pa.types.is_floating(typ):
        vals = rng.standard_normal(n).astype(typ.to_pandas_dtype())
        if n > 3:
            vals[: n // 4] = np.round(vals[: n // 4], 2)
            vals[0] = np.nan
            vals[1] = -0.0
            vals[2] = np.inf
        return pa.array(vals, type=typ, mask=mask)
    if pa.types.is_boolean(typ):
        return pa.array(rng.random(n) < 0.3, type=typ, mask=mask)
    if pa.types.is_date32(typ):
        return pa.array(
            rng.integers(-10000, 30000, n).astype(np.int32), type=pa.int32(), mask=mask
        ).cast(typ)
    if pa.types.is_timestamp(typ):
        return pa.array(rng.integers(-(2**40), 2**40, n), type=pa.int64(), mask=mask).cast(typ)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        words = np.array(["", "a", "hello", "wörld", "x" * 100, "lamina", "ML", "🙂"])
        vals = words[rng.integers(0, len(words), n)]
        return pa.array(vals.tolist(), type=typ, mask=mask)
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        vals = [
            bytes(rng.integers(0, 256, int(rng.integers(0, 20)), dtype=np.uint8)) for _ in range(n)
        ]
        return pa.array(vals, type=typ, mask=mask)
    if pa.types.is_fixed_size_list(typ):
        child = random_array(typ.value_type, n * typ.list_size, rng, null_fraction / 2)
        arr = pa.FixedSizeListArray.from_arrays(child, typ.list_size)
        if mask is not None:
            arr = pa.FixedSizeListArray.from_arrays(child, typ.list_size, mask=pa.array(mask))
        return arr
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        lengths = rng.integers(0, 6, n)
        offs = np.concatenate([[0], np.cumsum(lengths)])
        child = random_array(typ.value_type, int(offs[-1]), rng, null_fraction / 2)
        cls = pa.ListArray if pa.types.is_list(typ) else pa.LargeListArray
        odt = np.int32 if pa.types.is_list(typ) else np.int64
        return cls.from_arrays(
            pa.array(offs.astype(odt)), child, mask=pa.array(mask) if mask is not None else None
        )
    raise AssertionError(f"no generator for {typ}")


def random_table(n: int, seed: int = 0, types=ALL_TYPES, null_fraction: float = 0.1) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {f"c{i}_{t}": random_array(t, n, rng, null_fraction) for i, t in enumerate(types)}
    )


def _bitwise(arr: pa.Array) -> pa.Array:
    """Floats viewed as same-width integers, so NaN payloads and -0.0 compare exactly."""
    t = arr.type
    if pa.types.is_floating(t):
        return arr.view(pa.int32() if t.bit_width == 32 else pa.int64())
    return arr


def assert_tables_equal(got: pa.Table, want: pa.Table) -> None:
    assert got.schema.equals(want.schema), f"{got.schema}\n!=\n{want.schema}"
    assert got.num_rows == want.num_rows
    for name in want.column_names:
        g = got.column(name).combine_chunks()
        w = want.column(name).combine_chunks()
        t = w.type
        nested_float = (
            pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
        ) and pa.types.is_floating(t.value_type)
        if pa.types.is_floating(t) or nested_float:
            assert g.is_valid().equals(w.is_valid()), name
            if nested_float:
                # Same list structure (offsets/validity), then bit-exact child values.
                assert g.value_lengths().equals(w.value_lengths()), name
                gf = pa.chunked_array([g.flatten()]).combine_chunks()
                wf = pa.chunked_array([w.flatten()]).combine_chunks()
                assert gf.is_valid().equals(wf.is_valid()), name
                assert _bitwise(gf.fill_null(0)).equals(_bitwise(wf.fill_null(0))), name
            else:
                assert _bitwise(g.fill_null(0)).equals(_bitwise(w.fill_null(0))), name
        else:
            assert g.equals(w), f"column {name} differs:\n{g}\n!=\n{w}"
