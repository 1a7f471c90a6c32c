"""Builds the golden tables of one lamina format version (``tests/golden/v<N>/``).

Run once per released format version, with the lamina of that version, and commit what
it writes; ``tests/test_golden.py`` then checks that every later lamina still reads it:

    python tests/golden/make_golden.py            # writes tests/golden/v1 (refuses to overwrite)
    python tests/golden/make_golden.py --force    # regenerates it (only before a release)

Every table is built through the public API while a plain-Python model (dicts of what
was written, folded by the merge engine's rules of docs/tables.md) tracks what each
snapshot must hold. The expected results come from the model, not from reading back;
the script does read back at the end and refuses to write anything if lamina and the
model disagree.

``v<N>/<table>/`` is the table folder; ``v<N>/<table>.expected.json`` holds:

- ``table``: the schema (``[name, arrow type string, nullable]``), primary key,
  partition columns, buckets, merge engine and the options passed to create_table;
- ``snapshots``: ``{id: {"kind", "parent_id", "rows"}}`` for every retained snapshot,
  rows sorted by primary key; ``expired``: ids of snapshots expired; ``latest``;
- ``tags``: ``{name: snapshot id}``;
- ``lookups``: ``[{"keys": {column: [values]}, "rows": [...]}]``, rows in request order;
- ``extra``: rows to ``write``, keys to ``delete`` on a copy, and the ``rows`` expected
  after that and a full compaction.

``v<N>/standalone.lam`` is a file written by ``lamina.format.write_file``;
``standalone.expected.json`` holds its schema, rows (in file order), metadata and a take.

Values are JSON with these encodings (``encode`` below): null, bool, int and str as
themselves; a finite float as a number, NaN and infinities as ``{"$float": "nan" |
"inf" | "-inf"}``; binary as ``{"$bytes": "<lowercase hex>"}``; date32 as
``{"$date": "YYYY-MM-DD"}``; a timestamp as ``{"$ts": <integer count of the column's
unit since the epoch>}`` (unit and time zone are in the schema); lists as JSON arrays.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import random
import shutil
import sys
from typing import Any

import lamina
import pyarrow as pa
import pyarrow.compute as pc

VERSION = 1
HERE = os.path.dirname(os.path.abspath(__file__))

# ---- value encoding (shared with tests/test_golden.py, which imports it) -------------


def encode(v: Any, t: pa.DataType) -> Any:
    """A Python value of Arrow type ``t`` as JSON (see the module docstring)."""
    if v is None:
        return None
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [encode(x, t.value_type) for x in v]
    if pa.types.is_floating(t):
        if math.isnan(v):
            return {"$float": "nan"}
        if math.isinf(v):
            return {"$float": "inf" if v > 0 else "-inf"}
        return float(v)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return {"$bytes": bytes(v).hex()}
    if pa.types.is_date32(t):
        return {"$date": v.isoformat()}
    if pa.types.is_timestamp(t):
        return {"$ts": int(v)}
    return v


def decode(j: Any, t: pa.DataType) -> Any:
    """The inverse of ``encode`` (timestamps stay integer counts)."""
    if j is None:
        return None
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [decode(x, t.value_type) for x in j]
    if isinstance(j, dict):
        if "$float" in j:
            return float(j["$float"])
        if "$bytes" in j:
            return bytes.fromhex(j["$bytes"])
        if "$date" in j:
            return datetime.date.fromisoformat(j["$date"])
        if "$ts" in j:
            return int(j["$ts"])
    return j


def arrow_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of an Arrow table, encoded (timestamps read as their integer counts)."""
    cols = {}
    for f in table.schema:
        col = table.column(f.name)
        if pa.types.is_timestamp(f.type):
            col = pc.cast(col, pa.int64())
        cols[f.name] = [encode(v, f.type) for v in col.to_pylist()]
    return [{n: cols[n][i] for n in table.column_names} for i in range(table.num_rows)]


