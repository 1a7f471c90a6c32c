"""Schema evolution: ``Table.update_schema()`` and ``Table.write(..., schema_mode="merge")``.

A change never rewrites data. Each column has a field id (``schema/schema-<id>.json``),
ids are never reused, and data files carry the ids of the schema they were written with
(``docs/metadata.md``, "Data files in a table"): the core matches a table column to a
file column by id, so a renamed column keeps its data and a column added under a dropped
column's name is a new, empty column. A change writes a new schema file (old ones are
kept) and commits one snapshot of kind ``schema`` pointing at it; reads of older snapshots
use the schema they had.

Rules (``docs/tables.md``, "Schema evolution"):

- added columns are nullable (old rows read as null);
- primary-key and partition columns cannot be dropped, renamed, retyped or made nullable;
- a type changes only by a lossless widening (``widen_column``; ``arrow/widen.h`` in the
  core is the one list), and old files are converted as they are read;
- ``fields.<column>.aggregate`` options follow a rename and go with a drop;
- a change is prepared against the newest schema and commits only if no other schema
  change committed meanwhile (else ``CommitConflictError``: prepare it again); writes and
  compactions prepared against an older schema commit under the newest one, their files
  read through field ids;
- files written before data files carried field ids are matched by name, so while such a
  file is live, a rename, or an add that reuses a name an older schema had, is refused
  (``compact(full=True)`` rewrites them).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lamina import _core
from lamina import options as opts
from lamina.errors import CommitConflictError, InvalidArgumentError, SchemaError
from lamina.format import FileReader
from lamina.io import storage_errors
from lamina.schema import (
    MAX_FIELD_ID,
    MAX_SCHEMA_ID,
    TableSchema,
    check_default,
    check_supported,
)
from lamina.snapshot import Snapshot

if TYPE_CHECKING:
    from lamina._context import TableContext

__all__ = ["SchemaUpdate"]

_RESERVED = ("_kind", "_seq")


class SchemaUpdate:
    """Changes to a table's schema, committed together as one snapshot.

    Each method checks its change at once (``SchemaError`` or ``InvalidArgumentError``,
    nothing changed) and returns the update, so calls chain; ``commit()`` (or leaving the
    ``with`` block without an exception) commits them.
    """

    def __init__(self, ctx: TableContext) -> None:
        self._ctx = ctx
        self._base = ctx.table_schema()
        self._fields: list[tuple[int, pa.Field]] = [
            (self._base.field_ids[f.name], f) for f in self._base.schema
        ]
        self._next_id = self._base.next_field_id
        self._options = dict(self._base.options)
        self._defaults = {self._base.field_ids[n]: v for n, v in self._base.defaults.items()}
        self._changes: list[str] = []
        self._done = False
        self.snapshot: Snapshot | None = None

    # ---- changes ------------------------------------------------------------------------

    def add_column(
        self, name: str, type: pa.DataType, nullable: bool = True, default: Any = None
    ) -> SchemaUpdate:
        """Adds a column at the end (``move_column`` places it). Rows written before read
        it as ``default`` (None: null; integer, float, bool and string columns can have
        one), and it is nullable: later writes may hold nulls in it."""
        self._check_open()
        self._check_new_name(name)
        if not isinstance(type, pa.DataType):
            raise InvalidArgumentError("type must be a pyarrow.DataType")
        if not nullable:
            raise SchemaError(
                f"column {name!r} must be nullable: rows written before it have no value"
            )
        field = pa.field(name, type, nullable=True)
        check_supported(pa.schema([field]))
        if default is not None:
            self._defaults[self._next_id] = check_default(type, default)
        if self._next_id > MAX_FIELD_ID:
            raise SchemaError("the table has used every field id")
        self._fields.append((self._next_id, field))
        self._next_id += 1
        self._changes.append(f"add {name}")
        return self

    def drop_column(self, name: str) -> SchemaUpdate:
        """Removes a column; its data stays in old files, unread (and in older snapshots)."""
        self._check_open()
        i = self._index(name)
        self._check_not_key(name, "dropped")
        if len(self._fields) == 1:
            raise SchemaError("cannot drop the last column")
        del self._fields[i]
        self._options.pop(f"fields.{name}.aggregate", None)
        self._changes.append(f"drop {name}")
        return self

    def rename_column(self, old: str, new: str) -> SchemaUpdate:
        """Renames a column; it keeps its field id, so its data."""
        self._check_open()
        i = self._index(old)
        self._check_not_key(old, "renamed")
        self._check_new_name(new)
        fid, f = self._fields[i]
        self._fields[i] = (fid, f.with_name(new))
        key = f"fields.{old}.aggregate"
        if key in self._options:
            self._options[f"fields.{new}.aggregate"] = self._options.pop(key)
        self._changes.append(f"rename {old} -> {new}")
        return self

    def widen_column(self, name: str, type: pa.DataType) -> SchemaUpdate:
        """Widens a column's type losslessly: int8→16→32→64, unsigned to a wider unsigned
        or signed type, integers of ≤16 bits to float32 and of ≤32 bits to float64,
        float32→float64, string→large_string, binary→large_binary. Old files keep the
        narrower type; the core converts their values as it reads them."""
        self._check_open()
        i = self._index(name)
        self._check_not_key(name, "retyped")
        if not isinstance(type, pa.DataType):
            raise InvalidArgumentError("type must be a pyarrow.DataType")
        fid, f = self._fields[i]
        if f.type.equals(type):
            return self
        if not _core.can_widen(pa.schema([f]), pa.schema([pa.field(name, type)])):
            raise SchemaError(
                f"column {name!r} cannot change from {f.type} to {type}: only lossless "
                "widenings are allowed (int8→16→32→64, unsigned to wider, small integers "
                "to floats, float32→float64, string→large_string, binary→large_binary)"
            )
        agg = self._options.get(f"fields.{name}.aggregate")
        if agg is not None:
            probe = pa.schema([pa.field(name, type)])
            try:
                _core.check_aggregates(probe.__arrow_c_schema__(), {name: agg})
            except InvalidArgumentError as e:
                raise SchemaError(f"column {name!r}: {e}") from None
        if fid in self._defaults:
            self._defaults[fid] = check_default(type, self._defaults[fid])
        self._fields[i] = (fid, f.with_type(type))
        self._changes.append(f"widen {name} to {type}")
        return self

    def make_nullable(self, name: str) -> SchemaUpdate:
        """Lets a column hold nulls (key columns never do)."""
        self._check_open()
        i = self._index(name)
        self._check_not_key(name, "made nullable")
        fid, f = self._fields[i]
        self._fields[i] = (fid, f.with_nullable(True))
        self._changes.append(f"nullable {name}")
        return self

    def move_column(self, name: str, after: str | None = None) -> SchemaUpdate:
        """Moves a column right after ``after`` (None: to the front)."""
        self._check_open()
        i = self._index(name)
        if after == name:
            raise InvalidArgumentError("a column cannot move after itself")
        entry = self._fields.pop(i)
        at = 0 if after is None else self._index(after) + 1
        self._fields.insert(at, entry)
        self._changes.append(f"move {name}")
        return self

    # ---- commit -------------------------------------------------------------------------

    def set_option(self, key: str, value: Any) -> SchemaUpdate:
        """Sets a table option (``lamina.options``; not ``fields.<column>.aggregate``,
        which is fixed with its column), e.g. ``changelog.producer`` or
        ``consumer.expiration_time``; it applies to commits from the new schema on."""
        self._check_open()
        if not isinstance(key, str) or key.startswith("fields."):
            raise InvalidArgumentError(f"option {key!r} cannot be changed after create_table")
        new = opts.validate({key: value}, self._base.merge_engine)[key]
        if self._options.get(key) != new:
            self._options[key] = new
            self._changes.append(f"set option {key}={new}")
        return self

    def commit(self) -> Snapshot | None:
        """Commits the changes as one snapshot of kind ``schema``; returns it (no changes:
        commits nothing and returns the current snapshot).

        Raises:
            CommitConflictError: Another schema change committed since this update began.
            SchemaError: A rename or a reused name while files without field ids are live.
        """
        self._check_open()
        self._done = True
        ctx = self._ctx
        if not self._changes:
            self.snapshot = ctx.store.latest()
            return self.snapshot
        schema = pa.schema([f for _, f in self._fields])
        field_ids = {f.name: fid for fid, f in self._fields}
        if (
            schema.equals(self._base.schema, check_metadata=False)
            and field_ids == dict(self._base.field_ids)
            and self._options == dict(self._base.options)
        ):
            self.snapshot = ctx.store.latest()  # the changes cancelled out
            return self.snapshot
        self._check_unstamped_files(field_ids)
        base = self._base
        defaults = {f.name: self._defaults[fid] for fid, f in self._fields if fid in self._defaults}
        new_id = self._write_schema_file(
            lambda sid: TableSchema(
                id=sid,
                schema=schema,
                field_ids=field_ids,
                primary_key=base.primary_key,
                partition_by=base.partition_by,
                buckets=base.buckets,
                merge_engine=base.merge_engine,
                options=self._options,
                next_field_id=self._next_id,
                defaults=defaults,
            )
        )

        def check(parent: Snapshot | None) -> None:
            if (parent.schema_id if parent is not None else 0) != base.id:
                raise CommitConflictError(
                    "another schema change committed since this update began; "
                    "prepare it again on the new schema"
                )

        self.snapshot = ctx.store.commit(
            kind="schema",
            schema_id=new_id,
            adds=(),
            commit_user=ctx.user,
            summary={"schema_id": new_id, "changes": list(self._changes)},
            max_retries=opts.get_int(base.options, "commit.max_retries"),
            check=check,
            merge_min_count=opts.get_int(base.options, "manifest.merge_min_count"),
        )
        return self.snapshot

    def __enter__(self) -> SchemaUpdate:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None and not self._done:
            self.commit()
        self._done = True

    # ---- helpers ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._done:
            raise InvalidArgumentError("the schema update is already finished")

    def _index(self, name: str) -> int:
        for i, (_, f) in enumerate(self._fields):
            if f.name == name:
                return i
        raise SchemaError(f"column {name!r} is not in the table schema")

    def _check_new_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("a column name must be a non-empty string")
        if name in _RESERVED:
            raise SchemaError(f"column name {name!r} is reserved for lamina")
        if any(f.name == name for _, f in self._fields):
            raise SchemaError(f"column {name!r} already exists")

    def _check_not_key(self, name: str, what: str) -> None:
        if name in self._base.primary_key:
            raise SchemaError(f"primary key column {name!r} cannot be {what}")
        if name in self._base.partition_by:
            raise SchemaError(f"partition column {name!r} cannot be {what}")

    def _check_unstamped_files(self, field_ids: dict[str, int]) -> None:
        """Files without field ids are read by name: refuse a change after which a name
        in such a file would mean another column, or a column would lose its name there
        (a rename, or an add that reuses a name an older schema had)."""
        base_ids = dict(self._base.field_ids)
        if all(base_ids.get(n) == fid for n, fid in field_ids.items()):
            return  # names keep their ids: drops, moves and nullability only
        name_of = {fid: n for n, fid in field_ids.items()}
        snap = self._ctx.store.latest()
        for f in self._ctx.live_files(snap) if snap is not None else []:
            with storage_errors("reading a data file's footer"):
                reader = FileReader(os.path.join(self._ctx.root, f.path))
            if (reader.schema.metadata or {}).get(b"lamina.field_ids") == b"table":
                continue
            writer = self._ctx.table_schema(f.schema_id).field_ids
            for name in reader.schema.names:
                wid = writer.get(name)
                if wid is None:
                    continue  # a system column
                if name_of.get(wid, name) != name or field_ids.get(name, wid) != wid:
                    raise SchemaError(
                        f"data file {f.path} was written before files carried field ids "
                        f"and is read by column name, so column {name!r} cannot be renamed "
                        "or its name reused yet: run compact(full=True) first"
                    )

    def _write_schema_file(self, make: Any) -> int:
        """Writes ``schema-<id>.json`` under the first free id above the existing ones;
        returns the id. A file left by an update that did not commit is never reused."""
        ctx = self._ctx
        schema_dir = os.path.join(ctx.root, "schema")
        with storage_errors("writing the schema file"):
            ids = [
                int(n[len("schema-") : -len(".json")])
                for n in ctx.io.listdir(schema_dir)
                if n.startswith("schema-") and n.endswith(".json")
                and n[len("schema-") : -len(".json")].isdigit()
            ]  # fmt: skip
            sid = max(ids, default=0) + 1
            while sid <= MAX_SCHEMA_ID:
                if ctx.io.write_new(
                    os.path.join(schema_dir, f"schema-{sid}.json"), make(sid).to_json()
                ):
                    return sid
                sid += 1
        raise SchemaError("the table has used every schema id")
