"""Planning and reading a scan: snapshot -> splits (one per bucket) -> merged batches."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from lamina import _core
from lamina._arrow import batch_from_capsules
from lamina.errors import CorruptFileError, InvalidArgumentError
from lamina.format import check_version
from lamina.snapshot import DataFile, Snapshot, files_by_bucket

if TYPE_CHECKING:
    from lamina.table import Table


@dataclass(frozen=True)
class Split:
    """Self-contained, picklable unit of reading: the sorted runs of one bucket."""

    table_path: str
    partition: tuple[tuple[str, Any], ...]
    bucket: int
    files: tuple[tuple[str, int], ...]  # (path relative to the table, priority), oldest first
    min_key: bytes
    max_key: bytes
    needs_merge: bool
    estimated_rows: int


def _partition_matches(expr: Any, partition: tuple[tuple[str, Any], ...]) -> bool:
    """False only when ``expr`` provably rejects every row of the partition."""
    if expr is None or not partition:
        return True
    probe = pa.table({k: [v] for k, v in partition})
    try:
        return bool(probe.filter(expr).num_rows > 0)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError):
        return True  # the filter needs other columns: cannot prune


def _decode_key(typ: pa.DataType, b: bytes) -> Any:
    """Inverts the normalized-key encoding (docs/tables.md) for a one-column key."""
    if pa.types.is_integer(typ):
        u = int.from_bytes(b[:8], "big")
        if pa.types.is_signed_integer(typ):
            u ^= 1 << 63
            return u - (1 << 64) if u >= 1 << 63 else u
        return u
    out = bytearray()
    i = 0
    while i + 1 < len(b) and not (b[i] == 0 and b[i + 1] == 0):
        out.append(b[i])
        i += 2 if b[i] == 0 else 1
    raw = bytes(out)
    return (
        raw.decode("utf-8", "replace")
        if pa.types.is_string(typ) or pa.types.is_large_string(typ)
        else raw
    )


def _prune_by_key_range(
    files: list[DataFile], filter: Any, key: str, typ: pa.DataType, schema: pa.Schema
) -> list[DataFile]:
    """Drops files whose key range cannot satisfy ``filter`` (Arrow decides by
    simplifying the filter under each file's guarantee ``min <= key <= max``)."""
    import pyarrow.dataset as pds
    from pyarrow import fs as pafs

    guarantees = [
        (pc.field(key) >= pa.scalar(_decode_key(typ, f.min_key), typ))
        & (pc.field(key) <= pa.scalar(_decode_key(typ, f.max_key), typ))
        for f in files
    ]
    names = [f"{i}" for i in range(len(files))]  # never opened: only expressions are used
    dataset = pds.FileSystemDataset.from_paths(
        names, schema=schema, format=pds.ParquetFileFormat(),
        filesystem=pafs.LocalFileSystem(), partitions=guarantees,
    )  # fmt: skip
    kept = {int(os.path.basename(fr.path)) for fr in dataset.get_fragments(filter=filter)}
    return [f for i, f in enumerate(files) if i in kept]


class Scan:
    """A read of one snapshot. Build it with ``Table.scan``."""

    def __init__(
        self,
        table: Table,
        columns: Sequence[str] | None,
        filter: Any,
        snapshot: Snapshot | None,
    ) -> None:
        self._table = table
        self._snapshot = snapshot
        self._ts = table._table_schema(snapshot.schema_id if snapshot else None)
        names = self._ts.schema.names
        if columns is not None:
            if isinstance(columns, str):
                raise InvalidArgumentError("columns must be a list of names, not a string")
            for c in columns:
                if c not in names:
                    raise InvalidArgumentError(f"no column named {c!r}")
        self._columns = list(columns) if columns is not None else list(names)
        if filter is not None and not isinstance(filter, pa.compute.Expression):
            raise InvalidArgumentError("filter must be a pyarrow.compute.Expression")
        self._filter = filter
        # Set by Table.lookup: keep only files that may hold the wanted keys.
        self._file_filter: Callable[[DataFile], bool] | None = None

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def plan(self) -> list[Split]:
        """The splits to read: one per (partition, bucket) left after pruning."""
        files = self._table._live_files(self._snapshot)
        if self._file_filter is not None:
            files = [f for f in files if self._file_filter(f)]
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
            if not _partition_matches(self._filter, partition):
                continue
            splits.append(
                Split(
                    table_path=self._table.path,
                    partition=partition,
                    bucket=bucket,
                    files=tuple((f.path, f.priority) for f in fs),
                    min_key=min(f.min_key for f in fs),
                    max_key=max(f.max_key for f in fs),
                    needs_merge=len(fs) > 1 or any(f.delete_count for f in fs),
                    estimated_rows=sum(f.row_count - f.delete_count for f in fs),
                )
            )
        return splits

    def _read_columns(self) -> list[str]:
        cols = list(self._columns)
        if self._filter is not None:
            # Columns the filter needs but the caller did not ask for are read, then dropped.
            for name in self._ts.schema.names:
                if name not in cols and name in str(self._filter):
                    cols.append(name)
        return cols

    def _read_split(self, split: Split, cols: list[str]) -> pa.Table:
        files = [(os.path.join(split.table_path, p), prio) for p, prio in split.files]
        try:
            capsules = _core.table_merge_read(files, cols, self._table._core_options(self._ts))
        except CorruptFileError:
            for path, _ in files:  # a file of a newer format: say so, not "corrupt"
                check_version(path)
            raise
        batch = batch_from_capsules(capsules)
        table = pa.Table.from_batches([batch])
        if self._filter is not None:
            table = table.filter(self._filter)
        return table.select(self._columns)

    def _empty(self) -> pa.Table:
        return self._ts.schema.empty_table().select(self._columns)

    def to_batches(self) -> Iterator[pa.RecordBatch]:
        """Merged record batches, one split at a time (memory bounded by one bucket)."""
        cols = self._read_columns()
        for split in self.plan():
            yield from self._read_split(split, cols).to_batches()

    def to_arrow(self) -> pa.Table:
        """The whole snapshot (after projection and filter) as one pyarrow Table."""
        splits = self.plan()
        if not splits:
            return self._empty()
        cols = self._read_columns()
        if len(splits) == 1:
            parts = [self._read_split(splits[0], cols)]
        else:
            # The core releases the GIL, so splits decode and merge in parallel.
            with ThreadPoolExecutor(max_workers=min(len(splits), os.cpu_count() or 2)) as ex:
                parts = list(ex.map(lambda s: self._read_split(s, cols), splits))
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

        return _lookup.take(self, indices)

    def count(self) -> int:
        """Number of rows the scan returns."""
        if self._filter is None:
            key_only = Scan(self._table, list(self._ts.primary_key[:1]), None, self._snapshot)
            return int(key_only.to_arrow().num_rows)
        return int(self.to_arrow().num_rows)