def to_arrow(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Encoded rows -> an Arrow table of ``schema`` (the columns ``rows`` name)."""
    arrays = []
    fields = [f for f in schema if rows and f.name in rows[0]]
    for f in fields:
        vals = [decode(r[f.name], f.type) for r in rows]
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(vals, pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(vals, f.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def sort_key(row: dict[str, Any], pk: list[str]) -> tuple[Any, ...]:
    """Orders encoded rows by primary key (hex of binary keeps the byte order)."""
    return tuple(row[c]["$bytes"] if isinstance(row[c], dict) else row[c] for c in pk)


# ---- the model: what each key holds, folded by the merge engine ---------------------


def _nn(vals: list[Any]) -> list[Any]:
    return [v for v in vals if v is not None]


def _minmax(vals: list[Any], fn: Any) -> Any:
    vals = _nn(vals)
    if not vals:
        return None
    real = [v for v in vals if not (isinstance(v, float) and math.isnan(v))]
    return fn(real) if real else float("nan")


def _fold_aggregate(fn: str, vals: list[Any]) -> Any:
    nn = _nn(vals)
    if fn == "sum":
        return sum(nn) if nn else None
    if fn == "min":
        return _minmax(vals, min)
    if fn == "max":
        return _minmax(vals, max)
    if fn == "count":
        return len(nn)
    if fn == "last_value":
        return vals[-1]
    if fn == "last_non_null":
        return nn[-1] if nn else None
    if fn == "first_value":
        return vals[0]
    if fn == "first_non_null":
        return nn[0] if nn else None
    if fn == "bool_and":
        return all(nn) if nn else None
    if fn == "bool_or":
        return any(nn) if nn else None
    if fn == "collect_list":
        return [x for v in nn for x in v] if nn else None
    raise ValueError(fn)


class Model:
    """Each key's versions since its newest delete, oldest first."""

    def __init__(self, schema: pa.Schema, pk: list[str], engine: str, aggs: dict[str, str]):
        self.schema = schema
        self.pk = pk
        self.engine = engine
        self.aggs = aggs
        self.versions: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    def key(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[c] for c in self.pk)

    def write(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self.versions.setdefault(self.key(r), []).append(dict(r))

    def delete(self, keys: list[dict[str, Any]]) -> None:
        for k in keys:
            self.versions.pop(self.key(k), None)

    def fold(self, vs: list[dict[str, Any]]) -> dict[str, Any]:
        if self.engine == "deduplicate":
            return dict(vs[-1])
        if self.engine == "first_row":
            return dict(vs[0])
        out = {}
        for f in self.schema:
            vals = [v[f.name] for v in vs]
            if f.name in self.pk:
                out[f.name] = vals[0]
            elif self.engine == "partial_update":
                nn = _nn(vals)
                out[f.name] = nn[-1] if nn else None
            else:
                out[f.name] = _fold_aggregate(self.aggs.get(f.name, "last_non_null"), vals)
        return out

    def rows(self) -> list[dict[str, Any]]:
        """The table's rows, encoded, sorted by key."""
        out = []
        for k in sorted(self.versions):
            r = self.fold(self.versions[k])
            out.append({f.name: encode(r[f.name], f.type) for f in self.schema})
        return out

    def lookup(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen, out = set(), []
        for k in keys:
            kk = self.key(k)
            if kk in self.versions and kk not in seen:
                seen.add(kk)
                r = self.fold(self.versions[kk])
                out.append({f.name: encode(r[f.name], f.type) for f in self.schema})
        return out


# ---- building one golden table ------------------------------------------------------


class Golden:
    """A table under construction, its model and the expected JSON."""

    def __init__(
        self,
        root: str,
        name: str,
        schema: pa.Schema,
        primary_key: list[str],
        *,
        partition_by: list[str] | None = None,
        buckets: int = 1,
        merge_engine: Any = "deduplicate",
        options: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.path = os.path.join(root, name)
        opts = {"write.sync": "false", **(options or {})}
        self.table = lamina.create_table(
            self.path,
            schema,
            primary_key=primary_key,
            partition_by=partition_by,
            buckets=buckets,
            merge_engine=merge_engine,
            options=opts,
        )
        # Key columns are never null: the stored schema says so.
        self.schema = pa.schema(
            [f.with_nullable(False) if f.name in primary_key else f for f in schema]
        )
        aggs = {
            k[len("fields.") : -len(".aggregate")]: v
            for k, v in opts.items()
            if k.startswith("fields.")
        }
        self.model = Model(self.schema, primary_key, merge_engine, aggs)
        self.pk = primary_key
        self.last_id = 0
        self.expected: dict[str, Any] = {
            "format_version": VERSION,
            "table": {
                "schema": [[f.name, str(f.type), f.nullable] for f in self.schema],
                "primary_key": primary_key,
                "partition_by": partition_by or [],
                "buckets": buckets,
                "merge_engine": merge_engine,
                "options": opts,
            },
            "snapshots": {},
            "expired": [],
            "tags": {},
            "lookups": [],
        }

    def _record(self, snap: Any, kind: str) -> None:
        assert snap is not None and snap.id == self.last_id + 1, (self.name, snap, kind)
        assert snap.kind == kind, (snap.kind, kind)
        self.expected["snapshots"][str(snap.id)] = {
            "kind": kind,
            "parent_id": self.last_id or None,
            "rows": self.model.rows(),
        }
        self.last_id = snap.id

    def _arrow(self, rows: list[dict[str, Any]], key_only: bool = False) -> pa.Table:
        schema = self.schema
        if key_only:
            schema = pa.schema([schema.field(c) for c in self.pk])
        enc = [{f.name: encode(r[f.name], f.type) for f in schema} for r in rows]
        return to_arrow(enc, schema)

    def write(self, rows: list[dict[str, Any]]) -> None:
        snap = self.table.write(self._arrow(rows))
        self.model.write(rows)
        self._record(snap, "append")

    def delete(self, keys: list[dict[str, Any]]) -> None:
        snap = self.table.delete(self._arrow(keys, key_only=True))
        self.model.delete(keys)
        self._record(snap, "delete")

    def transaction(self, rows: list[dict[str, Any]], keys: list[dict[str, Any]]) -> None:
        """A write then a delete in one snapshot."""
        with self.table.transaction() as tx:
            tx.write(self._arrow(rows))
            tx.delete(self._arrow(keys, key_only=True))
        self.model.write(rows)
        self.model.delete(keys)
        self._record(tx.snapshot, "append")

    def compact(self, full: bool) -> None:
        self._record(self.table.compact(full=full), "compact")

    def tag(self, name: str) -> None:
        self.table.tag(name)
        self.expected["tags"][name] = self.last_id

    def expire(self, retain_last: int) -> None:
        expired = self.table.expire_snapshots(retain_last=retain_last)
        assert expired, self.name
        for sid in expired:
            del self.expected["snapshots"][str(sid)]
        self.expected["expired"] += sorted(expired)

    def lookups(self, *key_lists: list[dict[str, Any]]) -> None:
        kschema = [self.schema.field(c) for c in self.pk]
        for keys in key_lists:
            self.expected["lookups"].append(
                {
                    "keys": {f.name: [encode(k[f.name], f.type) for k in keys] for f in kschema},
                    "rows": self.model.lookup(keys),
                }
            )

    def extra(self, rows: list[dict[str, Any]], keys: list[dict[str, Any]]) -> None:
        """What test_golden writes and deletes on a copy, and the result it expects."""
        before = {k: list(v) for k, v in self.model.versions.items()}
        self.model.write(rows)
        self.model.delete(keys)
        kschema = pa.schema([self.schema.field(c) for c in self.pk])
        self.expected["extra"] = {
            "write": [{f.name: encode(r[f.name], f.type) for f in self.schema} for r in rows],
            "delete": [{f.name: encode(k[f.name], f.type) for f in kschema} for k in keys],
            "rows": self.model.rows(),
        }
        self.model.versions = before

    def finish(self, root: str) -> None:
        """Checks lamina against the model, then writes the expected JSON."""
        exp = self.expected
        exp["latest"] = self.last_id
        t = lamina.open_table(self.path)
        for sid, s in exp["snapshots"].items():
            got = sorted(arrow_rows(t.read(snapshot=int(sid))), key=lambda r: sort_key(r, self.pk))
            if not _same(got, s["rows"]):
                sys.exit(f"{self.name} snapshot {sid}: lamina {got} != model {s['rows']}")
        for lk in exp["lookups"]:
            keys = to_arrow(
                [dict(zip(lk["keys"], vs)) for vs in zip(*lk["keys"].values())], self.schema
            )
            got = arrow_rows(t.lookup(keys))
            if not _same(got, lk["rows"]):
                sys.exit(f"{self.name} lookup: lamina {got} != model {lk['rows']}")
        inflight = os.path.join(self.path, "_inflight")
        if os.path.isdir(inflight):
            shutil.rmtree(inflight)
        # git keeps no empty folder: leave none, so the committed tree is what was tested.
        for d, subdirs, files in os.walk(self.path, topdown=False):
            if not subdirs and not files:
                os.rmdir(d)
        with open(os.path.join(root, f"{self.name}.expected.json"), "w") as f:
            json.dump(exp, f, indent=1, sort_keys=True)
            f.write("\n")


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# ---- the golden tables --------------------------------------------------------------

TS_TYPE = pa.timestamp("us", tz="Asia/Tokyo")
TYPES_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("i8", pa.int8()),
        ("i16", pa.int16()),
        ("u32", pa.uint32()),
        ("u64", pa.uint64()),
        ("f32", pa.float32()),
        ("f64", pa.float64()),
        ("s", pa.string()),
        ("ls", pa.large_string()),
        ("b", pa.binary()),
        ("flag", pa.bool_()),
        ("d", pa.date32()),
        ("ts", TS_TYPE),
        ("tsn", pa.timestamp("ns")),
        ("li", pa.list_(pa.int32())),
        ("ll", pa.large_list(pa.string())),
        ("fsl", pa.list_(pa.float32(), 3)),
    ]
)


DATES = [datetime.date(2024, 2, 29), datetime.date(1969, 12, 31), datetime.date(1, 1, 1), None]


def types_row(rng: random.Random, i: int) -> dict[str, Any]:
    """A row of TYPES_SCHEMA with edge values (float32 values are exact binary fractions)."""
    pick = rng.choice
    return {
        "id": i,
        "i8": pick([-128, 127, 0, -1, None, rng.randint(-100, 100)]),
        "i16": pick([-32768, 32767, None, rng.randint(-999, 999)]),
        "u32": pick([0, 4294967295, None, rng.randint(0, 10**6)]),
        "u64": pick([0, 2**64 - 1, 2**63, None, rng.randint(0, 10**12)]),
        "f32": pick([0.5, -1.25, float("nan"), None, float("inf"), rng.randint(-64, 64) / 8]),
        "f64": pick([1e300, -2.5e-300, float("nan"), float("-inf"), None, rng.random()]),
        "s": pick(["", "héllo", "a\x00b", None, f"s{rng.randint(0, 9)}" * rng.randint(1, 5)]),
        "ls": pick(["x" * 70, "日本", None, f"row {i}"]),
        "b": pick([b"", b"\x00\xff", None, bytes(rng.randrange(256) for _ in range(5))]),
        "flag": pick([True, False, None]),
        "d": pick(DATES),
        "ts": pick([0, -1, 1_700_000_000_123_456, None, rng.randint(0, 2**40)]),
        "tsn": pick([1, 2**62, None, -(10**15)]),
        "li": pick(
            [[], None, [1, None, -3], [rng.randint(-5, 5) for _ in range(rng.randint(1, 4))]]
        ),
        "ll": pick([[], None, ["a", None, ""], ["x" * rng.randint(0, 3)]]),
        "fsl": pick([None, [0.5, -0.25, 8.0], [float("nan"), None, 1.0]]),
    }


def build_types(root: str) -> None:
    """Deduplicate over every stored type, two buckets, deletes, a transaction, a full
    compaction, a tag, an expired snapshot, folded manifests."""
    rng = random.Random(11)
    g = Golden(
        root,
        "dedup_types",
        TYPES_SCHEMA,
        ["id"],
        buckets=2,
        options={"manifest.merge_min_count": "2"},
    )
    g.write([types_row(rng, i) for i in range(12)])  # 1
    g.write([types_row(rng, i) for i in (3, 5, 12, 13, 3)])  # 2: id 3 twice, the later wins
    g.delete([{"id": i} for i in (0, 5, 99)])  # 3: 99 does not exist
    g.tag("after_delete")
    g.transaction([types_row(rng, i) for i in (0, 14)], [{"id": 1}])  # 4
    g.compact(full=True)  # 5: drops deletes
    g.write([types_row(rng, i) for i in (2, 15)])  # 6
    g.expire(retain_last=3)  # 1, 2 (3 is tagged)
    g.lookups([{"id": 15}, {"id": 0}, {"id": 5}, {"id": 2}, {"id": 15}], [{"id": 1000}])
    g.extra([types_row(rng, i) for i in (16, 2)], [{"id": 4}])
    g.finish(root)


def build_partitioned(root: str) -> None:
    """Partitions by a string and an int column, four buckets, a policy compaction."""
    schema = pa.schema(
        [
            ("region", pa.string()),
            ("day", pa.int32()),
            ("id", pa.int64()),
            ("v", pa.int64()),
            ("name", pa.string()),
        ]
    )
    g = Golden(
        root,
        "partitioned",
        schema,
        ["region", "day", "id"],
        partition_by=["region", "day"],
        buckets=4,
        options={"manifest.merge_min_count": "3", "compaction.num_sorted_run_trigger": "2"},
    )
    regions = ["eu/west", "us", "a b", "ü", ".."]
    days = [20240101, -1]

    def rows(ids: range, gen: int) -> list[dict[str, Any]]:
        return [
            {
                "region": regions[i % len(regions)],
                "day": days[i % 2],
                "id": i,
                "v": i * 10 + gen,
                "name": None if i % 7 == 0 else f"n{i}-{gen}",
            }
            for i in ids
        ]

    g.write(rows(range(30), 1))  # 1
    g.write(rows(range(20, 40), 2))  # 2
    g.delete([{"region": regions[i % 5], "day": days[i % 2], "id": i} for i in (3, 21, 38)])  # 3
    g.write(rows(range(0, 40, 3), 3))  # 4
    g.tag("v4")
    g.compact(full=False)  # 5: merges the newest runs only (keeps delete markers)
    g.write(rows(range(40, 45), 5))  # 6
    g.lookups(
        [
            {"region": "ü", "day": -1, "id": 3},
            {"region": "eu/west", "day": 20240101, "id": 0},
            {"region": "us", "day": -1, "id": 21},
            {"region": "us", "day": 20240101, "id": 21},
        ]
    )
    g.extra(rows(range(43, 47), 9), [{"region": "us", "day": -1, "id": 1}])
    g.finish(root)


def build_partial_update(root: str) -> None:
    schema = pa.schema(
        [("k", pa.string()), ("a", pa.int64()), ("b", pa.string()), ("c", pa.float64())]
    )
    g = Golden(root, "partial_update", schema, ["k"], merge_engine="partial_update", buckets=2)
    g.write(
        [
            {"k": "x", "a": 1, "b": None, "c": 0.5},
            {"k": "y", "a": None, "b": "y1", "c": None},
            {"k": "x", "a": None, "b": "x2", "c": None},  # same write: folds onto the first
        ]
    )
    g.write(
        [
            {"k": "y", "a": 7, "b": None, "c": float("nan")},
            {"k": "z", "a": None, "b": None, "c": None},
        ]
    )
    g.delete([{"k": "x"}])
    g.write([{"k": "x", "a": None, "b": "fresh", "c": None}])  # after a delete: starts over
    g.tag("t")
    g.compact(full=True)
    g.lookups([{"k": "x"}, {"k": "nope"}, {"k": "y"}])
    g.extra([{"k": "z", "a": 3, "b": None, "c": -1.5}], [{"k": "y"}])
    g.finish(root)


AGGS = {
    "total": ("sum", pa.int64()),
    "fsum": ("sum", pa.float64()),
    "lo": ("min", pa.float64()),
    "hi": ("max", pa.int32()),
    "smax": ("max", pa.string()),
    "n": ("count", pa.int64()),
    "lv": ("last_value", pa.string()),
    "lnn": ("last_non_null", pa.string()),
    "fv": ("first_value", pa.int64()),
    "fnn": ("first_non_null", pa.int64()),
    "all": ("bool_and", pa.bool_()),
    "any": ("bool_or", pa.bool_()),
    "items": ("collect_list", pa.list_(pa.int64())),
    "when": ("min", pa.date32()),
}


def build_aggregate(root: str) -> None:
    schema = pa.schema([("k", pa.int32())] + [(c, t) for c, (_, t) in AGGS.items()])
    g = Golden(
        root,
        "aggregate",
        schema,
        ["k"],
        merge_engine="aggregate",
        options={f"fields.{c}.aggregate": fn for c, (fn, _) in AGGS.items()},
    )
    rng = random.Random(5)

    def row(k: int) -> dict[str, Any]:
        pick = rng.choice
        return {
            "k": k,
            "total": pick([None, rng.randint(-50, 50)]),
            "fsum": pick([None, rng.randint(-8, 8) / 4]),
            "lo": pick([None, float("nan"), rng.randint(-8, 8) / 2]),
            "hi": pick([None, rng.randint(-1000, 1000)]),
            "smax": pick([None, "", "b", "ab", "zz"]),
            "n": pick([None, 1, 5]),
            "lv": pick([None, "p", "q"]),
            "lnn": pick([None, "p", "q"]),
            "fv": pick([None, rng.randint(0, 9)]),
            "fnn": pick([None, rng.randint(0, 9)]),
            "all": pick([None, True, False, True]),
            "any": pick([None, False, True, False]),
            "items": pick([None, [], [rng.randint(0, 9)], [1, 2]]),
            "when": pick([None, datetime.date(2020, 1, rng.randint(1, 28))]),
        }

    g.write([row(k) for k in (1, 2, 3, 1, 2, 1)])  # 1: several versions in one write
    g.write([row(k) for k in (1, 2, 4)])  # 2
    g.tag("two")
    g.delete([{"k": 3}])  # 3
    g.write([row(k) for k in (3, 4, 4)])  # 4: 3 starts over after its delete
    g.compact(full=True)  # 5: stored partial aggregates combine again
    g.write([row(k) for k in (1, 5)])  # 6
    g.write([{"k": 6, **{c: None for c in AGGS}}])  # 7: a key with only nulls
    g.lookups([{"k": 4}, {"k": 1}, {"k": 3}, {"k": 9}])
    g.extra([row(k) for k in (1, 6, 8)], [{"k": 2}])
    g.finish(root)


def build_first_row(root: str) -> None:
    schema = pa.schema([("k", pa.binary()), ("v", pa.string()), ("score", pa.float32())])
    g = Golden(root, "first_row", schema, ["k"], merge_engine="first_row", buckets=3)

    def r(k: bytes, v: str | None, s: float | None = 0.5) -> dict[str, Any]:
        return {"k": k, "v": v, "score": s}

    g.write([r(b"a", "a1"), r(b"\x00", "nul"), r(b"a", "a2"), r(b"", "empty", float("nan"))])
    g.write([r(b"a", "a3"), r(b"b\x00c", None, None)])
    g.delete([{"k": b"a"}])
    g.write([r(b"a", "a4"), r(b"\x00", "nul2")])
    g.compact(full=True)
    g.tag("final")
    g.lookups([{"k": b"a"}, {"k": b""}, {"k": b"\x00\x00"}])
    g.extra([r(b"zz", "new"), r(b"\x00", "ignored")], [{"k": b"b\x00c"}])
    g.finish(root)


def build_standalone(root: str) -> None:
    """A file written by lamina.format.write_file: several pages per column."""
    rng = random.Random(3)
    rows = [types_row(rng, i) for i in range(20)]
    enc = [{f.name: encode(r[f.name], f.type) for f in TYPES_SCHEMA} for r in rows]
    table = to_arrow(enc, TYPES_SCHEMA)
    path = os.path.join(root, "standalone.lam")
    meta = {"golden.note": b"lamina golden v1", "empty": b""}
    lamina.format.write_file(path, table, max_page_rows=8, metadata=meta)
    got = arrow_rows(lamina.format.read_file(path))
    if not _same(got, enc):
        sys.exit("standalone.lam does not read back as written")
    take = [19, 0, 8, 8, 7]
    exp = {
        "format_version": VERSION,
        "schema": [[f.name, str(f.type), f.nullable] for f in TYPES_SCHEMA],
        "rows": enc,
        "metadata": {k: v.decode() for k, v in meta.items()},
        "take": {"indices": take, "rows": [enc[i] for i in take]},
    }
    with open(os.path.join(root, "standalone.expected.json"), "w") as f:
        json.dump(exp, f, indent=1, sort_keys=True)
        f.write("\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, f"v{VERSION}"))
    ap.add_argument("--force", action="store_true", help="replace an existing folder")
    args = ap.parse_args()
    if os.path.exists(args.out):
        if not args.force:
            sys.exit(f"{args.out} exists: golden files of a released version never change")
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    for build in (
        build_types,
        build_partitioned,
        build_partial_update,
        build_aggregate,
        build_first_row,
        build_standalone,
    ):
        build(args.out)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.out) for f in fs)
    print(f"wrote {args.out}: {total} bytes")


if __name__ == "__main__":
    main()
