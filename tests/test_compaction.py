"""Compaction, purge, expiration and orphan cleanup."""

from __future__ import annotations

import datetime
import multiprocessing as mp
import os

import lamina
import numpy as np
import pyarrow as pa
import pytest

SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.string()), ("n", pa.int64())])


def _t(keys, v="x", n=0) -> pa.Table:
    return pa.table(
        {"k": pa.array(keys, pa.int64()), "v": [v] * len(keys), "n": [n] * len(keys)},
        schema=SCHEMA,
    )


def _all_bytes(root: str) -> bytes:
    out = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                out.append(f.read())
    return b"".join(out)


def _runs(table: lamina.Table) -> int:
    from lamina.compaction import sorted_runs
    from lamina.snapshot import files_by_bucket

    files = table._live_files(table.current_snapshot())
    return max((len(sorted_runs(fs)) for fs in files_by_bucket(files).values()), default=0)


def test_full_compaction_keeps_content_and_reports_metrics(tmp_path):
    t = lamina.create_table(tmp_path / "t", SCHEMA, primary_key=["k"], buckets=2)
    for i in range(6):
        t.write(_t(list(range(i * 10, i * 10 + 50)), v=f"w{i}", n=i))
    t.delete({"k": [0, 1, 2]})
    before = t.read().sort_by("k")
    snap = t.compact(full=True)
    assert snap is not None and snap.kind == "compact"
    m = snap.summary
    assert m["files_in"] > m["files_out"] > 0
    assert m["rows_in"] > m["rows_out"] == before.num_rows
    assert m["rows_purged"] > 0 and m["bytes_in"] > 0 and m["bytes_out"] > 0
    assert m["seconds"] >= 0
    assert t.read().sort_by("k").equals(before)
    assert _runs(t) == 1
    assert t.compact(full=True) is None  # nothing left to do
    prev = [s.id for s in t.snapshots()]
    assert t.read(snapshot=prev[-3]).num_rows > 0  # older snapshots still readable


def test_minor_compaction_bounds_runs_and_keeps_content(tmp_path):
    t = lamina.create_table(
        tmp_path / "t", SCHEMA, primary_key=["k"],
        options={"compaction.num_sorted_run_trigger": "3",
                 "compaction.num_sorted_run_stop_trigger": "6"},
    )  # fmt: skip
    rng = np.random.default_rng(1)
    model = {}
    for i in range(20):
        keys = rng.choice(200, 30, replace=False).tolist()
        t.write(_t(keys, v=f"w{i}", n=i))
        model.update({k: i for k in keys})
        assert _runs(t) <= 7  # writers compact inline past the stop trigger
    t.compact()
    got = t.read().to_pydict()
    assert dict(zip(got["k"], got["n"])) == model


def test_purge_leaves_no_byte_of_deleted_rows(tmp_path):
    t = lamina.create_table(tmp_path / "t", SCHEMA, primary_key=["k"])
    marker = "PURGE-ME-7f3a9c"
    t.write(_t(list(range(100)), v="keep"))
    t.write(_t([42], v=marker))
    t.write(_t(list(range(100, 120)), v="keep"))
    assert marker.encode() in _all_bytes(t.path)
    t.delete({"k": [42]})
    t.compact(full=True)
    t.expire_snapshots(retain_last=1)
    t.remove_orphan_files(older_than=datetime.timedelta(0))
    assert marker.encode() not in _all_bytes(t.path)
    got = t.read()
    assert got.num_rows == 119 and 42 not in got.column("k").to_pylist()


def test_expiration_never_breaks_retained_snapshots_or_tags(tmp_path):
    t = lamina.create_table(tmp_path / "t", SCHEMA, primary_key=["k"])
    expected = {}
    for i in range(8):
        snap = t.write(_t([i, i + 100], n=i))
        expected[snap.id] = sorted(k for j in range(i + 1) for k in (j, j + 100))
        if i == 2:
            t.tag("keep", snapshot=snap.id)
        if i == 5:
            t.compact(full=True)
    expired = t.expire_snapshots(retain_last=2)
    assert expired and 3 not in expired
    remaining = {s.id for s in t.snapshots()}
    assert 3 in remaining and not (set(expired) & remaining)
    for sid in remaining:
        if sid in expected:
            assert sorted(t.read(snapshot=sid).column("k").to_pylist()) == expected[sid]
    assert sorted(t.read(snapshot="keep").column("k").to_pylist()) == expected[3]
    assert t.remove_orphan_files(older_than=datetime.timedelta(0)) == []
    with pytest.raises(lamina.InvalidArgumentError):
        t.read(snapshot=expired[0])
    assert t.expire_snapshots(retain_last=1, older_than=datetime.timedelta(days=1)) == []


def test_orphans_of_a_failed_write_are_removed_only_when_old(tmp_path):
    t = lamina.create_table(tmp_path / "t", SCHEMA, primary_key=["k"])
    t.write(_t([1]))
    stray = tmp_path / "t" / "data" / "bucket-0" / "stray.lam"
    stray.write_bytes(b"left by a crashed writer")
    assert t.remove_orphan_files() == []  # younger than a day
    assert t.remove_orphan_files(datetime.timedelta(0)) == ["data/bucket-0/stray.lam"]
    assert t.read().num_rows == 1


def test_manifests_stay_bounded_over_many_commits(tmp_path):
    t = lamina.create_table(
        tmp_path / "t", SCHEMA, primary_key=["k"], options={"write.sync": "false"}
    )
    for i in range(120):
        t.write(_t([i]))
    assert len(t.current_snapshot().manifests) <= 31
    assert t.read().num_rows == 120


def _writer(path: str, wid: int, out: mp.Queue) -> None:
    t = lamina.open_table(path)
    log = []
    for r in range(6):
        keys = list(range(wid * 1000, wid * 1000 + 50))
        snap = t.write(_t(keys, v=f"{wid}", n=r))
        log.append(snap.id)
    out.put(("w", wid, log))


def _compactor(path: str, out: mp.Queue) -> None:
    t = lamina.open_table(path)
    done = 0
    for i in range(6):
        if t.compact(full=i % 2 == 0) is not None:
            done += 1
    out.put(("c", done, []))


def test_writers_and_compactor_at_once(tmp_path):
    path = str(tmp_path / "t")
    lamina.create_table(path, SCHEMA, primary_key=["k"], buckets=2)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, w, q)) for w in range(3)]
    procs.append(ctx.Process(target=_compactor, args=(path, q)))
    for p in procs:
        p.start()
    results = [q.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    t = lamina.open_table(path)
    got = t.read().to_pydict()
    # Every writer's last round must be visible for every one of its keys.
    assert sorted(got["k"]) == sorted(k for w in range(3) for k in range(w * 1000, w * 1000 + 50))
    assert set(got["n"]) == {5}
    ids = [s.id for s in t.snapshots()]
    assert ids == list(range(1, len(ids) + 1))
    assert sum(len(r[2]) for r in results) == 18
