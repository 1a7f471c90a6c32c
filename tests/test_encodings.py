"""Tests of the page encodings (lamina._core._encoding): every bit width, every encoding
forced and chosen by the cascade, random access, bit-exact floats, and corrupt input."""

from __future__ import annotations

import lamina
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lamina import _core

enc = _core._encoding
CorruptFileError = lamina.CorruptFileError
DECODE_ERRORS = (CorruptFileError, ValueError)

INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]
UINT_DTYPES = [np.uint8, np.uint16, np.uint32, np.uint64]
LENGTHS = [0, 1, 7, 31, 33, 1000, 4097]
INT_ENCODINGS = ["plain", "bitpack", "delta", "rle", "dictionary"]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def random_ints(dtype: type, n: int, seed: int = 0) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng(seed).integers(info.min, info.max, n, dtype=dtype, endpoint=True)


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def bitpack_width(buf: bytes) -> int:
    """The bits byte of a top-level bitpack stream."""
    assert enc.stream_tag(buf) == "bitpack"
    _, pos = varint(buf, 1)
    _, pos = varint(buf, pos)
    return buf[pos]


def as_bits(a: np.ndarray) -> np.ndarray:
    return a.view(f"u{a.dtype.itemsize}")


def check_ints(buf: bytes, a: np.ndarray, seed: int = 1) -> None:
    n = len(a)
    out = np.full(n, 0x5A, dtype=a.dtype)  # poisoned: every value must be overwritten
    enc.decode_ints(buf, n, a.dtype, out=out)
    np.testing.assert_array_equal(out, a)
    np.testing.assert_array_equal(enc.decode_ints(buf, n, a.dtype), a)
    if n:
        idx = rng(seed).integers(0, n, min(3 * n, 500)).astype(np.uint32)
        np.testing.assert_array_equal(enc.take_ints(buf, n, a.dtype, idx), a[idx])
    assert enc.skip_stream(buf) == len(buf)


def check_floats(buf: bytes, a: np.ndarray) -> None:
    n = len(a)
    out = np.full(n, np.pi, dtype=a.dtype)
    enc.decode_floats(buf, n, a.dtype, out=out)
    np.testing.assert_array_equal(as_bits(out), as_bits(a))
    if n:
        idx = rng(3).integers(0, n, min(3 * n, 500)).astype(np.uint32)
        np.testing.assert_array_equal(
            as_bits(enc.take_floats(buf, n, a.dtype, idx)), as_bits(a[idx])
        )


