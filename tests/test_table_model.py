"""Model-based tests: random writes, deletes, transactions, reopenings and time travel
against a Python dict, for every merge engine."""

from __future__ import annotations

import math
import shutil
import tempfile
from typing import Any

import lamina
import pyarrow as pa
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

AGG = {"a": "sum", "b": "max", "c": "count", "d": "last_non_null", "e": "collect_list",
       "f": "bool_or", "g": "first_non_null", "h": "min", "i": "last_value",
       "j": "first_value", "k2": "bool_and", "m": "min"}  # fmt: skip

SCHEMA = pa.schema(
    [
        ("k", pa.int64()),
        ("a", pa.int64()),
        ("b", pa.float64()),
        ("c", pa.int64()),
        ("d", pa.string()),
        ("e", pa.list_(pa.int32())),
        ("f", pa.bool_()),
        ("g", pa.string()),
        ("h", pa.int32()),
        ("i", pa.string()),
        ("j", pa.int64()),
        ("k2", pa.bool_()),
        ("m", pa.float32()),
    ]
)
VALUE_COLS = [f.name for f in SCHEMA if f.name != "k"]

values = st.fixed_dictionaries(
    {
        "a": st.none() | st.integers(-100, 100),
        # NaN in min/max columns: ignored like null, whatever the order and compaction.
        "b": st.none() | st.just(math.nan) | st.floats(-1e6, 1e6, allow_nan=False),
        "c": st.none() | st.integers(0, 5),
        "d": st.none() | st.text(max_size=4),
        "e": st.none() | st.lists(st.integers(0, 9), max_size=3),
        "f": st.none() | st.booleans(),
        "g": st.none() | st.text(max_size=3),
        "h": st.none() | st.integers(-50, 50),
        "i": st.none() | st.text(max_size=3),
        "j": st.none() | st.integers(0, 9),
        "k2": st.none() | st.booleans(),
        "m": st.none() | st.just(math.nan) | st.floats(-1e6, 1e6, allow_nan=False, width=32),
    }
)
PARTS = ["eu", "us/west", ""]
# Keys are (partition, k); tables without partitions ignore the first part.
keys = st.tuples(st.sampled_from(PARTS), st.integers(0, 12))
# Empty writes, deletes and transactions included: they must commit nothing.
rows = st.lists(st.tuples(keys, values), min_size=0, max_size=8)


def _is_nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _combine(fn: str, old: Any, new: Any) -> Any:
    if fn == "sum":
        return new if old is None else old if new is None else old + new
    if fn in ("max", "min"):  # NaN is ignored like null, unless there is nothing else
        if old is None or _is_nan(old):
            return old if new is None else new
        if new is None or _is_nan(new):
            return old
        return max(old, new) if fn == "max" else min(old, new)
    if fn == "count":
        return old + (1 if new is not None else 0)
    if fn == "last_value":
        return new
    if fn == "last_non_null":
        return old if new is None else new
    if fn == "first_value":
        return old
    if fn == "first_non_null":
        return new if old is None else old
    if fn in ("bool_and", "bool_or"):
        if old is None:
            return new
        if new is None:
            return old
        return (old and new) if fn == "bool_and" else (old or new)
    if fn == "collect_list":
        if old is None:
            return new
        if new is None:
            return old
        return old + new
    raise AssertionError(fn)


class Model:
    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.rows: dict[Any, dict[str, Any]] = {}

    def upsert(self, k: Any, v: dict[str, Any]) -> None:
        e = self.engine
        if e == "deduplicate":
            self.rows[k] = dict(v)
        elif e == "first_row":
            self.rows.setdefault(k, dict(v))
        elif e == "partial_update":
            if k in self.rows:
                for c, x in v.items():
                    if x is not None:
                        self.rows[k][c] = x
            else:
                self.rows[k] = dict(v)
        else:
            if k not in self.rows:
                first = dict(v)
                first["c"] = 1 if v["c"] is not None else 0
                self.rows[k] = first
            else:
                old = self.rows[k]
                for c, fn in AGG.items():
                    old[c] = _combine(fn, old[c], v[c])

    def delete(self, k: Any) -> None:
        self.rows.pop(k, None)

    def snapshot(self) -> dict[Any, dict[str, Any]]:
        return {k: {c: _canon(x) for c, x in v.items()} for k, v in self.rows.items()}


def _canon(x: Any) -> Any:
    """NaN as a value that compares equal to itself."""
    return "NaN" if _is_nan(x) else x


PART_SCHEMA = pa.schema([("p", pa.string()), *SCHEMA])


def _as_table(batch: list[tuple[Any, dict[str, Any]]], partitioned: bool) -> pa.Table:
    cols: dict[str, list[Any]] = {}
    if partitioned:
        cols["p"] = [k[0] for k, _ in batch]
    cols["k"] = [k[1] for k, _ in batch]
    for c in VALUE_COLS:
        cols[c] = [v[c] for _, v in batch]
    return pa.table(cols, schema=PART_SCHEMA if partitioned else SCHEMA)


def _keys_table(ks: list[Any], partitioned: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"k": pa.array([k[1] for k in ks], pa.int64())}
    if partitioned:
        out["p"] = [k[0] for k in ks]
    return out


def _rows_of(table: pa.Table, partitioned: bool) -> dict[Any, dict[str, Any]]:
    d = table.to_pydict()
    out = {}
    for i, k in enumerate(d["k"]):
        key = (d["p"][i] if partitioned else "", k)
        assert key not in out, f"duplicate key {key} in a read"
        out[key] = {c: _canon(d[c][i]) for c in VALUE_COLS}
    return out


