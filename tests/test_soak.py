"""Concurrency soak: writer processes (private ranges plus a shared hot range), a deleter
and a compactor commit to one table while two reader processes pin snapshots and check
them (no duplicate key, every row one some op wrote, snapshot ids dense, count() equal to
the rows read). At the end every commit, every reader's view and the final table are
reconciled with the model. The harness lives in tests/reliability/soak.py."""

from __future__ import annotations

import lamina
import numpy as np
import pytest
from lamina import _core
from reliability import workers
from reliability.soak import SoakStats, run_soak


def _assert_clean(st: SoakStats, writers: int) -> None:
    assert st.errors == []
    assert st.lost == 0 and st.corrupted == 0 and st.torn == 0
    assert st.commits >= writers + 1  # every writer and the deleter committed
    assert st.reader_reads >= 2 and st.reader_views_verified == st.reader_reads
    assert st.snapshots == st.commits + st.compactions
    assert st.rows_checked > 0


def test_concurrent_writers_deleter_compactor_readers(tmp_path):
    st = run_soak(str(tmp_path), seconds=4.0, seed=1, writers=3)
    _assert_clean(st, 3)


@pytest.mark.slow
def test_concurrent_soak_long(tmp_path):
    st = run_soak(str(tmp_path), seconds=90.0, seed=2, writers=4, sync=True, verify=100)
    _assert_clean(st, 4)


def test_compaction_whose_inputs_were_expired_meanwhile_gives_up_cleanly(tmp_path):
    """Table.compact promises None when another commit removed its inputs first; here the
    other process also expired the snapshots that held them, so the files are gone."""
    path = str(tmp_path / "t")
    workers.create(path, buckets=1, partitioned=False, options={"write.sync": "false"})
    mine, other = lamina.open_table(path), lamina.open_table(path)
    for i in range(3):
        mine.write(workers.rows(np.arange(10) + i, np.arange(10) + 100 * i))
    before = mine.read().sort_by("k")
    merge = _core.table_compact

    def racing(inputs, options):  # "another process" wins the race while we merge
        _core.table_compact = merge
        assert other.compact(full=True) is not None
        assert other.expire_snapshots(retain_last=1)
        return merge(inputs, options)

    _core.table_compact = racing
    try:
        snap = mine.compact(full=True)
    finally:
        _core.table_compact = merge
    assert snap is None
    t = lamina.open_table(path)
    assert [s.kind for s in t.snapshots()] == ["compact"]
    assert t.read().sort_by("k").equals(before)
