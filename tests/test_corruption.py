"""Corrupted, truncated, foreign and hand-crafted files must raise clear lamina errors:
CorruptFileError for bad bytes (never a crash, a hang, or an allocation the file cannot
justify), FileNotFoundError for a missing file.

Files of every type come from fuzz/make_corpus.py. Part (e) builds files from scratch
(tiny writer below, following docs/format.md) with valid checksums but absurd lengths,
and reads them in a subprocess under an address-space limit.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import time
from collections.abc import Sequence

import lamina
import pytest
from lamina.format import FileReader

TESTS = os.path.dirname(os.path.abspath(__file__))
FUZZ_DIR = os.path.join(os.path.dirname(TESTS), "fuzz")
sys.path.insert(0, FUZZ_DIR)

import make_corpus  # noqa: E402
from make_corpus import crc32c, parse_layout, put_varint  # noqa: E402

# Per-type files small enough to truncate and flip at every byte.
SMALL = 4096


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return make_corpus.seed_files()


def read_all(data: bytes):
    """Opens, reads every column, takes a few rows and reads the page statistics and
    metadata (what a user of the file does)."""
    r = FileReader.from_bytes(data)
    t = r.read()
    if r.num_rows:
        r.take([0, r.num_rows - 1, r.num_rows // 2])
    for name in r.schema.names:
        r.page_statistics(name)
    assert isinstance(r.metadata, dict)
    return t


def assert_corrupt(data: bytes, what: str = "") -> lamina.CorruptFileError:
    with pytest.raises(lamina.CorruptFileError) as ei:
        read_all(data)
    return ei.value


# ---- (a) truncation ---------------------------------------------------------------------


def test_truncated_at_every_length(files):
    checked = 0
    for name, data in sorted(files.items()):
        step = 1 if len(data) <= SMALL else 13
        for n in [*list(range(0, len(data), step)), len(data) - 1]:
            try:
                read_all(data[:n])
            except lamina.CorruptFileError:
                checked += 1
                continue
            pytest.fail(f"{name} truncated to {n} of {len(data)} bytes did not raise")
    assert checked > 10000


def test_truncated_but_tail_kept(files):
    """Cutting bytes out of the middle while keeping a well-formed tail."""
    for name in ("col_string", "col_list_int64", "col_fsl_float32", "odd_pages"):
        data = files[name]
        for cut in range(8, len(data) - 16, 7):
            assert_corrupt(data[:cut] + data[-16:], f"{name} cut at {cut}")


# ---- (b) bit flips ----------------------------------------------------------------------


def test_every_byte_flip_is_detected(files):
    """Pages and footer carry CRC32C; header and tail are checked field by field: no byte
    of a file may change without the reader noticing."""
    for name, data in sorted(files.items()):
        step = 1 if len(data) <= SMALL else 5
        for i in range(0, len(data), step):
            for mask in (0x01, 0x80) if len(data) <= 1024 else (1 << (i % 8),):
                bad = bytearray(data)
                bad[i] ^= mask
                try:
                    read_all(bytes(bad))
                except lamina.CorruptFileError:
                    continue
                pytest.fail(
                    f"{name}: flipping byte {i} of {len(data)} (mask {mask:#x}) was not detected"
                )


def test_flips_in_pages_name_the_checksum(files):
    data = files["col_int64_wide"]
    lay = parse_layout(data)
    for p in lay.pages[0]:
        bad = bytearray(data)
        bad[p.offset + p.length // 2] ^= 0x10
        e = assert_corrupt(bytes(bad))
        assert "checksum" in str(e)
    bad = bytearray(data)
    bad[lay.footer_pos + 1] ^= 0x10
    e = assert_corrupt(bytes(bad))
    assert "checksum" in str(e)


# ---- (c) versions -----------------------------------------------------------------------


def _with_version(data: bytes, head: int | None, tail: int | None) -> bytes:
    b = bytearray(data)
    if head is not None:
        struct.pack_into("<I", b, 4, head)
    if tail is not None:
        struct.pack_into("<I", b, len(b) - 8, tail)
    return bytes(b)


@pytest.mark.parametrize(
    "head,tail", [(2, 2), (7, 7), (2, None), (None, 2), (0xFFFFFFFF, 0xFFFFFFFF)]
)
def test_newer_format_version(files, head, tail):
    data = _with_version(files["col_int32_small"], head, tail)
    # Header and tail agreeing on a newer version: a file from the future, not damage.
    # Only one of them changed: damage.
    expected = lamina.UnsupportedVersionError if head == tail else lamina.CorruptFileError
    with pytest.raises(expected) as ei:
        FileReader.from_bytes(data)
    newer = max(v for v in (head, tail) if v is not None)
    msg = str(ei.value)
    assert "version" in msg and str(newer) in msg, msg
    assert "upgrade" in msg, msg


def test_newer_version_from_path(tmp_path, files):
    path = tmp_path / "future.lam"
    path.write_bytes(_with_version(files["col_bool"], 3, 3))
    with pytest.raises(lamina.UnsupportedVersionError, match="version 3"):
        FileReader(path)


@pytest.mark.parametrize("head,tail", [(0, 0), (1, 0), (0, 1)])
def test_bad_old_version(files, head, tail):
    with pytest.raises(lamina.CorruptFileError, match="version"):
        FileReader.from_bytes(_with_version(files["col_bool"], head, tail))


# ---- (d) not lamina files ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"L",
        b"LAMF",
        b"LAMF\x01\x00\x00\x00",
        b"LAMF" + b"\x00" * 20 + b"LAMF",
        b"PAR1" + b"\x00" * 64 + b"PAR1",
        b"hello, world\n" * 10,
        bytes(range(256)),
        b"\x00" * 4096,
    ],
    ids=lambda d: f"{len(d)}B",
)
def test_not_a_lamina_file(data):
    with pytest.raises(lamina.CorruptFileError):
        FileReader.from_bytes(data)


def test_not_a_lamina_file_message():
    with pytest.raises(lamina.CorruptFileError, match="not a lamina file"):
        FileReader.from_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    with pytest.raises(lamina.CorruptFileError, match="too short"):
        FileReader.from_bytes(b"")


def test_empty_file_on_disk(tmp_path):
    path = tmp_path / "empty.lam"
    path.write_bytes(b"")
    with pytest.raises(lamina.CorruptFileError) as ei:
        FileReader(path)
    assert str(path) in str(ei.value)


def test_foreign_file_on_disk_names_path(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n" * 100)
    with pytest.raises(lamina.CorruptFileError) as ei:
        FileReader(path)
    assert str(path) in str(ei.value) and "not a lamina file" in str(ei.value)


def test_directory(tmp_path):
    with pytest.raises(lamina.LaminaError) as ei:
        FileReader(tmp_path)
    assert "directory" in str(ei.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        FileReader(tmp_path / "nope.lam")
    with pytest.raises(FileNotFoundError):
        lamina.format.read_file(tmp_path / "nope.lam")


def test_corrupt_file_error_is_lamina_error():
    assert issubclass(lamina.CorruptFileError, lamina.LaminaError)


# ---- (e) valid checksums, absurd lengths ------------------------------------------------
# A tiny writer (docs/format.md) so that every field can be set to anything.

INT64, FLOAT32, STRING, LIST, FSL, UINT8 = 4, 9, 12, 16, 18, 5


def stream(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + put_varint(len(body)) + body


def const_ints(n: int, value: int, width: int) -> bytes:
    return stream(1, put_varint(n) + value.to_bytes(width, "little", signed=False))


def plain_ints(values: Sequence[int], width: int, count: int | None = None) -> bytes:
    body = put_varint(len(values) if count is None else count)
    body += b"".join(v.to_bytes(width, "little") for v in values)
    return stream(0, body)


def const_bitmap(n: int, bit: int = 1) -> bytes:
    return stream(1, put_varint(n) + bytes([bit]))


def field(
    name,
    type_id: int,
    child: bytes | None = None,
    list_size: int = 0,
    nullable: int = 1,
    field_id: int = 1,
    tz: bytes = b"",
) -> bytes:
    raw = name if isinstance(name, bytes) else name.encode()
    out = put_varint(len(raw)) + raw + put_varint(field_id) + bytes([nullable, type_id])
    if type_id == 20:
        out += b"\x00" + put_varint(len(tz)) + tz
    if type_id == FSL:
        out += put_varint(list_size)
    if child is not None:
        out += child
    return out


def build_file(
    fields: list[bytes],
    num_rows: int,
    columns: list[list[tuple[bytes, int]]],
    *,
    page_overrides: dict[tuple[int, int], dict[str, int]] | None = None,
    footer_prefix: bytes | None = None,
    num_rows_field: int | None = None,
    ncols: int | None = None,
    padding: int = 0,
    page_stats: dict[tuple[int, int], tuple[bytes, bytes]] | None = None,
    file_metadata: Sequence[tuple[bytes, bytes]] = (),
) -> bytes:
    """columns[c] = [(page bytes, page rows)]; overrides patch page_meta fields."""
    out = bytearray(b"LAMF" + struct.pack("<I", 1))
    metas = []
    for c, pages in enumerate(columns):
        meta = bytearray(put_varint(len(pages)))
        for k, (body, rows) in enumerate(pages):
            offset = len(out)
            out += body
            pm = {"offset": offset, "length": len(body), "rows": rows, "crc": crc32c(body)}
            pm.update((page_overrides or {}).get((c, k), {}))
            meta += put_varint(pm["offset"]) + put_varint(pm["length"]) + put_varint(pm["rows"])
            meta += struct.pack("<I", pm["crc"]) + bytes([1])
            stats = (page_stats or {}).get((c, k))
            if stats is None:
                meta += b"\x00" + put_varint(0)
            else:  # (min, max) raw bytes
                meta += b"\x01" + put_varint(0) + put_varint(len(stats[0])) + stats[0]
                meta += put_varint(len(stats[1])) + stats[1]
        metas.append(bytes(meta))
    out += b"\x00" * padding
    if footer_prefix is None:
        footer = bytearray(put_varint(num_rows if num_rows_field is None else num_rows_field))
        footer += put_varint(len(fields)) + b"".join(fields)
        footer += put_varint(0) + put_varint(len(file_metadata))
        for k, v in file_metadata:
            footer += put_varint(len(k)) + k + put_varint(len(v)) + v
        footer += b"\x00"
    else:
        footer = bytearray(footer_prefix)
    footer += put_varint(len(columns) if ncols is None else ncols)
    pos = len(footer) + 12 * len(metas)
    for m in metas:
        footer += struct.pack("<QI", pos, len(m))
        pos += len(m)
    for m in metas:
        footer += m
    out += footer
    out += struct.pack("<III", len(footer), crc32c(bytes(footer)), 1) + b"LAMF"
    return bytes(out)


def int64_page(n: int, value: int = 5) -> bytes:
    return const_bitmap(n) + const_ints(n, value, 8)


def crafted_cases() -> dict[str, bytes]:
    i64 = [field("x", INT64)]
    c: dict[str, bytes] = {}
    # Sanity: a valid hand-built file (checked to read back below).
    c["valid_int64"] = build_file(i64, 10, [[(int64_page(6), 6), (int64_page(4), 4)]])
    # Row counts far beyond what the file holds.
    c["num_rows_2^40"] = build_file(i64, 1 << 40, [[(int64_page(1 << 40), 1 << 40)]])
    c["num_rows_2^63"] = build_file(i64, (1 << 63) + 5, [[(int64_page(10), (1 << 63) + 5)]])
    # No columns, so no pages to bound the row count: the writer stores 0 rows then.
    c["zero_columns_2^63_rows"] = build_file([], 9876996826868106377, [])
    c["page_rows_over_file"] = build_file(i64, 10, [[(int64_page(10), 11)]])
    c["page_rows_zero"] = build_file(i64, 10, [[(int64_page(0), 0), (int64_page(10), 10)]])
    # A page over the per-page row cap (the file is padded so the row count alone passes).
    big = (1 << 20) + 1
    c["page_rows_over_cap"] = build_file(
        i64, big, [[(int64_page(big), big)]], padding=big // 8 + 64
    )
    # Page lengths and offsets outside the data region.
    for k, ov in {
        "page_length_2^40": {"length": 1 << 40},
        "page_length_2^64-1": {"length": (1 << 64) - 1},
        "page_length_into_footer": {"length": 200},
        "page_offset_2^40": {"offset": 1 << 40},
        "page_offset_in_header": {"offset": 2},
        "page_offset_past_end": {"offset": 10_000},
        "page_offset_wraps": {"offset": (1 << 64) - 4, "length": 8},
    }.items():
        c[k] = build_file(i64, 10, [[(int64_page(10), 10)]], page_overrides={(0, 0): ov})
    # Streams whose counts or lengths disagree with the page.
    c["stream_count_2^40"] = build_file(
        i64, 10, [[(const_bitmap(10) + const_ints(1 << 40, 5, 8), 10)]]
    )
    c["stream_body_len_2^60"] = build_file(
        i64, 10, [[(const_bitmap(10) + b"\x00" + put_varint(1 << 60) + b"\x0a", 10)]]
    )
    c["plain_count_vs_bytes"] = build_file(
        i64, 10, [[(const_bitmap(10) + plain_ints([1, 2, 3], 8, count=10), 10)]]
    )
    c["validity_count_2^50"] = build_file(
        i64, 10, [[(const_bitmap(1 << 50) + const_ints(10, 5, 8), 10)]]
    )
    c["bitpack_bits_65"] = build_file(
        i64, 10, [[(const_bitmap(10) + stream(2, put_varint(10) + bytes([65]) + b"\0" * 8), 10)]]
    )
    # Footer fields with absurd counts and lengths.
    for k, prefix in {
        "field_count_2^40": put_varint(10) + put_varint(1 << 40),
        "field_name_len_2^60": put_varint(10) + put_varint(1) + put_varint(1 << 60) + b"x",
        "metadata_count_2^40": put_varint(10) + put_varint(1) + i64[0] + put_varint(1 << 40),
        "metadata_value_len_2^40": put_varint(10)
        + put_varint(1)
        + i64[0]
        + put_varint(1)
        + put_varint(1)
        + b"k"
        + put_varint(1 << 40),
    }.items():
        c[k] = build_file(i64, 10, [[(int64_page(10), 10)]], footer_prefix=prefix)
    c["column_count_2^40"] = build_file(i64, 10, [[(int64_page(10), 10)]], ncols=1 << 40)
    c["page_count_2^40"] = _patch_page_count(c["valid_int64"], 1 << 40)
    # Footer strings that cannot become Python/Arrow strings, and impossible schemas
    # (found by fuzz/fuzz_reader.py).
    c["field_name_not_utf8"] = build_file([field(b"\xe6x", INT64)], 10, [[(int64_page(10), 10)]])
    c["timezone_not_utf8"] = build_file(
        [field("t", 20, tz=b"\xff\xfe")], 10, [[(int64_page(10), 10)]]
    )
    c["metadata_key_not_utf8"] = build_file(
        i64, 10, [[(int64_page(10), 10)]], file_metadata=[(b"\xc3(", b"v")]
    )
    c["duplicate_field_names"] = build_file(
        [field("x", INT64), field("x", INT64, field_id=2)], 10, [[(int64_page(10), 10)]] * 2
    )
    # Statistics whose min/max do not have the type's size (8 bytes for integers).
    wrong_size = {"stats_min_3_bytes": (b"abc", b"\0" * 8), "stats_max_empty": (b"\0" * 8, b"")}
    for k, st in wrong_size.items():
        c[k] = build_file(i64, 10, [[(int64_page(10), 10)]], page_stats={(0, 0): st})
    big = struct.pack("<q", 1 << 62)
    c["stats_date32_out_of_range"] = build_file(
        [field("d", 19)],
        10,
        [[(const_bitmap(10) + const_ints(10, 5, 4), 10)]],
        page_stats={(0, 0): (big, big)},
    )
    c["stats_bool_empty"] = build_file(
        [field("b", 11)],
        10,
        [[(const_bitmap(10) + const_bitmap(10), 10)]],
        page_stats={(0, 0): (b"", b"")},
    )
    # fixed_size_list<float32, 2^20>: 2^20 child values per row. A few thousand rows of
    # constant streams would decode into gigabytes; the page cannot justify that.
    fsl = [field("v", FSL, field("item", FLOAT32, field_id=2), list_size=1 << 20)]
    rows = 1500
    page = const_bitmap(rows) + const_bitmap(rows << 20) + const_ints(rows << 20, 0, 4)
    # Padding lets the row count pass the file-size bound, so only the page's own
    # length can refuse the 1500 * 2^20 child values.
    c["fsl_2^20_children_per_row"] = build_file(fsl, rows, [[(page, rows)]], padding=rows // 8 + 64)
    # A list page whose offsets claim far more children than its bytes describe.
    lst = [field("l", LIST, field("item", INT64, field_id=2))]
    n = 4
    offsets = plain_ints([0, 1 << 40, 1 << 41, 1 << 42, 1 << 43], 8)
    page = const_bitmap(n) + offsets + const_bitmap(1 << 43) + const_ints(1 << 43, 0, 8)
    c["list_offsets_2^43"] = build_file(lst, n, [[(page, n)]])
    # One list row claiming one child more than a page may hold without the bytes to back
    # it (page_reader.h MaxChildValues: 2^22 for small pages).
    kids = (1 << 22) + 1
    page = const_bitmap(1) + plain_ints([0, kids], 8) + const_bitmap(kids) + const_ints(kids, 0, 8)
    c["list_page_over_child_cap"] = build_file(lst, 1, [[(page, 1)]])
    return c


def big_but_valid_cases() -> dict[str, bytes]:
    """Files that are valid, just highly compressed (constant streams): reading them may
    need a lot of memory, and under the address-space limit the reader must fail with a
    lamina error, not die (allocation failures inside the reader's worker threads)."""
    c: dict[str, bytes] = {}
    kids = 1 << 22
    page = const_bitmap(1) + plain_ints([0, kids], 8) + const_bitmap(kids) + const_ints(kids, 0, 8)
    two = [
        field("a", LIST, field("item", INT64, field_id=2)),
        field("b", LIST, field("item", INT64, field_id=4), field_id=3),
    ]
    # Two columns of 64 one-row pages with 2^22 int64 children each: 2 GiB per column.
    c["two_list_columns_2^28_children"] = build_file(two, 64, [[(page, 1)] * 64] * 2)
    return c


def _patch_page_count(data: bytes, count: int) -> bytes:
    lay = parse_layout(data)
    pos, _ln = lay.columns[0]
    new = put_varint(count)
    old_len = len(put_varint(len(lay.pages[0])))
    # Rebuild: footer bytes with the column meta's page count replaced; fix lengths.
    footer = bytearray(data[lay.footer_pos : lay.footer_pos + lay.footer_len])
    rel = pos - lay.footer_pos
    footer[rel : rel + old_len] = new
    delta = len(new) - old_len
    dir_rel = lay.dir_pos - lay.footer_pos
    off, mlen = struct.unpack_from("<QI", footer, dir_rel)
    struct.pack_into("<QI", footer, dir_rel, off, mlen + delta)
    body = data[: lay.footer_pos] + bytes(footer)
    return body + struct.pack("<III", len(footer), crc32c(bytes(footer)), 1) + b"LAMF"


def _read_crafted(name: str) -> dict:
    """Runs in a subprocess under an address-space limit."""
    data = {**crafted_cases(), **big_but_valid_cases()}[name]
    t0 = time.monotonic()
    try:
        read_all(data)
        outcome, msg = "ok", ""
    except Exception as e:
        outcome, msg = type(e).__name__, str(e)
    return {
        "outcome": outcome,
        "message": msg,
        "seconds": time.monotonic() - t0,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


ABSURD = sorted(k for k in crafted_cases() if k != "valid_int64")

# Address space for the subprocess: Python + pyarrow + numpy need ~0.5 GB of mappings;
# the crafted files are all under 200 KB, so 1.5 GB more is already generous.
AS_LIMIT = 2 << 30

_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
sys.path.insert(0, {tests!r})
import test_corruption as t
for name in {names!r}:
    print("START", name, flush=True)
    print("RESULT", json.dumps({{"name": name, **t._read_crafted(name)}}), flush=True)
"""


def _run_children(names: list[str]) -> dict[str, dict]:
    """Reads the crafted files in one subprocess (a fresh one after any that dies)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    results: dict[str, dict] = {}
    todo = list(names)
    while todo:
        code = _CHILD.format(limit=AS_LIMIT, tests=TESTS, names=todo)
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
        started = None
        for line in proc.stdout.splitlines():
            if line.startswith("START "):
                started = line.split(" ", 1)[1]
            elif line.startswith("RESULT "):
                r = json.loads(line.split(" ", 1)[1])
                results[r["name"]] = r
                started = None
        if proc.returncode != 0:
            died = started or todo[0]
            results[died] = {
                "outcome": f"died (exit {proc.returncode})",
                "message": proc.stderr[-2000:],
                "seconds": 0,
                "max_rss_mb": 0,
            }
        todo = [n for n in todo if n not in results]
    return results


@pytest.fixture(scope="module")
def crafted_results() -> dict[str, dict]:
    return _run_children(ABSURD)


def test_crafted_valid_file_reads():
    data = crafted_cases()["valid_int64"]
    t = read_all(data)
    assert t.column("x").to_pylist() == [5] * 10


@pytest.mark.parametrize("name", ABSURD)
def test_crafted_absurd_lengths(crafted_results, name):
    res = crafted_results[name]
    assert res["outcome"] == "CorruptFileError", res
    assert res["seconds"] < 5, res
    assert res["max_rss_mb"] < 1024, res


def test_crafted_files_are_small():
    for name, data in {**crafted_cases(), **big_but_valid_cases()}.items():
        assert len(data) < 200_000, name


@pytest.mark.parametrize("name", sorted(big_but_valid_cases()))
def test_big_valid_files_fail_cleanly_under_memory_limit(name):
    res = _run_children([name])[name]
    ok = ("ok", "InvalidArgumentError", "CorruptFileError", "OutOfMemoryError", "MemoryError")
    assert res["outcome"] in ok, res


# ---- regression inputs found by fuzzing -------------------------------------------------


def _regressions() -> dict[str, bytes]:
    import base64

    out = {}
    for name, b64 in REGRESSIONS.items():
        out[name] = base64.b64decode(b64)
    return out


# name -> base64 of an input that once crashed or misbehaved.
REGRESSIONS: dict[str, str] = {
    # large_list<string> whose child pages are dictionary-encoded: taking rows that are
    # empty lists called TakeValues with m == 0 and idx == nullptr, which the dictionary
    # decoder took for "decode all n" (dictionary.cc `idx ? m : n`): heap-buffer-overflow
    # in BinarySink::Advance, and memset(nullptr, ..., 0) in FillConstantBitmap. Found by
    # cpp/fuzz/fuzz_file_reader.cc (fixed by skipping k == 0 in FileReader::TakeColumn).
    "dict_list_take_empty_rows": (
        "TEFNRgEAAAABAhABAhcRBgAAAAAAAAAAAIEkjBNFUVVZmNZ1IAECIAEFZyAHAFIHAhAIBgAAAAAAAAAAABAYjKT7"
        "PmFoZWxsb2xhbWluYXfDtnJsZHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHjwn5mCAg8g"
        "AwBEDa5b57KwJa210JgBAhABAhURBQAAAAAAAAAAYJRzkFLMwRgjxRwBAhwBBWUcBgBRBgIQBwYAAAAAAAAAAABQ"
        "LFHeAz1oZWxsb2xhbWluYXfDtnJsZHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHjwn5mC"
        "Ag4cAwCE0FTNlA3lxkjsBgECCAECEAkFAAAAAAAAAABgnKRcpBgBAhgBANcBGAIjGQgAAAAAAAAAAAAABAUJCQ8V"
        "FhcXHUVJcXZ8pKSorq6ur6+vAfCfmYJh8J+ZgmxhbWluYWxhbWluYWFhbGFtaW5heHh4eHh4eHh4eHh4eHh4eHh4"
        "eHh4eHh4eHh4eHh4eHh4eHh4eHh4ePCfmYJ4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4"
        "aGVsbG93w7ZybGR4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh48J+ZgnfDtnJsZGEoARFs"
        "YXJnZV9saXN0X3N0cmluZwEBEQRpdGVtAgEMAAAAAS8AAAAAAAAAJAAAAAMIigEQrW8sDQIAAJIBhgEQ6jardgIA"
        "AJgC9AEIlblU+wIAAFMAAACAeVZ1AQAAAExBTUY="
    ),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_fuzz_regression(name):
    _regressions()[name]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    code = (
        "import base64, sys, lamina\n"
        f"sys.path.insert(0, {TESTS!r})\n"
        "import test_corruption as t\n"
        f"data = t._regressions()[{name!r}]\n"
        "try:\n"
        "    t.read_all(data)\n"
        "except lamina.LaminaError:\n"
        "    pass\n"
        "r = lamina.format.FileReader.from_bytes(data)\n"
        "n = r.num_rows\n"
        "sets = [[i] for i in range(min(n, 200))] + [[i, j] for i in range(min(n, 40))\n"
        "                                            for j in range(min(n, 40))]\n"
        "for idx in sets:\n"
        "    try:\n"
        "        r.take(idx)\n"
        "    except lamina.LaminaError:\n"
        "        pass\n"
        "for c in r.schema.names:\n"
        "    try:\n"
        "        r.page_statistics(c)\n"
        "    except lamina.LaminaError:\n"
        "        pass\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
