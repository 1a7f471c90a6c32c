"""The Python side's file system calls all go through the table's ``FileIO``.

A ``FileIO`` subclass sees (and can fail) the ``stat``/``lstat``/``realpath`` of the
containment checks and the manifest cache, the folder listings, and every operation on
the in-flight markers (``lamina._inflight``). A fault there makes the operation raise
``StorageError`` with the errno and leaves the table readable at its last snapshot.
"""

from __future__ import annotations

import datetime
import errno
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import lamina
import pyarrow as pa
import pytest
from lamina import _inflight
from lamina.errors import StorageError
from lamina.io import FileIO

ZERO = datetime.timedelta(0)
SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.string())])


class RecordingIO(FileIO):
    """Counts the calls of the primitives added for the Python side and fails those
    for which ``fail(name, path)`` is true."""

    def __init__(self) -> None:
        super().__init__(sync=False)
        self.calls: Counter[str] = Counter()
        self.fail: Callable[[str, str], bool] = lambda name, path: False

    def _see(self, name: str, path: str) -> None:
        self.calls[name] += 1
        if self.fail(name, path):
            raise OSError(errno.EIO, f"injected {name} fault", path)

    def stat(self, path: str) -> os.stat_result:
        self._see("stat", path)
        return super().stat(path)

    def lstat(self, path: str) -> os.stat_result:
        self._see("lstat", path)
        return super().lstat(path)

    def realpath(self, path: str) -> str:
        self._see("realpath", path)
        return super().realpath(path)

    def is_link(self, path: str) -> bool:
        self._see("is_link", path)
        return super().is_link(path)

    def lexists(self, path: str) -> bool:
        self._see("lexists", path)
        return super().lexists(path)

    def listdir(self, path: str) -> list[str]:
        self._see("listdir", path)
        return super().listdir(path)

    def open_marker(self, path: str, create: bool) -> int:
        self._see("open_marker_create" if create else "open_marker", path)
        return super().open_marker(path, create)

    def rename_marker(self, src: str, dst: str) -> None:
        self._see("rename_marker", dst)
        super().rename_marker(src, dst)

    def unlink_marker(self, path: str) -> None:
        self._see("unlink_marker", path)
        super().unlink_marker(path)

    def open_fd(self, path: str, flags: int, mode: int = 0o644) -> int:
        self._see("open_fd", path)
        return super().open_fd(path, flags, mode)


def rows(ids: range, tag: str = "a") -> pa.Table:
    return pa.table({"id": list(ids), "v": [f"{tag}{i}" for i in ids]}, schema=SCHEMA)


@pytest.fixture
def table(tmp_path: Any) -> tuple[lamina.Table, RecordingIO]:
    io = RecordingIO()
    t = lamina.create_table(tmp_path / "t", SCHEMA, ["id"], buckets=2, file_io=io)
    t.write(rows(range(50)))
    t.write(rows(range(25, 75), "b"))
    t.delete(pa.table({"id": [3, 4]}))
    return t, io


def contents(t: lamina.Table) -> list[dict[str, Any]]:
    return sorted(t.read().to_pylist(), key=lambda r: r["id"])


def check_unharmed(t: lamina.Table, before: list[dict[str, Any]], snap: int) -> None:
    """The table reads as before, through its own FileIO and reopened with a fresh one."""
    io = t.file_io
    assert isinstance(io, RecordingIO)
    io.fail = lambda name, path: False
    assert t.current_snapshot().id == snap  # type: ignore[union-attr]
    assert contents(t) == before
    again = lamina.open_table(t.path)
    assert again.current_snapshot().id == snap  # type: ignore[union-attr]
    assert contents(again) == before
    t.write(rows(range(1000, 1003)))  # and still writable
    assert len(contents(t)) == len(before) + 3


def test_python_side_calls_go_through_file_io(table: tuple[lamina.Table, RecordingIO]) -> None:
    t, io = table
    assert io.calls["open_marker_create"] >= 3  # one announcement per commit
    assert io.calls["rename_marker"] >= 3
    assert io.calls["unlink_marker"] >= 3
    io.calls.clear()
    t.compact(full=True)
    contents(lamina.open_table(t.path, file_io=io))
    t.remove_orphan_files(ZERO)
    for name in ("stat", "lstat", "realpath", "listdir", "lexists", "is_link"):
        assert io.calls[name] > 0, name
    assert io.calls["open_marker_create"] >= 2  # the compaction's and the cleaner's


