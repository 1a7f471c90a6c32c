"""Primary-key tables: create/open, upserts and deletes, transactions, snapshots, tags."""

from __future__ import annotations

import datetime
import getpass
import logging
import os
import posixpath
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Union
from urllib.parse import quote

import numpy as np
import pyarrow as pa

from lamina import _core, _inflight
from lamina import options as opts
from lamina._context import TableContext, core_options
from lamina.errors import (
    CommitConflictError,
    CorruptFileError,
    InvalidArgumentError,
    SchemaError,
    SnapshotExpiredError,
    StorageError,
    TableExistsError,
    TableNotFoundError,
)
from lamina.io import FileIO, NotDurableError, as_storage_error, storage_errors
from lamina.metadata import Containment, brief
from lamina.schema import (
    KEY_TYPES,
    TableSchema,
    check_supported,
    read_schema,
    type_to_json,
    widens_losslessly,
)
from lamina.snapshot import TAG_FORMAT_VERSION, DataFile, Snapshot, SnapshotStore

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
    if len(set(parts)) != len(parts):
        raise InvalidArgumentError("partition_by repeats a column")
    for c in parts:
        if c not in pk:
            raise InvalidArgumentError(f"partition column {c!r} must be part of the primary key")
        t = schema.field(c).type
        if not (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)):
            # Binary values have no folder name or JSON text that reads back as bytes.
            raise InvalidArgumentError(
                f"partition column {c!r} has type {t}; partition columns must be integers "
                "or strings"
            )
    if not isinstance(buckets, int) or isinstance(buckets, bool) or not 1 <= buckets <= 1 << 16:
        raise InvalidArgumentError("buckets must be an integer in [1, 65536]")
    if merge_engine not in opts.MERGE_ENGINES:
        raise InvalidArgumentError(
            f"unknown merge_engine {merge_engine!r} (one of {', '.join(opts.MERGE_ENGINES)})"
        )
    options_s = opts.validate(options, merge_engine)
    aggregates = opts.aggregates(options_s)
    for col in aggregates:
        if col not in schema.names:
            raise InvalidArgumentError(f"option fields.{col}.aggregate names no column")
        if col in pk:
            raise InvalidArgumentError(f"primary key column {col!r} cannot be aggregated")
    # Which function fits which type is the core's one rule (merge::CheckAggregate).
    _core.check_aggregates(schema.__arrow_c_schema__(), aggregates)
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
    ts = read_schema(root, io, 0, Containment(root))
    io.sync = opts.get_bool(ts.options, "write.sync")
    return Table(root, io)


