"""Changelog reads: ``Table.changes(start, end)``, the changes of the merged table.

Design (docs/tables.md, "Changes"): no changelog is written at commit time. The keys a
range of snapshots touched are the keys of the data files its write, delete and
transaction snapshots added (each snapshot's own manifest lists them; only their key
columns are decoded). Their before-images (at ``start``) and after-images (at ``end``)
come from the C++ lookup path, which folds every version with the merge engine, so the
images are rows of the merged table for every engine, and the cost follows the number
of touched keys, not the size of the table. Compaction and schema snapshots touch no key.

Per touched key: absent before and present after → ``+I``; present before, absent after
→ ``-D``; present in both → ``-U`` (before) then ``+U`` (after), unless the two images
are equal in every column (then nothing: an update that changed nothing is dropped);
absent in both → nothing (a delete of an absent key, or an insert deleted again).
``_snapshot_id`` is the last snapshot in the range that wrote the key. Both images are
read through the schema of ``end`` (columns by field id), so applying ``changes(a, b)``
to ``read(snapshot=a)`` projected into that schema gives ``read(snapshot=b)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from lamina import _core
from lamina._lookup import lookup_at
from lamina._models import ADD, Snapshot
from lamina.errors import InvalidArgumentError, SnapshotExpiredError
from lamina.format import FileReader
from lamina.scan import check_columns
from lamina.schema import TableSchema

if TYPE_CHECKING:
    from lamina._context import TableContext

__all__ = ["ROW_KIND", "SNAPSHOT_ID", "changes_between"]

ROW_KIND = "_row_kind"
SNAPSHOT_ID = "_snapshot_id"
_KIND_ORDER = {"-D": 0, "-U": 1, "+U": 2, "+I": 3}  # within one key
_CONTENT_KINDS = ("append", "delete")


def changes_between(
    ctx: TableContext,
    start: Snapshot | None,
    end: Snapshot | None,
    columns: Sequence[str] | None,
    filter: Any,
    per_snapshot: bool,
) -> pa.Table:
    """The changes in snapshots (start, end]; ``start`` None: from the empty table before
    the first snapshot; ``end`` None: a table without snapshots (no changes). See the
    module docstring and ``Table.changes``."""
    if end is None:
        ts = ctx.table_schema(0)
        return _empty(ts, _columns(ts, columns))
    first = 0 if start is None else start.id
    if end.id < first:
        raise InvalidArgumentError(f"end snapshot {end.id} is before start snapshot {first}")
    ts = ctx.table_schema(end.schema_id)
    cols = _columns(ts, columns)
    snaps = _range(ctx, first, end.id)
    if not per_snapshot:
        return _net(ctx, ts, start, end, snaps, cols, filter)
    parts = []
    prev = start
    for s in snaps:
        if s.kind in _CONTENT_KINDS:
            parts.append(_net(ctx, ts, prev, s, [s], cols, filter))
        prev = s
    if not parts:
        return _empty(ts, cols)
    return pa.concat_tables(parts)


def _columns(ts: TableSchema, columns: Sequence[str] | None) -> list[str]:
    cols = check_columns(ts.schema, columns)
    pk = list(ts.primary_key)
    return pk + [c for c in cols if c not in pk]  # the key always, first


def _range(ctx: TableContext, first: int, last: int) -> list[Snapshot]:
    """Snapshots first+1 .. last, all of which must still exist (their manifests name the
    files that carry the touched keys)."""
    out = []
    for sid in range(first + 1, last + 1):
        try:
            out.append(ctx.store.load(sid))
        except KeyError:
            raise SnapshotExpiredError(
                f"snapshot {sid} was expired: changes need every snapshot after the start "
                "(pin them with a tag or a consumer, or start later)"
            ) from None
    return out


def _empty(ts: TableSchema, cols: list[str]) -> pa.Table:
    base = ts.schema.empty_table().select(cols)
    return base.append_column(ROW_KIND, pa.array([], pa.string())).append_column(
        SNAPSHOT_ID, pa.array([], pa.int64())
    )


def _touched(ctx: TableContext, ts: TableSchema, snaps: list[Snapshot]) -> pa.Table:
    """The distinct keys the content snapshots wrote, with the last snapshot that did."""
    pk = list(ts.primary_key)
    parts = []
    for s in snaps:
        if s.kind not in _CONTENT_KINDS:
            continue  # compaction and schema changes leave the merged table as it was
        for name in s.delta_manifests:
            kinds, files = ctx.store.read_manifest(name)
            for kind, f in zip(kinds, files, strict=True):
                if kind != ADD or f.snapshot_id != s.id:
                    continue
                keys = FileReader(os.path.join(ctx.root, f.path)).read(pk)
                keys = keys.cast(pa.schema([ts.schema.field(c) for c in pk]))
                parts.append(keys.append_column(SNAPSHOT_ID, pa.repeat(s.id, keys.num_rows)))
    if not parts:
        return pa.schema(
            [*[ts.schema.field(c) for c in pk], (SNAPSHOT_ID, pa.int64())]
        ).empty_table()
    table = pa.concat_tables(parts)
    return (
        table.group_by(pk, use_threads=False)
        .aggregate([(SNAPSHOT_ID, "max")])
        .rename_columns([*pk, SNAPSHOT_ID])
    )


def _key_bytes(table: pa.Table, pk: list[str]) -> pa.Array:
    if table.num_rows == 0:
        return pa.array([], pa.binary())
    return pa.array(_core.normalize_keys(table.select(pk), pk), pa.binary())


def _net(
    ctx: TableContext,
    ts: TableSchema,
    start: Snapshot | None,
    end: Snapshot,
    snaps: list[Snapshot],
    cols: list[str],
    filter: Any,
) -> pa.Table:
    pk = list(ts.primary_key)
    touched = _touched(ctx, ts, snaps)
    if touched.num_rows == 0:
        return _empty(ts, cols)
    keys = touched.select(pk)
    empty = ts.schema.empty_table().select(cols)
    before = (lookup_at(ctx, ts, start, keys, cols) if start is not None else None) or empty
    after = lookup_at(ctx, ts, end, keys, cols) or empty
    kb, ka, kt = _key_bytes(before, pk), _key_bytes(after, pk), _key_bytes(touched, pk)
    both_b = pc.is_in(kb, value_set=ka)
    both_a = pc.is_in(ka, value_set=kb)
    # The lookups keep the request order, so the rows present in both line up.
    old, new = before.filter(both_b), after.filter(both_a)
    same = _equal_rows(old, new, [c for c in cols if c not in pk])
    changed = pc.invert(same)
    parts = [
        (before.filter(pc.invert(both_b)), kb.filter(pc.invert(both_b)), "-D"),
        (old.filter(changed), kb.filter(both_b).filter(changed), "-U"),
        (new.filter(changed), ka.filter(both_a).filter(changed), "+U"),
        (after.filter(pc.invert(both_a)), ka.filter(pc.invert(both_a)), "+I"),
    ]
    tables, kbytes, order = [], [], []
    for rows, kbs, kind in parts:
        if rows.num_rows == 0:
            continue
        sid = pc.take(touched.column(SNAPSHOT_ID), pc.index_in(kbs, value_set=kt))
        rows = rows.append_column(ROW_KIND, pa.repeat(kind, rows.num_rows).cast(pa.string()))
        tables.append(rows.append_column(SNAPSHOT_ID, sid))
        kbytes.append(kbs)
        order.append(pa.repeat(_KIND_ORDER[kind], rows.num_rows).cast(pa.int8()))
    if not tables:
        return _empty(ts, cols)
    out = pa.concat_tables(tables)
    sort = pc.sort_indices(
        pa.table({"k": pa.concat_arrays(kbytes), "o": pa.concat_arrays(order)}),
        sort_keys=[("k", "ascending"), ("o", "ascending")],
    )
    out = out.take(sort)
    if filter is not None:
        out = out.filter(filter)
    return out


def _equal_rows(a: pa.Table, b: pa.Table, value_cols: list[str]) -> pa.Array:
    """True where row i of ``a`` equals row i of ``b`` in every value column (nulls equal
    nulls). Columns Arrow cannot compare (lists) count as different."""
    n = a.num_rows
    same = pa.repeat(True, n)
    for c in value_cols:
        x, y = a.column(c).combine_chunks(), b.column(c).combine_chunks()
        try:
            eq = pc.equal(x, y)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            return pa.repeat(False, n)
        both_null = pc.and_(pc.is_null(x), pc.is_null(y))
        eq = pc.or_kleene(pc.fill_null(eq, False), both_null)
        same = pc.and_(same, eq)
    return same