def test_markers_do_not_use_the_table_file_primitives(
    table: tuple[lamina.Table, RecordingIO],
) -> None:
    """A fault armed on ``open_fd`` (the table's files) never lands on a marker."""
    t, io = table
    inflight = os.path.join(t.path, _inflight.INFLIGHT_DIR)
    io.fail = lambda name, path: name == "open_fd" and path.startswith(inflight)
    t.write(rows(range(100, 110)))
    t.compact(full=True)
    t.remove_orphan_files(ZERO)
    assert len(contents(t)) == 83


@pytest.mark.parametrize("name", ["stat", "lstat", "realpath", "listdir", "lexists"])
def test_fault_in_a_read_primitive_fails_remove_orphan_files(
    table: tuple[lamina.Table, RecordingIO], name: str
) -> None:
    t, io = table
    before, snap = contents(t), t.current_snapshot().id  # type: ignore[union-attr]
    with open(os.path.join(t.path, "data", "stray.lam"), "wb") as f:
        f.write(b"an orphan: its age is read through stat")
    fresh = lamina.open_table(t.path, file_io=io)  # nothing checked or cached yet
    io.fail = lambda n, path: n == name
    with pytest.raises(StorageError) as e:
        fresh.remove_orphan_files(ZERO)
    assert e.value.errno == errno.EIO
    check_unharmed(t, before, snap)


def test_stat_fault_on_a_manifest_fails_compaction(
    table: tuple[lamina.Table, RecordingIO],
) -> None:
    """The manifest cache stats the file through FileIO (``manifest._file_identity``)."""
    t, io = table
    before, snap = contents(t), t.current_snapshot().id  # type: ignore[union-attr]
    fresh = lamina.open_table(t.path, file_io=io)  # its manifests are not cached yet
    io.fail = lambda n, path: n == "stat" and os.sep + "manifest" + os.sep in path
    with pytest.raises(OSError) as e:
        fresh.compact(full=True)
    assert isinstance(e.value, StorageError)
    assert e.value.errno == errno.EIO
    check_unharmed(t, before, snap)


def test_listdir_fault_on_inflight_fails_the_cleaner(
    table: tuple[lamina.Table, RecordingIO],
) -> None:
    t, io = table
    before, snap = contents(t), t.current_snapshot().id  # type: ignore[union-attr]
    inflight = os.path.join(t.path, _inflight.INFLIGHT_DIR)
    io.fail = lambda n, path: n == "listdir" and path == inflight
    with pytest.raises(StorageError) as e:
        t.remove_orphan_files(ZERO)
    assert e.value.errno == errno.EIO
    check_unharmed(t, before, snap)


@pytest.mark.parametrize(
    "operation",
    [
        lambda t: t.write(rows(range(200, 210))),
        lambda t: t.delete(pa.table({"id": [1, 2]})),
        lambda t: t.compact(full=True),
        lambda t: t.remove_orphan_files(ZERO),
    ],
    ids=["write", "delete", "compact", "remove_orphan_files"],
)
@pytest.mark.parametrize("primitive", ["open_marker_create", "rename_marker"])
def test_marker_creation_fault_fails_the_operation(
    table: tuple[lamina.Table, RecordingIO],
    operation: Callable[[lamina.Table], object],
    primitive: str,
) -> None:
    t, io = table
    before, snap = contents(t), t.current_snapshot().id  # type: ignore[union-attr]
    data_before = sorted(io.walk(os.path.join(t.path, "data")))
    io.fail = lambda n, path: n == primitive
    with pytest.raises(StorageError) as e:
        operation(t)
    assert e.value.errno == errno.EIO
    # Announcing comes first: the failed operation wrote and removed nothing.
    assert sorted(io.walk(os.path.join(t.path, "data"))) == data_before
    inflight = os.path.join(t.path, _inflight.INFLIGHT_DIR)
    assert not [n for n in os.listdir(inflight) if not n.startswith(_inflight.TEMP)]
    check_unharmed(t, before, snap)


def test_marker_release_fault_leaves_a_stale_marker_the_cleaner_removes(
    table: tuple[lamina.Table, RecordingIO],
) -> None:
    """Unlinking a marker may fail: the write still commits, and since the marker is
    unlocked once closed, the next cleaner removes it."""
    t, io = table
    io.fail = lambda n, path: n == "unlink_marker"
    snap = t.write(rows(range(300, 305)))
    inflight = os.path.join(t.path, _inflight.INFLIGHT_DIR)
    assert [n for n in os.listdir(inflight) if n.startswith("w-")]
    io.fail = lambda n, path: False
    t.remove_orphan_files(ZERO)
    assert os.listdir(inflight) == []
    assert t.current_snapshot().id == snap.id  # type: ignore[union-attr]
