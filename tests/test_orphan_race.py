"""``remove_orphan_files`` racing in-flight commits (issue 10, item 2).

Until its snapshot is linked, every file a commit adds is unreferenced. Orphan removal
used to delete such files and the commit then linked a snapshot naming them: the latest
snapshot raised FileNotFoundError. Commits now announce their files under ``_inflight/``
and check them after waiting out a cleaner's deletion phase (``lamina._inflight``).

Deterministic interleavings pause the writer (or the cleaner) at one step through a
``FileIO`` subclass, in a thread and in a child process; randomised runs slow every step
a little while orphan removal runs in a loop with ``timedelta(0)``. Afterwards every
snapshot must read exactly as the model says; a write may fail only with a typed error
and then commits nothing.
"""

from __future__ import annotations

import datetime
import errno
import multiprocessing as mp
import os
import random
import threading
import time
from typing import Any

import lamina
import pyarrow as pa
import pytest
from lamina.io import FileIO

ZERO = datetime.timedelta(0)
SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.int64())])
WAIT = 30.0  # seconds any single step may take before the test gives up


def rows(i: int) -> pa.Table:
    """Write ``i``: keys overlapping the previous write's, value ``i``."""
    keys = list(range(i * 5, i * 5 + 10))
    return pa.table({"k": keys, "v": [i] * len(keys)}, schema=SCHEMA)


def create(path: str, sync: bool = True) -> lamina.Table:
    return lamina.create_table(
        path, SCHEMA, primary_key=["k"], options={"write.sync": str(sync).lower()}
    )


def check_model(path: str, journal: dict[int, int]) -> None:
    """Every snapshot reads as the writes committed up to it; ``journal``: snapshot id ->
    write number. Snapshots not in the journal must be compactions."""
    t = lamina.open_table(path)
    state: dict[int, int] = {}
    for snap in t.snapshots():
        if snap.id in journal:
            for k, v in zip(*rows(journal[snap.id]).to_pydict().values()):
                state[k] = v
        else:
            assert snap.kind == "compact", f"snapshot {snap.id} is in no journal"
        got = t.read(snapshot=snap.id).sort_by("k").to_pydict()
        assert dict(zip(got["k"], got["v"])) == state, f"snapshot {snap.id} differs"
        assert t.scan(snapshot=snap.id).count() == len(state)


def unreferenced_data(path: str) -> list[str]:
    t = lamina.open_table(path)
    refs = {f.path for s in t.snapshots() for f in t._store.live_files(s)}
    out = []
    for dirpath, _dirs, names in os.walk(os.path.join(path, "data")):
        for n in names:
            rel = os.path.relpath(os.path.join(dirpath, n), path).replace(os.sep, "/")
            if rel not in refs:
                out.append(rel)
    return out


# ---- a FileIO that stops at one step ---------------------------------------------------

POINTS = {
    # data files written, the commit not begun (the fsync of their folder, write.sync on)
    "before_commit": ("dir", f"{os.sep}data{os.sep}"),
    # the commit's manifest written, not yet announced (the fsync of manifest/)
    "manifest_written": ("dir", f"{os.sep}manifest"),
    # the snapshot's temporary file being written
    "temp_written": ("write", f"{os.sep}snapshot{os.sep}.tmp-"),
    # about to link the snapshot into place
    "link": ("link", f"{os.sep}snapshot{os.sep}snapshot-"),
    # about to link a tag into place
    "tag_link": ("link", f"{os.sep}tag{os.sep}"),
    # the cleaner about to delete its first file
    "unlink": ("unlink", os.sep),
}


class PausingIO(FileIO):
    """Stops at the first call matching ``point``: sets ``reached``, waits for ``resume``."""

    def __init__(self, point: str, reached: Any, resume: Any, sync: bool = True) -> None:
        super().__init__(sync)
        self.op, self.fragment = POINTS[point]
        self.reached, self.resume = reached, resume
        self.armed = True
        self._paths: dict[int, str] = {}

    def _hit(self, op: str, path: str) -> None:
        # Match on "<sep><folder><sep><name>": the table's own path never interferes.
        tail = os.sep + os.path.join(
            os.path.basename(os.path.dirname(path)), os.path.basename(path)
        )
        if self.armed and op == self.op and self.fragment in tail:
            self.armed = False
            self.reached.set()
            if not self.resume.wait(WAIT):
                raise TimeoutError("never resumed")

    def open_fd(self, path: str, flags: int, mode: int = 0o644) -> int:
        if flags & os.O_DIRECTORY:
            self._hit("dir", path + os.sep)
        fd = super().open_fd(path, flags, mode)
        self._paths[fd] = path
        return fd

    def write_fd(self, fd: int, data: memoryview) -> int:
        self._hit("write", self._paths.get(fd, ""))
        return super().write_fd(fd, data)

    def close_fd(self, fd: int) -> None:
        self._paths.pop(fd, None)
        super().close_fd(fd)

    def link(self, src: str, dst: str) -> None:
        self._hit("link", dst)
        super().link(src, dst)

    def unlink(self, path: str) -> None:
        self._hit("unlink", path)
        super().unlink(path)