def open_context(path: str | os.PathLike[str]) -> TableContext:
    """What the helper modules need of the table in ``path`` (``open_table``'s checks);
    a split read in another process starts from here."""
    return open_table(path)._ctx


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

    def write(self, data: Any) -> Snapshot | None:
        """Upserts ``data``; returns the snapshot that committed it.

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
        with self.transaction() as tx:
            tx.write(data)
        return tx.snapshot

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


def _as_table(data: Any, schema: pa.Schema | None = None) -> pa.Table:
    """``data`` as a pyarrow Table; InvalidArgumentError/SchemaError for what is not.

    ``schema`` (the table's) types plain Python values in a mapping: see ``_from_mapping``.
    """
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if isinstance(data, Mapping):
        return _from_mapping(data, schema)
    # Before the Arrow protocols: pandas >= 3 DataFrames implement __arrow_c_stream__,
    # which would turn an index into a column named __index_level_0__.
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return _from_pandas(data)
    if isinstance(data, (pa.Array, pa.ChunkedArray)):
        if not pa.types.is_struct(data.type):
            raise InvalidArgumentError(
                f"cannot write a pyarrow array of type {data.type}: pass a Table, a "
                "RecordBatch or a struct array whose fields are the columns"
            )
        chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
        return pa.Table.from_batches(
            [pa.RecordBatch.from_struct_array(c) for c in chunks],
            schema=pa.schema(list(data.type)),
        )
    try:
        if hasattr(data, "__arrow_c_stream__"):
            return pa.RecordBatchReader.from_stream(data).read_all()
        if hasattr(data, "__arrow_c_array__"):
            return pa.Table.from_batches([pa.record_batch(data)])
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise InvalidArgumentError(
            f"cannot read {type(data).__name__} as a table of columns: {e}"
        ) from None
    raise InvalidArgumentError(
        f"cannot write {type(data).__name__}: expected a pyarrow Table, RecordBatch, "
        "RecordBatchReader, pandas DataFrame or an object with __arrow_c_stream__"
    )


def _from_mapping(data: Mapping[str, Any], schema: pa.Schema | None) -> pa.Table:
    """A table from ``{column: values}``.

    Arrow and numpy arrays keep their types. Plain Python values have no type of their
    own: Arrow infers int64 for ints and float64 for floats, so those are converted to
    the column's integer or float type here, with a check that every value fits
    (``{"id": [7]}`` for an int32 key works; 2**40 into int32 raises SchemaError). Other
    type differences are left to ``conform``.
    """
    cols: dict[str, Any] = {}
    for name, values in data.items():
        try:
            arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
            raise SchemaError(f"cannot convert column {name!r} to Arrow: {e}") from None
        plain = not isinstance(values, (pa.Array, pa.ChunkedArray, np.ndarray))
        if plain and schema is not None and name in schema.names:
            t = schema.field(name).type
            if (arr.type == pa.int64() and (pa.types.is_integer(t) or pa.types.is_floating(t))) or (
                arr.type == pa.float64() and pa.types.is_floating(t)
            ):
                try:
                    arr = arr.cast(t, safe=not pa.types.is_floating(arr.type))
                except pa.ArrowInvalid as e:
                    raise SchemaError(f"column {name!r}: a value does not fit {t}: {e}") from None
        cols[name] = arr
    try:
        return pa.table(cols)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise SchemaError(f"cannot make a table of the columns given: {e}") from None


def _from_pandas(df: Any) -> pa.Table:
    """A DataFrame's columns; named index levels are columns too, an unnamed index
    (a row number, say) is not data and is dropped."""
    named = [n for n in df.index.names if n is not None]
    if named:
        df = df.reset_index(level=named)
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise SchemaError(f"cannot convert the DataFrame to Arrow: {e}") from None


def conform(
    data: pa.Table, schema: pa.Schema, what: str = "data", primary_key: Sequence[str] = ()
) -> pa.Table:
    """``data`` with exactly the columns of ``schema``, in its order and types.

    Converts a column only by a lossless widening (``lamina.schema.widens_losslessly``:
    int32 to int64, float32 to float64, string to large_string, ...); any other type
    difference, a missing or extra column, or a null in a non-nullable column raises
    SchemaError naming the column.
    """
    names = set(data.column_names)
    if len(names) != len(data.column_names):
        dup = next(n for n in data.column_names if data.column_names.count(n) > 1)
        raise SchemaError(f"{what} repeats the column {dup!r}")
    for name in schema.names:
        if name not in names:
            raise SchemaError(f"{what} is missing column {name!r}")
    for name in data.column_names:
        if name not in schema.names:
            raise SchemaError(f"{what} has column {name!r}, which the table does not have")
    cols = []
    for f in schema:
        col = data.column(f.name)
        if not col.type.equals(f.type):
            if not widens_losslessly(col.type, f.type):
                raise SchemaError(
                    f"column {f.name!r} has type {col.type}, the table expects {f.type}; "
                    "lamina converts only lossless widenings (docs/tables.md: Writing data)"
                )
            try:
                col = col.cast(f.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                raise SchemaError(
                    f"column {f.name!r}: cannot convert {col.type} to {f.type} without loss ({e})"
                ) from None
        if not f.nullable and col.null_count:
            kind = "primary key column" if f.name in primary_key else "column"
            raise SchemaError(
                f"{kind} {f.name!r} is not nullable but {what} holds {col.null_count} null(s) in it"
            )
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=schema)


# A tag is the file tag/<name>.json, whose name must fit a folder entry (255 bytes).
MAX_TAG_NAME_BYTES = 200

# A partition value names a folder: ``<column>=<percent-encoded value>`` is one path
# component, which file systems limit to 255 bytes.
MAX_PARTITION_COMPONENT_BYTES = 255


def check_partition_values(data: pa.Table, partition_by: Sequence[str]) -> None:
    """InvalidArgumentError if a string partition value is too long for a folder name.

    Only distinct values are examined, and only when the longest could be too long.
    """
    import pyarrow.compute as pc

    for col in partition_by:
        column = data.column(col)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue  # integers are short; binary partition columns are refused at create
        prefix = len(quote(col, safe="")) + 1
        longest = pc.max(pc.binary_length(column)).as_py() or 0
        if prefix + 3 * longest <= MAX_PARTITION_COMPONENT_BYTES:
            continue  # even if every byte were percent-encoded
        for value in pc.unique(column).to_pylist():
            if prefix + len(quote(value, safe="")) > MAX_PARTITION_COMPONENT_BYTES:
                raise InvalidArgumentError(
                    f"partition column {col!r}: the value {value[:40]!r}... is too long; "
                    f"'{col}=<value>', percent-encoded, must fit in "
                    f"{MAX_PARTITION_COMPONENT_BYTES} bytes (a folder name)"
                )


class Transaction:
    """Writes and deletes staged for one commit; see ``Table.transaction``."""

    def __init__(self, table: Table) -> None:
        self._t = table
        self._ctx = table._ctx
        self._ts = self._ctx.table_schema()
        self._files: list[DataFile] = []
        self._rows = {"written": 0, "deleted": 0}
        self._calls = 0
        self.snapshot: Snapshot | None = None
        self._done = False
        # Announces the data files as they are written (lamina._inflight), so that
        # remove_orphan_files leaves them alone until the commit is linked or aborted.
        self._inflight: _inflight.Announcement | None = None

    def _release(self) -> None:
        if self._inflight is not None:
            self._inflight.release()

    def _check_open(self) -> None:
        if self._done:
            raise InvalidArgumentError("the transaction is already finished")

    def _write_files(self, table: pa.Table, kind: int) -> None:
        ts = self._ts
        prefix = uuid.uuid4().hex
        with storage_errors("write"):
            if self._inflight is None:
                self._inflight = _inflight.Announcement(self._ctx.root)
            self._inflight.add_prefix(prefix)
        options = core_options(ts)
        options.update(
            {
                "partition_columns": list(ts.partition_by),
                "buckets": ts.buckets,
                "kind": kind,
                "directory": self._ctx.root,
                "file_prefix": prefix,
                "target_file_size": opts.get_int(ts.options, "target_file_size"),
                "sync": self._ctx.io.sync,
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
        ts = self._ts
        table = conform(_as_table(data, ts.schema), ts.schema, primary_key=ts.primary_key)
        if table.num_rows:
            check_partition_values(table, self._ts.partition_by)
            self._write_files(table, 0)
            self._rows["written"] += table.num_rows

    def delete(self, keys: Any) -> None:
        """Stages deletes of the rows with these primary keys."""
        self._check_open()
        ts = self._ts
        key_schema = pa.schema([ts.schema.field(c) for c in ts.primary_key])
        table = conform(
            _as_table(keys, key_schema), key_schema, what="keys", primary_key=ts.primary_key
        )
        if table.num_rows:
            check_partition_values(table, ts.partition_by)
            self._write_files(table, 1)
            self._rows["deleted"] += table.num_rows

    def _abort(self) -> None:
        self._done = True
        files, self._files = self._files, []
        for f in files:
            try:
                self._ctx.io.remove(os.path.join(self._ctx.root, f.path))
            except OSError:
                pass  # left as an orphan: never hide the error that aborted
        self._release()

    def _commit(self) -> None:
        self._check_open()
        self._done = True
        if not self._files:
            # Nothing to write (empty data, empty keys, no calls): commit nothing.
            self.snapshot = self._t.current_snapshot()
            return
        kind = "delete" if self._rows["deleted"] and not self._rows["written"] else "append"
        try:
            self._ctx.sync_dirs(posixpath.dirname(f.path) for f in self._files)
            self.snapshot = self._ctx.store.commit(
                kind=kind,
                schema_id=self._ts.id,
                adds=self._files,
                commit_user=self._ctx.user,
                summary={
                    "rows_written": self._rows["written"],
                    "rows_deleted": self._rows["deleted"],
                    "files_added": len(self._files),
                },
                max_retries=opts.get_int(self._ts.options, "commit.max_retries"),
                merge_min_count=opts.get_int(self._ts.options, "manifest.merge_min_count"),
                inflight=self._inflight,
            )
            self._release()
        except NotDurableError:
            self._release()
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
            ) or needs_inline_compaction(self._ctx, self.snapshot):
                self._t.compact()
        except (CommitConflictError, OSError) as e:
            _log.warning("compaction after commit %d failed: %s", self.snapshot.id, e)
