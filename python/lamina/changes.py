"""Changelog reads: ``Table.changes(start, end)``, the changes of the merged table.

Design (docs/tables.md, "Changes"). Every write, delete or transaction snapshot has a
changelog: its changes of the merged table (``lamina.changelog``), either written at
commit time (option ``changelog.producer=lookup``: a read of one sorted file) or computed
here: the keys of the data files the snapshot added (key columns only) looked up through
the C++ lookup path before and after it. Compaction and schema snapshots have none: they
leave the merged table as it was.

``changes(a, b)`` of a range without any written changelog looks the range's touched
keys up once at ``a`` and once at ``b``. Otherwise each content snapshot's changelog is
read (or computed) and, unless ``per_snapshot``, folded per key: its first image in the
range is its state at ``a`` (``-U``/``-D``: present; ``+I``: absent), its last its state
at ``b`` (``+I``/``+U``: present; ``-D``: absent).

Per touched key: absent before and present after → ``+I``; present before, absent after
→ ``-D``; present in both → ``-U`` (before) then ``+U`` (after), unless the two images
are equal in every requested column (then nothing: an update that changed nothing is
dropped); absent in both → nothing (a delete of an absent key, or an insert deleted
again). ``_snapshot_id`` is the last snapshot in the range that changed the key. Images
are read through the schema of ``end`` (columns by field id), so applying
``changes(a, b)`` to ``read(snapshot=a)`` projected into that schema gives
``read(snapshot=b)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lamina._arrow import constant
from lamina._lookup import lookup_at
from lamina._models import Snapshot
from lamina.changelog import (
    CONTENT_KINDS,
    KIND_ORDER,
    ROW_KIND,
    SNAPSHOT_ID,
    added_files,
    diff_images,
    equal_rows,
    key_bytes,
    read_changelog,
    touched_keys,
)
from lamina.errors import InvalidArgumentError, SnapshotExpiredError
from lamina.scan import check_columns
from lamina.schema import TableSchema

if TYPE_CHECKING:
    from lamina._context import TableContext

__all__ = ["ROW_KIND", "SNAPSHOT_ID", "changes_between", "request_columns", "snapshot_changes"]


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
        return _empty(ts, request_columns(ts, columns))
    first = 0 if start is None else start.id
    if end.id < first:
        raise InvalidArgumentError(f"end snapshot {end.id} is before start snapshot {first}")
    ts = ctx.table_schema(end.schema_id)
    cols = request_columns(ts, columns)
    snaps = _range(ctx, first, end.id)
    content = [s for s in snaps if s.kind in CONTENT_KINDS]
    if not content:
        return _empty(ts, cols)
    if not per_snapshot and all(s.changelog is None for s in content):
        out = _by_lookup(ctx, ts, start, end, content, cols)  # two lookups for the range
    else:
        parents = {s.id: p for p, s in zip([start, *snaps], snaps)}
        exact = per_snapshot or len(content) == 1
        parts = [snapshot_changes(ctx, ts, s, parents[s.id], cols, exact) for s in content]
        if exact:
            out = pa.concat_tables(parts)
        else:
            out = _fold(ts, pa.concat_tables(parts), cols)
    if filter is not None:
        out = out.filter(filter)
    return out


def snapshot_changes(
    ctx: TableContext,
    ts: TableSchema,
    snap: Snapshot,
    parent: Snapshot | None,
    cols: list[str],
    drop_unchanged: bool = True,
) -> pa.Table:
    """The changes content snapshot ``snap`` made on top of ``parent`` (its parent, None
    for none), in schema ``ts``: its written changelog, else computed by two lookups.
    Rows sorted by key then kind; ``-U``/``+U`` pairs equal in ``cols`` are dropped unless
    ``drop_unchanged`` is False (a fold compares the images of the whole range)."""
    if snap.changelog is None:
        return _by_lookup(ctx, ts, parent, snap, [snap], cols)
    parts = [read_changelog(ctx, ts, path, cols) for path in snap.changelog]
    if not parts:
        return _empty(ts, cols)
    out = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if drop_unchanged and set(cols) != set(ts.schema.names):
        out = _drop_unchanged(ts, out, cols)  # pairs may differ only in other columns
    return out.append_column(SNAPSHOT_ID, constant(snap.id, out.num_rows, pa.int64()))


def request_columns(ts: TableSchema, columns: Sequence[str] | None) -> list[str]:
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


def _by_lookup(
    ctx: TableContext,
    ts: TableSchema,
    start: Snapshot | None,
    end: Snapshot,
    content: list[Snapshot],
    cols: list[str],
) -> pa.Table:
    """The net changes of ``content`` (the write snapshots in (start, end]) computed by
    looking their touched keys up at ``start`` and at ``end``."""
    pk = list(ts.primary_key)
    parts = []
    for s in content:
        keys = touched_keys(ctx, ts, added_files(ctx, s))
        parts.append(keys.append_column(SNAPSHOT_ID, constant(s.id, keys.num_rows, pa.int64())))
    touched = pa.concat_tables(parts)
    if len(parts) > 1:
        touched = (
            touched.group_by(pk, use_threads=False)
            .aggregate([(SNAPSHOT_ID, "max")])
            .rename_columns([*pk, SNAPSHOT_ID])
        )
    if touched.num_rows == 0:
        return _empty(ts, cols)
    keys = touched.select(pk)
    empty = ts.schema.empty_table().select(cols)
    before = (lookup_at(ctx, ts, start, keys, cols) if start is not None else None) or empty
    after = lookup_at(ctx, ts, end, keys, cols) or empty
    rows, kb = diff_images(pk, cols, before, after)
    sid = pc.take(touched.column(SNAPSHOT_ID), pc.index_in(kb, value_set=key_bytes(touched, pk)))
    return rows.append_column(SNAPSHOT_ID, sid)


def _drop_unchanged(ts: TableSchema, rows: pa.Table, cols: list[str]) -> pa.Table:
    """``rows`` (sorted by key then kind) without the ``-U``/``+U`` pairs equal in every
    column of ``cols``."""
    kinds = rows.column(ROW_KIND).combine_chunks()
    pre = pc.indices_nonzero(pc.equal(kinds, "-U"))
    if len(pre) == 0:
        return rows
    post = pc.add(pre, 1)  # a pre-image is always followed by its post-image
    value_cols = [c for c in cols if c not in ts.primary_key]
    same = equal_rows(rows.take(pre), rows.take(post), value_cols).to_numpy(zero_copy_only=False)
    if not same.any():
        return rows
    keep = np.ones(rows.num_rows, dtype=bool)
    keep[pre.to_numpy()[same]] = False
    keep[post.to_numpy()[same]] = False
    return rows.filter(pa.array(keep))


def _fold(ts: TableSchema, rows: pa.Table, cols: list[str]) -> pa.Table:
    """Per-snapshot changes (of snapshots in order) folded into one change per key: the
    key's first image in the range is its state at the start, its last at the end."""
    if rows.num_rows == 0:
        return rows
    pk = list(ts.primary_key)
    kb = key_bytes(rows, pk)
    # Kinds as their KIND_ORDER codes: -D 0, -U 1, +U 2, +I 3.
    codes = pc.index_in(rows.column(ROW_KIND), value_set=pa.array(list(KIND_ORDER)))
    order = pc.sort_indices(
        pa.table({"k": kb, "s": rows.column(SNAPSHOT_ID), "o": codes}),
        sort_keys=[("k", "ascending"), ("s", "ascending"), ("o", "ascending")],
    )
    rows, kb = rows.take(order), kb.take(order)
    k = codes.take(order).to_numpy(zero_copy_only=False)
    n = rows.num_rows
    new_key = np.ones(n, dtype=bool)
    if n > 1:
        new_key[1:] = pc.not_equal(kb[1:], kb[:-1]).to_numpy(zero_copy_only=False)
    first = np.flatnonzero(new_key)
    last = np.append(first[1:] - 1, n - 1)
    present_before = k[first] <= KIND_ORDER["-U"]  # the first image is a -D or -U row
    present_after = k[last] >= KIND_ORDER["+U"]  # the last is a +U or +I row
    sid = rows.column(SNAPSHOT_ID).take(pa.array(last))  # the last snapshot that changed it
    data = rows.drop_columns([ROW_KIND, SNAPSHOT_ID])
    both = present_before & present_after
    changed = np.zeros(len(first), dtype=bool)
    if both.any():
        value_cols = [c for c in cols if c not in pk]
        same = equal_rows(
            data.take(pa.array(first[both])), data.take(pa.array(last[both])), value_cols
        ).to_numpy(zero_copy_only=False)
        changed[np.flatnonzero(both)[~same]] = True
    picks = [
        (first, present_before & ~present_after, "-D"),
        (first, changed, "-U"),
        (last, changed, "+U"),
        (last, ~present_before & present_after, "+I"),
    ]
    idx, group, kind_codes = [], [], []
    for rows_at, mask, kind in picks:
        g = np.flatnonzero(mask)
        idx.append(rows_at[g])
        group.append(g)
        kind_codes.append(np.full(len(g), KIND_ORDER[kind], dtype=np.int8))
    all_idx, all_group, all_kind = map(np.concatenate, (idx, group, kind_codes))
    sort = np.lexsort((all_kind, all_group))
    all_idx, all_group, all_kind = all_idx[sort], all_group[sort], all_kind[sort]
    names = np.array(list(KIND_ORDER), dtype=object)
    out = data.take(pa.array(all_idx))
    out = out.append_column(ROW_KIND, pa.array(names[all_kind].tolist(), pa.string()))
    return out.append_column(SNAPSHOT_ID, sid.take(pa.array(all_group)))