class JitterIO(FileIO):
    """Sleeps a little (0-4 ms) before the steps of a commit."""

    def __init__(self, seed: int, sync: bool = True) -> None:
        super().__init__(sync)
        self.rng = random.Random(seed)

    def _nap(self) -> None:
        time.sleep(self.rng.random() * 0.004)

    def open_fd(self, path: str, flags: int, mode: int = 0o644) -> int:
        self._nap()
        return super().open_fd(path, flags, mode)

    def fsync_fd(self, fd: int) -> None:
        self._nap()
        super().fsync_fd(fd)

    def link(self, src: str, dst: str) -> None:
        self._nap()
        super().link(src, dst)


def outcome_of(fn: Any) -> tuple[str, Any]:
    """("ok", snapshot id) or ("error", (class name, errno)) of a write."""
    try:
        return "ok", fn().id
    except lamina.LaminaError as e:
        return "error", (type(e).__name__, getattr(e, "errno", None))


def assert_clean_outcome(outcome: tuple[str, Any], point: str) -> None:
    kind, detail = outcome
    if kind == "ok":
        return
    # Only files written before the commit began can be lost (they were not announced
    # yet): then the commit notices and fails, committing nothing.
    assert point in ("before_commit", "unlink"), f"write failed at {point}: {detail}"
    assert detail == ("StorageError", errno.ENOENT), detail


def setup_table(path: str) -> dict[int, int]:
    t = create(path)
    journal = {t.write(rows(0)).id: 0, t.write(rows(1)).id: 1}
    with open(os.path.join(path, "data", "stray.lam"), "wb") as f:
        f.write(b"an orphan")  # something for the cleaner to delete first
    return journal


# ---- threads --------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["before_commit", "manifest_written", "temp_written", "link"])
def test_orphan_removal_while_a_commit_is_paused(tmp_path, point):
    """The writer stops at ``point``; orphan removal with timedelta(0) runs to the end."""
    path = str(tmp_path / "t")
    journal = setup_table(path)
    reached, resume = threading.Event(), threading.Event()
    writer = lamina.open_table(path, file_io=PausingIO(point, reached, resume))
    result: list[tuple[str, Any]] = []
    th = threading.Thread(target=lambda: result.append(outcome_of(lambda: writer.write(rows(2)))))
    th.start()
    assert reached.wait(WAIT)
    removed = lamina.open_table(path).remove_orphan_files(ZERO)
    assert os.path.join("data", "stray.lam") in removed
    resume.set()
    th.join(WAIT)
    assert not th.is_alive()
    assert_clean_outcome(result[0], point)
    if result[0][0] == "ok":
        journal[result[0][1]] = 2
    check_model(path, journal)
    # Nothing the commit announced is left behind, and a later cleanup finds no leftovers
    # but the files of a failed write.
    assert os.listdir(os.path.join(path, "_inflight")) == []
    lamina.open_table(path).remove_orphan_files(ZERO)
    assert unreferenced_data(path) == []
    check_model(path, journal)


def test_commit_waits_for_a_cleaner_mid_deletion(tmp_path):
    """The cleaner decided what to delete and stops before its first deletion; meanwhile
    a writer whose data files it listed commits. The commit must not link a snapshot
    naming files the cleaner is about to delete (it used to, and succeeded)."""
    path = str(tmp_path / "t")
    journal = setup_table(path)
    w_reached, w_resume = threading.Event(), threading.Event()
    c_reached, c_resume = threading.Event(), threading.Event()
    writer = lamina.open_table(path, file_io=PausingIO("before_commit", w_reached, w_resume))
    cleaner = lamina.open_table(path, file_io=PausingIO("unlink", c_reached, c_resume))
    result: list[tuple[str, Any]] = []
    removed: list[list[str]] = []
    tw = threading.Thread(target=lambda: result.append(outcome_of(lambda: writer.write(rows(2)))))
    tc = threading.Thread(target=lambda: removed.append(cleaner.remove_orphan_files(ZERO)))
    tw.start()
    assert w_reached.wait(WAIT)  # the writer's data files exist, unreferenced
    tc.start()
    assert c_reached.wait(WAIT)  # the cleaner listed them and is about to delete
    w_resume.set()
    tw.join(1.0)  # the commit waits for the cleaner (it used to link right away)
    c_resume.set()
    tc.join(WAIT)
    tw.join(WAIT)
    assert not tw.is_alive() and not tc.is_alive()
    assert_clean_outcome(result[0], "unlink")
    if result[0][0] == "ok":
        journal[result[0][1]] = 2
    check_model(path, journal)


