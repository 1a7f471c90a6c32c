"""Planning and reading a scan: snapshot -> splits (one per bucket) -> merged batches."""

from __future__ import annotations

import functools
import os
import pickle
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, Union

import pyarrow as pa
import pyarrow.compute as pc

from lamina import _core
from lamina._arrow import batch_from_capsules
from lamina._context import TableContext, core_options
from lamina._filter import filter_columns
from lamina._models import DataFile, Snapshot, files_by_bucket
from lamina._retry import expired_error, read_snapshot, snapshot_gone
from lamina.errors import CorruptFileError, InvalidArgumentError

T = TypeVar("T")

DEFAULT_MEMORY_BUDGET = 256 << 20  # bytes of decoded data a streaming read holds, about
# to_arrow merges a split from whole decoded runs up to this estimated decoded size of its
# requested columns, and streams it through the windowed merge above (Scan._read_whole).
WHOLE_READ_BYTES = 1 << 30
DECODE_EXPANSION = 4  # decoded bytes per byte on disk, about (W1: 3.4)


def _rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """``batches`` re-cut into batches of exactly ``size`` rows (the last may be shorter)."""
    held: list[pa.RecordBatch] = []
    rows = 0
    for b in batches:
        held.append(b)
        rows += b.num_rows
        while rows >= size:
            whole = pa.concat_batches(held) if len(held) > 1 else held[0]
            yield whole.slice(0, size)
            rest = whole.slice(size)
            held, rows = ([rest] if rest.num_rows else []), rest.num_rows
    if rows:
        yield pa.concat_batches(held) if len(held) > 1 else held[0]


@dataclass(frozen=True)
class Split:
    """Self-contained, picklable unit of reading: the sorted runs of one bucket.

    ``Scan.plan()`` makes them; ``split.to_arrow()`` reads one anywhere the table folder
    is reachable (another process, a Ray task, a DataLoader worker) and returns this
    split's part of ``scan.to_arrow()``: the same columns and filter, merged.
    """

    table_path: str
    partition: tuple[tuple[str, Any], ...]
    bucket: int
    files: tuple[tuple[str, int], ...]  # (path relative to the table, priority), oldest first
    min_key: bytes
    max_key: bytes
    needs_merge: bool
    estimated_rows: int
    schema_id: int = 0
    columns: tuple[str, ...] | None = None  # the scan's columns (None: all)
    # The scan's filter (a pyarrow.compute.Expression) pickled, or None: bytes keep the
    # split comparable and hashable.
    filter: bytes | None = None
    # Positions in ``files`` in key order when the files are key-disjoint and hold no
    # deletes (their merged read is their concatenation), else None.
    key_order: tuple[int, ...] | None = None
    file_bytes: int = 0  # the files' total size on disk

    def to_arrow(self) -> pa.Table:
        """This split's rows, merged, with the scan's columns and filter applied.

        Raises:
            TableNotFoundError: ``table_path`` holds no table.
            FileNotFoundError: A file of the split was deleted (its snapshot expired).
        """
        from lamina.table import open_context

        ctx = open_context(self.table_path)
        expr = None if self.filter is None else pickle.loads(self.filter)
        scan = Scan(ctx, self.columns, expr, None, schema_id=self.schema_id)
        return scan._read_split(self, scan._read_columns())


# A key range [lo, hi) of a split (normalized key bytes; None: open), read on its own.
Part = tuple[Split, Union[bytes, None], Union[bytes, None]]


def _key_order(files: list[DataFile]) -> tuple[int, ...] | None:
    """Positions of ``files`` in key order if they are key-disjoint and hold no deletes."""
    if any(f.delete_count for f in files):
        return None
    order = sorted(range(len(files)), key=lambda i: files[i].min_key)
    for a, b in zip(order, order[1:]):
        if files[a].max_key >= files[b].min_key:
            return None
    return tuple(order)


