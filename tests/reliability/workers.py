"""What the crash and soak harnesses share: the row encoding, the deterministic op
sequences, the model checks, and the code that runs in the child processes.

Every row a test writes is self-describing: ``v`` says which op wrote it and where
(``writer << 40 | op << 20 | row``) and ``s`` is ``f"{v}:{k}"``, so a torn, shuffled or
corrupted row is visible on its own, and the op sequences are deterministic functions of
(seed, op index), so the parent rebuilds exactly what every op wrote from a journal of
"op i -> snapshot id" lines that the children append (and fsync) after each op returns.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import lamina
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NPART = 3  # p = k % NPART (the partition column of partitioned variants)
OP_SHIFT = 20
WRITER_SHIFT = 40

SCHEMA = pa.schema([("k", pa.int64()), ("p", pa.int64()), ("v", pa.int64()), ("s", pa.string())])


def mp_context() -> Any:
    """A forkserver context whose server has lamina imported: a child starts in a few
    milliseconds, and never inherits the threads of the process that verifies."""
    ctx = mp.get_context("forkserver")
    # pandas: pyarrow imports it lazily on the first conversion from numpy (~0.5 s).
    ctx.set_forkserver_preload([
        "__main__", "pandas", "lamina", "lamina.compaction", "lamina.maintenance",
        "lamina.scan", "reliability.workers",
    ])  # fmt: skip
    return ctx


def create(path: str, *, buckets: int, partitioned: bool, options: dict[str, str]) -> Any:
    return lamina.create_table(
        path,
        SCHEMA,
        primary_key=["p", "k"] if partitioned else ["k"],
        partition_by=["p"] if partitioned else None,
        buckets=buckets,
        options=options,
    )


def rows(keys: np.ndarray, v: np.ndarray) -> pa.Table:
    k = pa.array(keys, pa.int64())
    va = pa.array(v, pa.int64())
    s = pc.binary_join_element_wise(pc.cast(va, pa.string()), pc.cast(k, pa.string()), ":")
    return pa.table({"k": k, "p": pa.array(keys % NPART, pa.int64()), "v": va, "s": s})


def key_table(keys: np.ndarray, partitioned: bool) -> dict[str, Any]:
    k = pa.array(keys, pa.int64())
    if partitioned:
        return {"p": pa.array(keys % NPART, pa.int64()), "k": k}
    return {"k": k}


# ---- ops -----------------------------------------------------------------------------


@dataclass
class Op:
    """One op of a sequence: ``parts`` (("w" | "d", keys, values)) for writes, deletes and
    transactions (one part: a plain write or delete), or a maintenance op."""

    index: int
    kind: str  # "write" | "delete" | "tx" | "compact" | "expire" | "schema"
    parts: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    full: bool = False
    retain_last: int = 1
    change: str = ""  # of a schema op: "add" | "drop" | "widen" (see run_op)

    @property
    def content(self) -> bool:
        """Commits a snapshot the model knows of (a schema change changes no row)."""
        return bool(self.parts) or self.kind == "schema"

    @property
    def snapshot_kind(self) -> str:
        if self.kind == "schema":
            return "schema"
        return "append" if any(p[0] == "w" for p in self.parts) else "delete"


def _parts(
    rng: np.random.Generator, kinds: list[str], base: int, lo: int, hi: int, max_rows: int
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    parts = []
    row = 0
    for kind in kinds:
        n = int(rng.integers(1, max_rows + 1))
        keys = rng.integers(lo, hi, n).astype(np.int64)
        vals = base | (row + np.arange(n, dtype=np.int64))
        row += n
        parts.append((kind, keys, vals))
    return parts


def crash_op(seed: int, i: int, nkeys: int) -> Op:
    """Op ``i`` of the crash sequence ``seed`` (a pure function of its arguments)."""
    rng = np.random.default_rng([seed, i])
    r = rng.random()
    base = i << OP_SHIFT
    if r < 0.36:
        return Op(i, "write", _parts(rng, ["w"], base, 0, nkeys, 80))
    if r < 0.50:
        return Op(i, "delete", _parts(rng, ["d"], base, 0, nkeys, 40))
    if r < 0.66:
        kinds = [str(rng.choice(["w", "w", "d"])) for _ in range(int(rng.integers(2, 5)))]
        return Op(i, "tx", _parts(rng, kinds, base, 0, nkeys, 40))
    if r < 0.80:
        return Op(i, "compact", full=bool(rng.random() < 0.35))
    if r < 0.87:
        return Op(i, "schema", change=str(rng.choice(["add", "add", "drop", "widen"])))
    return Op(i, "expire", retain_last=int(rng.integers(1, 5)))


def apply(state: np.ndarray, op: Op) -> None:
    """Applies a content op to the model: ``state[k]`` is the ``v`` of key k, -1 if absent."""
    for kind, keys, vals in op.parts:
        if kind == "d":
            state[keys] = -1
        else:  # within one write the later row wins
            rk = keys[::-1]
            uk, idx = np.unique(rk, return_index=True)
            state[uk] = vals[::-1][idx]


def fit(t: Any, table: pa.Table) -> pa.Table:
    """``table`` with the columns schema ops added to ``t`` (null: the model has no
    values for them)."""
    for f in t.schema:
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    return table


def run_op(t: Any, op: Op, partitioned: bool) -> tuple[str, int]:
    """Runs ``op`` on table ``t``; returns (journal tag, snapshot id or -1).

    Schema ops change no row of the model: "add" adds a nullable column ``x<i>``, "drop"
    drops the newest such column (adds one if there is none), "widen" widens ``s`` to
    large_string (adds a column once it is)."""
    if op.kind == "schema":
        u = t.update_schema()
        extra = [n for n in t.schema.names if n.startswith("x")]
        if op.change == "drop" and extra:
            u.drop_column(extra[-1])
        elif op.change == "widen" and t.schema.field("s").type == pa.string():
            u.widen_column("s", pa.large_string())
        else:
            u.add_column(f"x{op.index}", pa.int64())
        return "w", u.commit().id
    if op.kind == "compact":
        snap = t.compact(full=op.full)
        return "c", -1 if snap is None else snap.id
    if op.kind == "expire":
        t.expire_snapshots(retain_last=op.retain_last)
        return "e", -1
    if op.kind == "write":
        _, keys, vals = op.parts[0]
        return "w", t.write(fit(t, rows(keys, vals))).id
    if op.kind == "delete":
        return "w", t.delete(key_table(op.parts[0][1], partitioned)).id
    with t.transaction() as tx:
        for kind, keys, vals in op.parts:
            if kind == "w":
                tx.write(fit(t, rows(keys, vals)))
            else:
                tx.delete(key_table(keys, partitioned))
    return "w", tx.snapshot.id


# ---- checks --------------------------------------------------------------------------


@dataclass
class Diff:
    rows: int = 0  # rows compared
    lost: int = 0  # expected keys missing or holding an older/other committed value
    corrupted: int = 0  # rows whose payload does not match their key and value
    phantom: int = 0  # keys present that the model says are absent
    duplicate: int = 0  # keys returned more than once

    @property
    def bad(self) -> int:
        return self.lost + self.corrupted + self.phantom + self.duplicate


def self_consistent(tab: pa.Table) -> np.ndarray:
    """Per row: does the payload match (k, v)? (vectorized)"""
    k, v = tab.column("k"), tab.column("v")
    s = pc.binary_join_element_wise(pc.cast(v, pa.string()), pc.cast(k, pa.string()), ":")
    ok = pc.and_(pc.equal(s, tab.column("s")), pc.equal(tab.column("p"), pc.remainder(k, NPART)))
    return np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)


def diff(tab: pa.Table, state: np.ndarray) -> Diff:
    """Compares a read of a table with the model ``state``."""
    d = Diff(rows=tab.num_rows)
    k = np.asarray(tab.column("k").to_numpy(), dtype=np.int64)
    v = np.asarray(tab.column("v").to_numpy(), dtype=np.int64)
    d.corrupted = int((~self_consistent(tab)).sum()) if tab.num_rows else 0
    uk, first = np.unique(k, return_index=True)
    d.duplicate = len(k) - len(uk)
    inside = (uk >= 0) & (uk < len(state))
    exp_keys = np.flatnonzero(state >= 0)
    got = np.full(len(state), -1, dtype=np.int64)
    got[uk[inside]] = v[first[inside]]
    d.phantom = int((~inside).sum()) + int(((got >= 0) & (state < 0)).sum())
    d.lost = int((got[exp_keys] != state[exp_keys]).sum())
    return d


def digest(tab: pa.Table) -> str:
    """A hash of a read's (k, v) content, independent of row order."""
    tab = tab.select(["k", "v"]).sort_by("k")
    h = hashlib.sha256()
    for c in ("k", "v"):
        h.update(np.ascontiguousarray(tab.column(c).to_numpy(), dtype=np.int64).tobytes())
    return h.hexdigest()


