"""Writers in several processes race on the same keys: no commit is lost, and for every
key the value written by the later commit wins."""

from __future__ import annotations

import multiprocessing as mp

import lamina
import numpy as np
import pyarrow as pa

SCHEMA = pa.schema([("k", pa.int64()), ("writer", pa.int64()), ("round", pa.int64())])


def _writer(path: str, wid: int, rounds: int, out: mp.Queue) -> None:
    t = lamina.open_table(path)
    rng = np.random.default_rng(wid)
    log = []
    for r in range(rounds):
        keys = rng.choice(50, size=20, replace=False)
        snap = t.write(
            pa.table({"k": keys, "writer": [wid] * 20, "round": [r] * 20}, schema=SCHEMA)
        )
        log.append((snap.id, keys.tolist(), wid, r))
    out.put(log)


def test_racing_writers_later_commit_wins(tmp_path):
    path = str(tmp_path / "t")
    lamina.create_table(path, SCHEMA, primary_key=["k"], buckets=2)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    writers, rounds = 4, 8
    procs = [ctx.Process(target=_writer, args=(path, w, rounds, q)) for w in range(writers)]
    for p in procs:
        p.start()
    logs = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    commits = sorted(entry for log in logs for entry in log)
    ids = [c[0] for c in commits]
    assert len(set(ids)) == len(ids) == writers * rounds, "a commit was lost or duplicated"
    t = lamina.open_table(path)
    all_ids = [s.id for s in t.snapshots()]
    assert all_ids == list(range(1, len(all_ids) + 1))  # dense; inline compactions add some
    assert {s.id for s in t.snapshots() if s.kind != "compact"} == set(ids)
    expected = {}
    for _, keys, wid, r in commits:  # in commit order: later overwrites earlier
        for k in keys:
            expected[k] = (wid, r)
    got = t.read().to_pydict()
    actual = {k: (w, r) for k, w, r in zip(got["k"], got["writer"], got["round"])}
    assert actual == expected
