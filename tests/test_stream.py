"""``Table.stream`` and consumer ids (issue 13): streaming consumption of changes.

Single-process tests check the batches against ``changes(n - 1, n)``, acknowledgement,
resumption, expiration pinning, ``full``/``earliest``, timeouts and bad arguments. The
process tests run a writer and a consumer side by side (``stream_worker.py``), and kill
consumers at random points: at-least-once loses no change, exactly-once repeats none.
"""

from __future__ import annotations

import datetime
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import lamina
import pyarrow as pa
import pytest
from lamina import consumer

SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.string())])
WORKER = os.path.join(os.path.dirname(__file__), "stream_worker.py")


def make(tmp_path: Any, producer: str = "lookup") -> lamina.Table:
    return lamina.create_table(
        str(tmp_path / "t"),
        SCHEMA,
        primary_key=["k"],
        options={"changelog.producer": producer, "write.sync": "false"},
    )


def w(t: lamina.Table, ks: list[int], v: str) -> None:
    t.write(pa.table({"k": ks, "v": [f"{v}{k}" for k in ks]}, schema=SCHEMA))


@pytest.mark.parametrize("producer", ["none", "lookup"])
def test_batches_are_the_changes_of_each_write_snapshot(tmp_path, producer):
    t = make(tmp_path, producer)
    w(t, [1, 2, 3], "a")
    w(t, [2, 4], "b")
    t.compact(full=True)  # yields nothing
    t.delete({"k": [1, 9]})
    w(t, [2], "b")  # rewrites the same row: changes nothing, yields nothing
    t.update_schema().add_column("x", pa.int64()).commit()
    t.write(pa.table({"k": [5], "v": ["c5"], "x": [1]}))
    got = list(t.stream(start=0, timeout=0))
    ids = [b.column("_snapshot_id")[0].as_py() for b in got]
    assert ids == [1, 2, 4, 7]
    for sid, batch in zip(ids, got):
        want = t.changes(0 if sid == 1 else sid - 1, sid, per_snapshot=True)
        assert batch.to_pylist() == want.to_pylist()
        assert batch.schema.names == want.schema.names
    assert got[-1].schema.names == ["k", "v", "x", "_row_kind", "_snapshot_id"]


def test_latest_start_end_columns_and_filter(tmp_path):
    t = make(tmp_path)
    w(t, [1, 2], "a")
    s = t.stream(timeout=0)  # "latest": only what comes after
    assert list(s) == []
    w(t, [1, 3], "b")
    w(t, [4], "c")
    w(t, [5], "d")
    got = list(t.stream(start=1, end=3, timeout=0, columns=["v"], filter=pa.compute.field("k") > 1))
    assert [b.to_pydict() for b in got] == [
        {"k": [3], "v": ["b3"], "_row_kind": ["+I"], "_snapshot_id": [2]},
        {"k": [4], "v": ["c4"], "_row_kind": ["+I"], "_snapshot_id": [3]},
    ]


def test_consumer_acknowledges_resumes_and_redelivers(tmp_path):
    t = make(tmp_path)
    w(t, [1], "a")
    w(t, [2], "a")
    w(t, [3], "a")
    s = t.stream(start=0, consumer_id="c", timeout=0)
    assert t.consumers() == {"c": 0}  # created at its start
    first = next(s)
    assert first.column("_snapshot_id").to_pylist() == [1]
    assert t.consumers() == {"c": 0}  # not acknowledged yet
    second = next(s)  # acknowledges the first
    assert second.column("_snapshot_id").to_pylist() == [2]
    assert t.consumers() == {"c": 1}
    del s  # dies before acknowledging the second: it comes again (at-least-once)
    s = t.stream(start="latest", consumer_id="c", timeout=0)  # start ignored: resumes
    again = next(s)
    assert again.column("_snapshot_id").to_pylist() == [2]
    s.commit()
    assert t.consumers() == {"c": 2}
    assert [b.column("_snapshot_id")[0].as_py() for b in s] == [3]
    assert t.consumers() == {"c": 3}  # the end of the iteration acknowledges
    t.reset_consumer("c", 1)
    assert [b.column("_snapshot_id")[0].as_py() for b in t.stream(consumer_id="c", timeout=0)] == [
        2,
        3,
    ]
    t.reset_consumer("new", 0)
    assert t.consumers() == {"c": 3, "new": 0}
    t.remove_consumer("new")
    assert t.consumers() == {"c": 3}
    with pytest.raises(lamina.InvalidArgumentError, match="no consumer"):
        t.remove_consumer("new")


