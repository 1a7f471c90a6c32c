"""Reads and folder creation go through the C++ file layer (cpp/lamina/util/file_io.h),
so faults can be injected there as for writes (tests/test_faults.py): a failing open of
a file to read, or a failing mkdir of a data folder, is a StorageError carrying the
errno, and the table stays readable at its last committed snapshot."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import lamina
import pyarrow as pa
import pytest
from lamina import _core

SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.string())])


@pytest.fixture(autouse=True)
def _disarm() -> Iterator[None]:
    _core._io_fault_clear()
    yield
    _core._io_fault_clear()
    _core._io_count(False)
    _core._io_stats_reset()


def _rows(ks: range, tag: str) -> pa.Table:
    return pa.table({"k": pa.array(list(ks), pa.int64()), "v": [f"{tag}{k}" for k in ks]})


def _table(path: Path) -> lamina.Table:
    t = lamina.create_table(path, SCHEMA, primary_key=["k"], buckets=2)
    t.write(_rows(range(50), "a"))
    return t


def _sorted(t: pa.Table) -> pa.Table:
    return t.sort_by("k")


def test_read_fault_is_storage_error(tmp_path: Path) -> None:
    t = _table(tmp_path / "t")
    expected = _sorted(t.scan().to_arrow())
    _core.reader_cache_clear()  # a cached reader would not open the file again
    _core._io_fault_arm("open", 1, 0, errno.EIO)
    with pytest.raises(lamina.StorageError) as ei:
        lamina.open_table(tmp_path / "t").scan().to_arrow()
    assert ei.value.errno == errno.EIO
    assert _core._io_stats()["faults"]["open"] >= 1
    _core._io_fault_clear()
    assert _sorted(lamina.open_table(tmp_path / "t").scan().to_arrow()).equals(expected)


def test_reads_are_counted(tmp_path: Path) -> None:
    t = _table(tmp_path / "t")
    _core.reader_cache_clear()
    _core._io_stats_reset()
    _core._io_count(True)
    t.scan().to_arrow()
    assert _core._io_stats()["calls"]["open"] >= 1


def test_mkdir_fault_in_write_is_storage_error(tmp_path: Path) -> None:
    t = _table(tmp_path / "t")
    expected = _sorted(t.scan().to_arrow())
    _core._io_fault_arm("mkdir", 1, 1, errno.EACCES)
    with pytest.raises(lamina.StorageError) as ei:
        t.write(_rows(range(40, 90), "b"))
    assert ei.value.errno == errno.EACCES
    reopened = lamina.open_table(tmp_path / "t")
    assert _sorted(reopened.scan().to_arrow()).equals(expected)
    reopened.write(_rows(range(40, 90), "b"))  # the fault was one call: a retry works
    assert reopened.scan().count() == 90


def test_mkdir_fault_in_compaction_is_storage_error(tmp_path: Path) -> None:
    t = _table(tmp_path / "t")
    t.write(_rows(range(25, 75), "b"))
    expected = _sorted(t.scan().to_arrow())
    _core._io_fault_arm("mkdir", 1, 0, errno.ENOSPC)
    with pytest.raises(lamina.StorageError) as ei:
        t.compact(full=True)
    assert ei.value.errno == errno.ENOSPC
    _core._io_fault_clear()
    assert _sorted(lamina.open_table(tmp_path / "t").scan().to_arrow()).equals(expected)