class TableMachine(RuleBasedStateMachine):
    engine = "deduplicate"
    partition_by: list[str] | None = None
    buckets = 1

    @initialize()
    def setup(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="lamina-model-")
        options = {f"fields.{c}.aggregate": fn for c, fn in AGG.items()}
        if self.engine != "aggregate":
            options = {}
        # Fold manifests often, also while the table has no live file (all deleted).
        options["manifest.merge_min_count"] = "2"
        self.table = lamina.create_table(
            self.dir + "/t",
            PART_SCHEMA if self.partitioned else SCHEMA,
            primary_key=["p", "k"] if self.partitioned else ["k"],
            partition_by=["p"] if self.partitioned else None,
            buckets=self.buckets,
            merge_engine=self.engine,
            options=options,
        )
        self.model = Model(self.engine)
        self.history: list[tuple[int, dict[Any, dict[str, Any]]]] = []

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _fold_keys(self, ks: list[Any]) -> list[Any]:
        return ks if self.partitioned else [("", k) for _, k in ks]

    def _fold(self, batch: list[tuple[Any, dict[str, Any]]]) -> list[tuple[Any, dict[str, Any]]]:
        return batch if self.partitioned else [(("", k), v) for (_, k), v in batch]

    def _record(
        self,
        snap: lamina.Snapshot | None,
        committed: bool = True,
        before: lamina.Snapshot | None = None,
    ) -> None:
        latest = self.table.current_snapshot()
        if not committed:  # an empty write, delete or transaction is a no-op
            assert snap == before == latest
            return
        assert snap is not None and latest is not None and snap.id <= latest.id
        assert before is None or snap.id > before.id
        self.history.append((snap.id, self.model.snapshot()))

    @rule(batch=rows)
    def write(self, batch: list[tuple[Any, dict[str, Any]]]) -> None:
        batch = self._fold(batch)
        before = self.table.current_snapshot()
        snap = self.table.write(_as_table(batch, self.partitioned))
        for k, v in batch:
            self.model.upsert(k, v)
        self._record(snap, committed=bool(batch), before=before)

    @rule(ks=st.lists(keys, min_size=0, max_size=5))
    def delete(self, ks: list[Any]) -> None:
        ks = self._fold_keys(ks)
        before = self.table.current_snapshot()
        snap = self.table.delete(_keys_table(ks, self.partitioned))
        for k in ks:
            self.model.delete(k)
        self._record(snap, committed=bool(ks), before=before)

    @rule(
        ops=st.lists(
            st.one_of(
                rows.map(lambda r: ("w", r)),
                st.lists(keys, min_size=0, max_size=3).map(lambda r: ("d", r)),
            ),
            min_size=0,
            max_size=4,
        ),
        fail=st.booleans(),
    )
    def transaction(self, ops: list[tuple[str, Any]], fail: bool) -> None:
        class Boom(Exception):
            pass

        ops = [
            (kind, self._fold(arg) if kind == "w" else self._fold_keys(arg)) for kind, arg in ops
        ]
        before = self.table.current_snapshot()
        try:
            with self.table.transaction() as tx:
                for kind, arg in ops:
                    if kind == "w":
                        tx.write(_as_table(arg, self.partitioned))
                    else:
                        tx.delete(_keys_table(arg, self.partitioned))
                if fail:
                    raise Boom
        except Boom:
            return
        for kind, arg in ops:
            if kind == "w":
                for k, v in arg:
                    self.model.upsert(k, v)
            else:
                for k in arg:
                    self.model.delete(k)
        self._record(tx.snapshot, committed=any(arg for _, arg in ops), before=before)

    @rule(full=st.booleans())
    def compact(self, full: bool) -> None:
        snap = self.table.compact(full=full)
        if snap is not None:  # compaction never changes what a read returns
            self._record(snap)

    @rule(retain=st.integers(1, 3))
    def expire(self, retain: int) -> None:
        expired = set(self.table.expire_snapshots(retain_last=retain))
        self.history = [(sid, rows) for sid, rows in self.history if sid not in expired]

    @rule()
    def reopen(self) -> None:
        self.table = lamina.open_table(self.dir + "/t")

    @precondition(lambda self: bool(self.history))
    @rule(data=st.data())
    def time_travel(self, data: st.DataObject) -> None:
        sid, expected = data.draw(st.sampled_from(self.history))
        assert _rows_of(self.table.read(snapshot=sid), self.partitioned) == expected

    @invariant()
    def current_matches_model(self) -> None:
        if not hasattr(self, "table"):
            return
        assert _rows_of(self.table.read(), self.partitioned) == self.model.snapshot()


def _machine(engine: str, buckets: int, partitioned: bool) -> type:
    attrs = {"engine": engine, "buckets": buckets, "partitioned": partitioned}
    return type(f"M_{engine}_{buckets}_{partitioned}", (TableMachine,), attrs)


@pytest.mark.parametrize("engine", ["deduplicate", "partial_update", "aggregate", "first_row"])
@pytest.mark.parametrize(("buckets", "partitioned"), [(1, False), (3, True)])
def test_model(engine: str, buckets: int, partitioned: bool) -> None:
    machine = _machine(engine, buckets, partitioned)
    machine.TestCase.settings = settings(max_examples=15, stateful_step_count=12, deadline=None)
    machine.TestCase().runTest()
