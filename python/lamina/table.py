"""The Table class: a primary-key table's friendly API over its ``TableContext``.

Creating and opening tables lives in ``lamina.create``, transactions in
``lamina.transaction``, the conversion of written data in ``lamina._input``; their public
names are importable from here too.
"""

from __future__ import annotations

import datetime
import getpass
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Union

import pyarrow as pa

from lamina._context import TableContext, core_options
from lamina._input import MAX_PARTITION_COMPONENT_BYTES as MAX_PARTITION_COMPONENT_BYTES
from lamina._input import _as_table as _as_table
from lamina._input import check_partition_values as check_partition_values
from lamina._input import conform as conform
from lamina.create import create_table as create_table
from lamina.create import open_context as open_context
from lamina.create import open_table as open_table
from lamina.errors import (
    CorruptFileError,
    InvalidArgumentError,
    SchemaError,
    SnapshotExpiredError,
)
from lamina.evolution import SchemaUpdate
from lamina.io import FileIO, storage_errors
from lamina.metadata import brief
from lamina.schema import TableSchema
from lamina.snapshot import TAG_FORMAT_VERSION, DataFile, Snapshot, SnapshotStore
from lamina.transaction import Transaction as Transaction

if TYPE_CHECKING:
    from lamina.stream import ChangeStream

SnapshotRef = Union[int, str, datetime.datetime, Snapshot, None]

# A tag is the file tag/<name>.json, whose name must fit a folder entry (255 bytes).
MAX_TAG_NAME_BYTES = 200


