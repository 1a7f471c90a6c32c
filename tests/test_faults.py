"""Injected I/O faults and durability.

Faults come from the C++ file layer (``_core._io_fault_arm``: data files and manifests)
and from a ``FaultyIO`` (snapshot, schema and tag files, folder fsyncs, removals). For
each fault kind and operation: a ``StorageError`` with the errno, the table reopens at
exactly its last committed snapshot (checked against a dict model), a retry after
disarming succeeds, and ``remove_orphan_files(timedelta(0))`` removes exactly what the
failure left behind. The harness is in tests/reliability/faults_long.py.
"""

from __future__ import annotations

import datetime
import errno
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import lamina
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lamina import _core
from lamina.io import FileIO, NotDurableError
from reliability.faults_long import (
    SCHEMA,
    FaultyIO,
    State,
    create,
    files_on_disk,
    keys_table,
    rows_table,
    run_campaign,
    state_of,
    unreferenced,
)

ZERO = datetime.timedelta(0)


@pytest.fixture(autouse=True)
def _disarm() -> Iterator[None]:
    _core._io_fault_clear()
    _core._io_count(False)
    _core._io_stats_reset()
    yield
    _core._io_fault_clear()
    _core._io_count(False)


# ---- a small table with history, and the operations under test ------------------------

BASE1 = {(0, i): (i, f"a{i}") for i in range(40)} | {(1, i): (-i, "b") for i in range(30)}
BASE2 = {(0, i): (i * 10, "c") for i in range(20, 60)}
DELETED = [(0, 1), (1, 2), (1, 3)]
NEW_ROWS = {(2, i): (i, "new") for i in range(25)} | {(0, 5): (555, "upd")}
DEL_KEYS = [(0, 30), (1, 7)]


def setup_table(path: str, io: FileIO | None = None, **options: str) -> tuple[Any, State]:
    t = create(path, io, **options)
    t.write(rows_table(BASE1))
    t.write(rows_table(BASE2))
    t.delete(keys_table(DELETED))
    model = {**BASE1, **BASE2}
    for k in DELETED:
        del model[k]
    return t, model


def _apply(model: State, rows: State = {}, deletes: list[Any] = []) -> State:  # noqa: B006
    out = {**model, **rows}
    for k in deletes:
        out.pop(k, None)
    return out


def _tx(t: Any) -> None:
    with t.transaction() as tx:
        tx.write(rows_table(NEW_ROWS))
        tx.delete(keys_table(DEL_KEYS))


OPS: dict[str, tuple[Callable[[Any], Any], Callable[[State], State]]] = {
    "write": (lambda t: t.write(rows_table(NEW_ROWS)), lambda m: _apply(m, NEW_ROWS)),
    "delete": (lambda t: t.delete(keys_table(DEL_KEYS)), lambda m: _apply(m, {}, DEL_KEYS)),
    "transaction": (_tx, lambda m: _apply(m, NEW_ROWS, DEL_KEYS)),
    "compact": (lambda t: t.compact(full=True), lambda m: m),
}


# ---- fault kinds ----------------------------------------------------------------------
# Each arms one fault and returns the errno the operation must fail with. C++ faults
# take `nth`, the call to hit; Python ones take the FaultyIO and the table root.


def _cpp(op: str, err: int) -> Callable[[int], int]:
    def arm(nth: int) -> int:
        _core._io_fault_arm(op, nth, 1, err)
        return err

    return arm


def _cpp_enospc(nth: int) -> int:
    # A disk filling up: three short writes, then ENOSPC for good.
    _core._io_fault_arm("write", nth, 3, 0, 5)
    _core._io_fault_arm("write", nth + 3, 0, errno.ENOSPC)
    return errno.ENOSPC


CPP_FAULTS: dict[str, tuple[str, Callable[[int], int]]] = {
    "write-error": ("write", _cpp("write", errno.EIO)),
    "enospc": ("write", _cpp_enospc),
    "fsync": ("fsync", _cpp("fsync", errno.EIO)),
    "create": ("create", _cpp("create", errno.EACCES)),
    "close": ("close", _cpp("close", errno.EDQUOT)),
}


