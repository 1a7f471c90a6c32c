"""``Table.changes(start, end)`` (issue 13): the changes of the merged table.

The invariant: applying ``changes(a, b)`` to ``read(snapshot=a)`` gives ``read(snapshot=b)``
for random a < b, for every engine, across compactions, schema changes and transactions;
each ``-U``/``-D`` image must equal the row it replaces and each ``+I`` must insert a new
key. Plus the documented details: net vs per-snapshot, no-op updates dropped, deletes of
absent keys, compaction snapshots, expiration, filters and projections.
"""

from __future__ import annotations

import datetime
import math
import shutil
import tempfile
from typing import Any

import lamina
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

SCHEMA = pa.schema([("k", pa.int64()), ("a", pa.int64()), ("s", pa.string())])


def _canon(x: Any) -> Any:
    return "NaN" if isinstance(x, float) and math.isnan(x) else x


def rows_of(table: pa.Table, pk: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    out = {}
    for r in table.to_pylist():
        out[tuple(r[c] for c in pk)] = {c: _canon(v) for c, v in r.items()}
    return out


def apply(state: dict[Any, Any], changes: pa.Table, pk: list[str]) -> None:
    """Applies a changelog to ``state`` (strictly: images must match)."""
    for r in changes.to_pylist():
        kind = r.pop("_row_kind")
        r.pop("_snapshot_id")
        row = {c: _canon(v) for c, v in r.items()}
        key = tuple(row[c] for c in pk)
        if kind in ("-D", "-U"):
            assert state.get(key) == row, (kind, key, state.get(key), row)
            del state[key]
        elif kind == "+I":
            assert key not in state, ("+I of a present key", key)
            state[key] = row
        else:
            assert kind == "+U" and key not in state, (kind, key)
            state[key] = row


def make(tmp_path: Any, engine: str = "deduplicate") -> lamina.Table:
    options = {"fields.a.aggregate": "sum"} if engine == "aggregate" else {}
    return lamina.create_table(
        str(tmp_path / "t"), SCHEMA, primary_key=["k"], merge_engine=engine, options=options
    )


def w(t: lamina.Table, ks: list[int], a: list[Any], s: list[Any] | None = None) -> Any:
    s = s if s is not None else [f"s{k}" for k in ks]
    return t.write(pa.table({"k": ks, "a": a, "s": s}, schema=SCHEMA))


def test_net_changes_and_kinds(tmp_path):
    t = make(tmp_path)
    w(t, [1, 2, 3], [10, 20, 30])  # 1
    w(t, [2, 4], [21, 40])  # 2
    t.delete({"k": [3, 9]})  # 3: 9 was never there
    w(t, [1], [10])  # 4: no change
    w(t, [5], [50])  # 5
    t.delete({"k": [5]})  # 6: inserted and deleted within the range
    got = t.changes(1)
    assert got.to_pydict() == {
        "k": [2, 2, 3, 4],
        "a": [20, 21, 30, 40],
        "s": ["s2", "s2", "s3", "s4"],
        "_row_kind": ["-U", "+U", "-D", "+I"],
        "_snapshot_id": [2, 2, 3, 2],
    }
    every = t.changes(1, per_snapshot=True).to_pydict()
    assert list(zip(every["k"], every["_row_kind"], every["_snapshot_id"], strict=True)) == [
        (2, "-U", 2), (2, "+U", 2), (4, "+I", 2), (3, "-D", 3), (5, "+I", 5), (5, "-D", 6),
    ]  # fmt: skip
    assert t.changes(0).to_pydict()["_row_kind"] == ["+I"] * 3
    assert t.changes(6).num_rows == 0
    assert t.changes(2, 3).to_pydict()["k"] == [3]


def test_compaction_and_schema_snapshots_change_nothing(tmp_path):
    t = make(tmp_path)
    w(t, [1, 2], [1, 2])
    w(t, [2, 3], [5, 6])
    before = t.current_snapshot().id
    assert t.compact(full=True) is not None
    t.update_schema().add_column("n", pa.int32(), default=3).rename_column("a", "b").commit()
    assert t.changes(before).num_rows == 0
    got = t.changes(1)  # images in the end's schema: renamed, with the default
    assert got.column_names == ["k", "b", "s", "n", "_row_kind", "_snapshot_id"]
    assert got.to_pydict()["b"] == [2, 5, 6] and got.to_pydict()["n"] == [3, 3, 3]


def test_columns_filter_and_references(tmp_path):
    t = make(tmp_path)
    w(t, [1, 2, 3], [1, 2, 3])
    t.tag("base")
    w(t, [1, 2, 3], [1, 20, 30], ["x", "s2", "s3"])
    got = t.changes("base", columns=["a"])  # the key always comes first
    assert got.column_names == ["k", "a", "_row_kind", "_snapshot_id"]
    # k=1 changed only in s: with a alone projected, its images are equal: dropped.
    assert got.to_pydict()["k"] == [2, 2, 3, 3]
    f = t.changes("base", filter=pc.field("a") >= 20)
    assert f.to_pydict()["_row_kind"] == ["+U", "+U"]
    when = datetime.datetime.fromtimestamp(t.snapshot(1).timestamp_ms / 1000 + 0.0005)
    assert t.changes(when).num_rows == t.changes(1).num_rows
    with pytest.raises(lamina.InvalidArgumentError, match="before"):
        t.changes(2, 1)
    with pytest.raises(lamina.InvalidArgumentError):
        t.changes(None)


def test_expired_snapshots_in_the_range_are_refused(tmp_path):
    t = make(tmp_path)
    for i in range(4):
        w(t, [i], [i])
    t.tag("keep", 1)
    t.expire_snapshots(retain_last=1)  # 2 and 3 go; 1 is tagged
    with pytest.raises(lamina.SnapshotExpiredError, match="snapshot 2 was expired"):
        t.changes(1)
    assert t.changes(4).num_rows == 0


# ---- the invariant, for every engine -----------------------------------------------------

ENGINES = ["deduplicate", "partial_update", "aggregate", "first_row"]


class ChangesMachine(RuleBasedStateMachine):
    engine = "deduplicate"
    producer = "none"

    @initialize()
    def setup(self) -> None:
        self.dir = tempfile.mkdtemp()
        self.t = make_at(self.dir, self.engine, self.producer)
        self.pk = ["k"]

    @rule(producer=st.sampled_from(["none", "lookup"]))
    def set_producer(self, producer: str) -> None:
        # Written changelogs and computed ones mix in one range.
        self.t.update_schema().set_option("changelog.producer", producer).commit()

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(
        batch=st.lists(
            st.tuples(st.integers(0, 7), st.integers(-3, 3) | st.none(), st.sampled_from("xy")),
            min_size=1,
            max_size=5,
        )
    )
    def write(self, batch: list[tuple[int, Any, str]]) -> None:
        names = self.t.schema.names
        data = {"k": [b[0] for b in batch]}
        for c in names[1:]:
            typ = self.t.schema.field(c).type
            data[c] = pa.array(
                [b[1] if pa.types.is_integer(typ) else b[2] for b in batch], typ
            )  # fmt: skip
        self.t.write(pa.table(data, schema=self.t.schema))

    @rule(ks=st.lists(st.integers(0, 9), min_size=1, max_size=3))
    def delete(self, ks: list[int]) -> None:
        self.t.delete({"k": ks})

    @rule(full=st.booleans())
    def compact(self, full: bool) -> None:
        self.t.compact(full=full)

    @rule(keep=st.integers(1, 4))
    def expire(self, keep: int) -> None:
        self.t.expire_snapshots(retain_last=keep)

    @rule(n=st.integers(0, 50))
    def add_column(self, n: int) -> None:
        name = f"c{n}"
        if name not in self.t.schema.names and len(self.t.schema) < 6:
            self.t.update_schema().add_column(name, pa.int64(), default=n).commit()

    @rule(data=st.data())
    def check_range(self, data: Any) -> None:
        ids = [s.id for s in self.t.snapshots()]
        if not ids:
            return
        b = data.draw(st.sampled_from(ids))
        a = data.draw(st.sampled_from([0] + [i for i in ids if i <= b]))
        per = data.draw(st.booleans())
        if a == 0 and ids[0] != 1:  # snapshot 1 .. expired: the range is not complete
            with pytest.raises(lamina.SnapshotExpiredError):
                self.t.changes(a, b, per_snapshot=per)
            return
        end = self.t.snapshot(b)
        ts = self.t._ctx.table_schema(end.schema_id)
        state: dict[Any, Any] = {}
        if a:
            # read(a) projected into the end's schema (columns by field id)
            state = rows_of(_read_as(self.t, a, ts), self.pk)
        apply(state, self.t.changes(a, b, per_snapshot=per), self.pk)
        assert state == rows_of(self.t.read(snapshot=b), self.pk)

    @invariant()
    def whole_history(self) -> None:
        if not hasattr(self, "t"):
            return
        ids = [s.id for s in self.t.snapshots()]
        first = 0 if not ids or ids[0] == 1 else ids[0]
        ts = self.t._ctx.table_schema()
        state = rows_of(_read_as(self.t, first, ts), self.pk) if first else {}
        apply(state, self.t.changes(first), self.pk)
        assert state == rows_of(self.t.read(), self.pk)


def make_at(path: str, engine: str, producer: str = "none") -> lamina.Table:
    options = {"fields.a.aggregate": "sum"} if engine == "aggregate" else {}
    options["changelog.producer"] = producer
    return lamina.create_table(
        path + "/t", SCHEMA, primary_key=["k"], merge_engine=engine, options=options
    )


def _read_as(t: lamina.Table, sid: int, ts: Any) -> pa.Table:
    """Snapshot ``sid``'s rows read through schema ``ts``."""
    from lamina.scan import Scan

    snap = t.snapshot(sid)
    return Scan(t._ctx, None, None, snap, schema_id=ts.id).to_arrow()


@pytest.mark.parametrize("producer", ["none", "lookup"])
@pytest.mark.parametrize("engine", ENGINES)
def test_changes_invariant(engine, producer):
    attrs = {"engine": engine, "producer": producer}
    machine = type(f"Changes_{engine}_{producer}", (ChangesMachine,), attrs)
    machine.TestCase.settings = settings(max_examples=30, stateful_step_count=18, deadline=None)
    machine.TestCase().runTest()


@pytest.mark.parametrize("producer", ["none", "lookup"])
def test_list_and_float_columns_compare_by_value(tmp_path, producer):
    """A rewrite with equal lists (nulls, NaN included) changes nothing; any element,
    length or null difference is an update."""
    schema = pa.schema([("k", pa.int64()), ("l", pa.list_(pa.float64())), ("f", pa.float32())])
    t = lamina.create_table(
        str(tmp_path / "t"), schema, primary_key=["k"],
        options={"changelog.producer": producer},
    )  # fmt: skip
    nan = float("nan")
    rows = {
        "k": [1, 2, 3, 4, 5, 6],
        "l": [[1.0, nan], None, [], [1.0, None], [2.0], [3.0, 4.0]],
        "f": [nan, 1.0, None, 2.0, 3.0, 4.0],
    }
    t.write(pa.table(rows, schema=schema))
    t.write(pa.table(rows, schema=schema))  # the same rows again
    assert t.changes(1, 2).num_rows == 0
    new = {
        "k": [1, 2, 3, 4, 5, 6],
        "l": [[1.0, nan], [], None, [1.0, 5.0], [2.0, 0.0], [3.0, 4.0]],
        "f": [nan, 1.0, None, 2.0, 3.0, nan],
    }
    t.write(pa.table(new, schema=schema))
    ch = t.changes(2, 3)
    assert ch.filter(pc.equal(ch["_row_kind"], "+U")).column("k").to_pylist() == [2, 3, 4, 5, 6]
