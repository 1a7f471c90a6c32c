"""Schema evolution (issue 12): update_schema, schema_mode="merge", schema_history, field
ids across renames and drops, concurrency, and a model test that interleaves writes,
deletes, compaction, reopening, time travel and random schema changes against a dict
model keyed by field id, for every merge engine."""

from __future__ import annotations

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


def make(tmp_path: Any, engine: str = "deduplicate", **kw: Any) -> lamina.Table:
    options = {"fields.a.aggregate": "sum"} if engine == "aggregate" else {}
    return lamina.create_table(
        str(tmp_path / "t"), SCHEMA, primary_key=["k"], merge_engine=engine, options=options, **kw
    )


def rows(t: lamina.Table, **kw: Any) -> dict[int, dict[str, Any]]:
    d = t.read(**kw).to_pydict()
    return {k: {c: d[c][i] for c in d if c != "k"} for i, k in enumerate(d["k"])}


# ---- the operations, one by one ---------------------------------------------------------


def test_add_drop_rename_move_nullable_keep_the_data(tmp_path):
    t = make(tmp_path)
    t.write(pa.table({"k": [1, 2], "a": [10, 20], "s": ["x", "y"]}, schema=SCHEMA))
    with t.update_schema() as u:
        u.add_column("f", pa.float32())
        u.rename_column("a", "clicks")
        u.drop_column("s")
        u.move_column("f", after="k")
    assert t.schema.names == ["k", "f", "clicks"]
    assert t.schema.field("f").type == pa.float32() and t.schema.field("f").nullable
    assert rows(t) == {1: {"f": None, "clicks": 10}, 2: {"f": None, "clicks": 20}}
    snap = t.current_snapshot()
    assert snap.kind == "schema" and snap.schema_id == 1
    # Old snapshots read with the schema they had.
    assert rows(t, snapshot=1) == {1: {"a": 10, "s": "x"}, 2: {"a": 20, "s": "y"}}
    assert t.read(snapshot=1).schema.names == ["k", "a", "s"]
    assert [(i, s.names) for i, s in t.schema_history()] == [
        (0, ["k", "a", "s"]),
        (1, ["k", "f", "clicks"]),
    ]
    t.update_schema().make_nullable("clicks").commit()
    assert t.schema.field("clicks").nullable


def test_a_dropped_name_added_again_is_a_new_empty_column(tmp_path):
    t = make(tmp_path)
    t.write(pa.table({"k": [1], "a": [10], "s": ["x"]}, schema=SCHEMA))
    t.update_schema().drop_column("a").commit()
    t.update_schema().add_column("a", pa.int64()).commit()
    assert rows(t) == {1: {"s": "x", "a": None}}
    t.write(pa.table({"k": [2], "s": ["y"], "a": [5]}))
    assert t.compact(full=True) is not None
    assert rows(t) == {1: {"s": "x", "a": None}, 2: {"s": "y", "a": 5}}
    assert t.lookup({"k": [1, 2]}).to_pydict() == {"k": [1, 2], "s": ["x", "y"], "a": [None, 5]}


def test_write_with_schema_mode_merge_adds_the_new_columns(tmp_path):
    t = make(tmp_path)
    t.write(pa.table({"k": [1], "a": [1], "s": ["x"]}, schema=SCHEMA))
    data = pa.table({"k": [2], "a": [2], "s": ["y"], "n": pa.array([7], pa.int16())})
    with pytest.raises(lamina.SchemaError, match="which the table does not have"):
        t.write(data)
    snap = t.write(data, schema_mode="merge")
    assert t.schema.field("n").type == pa.int16()
    assert [s.kind for s in t.snapshots()][-2:] == ["schema", "append"]
    assert snap.id == t.current_snapshot().id
    assert rows(t) == {1: {"a": 1, "s": "x", "n": None}, 2: {"a": 2, "s": "y", "n": 7}}
    with pytest.raises(lamina.InvalidArgumentError, match="schema_mode"):
        t.write(data, schema_mode="bogus")


