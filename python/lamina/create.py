"""Creating and opening tables: the checks of a new table's definition, its folders."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lamina import _core
from lamina import options as opts
from lamina._context import TableContext
from lamina.errors import InvalidArgumentError, TableExistsError, TableNotFoundError
from lamina.io import FileIO, storage_errors
from lamina.metadata import Containment
from lamina.schema import KEY_TYPES, TableSchema, check_supported, read_schema, type_to_json

if TYPE_CHECKING:
    from lamina.table import Table

TABLE_DIRS = ("schema", "snapshot", "manifest", "tag", "data")


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
    from lamina.table import Table

    root = os.fspath(path)
    if not isinstance(schema, pa.Schema):
        raise InvalidArgumentError("schema must be a pyarrow.Schema")
    check_supported(schema)
    if isinstance(primary_key, str):
        primary_key = [primary_key]
    pk = tuple(primary_key)
    parts = tuple(partition_by or ())
    _check_keys(schema, pk, parts)
    if not isinstance(buckets, int) or isinstance(buckets, bool) or not 1 <= buckets <= 1 << 16:
        raise InvalidArgumentError("buckets must be an integer in [1, 65536]")
    options_s = _check_options(schema, pk, merge_engine, options)
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
        for d in TABLE_DIRS:
            io.makedirs(os.path.join(root, d))
        # The folders' entries are durable (makedirs); schema-0.json makes it a table.
        if not io.write_new(os.path.join(schema_dir, "schema-0.json"), ts.to_json()):
            raise TableExistsError(f"a lamina table already exists at {root}")
    return Table(root, io)


def _check_keys(schema: pa.Schema, pk: tuple[str, ...], parts: tuple[str, ...]) -> None:
    """InvalidArgumentError unless ``pk`` and ``parts`` name usable key columns."""
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


def _check_options(
    schema: pa.Schema,
    pk: tuple[str, ...],
    merge_engine: str,
    options: Mapping[str, Any] | None,
) -> dict[str, str]:
    """The validated table options (as strings) for ``merge_engine``."""
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
    return options_s


def open_table(path: str | os.PathLike[str], *, file_io: FileIO | None = None) -> Table:
    """Opens the table in ``path``; TableNotFoundError if there is none.

    ``file_io``: the file layer to work through (default: a new ``lamina.io.FileIO``);
    its ``sync`` is set from the table's ``write.sync`` option.
    """
    from lamina.table import Table

    root = os.fspath(path)
    io = file_io if file_io is not None else FileIO()
    if not io.exists(os.path.join(root, "schema", "schema-0.json")):
        raise TableNotFoundError(f"no lamina table at {root}")
    ts = read_schema(root, io, 0, Containment(root, io))
    io.sync = opts.get_bool(ts.options, "write.sync")
    return Table(root, io)


def open_context(path: str | os.PathLike[str]) -> TableContext:
    """What the helper modules need of the table in ``path`` (``open_table``'s checks);
    a split read in another process starts from here."""
    return open_table(path)._ctx
