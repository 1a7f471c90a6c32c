"""Turning what users pass in into Arrow C streams, and core results back into pyarrow."""

from __future__ import annotations

from typing import Any

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
        schema_cap, array_cap = data.__arrow_c_array__()
        batch = pa.RecordBatch._import_from_c_capsule(schema_cap, array_cap)
        return pa.Table.from_batches([batch]).__arrow_c_stream__()
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


def batch_from_capsules(capsules: Any) -> pa.RecordBatch:
    schema_cap, array_cap = capsules
    return pa.RecordBatch._import_from_c_capsule(schema_cap, array_cap)