def test_announced_files_are_kept_until_released(tmp_path):
    from lamina import _inflight

    path = str(tmp_path / "t")
    setup_table(path)
    t = lamina.open_table(path)
    names = ["data/bucket-0/mine-0.lam", "data/bucket-0/pre-1.lam", "manifest/m.lam"]
    for rel in names:
        with open(os.path.join(path, rel), "wb") as f:
            f.write(b"x")
    with _inflight.Announcement(path) as a:
        a.add(["data/bucket-0/mine-0.lam", "manifest/m.lam"])
        a.add_prefix("pre")
        removed = t.remove_orphan_files(ZERO)
        assert sorted(removed) == [os.path.join("data", "stray.lam")]
        assert a.missing(names) == []
    assert sorted(r.replace(os.sep, "/") for r in t.remove_orphan_files(ZERO)) == sorted(names)
    assert os.listdir(os.path.join(path, "_inflight")) == []


def test_a_temporary_file_being_written_is_not_removed(tmp_path):
    """A ``.tmp-`` file of a write_new in progress is locked; a leftover is not."""
    path = str(tmp_path / "t")
    setup_table(path)
    reached, resume = threading.Event(), threading.Event()
    io = PausingIO("tag_link", reached, resume)
    t = lamina.open_table(path, file_io=io)
    th = threading.Thread(target=lambda: t.tag("v1"))
    th.start()
    assert reached.wait(WAIT)
    leftover = os.path.join(path, "tag", ".tmp-leftover")
    with open(leftover, "wb") as f:
        f.write(b"{}")
    removed = lamina.open_table(path).remove_orphan_files(ZERO)
    assert os.path.join("tag", ".tmp-leftover") in removed
    assert not any(".tmp-" in r and "leftover" not in r for r in removed)
    resume.set()
    th.join(WAIT)
    assert lamina.open_table(path).tags() == {"v1": 2}


# ---- processes ------------------------------------------------------------------------


def _paused_writer(path: str, point: str, reached: Any, resume: Any, out: Any) -> None:
    t = lamina.open_table(path, file_io=PausingIO(point, reached, resume))
    out.put(outcome_of(lambda: t.write(rows(2))))


@pytest.mark.parametrize("point", ["before_commit", "link"])
def test_orphan_removal_while_another_process_commits(tmp_path, point):
    path = str(tmp_path / "t")
    journal = setup_table(path)
    ctx = mp.get_context("spawn")
    reached, resume, out = ctx.Event(), ctx.Event(), ctx.Queue()
    p = ctx.Process(target=_paused_writer, args=(path, point, reached, resume, out))
    p.start()
    try:
        assert reached.wait(60)
        lamina.open_table(path).remove_orphan_files(ZERO)
        resume.set()
        result = out.get(timeout=60)
    finally:
        resume.set()
        p.join(60)
    assert p.exitcode == 0
    assert_clean_outcome(result, point)
    if result[0] == "ok":
        journal[result[1]] = 2
    check_model(path, journal)


def _killed_writer(path: str) -> None:
    from lamina import _inflight

    a = _inflight.Announcement(path)
    a.add(["data/bucket-0/dead-0.lam"])
    with open(os.path.join(path, "data", "bucket-0", "dead-0.lam"), "wb") as f:
        f.write(b"x")
    os._exit(9)  # like a SIGKILL: nothing released, the kernel drops the lock


def test_a_dead_writers_announcement_blocks_nothing(tmp_path):
    path = str(tmp_path / "t")
    setup_table(path)
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_killed_writer, args=(path,))
    p.start()
    p.join(60)
    assert p.exitcode == 9
    assert [n for n in os.listdir(os.path.join(path, "_inflight")) if n.startswith("w-")]
    removed = lamina.open_table(path).remove_orphan_files(ZERO)
    assert os.path.join("data", "bucket-0", "dead-0.lam") in removed
    assert os.listdir(os.path.join(path, "_inflight")) == []


