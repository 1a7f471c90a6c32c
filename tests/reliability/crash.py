"""Crash injection: a child process runs a deterministic op sequence on a table and is
killed with SIGKILL at random moments; after each kill the parent checks the table
against a model rebuilt from the child's journal, removes orphans, and starts the next
child on the same table.

Kill modes: ``timer`` (uniform over the child's lifetime), ``journal`` (a tiny random
delay after the child journals its j-th op, i.e. while the next op starts), and ``self``
(the child kills itself right after a chosen step of the commit protocol: data files
written, manifest written, temporary file flushed, snapshot linked, LATEST replaced, a
file removed).
"""

from __future__ import annotations

import bisect
import datetime
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import lamina
import numpy as np

from reliability import workers as w


class CrashCheckError(AssertionError):
    """The table broke a promise after a kill."""


@dataclass
class CrashConfig:
    buckets: int = 1
    partitioned: bool = False
    sync: bool = True
    nkeys: int = 600
    options: dict[str, str] = field(default_factory=dict)

    def table_options(self) -> dict[str, str]:
        out = {
            "write.sync": "true" if self.sync else "false",
            "target_file_size": "4096",
            "compaction.num_sorted_run_trigger": "3",
            "compaction.num_sorted_run_stop_trigger": "5",
            "manifest.merge_min_count": "4",
            # Commits write their changelog too: killed mid-way, it must not matter.
            "changelog.producer": "lookup",
        }
        out.update(self.options)
        return out


@dataclass
class CrashStats:
    cycles: int = 0
    kills: int = 0
    kills_by_mode: dict[str, int] = field(default_factory=dict)
    clean_exits: int = 0
    ops_journaled: int = 0
    inflight_committed: int = 0  # killed ops whose snapshot exists (fully visible)
    inflight_dropped: int = 0  # killed content ops with no snapshot (not visible at all)
    snapshots_verified: int = 0
    rows_checked: int = 0
    lookups_checked: int = 0
    changes_checked: int = 0
    orphans_removed: int = 0
    lost: int = 0
    corrupted: int = 0
    crashes: int = 0  # children that died of something other than our SIGKILL
    last_snapshot: int = 0

    def add(self, other: CrashStats) -> None:
        for k, v in vars(other).items():
            if k == "kills_by_mode":
                for m, n in v.items():
                    self.kills_by_mode[m] = self.kills_by_mode.get(m, 0) + n
            elif k == "last_snapshot":
                self.last_snapshot = max(self.last_snapshot, v)
            else:
                setattr(self, k, getattr(self, k) + v)


