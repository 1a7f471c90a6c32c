"""Concurrency soak: writer processes (private key ranges plus a shared hot range), a
deleter and a compactor commit to one table for a bounded time while reader processes
pin snapshots and check them; at the end every committed row and every reader's view is
reconciled against a model rebuilt, in snapshot order, from the writers' journals."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import lamina
import numpy as np

from reliability import workers as w


@dataclass
class SoakStats:
    seconds: float = 0.0
    commits: int = 0  # content commits (writes, transactions, deletes)
    compactions: int = 0  # compact snapshots (the compactor's and writers' inline ones)
    conflicts: int = 0  # CommitConflictError raised to a writer (allowed: nothing committed)
    snapshots: int = 0
    reader_reads: int = 0
    reader_views_verified: int = 0
    snapshots_verified: int = 0
    rows_checked: int = 0
    lost: int = 0
    corrupted: int = 0
    torn: int = 0  # reader views that match no single snapshot of the model
    errors: list[str] = field(default_factory=list)


def run_soak(
    workdir: str, seconds: float, seed: int = 0, writers: int = 3, readers: int = 2,
    buckets: int = 2, sync: bool = False, verify: int = 12,
) -> SoakStats:  # fmt: skip
    """Runs the soak for ``seconds``; at the end reads ``verify`` random snapshots (and
    the newest) in full besides checking every reader's view and every commit."""
    path = os.path.join(workdir, "t")
    layout = w.SoakLayout(writers=writers, range_size=400, hot=64)
    w.create(path, buckets=buckets, partitioned=False, options={
        "write.sync": "true" if sync else "false",
        "target_file_size": "8192",
        "compaction.num_sorted_run_trigger": "3",
        "compaction.num_sorted_run_stop_trigger": "6",
        "manifest.merge_min_count": "8",
    })  # fmt: skip
    ctx = w.mp_context()
    procs = []
    journals: dict[str, str] = {}
    start_at = time.time() + 1.5  # every process opens the table, then they start together
    for wid in range(writers + 1):  # the last one is the deleter
        j = journals[f"writer-{wid}"] = os.path.join(workdir, f"writer-{wid}.log")
        procs.append(ctx.Process(
            target=w.soak_writer, args=(path, j, seed, wid, layout, start_at, seconds)
        ))  # fmt: skip
    j = journals["compactor"] = os.path.join(workdir, "compactor.log")
    procs.append(ctx.Process(target=w.soak_compactor, args=(path, j, seed, start_at, seconds)))
    for r in range(readers):
        j = journals[f"reader-{r}"] = os.path.join(workdir, f"reader-{r}.log")
        procs.append(ctx.Process(
            target=w.soak_reader, args=(path, j, seed, layout, start_at, seconds)
        ))  # fmt: skip
    for p in procs:
        p.start()
    st = SoakStats(seconds=seconds)
    for p in procs:
        p.join(seconds + 300)
        if p.exitcode is None:
            p.kill()
            p.join()
            st.errors.append(f"process {p.name} hung")
        elif p.exitcode != 0:
            st.errors.append(f"process {p.name} exited with {p.exitcode}")
    _reconcile(path, journals, seed, layout, st, verify)
    return st


def _journal(path: str, st: SoakStats, who: str) -> list[list[str]]:
    out = []
    with open(path) as f:
        for line in f.read().split("\n"):
            if not line:
                continue
            if line.startswith("ERR"):
                st.errors.append(f"{who}: {line}")
                continue
            out.append(line.split())
    return out


def _reconcile(
    path: str,
    journals: dict[str, str],
    seed: int,
    layout: w.SoakLayout,
    st: SoakStats,
    verify: int,
) -> None:
    content: dict[int, tuple[int, int]] = {}  # sid -> (writer, op index)
    for wid in range(layout.writers + 1):
        for parts in _journal(journals[f"writer-{wid}"], st, f"writer {wid}"):
            if parts[1] == "conflict":
                st.conflicts += 1
                continue
            sid = int(parts[1])
            if sid in content:
                st.errors.append(f"snapshot {sid} claimed by {content[sid]} and {(wid, parts[0])}")
            content[sid] = (wid, int(parts[0]))
    compactor = {int(p[1]) for p in _journal(journals["compactor"], st, "compactor")} - {-1}
    views: dict[int, list[tuple[int, str]]] = {}
    for r in range(len([k for k in journals if k.startswith("reader-")])):
        for p in _journal(journals[f"reader-{r}"], st, f"reader {r}"):
            views.setdefault(int(p[0]), []).append((int(p[1]), p[2]))
            st.reader_reads += 1
    t = lamina.open_table(path)
    snaps = {s.id: s for s in t.snapshots()}
    ids = sorted(snaps)
    st.snapshots = len(ids)
    if ids != list(range(1, len(ids) + 1)):
        st.errors.append(f"snapshot ids not dense: {ids}")
    for sid in ids:
        kind = snaps[sid].kind
        if sid in content:
            op = w.soak_op(seed, *content[sid], layout)
            if kind != op.snapshot_kind:
                st.errors.append(f"snapshot {sid} is {kind}, its op wrote {op.snapshot_kind}")
        elif kind == "compact":
            st.compactions += 1
        else:
            st.errors.append(f"snapshot {sid} ({kind}) was committed by no journaled op")
    missing = (set(content) | compactor) - set(ids)
    if missing:
        st.errors.append(f"journaled commits without a snapshot: {sorted(missing)[:10]}")
    st.commits = len(content)
    rng = np.random.default_rng([seed, 5])
    sample = set(rng.choice(ids, min(len(ids), verify), replace=False).tolist()) | {ids[-1]}
    state = np.full(layout.nkeys, -1, dtype=np.int64)
    for sid in ids:
        if sid in content:
            w.apply(state, w.soak_op(seed, *content[sid], layout))
        if sid in views:
            want = w.state_digest(state)
            nrows = int((state >= 0).sum())
            for n, dg in views[sid]:
                st.reader_views_verified += 1
                if dg != want or n != nrows:
                    st.torn += 1
                    st.errors.append(f"a reader's view of snapshot {sid} differs from it")
        if sid in sample:
            d = w.diff(t.read(snapshot=sid), state)
            count = t.scan(snapshot=sid).count()
            st.snapshots_verified += 1
            st.rows_checked += d.rows
            st.lost += d.lost
            st.corrupted += d.corrupted + d.phantom + d.duplicate
            if d.bad or count != d.rows:
                st.errors.append(f"snapshot {sid} differs from the model: {d}, count {count}")