def _partition_matches(
    expr: Any, partition: tuple[tuple[str, Any], ...], schema: pa.Schema
) -> bool:
    """False only when ``expr`` provably rejects every row of the partition."""
    if expr is None or not partition:
        return True
    try:
        # Typed as the table's columns: a uint64 value >= 2**63 fits no inferred int64.
        probe = pa.table({k: pa.array([v], schema.field(k).type) for k, v in partition})
        return bool(probe.filter(expr).num_rows > 0)
    except (
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        pa.ArrowNotImplementedError,
        KeyError,
        OverflowError,
        TypeError,
    ):
        return True  # the filter needs other columns: cannot prune


def _decode_keys(keys: list[bytes], key: str, typ: pa.DataType) -> pa.Array:
    """The values of normalized keys of the one-column key ``key`` (the core decodes)."""
    sc, ac = _core.decode_keys(keys, pa.schema([pa.field(key, typ, nullable=False)]))
    return batch_from_capsules((sc, ac)).column(0)


def _prune_by_key_range(
    files: list[DataFile], filter: Any, key: str, typ: pa.DataType, schema: pa.Schema
) -> list[DataFile]:
    """Drops files whose key range cannot satisfy ``filter`` (Arrow decides by
    simplifying the filter under each file's guarantee ``min <= key <= max``)."""
    import pyarrow.dataset as pds
    from pyarrow import fs as pafs

    bounds = _decode_keys([f.min_key for f in files] + [f.max_key for f in files], key, typ)
    n = len(files)
    guarantees = [(pc.field(key) >= bounds[i]) & (pc.field(key) <= bounds[n + i]) for i in range(n)]
    names = [f"{i}" for i in range(len(files))]  # never opened: only expressions are used
    dataset = pds.FileSystemDataset.from_paths(
        names, schema=schema, format=pds.ParquetFileFormat(),
        filesystem=pafs.LocalFileSystem(), partitions=guarantees,
    )  # fmt: skip
    kept = {int(os.path.basename(fr.path)) for fr in dataset.get_fragments(filter=filter)}
    return [f for i, f in enumerate(files) if i in kept]


def check_columns(schema: pa.Schema, columns: Sequence[str] | None) -> list[str]:
    """The names to read (None: every column); InvalidArgumentError for an unknown or
    repeated name. ``[]`` is valid: the rows, with no columns."""
    if columns is None:
        return list(schema.names)
    if isinstance(columns, str) or not isinstance(columns, Sequence):
        raise InvalidArgumentError("columns must be a list of names")
    seen: set[str] = set()
    for c in columns:
        if not isinstance(c, str) or c not in schema.names:
            raise InvalidArgumentError(f"no column named {c!r}")
        if c in seen:
            raise InvalidArgumentError(f"columns names {c!r} twice")
        seen.add(c)
    return list(columns)