def test_consumers_protect_snapshots_until_they_expire(tmp_path):
    t = make(tmp_path, "none")  # without changelogs a stream needs the parent snapshot
    for i in range(5):
        w(t, [i], "a")
    t.reset_consumer("slow", 2)
    assert t.expire_snapshots(retain_last=1) == [1]  # 2 and later are needed
    assert [
        b.column("_snapshot_id")[0].as_py() for b in t.stream(consumer_id="slow", timeout=0)
    ] == [3, 4, 5]
    assert t.expire_snapshots(retain_last=1) == [2, 3, 4]
    t.remove_consumer("slow")
    # An abandoned consumer stops protecting anything and is removed.
    w(t, [9], "b")
    t.reset_consumer("gone", 5)
    path = os.path.join(t.path, consumer.CONSUMER_DIR, "consumer-gone.json")
    with open(path) as f:
        doc = json.load(f)
    doc["updated_ms"] -= 3_600_000
    with open(path, "w") as f:
        json.dump(doc, f)
    w(t, [10], "c")
    assert t.expire_snapshots(retain_last=1) == []  # no expiration time set: still kept
    t.update_schema().set_option("consumer.expiration_time", "30m").commit()
    assert t.expire_snapshots(retain_last=1) == [5, 6, 7]
    assert "gone" not in t.consumers()


def test_full_and_earliest(tmp_path):
    t = make(tmp_path)
    w(t, [1, 2], "a")
    w(t, [2, 3], "b")
    got = list(t.stream(start=1, full=True, timeout=0))
    assert got[0].to_pydict() == {
        "k": [1, 2], "v": ["a1", "a2"], "_row_kind": ["+I", "+I"], "_snapshot_id": [1, 1]
    }  # fmt: skip
    assert got[1].column("_snapshot_id").to_pylist() == [2, 2, 2]
    assert [b.to_pylist() for b in t.stream(start="earliest", timeout=0)] == [
        b.to_pylist() for b in t.stream(start=0, timeout=0)
    ]
    t.expire_snapshots(retain_last=1)  # snapshot 1 is gone: earliest reads 2 whole
    got = pa.concat_tables(t.stream(start="earliest", timeout=0))
    assert sorted(got.column("k").to_pylist()) == [1, 2, 3]  # the whole of snapshot 2
    assert set(got.column("_row_kind").to_pylist()) == {"+I"}
    assert set(got.column("_snapshot_id").to_pylist()) == {2}
    with pytest.raises(lamina.SnapshotExpiredError):
        list(t.stream(start=0, timeout=0))


def test_full_then_consumer_position(tmp_path):
    t = make(tmp_path)
    w(t, [1, 2], "a")
    s = t.stream(start="latest", full=True, consumer_id="f", timeout=0)
    assert "f" not in t.consumers()  # not before the whole snapshot was handled
    assert next(s).num_rows == 2
    with pytest.raises(StopIteration):
        next(s)
    assert t.consumers() == {"f": 1}


def test_blocking_timeout_and_close(tmp_path):
    t = make(tmp_path)
    w(t, [1], "a")
    s = t.stream(poll_interval=0.05, timeout=0.3)
    t0 = time.monotonic()
    assert list(s) == []
    assert 0.25 < time.monotonic() - t0 < 5
    # a commit from another thread wakes the blocked iterator
    s = t.stream(poll_interval=0.05)
    threading.Timer(0.2, lambda: w(t, [2], "b")).start()
    assert next(s).column("k").to_pylist() == [2]
    threading.Timer(0.2, s.close).start()
    with pytest.raises(StopIteration):
        next(s)  # would wait forever without close()


