"""I/O fault injection: random faults in both file layers during random table operations.

Faults are armed in the C++ file layer (``lamina._core._io_fault_arm``: create, write,
fsync, close, unlink; errors and short writes) and in a ``FaultyIO`` (a ``FileIO``
whose primitives fail on chosen calls). After every operation the table is reopened
with a clean ``FileIO`` and must read exactly as a plain dict model says: a failed
operation (``StorageError``) changes nothing, a successful one (or a
``NotDurableError``: visible, not durable) changes what the model says.

    python tests/reliability/faults_long.py --steps 2000

prints "faults injected: N, operations failed: F, lost rows: 0" and exits with status 1
if a row was lost or changed or an error was not a StorageError.
"""

from __future__ import annotations

import argparse
import datetime
import errno
import os
import random
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import lamina
import pyarrow as pa
from lamina import _core
from lamina.io import FileIO, NotDurableError

SCHEMA = pa.schema([("p", pa.int32()), ("id", pa.int64()), ("v", pa.int64()), ("s", pa.string())])
Key = tuple[int, int]
Row = tuple[int, str]
State = dict[Key, Row]

CPP_OPS = ("create", "write", "fsync", "close", "unlink")
PY_OPS = ("open", "write", "fsync", "close", "link", "replace", "unlink")
ERRNOS = (errno.EIO, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


# ---- a FileIO that fails on command ---------------------------------------------------


@dataclass
class PyFault:
    op: str
    nth: int = 1  # first affected matching call, 1-based
    times: int = 1  # affected calls in a row; 0: every later one
    err: int = errno.EIO  # 0: no error, a short write of `short` bytes
    short: int = 0
    path: str | None = None  # only calls whose path contains this
    exact: bool = False  # ... or is exactly this
    seen: int = 0


class FaultyIO(FileIO):
    """A ``FileIO`` whose primitives fail on armed calls; records every call."""

    def __init__(self, sync: bool = True) -> None:
        super().__init__(sync)
        self.faults: list[PyFault] = []
        self.injected = 0
        self.events: list[tuple[str, str]] = []
        self.calls: Counter[str] = Counter()
        self._fd_paths: dict[int, str] = {}

    def arm(self, op: str, **kw: Any) -> PyFault:
        assert op in PY_OPS, op
        f = PyFault(op, **kw)
        self.faults.append(f)
        return f

    def clear(self) -> None:
        self.faults = []

    def _check(self, op: str, path: str) -> int:
        """Raises the armed error, or returns a write limit (0: none)."""
        self.events.append((op, path))
        self.calls[op] += 1
        hit = None
        for f in self.faults:
            if f.op != op or (f.path is not None and f.path not in path):
                continue
            if f.exact and f.path != path:
                continue
            f.seen += 1  # every matching fault counts the call, affected or not
            active = f.seen >= f.nth and (f.times == 0 or f.seen < f.nth + f.times)
            if active and hit is None:
                hit = f
        if hit is None:
            return 0
        self.injected += 1
        if hit.err:
            raise OSError(hit.err, os.strerror(hit.err), path)
        return hit.short

    def open_fd(self, path: str, flags: int, mode: int = 0o644) -> int:
        self._check("open", path)
        fd = super().open_fd(path, flags, mode)
        self._fd_paths[fd] = path
        return fd

    def write_fd(self, fd: int, data: memoryview) -> int:
        limit = self._check("write", self._fd_paths.get(fd, ""))
        return super().write_fd(fd, data[:limit] if limit else data)

    def fsync_fd(self, fd: int) -> None:
        self._check("fsync", self._fd_paths.get(fd, ""))
        super().fsync_fd(fd)

    def close_fd(self, fd: int) -> None:
        path = self._fd_paths.pop(fd, "")
        super().close_fd(fd)  # released whatever happens, as close(2) does
        self._check("close", path)

    def link(self, src: str, dst: str) -> None:
        self._check("link", dst)
        super().link(src, dst)

    def replace(self, src: str, dst: str) -> None:
        self._check("replace", dst)
        super().replace(src, dst)

    def unlink(self, path: str) -> None:
        self._check("unlink", path)
        super().unlink(path)


def cpp_faults_injected() -> int:
    return sum(_core._io_stats()["faults"].values())


# ---- the model ------------------------------------------------------------------------


def rows_table(rows: dict[Key, Row]) -> pa.Table:
    keys = list(rows)
    return pa.table(
        {
            "p": pa.array([k[0] for k in keys], pa.int32()),
            "id": pa.array([k[1] for k in keys], pa.int64()),
            "v": pa.array([rows[k][0] for k in keys], pa.int64()),
            "s": pa.array([rows[k][1] for k in keys], pa.string()),
        },
        schema=SCHEMA,
    )


def keys_table(keys: list[Key]) -> pa.Table:
    return pa.table(
        {
            "p": pa.array([k[0] for k in keys], pa.int32()),
            "id": pa.array([k[1] for k in keys], pa.int64()),
        }
    )


def state_of(t: Any, snapshot: int | None = None) -> State:
    d = t.read(snapshot=snapshot).to_pydict()
    return {(p, i): (v, s) for p, i, v, s in zip(d["p"], d["id"], d["v"], d["s"])}


def lost_rows(got: State, want: State) -> int:
    """Rows of ``want`` missing or different in ``got``, plus rows ``got`` invented."""
    wrong = sum(1 for k, r in want.items() if got.get(k) != r)
    return wrong + sum(1 for k in got if k not in want)


def create(path: str, io: FileIO | None = None, sync: bool = True, **options: str) -> Any:
    return lamina.create_table(
        path,
        SCHEMA,
        primary_key=["p", "id"],
        partition_by=["p"],
        buckets=2,
        # Commits write their changelog too: a fault there must abort them cleanly.
        options={"write.sync": str(sync).lower(), "changelog.producer": "lookup", **options},
        file_io=io,
    )


def referenced_files(t: Any) -> set[str]:
    """Relative paths of every data file and manifest some snapshot references."""
    out: set[str] = set()
    store = t._store
    for sid in store.ids():
        snap = store.load(sid)
        out.update(os.path.join("manifest", m) for m in snap.manifests)
        out.update(f.path for f in store.live_files(snap))
        out.update(snap.changelog or ())
    return out


def files_on_disk(root: str) -> set[str]:
    out = set()
    for sub in ("data", "changelog", "manifest", "snapshot", "tag", "schema"):
        for dirpath, _dirs, names in os.walk(os.path.join(root, sub)):
            for n in names:
                out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def unreferenced(t: Any) -> set[str]:
    """Files no snapshot needs: data files and manifests, and ``.tmp-`` leftovers."""
    refs = referenced_files(t)
    out = set()
    for rel in files_on_disk(t.path):
        top = rel.split(os.sep, 1)[0]
        if top in ("data", "changelog", "manifest") and rel not in refs:
            out.add(rel)
        elif os.path.basename(rel).startswith(".tmp-"):
            out.add(rel)
    return out


# ---- random operations under random faults --------------------------------------------


@dataclass
class FaultStats:
    steps: int = 0
    faults_injected: int = 0
    ops_failed: int = 0
    not_durable: int = 0
    lost_rows: int = 0
    wrong_errors: list[str] = field(default_factory=list)
    by_op: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"faults injected: {self.faults_injected}, operations failed: {self.ops_failed} "
            f"(of {self.steps}), lost rows: {self.lost_rows}"
        )


