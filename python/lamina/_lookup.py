"""Point lookup and positional take without merged reads of whole files.

``lookup`` routes the keys to their buckets and lets the core find them page by page in
each file of those buckets, then fold their versions with the merge engine
(``cpp/lamina/table/lookup.h``). ``take`` maps positions of a scan to file rows through
row counts when a split's files are key-disjoint and hold no deletes (as after a full
compaction). In a split that needs a merge, the deduplicate and first_row engines use a
position index of the split ((file, row) of each merged position, built once from the key
columns and cached by the core per set of files, see ``cpp/lamina/table/take_index.h``);
other engines merge the keys, then look up the keys at the wanted positions. The result is
always the one
``scan.to_arrow().take(indices)`` gives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from lamina import _core
from lamina._arrow import batch_from_capsules
from lamina._context import TableContext, core_options
from lamina._models import DataFile, Snapshot, files_by_bucket
from lamina._retry import read_snapshot
from lamina.errors import InvalidArgumentError
from lamina.scan import check_columns
from lamina.schema import TableSchema

if TYPE_CHECKING:
    from lamina.scan import Scan

__all__ = ["lookup", "take"]


def lookup(ctx: TableContext, keys: Any, columns: Sequence[str] | None = None) -> pa.Table:
    """The current rows of ``keys``, in the order of the request.

    Missing and deleted keys are absent; a key requested more than once appears once, at
    its first position. The core routes the keys to their buckets, searches each
    (partition, bucket) and puts the rows found back in request order.
    """
    from lamina.table import _as_table, conform

    ts = ctx.table_schema()
    pk = list(ts.primary_key)
    key_schema = pa.schema([ts.schema.field(c) for c in pk])
    key_table = conform(_as_table(keys, key_schema), key_schema, what="keys")
    cols = check_columns(ts.schema, columns)
    empty = ts.schema.empty_table().select(cols)
    if key_table.num_rows == 0:
        return empty

    # A snapshot expired under the lookup: look the keys up in the new latest one.
    got = read_snapshot(
        ctx.store,
        ctx.store.latest(),
        lambda snap: lookup_at(ctx, ts, snap, key_table, cols),
        follow_latest=True,
    )
    return empty if got is None else got


def lookup_at(
    ctx: TableContext, ts: TableSchema, snap: Snapshot | None, key_table: pa.Table, cols: list[str]
) -> pa.Table | None:
    """The rows of ``key_table``'s keys (conformed key columns) in snapshot ``snap``, read
    through schema ``ts`` (columns by field id), in request order; None for a snapshot
    without files. Raises what reading the snapshot's files raises (see ``_retry``)."""
    return lookup_files(ctx, ts, ctx.live_files(snap), key_table, cols)


def lookup_files(
    ctx: TableContext, ts: TableSchema, files: list[DataFile], key_table: pa.Table, cols: list[str]
) -> pa.Table | None:
    """``lookup_at`` over an explicit list of data files (their priorities order the
    versions of a key); None for no files."""
    by_bucket = files_by_bucket(files)
    if not by_bucket or key_table.num_rows == 0:
        return None
    order = sorted(by_bucket.items(), key=lambda kv: (repr(kv[0][0]), kv[0][1]))
    groups = [
        (bucket, [(os.path.join(ctx.root, f.path), f.priority) for f in fs])
        for (_, bucket), fs in order
    ]
    caps = _core.table_lookup(groups, key_table, ts.buckets, cols, core_options(ts))
    return pa.Table.from_batches([batch_from_capsules(caps)])


def _as_indices(indices: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    if isinstance(indices, (pa.Array, pa.ChunkedArray)):
        if indices.null_count:
            raise InvalidArgumentError("indices must not contain nulls")
        indices = indices.to_numpy(zero_copy_only=False)
    arr = np.asarray(indices)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidArgumentError("indices must be a 1-D sequence of integers")
    if arr.dtype == np.uint64 and arr.max() > np.iinfo(np.int64).max:
        raise InvalidArgumentError(f"index {int(arr.max())} out of range")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _check_range(idx: np.ndarray[Any, np.dtype[np.int64]], total: int) -> None:
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= total):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise InvalidArgumentError(f"index {bad} out of range for a scan of {total} rows")


def _concatenable(files: list[DataFile]) -> list[DataFile] | None:
    """The files in key order if their merged read is their concatenation, else None."""
    if any(f.delete_count for f in files):
        return None
    ordered = sorted((f for f in files if f.row_count > 0), key=lambda f: f.min_key)
    for a, b in zip(ordered, ordered[1:]):
        if a.max_key >= b.min_key:
            return None
    return ordered


def take(scan: Scan, indices: Any) -> pa.Table:
    """Rows at ``indices`` of ``scan.to_arrow()`` (splits in plan order, each sorted by key).

    Raises InvalidArgumentError for an index that is negative or not below the row count.
    """
    idx = _as_indices(indices)
    if scan._filter is not None:
        whole = scan.to_arrow()
        _check_range(idx, whole.num_rows)
        return whole.take(pa.array(idx))
    meta = {f.path: f for f in scan._ctx.live_files(scan.snapshot)}
    splits: list[tuple[bool, list[tuple[str, int]]]] = []
    for split in scan.plan():
        ordered = _concatenable([meta[p] for p, _ in split.files])
        if ordered is not None:
            files = [(os.path.join(split.table_path, f.path), f.row_count) for f in ordered]
        else:
            files = [(os.path.join(split.table_path, p), prio) for p, prio in split.files]
        splits.append((ordered is not None, files))
    caps = _core.table_take(splits, idx, list(scan._columns), core_options(scan._ts))
    return pa.Table.from_batches([batch_from_capsules(caps)])