def test_aggregate_options_follow_a_rename_and_go_with_a_drop(tmp_path):
    t = make(tmp_path, "aggregate")
    for v in (1, 2):
        t.write(pa.table({"k": [1], "a": [v], "s": ["x"]}, schema=SCHEMA))
    t.update_schema().rename_column("a", "total").commit()
    assert t.options["fields.total.aggregate"] == "sum"
    assert "fields.a.aggregate" not in t.options
    t.write(pa.table({"k": [1], "total": [4], "s": [None]}))
    assert rows(t) == {1: {"total": 7, "s": "x"}}
    t.update_schema().drop_column("total").commit()
    assert not any(k.endswith(".aggregate") for k in t.options)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda u: u.drop_column("k"), "primary key column 'k' cannot be dropped"),
        (lambda u: u.rename_column("k", "key"), "cannot be renamed"),
        (lambda u: u.make_nullable("k"), "cannot be made nullable"),
        (lambda u: u.drop_column("nope"), "'nope' is not in the table schema"),
        (lambda u: u.rename_column("a", "s"), "'s' already exists"),
        (lambda u: u.add_column("a", pa.int8()), "'a' already exists"),
        (lambda u: u.add_column("_kind", pa.int8()), "reserved"),
        (lambda u: u.add_column("n", pa.int8(), nullable=False), "must be nullable"),
        (lambda u: u.move_column("a", after="nope"), "'nope' is not in the table schema"),
    ],
)
def test_bad_changes_are_refused_and_change_nothing(tmp_path, change, match):
    t = make(tmp_path)
    u = t.update_schema()
    with pytest.raises(lamina.LaminaError, match=match):
        change(u)
    assert u.commit() is None  # nothing valid was staged: nothing committed
    assert t.schema.equals(lamina.open_table(t.path).schema)
    assert t.current_snapshot() is None


def test_partition_columns_cannot_change(tmp_path):
    s = pa.schema([("p", pa.string()), ("k", pa.int64()), ("v", pa.int64())])
    t = lamina.create_table(str(tmp_path / "t"), s, primary_key=["p", "k"], partition_by=["p"])
    with pytest.raises(lamina.SchemaError, match="cannot be dropped"):
        t.update_schema().drop_column("p")


def test_a_concurrent_schema_change_conflicts_and_writes_follow_the_newest(tmp_path):
    t = make(tmp_path)
    t.write(pa.table({"k": [1], "a": [1], "s": ["x"]}, schema=SCHEMA))
    other = lamina.open_table(t.path)
    mine = t.update_schema().add_column("mine", pa.int64())
    tx_table = lamina.open_table(t.path)
    with tx_table.transaction() as tx:  # prepared against schema 0 ...
        tx.write(pa.table({"k": [2], "a": [2], "s": ["y"]}, schema=SCHEMA))
        other.update_schema().rename_column("a", "b").commit()  # ... schema 1 lands first
    # The write committed under the newest schema; its file is read by field id.
    assert tx.snapshot.schema_id == 1
    assert rows(lamina.open_table(t.path)) == {1: {"b": 1, "s": "x"}, 2: {"b": 2, "s": "y"}}
    with pytest.raises(lamina.CommitConflictError, match="another schema change"):
        mine.commit()
    assert lamina.open_table(t.path).schema.names == ["k", "b", "s"]


def test_files_without_field_ids_refuse_a_rename_until_compacted(tmp_path):
    """Tables written before data files carried field ids (the golden v1 table)."""
    import os

    src = os.path.join(os.path.dirname(__file__), "golden", "v1")
    name = sorted(n for n in os.listdir(src) if os.path.isdir(os.path.join(src, n)))[0]
    path = str(tmp_path / name)
    shutil.copytree(os.path.join(src, name), path)
    t = lamina.open_table(path)
    before = t.read()
    col = next(c for c in t.schema.names if c not in t.primary_key + t.partition_by)
    with pytest.raises(lamina.SchemaError, match="compact\\(full=True\\)"):
        t.update_schema().rename_column(col, col + "_2").commit()
    t.update_schema().drop_column(col).commit()  # a drop needs no ids
    with pytest.raises(lamina.SchemaError, match="compact\\(full=True\\)"):
        t.update_schema().add_column(col, pa.int64()).commit()  # its name in old files
    assert t.compact(full=True) is not None
    t.update_schema().add_column(col, pa.int64()).commit()
    got = t.read()
    assert got.column(col).null_count == got.num_rows
    key = t.primary_key[0]
    # (compared as text: NaN values never equal themselves)
    assert str(got.drop_columns([col]).sort_by(key).to_pydict()) == str(
        before.drop_columns([col]).sort_by(key).to_pydict()
    )


