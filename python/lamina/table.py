"""Primary-key tables: create/open, upserts and deletes, transactions, snapshots, tags."""

from __future__ import annotations

import datetime
import getpass
import logging
import os
import posixpath
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Union

import pyarrow as pa

from lamina import _core
from lamina import options as opts
from lamina.errors import (
    CommitConflictError,
    CorruptFileError,
    InvalidArgumentError,
    SchemaError,
    StorageError,
    TableExistsError,
    TableNotFoundError,
)
from lamina.io import FileIO, NotDurableError, as_storage_error, storage_errors
from lamina.metadata import Containment
from lamina.schema import KEY_TYPES, TableSchema, check_supported, read_schema, type_to_json
from lamina.snapshot import DataFile, Snapshot, SnapshotStore

SnapshotRef = Union[int, str, datetime.datetime, Snapshot, None]

_log = logging.getLogger("lamina")


def create_table(
    path: str | os.PathLike[str],
    schema: pa.Schema,
    primary_key: Sequence[str],
    partition_by: Sequence[str] | None = None,
    buckets: int = 1,
    merge_engine: opts.MergeEngine = "deduplicate",
    options: Mapping[str, Any] | None = None,
    *,
    file_io: FileIO | None = None,
) -> Table:
    """Creates a primary-key table in the folder ``path``.

    Args:
        path: The table's folder (created; must not hold a table already).
        schema: The columns (pyarrow schema).
        primary_key: One or more integer, string or binary columns.
        partition_by: Key columns whose values name Hive-style partition folders.
        buckets: Rows go to bucket ``hash(key) mod buckets`` within their partition.
        merge_engine: deduplicate, partial_update, aggregate or first_row.
        options: Table options (see ``lamina.options``), e.g.
            ``{"fields.clicks.aggregate": "sum"}``.
        file_io: The file layer the table works through (default: a new
            ``lamina.io.FileIO``); its ``sync`` is set from the ``write.sync`` option.

    Raises:
        TableExistsError: A table already exists at ``path``.
        InvalidArgumentError: A bad schema, key, engine, bucket count or option.
        StorageError: The storage failed; no table was created (unless the error is a
            ``lamina.io.NotDurableError``: then it exists but may not survive a crash).
    """
    root = os.fspath(path)
    if not isinstance(schema, pa.Schema):
        raise InvalidArgumentError("schema must be a pyarrow.Schema")
    check_supported(schema)
    if isinstance(primary_key, str):
        primary_key = [primary_key]
    pk = tuple(primary_key)
    parts = tuple(partition_by or ())
    if not pk:
        raise InvalidArgumentError("primary_key must name at least one column")
    if len(set(pk)) != len(pk):
        raise InvalidArgumentError("primary_key repeats a column")
    for c in pk:
        if c not in schema.names:
            raise InvalidArgumentError(f"primary key column {c!r} is not in the schema")
        t = type_to_json(schema.field(c).type)
        if t not in KEY_TYPES:
            raise InvalidArgumentError(
                f"primary key column {c!r} has type {schema.field(c).type}; keys must be "
                "integers, strings or binary"
            )
    for c in parts:
        if c not in pk:
            raise InvalidArgumentError(f"partition column {c!r} must be part of the primary key")
    if not isinstance(buckets, int) or isinstance(buckets, bool) or not 1 <= buckets <= 1 << 16:
        raise InvalidArgumentError("buckets must be an integer in [1, 65536]")
    if merge_engine not in opts.MERGE_ENGINES:
        raise InvalidArgumentError(
            f"unknown merge_engine {merge_engine!r} (one of {', '.join(opts.MERGE_ENGINES)})"
        )
    options_s = opts.validate(options, merge_engine)
    for col, fn in opts.aggregates(options_s).items():
        if col not in schema.names:
            raise InvalidArgumentError(f"option fields.{col}.aggregate names no column")
        if col in pk:
            raise InvalidArgumentError(f"primary key column {col!r} cannot be aggregated")
        t = schema.field(col).type
        if fn == "collect_list" and not (pa.types.is_list(t) or pa.types.is_large_list(t)):
            raise InvalidArgumentError(f"collect_list needs a list column; {col!r} is {t}")
        if fn == "count" and not pa.types.is_integer(t):
            raise InvalidArgumentError(f"count needs an integer column; {col!r} is {t}")
        if fn in ("bool_and", "bool_or") and not pa.types.is_boolean(t):
            raise InvalidArgumentError(f"{fn} needs a bool column; {col!r} is {t}")
        if fn == "sum" and not (pa.types.is_integer(t) or pa.types.is_floating(t)):
            raise InvalidArgumentError(f"sum needs a numeric column; {col!r} is {t}")
    # Key columns can never be null.
    fields = [f.with_nullable(False) if f.name in pk else f for f in schema]
    schema = pa.schema(fields)
    io = file_io if file_io is not None else FileIO()
    io.sync = opts.get_bool(options_s, "write.sync")
    schema_dir = os.path.join(root, "schema")
    if io.exists(schema_dir) and any(n.endswith(".json") for n in io.listdir(schema_dir)):
        raise TableExistsError(f"a lamina table already exists at {root}")
    ts = TableSchema(
        id=0,
        schema=schema,
        field_ids={f.name: i + 1 for i, f in enumerate(schema)},
        primary_key=pk,
        partition_by=parts,
        buckets=buckets,
        merge_engine=merge_engine,
        options=options_s,
        next_field_id=len(schema) + 1,
    )
    with storage_errors("create_table"):
        for d in ("schema", "snapshot", "manifest", "tag", "data"):
            io.makedirs(os.path.join(root, d))
        # The folders' entries are durable (makedirs); schema-0.json makes it a table.
        if not io.write_new(os.path.join(schema_dir, "schema-0.json"), ts.to_json()):
            raise TableExistsError(f"a lamina table already exists at {root}")
    return Table(root, io)