def state_digest(state: np.ndarray) -> str:
    keys = np.flatnonzero(state >= 0).astype(np.int64)
    h = hashlib.sha256()
    h.update(keys.tobytes())
    h.update(state[keys].astype(np.int64).tobytes())
    return h.hexdigest()


# ---- crash child ---------------------------------------------------------------------

SELF_KILL_POINTS = (
    "core_write",  # data files written by the core, nothing committed
    "core_compact",  # compaction outputs written, not committed
    "manifest",  # a manifest file written, snapshot not yet created
    "temp",  # a temporary file written and flushed, not yet linked/renamed
    "link",  # snapshot-N created (committed), LATEST not yet updated
    "latest",  # LATEST updated
    "remove",  # after a file removal (expire, abort, a compaction that lost)
)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install_self_kill(t: Any, point: str, nth: int) -> None:
    """Makes this process SIGKILL itself right after the ``nth`` hit of ``point``."""
    from lamina import _core
    from lamina import format as lformat

    hits = [0]

    def wrap(obj: Any, name: str) -> None:
        orig = getattr(obj, name)

        def hooked(*a: Any, **kw: Any) -> Any:
            out = orig(*a, **kw)
            hits[0] += 1
            if hits[0] == nth:
                _die()
            return out

        setattr(obj, name, hooked)

    target = {
        "core_write": (_core, "table_write"),
        "core_compact": (_core, "table_compact"),
        "manifest": (lformat, "write_file"),
        "temp": (t._io, "_write_temp"),
        "link": (t._io, "write_new"),
        "latest": (t._io, "write_replace"),
        "remove": (t._io, "remove"),
    }[point]
    wrap(*target)