class Scan:
    """A read of one snapshot. Build it with ``Table.scan``."""

    def __init__(
        self,
        ctx: TableContext,
        columns: Sequence[str] | None,
        filter: Any,
        snapshot: Snapshot | None,
        *,
        schema_id: int | None = None,
        follow_latest: bool = False,
    ) -> None:
        self._ctx = ctx
        self._snapshot = snapshot
        # Table.scan(snapshot=None): until this scan returned data, a snapshot expired
        # under it is replaced by the new latest one (lamina._retry); then it is pinned.
        self._follow_latest = follow_latest
        self._columns_arg = columns
        self._reading_threads: set[int] = set()
        if schema_id is None and snapshot is not None:
            schema_id = snapshot.schema_id
        self._ts = ctx.table_schema(schema_id)
        self._columns = check_columns(self._ts.schema, columns)
        if filter is not None and not isinstance(filter, pa.compute.Expression):
            raise InvalidArgumentError("filter must be a pyarrow.compute.Expression")
        self._filter = filter

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def _reading(self, read: Callable[[], T]) -> T:
        """``read()``, retried on the new latest snapshot if this scan follows the latest
        one and its snapshot is expired meanwhile (``lamina._retry.read_snapshot``);
        pinned once it succeeded. Nested calls (plan inside to_arrow) run directly."""
        me = threading.get_ident()
        if me in self._reading_threads:
            return read()

        def attempt(snap: Snapshot | None) -> T:
            if snap is not self._snapshot:
                self._repoint(snap)
            return read()

        self._reading_threads.add(me)
        try:
            out = read_snapshot(
                self._ctx.store, self._snapshot, attempt, follow_latest=self._follow_latest
            )
        finally:
            self._reading_threads.discard(me)
        self._follow_latest = False
        return out

    def _repoint(self, snap: Snapshot | None) -> None:
        """Makes this scan read ``snap`` instead (same columns and filter)."""
        fresh = Scan(self._ctx, self._columns_arg, self._filter, snap)
        keep = ("_follow_latest", "_reading_threads")
        saved = {k: self.__dict__[k] for k in keep}
        self.__dict__.update(fresh.__dict__)
        self.__dict__.update(saved)

    def plan(self) -> list[Split]:
        """The splits to read: one per (partition, bucket) left after pruning."""

        def planned() -> list[Split]:
            splits = self._plan()
            # Planning may be served from cached manifests: make sure the snapshot was
            # not expired meanwhile (its splits would name deleted files).
            if self._snapshot is not None and snapshot_gone(self._ctx.store, self._snapshot):
                raise expired_error(self._snapshot)
            return splits

        return self._reading(planned)

    def _plan(self) -> list[Split]:
        files = self._ctx.live_files(self._snapshot)
        pk = self._ts.primary_key
        if self._filter is not None and len(pk) == 1 and files:
            typ = self._ts.schema.field(pk[0]).type
            try:
                files = _prune_by_key_range(files, self._filter, pk[0], typ, self._ts.schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                pass  # a filter Arrow cannot simplify: read everything
        for f in files:
            if f.bucket >= self._ts.buckets:
                raise CorruptFileError(
                    f"{f.path!r} is listed in bucket {f.bucket}; the table has "
                    f"{self._ts.buckets} buckets"
                )
        splits = []
        for (partition, bucket), fs in sorted(
            files_by_bucket(files).items(), key=lambda kv: (repr(kv[0][0]), kv[0][1])
        ):
            if not _partition_matches(self._filter, partition, self._ts.schema):
                continue
            splits.append(
                Split(
                    table_path=self._ctx.root,
                    partition=partition,
                    bucket=bucket,
                    files=tuple((f.path, f.priority) for f in fs),
                    min_key=min(f.min_key for f in fs),
                    max_key=max(f.max_key for f in fs),
                    needs_merge=len(fs) > 1 or any(f.delete_count for f in fs),
                    key_order=_key_order(fs),
                    file_bytes=sum(f.file_size for f in fs),
                    estimated_rows=sum(f.row_count - f.delete_count for f in fs),
                    schema_id=self._ts.id,
                    columns=tuple(self._columns),
                    filter=None if self._filter is None else pickle.dumps(self._filter),
                )
            )
        return splits

    def _read_columns(self) -> list[str]:
        """The columns to read: those asked for (none: one key column, so the rows are
        still counted), then those the filter needs (read, then dropped)."""
        cols = list(self._columns) or list(self._ts.primary_key[:1])
        if self._filter is not None:
            cols += filter_columns(self._ts.schema, self._filter, cols)
        return cols

    def _read_split(self, split: Split, cols: list[str]) -> pa.Table:
        files = [(os.path.join(split.table_path, p), prio) for p, prio in split.files]
        capsules = _core.table_merge_read(files, cols, core_options(self._ts))
        return pa.Table.from_batches([self._finish_batch(batch_from_capsules(capsules))])

    def _read_whole(self, split: Split, cols: list[str]) -> pa.Table:
        """One split's rows for ``to_arrow``.

        Decoding every run whole and merging them (``_read_split``) is the fastest when
        warm, but holds every version of every requested row at once (about 3x the output
        on W1) and faults all that memory in. So a split that needs a merge and whose
        requested columns are estimated to decode to more than ``WHOLE_READ_BYTES`` (its
        bytes on disk, times the share of columns read, times ``DECODE_EXPANSION``)
        streams through the windowed merge instead: the output plus about one memory
        budget. Key-disjoint runs always decode straight into the output.
        """
        width = len(cols) / max(1, len(self._ts.schema))
        estimate = split.file_bytes * width * DECODE_EXPANSION
        if split.key_order is not None or estimate <= WHOLE_READ_BYTES:
            return self._read_split(split, cols)
        reader = self._open_split(split, cols, DEFAULT_MEMORY_BUDGET)
        batches = []
        while (caps := reader.next()) is not None:
            batches.append(self._finish_batch(batch_from_capsules(caps)))
        return pa.Table.from_batches(batches, self._empty().schema)

    def _empty(self) -> pa.Table:
        return self._ts.schema.empty_table().select(self._columns)

    def to_batches(
        self,
        batch_size: int | None = None,
        memory_budget: int | None = None,
        prefetch: bool = True,
    ) -> Iterator[pa.RecordBatch]:
        """Merged record batches in scan order (split by split, by key within a split),
        streaming: each split is merged a round of a windowed merge at a time in C++, so
        memory stays about ``memory_budget`` whatever the size of the table.

        Args:
            batch_size: Rows per batch (the last may have fewer); None: as the merge
                produces them (up to about 65,536 rows per input file).
            memory_budget: Bytes of decoded data held at once, about (default 256 MiB):
                one window per file of the split being read, the round being merged and
                the batch being prefetched.
            prefetch: Merge the next batch on a background thread (the core releases
                the GIL) while the caller handles this one.

        A scan of the latest snapshot whose snapshot is expired before the first batch
        reads the new latest one; expired after that, it raises SnapshotExpiredError
        (starting over would repeat rows). Files are opened (mapped) when their split
        starts, so a split being read survives their deletion.
        """
        if batch_size is not None and (
            not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1
        ):
            raise InvalidArgumentError("batch_size must be a positive int or None")
        budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise InvalidArgumentError("memory_budget must be a positive number of bytes")
        batches = self._stream(budget, prefetch, rows=batch_size)
        return batches if batch_size is None else _rebatch(batches, batch_size)

    def _stream(
        self,
        budget: int,
        prefetch: bool,
        only: Sequence[Part] | None = None,
        rows: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Streams the planned splits, or ``only`` these parts (split, lo, hi): key ranges
        [lo, hi) of splits of this scan's plan (None bounds are open). ``rows``: the
        caller's batch size (windows of unmerged files are cut to whole batches)."""

        def first() -> tuple[list[Part], list[str], Any]:
            parts: list[Part] = (
                [(s, None, None) for s in self._plan()] if only is None else list(only)
            )
            cols = self._read_columns()
            if not parts:
                return parts, cols, None
            split, lo, hi = parts[0]
            return parts, cols, self._open_split(split, cols, budget, lo, hi, rows)

        parts, cols, reader = self._reading(first)
        if reader is None:
            return
        pool = ThreadPoolExecutor(max_workers=1) if prefetch else None
        try:
            for i, (split, lo, hi) in enumerate(parts):
                if i > 0:
                    reader = self._reading(
                        functools.partial(self._open_split, split, cols, budget, lo, hi, rows)
                    )
                pending = pool.submit(reader.next) if pool is not None else None
                while True:
                    caps = pending.result() if pending is not None else reader.next()
                    if caps is None:
                        break
                    if pool is not None:
                        pending = pool.submit(reader.next)  # merges while this one is used
                    out = self._finish_batch(batch_from_capsules(caps))
                    if out.num_rows:
                        yield out
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def _parts(self, split: Split, k: int) -> list[Part]:
        """``split`` cut into up to ``k`` key ranges of about equal rows."""
        files = [(os.path.join(split.table_path, p), prio) for p, prio in split.files]
        bounds = _core.table_key_boundaries(files, core_options(self._ts), k) if k > 1 else []
        los: list[bytes | None] = [None, *bounds]
        his: list[bytes | None] = [*bounds, None]
        return [(split, lo, hi) for lo, hi in zip(los, his)]

    def _part_batches(
        self, parts: Sequence[Part], memory_budget: int | None = None, rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        """``to_batches`` of only these parts of this scan's plan, in the order given
        (``rows``: the batch size the caller will cut)."""
        budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget
        return self._stream(budget, True, parts, rows)

    def _part_count(self, part: Part) -> int:
        """Rows a part of this scan's plan contributes (keys and filter columns only are
        read)."""
        rows = Scan(self._ctx, [], self._filter, self._snapshot, schema_id=self._ts.id)
        return sum(b.num_rows for b in rows._stream(DEFAULT_MEMORY_BUDGET, False, [part]))

    def _open_split(
        self,
        split: Split,
        cols: list[str],
        budget: int,
        lo: bytes | None = None,
        hi: bytes | None = None,
        rows: int | None = None,
    ) -> Any:
        files = [(os.path.join(split.table_path, p), prio) for p, prio in split.files]
        concat = split.key_order is not None and lo is None and hi is None
        if concat:  # key-disjoint files without deletes: read in key order, no merge
            assert split.key_order is not None
            files = [files[i] for i in split.key_order]
        # About four windows per file are alive at once: the window, the round's slices
        # and fold, and the prefetched batch.
        window = max(1 << 16, budget // (4 * max(1, 1 if concat else len(files))))
        # Unmerged windows of whole batches: the caller's batches are slices, not copies.
        window_rows = 0 if not concat or rows is None else rows * max(1, 65536 // rows)
        return _core.TableStreamRead(
            files, cols, core_options(self._ts), window, lo, hi, concat, window_rows
        )

    def _finish_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The scan's filter and column selection applied to a merged batch."""
        if self._filter is not None:
            try:
                batch = batch.filter(self._filter)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
                # e.g. a uint64 column against a plain int: Arrow casts both to int64,
                # so compare with pa.scalar(value, pa.uint64()) instead.
                raise InvalidArgumentError(
                    f"cannot evaluate the filter {self._filter}: {e}"
                ) from None
        return batch.select(self._columns)

    def to_reader(
        self, batch_size: int | None = None, memory_budget: int | None = None
    ) -> pa.RecordBatchReader:
        """A ``pyarrow.RecordBatchReader`` over ``to_batches`` (streaming, bounded memory)."""
        batches = self.to_batches(batch_size=batch_size, memory_budget=memory_budget)
        return pa.RecordBatchReader.from_batches(self._empty().schema, batches)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow C stream of the scan's rows (streaming, bounded memory): DuckDB,
        Polars and ``pyarrow.table(scan)`` read a scan directly."""
        return self.to_reader().__arrow_c_stream__(requested_schema)

    def to_arrow(self) -> pa.Table:
        """The whole snapshot (after projection and filter) as one pyarrow Table."""
        return self._reading(self._to_arrow)

    def _to_arrow(self) -> pa.Table:
        splits = self._plan()
        if not splits:
            return self._empty()
        cols = self._read_columns()
        if len(splits) == 1:
            parts = [self._read_whole(splits[0], cols)]
        else:
            # The core releases the GIL, so splits decode and merge in parallel.
            with ThreadPoolExecutor(max_workers=min(len(splits), os.cpu_count() or 2)) as ex:
                parts = list(ex.map(lambda s: self._read_whole(s, cols), splits))
        if not self._columns:  # concat_tables drops the rows of tables without columns
            return pa.Table.from_batches([b for p in parts for b in p.to_batches()], pa.schema([]))
        return pa.concat_tables(parts)

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def take(self, indices: Any) -> pa.Table:
        """The rows at ``indices`` (positions in this scan's row order, as ``to_arrow()``
        returns them), in the order asked.

        Splits whose files do not overlap (e.g. after a full compaction) map positions to
        file rows and decode only the pages holding them; other splits merge only their
        key columns to find the keys at those positions, then look the keys up.
        Out-of-range indices raise ``InvalidArgumentError``.
        """
        from lamina import _lookup

        return self._reading(lambda: _lookup.take(self, indices))

    def count(self) -> int:
        """Number of rows the scan returns."""
        return self._reading(self._count)

    def _count(self) -> int:
        if self._filter is None:
            key_only = Scan(self._ctx, list(self._ts.primary_key[:1]), None, self._snapshot)
            return int(key_only.to_arrow().num_rows)
        return int(self.to_arrow().num_rows)