def test_widen_column_reads_old_files_in_the_new_type_everywhere(tmp_path):
    s = pa.schema([("k", pa.int64()), ("v", pa.int32()), ("f", pa.float32()),
                   ("t", pa.string()), ("u", pa.uint16())])  # fmt: skip
    t = lamina.create_table(
        str(tmp_path / "t"), s, primary_key=["k"], merge_engine="aggregate",
        options={"fields.v.aggregate": "sum"},
    )  # fmt: skip
    t.write(pa.table({"k": [1, 2], "v": [2**31 - 1, 3], "f": [1.5, None], "t": ["a", None],
                      "u": [65535, 0]}, schema=s))  # fmt: skip
    with t.update_schema() as u:
        u.widen_column("v", pa.int64()).widen_column("f", pa.float64())
        u.widen_column("t", pa.large_string()).widen_column("u", pa.int32())
    want_types = [pa.int64(), pa.int64(), pa.float64(), pa.large_string(), pa.int32()]
    assert [f.type for f in t.schema] == want_types
    t.write(pa.table({"k": [1], "v": pa.array([10], pa.int64()), "f": [None], "t": [None],
                      "u": [None]}, schema=t.schema))  # fmt: skip
    want = {"k": [1, 2], "v": [2**31 + 9, 3], "f": [1.5, None], "t": ["a", None],
            "u": [65535, 0]}  # fmt: skip
    got = t.read()
    assert [f.type for f in got.schema] == want_types
    assert got.sort_by("k").to_pydict() == want
    assert t.lookup({"k": [1, 2]}).to_pydict() == want
    assert t.scan().take([0, 1]).sort_by("k").to_pydict() == want
    # Filters see the new type: a value only the wider type holds.
    assert t.read(filter=pc.field("v") > 2**31).to_pydict()["k"] == [1]
    assert t.compact(full=True) is not None
    assert t.read().sort_by("k").to_pydict() == want
    # The snapshot before the change still reads in the old types.
    assert [f.type for f in t.read(snapshot=1).schema][1] == pa.int32()


def test_widened_key_disjoint_runs_read_without_a_merge(tmp_path):
    """Key-disjoint runs are concatenated, not merged: all old (one narrow type: widened
    once after decoding) or mixed (narrow and wide: the merge path converts per run)."""
    s = pa.schema([("k", pa.int64()), ("v", pa.int16()), ("t", pa.string())])
    t = lamina.create_table(str(tmp_path / "t"), s, primary_key=["k"])
    t.write(pa.table({"k": [1, 2], "v": [-32768, 5], "t": ["a", "b"]}, schema=s))
    t.write(pa.table({"k": [3, 4], "v": [32767, None], "t": [None, "d"]}, schema=s))
    t.update_schema().widen_column("v", pa.int64()).widen_column("t", pa.large_string()).commit()
    want = {"k": [1, 2, 3, 4], "v": [-32768, 5, 32767, None], "t": ["a", "b", None, "d"]}
    got = t.read()
    assert got.schema.field("v").type == pa.int64()
    assert got.sort_by("k").to_pydict() == want
    t.write(pa.table({"k": [5], "v": [2**40], "t": ["e"]}, schema=t.schema))
    want = {k: [*v, e] for (k, v), e in zip(want.items(), [5, 2**40, "e"], strict=True)}
    assert t.read().sort_by("k").to_pydict() == want
    assert t.read(columns=["v"]).column(0).to_pylist() == want["v"]