class FaultCampaign:
    """One table, a model of it, and random operations each with one random fault."""

    def __init__(self, path: str, seed: int, sync: bool = True) -> None:
        self.rng = random.Random(seed)
        self.io = FaultyIO()
        self.path = path
        options = {
            "compaction.num_sorted_run_trigger": "2",
            "compaction.num_sorted_run_stop_trigger": "4",  # inline compactions too
            "manifest.merge_min_count": "4",  # and merged manifests
        }
        self.t = create(path, self.io, sync=sync, **options)
        self.model: State = {}
        self.history: dict[int, State] = {}
        self.stats = FaultStats()

    # A random operation: (name, run() -> None, apply(model) -> model).
    def _random_op(self) -> tuple[str, Any, Any]:
        rng, t = self.rng, self.t

        def rows() -> dict[Key, Row]:
            out = {}
            for _ in range(rng.randint(1, 60)):
                k = (rng.randint(0, 2), rng.randint(0, 150))
                out[k] = (rng.randint(-(10**9), 10**9), "x" * rng.randint(0, 12))
            return out

        def keys() -> list[Key]:
            pool = list(self.model) or [(0, 0)]
            return list({rng.choice(pool) for _ in range(rng.randint(1, 20))})

        kind = rng.choice(["write", "write", "delete", "transaction", "compact", "expire"])
        if kind == "write":
            r = rows()
            return kind, lambda: t.write(rows_table(r)), lambda m: {**m, **r}
        if kind == "delete":
            ks = keys()
            return kind, lambda: t.delete(keys_table(ks)), lambda m: _without(m, ks)
        if kind == "transaction":
            r, ks = rows(), keys()

            def tx() -> None:
                with t.transaction() as x:
                    x.write(rows_table(r))
                    x.delete(keys_table(ks))

            return kind, tx, lambda m: _without({**m, **r}, ks)
        if kind == "compact":
            full = rng.random() < 0.5
            return kind, lambda: t.compact(full=full), lambda m: m
        keep = rng.randint(1, 3)
        return kind, lambda: t.expire_snapshots(retain_last=keep), lambda m: m

    def _arm_random(self) -> int:
        """Arms one fault; returns the errno a failure must carry (0: short writes only)."""
        rng = self.rng
        err = rng.choice(ERRNOS)
        if rng.random() < 0.6:
            op = rng.choice(CPP_OPS)
            nth = rng.randint(1, 12)
            if op == "write" and rng.random() < 0.4:
                runs = rng.randint(1, 8)
                _core._io_fault_arm("write", nth, runs, 0, rng.randint(1, 64))
                if rng.random() < 0.5:
                    return 0  # short writes only: the file must still come out right
                _core._io_fault_arm("write", nth + runs, 0, errno.ENOSPC)
                return errno.ENOSPC
            _core._io_fault_arm(op, nth, 1, err)
            return err
        op = rng.choice(PY_OPS)
        if op == "write" and rng.random() < 0.3:
            self.io.arm("write", nth=rng.randint(1, 3), times=0, err=0, short=rng.randint(1, 9))
            return 0
        where = rng.choice([None, None, "/snapshot", "/manifest", "/data", ".tmp-"])
        path = None if where is None else self.path + where if where != ".tmp-" else where
        self.io.arm(op, nth=rng.randint(1, 4), err=err, path=path)
        return err

    def _clear(self) -> None:
        _core._io_fault_clear()
        self.io.clear()

    def step(self) -> None:
        name, run, apply = self._random_op()
        self.stats.steps += 1
        before_cpp, before_py = cpp_faults_injected(), self.io.injected
        want_errno = self._arm_random()
        committed = True
        try:
            run()
        except NotDurableError:
            self.stats.not_durable += 1
        except lamina.StorageError as e:
            committed = False
            self.stats.ops_failed += 1
            self.stats.by_op[name] += 1
            if want_errno and e.errno != want_errno:
                self.stats.wrong_errors.append(f"{name}: errno {e.errno}, armed {want_errno}")
        except Exception as e:  # anything else is a finding
            self.stats.wrong_errors.append(f"{name}: {type(e).__name__}: {e}")
            committed = False
        finally:
            self._clear()
        self.stats.faults_injected += cpp_faults_injected() - before_cpp
        self.stats.faults_injected += self.io.injected - before_py
        if committed:
            self.model = apply(self.model)
        self.check()

    def check(self) -> None:
        """The table, reopened cleanly, reads as the model; so does a retained snapshot."""
        fresh = lamina.open_table(self.path)
        cur = fresh.current_snapshot()
        for sid in fresh._store.ids():
            if sid not in self.history:
                self.history[sid] = dict(self.model)
        self.stats.lost_rows += lost_rows(state_of(fresh), self.model)
        if cur is not None:
            self.stats.lost_rows += lost_rows(state_of(fresh), self.history[cur.id])
            sid = self.rng.choice(fresh._store.ids())
            self.stats.lost_rows += lost_rows(state_of(fresh, sid), self.history[sid])

    def clean_orphans(self) -> None:
        """remove_orphan_files(0) leaves exactly the files snapshots reference."""
        fresh = lamina.open_table(self.path)
        fresh.remove_orphan_files(datetime.timedelta(0))
        left = unreferenced(fresh)
        if left:
            self.stats.wrong_errors.append(f"orphans left: {sorted(left)[:3]}")
        self.stats.lost_rows += lost_rows(state_of(fresh), self.model)