class CrashCampaign:
    """One table, many kill cycles; ``cycle()`` raises CrashCheckError on a violation."""

    def __init__(self, workdir: str, config: CrashConfig, seed: int) -> None:
        self.workdir = workdir
        self.path = os.path.join(workdir, "t")
        self.config = config
        self.seed = seed
        self.rng = np.random.default_rng([seed, 7])
        w.create(self.path, buckets=config.buckets, partitioned=config.partitioned,
                 options=config.table_options())  # fmt: skip
        self.state = np.full(config.nkeys, -1, dtype=np.int64)
        self.content_sids = [0]  # sorted; model state after each content snapshot
        self.states: dict[int, np.ndarray] = {0: self.state.copy()}
        self.kinds: dict[int, str] = {}
        self.hi = 0  # every snapshot id <= hi is explained by the model
        self.next_op = 0
        self.timer_span = 0.3  # seconds; adapted so a timer kill lands a few ops in
        self.ctx = w.mp_context()
        self.stats = CrashStats()

    # ---- one cycle ------------------------------------------------------------------

    def cycle(self, mode: str | None = None, point: str | None = None) -> None:
        st = self.stats
        st.cycles += 1
        mode = mode or str(self.rng.choice(["timer", "journal", "self"], p=[0.4, 0.3, 0.3]))
        journal = os.path.join(self.workdir, f"journal-{st.cycles}")
        self_kill = None
        count = 400
        if mode == "self":
            point = point or str(self.rng.choice(w.SELF_KILL_POINTS))
            self_kill = (point, int(self.rng.integers(1, 4)))
            count = 6
        start = self.next_op
        proc = self.ctx.Process(
            target=w.crash_child,
            args=(self.path, journal, self.seed, start, count, self.config.nkeys,
                  self.config.partitioned, self_kill),
        )  # fmt: skip
        proc.start()
        if mode == "timer":
            proc.join(self.rng.uniform(0, self.timer_span))
        elif mode == "journal":
            want = 1 + int(self.rng.integers(0, 4))  # "ready" + j ops
            deadline = time.monotonic() + 10
            while _lines(journal) < want and proc.is_alive() and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(self.rng.uniform(0, 0.004))
        else:
            proc.join(10)
        if proc.exitcode is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        killed = proc.exitcode == -signal.SIGKILL
        if killed:
            st.kills += 1
            st.kills_by_mode[mode] = st.kills_by_mode.get(mode, 0) + 1
        elif proc.exitcode == 0:
            st.clean_exits += 1
        else:
            st.crashes += 1
            err = _read(journal + ".err")
            raise CrashCheckError(f"child crashed (exit {proc.exitcode}):\n{err}")
        done = self._replay_journal(journal, start)
        if mode == "timer":  # aim for a few ops per child
            self.timer_span = float(np.clip(
                self.timer_span * (0.8 if done > 8 else 1.25 if done < 2 else 1.0), 0.05, 3.0
            ))  # fmt: skip
        inflight = start + done if killed and done < count else None
        self.next_op = start + done + (1 if inflight is not None else 0)
        self._check(inflight)

    def _replay_journal(self, journal: str, start: int) -> int:
        lines = _read(journal).split("\n")[:-1]  # a torn last line has no newline
        if lines and lines[0] == "ready":
            lines = lines[1:]
        done = 0
        for n, line in enumerate(lines):
            i_s, tag, sid_s = line.split()
            i, sid = int(i_s), int(sid_s)
            if i != start + n:
                raise CrashCheckError(f"journal out of order: {line!r} (expected op {start + n})")
            op = w.crash_op(self.seed, i, self.config.nkeys)
            if tag == "w":
                if sid <= self.hi:
                    raise CrashCheckError(f"op {i} committed snapshot {sid} <= known {self.hi}")
                self._apply(op, sid)
            elif tag == "c" and sid >= 0:
                if sid <= self.hi:
                    raise CrashCheckError(f"compaction {i} committed {sid} <= known {self.hi}")
                self.kinds[sid] = "compact"
                self.hi = sid
            done += 1
        self.stats.ops_journaled += done
        return done

    def _apply(self, op: w.Op, sid: int) -> None:
        w.apply(self.state, op)
        self.states[sid] = self.state.copy()
        self.content_sids.append(sid)
        self.kinds[sid] = op.snapshot_kind
        self.hi = sid

    def expected(self, sid: int) -> np.ndarray:
        i = bisect.bisect_right(self.content_sids, sid) - 1
        return self.states[self.content_sids[i]]

    def _check(self, inflight: int | None) -> None:
        st = self.stats
        t = lamina.open_table(self.path)
        snaps = {s.id: s for s in t.snapshots()}
        ids = sorted(snaps)
        if not ids:
            if self.hi:
                raise CrashCheckError("every snapshot vanished")
            return
        if ids != list(range(ids[0], ids[-1] + 1)):
            raise CrashCheckError(f"snapshot ids not dense: {ids}")
        if ids[-1] < self.hi:
            raise CrashCheckError(f"newest snapshot {ids[-1]} older than journaled {self.hi}")
        # Snapshots newer than anything journaled: compactions (inline ones of the last
        # journaled write too) and at most one content snapshot, the op in flight.
        newer = [s for s in ids if s > self.hi and snaps[s].kind != "compact"]
        op = None if inflight is None else w.crash_op(self.seed, inflight, self.config.nkeys)
        if newer:
            if len(newer) > 1 or op is None or not op.content:
                raise CrashCheckError(
                    f"uncommitted work visible: snapshots {newer} of kinds "
                    f"{[snaps[s].kind for s in newer]} (op in flight: {op and op.kind})"
                )
            self._apply(op, newer[0])
            st.inflight_committed += 1
        elif op is not None and op.content:
            st.inflight_dropped += 1
        for s in ids:
            want = self.kinds.get(s, "compact")
            if snaps[s].kind != want:
                raise CrashCheckError(f"snapshot {s} is {snaps[s].kind}, model says {want}")
        self.hi = ids[-1]
        st.last_snapshot = ids[-1]
        cur = t.current_snapshot()
        if cur is None or cur.id != ids[-1]:
            raise CrashCheckError(f"current_snapshot {cur and cur.id} != newest {ids[-1]}")
        self._verify(t, ids[-1:])  # before cleanup: the dead child's leftovers are harmless
        st.orphans_removed += len(t.remove_orphan_files(datetime.timedelta(0)))
        self._check_no_orphans(t, ids)
        t = lamina.open_table(self.path)
        self._verify(t, ids)
        self._check_lookup(t, ids[-1])
        self._check_changes(t, ids)
        # Forget model states no retained snapshot needs.
        i = bisect.bisect_right(self.content_sids, ids[0]) - 1
        for s in self.content_sids[:i]:
            self.states.pop(s, None)
            self.kinds.pop(s, None)
        self.content_sids = self.content_sids[i:]
        for s in [s for s in self.kinds if s < ids[0]]:
            self.kinds.pop(s)

    def _verify(self, t: Any, ids: list[int]) -> None:
        st = self.stats
        for sid in ids:
            tab = t.read(snapshot=sid)
            d = w.diff(tab, self.expected(sid))
            count = t.scan(snapshot=sid).count() if sid == ids[-1] else tab.num_rows
            st.snapshots_verified += 1
            st.rows_checked += d.rows
            st.lost += d.lost
            st.corrupted += d.corrupted + d.phantom + d.duplicate
            if d.bad or count != tab.num_rows:
                raise CrashCheckError(
                    f"snapshot {sid} differs from the model: {d} (count() = {count})"
                )

    def _check_lookup(self, t: Any, sid: int) -> None:
        keys = np.unique(self.rng.integers(0, self.config.nkeys, 40))
        got = t.lookup(w.key_table(keys, self.config.partitioned)).sort_by("k")
        state = self.expected(sid)
        want = keys[state[keys] >= 0]
        gk = np.asarray(got.column("k").to_numpy(), dtype=np.int64)
        gv = np.asarray(got.column("v").to_numpy(), dtype=np.int64)
        self.stats.lookups_checked += len(keys)
        if not (np.array_equal(gk, want) and np.array_equal(gv, state[want])):
            raise CrashCheckError(f"lookup({keys.tolist()}) differs from the model")

    def _check_changes(self, t: Any, ids: list[int]) -> None:
        """changes(oldest, newest) applied to the model's oldest state gives its newest."""
        a, b = ids[0], ids[-1]
        if a == b:
            return
        ch = t.changes(a, b, columns=["v"])
        k = np.asarray(ch.column("k").to_numpy(), dtype=np.int64)
        v = np.asarray(ch.column("v").to_numpy(zero_copy_only=False), dtype=np.int64)
        kind = np.asarray(ch.column("_row_kind").to_pylist(), dtype=object)
        state = self.expected(a).copy()
        old = np.isin(kind, ["-D", "-U"])
        if not np.array_equal(state[k[old]], v[old]):
            raise CrashCheckError(f"changes({a}, {b}): a before-image differs from the model")
        state[k[old]] = -1
        new = np.isin(kind, ["+I", "+U"])
        if (state[k[new]] >= 0).any():
            raise CrashCheckError(f"changes({a}, {b}): an insert of a present key")
        state[k[new]] = v[new]
        if not np.array_equal(state, self.expected(b)):
            raise CrashCheckError(f"changes({a}, {b}) applied to {a} does not give {b}")
        self.stats.changes_checked += ch.num_rows

    def _check_no_orphans(self, t: Any, ids: list[int]) -> None:
        store = t._store
        allowed = {os.path.join("snapshot", "LATEST"), os.path.join("snapshot", ".lock")}
        for sid in ids:
            snap = store.load(sid)
            allowed.add(os.path.join("snapshot", f"snapshot-{sid}.json"))
            allowed.update(os.path.join("manifest", m) for m in snap.manifests)
            allowed.update(f.path.replace("/", os.sep) for f in store.live_files(snap))
            allowed.update(p.replace("/", os.sep) for p in snap.changelog or ())
        left = []
        for dirpath, _dirs, names in os.walk(self.path):
            for name in names:
                rel = os.path.relpath(os.path.join(dirpath, name), self.path)
                top = rel.split(os.sep, 1)[0]
                if top == "schema" and name.startswith("schema-") and name.endswith(".json"):
                    continue
                if top == "tag" and not name.startswith("."):
                    continue
                if rel not in allowed:
                    left.append(rel)
        if left:
            raise CrashCheckError(f"remove_orphan_files left unreferenced files: {left[:10]}")


def _lines(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def run_campaign(workdir: str, config: CrashConfig, seed: int, kills: int) -> CrashStats:
    """Runs cycles until ``kills`` children were killed (clean exits do not count)."""
    c = CrashCampaign(workdir, config, seed)
    while c.stats.kills < kills:
        c.cycle()
    return c.stats
