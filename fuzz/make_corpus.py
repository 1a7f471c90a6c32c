"""Seed corpus for the lamina file-reader fuzzers, and helpers shared with the tests.

Usage:
    PYTHONPATH=/tmp/devpkg python fuzz/make_corpus.py OUT_DIR

writes small valid lamina files (every stored type, nulls, several pages per column,
encodings chosen by the writer's cascade: constant, bit-packed, runs, low-cardinality,
sorted, decimal floats) into OUT_DIR, one file per seed. Nothing binary is committed:
the corpus is regenerated from this script whenever needed.

Helpers (imported by tests/test_fuzz.py, tests/test_corruption.py and fuzz_reader.py):
    seed_tables()        -> [(name, pyarrow.Table, max_page_rows)]
    seed_files(tmp_dir)  -> {name: bytes}
    crc32c(data)         -> int (CRC32C / Castagnoli, as in lamina files)
    parse_layout(data)   -> FileLayout: where the footer, column metas and pages lie
    fix_checksums(data)  -> bytes with every page checksum and the footer checksum
                            recomputed, so that mutated bytes reach the decoders
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------
# CRC32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.

_CRC_TABLE: list[int] = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------------------------------
# A minimal parser of the file layout (docs/format.md), tolerant of garbage: it stops at
# the first thing it cannot parse and reports what it found so far.

MAGIC = b"LAMF"
HEADER_SIZE = 8
TAIL_SIZE = 16
LIST_TYPE_IDS = (16, 17, 18)  # list, large_list, fixed_size_list
TIMESTAMP_TYPE_ID = 20


class _Truncated(Exception):
    pass


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def u8(self) -> int:
        if self.pos + 1 > self.end:
            raise _Truncated
        v = self.data[self.pos]
        self.pos += 1
        return v

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise _Truncated
        v = self.data[self.pos : self.pos + n]
        self.pos += n
        return v

    def u32(self) -> int:
        return int(struct.unpack("<I", self.raw(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.raw(8))[0])

    def varint(self) -> int:
        result = 0
        for shift in range(0, 64, 7):
            b = self.u8()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result & 0xFFFFFFFFFFFFFFFF
        raise _Truncated

    def string(self) -> bytes:
        return self.raw(self.varint())


@dataclass
class PageLayout:
    meta_pos: int  # absolute position of the page_meta's first byte
    offset_pos: int  # absolute position of the offset varint
    length_pos: int
    rows_pos: int
    crc_pos: int  # absolute position of the crc:u32 field
    offset: int
    length: int
    num_rows: int
    crc: int
    encoding: int


@dataclass
class FileLayout:
    size: int
    footer_pos: int = -1
    footer_len: int = -1
    num_rows: int = -1
    num_rows_pos: int = -1
    fields: list[tuple[str, int]] = field(default_factory=list)  # (name, type id)
    ncols_pos: int = -1
    dir_pos: int = -1  # absolute position of the first dir_entry
    columns: list[tuple[int, int]] = field(default_factory=list)  # absolute (pos, len) of metas
    pages: list[list[PageLayout]] = field(default_factory=list)  # per column

    @property
    def data_region(self) -> tuple[int, int]:
        return HEADER_SIZE, self.footer_pos


def _parse_field(r: _Reader, out: list[tuple[str, int]], depth: int) -> None:
    name = r.string()
    r.varint()  # field id
    r.u8()  # nullable
    type_id = r.u8()
    if depth == 0:
        out.append((name.decode("utf-8", "replace"), type_id))
    if type_id == TIMESTAMP_TYPE_ID:
        r.u8()
        r.string()
    if type_id == 18:
        r.varint()
    if type_id in LIST_TYPE_IDS:
        if depth > 0:
            raise _Truncated
        _parse_field(r, out, depth + 1)


def parse_layout(data: bytes) -> FileLayout:
    """Locates footer, directory, column metas and pages; best effort on bad bytes."""
    n = len(data)
    lay = FileLayout(size=n)
    if n < HEADER_SIZE + TAIL_SIZE:
        return lay
    footer_len = struct.unpack_from("<I", data, n - 16)[0]
    if footer_len > n - HEADER_SIZE - TAIL_SIZE:
        return lay
    lay.footer_pos = n - TAIL_SIZE - footer_len
    lay.footer_len = footer_len
    fend = lay.footer_pos + footer_len
    r = _Reader(data, lay.footer_pos, fend)
    try:
        lay.num_rows_pos = r.pos
        lay.num_rows = r.varint()
        nfields = r.varint()
        if nfields > footer_len:
            return lay
        for _ in range(nfields):
            _parse_field(r, lay.fields, 0)
        for _ in range(2):  # schema metadata, file metadata
            count = r.varint()
            if count > footer_len:
                return lay
            for _ in range(count):
                r.string()
                r.string()
        if r.u8() == 1:
            r.string()
            r.string()
            r.varint()
            r.varint()
        lay.ncols_pos = r.pos
        ncols = r.varint()
        if ncols > footer_len // 12:
            return lay
        lay.dir_pos = r.pos
        for _ in range(ncols):
            off = r.u64()
            ln = r.u32()
            if off > footer_len or ln > footer_len - off:
                lay.columns.append((-1, 0))
            else:
                lay.columns.append((lay.footer_pos + off, ln))
    except _Truncated:
        return lay
    for pos, ln in lay.columns:
        pages: list[PageLayout] = []
        lay.pages.append(pages)
        if pos < 0:
            continue
        cr = _Reader(data, pos, pos + ln)
        try:
            npages = cr.varint()
            for _ in range(min(npages, ln)):
                meta_pos = cr.pos
                offset_pos = cr.pos
                off = cr.varint()
                length_pos = cr.pos
                length = cr.varint()
                rows_pos = cr.pos
                rows = cr.varint()
                crc_pos = cr.pos
                crc = cr.u32()
                enc = cr.u8()
                flags = cr.u8()
                cr.varint()
                if flags & 1:
                    cr.string()
                    cr.string()
                pages.append(
                    PageLayout(
                        meta_pos,
                        offset_pos,
                        length_pos,
                        rows_pos,
                        crc_pos,
                        off,
                        length,
                        rows,
                        crc,
                        enc,
                    )
                )
        except _Truncated:
            pass
    return lay


def fix_checksums(data: bytes) -> bytes:
    """Recomputes page checksums (where the page lies in the file) and the footer's."""
    lay = parse_layout(data)
    if lay.footer_pos < 0:
        return bytes(data)
    buf = bytearray(data)
    for pages in lay.pages:
        for p in pages:
            if p.offset <= len(buf) and p.length <= len(buf) - p.offset:
                struct.pack_into(
                    "<I", buf, p.crc_pos, crc32c(bytes(buf[p.offset : p.offset + p.length]))
                )
    footer = bytes(buf[lay.footer_pos : lay.footer_pos + lay.footer_len])
    struct.pack_into("<I", buf, len(buf) - 12, crc32c(footer))
    return bytes(buf)