def _py(op: str, err: int, where: str) -> Callable[[FaultyIO, str], int]:
    def arm(io: FaultyIO, root: str) -> int:
        io.arm(op, err=err, path=where if where.startswith(".") else root + where)
        return err

    return arm


def _py_enospc(io: FaultyIO, root: str) -> int:
    io.arm("write", nth=1, times=3, err=0, short=2, path=".tmp-")
    io.arm("write", nth=4, times=0, err=errno.ENOSPC, path=".tmp-")
    return errno.ENOSPC


PY_FAULTS: dict[str, Callable[[FaultyIO, str], int]] = {
    "create-tmp": _py("open", errno.EACCES, ".tmp-"),
    "write-tmp": _py("write", errno.EIO, ".tmp-"),
    "enospc-tmp": _py_enospc,
    "fsync-tmp": _py("fsync", errno.EIO, ".tmp-"),
    "close-tmp": _py("close", errno.EIO, ".tmp-"),
    "link-snapshot": _py("link", errno.EIO, "/snapshot/snapshot-"),
    "fsync-data-dir": _py("fsync", errno.EIO, "/data"),
    "fsync-manifest-dir": _py("fsync", errno.EROFS, "/manifest"),
}


def _count_calls(path: str, tmp: str, op_name: str, cpp_op: str) -> int:
    """How many calls of ``cpp_op`` the operation makes, run on a copy of the table."""
    shutil.copytree(path, tmp)
    _core._io_stats_reset()
    _core._io_count(True)
    OPS[op_name][0](lamina.open_table(tmp))
    _core._io_count(False)
    n = _core._io_stats()["calls"][cpp_op]
    _core._io_stats_reset()
    assert n >= 1
    return n


def _check_failed(
    t: Any, io: FaultyIO, op_name: str, model: State, want_errno: int, leftovers_from: set[str]
) -> None:
    """The operation fails cleanly, leaves only orphans, and succeeds when retried."""
    run, apply = OPS[op_name]
    ids = t._store.ids()
    with pytest.raises(lamina.StorageError) as ei:
        run(t)
    _core._io_fault_clear()
    io.clear()
    err = ei.value
    assert isinstance(err, OSError) and not isinstance(err, NotDurableError)
    assert err.errno == want_errno, err
    assert os.strerror(want_errno) in str(err)
    fresh = lamina.open_table(t.path)
    assert fresh._store.ids() == ids
    assert state_of(fresh) == model
    left = files_on_disk(t.path) - leftovers_from
    assert left == unreferenced(fresh)
    assert set(fresh.remove_orphan_files(ZERO)) == left
    assert unreferenced(fresh) == set()
    assert state_of(fresh) == model
    run(t)  # the same table object, faults gone
    want = apply(model)
    assert state_of(lamina.open_table(t.path)) == want
    if op_name == "compact":
        assert lamina.open_table(t.path).current_snapshot().kind == "compact"


@pytest.mark.parametrize("position", ["first", "last"])
@pytest.mark.parametrize("fault", sorted(CPP_FAULTS))
@pytest.mark.parametrize("op_name", sorted(OPS))
def test_core_fault(tmp_path: Any, op_name: str, fault: str, position: str) -> None:
    """Data files (first call) and the manifest (last call) failing in the core."""
    path = str(tmp_path / "t")
    io = FaultyIO()
    t, model = setup_table(path, io)
    cpp_op, arm = CPP_FAULTS[fault]
    nth = 1 if position == "first" else _count_calls(path, str(tmp_path / "c"), op_name, cpp_op)
    before = files_on_disk(path)
    want = arm(nth)
    _check_failed(t, io, op_name, model, want, before)