@pytest.mark.parametrize(
    "frm,to",
    [(pa.int64(), pa.int32()), (pa.int32(), pa.uint64()), (pa.int64(), pa.float64()),
     (pa.float64(), pa.float32()), (pa.string(), pa.binary()), (pa.int32(), pa.string()),
     (pa.large_string(), pa.string())],
)  # fmt: skip
def test_narrowing_or_lossy_changes_are_refused(tmp_path, frm, to):
    s = pa.schema([("k", pa.int64()), ("v", frm)])
    t = lamina.create_table(str(tmp_path / "t"), s, primary_key=["k"])
    with pytest.raises(lamina.SchemaError, match="only lossless widenings"):
        t.update_schema().widen_column("v", to)
    with pytest.raises(lamina.SchemaError, match="primary key column 'k' cannot be retyped"):
        t.update_schema().widen_column("k", pa.int64())


def test_widen_rule_matches_the_writers_conversion_rule():
    """Every widening the core reads is one a write converts too (widens_losslessly)."""
    from lamina import _core
    from lamina.schema import widens_losslessly

    types = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(),
             pa.uint32(), pa.uint64(), pa.float32(), pa.float64(), pa.string(),
             pa.large_string(), pa.binary(), pa.large_binary(), pa.bool_(),
             pa.date32()]  # fmt: skip
    for a in types:
        for b in types:
            if _core.can_widen(pa.schema([("x", a)]), pa.schema([("x", b)])):
                assert widens_losslessly(a, b), (a, b)


@pytest.mark.parametrize(
    "typ,value",
    [(pa.int8(), -128), (pa.int16(), 300), (pa.int32(), -(2**31)), (pa.int64(), 2**62),
     (pa.uint8(), 255), (pa.uint16(), 7), (pa.uint32(), 2**32 - 1), (pa.uint64(), 2**64 - 1),
     (pa.float32(), 0.25), (pa.float64(), -1e300), (pa.bool_(), True), (pa.bool_(), False),
     (pa.string(), "ü-default"), (pa.large_string(), ""), (pa.float64(), 3)],
)  # fmt: skip
def test_a_default_is_what_rows_written_before_the_add_read(tmp_path, typ, value):
    t = make(tmp_path)
    t.write(pa.table({"k": [1, 2], "a": [1, 2], "s": ["x", "y"]}, schema=SCHEMA))
    t.update_schema().add_column("d", typ, default=value).commit()
    t.write(pa.table({"k": [2, 3], "a": [2, 3], "s": ["y", "z"], "d": pa.nulls(2, typ)}))
    want = [value, None, None]  # rows 2 and 3 were written after the add, with null
    assert t.read().sort_by("k").column("d").to_pylist() == want
    assert t.lookup({"k": [1, 2, 3]}).column("d").to_pylist() == want
    assert t.scan().take([0, 1, 2]).sort_by("k").column("d").to_pylist() == want
    assert t.compact(full=True) is not None  # writes the default into the files
    assert t.read().sort_by("k").column("d").to_pylist() == want
    assert lamina.open_table(t.path).read().sort_by("k").column("d").to_pylist() == want


def test_defaults_survive_rename_widen_and_reopen_and_go_with_a_drop(tmp_path):
    import json
    import os

    t = make(tmp_path)
    t.write(pa.table({"k": [1], "a": [1], "s": ["x"]}, schema=SCHEMA))
    t.update_schema().add_column("d", pa.int16(), default=-5).commit()
    t.update_schema().rename_column("d", "e").widen_column("e", pa.float64()).commit()
    assert lamina.open_table(t.path).read().column("e").to_pylist() == [-5.0]
    with open(os.path.join(t.path, "schema", f"schema-{t.current_snapshot().schema_id}.json")) as f:
        doc = json.load(f)
    assert doc["format_version"] == 2  # a version-1 reader would read null there
    assert [x.get("default") for x in doc["fields"]] == [None, None, None, -5.0]
    t.update_schema().drop_column("e").commit()
    t.update_schema().add_column("e", pa.float64()).commit()  # a new column: no default
    assert t.read().column("e").to_pylist() == [None]
    with open(os.path.join(t.path, "schema", "schema-0.json")) as f:
        assert json.load(f)["format_version"] == 1  # no defaults: still version 1


