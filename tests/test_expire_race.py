"""Reads and compactions racing ``expire_snapshots`` (issue 10, item 9).

Under concurrent ``compact()`` + ``expire_snapshots(retain_last=1)``, a plain
``t.read()`` raised a raw FileNotFoundError and ``compact()`` raised StorageError. Now a
read of the latest snapshot whose snapshot is expired under it reads the new latest one
(``lamina._retry``), a read pinned to a snapshot that is or got expired raises
``SnapshotExpiredError``, and a compaction that loses the race returns None.

Deterministic tests expire the snapshot at a chosen moment (from a hook into the core);
randomised runs put a writer, a compactor, an expirer and readers (threads, then
processes) together for a few seconds and check every read against the model: each must
equal the table after some committed write.
"""

from __future__ import annotations

import datetime
import hashlib
import multiprocessing as mp
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import lamina
import pyarrow as pa
import pytest
from lamina import _core

SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.int64())])
OPTIONS = {"write.sync": "false", "compaction.num_sorted_run_stop_trigger": "1000"}


def rows(i: int) -> pa.Table:
    """Write ``i``: keys overlapping the previous write's, value ``i``."""
    keys = list(range(i * 3, i * 3 + 10))
    return pa.table({"k": keys, "v": [i] * len(keys)}, schema=SCHEMA)


def state_after(writes: int) -> dict[int, int]:
    state: dict[int, int] = {}
    for i in range(writes):
        for k in range(i * 3, i * 3 + 10):
            state[k] = i
    return state


def digest(pairs: Any) -> str:
    return hashlib.sha1(repr(sorted(pairs)).encode()).hexdigest()


def table_digest(t: pa.Table) -> str:
    d = t.to_pydict()
    return digest(zip(d["k"], d["v"]))


def create(path: str, writes: int = 3, **options: str) -> lamina.Table:
    t = lamina.create_table(path, SCHEMA, primary_key=["k"], options={**OPTIONS, **options})
    for i in range(writes):
        t.write(rows(i))
    return t


def expire_everything_but_a_new_latest(path: str, i: int) -> None:
    """Another process' view: a new write, a full compaction, then expiration of every
    older snapshot (their files are deleted)."""
    other = lamina.open_table(path)
    other.write(rows(i))
    assert other.compact(full=True) is not None
    assert other.expire_snapshots(retain_last=1)