@pytest.mark.parametrize("fault", sorted(PY_FAULTS))
@pytest.mark.parametrize("op_name", sorted(OPS))
def test_python_fault(tmp_path: Any, op_name: str, fault: str) -> None:
    """Snapshot creation, folder fsyncs failing in the FileIO."""
    path = str(tmp_path / "t")
    io = FaultyIO()
    t, model = setup_table(path, io)
    before = files_on_disk(path)
    want = PY_FAULTS[fault](io, path)
    _check_failed(t, io, op_name, model, want, before)
    assert io.injected >= 1


@pytest.mark.parametrize("op_name", sorted(OPS))
def test_short_writes_are_completed(tmp_path: Any, op_name: str) -> None:
    """Every write(2) in both layers moves only a few bytes: the files still come out
    whole, because both loop until every byte is written."""
    path = str(tmp_path / "t")
    io = FaultyIO()
    t, model = setup_table(path, io)
    _core._io_fault_arm("write", 1, 0, 0, 7)
    io.arm("write", times=0, err=0, short=3)
    run, apply = OPS[op_name]
    run(t)
    assert _core._io_stats()["faults"]["write"] > 10
    assert io.injected > 10
    _core._io_fault_clear()
    fresh = lamina.open_table(path)
    assert state_of(fresh) == apply(model)
    assert fresh.remove_orphan_files(ZERO) == []


@pytest.mark.parametrize("op_name", sorted(OPS))
def test_snapshot_folder_fsync_failure_is_not_durable(tmp_path: Any, op_name: str) -> None:
    """The snapshot is linked (visible) when its folder's fsync fails: the error says the
    commit may not survive a crash, and the table keeps every file the commit uses."""
    path = str(tmp_path / "t")
    io = FaultyIO()
    t, model = setup_table(path, io)
    ids = t._store.ids()
    io.arm("fsync", err=errno.EIO, path=os.path.join(path, "snapshot"), exact=True)
    with pytest.raises(NotDurableError) as ei:
        OPS[op_name][0](t)
    assert isinstance(ei.value, lamina.StorageError) and ei.value.errno == errno.EIO
    assert "may not survive a crash" in str(ei.value)
    io.clear()
    fresh = lamina.open_table(path)
    assert fresh._store.ids() == [*ids, ids[-1] + 1]
    assert fresh.remove_orphan_files(ZERO) == []
    assert state_of(fresh) == OPS[op_name][1](model)


# ---- create_table and expire_snapshots ------------------------------------------------

CREATE_FAULTS = {
    **{k: v for k, v in PY_FAULTS.items() if k.endswith("-tmp")},
    "link-schema": _py("link", errno.EIO, "/schema/schema-0.json"),
    "fsync-parent-dir": lambda io, root: _py("fsync", errno.EIO, "")(io, os.path.dirname(root)),
}


@pytest.mark.parametrize("fault", sorted(CREATE_FAULTS))
def test_create_table_fault(tmp_path: Any, fault: str) -> None:
    path = str(tmp_path / "t")
    io = FaultyIO()
    want = CREATE_FAULTS[fault](io, path)
    with pytest.raises(lamina.StorageError) as ei:
        create(path, io)
    assert ei.value.errno == want and not isinstance(ei.value, NotDurableError)
    with pytest.raises(lamina.TableNotFoundError):
        lamina.open_table(path)
    assert files_on_disk(path) == set()  # folders at most: no temporary file is left
    io.clear()
    t = create(path, io)  # the retry
    t.write(rows_table(BASE1))
    assert state_of(lamina.open_table(path)) == BASE1


EXPIRE_FAULTS = {
    "unlink-snapshot": ("unlink", "/snapshot/snapshot-"),
    "unlink-data": ("unlink", "/data"),
    "fsync-snapshot-dir": ("fsync", "/snapshot"),
}


