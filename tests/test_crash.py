"""Crash injection: children running writes, deletes, transactions, compactions and
expirations are SIGKILLed at random moments (and right after each step of the commit
protocol); after every kill the table opens, every retained snapshot reads exactly as
the model says, nothing uncommitted is visible, and remove_orphan_files leaves only the
files retained snapshots reference. The harness lives in tests/reliability/crash.py."""

from __future__ import annotations

import pytest
from reliability import workers
from reliability.crash import CrashCampaign, CrashConfig, CrashStats, run_campaign

VARIANTS = {
    "b1-sync": CrashConfig(buckets=1, partitioned=False, sync=True),
    "b2-partitioned-nosync": CrashConfig(buckets=2, partitioned=True, sync=False),
}
SLOW_VARIANTS = {
    **VARIANTS,
    "b2-sync": CrashConfig(buckets=2, partitioned=False, sync=True),
    "b1-partitioned-sync": CrashConfig(buckets=1, partitioned=True, sync=True),
    "b2-after-commit-nosync": CrashConfig(
        buckets=2, sync=False, options={"compaction.after_commit": "true"}
    ),
}


def _assert_clean(st: CrashStats, kills: int) -> None:
    assert st.kills >= kills
    assert st.crashes == 0
    assert st.lost == 0 and st.corrupted == 0
    assert st.snapshots_verified >= st.cycles  # at least the newest, every cycle
    assert st.rows_checked > 0


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_random_kills_lose_nothing(tmp_path, variant):
    st = run_campaign(str(tmp_path), VARIANTS[variant], seed=11, kills=5)
    _assert_clean(st, 5)


def test_kill_after_each_commit_step(tmp_path):
    """One child per step of the commit protocol, killed right after it."""
    c = CrashCampaign(str(tmp_path), CrashConfig(buckets=2), seed=3)
    for _ in range(2):  # some ops first, so there is something to compact and expire
        c.cycle("journal")
    for point in workers.SELF_KILL_POINTS:
        c.cycle("self", point=point)
    _assert_clean(c.stats, 1)
    assert c.stats.kills_by_mode.get("self", 0) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(SLOW_VARIANTS))
def test_random_kills_lose_nothing_long(tmp_path, variant):
    st = run_campaign(str(tmp_path), SLOW_VARIANTS[variant], seed=101, kills=80)
    _assert_clean(st, 80)
    assert st.inflight_committed > 0 and st.inflight_dropped > 0