def crash_child(
    path: str,
    journal: str,
    seed: int,
    start: int,
    count: int,
    nkeys: int,
    partitioned: bool,
    self_kill: tuple[str, int] | None,
) -> None:
    """Runs ops ``start .. start+count-1`` of sequence ``seed``; journals each one."""
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        t = lamina.open_table(path)
        if self_kill is not None:
            install_self_kill(t, *self_kill)
        os.write(fd, b"ready\n")
        for i in range(start, start + count):
            op = crash_op(seed, i, nkeys)
            tag, sid = run_op(t, op, partitioned)
            os.write(fd, f"{i} {tag} {sid}\n".encode())
            os.fsync(fd)
    except BaseException:
        with open(journal + ".err", "w") as f:
            f.write(traceback.format_exc())
        os._exit(3)
    finally:
        os.close(fd)


# ---- soak workers --------------------------------------------------------------------


@dataclass(frozen=True)
class SoakLayout:
    writers: int
    range_size: int  # keys per writer's private range
    hot: int  # keys in the shared hot range (after the private ranges)

    @property
    def nkeys(self) -> int:
        return self.writers * self.range_size + self.hot


def soak_op(seed: int, wid: int, i: int, layout: SoakLayout) -> Op:
    """Op ``i`` of writer ``wid`` (wid == layout.writers: the deleter)."""
    rng = np.random.default_rng([seed, wid, i])
    base = (wid << WRITER_SHIFT) | (i << OP_SHIFT)
    hot0 = layout.writers * layout.range_size
    if wid == layout.writers:  # the deleter: any key
        return Op(i, "delete", _parts(rng, ["d"], base, 0, layout.nkeys, 30))
    lo, hi = wid * layout.range_size, (wid + 1) * layout.range_size
    own = _parts(rng, ["w"], base, lo, hi, 60)
    hot = _parts(rng, ["w"], base | (1 << 19), hot0, layout.nkeys, 10)
    if rng.random() < 0.25:  # a transaction: own rows, hot rows, deletes of own keys
        dels = _parts(rng, ["d"], base, lo, hi, 10)
        return Op(i, "tx", own + hot + dels)
    keys = np.concatenate([own[0][1], hot[0][1]])
    vals = np.concatenate([own[0][2], hot[0][2]])
    return Op(i, "write", [("w", keys, vals)])