@pytest.mark.parametrize("fault", sorted(EXPIRE_FAULTS))
def test_expire_snapshots_fault(tmp_path: Any, fault: str) -> None:
    path = str(tmp_path / "t")
    io = FaultyIO()
    t, model = setup_table(path, io)
    t.compact(full=True)  # so the expired snapshots own files no retained one needs
    latest = t.current_snapshot().id
    op, where = EXPIRE_FAULTS[fault]
    io.arm(op, err=errno.EIO, path=path + where)
    with pytest.raises(lamina.StorageError) as ei:
        t.expire_snapshots(retain_last=1)
    assert ei.value.errno == errno.EIO
    io.clear()
    fresh = lamina.open_table(path)
    assert fresh.current_snapshot().id == latest
    assert state_of(fresh) == model
    for sid in fresh._store.ids():  # whatever was not expired yet still reads
        fresh.read(snapshot=sid)
    fresh.remove_orphan_files(ZERO)
    assert state_of(fresh) == model
    t.expire_snapshots(retain_last=1)  # the retry
    fresh = lamina.open_table(path)
    assert fresh._store.ids() == [latest]
    fresh.remove_orphan_files(ZERO)
    assert unreferenced(fresh) == set()
    assert state_of(fresh) == model


# ---- regressions ------------------------------------------------------------------------


def test_inline_compaction_failure_does_not_fail_the_write(tmp_path: Any) -> None:
    """Regression: a storage error in the compaction after a commit made ``write`` raise
    although its snapshot was committed (a caller would then write twice)."""
    path = str(tmp_path / "t")
    io = FaultyIO()
    options = {"compaction.after_commit": "true", "compaction.num_sorted_run_trigger": "1"}
    t, model = setup_table(path, io, **options)
    assert t.current_snapshot().kind == "compact"  # each commit is followed by one
    io.arm("link", nth=2, err=errno.EIO, path="/snapshot/snapshot-")  # the compaction's
    snap = t.write(rows_table(NEW_ROWS))
    assert io.injected == 1
    fresh = lamina.open_table(path)
    assert fresh.current_snapshot().id == snap.id and snap.kind == "append"
    assert state_of(fresh) == _apply(model, NEW_ROWS)
    fresh.remove_orphan_files(ZERO)
    assert unreferenced(fresh) == set()


def test_temp_file_removal_failure_after_link_keeps_the_commit(tmp_path: Any) -> None:
    """Regression: removing the temporary file after the snapshot was linked raised, and
    the commit was then aborted although visible, deleting files it references."""
    path = str(tmp_path / "t")
    io = FaultyIO()
    t, model = setup_table(path, io)
    io.arm("unlink", times=0, err=errno.EIO, path=".tmp-")
    t.write(rows_table(NEW_ROWS))
    io.clear()
    fresh = lamina.open_table(path)
    assert state_of(fresh) == _apply(model, NEW_ROWS)
    tmp_left = {p for p in files_on_disk(path) if ".tmp-" in p}
    assert tmp_left and set(fresh.remove_orphan_files(ZERO)) == tmp_left


def test_cleanup_failure_keeps_the_original_error(tmp_path: Any) -> None:
    """Regression: when removing a failed transaction's files failed too, that error
    replaced the one that aborted the transaction."""
    path = str(tmp_path / "t")
    io = FaultyIO()
    t, model = setup_table(path, io)
    before = files_on_disk(path)
    io.arm("unlink", times=0, err=errno.EACCES, path=path + "/data")
    with pytest.raises(lamina.StorageError) as ei:
        with t.transaction() as tx:
            tx.write(rows_table(NEW_ROWS))
            _core._io_fault_arm("create", 1, 1, errno.ENOSPC)
            tx.delete(keys_table(DEL_KEYS))
    assert ei.value.errno == errno.ENOSPC
    io.clear()
    fresh = lamina.open_table(path)
    assert state_of(fresh) == model
    left = files_on_disk(path) - before
    assert left and set(fresh.remove_orphan_files(ZERO)) == left


# ---- durability -------------------------------------------------------------------------


def _fsynced(io: FaultyIO) -> list[str]:
    return [p for op, p in io.events if op == "fsync"]


def _index(io: FaultyIO, op: str, needle: str) -> int:
    return next(i for i, (o, p) in enumerate(io.events) if o == op and needle in p)