def split(offsets: np.ndarray, data: bytes) -> list[bytes]:
    return [data[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def check_binary(buf: bytes, values: list[bytes]) -> None:
    n = len(values)
    for width in (4, 8):
        offsets, data = enc.decode_binary(buf, n, offset_width=width)
        assert offsets.dtype == np.dtype(f"int{8 * width}")
        assert split(offsets, data) == values
    if n:
        idx = rng(4).integers(0, n, min(3 * n, 300)).astype(np.uint32)
        offsets, data = enc.take_binary(buf, n, idx)
        assert split(offsets, data) == [values[i] for i in idx]


# ---- Bit-packing kernels ----


@pytest.mark.parametrize("dtype", UINT_DTYPES)
def test_unpack_every_width_scalar_and_fast_agree(dtype: type) -> None:
    nbits = 8 * np.dtype(dtype).itemsize
    for bits in range(nbits + 1):
        for n in LENGTHS:
            hi = (1 << bits) - 1
            vals = rng(bits * 7 + n).integers(0, hi, n, dtype=np.uint64, endpoint=True)
            vals = vals.astype(dtype)
            packed = enc.pack_bits(vals, bits)
            assert len(packed) == (n * bits + 7) // 8
            out = np.full(n, 0xA5, dtype=dtype)
            enc.unpack_fast(packed, n, bits, dtype, out=out)
            np.testing.assert_array_equal(out, vals)
            np.testing.assert_array_equal(enc.unpack_scalar(packed, n, bits, dtype), vals)


def test_unpack_adds_frame_of_reference_with_wraparound() -> None:
    vals = np.array([0, 1, 2, 3, 255], dtype=np.uint8)
    packed = enc.pack_bits(vals, 8)
    got = enc.unpack_fast(packed, 5, 8, np.uint8, base=250)
    np.testing.assert_array_equal(got, (vals.astype(np.int64) + 250) % 256)
    np.testing.assert_array_equal(got, enc.unpack_scalar(packed, 5, 8, np.uint8, base=250))


def test_unpack_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        enc.unpack_fast(b"\x00", 100, 3, np.uint64)  # buffer too short
    with pytest.raises(ValueError):
        enc.unpack_fast(b"\x00" * 100, 10, 9, np.uint8)  # wider than the dtype
    with pytest.raises(ValueError):
        enc.pack_bits(np.array([4], np.uint8), 2)  # does not fit


# ---- Integers ----


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_bitpack_every_width_roundtrips(dtype: type) -> None:
    info = np.iinfo(dtype)
    nbits = 8 * np.dtype(dtype).itemsize
    for bits in range(nbits + 1):
        n = 100 + bits
        span = rng(bits).integers(0, (1 << bits) - 1, n, dtype=np.uint64, endpoint=True)
        if bits:
            span[0], span[1] = 0, (1 << bits) - 1  # force the exact width
        # Values min + span, computed with wraparound in the dtype's width.
        vals = (span.astype(np.uint64) + np.uint64(int(info.min) % (1 << 64))).astype(dtype)
        buf = enc.encode_ints_as(vals, "bitpack")
        assert bitpack_width(buf) == bits
        check_ints(buf, vals, seed=bits)


@pytest.mark.parametrize("encoding", INT_ENCODINGS)
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_forced_int_encodings_roundtrip(encoding: str, dtype: type) -> None:
    for n in LENGTHS:
        for kind, a in int_cases(dtype, n):
            buf = enc.encode_ints_as(a, encoding)
            assert enc.stream_tag(buf) == encoding, kind
            check_ints(buf, a)


def int_cases(dtype: type, n: int) -> list[tuple[str, np.ndarray]]:
    r = rng(n)
    info = np.iinfo(dtype)
    return [
        ("random", random_ints(dtype, n, n)),
        ("small", r.integers(0, min(100, info.max), n).astype(dtype)),
        ("runs", np.repeat(random_ints(dtype, n // 10 + 1, 2), 10)[:n]),
        ("sorted", np.sort(random_ints(dtype, n, 3))),
        ("extremes", r.choice(np.array([info.min, info.max, 0], dtype=dtype), n)),
    ]


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_constant_ints(dtype: type) -> None:
    for n in LENGTHS[1:]:
        a = np.full(n, np.iinfo(dtype).max, dtype=dtype)
        for buf in (enc.encode_ints(a), enc.encode_ints_as(a, "constant")):
            assert enc.stream_tag(buf) == "constant"
            check_ints(buf, a)
    with pytest.raises(ValueError):
        enc.encode_ints_as(np.arange(3, dtype=dtype), "constant")
    with pytest.raises(ValueError):
        enc.encode_ints_as(np.arange(3, dtype=dtype), "fsst")


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_cascade_ints_roundtrip(n: int, dtype: type) -> None:
    for _, a in int_cases(dtype, n):
        check_ints(enc.encode_ints(a), a)


def test_cascade_picks_sensible_int_encodings() -> None:
    r = rng(0)
    n = 10_000
    cases = {
        "constant": np.full(n, -3, np.int64),
        "delta": np.cumsum(r.integers(1, 4, n)).astype(np.int64) + 10**12,
        "rle": np.repeat(r.integers(0, 10**9, n // 100), 100).astype(np.int64),
        "bitpack": r.integers(0, 16, n).astype(np.int64),
        "dictionary": r.choice(np.array([10**15, -(10**12), 77, 3], np.int64), n),
        "plain": random_ints(np.int64, n),
    }
    for expected, a in cases.items():
        buf = enc.encode_ints(a)
        assert enc.stream_tag(buf) == expected
        check_ints(buf, a)
    # Uniform small ints pack to 4 bits each.
    assert len(enc.encode_ints(cases["bitpack"])) < n * 4 // 8 + 32


def test_sequential_ids_compress_to_almost_nothing() -> None:
    a = np.arange(1000, 101_000, dtype=np.uint32)
    buf = enc.encode_ints(a)
    assert enc.stream_tag(buf) == "delta"
    assert len(buf) < 32
    check_ints(buf, a)


def test_take_rejects_out_of_range_index() -> None:
    buf = enc.encode_ints(np.arange(10, dtype=np.int32))
    with pytest.raises(ValueError):
        enc.take_ints(buf, 10, np.int32, np.array([10], np.uint32))


def test_decode_with_wrong_count_is_corruption() -> None:
    for encoding in INT_ENCODINGS:
        buf = enc.encode_ints_as(np.arange(100, dtype=np.int32), encoding)
        with pytest.raises(CorruptFileError):
            enc.decode_ints(buf, 99, np.int32)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from(INT_DTYPES),
    data=st.data(),
    encoding=st.sampled_from([None, *INT_ENCODINGS]),
)
def test_ints_property(dtype: type, data: st.DataObject, encoding: str | None) -> None:
    info = np.iinfo(dtype)
    pool = data.draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=1, max_size=8))
    values = data.draw(st.lists(st.sampled_from(pool), max_size=300))
    a = np.array(values, dtype=dtype)
    buf = enc.encode_ints(a) if encoding is None else enc.encode_ints_as(a, encoding)
    check_ints(buf, a)


# ---- Floats ----

SPECIAL64 = np.array(
    [
        0x7FF8000000000001,
        0xFFF8000000000000,
        0x7FF0000000000001,
        0x8000000000000000,
        0x7FF0000000000000,
        0xFFF0000000000000,
        0x0000000000000001,
        0x3FF8000000000000,
    ],
    dtype=np.uint64,
).view(np.float64)
SPECIAL32 = np.array(
    [
        0x7FC00001,
        0xFFC00000,
        0x7F800001,
        0x80000000,
        0x7F800000,
        0xFF800000,
        0x00000001,
        0x3FC00000,
    ],
    dtype=np.uint32,
).view(np.float32)


def float_cases(dtype: type, n: int) -> list[np.ndarray]:
    r = rng(n)
    special = SPECIAL32 if dtype == np.float32 else SPECIAL64
    prices = np.round(r.uniform(0, 1000, n), 2).astype(dtype)
    mixed = prices.copy()
    if n:
        pos = r.integers(0, n, max(1, n // 20))
        mixed[pos] = r.choice(special, len(pos))
    return [
        prices,
        mixed,
        r.standard_normal(n).astype(dtype),
        r.choice(special, n).astype(dtype),
        r.integers(-1000, 1000, n).astype(dtype),
    ]


@pytest.mark.parametrize("encoding", [None, "plain", "alp", "dictionary"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_floats_roundtrip_bit_exactly(encoding: str | None, dtype: type) -> None:
    for n in LENGTHS:
        for a in float_cases(dtype, n):
            buf = enc.encode_floats(a) if encoding is None else enc.encode_floats_as(a, encoding)
            if encoding is not None:
                assert enc.stream_tag(buf) == encoding
            check_floats(buf, a)


def test_float_constant_keeps_nan_payload() -> None:
    a = np.full(50, SPECIAL64[0])
    buf = enc.encode_floats(a)
    assert enc.stream_tag(buf) == "constant"
    check_floats(buf, a)


def test_cascade_picks_sensible_float_encodings() -> None:
    r = rng(1)
    n = 10_000
    prices = np.round(r.uniform(1, 1000, n), 2)
    cases = {
        "alp": prices,
        "plain": r.standard_normal(n).astype(np.float32),
        "dictionary": r.choice(np.array([0.1, 2.5, np.nan, -7.25]), n),
    }
    for expected, a in cases.items():
        buf = enc.encode_floats(a)
        assert enc.stream_tag(buf) == expected
        check_floats(buf, a)
    assert enc.stream_tag(enc.encode_floats(r.integers(0, 10**6, n).astype(np.float64))) == "alp"
    assert len(enc.encode_floats(prices)) < prices.nbytes // 3


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=200),
    encoding=st.sampled_from([None, "alp", "plain", "dictionary"]),
)
def test_floats_property(values: list[float], encoding: str | None) -> None:
    a = np.array(values, dtype=np.float64)
    buf = enc.encode_floats(a) if encoding is None else enc.encode_floats_as(a, encoding)
    check_floats(buf, a)


# ---- Binary ----


def string_cases(n: int) -> list[list[bytes]]:
    r = rng(n)
    words = [b"", b"apple", b"banana", b"\xff\xfe\x00non-utf8", "caf\u00e9".encode()]
    urls = [
        b"https://example.com/item/%d?ref=home&x=%d" % (i, i % 7) for i in r.integers(0, 10**6, n)
    ]
    return [
        [words[i] for i in r.integers(0, len(words), n)],
        urls,
        [bytes(r.integers(0, 256, int(k), dtype=np.uint8)) for k in r.integers(0, 20, n)],
        [b""] * n,
    ]


@pytest.mark.parametrize("encoding", [None, "plain", "dictionary", "fsst"])
def test_binary_roundtrip(encoding: str | None) -> None:
    for n in LENGTHS:
        for values in string_cases(n):
            buf = (
                enc.encode_binary(values)
                if encoding is None
                else enc.encode_binary_as(values, encoding)
            )
            if encoding is not None:
                assert enc.stream_tag(buf) == encoding
            check_binary(buf, values)


def test_binary_from_offsets_not_starting_at_zero() -> None:
    data = b"xxxhelloworld!"
    for dtype in (np.int32, np.int64):
        offsets = np.array([3, 8, 13, 13, 14], dtype=dtype)
        buf = enc.encode_binary(offsets, data)
        check_binary(buf, [b"hello", b"world", b"", b"!"])
    with pytest.raises(ValueError):
        enc.encode_binary(np.array([0, 5, 3], np.int64), b"hello")


def test_cascade_picks_sensible_binary_encodings() -> None:
    r = rng(2)
    n = 5000
    low = [[b"red", b"green", b"blue"][i] for i in r.integers(0, 3, n)]
    assert enc.stream_tag(enc.encode_binary(low)) == "dictionary"
    assert enc.stream_tag(enc.encode_binary([b"same"] * n)) == "constant"
    urls = string_cases(n)[1]
    buf = enc.encode_binary(urls)
    assert enc.stream_tag(buf) == "fsst"
    assert len(buf) < sum(map(len, urls)) // 2
    check_binary(buf, urls)
    noise = [bytes(r.integers(0, 256, 16, dtype=np.uint8)) for _ in range(n)]
    assert enc.stream_tag(enc.encode_binary(noise)) == "plain"


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.binary(max_size=30), max_size=100),
    encoding=st.sampled_from([None, "plain", "dictionary", "fsst"]),
)
def test_binary_property(values: list[bytes], encoding: str | None) -> None:
    buf = enc.encode_binary(values) if encoding is None else enc.encode_binary_as(values, encoding)
    check_binary(buf, values)


# ---- Bitmaps ----


@pytest.mark.parametrize("n", LENGTHS)
def test_bitmap_roundtrip(n: int) -> None:
    r = rng(n)
    for bits in (r.random(n) < 0.5, np.zeros(n, bool), np.ones(n, bool)):
        for offset in (0, 3, 8):
            buf = enc.encode_bitmap(bits, offset)
            if n and (bits.all() or not bits.any()):
                assert enc.stream_tag(buf) == "constant"
            np.testing.assert_array_equal(enc.decode_bitmap(buf, n), bits)
            if n:
                idx = r.integers(0, n, 77).astype(np.uint32)
                np.testing.assert_array_equal(enc.take_bitmap(buf, n, idx), bits[idx])


# ---- Corrupt input ----


def corpus() -> list[tuple[str, bytes, int, object]]:
    """(kind, stream, n, dtype) for a stream of every encoding."""
    r = rng(9)
    n = 300
    out: list[tuple[str, bytes, int, object]] = []
    ints = {
        "plain": random_ints(np.int32, n),
        "bitpack": r.integers(0, 1000, n).astype(np.int64),
        "delta": np.cumsum(r.integers(0, 5, n)).astype(np.int64),
        "rle": np.repeat(r.integers(0, 100, n // 30), 30).astype(np.int16),
        "dictionary": r.choice(np.array([5, 10**9, -3], np.int64), n),
        "constant": np.full(n, 7, np.uint8),
    }
    for name, a in ints.items():
        out.append(("int", enc.encode_ints_as(a, name), n, a.dtype))
    prices = np.round(r.uniform(0, 100, n), 2)
    prices[::17] = np.nan
    out.append(("float", enc.encode_floats_as(prices, "alp"), n, np.float64))
    out.append(("float", enc.encode_floats_as(prices.astype(np.float32), "alp"), n, np.float32))
    strings = string_cases(n)
    for name in ("plain", "dictionary", "fsst"):
        out.append(("binary", enc.encode_binary_as(strings[0], name), n, None))
        out.append(("binary", enc.encode_binary_as(strings[1], name), n, None))
    out.append(("bitmap", enc.encode_bitmap(r.random(n) < 0.5), n, None))
    return out


def decode_any(kind: str, buf: bytes, n: int, dtype: object) -> None:
    """Decodes and takes; a result must have the right length."""
    idx = np.array([0, n - 1, n // 2, 1], dtype=np.uint32)
    if kind == "int":
        assert len(enc.decode_ints(buf, n, dtype)) == n
        assert len(enc.take_ints(buf, n, dtype, idx)) == len(idx)
    elif kind == "float":
        assert len(enc.decode_floats(buf, n, dtype)) == n
        assert len(enc.take_floats(buf, n, dtype, idx)) == len(idx)
    elif kind == "binary":
        assert len(enc.decode_binary(buf, n, offset_width=4)[0]) == n + 1
        assert len(enc.take_binary(buf, n, idx)[0]) == len(idx) + 1
    else:
        assert len(enc.decode_bitmap(buf, n)) == n
        assert len(enc.take_bitmap(buf, n, idx)) == len(idx)


def test_truncated_streams_raise() -> None:
    for kind, buf, n, dtype in corpus():
        decode_any(kind, buf, n, dtype)
        cuts = sorted(set(np.linspace(0, len(buf) - 1, 60).astype(int)))
        for cut in cuts:
            with pytest.raises(DECODE_ERRORS):
                decode_any(kind, buf[:cut], n, dtype)


def test_flipped_bytes_never_crash() -> None:
    r = rng(11)
    for kind, buf, n, dtype in corpus():
        for _ in range(250):
            bad = bytearray(buf)
            for pos in r.integers(0, len(bad), r.integers(1, 4)):
                bad[pos] ^= int(r.integers(1, 256))
            try:
                decode_any(kind, bytes(bad), n, dtype)
            except DECODE_ERRORS:
                pass


def stream(tag: int, body: bytes) -> bytes:
    header = bytearray([tag])
    n = len(body)
    while n >= 0x80:
        header.append(n & 0x7F | 0x80)
        n >>= 7
    header.append(n)
    return bytes(header) + body


def test_unknown_tag_is_corruption() -> None:
    with pytest.raises(CorruptFileError):
        enc.decode_ints(b"\x63\x00", 0, np.int32)
    with pytest.raises(CorruptFileError):
        enc.stream_tag(b"\x63")
    with pytest.raises(CorruptFileError):  # a bitmap tag where integers are expected
        enc.decode_ints(enc.encode_bitmap(np.array([True, False])), 2, np.int32)


def nested_dictionaries(levels: int) -> bytes:
    """Dictionaries of 0 values whose dictionary stream is again a dictionary."""
    empty_plain = stream(0, b"\x00")
    s = empty_plain
    for _ in range(levels):
        s = stream(5, b"\x00\x00" + s + empty_plain)
    return s


def test_deep_nesting_is_corruption() -> None:
    assert len(enc.decode_ints(nested_dictionaries(3), 0, np.int32)) == 0
    with pytest.raises(CorruptFileError):
        enc.decode_ints(nested_dictionaries(200), 0, np.int32)


def test_dictionary_code_out_of_range_is_corruption() -> None:
    dict_stream = enc.encode_ints_as(np.array([5, 6], np.int32), "plain")
    codes_stream = stream(0, b"\x04\x00\x01\x02\x00")  # plain u8 codes; 2 >= d = 2
    bad = stream(5, b"\x04\x02" + dict_stream + codes_stream)
    with pytest.raises(CorruptFileError):
        enc.decode_ints(bad, 4, np.int32)
    with pytest.raises(CorruptFileError):
        enc.take_ints(bad, 4, np.int32, np.array([2], np.uint32))
    good = stream(5, b"\x04\x02" + dict_stream + stream(0, b"\x04\x00\x01\x01\x00"))
    np.testing.assert_array_equal(enc.decode_ints(good, 4, np.int32), [5, 6, 6, 5])


def test_rle_ends_must_cover_the_stream() -> None:
    values = enc.encode_ints_as(np.array([5, 9], np.int8), "plain")
    ends = enc.encode_ints_as(np.array([3, 5], np.uint32), "plain")  # 5 != n = 4
    bad = stream(4, b"\x04\x02" + values + ends)
    with pytest.raises(CorruptFileError):
        enc.decode_ints(bad, 4, np.int8)
    ok = stream(4, b"\x04\x02" + values + enc.encode_ints_as(np.array([3, 4], np.uint32), "plain"))
    np.testing.assert_array_equal(enc.decode_ints(ok, 4, np.int8), [5, 5, 5, 9])