def open_table(path: str | os.PathLike[str], *, file_io: FileIO | None = None) -> Table:
    """Opens the table in ``path``; TableNotFoundError if there is none.

    ``file_io``: the file layer to work through (default: a new ``lamina.io.FileIO``);
    its ``sync`` is set from the table's ``write.sync`` option.
    """
    root = os.fspath(path)
    io = file_io if file_io is not None else FileIO()
    if not io.exists(os.path.join(root, "schema", "schema-0.json")):
        raise TableNotFoundError(f"no lamina table at {root}")
    ts = _load_schema(root, io, 0)
    io.sync = opts.get_bool(ts.options, "write.sync")
    return Table(root, io)


def _load_schema(root: str, io: FileIO, sid: int) -> TableSchema:
    return read_schema(root, io, sid, Containment(root))


class Table:
    """A lamina primary-key table. Create with ``create_table``, open with ``open_table``."""

    def __init__(self, root: str, io: FileIO) -> None:
        self._root = root
        self._io = io
        self._store = SnapshotStore(root, io)
        self._schemas: dict[int, TableSchema] = {}
        self._user = f"{getpass.getuser()}-{os.getpid()}"
        # Folders under data/ whose own entry in their parent is known to be durable.
        self._durable_dirs: set[str] = set()

    # ---- properties -----------------------------------------------------------------

    def _table_schema(self, schema_id: int | None = None) -> TableSchema:
        if schema_id is None:
            snap = self._store.latest()
            schema_id = snap.schema_id if snap is not None else 0
        if schema_id not in self._schemas:
            self._schemas[schema_id] = _load_schema(self._root, self._io, schema_id)
        return self._schemas[schema_id]

    @property
    def path(self) -> str:
        return self._root

    @property
    def file_io(self) -> FileIO:
        """The file layer this table works through (see ``lamina.io``)."""
        return self._io

    @property
    def schema(self) -> pa.Schema:
        return self._table_schema().schema

    @property
    def primary_key(self) -> list[str]:
        return list(self._table_schema().primary_key)

    @property
    def partition_by(self) -> list[str]:
        return list(self._table_schema().partition_by)

    @property
    def buckets(self) -> int:
        return self._table_schema().buckets

    @property
    def merge_engine(self) -> str:
        return self._table_schema().merge_engine

    @property
    def options(self) -> dict[str, str]:
        return dict(self._table_schema().options)

    def __repr__(self) -> str:
        return f"lamina.Table({self._root!r}, primary_key={self.primary_key})"

    # ---- writes ---------------------------------------------------------------------

    def write(self, data: Any) -> Snapshot:
        """Upserts ``data``; returns the snapshot that committed it.

        Behaves as if the rows were applied one at a time in order: within one write a
        later row with the same key is newer.

        Raises:
            SchemaError: A missing or extra column, a type that cannot be cast safely, or
                a null in a primary-key column. Nothing is written.
            StorageError: The storage failed (errno set). Nothing is committed and the
                table stays at its last snapshot; files left behind are orphans.
                Exception: ``lamina.io.NotDurableError`` means the snapshot was created
                (and is visible) but flushing its folder failed.
        """
        with self.transaction() as tx:
            tx.write(data)
        assert tx.snapshot is not None
        return tx.snapshot

    def delete(self, keys: Any) -> Snapshot:
        """Deletes rows by primary key; ``keys`` holds exactly the key columns."""
        with self.transaction() as tx:
            tx.delete(keys)
        assert tx.snapshot is not None
        return tx.snapshot

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Groups writes and deletes into one snapshot; an exception commits nothing."""
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
            return compact(self, full=full)

    def expire_snapshots(
        self, retain_last: int = 1, older_than: datetime.timedelta | None = None
    ) -> list[int]:
        """Removes all but the newest ``retain_last`` snapshots (only those older than
        ``older_than`` if given), never a tagged one, and deletes the files that only
        they referenced. Returns the expired ids."""
        from lamina.maintenance import expire_snapshots

        with storage_errors("expire_snapshots"):
            return expire_snapshots(self, retain_last, older_than)

    def remove_orphan_files(
        self, older_than: datetime.timedelta = datetime.timedelta(days=1)
    ) -> list[str]:
        """Deletes files that no snapshot or tag references and that are older than
        ``older_than`` (``timedelta(0)``: all of them); returns their paths."""
        from lamina.maintenance import remove_orphan_files

        with storage_errors("remove_orphan_files"):
            return remove_orphan_files(self, older_than)

    # ---- snapshots and tags ---------------------------------------------------------

    def snapshots(self) -> list[Snapshot]:
        return [self._store.load(i) for i in self._store.ids()]

    def current_snapshot(self) -> Snapshot | None:
        return self._store.latest()

    def snapshot(self, ref: SnapshotRef = None) -> Snapshot | None:
        """Resolves a snapshot id, tag name, datetime (as of then) or None (latest)."""
        if ref is None:
            return self._store.latest()
        if isinstance(ref, Snapshot):
            return ref
        if isinstance(ref, bool):
            raise InvalidArgumentError("snapshot must be an id, a tag name or a datetime")
        if isinstance(ref, int):
            try:
                return self._store.load(ref)
            except KeyError:
                raise InvalidArgumentError(f"no snapshot {ref}") from None
        if isinstance(ref, str):
            tags = self._store.tags()
            if ref not in tags:
                raise InvalidArgumentError(f"no tag {ref!r}")
            try:
                return self._store.load(tags[ref])
            except KeyError:
                raise CorruptFileError(
                    f"tag {ref!r} names snapshot {tags[ref]}, which does not exist"
                ) from None
        if isinstance(ref, datetime.datetime):
            if ref.tzinfo is None:
                ref = ref.astimezone()
            ms = int(ref.timestamp() * 1000)
            best = None
            for sid in self._store.ids():
                s = self._store.load(sid)
                if s.timestamp_ms <= ms:
                    best = s
            if best is None:
                raise InvalidArgumentError(f"no snapshot as old as {ref.isoformat()}")
            return best
        raise InvalidArgumentError("snapshot must be an id, a tag name or a datetime")

    def tag(self, name: str, snapshot: SnapshotRef = None) -> Snapshot:
        """Names a snapshot (default: the current one); tagged snapshots are retained."""
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise InvalidArgumentError(f"bad tag name {name!r}")
        snap = self.snapshot(snapshot)
        if snap is None:
            raise InvalidArgumentError("the table has no snapshot to tag")
        import json

        doc = json.dumps({"name": name, "snapshot_id": snap.id}).encode()
        with storage_errors("tag"):
            created = self._io.write_new(self._store.tag_path(name), doc)
        if not created:
            raise InvalidArgumentError(f"tag {name!r} already exists")
        return snap

    def tags(self) -> dict[str, int]:
        """Tag name -> snapshot id."""
        return self._store.tags()

    # ---- reads ----------------------------------------------------------------------

    def scan(
        self,
        columns: Sequence[str] | None = None,
        filter: Any = None,
        snapshot: SnapshotRef = None,
    ) -> Any:
        """A scan of one snapshot (default: the current one); see ``lamina.scan.Scan``."""
        from lamina.scan import Scan

        return Scan(self, columns, filter, self.snapshot(snapshot))

    def read(
        self,
        columns: Sequence[str] | None = None,
        filter: Any = None,
        snapshot: SnapshotRef = None,
    ) -> pa.Table:
        """``scan(columns, filter, snapshot).to_arrow()``."""
        return self.scan(columns, filter, snapshot).to_arrow()

    def lookup(self, keys: Any, columns: Sequence[str] | None = None) -> pa.Table:
        """The current rows for ``keys`` (missing keys are absent).

        Only the buckets the keys hash to are searched, and in them only the files whose
        key range, and then the key pages whose min/max, may hold a key; the C++ core
        decodes those key pages, takes the matching rows and folds their versions with the
        table's merge engine (GIL released, files in parallel).
        """
        from lamina import _lookup

        return _lookup.lookup(self, keys, columns)

    # ---- internals used by Transaction and Scan -------------------------------------

    def _live_files(self, snap: Snapshot | None) -> list[DataFile]:
        return [] if snap is None else self._store.live_files(snap)

    def _sync_dirs(self, rel_dirs: Iterable[str]) -> None:
        """Makes folders under data/ that received new files durable, before a commit.

        Each folder is fsynced (its new entries), and so is the parent of every folder
        this table object has not yet seen: the core creates partition and bucket
        folders as it writes, and their own entries must survive a crash too.
        """
        if not self._io.sync:
            return
        dirs = set(rel_dirs)
        new: set[str] = set()
        for d in dirs:
            while d not in ("", "data") and d not in self._durable_dirs and d not in new:
                new.add(d)
                d = posixpath.dirname(d)
        for d in sorted(dirs | {posixpath.dirname(n) for n in new}, key=len, reverse=True):
            self._io.fsync_dir(os.path.join(self._root, d))
        self._durable_dirs |= new

    def _core_options(self, ts: TableSchema) -> dict[str, Any]:
        return {
            "key_columns": list(ts.primary_key),
            "engine": ts.merge_engine,
            "aggregates": opts.aggregates(ts.options),
            "table_schema": ts.schema.__arrow_c_schema__(),
        }


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if isinstance(data, Mapping):
        try:
            return pa.table(dict(data))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
            raise SchemaError(f"cannot convert keys to a table: {e}") from None
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data).read_all()
    if hasattr(data, "__arrow_c_array__"):
        return pa.Table.from_batches([pa.record_batch(data)])
    try:
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False)
    except ImportError:  # pragma: no cover
        pass
    raise InvalidArgumentError(
        f"cannot write {type(data).__name__}: expected a pyarrow Table, RecordBatch, "
        "RecordBatchReader, pandas DataFrame or an object with __arrow_c_stream__"
    )


def conform(data: pa.Table, schema: pa.Schema, what: str = "data") -> pa.Table:
    """Checks columns against ``schema`` and casts safely; SchemaError names the column."""
    names = set(data.column_names)
    for name in schema.names:
        if name not in names:
            raise SchemaError(f"{what} is missing column {name!r}")
    for name in data.column_names:
        if name not in schema.names:
            raise SchemaError(f"{what} has column {name!r}, which the table does not have")
    if len(names) != len(data.column_names):
        raise SchemaError(f"{what} repeats a column name")
    data = data.select(schema.names)
    cols = []
    for f in schema:
        col = data.column(f.name)
        if not col.type.equals(f.type):
            try:
                col = col.cast(f.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                raise SchemaError(
                    f"column {f.name!r}: cannot cast {col.type} to {f.type} safely ({e})"
                ) from None
        if not f.nullable and col.null_count:
            raise SchemaError(f"primary key column {f.name!r} contains nulls")
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=schema)


class Transaction:
    """Writes and deletes staged for one commit; see ``Table.transaction``."""

    def __init__(self, table: Table) -> None:
        self._t = table
        self._ts = table._table_schema()
        self._files: list[DataFile] = []
        self._rows = {"written": 0, "deleted": 0}
        self._calls = 0
        self.snapshot: Snapshot | None = None
        self._done = False

    def _check_open(self) -> None:
        if self._done:
            raise InvalidArgumentError("the transaction is already finished")

    def _write_files(self, table: pa.Table, kind: int) -> None:
        ts = self._ts
        options = self._t._core_options(ts)
        options.update(
            {
                "partition_columns": list(ts.partition_by),
                "buckets": ts.buckets,
                "kind": kind,
                "directory": self._t._root,
                "file_prefix": uuid.uuid4().hex,
                "target_file_size": opts.get_int(ts.options, "target_file_size"),
                "sync": self._t._io.sync,
            }
        )
        with storage_errors("write"):
            metas = _core.table_write(table.__arrow_c_stream__(), options)
        self._calls += 1  # the files of one call are one sorted run per bucket
        for m in metas:
            self._files.append(
                DataFile(
                    path=m["path"],
                    partition=tuple((c, m["partition"][c]) for c in ts.partition_by),
                    bucket=int(m["bucket"]),
                    file_size=int(m["file_size"]),
                    row_count=int(m["row_count"]),
                    delete_count=int(m["delete_count"]),
                    min_key=bytes(m["min_key"]),
                    max_key=bytes(m["max_key"]),
                    schema_id=ts.id,
                    run=self._calls,
                )
            )

    def write(self, data: Any) -> None:
        """Stages an upsert of ``data`` (see ``Table.write``)."""
        self._check_open()
        table = conform(_as_table(data), self._ts.schema)
        if table.num_rows:
            self._write_files(table, 0)
            self._rows["written"] += table.num_rows

    def delete(self, keys: Any) -> None:
        """Stages deletes of the rows with these primary keys."""
        self._check_open()
        ts = self._ts
        key_schema = pa.schema([ts.schema.field(c) for c in ts.primary_key])
        table = conform(_as_table(keys), key_schema, what="keys")
        if table.num_rows:
            self._write_files(table, 1)
            self._rows["deleted"] += table.num_rows

    def _abort(self) -> None:
        self._done = True
        files, self._files = self._files, []
        for f in files:
            try:
                self._t._io.remove(os.path.join(self._t._root, f.path))
            except OSError:
                pass  # left as an orphan: never hide the error that aborted

    def _commit(self) -> None:
        self._check_open()
        self._done = True
        kind = "delete" if self._rows["deleted"] and not self._rows["written"] else "append"
        try:
            self._t._sync_dirs(posixpath.dirname(f.path) for f in self._files)
            self.snapshot = self._t._store.commit(
                kind=kind,
                schema_id=self._ts.id,
                adds=self._files,
                commit_user=self._t._user,
                summary={
                    "rows_written": self._rows["written"],
                    "rows_deleted": self._rows["deleted"],
                    "files_added": len(self._files),
                },
                max_retries=opts.get_int(self._ts.options, "commit.max_retries"),
                merge_min_count=opts.get_int(self._ts.options, "manifest.merge_min_count"),
            )
        except NotDurableError:
            # The snapshot file exists, so the commit is visible: keep its files.
            self._files = []
            raise
        except OSError as e:
            self._abort()
            if isinstance(e, StorageError):
                raise
            raise as_storage_error(e, "commit") from e
        except BaseException:
            self._abort()
            raise
        from lamina.compaction import needs_inline_compaction

        # Reads must not degrade without bound: compact before returning. The write is
        # already committed, so a compaction that loses a race or hits a storage error
        # must not fail it (a caller would retry a write that happened).
        try:
            if opts.get_bool(
                self._ts.options, "compaction.after_commit"
            ) or needs_inline_compaction(self._t, self.snapshot):
                self._t.compact()
        except (CommitConflictError, OSError) as e:
            _log.warning("compaction after commit %d failed: %s", self.snapshot.id, e)