def test_without_flock_announcements_age_out(tmp_path, monkeypatch):
    """Where flock is unsupported, a marker is live until it is MARKER_TTL_S old."""
    from lamina import _inflight
    from lamina import io as lio

    path = str(tmp_path / "t")
    setup_table(path)
    monkeypatch.setattr(lio, "fcntl", None)  # FileIO.lock_fd: "unsupported"
    orphan = os.path.join(path, "data", "bucket-0", "late-0.lam")
    with open(orphan, "wb") as f:
        f.write(b"x")
    a = _inflight.Announcement(path)
    a.add_prefix("late")
    t = lamina.open_table(path)
    assert os.path.join("data", "bucket-0", "late-0.lam") not in t.remove_orphan_files(ZERO)
    old = time.time() - _inflight.MARKER_TTL_S - 60
    os.utime(a.path, (old, old))  # as if its writer died a day ago
    assert os.path.join("data", "bucket-0", "late-0.lam") in t.remove_orphan_files(ZERO)
    a.release()


# ---- randomised runs ------------------------------------------------------------------


def _jitter_writer(path: str, first: int, count: int, seed: int) -> dict[int, int]:
    t = lamina.open_table(path, file_io=JitterIO(seed))
    journal = {}
    for i in range(first, first + count):
        kind, detail = outcome_of(lambda i=i: t.write(rows(i)))
        if kind == "ok":
            journal[detail] = i
        else:  # only a write whose data files went before its commit began may fail
            assert detail == ("StorageError", errno.ENOENT), detail
    return journal


def _jitter_writer_proc(path: str, first: int, count: int, seed: int, out: Any) -> None:
    out.put(_jitter_writer(path, first, count, seed))


def _clean_until(path: str, done: Any) -> int:
    t = lamina.open_table(path)
    rng = random.Random(3)
    runs = 0
    while not done():
        t.remove_orphan_files(ZERO)
        runs += 1
        time.sleep(rng.random() * 0.004)
    return runs


def _run_random(tmp_path: Any, writes: int, use_processes: bool) -> None:
    path = str(tmp_path / "t")
    journal = setup_table(path)
    if use_processes:
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        p = ctx.Process(target=_jitter_writer_proc, args=(path, 2, writes, 7, out))
        p.start()
        got: list[dict[int, int]] = []

        def done() -> bool:
            if not got and not out.empty():
                got.append(out.get())
            return bool(got) or not p.is_alive()

        runs = _clean_until(path, done)
        p.join(60)
        assert p.exitcode == 0
        if not got:
            got.append(out.get(timeout=10))
        journal.update(got[0])
    else:
        got_t: list[dict[int, int]] = []
        th = threading.Thread(target=lambda: got_t.append(_jitter_writer(path, 2, writes, 7)))
        th.start()
        runs = _clean_until(path, lambda: not th.is_alive())
        th.join()
        journal.update(got_t[0])
    assert runs >= 2
    check_model(path, journal)
    # Most writes commit: a transaction announces its data files as it writes them.
    assert len(journal) >= 2 + writes // 2


def test_orphan_removal_in_a_loop_beside_a_writer_thread(tmp_path):
    _run_random(tmp_path, writes=25, use_processes=False)


def test_orphan_removal_in_a_loop_beside_a_writer_process(tmp_path):
    _run_random(tmp_path, writes=25, use_processes=True)


@pytest.mark.slow
@pytest.mark.parametrize("use_processes", [False, True])
def test_orphan_removal_in_a_loop_long(tmp_path, use_processes):
    _run_random(tmp_path, writes=300, use_processes=use_processes)


def test_a_linked_inflight_folder_is_refused(tmp_path):
    """Markers are never written, nor stale ones removed, through a planted link."""
    path = str(tmp_path / "t")
    setup_table(path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "w-canary").write_bytes(b"keep")
    if os.path.isdir(os.path.join(path, "_inflight")):
        os.rmdir(os.path.join(path, "_inflight"))  # empty: no write is in flight
    os.symlink(outside, os.path.join(path, "_inflight"))
    t = lamina.open_table(path)
    with pytest.raises(lamina.CorruptFileError):
        t.remove_orphan_files(ZERO)
    with pytest.raises(lamina.CorruptFileError):
        t.write(rows(2))
    assert sorted(os.listdir(outside)) == ["w-canary"]
    assert [s.id for s in t.snapshots()] == [1, 2]