def put_varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


# ---------------------------------------------------------------------------------------
# Seed tables.


def seed_tables() -> list[tuple[str, object, int]]:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(20240601)
    n = 40

    def mask(k: int, frac: float = 0.15) -> np.ndarray:
        return rng.random(k) < frac

    ints = [
        pa.int8(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.uint8(),
        pa.uint16(),
        pa.uint32(),
        pa.uint64(),
    ]
    cols: dict[str, pa.Array] = {}
    for t in ints:
        info = np.iinfo(t.to_pandas_dtype())
        cols[f"{t}_wide"] = pa.array(
            rng.integers(info.min, info.max, n, dtype=t.to_pandas_dtype(), endpoint=True),
            type=t,
            mask=mask(n),
        )
        cols[f"{t}_small"] = pa.array(rng.integers(0, 9, n).astype(t.to_pandas_dtype()), type=t)
    cols["int64_sorted"] = pa.array(np.cumsum(rng.integers(0, 1000, n)), type=pa.int64())
    cols["int32_runs"] = pa.array(np.repeat(rng.integers(-5, 5, n // 8), 8), type=pa.int32())
    cols["int16_const"] = pa.array(np.full(n, 7, dtype=np.int16), type=pa.int16())
    cols["float32"] = pa.array(
        rng.standard_normal(n).astype(np.float32), type=pa.float32(), mask=mask(n)
    )
    f64 = np.round(rng.standard_normal(n) * 100, 2)
    f64[0], f64[1], f64[2] = np.nan, -0.0, np.inf
    cols["float64_decimal"] = pa.array(f64, type=pa.float64())
    cols["float64_raw"] = pa.array(rng.standard_normal(n), type=pa.float64(), mask=mask(n))
    cols["bool"] = pa.array(rng.random(n) < 0.3, type=pa.bool_(), mask=mask(n))
    cols["bool_const"] = pa.array(np.ones(n, dtype=bool), type=pa.bool_())
    words = ["", "a", "hello", "wörld", "x" * 40, "lamina", "🙂"]
    cols["string"] = pa.array(
        [words[i] for i in rng.integers(0, len(words), n)], type=pa.string(), mask=mask(n)
    )
    cols["string_lowcard"] = pa.array(
        [["red", "green", "blue"][i] for i in rng.integers(0, 3, n)], type=pa.string()
    )
    cols["large_string"] = pa.array(
        [words[i] for i in rng.integers(0, len(words), n)], type=pa.large_string(), mask=mask(n)
    )
    cols["binary"] = pa.array(
        [bytes(rng.integers(0, 256, int(rng.integers(0, 12)), dtype=np.uint8)) for _ in range(n)],
        type=pa.binary(),
        mask=mask(n),
    )
    cols["large_binary"] = pa.array([b"const"] * n, type=pa.large_binary())
    lengths = rng.integers(0, 5, n)
    offs = np.concatenate([[0], np.cumsum(lengths)])
    total = int(offs[-1])
    lmask = pa.array(mask(n))
    cols["list_int64"] = pa.ListArray.from_arrays(
        pa.array(offs.astype(np.int32)),
        pa.array(rng.integers(-100, 100, total), type=pa.int64(), mask=mask(total)),
        mask=lmask,
    )
    cols["list_string"] = pa.ListArray.from_arrays(
        pa.array(offs.astype(np.int32)),
        pa.array([words[i] for i in rng.integers(0, len(words), total)], type=pa.string()),
    )
    cols["list_bool"] = pa.ListArray.from_arrays(
        pa.array(offs.astype(np.int32)), pa.array(rng.random(total) < 0.5, type=pa.bool_())
    )
    cols["large_list_int32"] = pa.LargeListArray.from_arrays(
        pa.array(offs.astype(np.int64)), pa.array(rng.integers(0, 3, total), type=pa.int32())
    )
    cols["large_list_string"] = pa.LargeListArray.from_arrays(
        pa.array(offs.astype(np.int64)),
        pa.array([words[i] for i in rng.integers(0, len(words), total)], type=pa.string()),
    )
    cols["fsl_float32"] = pa.FixedSizeListArray.from_arrays(
        pa.array(
            rng.standard_normal(n * 4).astype(np.float32), type=pa.float32(), mask=mask(n * 4, 0.05)
        ),
        4,
        mask=pa.array(mask(n)),
    )
    cols["fsl_int16"] = pa.FixedSizeListArray.from_arrays(
        pa.array(rng.integers(0, 50, n * 3).astype(np.int16), type=pa.int16()), 3
    )
    cols["date32"] = pa.array(
        rng.integers(-1000, 30000, n).astype(np.int32), type=pa.int32(), mask=mask(n)
    ).cast(pa.date32())
    cols["timestamp_ms"] = pa.array(rng.integers(0, 2**40, n), type=pa.int64()).cast(
        pa.timestamp("ms")
    )
    cols["timestamp_ns_tz"] = pa.array(
        rng.integers(-(2**50), 2**50, n), type=pa.int64(), mask=mask(n)
    ).cast(pa.timestamp("ns", tz="UTC"))
    cols["all_null_int"] = pa.array([None] * n, type=pa.int64())
    cols["all_null_string"] = pa.array([None] * n, type=pa.string())

    tables: list[tuple[str, object, int]] = []
    # One file per column: mutations stay focused on one decoder.
    for name, arr in cols.items():
        tables.append((f"col_{name}", pa.table({name: arr}), 16))
    # Everything at once, several pages per column.
    tables.append(("all_types", pa.table(cols), 16))
    # Pages of odd sizes (validity bytes shared between pages).
    small = {k: cols[k] for k in ("int32_runs", "bool", "string", "list_int64", "fsl_float32")}
    tables.append(("odd_pages", pa.table(small), 5))
    # Empty and one-row files.
    tables.append(("empty", pa.table(cols).slice(0, 0), 16))
    tables.append(("one_row", pa.table(small).slice(3, 1), 16))
    # More rows, for the cascade's run/dictionary/delta choices.
    m = 600
    big = {
        "runs": pa.array(np.repeat(np.arange(m // 50), 50), type=pa.int64()),
        "sorted": pa.array(np.arange(m) * 3 + 1000, type=pa.int64()),
        "lowcard": pa.array(
            [["alpha", "beta", "gamma", "delta"][i % 4] for i in range(m)], type=pa.string()
        ),
        "decimal": pa.array(np.round(rng.uniform(0, 100, m), 2), type=pa.float64()),
        "bits": pa.array(rng.integers(0, 4, m).astype(np.uint8), type=pa.uint8()),
    }
    tables.append(("cascade", pa.table(big), 256))
    return tables


def seed_files(tmp_dir: str | None = None) -> dict[str, bytes]:
    """Writes every seed table with lamina and returns the file bytes by name."""
    from lamina.format import write_file

    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(dir=tmp_dir) as d:
        for name, table, page_rows in seed_tables():
            path = os.path.join(d, name + ".lam")
            kwargs = {"max_page_rows": page_rows}
            if name == "all_types":
                kwargs["metadata"] = {"origin": b"fuzz seed"}
            write_file(path, table, **kwargs)
            with open(path, "rb") as f:
                out[name] = f.read()
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = argv[1]
    os.makedirs(out_dir, exist_ok=True)
    total = 0
    for name, data in seed_files().items():
        with open(os.path.join(out_dir, name + ".lam"), "wb") as f:
            f.write(data)
        total += len(data)
    print(f"wrote {len(os.listdir(out_dir))} seeds, {total} bytes, to {out_dir}")
    return 0


def validate_table(table) -> None:
    """Arrow's full validation (offsets inside buffers, child lengths, ...). Invalid UTF-8
    in a string column is tolerated: lamina does not validate string bytes on read (a
    crafted file with valid checksums can hold any bytes), which Arrow only reports."""
    import pyarrow as pa

    try:
        table.validate(full=True)
    except pa.ArrowInvalid as e:
        if "Invalid UTF8" not in str(e):
            raise


if __name__ == "__main__":
    sys.exit(main(sys.argv))