def test_commit_makes_files_and_folders_durable(tmp_path: Any) -> None:
    path = str(tmp_path / "t")
    io = FaultyIO()
    t = create(path, io)
    io.events.clear()
    _core._io_count(True)
    snap = t.write(rows_table(BASE1 | NEW_ROWS))  # partitions 0, 1, 2; two buckets
    stats = _core._io_stats()["calls"]
    _kinds, files = t._store.read_manifest(snap.delta_manifests[0])
    # Every data file, the changelog and the manifest: created, fsynced and closed by
    # the core.
    assert len(snap.changelog) == 1
    assert stats["create"] == len(files) + 1 + 1
    assert stats["fsync"] == stats["create"] == stats["close"]
    link = _index(io, "link", "/snapshot/snapshot-")
    before_link = {p for op, p in io.events[:link] if op == "fsync"}
    dirs = {os.path.dirname(f.path) for f in files}
    assert len(dirs) == 6
    parents = {os.path.dirname(d) for d in dirs} | {"data"}  # new partition folders
    for rel in dirs | parents | {"manifest", "changelog"}:
        assert os.path.join(path, rel) in before_link, rel
    assert ("fsync", os.path.join(path, "snapshot")) in io.events[link:]
    # The next commit into the same folders fsyncs the bucket folders only.
    io.events.clear()
    snap = t.write(rows_table(NEW_ROWS))
    _kinds, files = t._store.read_manifest(snap.delta_manifests[0])
    synced = set(_fsynced(io))
    assert {os.path.join(path, os.path.dirname(f.path)) for f in files} <= synced
    assert os.path.join(path, "data") not in synced


def test_compaction_makes_its_files_durable(tmp_path: Any) -> None:
    path = str(tmp_path / "t")
    io = FaultyIO()
    t, _ = setup_table(path, io)
    io.events.clear()
    _core._io_count(True)
    snap = t.compact(full=True)
    stats = _core._io_stats()["calls"]
    assert stats["fsync"] == stats["create"] == snap.summary["files_out"] + 1
    kinds, files = t._store.read_manifest(snap.delta_manifests[0])
    link = _index(io, "link", "/snapshot/snapshot-")
    before_link = {p for op, p in io.events[:link] if op == "fsync"}
    added = [f for k, f in zip(kinds, files) if k == 0]
    assert len(added) == snap.summary["files_out"] > 0
    for f in added:
        assert os.path.join(path, os.path.dirname(f.path)) in before_link


def test_expire_makes_snapshot_removal_durable_before_deleting_files(tmp_path: Any) -> None:
    """A snapshot file must not come back after a crash naming files already deleted."""
    path = str(tmp_path / "t")
    io = FaultyIO()
    t, _ = setup_table(path, io)
    t.compact(full=True)
    io.events.clear()
    assert t.expire_snapshots(retain_last=1)
    sync = _index(io, "fsync", os.path.join(path, "snapshot"))
    last_snapshot_unlink = max(
        i for i, (o, p) in enumerate(io.events) if o == "unlink" and "/snapshot/" in p
    )
    first_file_unlink = _index(io, "unlink", path + "/data")
    assert last_snapshot_unlink < sync < first_file_unlink


def test_sync_false_skips_every_fsync(tmp_path: Any) -> None:
    path = str(tmp_path / "t")
    io = FaultyIO()
    t = create(path, io, sync=False)
    assert io.sync is False
    _core._io_count(True)
    t.write(rows_table(BASE1))
    t.compact(full=True)
    t.expire_snapshots()
    assert _core._io_stats()["calls"]["fsync"] == 0
    assert io.calls["fsync"] == 0
    assert lamina.open_table(path, file_io=io).file_io is io and io.sync is False


def test_disarmed_layer_counts_nothing(tmp_path: Any) -> None:
    t = create(str(tmp_path / "t"), None)
    t.write(rows_table(BASE1))
    ops = ("create", "write", "fsync", "close", "unlink", "open", "mkdir")
    assert _core._io_stats() == {"calls": dict.fromkeys(ops, 0), "faults": dict.fromkeys(ops, 0)}