def _without(m: State, keys: list[Key]) -> State:
    out = dict(m)
    for k in keys:
        out.pop(k, None)
    return out


def run_campaign(path: str, seed: int, steps: int, sync: bool = True) -> FaultStats:
    c = FaultCampaign(path, seed, sync=sync)
    try:
        for i in range(steps):
            c.step()
            if i % 10 == 9:
                c.clean_orphans()
        c.clean_orphans()
    finally:
        _core._io_fault_clear()
    return c.stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2000, help="operations, over all tables")
    ap.add_argument("--steps-per-table", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    total = FaultStats()
    with tempfile.TemporaryDirectory() as work:
        n = 0
        while total.steps < args.steps:
            steps = min(args.steps_per_table, args.steps - total.steps)
            st = run_campaign(os.path.join(work, f"t{n}"), args.seed + n, steps, sync=n % 2 == 0)
            total.steps += st.steps
            total.faults_injected += st.faults_injected
            total.ops_failed += st.ops_failed
            total.not_durable += st.not_durable
            total.lost_rows += st.lost_rows
            total.wrong_errors += st.wrong_errors
            total.by_op.update(st.by_op)
            n += 1
    print(total.line())
    print(
        f"failed operations by kind: {dict(sorted(total.by_op.items()))}; "
        f"visible but not durable: {total.not_durable}"
    )
    for w in total.wrong_errors[:20]:
        print("finding:", w)
    return 1 if total.lost_rows or total.wrong_errors else 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
