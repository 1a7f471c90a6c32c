"""``_core.decode_keys`` inverts ``_core.normalize_keys`` (docs/tables.md key grammar) for
every key type and multi-column keys, and refuses bytes that are no key."""

from __future__ import annotations

import random

import lamina
import pyarrow as pa
import pytest
from lamina import _core
from lamina._arrow import batch_from_capsules

INT_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(),
             pa.uint32(), pa.uint64(), pa.date32(), pa.timestamp("us")]  # fmt: skip
BYTE_TYPES = [pa.string(), pa.large_string(), pa.binary(), pa.large_binary()]


def values(typ: pa.DataType, rng: random.Random, n: int) -> pa.Array:
    if typ in BYTE_TYPES:
        alphabet = ["", "a", "\x00", "\x00\x00", "ü", "z\x00y", "\xff"]
        strs = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(4))) for _ in range(n)]
        if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
            return pa.array([s.encode("latin-1", "replace") for s in strs], typ)
        return pa.array(strs, typ)
    storage = typ if pa.types.is_integer(typ) else pa.int32() if typ == pa.date32() else pa.int64()
    bits = storage.bit_width
    if pa.types.is_signed_integer(storage):
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    ints = [rng.choice([lo, hi, 0, -1 if lo < 0 else 1, rng.randint(lo, hi)]) for _ in range(n)]
    return pa.array(ints, storage).cast(typ)


def roundtrip(table: pa.Table) -> pa.Table:
    keys = _core.normalize_keys(table, table.column_names)
    schema = pa.schema([pa.field(f.name, f.type, nullable=False) for f in table.schema])
    return pa.Table.from_batches([batch_from_capsules(_core.decode_keys(keys, schema))])


@pytest.mark.parametrize("typ", INT_TYPES + BYTE_TYPES, ids=str)
def test_one_column_roundtrip(typ):
    t = pa.table({"k": values(typ, random.Random(str(typ)), 300)})
    assert roundtrip(t).column("k").combine_chunks().equals(t.column("k").combine_chunks())


def test_multi_column_roundtrip():
    rng = random.Random(7)
    for _ in range(30):
        types = [rng.choice(INT_TYPES + BYTE_TYPES) for _ in range(rng.randint(2, 4))]
        t = pa.table({f"c{i}": values(typ, rng, 50) for i, typ in enumerate(types)})
        got = roundtrip(t)
        for name in t.column_names:
            assert got.column(name).combine_chunks().equals(t.column(name).combine_chunks()), types


@pytest.mark.parametrize(
    "key,typ",
    [
        (b"\x80\x00", pa.int64()),  # truncated integer
        (b"\x80" + b"\x00" * 7 + b"x", pa.int64()),  # trailing byte
        (b"\x00\x00\x00\x00\x00\x00\x01\x00", pa.uint8()),  # 256 is no uint8
        (b"\x80\x00\x00\x00\x00\x00\x00\x80", pa.int8()),  # 128 is no int8
        (b"ab", pa.string()),  # no terminator
        (b"a\x00\x01\x00\x00", pa.string()),  # bad escape
        (b"\xff\xfe\x00\x00", pa.string()),  # not UTF-8
    ],
)
def test_bytes_that_are_no_key_are_refused(key, typ):
    with pytest.raises(lamina.CorruptFileError, match="normalized key 0"):
        _core.decode_keys([key], pa.schema([pa.field("k", typ, nullable=False)]))


def test_non_key_types_are_refused():
    with pytest.raises(lamina.InvalidArgumentError, match="not a key type"):
        _core.decode_keys([b""], pa.schema([("f", pa.float64())]))