@pytest.mark.parametrize(
    "typ,value,match",
    [(pa.int8(), 128, "does not fit"), (pa.uint8(), -1, "does not fit"),
     (pa.int64(), "1", "does not fit"), (pa.int64(), True, "does not fit"),
     (pa.float64(), float("nan"), "does not fit"), (pa.bool_(), 1, "does not fit"),
     (pa.string(), "x" * 65, "does not fit"), (pa.binary(), b"x", "cannot have a default"),
     (pa.list_(pa.int32()), [1], "cannot have a default")],
)  # fmt: skip
def test_bad_defaults_are_refused(tmp_path, typ, value, match):
    t = make(tmp_path)
    with pytest.raises(lamina.InvalidArgumentError, match=match):
        t.update_schema().add_column("d", typ, default=value)


# ---- the model test ---------------------------------------------------------------------

ENGINES = ["deduplicate", "partial_update", "aggregate", "first_row"]
TYPES = {"i32": pa.int32(), "int": pa.int64(), "str": pa.string(), "lstr": pa.large_string()}
WIDER = {"i32": "int", "str": "lstr"}
MODEL_SCHEMA = pa.schema([("k", pa.int64()), ("a", pa.int32()), ("s", pa.string())])


class Model:
    """Rows by field id; columns as (field id, name, kind) in schema order."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.cols: list[tuple[int, str, str]] = [(2, "a", "i32"), (3, "s", "str")]
        self.next_id = 4
        self.rows: dict[int, dict[int, Any]] = {}
        self.sum_id = 2 if engine == "aggregate" else None
        self.defaults: dict[int, Any] = {}  # what rows without the column read

    def upsert(self, k: int, v: dict[int, Any]) -> None:
        old = self.rows.get(k)
        if old is None or self.engine == "deduplicate":
            self.rows[k] = dict(v)
        elif self.engine == "first_row":
            pass
        else:  # partial_update, aggregate (last_non_null but for the summed column)
            for fid in v:  # a column added since: the old version holds its default
                if fid not in old and fid in self.defaults:
                    old[fid] = self.defaults[fid]
            for fid, x in v.items():
                if fid == self.sum_id:
                    y = old.get(fid)
                    old[fid] = x if y is None else y if x is None else x + y
                elif x is not None:
                    old[fid] = x

    def view(self) -> dict[int, dict[str, Any]]:
        return {
            k: {n: r[fid] if fid in r else self.defaults.get(fid) for fid, n, _ in self.cols}
            for k, r in self.rows.items()
        }


class EvolutionMachine(RuleBasedStateMachine):
    engine = "deduplicate"

    @initialize()
    def setup(self) -> None:
        self.dir = tempfile.mkdtemp()
        options = {"fields.a.aggregate": "sum"} if self.engine == "aggregate" else {}
        self.t = lamina.create_table(
            self.dir + "/t", MODEL_SCHEMA, primary_key=["k"], merge_engine=self.engine,
            options=options,
        )  # fmt: skip
        self.m = Model(self.engine)
        self.history: dict[int, dict[int, dict[str, Any]]] = {}

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _record(self, snap: Any) -> None:
        if snap is not None:
            self.history[snap.id] = self.m.view()

    @rule(
        batch=st.lists(
            st.tuples(st.integers(0, 9), st.integers(-5, 5) | st.none(), st.text(max_size=2)),
            min_size=1,
            max_size=6,
        )
    )
    def write(self, batch: list[tuple[int, Any, str]]) -> None:
        data: dict[str, Any] = {"k": pa.array([b[0] for b in batch], pa.int64())}
        for i, (_fid, name, kind) in enumerate(self.m.cols):
            vals = [b[1] if kind in ("int", "i32") else (b[2] or None) for b in batch]
            vals = [v if (j + i) % 3 else None for j, v in enumerate(vals)]
            data[name] = pa.array(vals, TYPES[kind])
        snap = self.t.write(pa.table(data))
        for j, b in enumerate(batch):
            self.m.upsert(b[0], {fid: data[n][j].as_py() for fid, n, _ in self.m.cols})
        self._record(snap)

    @rule(ks=st.lists(st.integers(0, 9), min_size=1, max_size=3))
    def delete(self, ks: list[int]) -> None:
        snap = self.t.delete({"k": pa.array(ks, pa.int64())})
        for k in ks:
            self.m.rows.pop(k, None)
        self._record(snap)

    @rule(full=st.booleans())
    def compact(self, full: bool) -> None:
        self._record(self.t.compact(full=full))

    @rule(
        kind=st.sampled_from(sorted(TYPES)),
        name=st.sampled_from(["a", "b", "c", "d"]),
        default=st.none() | st.integers(-3, 3) | st.text(max_size=3),
    )
    def add_column(self, kind: str, name: str, default: Any) -> None:
        if any(n == name for _, n, _ in self.m.cols):
            return
        if default is not None and isinstance(default, str) != kind.endswith("str"):
            default = None  # only a default of the column's type
        snap = self.t.update_schema().add_column(name, TYPES[kind], default=default).commit()
        if default is not None:
            self.m.defaults[self.m.next_id] = default
        self.m.cols.append((self.m.next_id, name, kind))
        self.m.next_id += 1
        self._record(snap)

    @rule(data=st.data())
    def drop_column(self, data: Any) -> None:
        if len(self.m.cols) <= 1:
            return
        fid, name, _ = data.draw(st.sampled_from(self.m.cols))
        snap = self.t.update_schema().drop_column(name).commit()
        self.m.cols = [c for c in self.m.cols if c[0] != fid]
        if fid == self.m.sum_id:
            self.m.sum_id = None  # its aggregate option goes with it
        self._record(snap)

    @rule(data=st.data(), new=st.sampled_from(["a", "b", "c", "d", "e"]))
    def rename_column(self, data: Any, new: str) -> None:
        fid, name, _kind = data.draw(st.sampled_from(self.m.cols))
        if any(n == new for _, n, _ in self.m.cols):
            return
        snap = self.t.update_schema().rename_column(name, new).commit()
        self.m.cols = [(f, new if f == fid else n, k) for f, n, k in self.m.cols]
        self._record(snap)

    @rule(data=st.data())
    def move_column(self, data: Any) -> None:
        fid, name, kind = data.draw(st.sampled_from(self.m.cols))
        rest = [c for c in self.m.cols if c[0] != fid]
        at = data.draw(st.integers(0, len(rest)))
        after = "k" if at == 0 else rest[at - 1][1]
        snap = self.t.update_schema().move_column(name, after=after).commit()
        self.m.cols = [*rest[:at], (fid, name, kind), *rest[at:]]
        self._record(snap)

    @rule(data=st.data())
    def widen_column(self, data: Any) -> None:
        narrow = [c for c in self.m.cols if c[2] in WIDER]
        if not narrow:
            return
        fid, name, kind = data.draw(st.sampled_from(narrow))
        snap = self.t.update_schema().widen_column(name, TYPES[WIDER[kind]]).commit()
        self.m.cols = [(f, n, WIDER[k] if f == fid else k) for f, n, k in self.m.cols]
        self._record(snap)

    @rule()
    def reopen(self) -> None:
        self.t = lamina.open_table(self.dir + "/t")

    @rule(data=st.data())
    def time_travel(self, data: Any) -> None:
        if not self.history:
            return
        sid = data.draw(st.sampled_from(sorted(self.history)))
        assert rows(self.t, snapshot=sid) == self.history[sid]

    @invariant()
    def matches_model(self) -> None:
        if not hasattr(self, "t"):
            return
        assert self.t.schema.names == ["k"] + [n for _, n, _ in self.m.cols]
        assert [f.type for f in self.t.schema][1:] == [TYPES[k] for _, _, k in self.m.cols]
        assert rows(self.t) == self.m.view()


@pytest.mark.parametrize("engine", ENGINES)
def test_schema_evolution_model(engine):
    machine = type(f"Evolution_{engine}", (EvolutionMachine,), {"engine": engine})
    machine.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
    machine.TestCase().runTest()