def test_bad_arguments(tmp_path):
    t = make(tmp_path)
    w(t, [1], "a")
    for bad in ("", "a/b", "../x", "-x", "x" * 101, 3):
        with pytest.raises(lamina.InvalidArgumentError, match="consumer id"):
            t.stream(consumer_id=bad)
    with pytest.raises(lamina.InvalidArgumentError, match="poll_interval"):
        t.stream(poll_interval=0)
    with pytest.raises(lamina.InvalidArgumentError, match="timeout"):
        t.stream(timeout=-1)
    with pytest.raises(lamina.InvalidArgumentError):
        t.stream(start=99)
    with pytest.raises(lamina.InvalidArgumentError):
        t.reset_consumer("c", 99)
    with pytest.raises(lamina.InvalidArgumentError, match=r"changelog\.producer"):
        t.update_schema().set_option("changelog.producer", "sometimes")
    with pytest.raises(lamina.InvalidArgumentError, match="cannot be changed"):
        t.update_schema().set_option("fields.v.aggregate", "max")
    # a damaged consumer file is refused, not skipped: expiration relies on it
    os.makedirs(os.path.join(t.path, consumer.CONSUMER_DIR), exist_ok=True)
    with open(os.path.join(t.path, consumer.CONSUMER_DIR, "consumer-bad.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(lamina.CorruptFileError):
        t.consumers()
    w(t, [2], "b")
    with pytest.raises(lamina.CorruptFileError):
        t.expire_snapshots()
    assert len(t.snapshots()) == 2  # nothing was expired


def test_changelog_files_live_and_die_with_their_snapshots(tmp_path):
    t = make(tmp_path)
    w(t, [1, 2], "a")
    w(t, [2], "b")
    w(t, [2], "b")  # changes nothing: no file
    snaps = t.snapshots()
    assert [len(s.changelog) for s in snaps] == [1, 1, 0]
    files = {p for s in snaps for p in s.changelog}
    on_disk = {f"changelog/{n}" for n in os.listdir(os.path.join(t.path, "changelog"))}
    assert on_disk == files
    with open(os.path.join(t.path, "changelog", "stray.lamina"), "wb") as f:
        f.write(b"x")
    assert t.remove_orphan_files(datetime.timedelta(0)) == [
        os.path.join("changelog", "stray.lamina")
    ]
    t.expire_snapshots(retain_last=1)
    assert os.listdir(os.path.join(t.path, "changelog")) == []  # both went with 1 and 2
    assert t.changes(3).num_rows == 0


def test_racing_writers_write_exact_changelogs(tmp_path):
    """Each commit's changelog is computed for the parent it finally lands on."""
    t = make(tmp_path)
    w(t, list(range(20)), "base")

    def writer(tag: str) -> None:
        tt = lamina.open_table(t.path)
        rng = random.Random(tag)
        for i in range(12):
            w(tt, rng.sample(range(30), 5), f"{tag}{i}-")

    threads = [threading.Thread(target=writer, args=(x,)) for x in "xyz"]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    state: dict[int, str] = {}
    for batch in t.stream(start=0, timeout=0):
        for r in batch.to_pylist():
            if r["_row_kind"] in ("-U", "-D"):
                assert state.pop(r["k"]) == r["v"]
            else:
                assert r["k"] not in state
                state[r["k"]] = r["v"]
    assert state == {r["k"]: r["v"] for r in t.read().to_pylist()}


# ---- processes --------------------------------------------------------------------------


def _run(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, WORKER, *args])


def _wait_ok(p: subprocess.Popen[bytes], timeout: float = 120) -> None:
    assert p.wait(timeout) == 0


def _content_with_changes(t: lamina.Table) -> list[int]:
    return [b.column("_snapshot_id")[0].as_py() for b in t.stream(start=0, timeout=0)]


def test_writer_and_consumer_processes_reconcile(tmp_path):
    sys.path.insert(0, os.path.dirname(__file__))
    import stream_worker

    path = str(tmp_path / "t")
    stream_worker.create(path)
    state = str(tmp_path / "state.json")
    writer = _run("write", path, "1", "60")
    reader = _run("exactly-once", path, state)
    _wait_ok(writer)
    _wait_ok(reader)
    t = lamina.open_table(path)
    with open(state) as f:
        got = json.load(f)
    assert got["rows"] == {str(r["k"]): [r["v"], r["s"]] for r in t.read().to_pylist()}
    assert got["applied"] == _content_with_changes(t)


@pytest.mark.parametrize("mode", ["exactly-once", "at-least-once"])
def test_killed_consumers_lose_nothing(tmp_path, mode):
    sys.path.insert(0, os.path.dirname(__file__))
    import stream_worker

    path = str(tmp_path / "t")
    stream_worker.create(path)
    out = str(tmp_path / "out")
    writer = _run("write", path, "2", "50")
    rng = random.Random(mode)
    kills = 0
    while True:
        reader = _run(mode, path, out)
        try:
            reader.wait(rng.uniform(0.05, 0.6))
        except subprocess.TimeoutExpired:
            reader.send_signal(signal.SIGKILL)
            reader.wait()
            kills += 1
            continue
        assert reader.returncode == 0
        if writer.poll() is not None:
            break
    _wait_ok(writer)
    assert kills >= 1
    t = lamina.open_table(path)
    want = _content_with_changes(t)
    if mode == "exactly-once":
        with open(out) as f:
            got = json.load(f)
        assert got["applied"] == want  # every change once, none repeated
        assert got["rows"] == {str(r["k"]): [r["v"], r["s"]] for r in t.read().to_pylist()}
    else:
        with open(out) as f:
            logged = [int(x) for x in f.read().split()]
        assert set(logged) == set(want)  # none lost (repeats allowed)
        assert t.consumers() == {"c": t.current_snapshot().id}
