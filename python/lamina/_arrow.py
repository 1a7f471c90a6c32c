"""Turning what users pass in into Arrow C streams, and core results back into pyarrow."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from lamina.errors import InvalidArgumentError


def to_stream_capsule(data: Any) -> Any:
    """Returns an ``arrow_array_stream`` capsule for any supported input, without copying.

    Accepts a pyarrow Table, RecordBatch or RecordBatchReader, a pandas DataFrame, and any
    object implementing ``__arrow_c_stream__`` or ``__arrow_c_array__``.
    """
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__"):
        return data.__arrow_c_stream__()
    if hasattr(data, "__arrow_c_array__"):
        return pa.Table.from_batches([pa.record_batch(data)]).__arrow_c_stream__()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False).__arrow_c_stream__()
    raise InvalidArgumentError(
        f"cannot write {type(data).__name__}: expected a pyarrow Table, RecordBatch, "
        "RecordBatchReader, pandas DataFrame or an object with __arrow_c_stream__"
    )


class _ArrayCapsules:
    """A (schema, array) capsule pair as an Arrow PyCapsule Interface producer: the
    public way to hand capsules the core returned to ``pa.record_batch``."""

    __slots__ = ("_capsules",)

    def __init__(self, schema_capsule: Any, array_capsule: Any) -> None:
        self._capsules = (schema_capsule, array_capsule)

    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]:
        # The core's types are final: a requested schema is left to the consumer to
        # check (pyarrow casts or raises).
        return self._capsules


def batch_from_capsules(capsules: Any) -> pa.RecordBatch:
    """The record batch a core call returned as a (schema, struct array) capsule pair,
    imported without copying."""
    schema_cap, array_cap = capsules
    return pa.record_batch(_ArrayCapsules(schema_cap, array_cap))


class _SchemaCapsule:
    """A schema capsule as an Arrow PyCapsule Interface producer, for ``pa.schema``."""

    __slots__ = ("_capsule",)

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __arrow_c_schema__(self) -> Any:
        return self._capsule


def schema_from_capsule(capsule: Any) -> pa.Schema:
    """The schema a core call returned as an ``arrow_schema`` capsule."""
    return pa.schema(_SchemaCapsule(capsule))


def constant(value: Any, n: int, type: pa.DataType) -> pa.Array:
    """An array of ``n`` copies of ``value``, built from buffers: ``pa.array`` and
    ``pa.repeat`` import pandas on first use (its array-like check), a fifth of a second
    in a fresh process on a read path that otherwise takes less."""
    if pa.types.is_integer(type) or (pa.types.is_floating(type) and type.bit_width > 16):
        values = np.full(n, value, dtype=np.dtype(type.to_pandas_dtype()))
        return pa.Array.from_buffers(type, n, [None, pa.py_buffer(values)])
    if pa.types.is_boolean(type):
        bits = np.packbits(np.full(n, bool(value)), bitorder="little")
        return pa.Array.from_buffers(type, n, [None, pa.py_buffer(bits)])
    if pa.types.is_string(type) or pa.types.is_large_string(type):
        data = str(value).encode()
        width = np.int64 if pa.types.is_large_string(type) else np.int32
        offsets = np.arange(n + 1, dtype=width) * len(data)
        return pa.Array.from_buffers(type, n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)])
    return pa.array([value] * n, type)
