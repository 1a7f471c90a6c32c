"""Changelog files: one write commit's changes of the merged table, written as it commits.

With the table option ``changelog.producer=lookup`` every write, delete and transaction
commit also writes ``changelog/<uuid>.lamina``: one row per key whose merged row it
changed, with ``_row_kind`` (``+I``, ``-U``, ``+U``, ``-D``), sorted by key then kind.
The images are computed like ``changes()`` computes them without a changelog: the keys
of the commit's own data files, looked up (C++ lookup path, every merge engine) in the
parent snapshot (before) and in the parent plus the new files (after). So the commit pays
two lookups of its own keys once, and every later ``changes()``/``stream()`` over it is a
read of one small sorted file instead.

The images depend on the parent, so they are computed for the parent the commit is
staged on; when a retry lands on a newer parent they are reused only if every snapshot in
between left the merged table as it was (compaction, schema-free of content), and
computed again otherwise. The file is announced in flight before it is written (like the
data files), linked by the snapshot file (``Snapshot.changelog``), and removed with its
snapshot by ``expire_snapshots`` (or as an orphan if the commit never links).

The file stores the columns of the parent's schema (the new snapshot's) with their field
ids in its metadata (``lamina.changelog.field_ids``), so it is read through any later
schema by field id, as data files are.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lamina import _core, _inflight
from lamina._arrow import constant
from lamina._lookup import lookup_files
from lamina._models import ADD, CHANGELOG_DIR, PRIORITY_SHIFT, DataFile, Snapshot
from lamina.errors import CorruptFileError
from lamina.format import FileReader, write_file
from lamina.schema import TableSchema

if TYPE_CHECKING:
    from lamina._context import TableContext

__all__ = [
    "CONTENT_KINDS",
    "ROW_KIND",
    "SNAPSHOT_ID",
    "Producer",
    "added_files",
    "diff_images",
    "key_bytes",
    "read_changelog",
    "touched_keys",
]

ROW_KIND = "_row_kind"
SNAPSHOT_ID = "_snapshot_id"
KIND_ORDER = {"-D": 0, "-U": 1, "+U": 2, "+I": 3}  # within one key
CONTENT_KINDS = frozenset({"append", "delete", "overwrite"})  # the kinds that change rows
FIELD_IDS_KEY = "lamina.changelog.field_ids"


def key_bytes(table: pa.Table, pk: Sequence[str]) -> pa.Array:
    """The normalized (order-preserving) key bytes of each row."""
    if table.num_rows == 0:
        return pa.array([], pa.binary())
    return pa.array(_core.normalize_keys(table.select(list(pk)), list(pk)), pa.binary())


def added_files(ctx: TableContext, snap: Snapshot) -> list[DataFile]:
    """The data files snapshot ``snap`` itself added (listed by its delta manifest)."""
    out = []
    for name in snap.delta_manifests:
        kinds, files = ctx.store.read_manifest(name)
        out += [
            f for k, f in zip(kinds, files, strict=True) if k == ADD and f.snapshot_id == snap.id
        ]
    return out


def touched_keys(ctx: TableContext, ts: TableSchema, files: Sequence[DataFile]) -> pa.Table:
    """The distinct keys of ``files`` (their key columns only), in schema ``ts``."""
    pk = list(ts.primary_key)
    key_schema = pa.schema([ts.schema.field(c) for c in pk])
    parts = []
    for f in files:
        keys = FileReader(os.path.join(ctx.root, f.path)).read(pk)
        parts.append(keys.cast(key_schema))
    if not parts:
        return key_schema.empty_table()
    table = pa.concat_tables(parts)
    return table.group_by(pk, use_threads=False).aggregate([]).select(pk)


def diff_images(
    pk: Sequence[str], cols: Sequence[str], before: pa.Table, after: pa.Table
) -> tuple[pa.Table, pa.Array]:
    """The change rows between the images of the same keys (each table: the rows of the
    keys present, distinct keys, columns ``cols``): ``-D`` for keys only in ``before``,
    ``+I`` only in ``after``, ``-U``/``+U`` for rows that differ in a column of ``cols``.
    Returns (rows with ``_row_kind``, sorted by key then kind; their key bytes).

    Built with index arrays: the images are compared column by column on the rows of the
    keys in both, and the result is one take per column from ``before`` + ``after``
    (filtering and re-sorting whole tables costs 3x as much with list columns)."""
    pk = list(pk)
    kb, ka = key_bytes(before, pk), key_bytes(after, pk)
    nb = before.num_rows
    pos = pc.fill_null(pc.index_in(ka, value_set=kb), -1).to_numpy(zero_copy_only=False)
    in_before = pos >= 0
    ia = np.flatnonzero(in_before)  # after rows whose key has a before image
    ib = pos[in_before].astype(np.int64)  # and that image
    same = np.ones(len(ia), dtype=bool)
    if len(ia):
        ia_pa, ib_pa = pa.array(ia), pa.array(ib)
        for c in cols:
            if c not in pk:
                x = before.column(c).take(ib_pa).combine_chunks()
                y = after.column(c).take(ia_pa).combine_chunks()
                same &= _equal_arrays(x, y).to_numpy(zero_copy_only=False)
    gone = np.ones(nb, dtype=bool)
    gone[ib] = False
    parts = [
        (np.flatnonzero(gone), 0),  # -D: rows of before
        (ib[~same], 1),  # -U
        (nb + ia[~same], 2),  # +U: rows of after, after those of before
        (nb + np.flatnonzero(~in_before), 3),  # +I
    ]
    src = np.concatenate([p for p, _ in parts]).astype(np.int64)
    kind = np.concatenate([np.full(len(p), k, dtype=np.int8) for p, k in parts])
    kall = pa.chunked_array([kb, ka], pa.binary()).combine_chunks().take(pa.array(src))
    order = pc.sort_indices(
        pa.table({"k": kall, "o": kind}), sort_keys=[("k", "ascending"), ("o", "ascending")]
    )
    src_pa = pa.array(src[order.to_numpy()])
    both = pa.concat_tables([before, after])
    kinds = pa.DictionaryArray.from_arrays(
        pa.array(kind[order.to_numpy()]), pa.array(list(KIND_ORDER), pa.string())
    ).cast(pa.string())
    arrays = [both.column(c).take(src_pa) for c in cols]
    out = pa.Table.from_arrays([*arrays, kinds], schema=_with_kind(before.schema))
    return out, kall.take(order)


def _with_kind(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field(ROW_KIND, pa.string()))


def equal_rows(a: pa.Table, b: pa.Table, value_cols: Sequence[str]) -> pa.Array:
    """True where row i of ``a`` equals row i of ``b`` in every value column (nulls equal
    nulls, NaN equals NaN; list columns compared element by element)."""
    n = a.num_rows
    same = constant(True, n, pa.bool_())
    for c in value_cols:
        x, y = a.column(c).combine_chunks(), b.column(c).combine_chunks()
        same = pc.and_(same, _equal_arrays(x, y))
    return same


def _equal_arrays(x: pa.Array, y: pa.Array) -> pa.Array:
    if pa.types.is_list(x.type) or pa.types.is_large_list(x.type):
        # Equal when both are null, or both valid with equal lengths and equal elements:
        # compare the flattened elements of the comparable lists, then fold per list.
        nulls = pc.and_(pc.is_null(x), pc.is_null(y)).to_numpy(zero_copy_only=False)
        same_len = pc.equal(pc.list_value_length(x), pc.list_value_length(y))
        valid = pc.fill_null(same_len, False)
        idx = pc.indices_nonzero(valid).to_numpy()
        xs, ys = x.filter(valid), y.filter(valid)
        elem = _equal_arrays(pc.list_flatten(xs), pc.list_flatten(ys))
        parents = pc.list_parent_indices(xs).to_numpy()
        bad = np.zeros(len(xs), dtype=bool)
        bad[parents[~elem.to_numpy(zero_copy_only=False)]] = True
        out = np.zeros(len(x), dtype=bool)
        out[idx] = ~bad
        return pa.array(out | nulls)
    try:
        eq = pc.equal(x, y)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return constant(False, len(x), pa.bool_())
    both_null = pc.and_(pc.is_null(x), pc.is_null(y))
    if pa.types.is_floating(x.type):
        both_null = pc.or_(both_null, pc.fill_null(pc.and_(pc.is_nan(x), pc.is_nan(y)), False))
    return pc.or_kleene(pc.fill_null(eq, False), both_null)


def read_changelog(ctx: TableContext, ts: TableSchema, path: str, cols: Sequence[str]) -> pa.Table:
    """Changelog file ``path`` (relative) read through schema ``ts`` by field id: columns
    ``cols`` then ``_row_kind``; a column the file lacks reads as its default or null."""
    reader = FileReader(os.path.join(ctx.root, path))
    try:
        ids = json.loads(reader.metadata[FIELD_IDS_KEY])
        by_id = {int(i): str(n) for n, i in ids.items()}
    except (KeyError, ValueError, TypeError, AttributeError):
        raise CorruptFileError(f"changelog file {path}: no valid {FIELD_IDS_KEY}") from None
    names = set(reader.schema.names)
    if ROW_KIND not in names or any(n not in names for n in by_id.values()):
        raise CorruptFileError(f"changelog file {path}: its columns do not match its field ids")
    want = [(c, ts.field_ids[c]) for c in cols]
    table = reader.read([by_id[i] for _, i in want if i in by_id] + [ROW_KIND])
    n = table.num_rows
    arrays = []
    for c, i in want:
        typ = ts.schema.field(c).type
        if i in by_id:
            a = table.column(by_id[i])
            arrays.append(a if a.type == typ else a.cast(typ))
        elif c in ts.defaults:
            arrays.append(constant(ts.defaults[c], n, typ))
        else:
            arrays.append(pa.nulls(n, typ))
    kind = table.column(ROW_KIND)
    return pa.Table.from_arrays(
        [*arrays, kind],
        schema=pa.schema([*(ts.schema.field(c) for c in cols), (ROW_KIND, pa.string())]),
    )


class Producer:
    """Computes and writes the changelog of one commit, for the parent it is staged on
    (``SnapshotStore.commit`` calls it once per attempt; see the module docstring)."""

    def __init__(
        self, ctx: TableContext, adds: Sequence[DataFile], announcement: _inflight.Announcement
    ) -> None:
        self._ctx = ctx
        self._adds = list(adds)
        self._announcement = announcement
        self._keys: dict[int, pa.Table] = {}  # schema id -> touched keys
        self._parent_id = -1
        self._schema_id = -1
        self._paths: tuple[str, ...] | None = None

    def __call__(self, parent: Snapshot | None, sid: int) -> tuple[str, ...]:
        pid = 0 if parent is None else parent.id
        schema_id = 0 if parent is None else parent.schema_id
        if self._paths is not None:
            if schema_id == self._schema_id and self._unchanged(self._parent_id, pid):
                self._parent_id = pid
                return self._paths
            self.discard()
        ctx = self._ctx
        ts = ctx.table_schema(schema_id)
        keys = self._keys.get(schema_id)
        if keys is None:
            keys = self._keys.setdefault(schema_id, touched_keys(ctx, ts, self._adds))
        cols = list(ts.schema.names)
        empty = ts.schema.empty_table()
        files = ctx.live_files(parent)
        new = [
            replace(f, priority=(sid << PRIORITY_SHIFT) | i, snapshot_id=sid)
            for i, f in enumerate(self._adds)
        ]
        before = lookup_files(ctx, ts, files, keys, cols) or empty
        after = lookup_files(ctx, ts, files + new, keys, cols) or empty
        rows, _ = diff_images(ts.primary_key, cols, before, after)
        paths: tuple[str, ...] = ()
        if rows.num_rows:
            rel = f"{CHANGELOG_DIR}/{uuid.uuid4().hex}.lamina"
            self._announcement.add([rel])
            ctx.io.makedirs(os.path.join(ctx.root, CHANGELOG_DIR), durable=True)
            ids = {c: ts.field_ids[c] for c in cols}
            write_file(
                os.path.join(ctx.root, rel),
                rows,
                sync=ctx.io.sync,
                metadata={FIELD_IDS_KEY: json.dumps(ids).encode()},
            )
            paths = (rel,)
            if ctx.io.sync:
                ctx.io.fsync_dir(os.path.join(ctx.root, CHANGELOG_DIR))
        self._parent_id, self._schema_id, self._paths = pid, schema_id, paths
        return paths

    def _unchanged(self, old: int, new: int) -> bool:
        """True if snapshots old+1 .. new all left the merged table's rows as they were."""
        for i in range(old + 1, new + 1):
            try:
                if self._ctx.store.load(i).kind in CONTENT_KINDS:
                    return False
            except KeyError:
                return False
        return True

    def discard(self) -> None:
        """Removes the changelog written for an earlier parent (its commit did not link)."""
        paths, self._paths = self._paths or (), None
        for rel in paths:
            try:
                self._ctx.io.remove(os.path.join(self._ctx.root, rel))
            except OSError:
                pass  # an orphan, for remove_orphan_files