def _wait_start(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


def soak_writer(
    path: str, journal: str, seed: int, wid: int, layout: SoakLayout, start_at: float,
    seconds: float,
) -> None:  # fmt: skip
    """A writer (or, with wid == layout.writers, the deleter): runs its op sequence until
    the deadline (at least one op) and journals "i sid" after each commit."""
    with open(journal, "a") as j:
        try:
            t = lamina.open_table(path)
            _wait_start(start_at)
            deadline = start_at + seconds
            i = 0
            while i == 0 or time.time() < deadline:
                op = soak_op(seed, wid, i, layout)
                try:
                    _, sid = run_op(t, op, partitioned=False)
                    j.write(f"{i} {sid}\n")
                except lamina.CommitConflictError as e:  # not committed: no trace allowed
                    j.write(f"{i} conflict {e!r}\n".replace("\n", " ") + "\n")
                j.flush()
                i += 1
        except BaseException:
            j.write("ERR " + traceback.format_exc().replace("\n", " | ") + "\n")


def soak_compactor(path: str, journal: str, seed: int, start_at: float, seconds: float) -> None:
    with open(journal, "a") as j:
        try:
            t = lamina.open_table(path)
            rng = np.random.default_rng([seed, 99])
            _wait_start(start_at)
            deadline = start_at + seconds
            n = 0
            while n == 0 or time.time() < deadline:
                n += 1
                snap = t.compact(full=bool(rng.random() < 0.3))
                j.write(f"compact {-1 if snap is None else snap.id}\n")
                j.flush()
                time.sleep(0.005)
        except BaseException:
            j.write("ERR " + traceback.format_exc().replace("\n", " | ") + "\n")


def soak_reader(
    path: str, journal: str, seed: int, layout: SoakLayout, start_at: float, seconds: float
) -> None:
    """Loops: open, pin the current snapshot, read it and check what can be checked now;
    journals "sid rows digest" so the parent checks every read against the model later."""
    with open(journal, "a") as j:
        try:
            _wait_start(start_at)
            deadline = start_at + seconds
            n = 0
            while n == 0 or time.time() < deadline:
                n += 1
                t = lamina.open_table(path)
                snap = t.current_snapshot()
                if snap is None:
                    time.sleep(0.01)
                    continue
                tab = t.read(snapshot=snap.id)
                problems = _reader_checks(t, snap.id, tab, seed, layout)
                for p in problems:
                    j.write(f"ERR sid {snap.id}: {p}\n")
                j.write(f"{snap.id} {tab.num_rows} {digest(tab)}\n")
                j.flush()
        except BaseException:
            j.write("ERR " + traceback.format_exc().replace("\n", " | ") + "\n")


def _reader_checks(t: Any, sid: int, tab: pa.Table, seed: int, layout: SoakLayout) -> list[str]:
    out = []
    k = np.asarray(tab.column("k").to_numpy(), dtype=np.int64)
    if len(np.unique(k)) != len(k):
        out.append(f"{len(k) - len(np.unique(k))} duplicate keys")
    bad = int((~self_consistent(tab)).sum()) if tab.num_rows else 0
    if bad:
        out.append(f"{bad} rows whose payload does not match")
    ids = [s.id for s in t.snapshots()]
    if ids != list(range(ids[0], ids[-1] + 1)) or sid not in ids:
        out.append(f"snapshot ids not dense or pinned one missing: {ids[:3]}..{ids[-3:]}")
    n = t.scan(snapshot=sid).count()
    if n != tab.num_rows:
        out.append(f"count() {n} != rows read {tab.num_rows}")
    # Every row must be one some op wrote: regenerate each op seen (not each row).
    v = np.asarray(tab.column("v").to_numpy(), dtype=np.int64)
    ops = v >> OP_SHIFT
    for code in np.unique(ops):
        wid, i = int(code >> (WRITER_SHIFT - OP_SHIFT)), int(code & ((1 << 20) - 1))
        if not 0 <= wid < layout.writers:
            out.append(f"row from unknown writer {wid}")
            continue
        op = soak_op(seed, wid, i, layout)
        wv = np.concatenate([vals for kind, _, vals in op.parts if kind == "w"])
        wk = np.concatenate([keys for kind, keys, _ in op.parts if kind == "w"])
        order = np.argsort(wv)
        wv, wk = wv[order], wk[order]
        sel = ops == code
        pos = np.minimum(np.searchsorted(wv, v[sel]), len(wv) - 1)
        never = int(((wv[pos] != v[sel]) | (wk[pos] != k[sel])).sum())
        if never:
            out.append(f"{never} rows never written by writer {wid} op {i}")
    return out