class DuringRead:
    """Runs ``action`` once, right before the core's first merge read (after planning)."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.orig = _core.table_merge_read

    def __enter__(self) -> DuringRead:
        def hooked(*a: Any, **kw: Any) -> Any:
            _core.table_merge_read = self.orig
            self.action()
            return self.orig(*a, **kw)

        _core.table_merge_read = hooked
        return self

    def __exit__(self, *exc: object) -> None:
        _core.table_merge_read = self.orig


# ---- reads of the latest snapshot follow it ----------------------------------------------


def test_read_of_latest_reads_the_new_latest_when_its_snapshot_is_expired_mid_read(tmp_path):
    path = str(tmp_path / "t")
    t = create(path)
    with DuringRead(lambda: expire_everything_but_a_new_latest(path, 3)):
        got = t.read()
    assert table_digest(got) == digest(state_after(4).items())


@pytest.mark.parametrize("method", ["to_arrow", "count", "to_batches", "take", "plan"])
def test_scan_of_latest_expired_before_it_reads_follows_latest(tmp_path, method):
    path = str(tmp_path / "t")
    t = create(path)
    s = t.scan()
    expire_everything_but_a_new_latest(path, 3)
    want = state_after(4)
    if method == "to_arrow":
        assert table_digest(s.to_arrow()) == digest(want.items())
    elif method == "count":
        assert s.count() == len(want)
    elif method == "to_batches":
        assert table_digest(pa.Table.from_batches(list(s.to_batches()))) == digest(want.items())
    elif method == "take":
        got = s.take([0, 5]).to_pydict()
        ordered = sorted(want.items())
        assert list(zip(got["k"], got["v"])) == [ordered[0], ordered[5]]
    else:
        assert len(s.plan()) == 1
        assert table_digest(s.to_arrow()) == digest(want.items())
    assert s.snapshot is not None and s.snapshot.id == t.current_snapshot().id


def test_count_of_latest_expired_mid_read(tmp_path):
    path = str(tmp_path / "t")
    t = create(path)
    with DuringRead(lambda: expire_everything_but_a_new_latest(path, 3)):
        assert t.scan().count() == len(state_after(4))


def test_to_batches_after_the_first_batch_raises_typed_error(tmp_path):
    """Restarting would repeat rows: an expiration after the first batch is an error."""
    path = str(tmp_path / "t")
    t = lamina.create_table(path, SCHEMA, primary_key=["k"], buckets=4, options=OPTIONS)
    for i in range(3):
        t.write(rows(i))
    batches = t.scan().to_batches()
    next(batches)
    expire_everything_but_a_new_latest(path, 3)
    with pytest.raises(lamina.SnapshotExpiredError):
        list(batches)


# ---- reads pinned to a snapshot raise a typed error ------------------------------------


def test_pinned_read_of_a_snapshot_expired_mid_read_raises_snapshot_expired(tmp_path):
    path = str(tmp_path / "t")
    t = create(path)
    sid = t.current_snapshot().id
    with DuringRead(lambda: expire_everything_but_a_new_latest(path, 3)):
        with pytest.raises(lamina.SnapshotExpiredError, match=f"snapshot {sid}"):
            t.read(snapshot=sid)


@pytest.mark.parametrize("method", ["to_arrow", "count", "take"])
def test_pinned_scan_of_an_expired_snapshot_raises_snapshot_expired(tmp_path, method):
    path = str(tmp_path / "t")
    t = create(path)
    s = t.scan(snapshot=t.current_snapshot().id)
    expire_everything_but_a_new_latest(path, 3)
    with pytest.raises(lamina.SnapshotExpiredError):
        if method == "take":
            s.take([0])
        else:
            getattr(s, method)()


def test_a_scan_that_returned_data_stays_pinned(tmp_path):
    """take() positions refer to the snapshot count() saw: no silent switch."""
    path = str(tmp_path / "t")
    t = create(path)
    s = t.scan()
    assert s.count() == len(state_after(3))
    expire_everything_but_a_new_latest(path, 3)
    with pytest.raises(lamina.SnapshotExpiredError):
        s.take([0])


def test_reading_an_expired_id_is_a_lamina_error(tmp_path):
    path = str(tmp_path / "t")
    t = create(path)
    sid = t.current_snapshot().id
    expire_everything_but_a_new_latest(path, 3)
    with pytest.raises(lamina.LaminaError):
        t.read(snapshot=sid)


def test_a_missing_file_of_a_retained_snapshot_is_not_retried(tmp_path):
    """Only an expiration is a race; a damaged table still says which file is missing."""
    path = str(tmp_path / "t")
    t = create(path)
    f = t._live_files(t.current_snapshot())[0]
    os.unlink(os.path.join(path, f.path))
    with pytest.raises(FileNotFoundError):
        lamina.open_table(path).read()


# ---- compaction that loses the race returns None ----------------------------------------


# Folding manifests at every commit makes expiration delete the manifests of the expired
# snapshots too, not only their data files.
FOLD = {"manifest.merge_min_count": "1"}


def test_compaction_whose_snapshot_is_expired_before_it_reads_manifests_returns_none(
    tmp_path,
):
    path = str(tmp_path / "t")
    create(path, **FOLD)
    mine = lamina.open_table(path)
    orig = mine._ctx.table_schema
    fired = []

    def hooked(schema_id: Any = None) -> Any:  # between resolving latest and planning
        if not fired:
            fired.append(1)
            expire_everything_but_a_new_latest(path, 3)
        return orig(schema_id)

    mine._ctx.table_schema = hooked  # type: ignore[method-assign]
    assert mine.compact(full=True) is None
    assert fired
    t = lamina.open_table(path)
    assert table_digest(t.read()) == digest(state_after(4).items())
    assert [s.kind for s in t.snapshots()] == ["compact"]


@pytest.mark.parametrize("options", [{}, FOLD])
def test_compaction_whose_inputs_are_expired_mid_merge_returns_none(tmp_path, options):
    path = str(tmp_path / "t")
    create(path, **options)
    mine = lamina.open_table(path)
    merge = _core.table_compact

    def racing(inputs: Any, options: Any) -> Any:
        _core.table_compact = merge
        expire_everything_but_a_new_latest(path, 3)
        return merge(inputs, options)

    _core.table_compact = racing
    try:
        assert mine.compact(full=True) is None
    finally:
        _core.table_compact = merge
    t = lamina.open_table(path)
    assert table_digest(t.read()) == digest(state_after(4).items())


# ---- randomised runs ------------------------------------------------------------------


def _writer(path: str, seconds: float, journal: dict[int, int], errors: list[str]) -> None:
    t = lamina.open_table(path)
    i = 3
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            journal[t.write(rows(i)).id] = i + 1  # snapshot id -> writes it contains
        except lamina.CommitConflictError:
            pass
        except Exception as e:
            errors.append(f"write: {e!r}")
        i += 1
        time.sleep(0.005)


def _compactor(path: str, seconds: float, errors: list[str], stats: dict[str, int]) -> None:
    t = lamina.open_table(path)
    end = time.monotonic() + seconds
    rng = random.Random(1)
    while time.monotonic() < end:
        try:
            snap = t.compact(full=rng.random() < 0.5)
            stats["compactions" if snap is not None else "gave_up"] += 1
        except lamina.CommitConflictError:
            stats["conflicts"] += 1
        except Exception as e:
            errors.append(f"compact: {e!r}")


def _expirer(path: str, seconds: float, errors: list[str], stats: dict[str, int]) -> None:
    t = lamina.open_table(path)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            stats["expired"] += len(t.expire_snapshots(retain_last=1))
        except Exception as e:
            errors.append(f"expire: {e!r}")
        time.sleep(0.001)


def _reader(path: str, seconds: float, seed: int) -> dict[str, Any]:
    """Reads in every way; returns what it saw, for the parent to check."""
    t = lamina.open_table(path)
    rng = random.Random(seed)
    seen: list[tuple[str, Any]] = []
    errors: list[str] = []
    expired = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        how = rng.choice(["read", "count", "batches", "lookup", "take", "pinned"])
        try:
            if how == "read":
                seen.append(("table", table_digest(t.read())))
            elif how == "count":
                seen.append(("count", t.scan().count()))
            elif how == "batches":
                got = pa.Table.from_batches(list(t.scan().to_batches()))
                seen.append(("table", table_digest(got)))
            elif how == "lookup":
                keys = sorted(rng.sample(range(0, 400), 8))
                got = t.lookup({"k": keys}).to_pydict()
                seen.append(("lookup", (keys, list(zip(got["k"], got["v"])))))
            elif how == "take":
                got = t.scan().take([0, 3]).to_pydict()
                seen.append(("take", list(zip(got["k"], got["v"]))))
            else:
                snap = t.current_snapshot()
                try:
                    seen.append(("pinned", (snap.id, table_digest(t.read(snapshot=snap.id)))))
                except (lamina.SnapshotExpiredError, lamina.InvalidArgumentError):
                    expired += 1
        except Exception as e:
            errors.append(f"{how}: {e!r}")
    return {"seen": seen, "errors": errors, "expired": expired}


def _check(journal: dict[int, int], results: list[dict[str, Any]]) -> int:
    """Every read equals the table after some committed write; returns reads checked."""
    writes = sorted(journal.values())
    states = [state_after(n) for n in writes]
    tables = {digest(s.items()) for s in states}
    counts = {len(s) for s in states}
    ordered = [sorted(s.items()) for s in states]
    by_id = sorted(journal.items())

    def state_at(sid: int) -> dict[int, int]:
        n = max(w for s, w in by_id if s <= sid)
        return state_after(n)

    checked = 0
    for r in results:
        assert r["errors"] == [], r["errors"][:5]
        for kind, value in r["seen"]:
            checked += 1
            if kind == "table":
                assert value in tables
            elif kind == "count":
                assert value in counts
            elif kind == "take":
                assert any(value == [o[0], o[3]] for o in ordered)
            elif kind == "lookup":
                keys, got = value
                assert any(got == [(k, s[k]) for k in keys if k in s] for s in states)
            else:
                sid, d = value
                assert d == digest(state_at(sid).items())
    return checked


def _run_threads(path: str, seconds: float) -> None:
    create(path)
    journal: dict[int, int] = {1: 1, 2: 2, 3: 3}
    errors: list[str] = []
    stats = {"compactions": 0, "gave_up": 0, "conflicts": 0, "expired": 0}
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=_writer, args=(path, seconds, journal, errors)),
        threading.Thread(target=_compactor, args=(path, seconds, errors, stats)),
        threading.Thread(target=_expirer, args=(path, seconds, errors, stats)),
    ] + [
        threading.Thread(target=lambda s=s: results.append(_reader(path, seconds, s)))
        for s in range(2)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(seconds + 120)
        assert not th.is_alive()
    assert errors == [], errors[:5]
    assert stats["compactions"] > 0 and stats["expired"] > 0, stats
    assert _check(journal, results) > 20


def test_compact_expire_and_reads_in_threads(tmp_path):
    _run_threads(str(tmp_path / "t"), seconds=3.0)


@pytest.mark.slow
def test_compact_expire_and_reads_in_threads_long(tmp_path):
    _run_threads(str(tmp_path / "t"), seconds=60.0)


def _proc(role: str, path: str, seconds: float, seed: int, out: Any) -> None:
    errors: list[str] = []
    stats = {"compactions": 0, "gave_up": 0, "conflicts": 0, "expired": 0}
    if role == "writer":
        journal: dict[int, int] = {}
        _writer(path, seconds, journal, errors)
        out.put((role, {"journal": journal, "errors": errors}))
    elif role == "compactor":
        _compactor(path, seconds, errors, stats)
        out.put((role, {"stats": stats, "errors": errors}))
    elif role == "expirer":
        _expirer(path, seconds, errors, stats)
        out.put((role, {"stats": stats, "errors": errors}))
    else:
        out.put((role, _reader(path, seconds, seed)))


def _run_processes(path: str, seconds: float) -> None:
    create(path)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    roles = ["writer", "compactor", "expirer", "reader", "reader"]
    procs = [
        ctx.Process(target=_proc, args=(role, path, seconds, seed, out))
        for seed, role in enumerate(roles)
    ]
    for p in procs:
        p.start()
    reports = [out.get(timeout=seconds + 180) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    journal: dict[int, int] = {1: 1, 2: 2, 3: 3}
    results = []
    expired = 0
    for role, rep in reports:
        assert rep["errors"] == [], (role, rep["errors"][:5])
        if role == "writer":
            journal.update(rep["journal"])
        elif role == "expirer":
            expired = rep["stats"]["expired"]
        elif role == "reader":
            results.append(rep)
    assert expired > 0
    assert _check(journal, results) > 20


def test_compact_expire_and_reads_in_processes(tmp_path):
    _run_processes(str(tmp_path / "t"), seconds=3.0)


@pytest.mark.slow
def test_compact_expire_and_reads_in_processes_long(tmp_path):
    _run_processes(str(tmp_path / "t"), seconds=60.0)


# ---- maintenance beside another expiration ---------------------------------------------


def test_expiration_while_another_expiration_runs(tmp_path):
    """Both list the same snapshots; the other one removes them first."""
    path = str(tmp_path / "t")
    create(path, 4)
    mine = lamina.open_table(path)
    orig = mine._store.tags

    def hooked() -> Any:  # after ``mine`` listed the snapshot ids
        assert lamina.open_table(path).expire_snapshots(retain_last=1) == [1, 2, 3]
        return orig()

    mine._store.tags = hooked  # type: ignore[method-assign]
    assert mine.expire_snapshots(retain_last=1) == [1, 2, 3]
    t = lamina.open_table(path)
    assert [s.id for s in t.snapshots()] == [4]
    assert table_digest(t.read()) == digest(state_after(4).items())


def test_orphan_removal_while_another_expiration_runs(tmp_path):
    path = str(tmp_path / "t")
    create(path, 4)
    mine = lamina.open_table(path)
    orig = mine._store.ids
    calls = []

    def hooked() -> list[int]:  # the snapshots expire right after they were listed
        out = orig()
        if not calls:
            calls.append(1)
            lamina.open_table(path).expire_snapshots(retain_last=1)
        return out

    mine._store.ids = hooked  # type: ignore[method-assign]
    mine.remove_orphan_files(datetime.timedelta(0))
    t = lamina.open_table(path)
    assert table_digest(t.read()) == digest(state_after(4).items())


# ---- a snapshot id freed by expiration is never used again ------------------------------


def test_commit_never_lands_in_an_id_expiration_freed(tmp_path):
    """While a write stages on parent N, others commit N+1 and N+2 and expire N+1: the
    write must not link ``snapshot-(N+1)`` below the newest (where no read would see it)
    but retry on top of N+2."""
    path = str(tmp_path / "t")
    create(path)  # snapshots 1..3
    mine = lamina.open_table(path)
    store = mine._store
    orig = store._stage
    fired = []

    def hooked(parent: Any, *args: Any, **kwargs: Any) -> Any:
        out = orig(parent, *args, **kwargs)
        if not fired:
            fired.append(parent.id)
            other = lamina.open_table(path)
            other.write(rows(3))  # N+1
            other.write(rows(4))  # N+2
            assert other.expire_snapshots(retain_last=1) == [1, 2, 3, 4]
        return out

    store._stage = hooked  # type: ignore[method-assign]
    snap = mine.write(rows(5))
    assert fired == [3]
    assert snap.id == 6
    t = lamina.open_table(path)
    assert [s.id for s in t.snapshots()] == [5, 6]
    assert table_digest(t.read()) == digest(state_after(6).items())