class Table:
    """A lamina primary-key table. Create with ``create_table``, open with ``open_table``."""

    def __init__(self, root: str, io: FileIO) -> None:
        # Everything the helper modules use; the Table adds the friendly API.
        self._ctx = TableContext(root, io, f"{getpass.getuser()}-{os.getpid()}")

    # ---- internals, for the tests and tools that inspect a table --------------------

    @property
    def _root(self) -> str:
        return self._ctx.root

    @property
    def _io(self) -> FileIO:
        return self._ctx.io

    @property
    def _store(self) -> SnapshotStore:
        return self._ctx.store

    def _table_schema(self, schema_id: int | None = None) -> TableSchema:
        return self._ctx.table_schema(schema_id)

    def _live_files(self, snap: Snapshot | None) -> list[DataFile]:
        return self._ctx.live_files(snap)

    def _core_options(self, ts: TableSchema) -> dict[str, Any]:
        return core_options(ts)

    # ---- properties -----------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._ctx.root

    @property
    def file_io(self) -> FileIO:
        """The file layer this table works through (see ``lamina.io``)."""
        return self._ctx.io

    @property
    def schema(self) -> pa.Schema:
        return self._ctx.table_schema().schema

    @property
    def primary_key(self) -> list[str]:
        return list(self._ctx.table_schema().primary_key)

    @property
    def partition_by(self) -> list[str]:
        return list(self._ctx.table_schema().partition_by)

    @property
    def buckets(self) -> int:
        return self._ctx.table_schema().buckets

    @property
    def merge_engine(self) -> str:
        return self._ctx.table_schema().merge_engine

    @property
    def options(self) -> dict[str, str]:
        return dict(self._ctx.table_schema().options)

    def __repr__(self) -> str:
        return f"lamina.Table({self._ctx.root!r}, primary_key={self.primary_key})"

    # ---- writes ---------------------------------------------------------------------

    def write(self, data: Any, schema_mode: str = "strict") -> Snapshot | None:
        """Upserts ``data``; returns the snapshot that committed it.

        ``schema_mode="merge"``: columns of ``data`` the table lacks are first added to
        the schema (nullable, their type; one ``schema`` snapshot before the write's
        own), as ``update_schema().add_column`` would.

        Behaves as if the rows were applied one at a time in order: within one write a
        later row with the same key is newer. Writing no rows commits nothing and returns
        the current snapshot (None for a table without one).

        Columns are matched by name; a column whose type differs from the table's is
        converted only by a lossless widening (int32 to int64, float32 to float64,
        string to large_string, a dictionary to its values, ...: docs/tables.md).

        Raises:
            SchemaError: A missing or extra column, a type that is not a lossless
                widening of the column's, or a null in a non-nullable column. Nothing is
                written.
            InvalidArgumentError: Not tabular data, or a partition value too long for a
                folder name.
            StorageError: The storage failed (errno set). Nothing is committed and the
                table stays at its last snapshot; files left behind are orphans.
                Exception: ``lamina.io.NotDurableError`` means the snapshot was created
                (and is visible) but flushing its folder failed.
        """
        if schema_mode not in ("strict", "merge"):
            raise InvalidArgumentError("schema_mode must be 'strict' or 'merge'")
        if schema_mode == "merge":
            data = _as_table(data, self.schema)
            known = set(self.schema.names)
            new = [f for f in data.schema if f.name not in known]
            if new:
                with self.update_schema() as u:
                    for f in new:
                        typ = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
                        if pa.types.is_null(typ):
                            raise SchemaError(
                                f"column {f.name!r} holds only nulls: its type is unknown; "
                                "add it with update_schema().add_column"
                            )
                        u.add_column(f.name, typ)
        with self.transaction() as tx:
            tx.write(data)
        return tx.snapshot

    # ---- schema -----------------------------------------------------------------------

    def update_schema(self) -> SchemaUpdate:
        """Starts a schema change: ``add_column``, ``drop_column``, ``rename_column``,
        ``make_nullable``, ``move_column``, then ``commit()`` (or use it as a context
        manager). One snapshot of kind ``schema``; data is never rewritten (columns are
        matched by field id). See ``lamina.evolution`` and docs/tables.md."""
        return SchemaUpdate(self._ctx)

    def changes(
        self,
        start: SnapshotRef,
        end: SnapshotRef = None,
        columns: Sequence[str] | None = None,
        filter: Any = None,
        per_snapshot: bool = False,
    ) -> pa.Table:
        """The changes of the merged table in snapshots (start, end] (end None: latest).

        One row per changed key: its columns (the key first; ``columns`` picks the rest),
        ``_row_kind`` (``+I`` insert, ``-U``/``+U`` the images before and after an update,
        ``-D`` delete) and ``_snapshot_id`` (the last snapshot in the range that changed the
        key), sorted by key then kind. A key written several times in the range appears
        once, its state at ``start`` against its state at ``end``; ``per_snapshot=True``
        gives one entry per snapshot instead. Images are rows of the merged table (every
        engine), read in the schema of ``end``; an update that changed nothing, a delete of
        an absent key and compaction or schema snapshots contribute nothing. ``filter`` (a
        pyarrow expression) applies to each image row. ``start``/``end`` take an id, a tag
        or a datetime; ``start=0``: from the empty table before the first snapshot.

        With the table option ``changelog.producer=lookup`` each commit writes its
        changes, and this reads them; otherwise they are computed by two lookups of the
        touched keys (docs/tables.md, "Changes").

        Raises:
            SnapshotExpiredError: A snapshot in the range was expired.
            InvalidArgumentError: ``end`` is before ``start``, or a bad reference.
        """
        from lamina.changes import changes_between

        if start is None:
            raise InvalidArgumentError("start must be a snapshot id, a tag, a datetime or 0")
        from_empty = isinstance(start, int) and not isinstance(start, bool) and start == 0
        a = None if from_empty else self.snapshot(start)
        b = self.snapshot(end)
        if b is None:  # a table without snapshots has no changes
            return changes_between(self._ctx, None, None, columns, filter, per_snapshot)
        return changes_between(self._ctx, a, b, columns, filter, per_snapshot)

    def stream(
        self,
        start: Any = "latest",
        consumer_id: str | None = None,
        poll_interval: float = 1.0,
        full: bool = False,
        timeout: float | None = None,
        end: SnapshotRef = None,
        columns: Sequence[str] | None = None,
        filter: Any = None,
    ) -> ChangeStream:
        """A blocking iterator of change batches: one pyarrow Table per write snapshot
        after ``start`` (the rows ``changes(n - 1, n)`` gives), waiting for new commits.

        Args:
            start: ``"latest"`` (changes after the current snapshot), ``"earliest"``
                (every change since the table was created; if its first snapshots were
                expired, the oldest one's rows as ``+I`` first), ``0``, or a snapshot
                id, tag or datetime (changes after it).
            consumer_id: Persist the position under this id after each acknowledged
                batch; an existing consumer resumes where it stopped (``start`` and
                ``full`` then do not apply), and protects the snapshots it still needs
                from ``expire_snapshots``.
            poll_interval: Seconds between looks for new snapshots.
            full: Yield the start snapshot's rows as ``+I`` batches first.
            timeout: Stop (end the iteration) after waiting this many seconds for the
                next batch; None waits forever, 0 only drains what is committed.
            end: Stop after this snapshot (id, tag or datetime).
            columns, filter: As for ``changes``.

        A batch is acknowledged by ``stream.commit()`` or when the next one is asked for
        (at-least-once); ``stream.close()`` ends it from any thread. See
        ``lamina.stream`` for exactly-once consumption.
        """
        from lamina.stream import ChangeStream

        return ChangeStream(
            self, start, consumer_id, poll_interval, full, timeout, end, columns, filter
        )

    def consumers(self) -> dict[str, int]:
        """Consumer id -> the last snapshot whose changes it acknowledged (0: none)."""
        from lamina import consumer

        with storage_errors("consumers"):
            return {c.id: c.snapshot_id for c in consumer.list_consumers(self._ctx).values()}

    def reset_consumer(self, consumer_id: str, snapshot: SnapshotRef) -> None:
        """Sets (or creates) a consumer's position: its next batch holds the changes after
        ``snapshot`` (an id, tag or datetime; 0: from the empty table)."""
        from lamina import consumer

        consumer.check_id(consumer_id)
        if isinstance(snapshot, int) and not isinstance(snapshot, bool) and snapshot == 0:
            sid = 0
        else:
            if snapshot is None:
                raise InvalidArgumentError("snapshot must be an id, a tag, a datetime or 0")
            snap = self.snapshot(snapshot)
            if snap is None:
                raise InvalidArgumentError(f"{snapshot!r} refers to no snapshot")
            sid = snap.id
        with storage_errors("reset_consumer"):
            consumer.save(self._ctx, consumer_id, sid)

    def remove_consumer(self, consumer_id: str) -> None:
        """Removes a consumer (it stops protecting snapshots). InvalidArgumentError if
        there is none."""
        from lamina import consumer

        with storage_errors("remove_consumer"):
            if not consumer.remove(self._ctx, consumer_id):
                raise InvalidArgumentError(f"no consumer {consumer_id!r}")

    def schema_history(self) -> list[tuple[int, pa.Schema]]:
        """(schema id, schema) of every schema the retained snapshots use, oldest first
        (schema 0, the one the table was created with, always)."""
        ids = {0} | {s.schema_id for s in self.snapshots()}
        return [(i, self._ctx.table_schema(i).schema) for i in sorted(ids)]

    def delete(self, keys: Any) -> Snapshot | None:
        """Deletes rows by primary key; ``keys`` holds exactly the key columns.

        Returns the snapshot that committed the deletes; no keys commit nothing and
        return the current snapshot (None for a table without one).
        """
        with self.transaction() as tx:
            tx.delete(keys)
        return tx.snapshot

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Groups writes and deletes into one snapshot; an exception commits nothing.

        ``tx.snapshot`` is the committed snapshot afterwards; a transaction that wrote no
        rows commits nothing and leaves the current snapshot there.
        """
        tx = Transaction(self)
        try:
            yield tx
        except BaseException:
            tx._abort()
            raise
        tx._commit()

    # ---- maintenance ----------------------------------------------------------------

    def compact(self, full: bool = False) -> Snapshot | None:
        """Compacts buckets by the universal policy (``full=True``: everything).

        Returns the ``compact`` snapshot, whose ``summary`` holds the metrics (files, rows
        and bytes in and out, rows purged = rows in - rows out, of which
        deleted_rows_purged were deleted rows or delete markers, seconds), or None when
        there was nothing to do or another commit removed this compaction's inputs first
        (then it leaves no trace). Full compaction drops deleted rows physically.
        """
        from lamina.compaction import compact

        with storage_errors("compact"):
            return compact(self._ctx, full=full)

    def expire_snapshots(
        self, retain_last: int = 1, older_than: datetime.timedelta | None = None
    ) -> list[int]:
        """Removes all but the newest ``retain_last`` snapshots (only those older than
        ``older_than`` if given), never a tagged one, and deletes the files that only
        they referenced. Returns the expired ids."""
        from lamina.maintenance import expire_snapshots

        with storage_errors("expire_snapshots"):
            return expire_snapshots(self._ctx, retain_last, older_than)

    def remove_orphan_files(
        self, older_than: datetime.timedelta = datetime.timedelta(days=1)
    ) -> list[str]:
        """Deletes the files no snapshot references, last modified more than
        ``older_than`` ago; returns their paths (relative to the table folder).

        Candidates are data files and manifests that no snapshot (hence no tag)
        references, and leftovers of interrupted atomic writes (``.tmp-*`` in
        ``snapshot/``, ``tag/``, ``schema/``). Whatever ``older_than`` is, these are never
        deleted:

        - files a commit, compaction or transaction in flight has announced (under
          ``_inflight/``; markers of a process that died count for nothing and are
          removed). A commit links its snapshot only after checking its new files still
          exist, waiting out any removal in progress: no interleaving can leave a
          snapshot naming a deleted file;
        - temporary files of an atomic write in progress.

        ``older_than`` protects what no announcement covers: files written by an older
        lamina or another tool, or whose announcement aged out (file systems without
        ``flock``, after a day); it also decides how soon leftovers of failed or killed
        operations go. A write whose unannounced files were deleted fails with
        ``StorageError`` (ENOENT) and commits nothing. Beside live writers keep the
        default (a day), or at least the longest a write or transaction may run;
        ``timedelta(0)`` (every orphan, now) is for a table no other process is writing
        to, e.g. after a crash (see ``docs/reliability.md``).
        """
        from lamina.maintenance import remove_orphan_files

        with storage_errors("remove_orphan_files"):
            return remove_orphan_files(self._ctx, older_than)

    # ---- snapshots and tags ---------------------------------------------------------

    def snapshots(self) -> list[Snapshot]:
        return [self._ctx.store.load(i) for i in self._ctx.store.ids()]

    def current_snapshot(self) -> Snapshot | None:
        return self._ctx.store.latest()

    def snapshot(self, ref: SnapshotRef = None) -> Snapshot | None:
        """Resolves a snapshot id, tag name, datetime (as of then) or None (latest)."""
        if ref is None:
            return self._ctx.store.latest()
        if isinstance(ref, Snapshot):
            return ref
        if isinstance(ref, bool):
            raise InvalidArgumentError("snapshot must be an id, a tag name or a datetime")
        if isinstance(ref, int):
            try:
                return self._ctx.store.load(ref)
            except KeyError:
                latest = self._ctx.store.latest_id()
                if latest is not None and 1 <= ref < latest:  # ids are dense
                    raise SnapshotExpiredError(
                        f"snapshot {ref} was expired (expire_snapshots); tag snapshots "
                        "that must stay readable"
                    ) from None
                raise InvalidArgumentError(f"no snapshot {ref}") from None
        if isinstance(ref, str):
            tags = self._ctx.store.tags()
            if ref not in tags:
                raise InvalidArgumentError(f"no tag {ref!r}")
            try:
                return self._ctx.store.load(tags[ref])
            except KeyError:
                raise CorruptFileError(
                    f"tag {ref!r} names snapshot {tags[ref]}, which does not exist"
                ) from None
        if isinstance(ref, datetime.datetime):
            if ref.tzinfo is None:
                ref = ref.astimezone()
            return self._snapshot_as_of(ref)
        raise InvalidArgumentError("snapshot must be an id, a tag name or a datetime")

    def _snapshot_as_of(self, when: datetime.datetime) -> Snapshot:
        """The snapshot that was current at ``when``.

        Snapshot ids are dense, so a gap in the ids present means expired snapshots. If
        the snapshot current at ``when`` may be one of them, raise: answering with an
        older retained (say, tagged) snapshot would return stale data as if current.
        """
        ms = int(when.timestamp() * 1000)
        best: Snapshot | None = None
        next_id: int | None = None  # the first retained snapshot after ``when``
        for sid in self._ctx.store.ids():
            s = self._ctx.store.load(sid)
            if s.timestamp_ms > ms:
                next_id = sid
                break
            best = s
        prev_id = 0 if best is None else best.id
        # Expired snapshots between them were committed at or after best (timestamps
        # grow with ids): one of them was current at ``when`` unless ``when`` is best's
        # own millisecond.
        at_best = best is not None and best.timestamp_ms == ms
        if next_id is not None and next_id != prev_id + 1 and not at_best:
            raise SnapshotExpiredError(
                f"the snapshot current at {when.isoformat()} was expired (snapshots "
                f"{prev_id + 1}..{next_id - 1} no longer exist); the oldest retained "
                f"snapshot after it is {next_id}"
            )
        if best is None:
            raise InvalidArgumentError(f"no snapshot as old as {when.isoformat()}")
        return best

    def tag(self, name: str, snapshot: SnapshotRef = None) -> Snapshot:
        """Names a snapshot (default: the current one); tagged snapshots are retained."""
        if (
            not isinstance(name, str)
            or not name
            or name.startswith(".")
            or "/" in name
            or "\\" in name
            or not name.isprintable()  # NUL, newlines and other control characters
            or len(name.encode("utf-8", "surrogatepass")) > MAX_TAG_NAME_BYTES
        ):
            raise InvalidArgumentError(
                f"bad tag name {brief(name)}: a tag name is 1 to {MAX_TAG_NAME_BYTES} bytes of "
                "printable characters, without '/' or '\\', not starting with '.'"
            )
        snap = self.snapshot(snapshot)
        if snap is None:
            raise InvalidArgumentError("the table has no snapshot to tag")
        import json

        doc = json.dumps(
            {"format_version": TAG_FORMAT_VERSION, "name": name, "snapshot_id": snap.id}
        ).encode()
        with storage_errors("tag"):
            created = self._ctx.io.write_new(self._ctx.store.tag_path(name), doc)
        if not created:
            raise InvalidArgumentError(f"tag {name!r} already exists")
        return snap

    def tags(self) -> dict[str, int]:
        """Tag name -> snapshot id."""
        return self._ctx.store.tags()

    # ---- reads ----------------------------------------------------------------------

    def scan(
        self,
        columns: Sequence[str] | None = None,
        filter: Any = None,
        snapshot: SnapshotRef = None,
    ) -> Any:
        """A scan of one snapshot (default: the current one); see ``lamina.scan.Scan``."""
        from lamina.scan import Scan

        return Scan(
            self._ctx, columns, filter, self.snapshot(snapshot), follow_latest=snapshot is None
        )

    def read(
        self,
        columns: Sequence[str] | None = None,
        filter: Any = None,
        snapshot: SnapshotRef = None,
    ) -> pa.Table:
        """``scan(columns, filter, snapshot).to_arrow()``."""
        return self.scan(columns, filter, snapshot).to_arrow()

    def lookup(self, keys: Any, columns: Sequence[str] | None = None) -> pa.Table:
        """The current rows for ``keys``, in the order of the requested keys.

        Missing (and deleted) keys are absent; a key requested more than once appears
        once, at its first position. So ``lookup(keys)`` lines up with ``keys`` when every
        key is present and distinct.

        Only the buckets the keys hash to are searched, and in them only the files whose
        key range, and then the key pages whose min/max, may hold a key; the C++ core
        decodes those key pages, takes the matching rows, folds their versions with the
        table's merge engine and puts them in request order (GIL released, files in
        parallel).
        """
        from lamina import _lookup

        return _lookup.lookup(self._ctx, keys, columns)
