"""Converting what a caller writes into a table of the table's columns.

``_as_table`` accepts pyarrow tables, batches, readers and struct arrays, mappings of
columns, pandas DataFrames and objects with the Arrow PyCapsule protocols; ``conform``
then matches the columns to the table schema; ``check_partition_values`` refuses
partition values that cannot name a folder. Nothing here touches the storage.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa

from lamina.errors import InvalidArgumentError, SchemaError
from lamina.schema import widens_losslessly


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