# ---- the core's file layer on its own ---------------------------------------------------


def test_core_errors_carry_errno(tmp_path: Any) -> None:
    data = pa.table({"x": list(range(1000))})
    for op, err in [("create", errno.EACCES), ("write", errno.ENOSPC), ("close", errno.EIO)]:
        _core._io_fault_arm(op, 1, 1, err)
        target = tmp_path / f"{op}.lam"
        with pytest.raises(lamina.StorageError) as ei:
            lamina.format.write_file(target, data, sync=True)
        assert ei.value.errno == err and str(target) in str(ei.value)
        assert not target.exists()  # the partial file is removed
    _core._io_fault_arm("fsync", 2, 1, errno.EIO)  # the second fsync from now
    lamina.format.write_file(tmp_path / "a.lam", data, sync=True)
    with pytest.raises(lamina.StorageError):
        lamina.format.write_file(tmp_path / "b.lam", data, sync=True)
    lamina.format.write_file(tmp_path / "c.lam", data, sync=True)
    assert _core._io_stats()["faults"]["fsync"] == 1


def test_persistent_short_writes_then_enospc(tmp_path: Any) -> None:
    data = pa.table({"x": list(range(5000)), "s": [str(i) for i in range(5000)]})
    _core._io_fault_arm("write", 1, 0, 0, 13)
    lamina.format.write_file(tmp_path / "ok.lam", data)
    assert lamina.format.read_file(tmp_path / "ok.lam").equals(data)
    _core._io_fault_clear()
    _core._io_fault_arm("write", 1, 20, 0, 1)
    _core._io_fault_arm("write", 21, 0, errno.ENOSPC)
    with pytest.raises(lamina.StorageError) as ei:
        lamina.format.write_file(tmp_path / "full.lam", data)
    assert ei.value.errno == errno.ENOSPC
    assert not (tmp_path / "full.lam").exists()


@pytest.mark.parametrize(
    "args",
    [("seek", 1, 1, 5, 0), ("write", 0, 1, 5, 0), ("fsync", 1, 1, 0, 8), ("write", 1, 1, 0, 0)],
)
def test_arm_rejects_bad_faults(args: tuple[str, int, int, int, int]) -> None:
    with pytest.raises(lamina.InvalidArgumentError):
        _core._io_fault_arm(*args)


def test_file_io_is_swappable(tmp_path: Any) -> None:
    path = str(tmp_path / "t")
    io = FaultyIO(sync=False)
    t = create(path, io)
    assert t.file_io is io and io.sync is True  # the write.sync option decides
    t.write(rows_table(BASE1))
    assert io.calls["link"] == 2  # schema-0.json and snapshot-1.json
    other = FaultyIO()
    t2 = lamina.open_table(path, file_io=other)
    t2.tag("v1")
    assert other.calls["link"] == 1 and io.calls["link"] == 2
    assert isinstance(lamina.open_table(path).file_io, FileIO)
    schema_only = lamina.create_table(str(tmp_path / "u"), SCHEMA, ["p", "id"])
    assert schema_only.file_io.sync is True


# ---- random faults during random operations --------------------------------------------


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 6))
def test_random_faults_lose_nothing(tmp_path_factory: Any, seed: int, steps: int) -> None:
    path = str(tmp_path_factory.mktemp("rand") / "t")
    stats = run_campaign(path, seed, steps)
    assert stats.wrong_errors == []
    assert stats.lost_rows == 0


@pytest.mark.slow
def test_many_random_faults(tmp_path: Any) -> None:
    total_faults = 0
    for i in range(4):
        stats = run_campaign(str(tmp_path / f"t{i}"), 1000 + i, 100, sync=i % 2 == 0)
        assert stats.wrong_errors == [] and stats.lost_rows == 0
        total_faults += stats.faults_injected
    assert total_faults > 100
    print(f"faults injected: {total_faults}, lost rows: 0")
