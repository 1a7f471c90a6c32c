"""The lamina file format: one file, columns split into encoded pages, a checksummed footer.

Example:
    >>> import pyarrow as pa, lamina
    >>> lamina.format.write_file("/tmp/t.lam", pa.table({"x": [1, 2, 3]}))
    >>> lamina.format.read_file("/tmp/t.lam").column("x").to_pylist()
    [1, 2, 3]
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import pyarrow as pa

from lamina import _core
from lamina._arrow import batch_from_capsules, schema_from_capsule, to_stream_capsule
from lamina.errors import InvalidArgumentError

__all__ = ["FORMAT_VERSION", "FileReader", "read_file", "write_file"]

# The newest data file format version this lamina reads and the one it writes
# (cpp/lamina/format/footer.h kFormatVersion).
FORMAT_VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]

_ENCODINGS = {
    0: "plain",
    1: "constant",
    2: "bitpack",
    3: "delta",
    4: "rle",
    5: "dictionary",
    6: "fsst",
    7: "alp",
    8: "bitmap",
}


def write_file(
    path: PathLike,
    data: Any,
    *,
    max_page_rows: int = 65536,
    target_page_bytes: int = 1 << 20,
    sync: bool = False,
    metadata: dict[str, bytes] | None = None,
) -> None:
    """Writes ``data`` as one lamina file at ``path`` (replacing any file there).

    Args:
        path: Where to write.
        data: A pyarrow Table, RecordBatch, RecordBatchReader, pandas DataFrame, or any
            object with ``__arrow_c_stream__``/``__arrow_c_array__``.
        max_page_rows: Most rows per page.
        target_page_bytes: Approximate raw bytes per page for variable-width columns.
            Pages do not depend on how ``data`` is chunked: rows of small batches are
            gathered into full pages.
        sync: fsync the file before returning.
        metadata: Extra key/value pairs stored in the footer.

    Raises:
        InvalidArgumentError: A column has a type lamina does not store.
    """
    options: dict[str, Any] = {
        "max_page_rows": int(max_page_rows),
        "target_page_bytes": int(target_page_bytes),
        "sync": bool(sync),
    }
    if metadata:
        options["file_metadata"] = {str(k): bytes(v) for k, v in metadata.items()}
    _core.write_file(os.fspath(path), to_stream_capsule(data), options)


def read_file(path: PathLike, columns: Sequence[str] | None = None) -> pa.Table:
    """Reads a lamina file (or the given columns of it) as a pyarrow Table."""
    return FileReader(path).read(columns)


class FileReader:
    """Random access to one lamina file.

    Opening maps the file and checks its footer; a column's page index is parsed the first
    time the column is read, and each page's checksum is verified the first time it is
    decoded. Safe to share between threads.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorruptFileError: The file is not a valid lamina file.
        UnsupportedVersionError: A newer lamina format version wrote the file.
    """

    def __init__(self, path: PathLike) -> None:
        p = os.fspath(path)
        self._r = _core.FileReader(p)
        self._schema: pa.Schema | None = None
        self._names: dict[str, int] | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> FileReader:
        """Opens a file held in memory."""
        self = cls.__new__(cls)
        data = bytes(data)
        self._r = _core.FileReader.from_bytes(data)
        self._schema = None
        self._names = None
        return self

    @property
    def schema(self) -> pa.Schema:
        if self._schema is None:
            self._schema = schema_from_capsule(self._r.schema_capsule())
        return self._schema

    @property
    def num_rows(self) -> int:
        return int(self._r.num_rows)

    @property
    def file_size(self) -> int:
        return int(self._r.file_size)

    @property
    def field_ids(self) -> dict[str, int]:
        """Top-level column name -> field id."""
        return dict(self._r.field_ids)

    @property
    def metadata(self) -> dict[str, bytes]:
        """The key/value pairs given to ``write_file(metadata=...)``."""
        return dict(self._r.file_metadata)

    def _column_indices(self, columns: Sequence[str] | None) -> list[int]:
        if self._names is None:
            self._names = {n: i for i, n in enumerate(self._r.column_names)}
        if columns is None:
            return list(range(self._r.num_columns))
        if isinstance(columns, str):
            raise InvalidArgumentError("columns must be a list of names, not a string")
        out = []
        for c in columns:
            if c not in self._names:
                raise InvalidArgumentError(f"no column named {c!r} in the file")
            out.append(self._names[c])
        return out

    def read(self, columns: Sequence[str] | None = None) -> pa.Table:
        """Decodes the whole file, or only ``columns``, into a pyarrow Table."""
        batch = batch_from_capsules(self._r.read(self._column_indices(columns)))
        return pa.Table.from_batches([batch])

    def take(self, indices: Any, columns: Sequence[str] | None = None) -> pa.Table:
        """Rows at ``indices`` (any order, repeats allowed), decoding only the values needed.

        Raises:
            InvalidArgumentError: An index is negative or not below ``num_rows``.
        """
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu":
            if idx.size == 0:
                idx = idx.astype(np.int64)
            else:
                raise InvalidArgumentError("indices must be integers")
        if idx.ndim != 1:
            raise InvalidArgumentError("indices must be one-dimensional")
        if idx.dtype == np.uint64 and idx.size and idx.max() > np.iinfo(np.int64).max:
            raise InvalidArgumentError("row index out of range")
        batch = batch_from_capsules(
            self._r.take(idx.astype(np.int64, copy=False), self._column_indices(columns))
        )
        return pa.Table.from_batches([batch])

    def page_statistics(self, column: str) -> list[dict[str, Any]]:
        """Per page of ``column``: row_start, num_rows, null_count, min, max, encoding, size.

        For strings, ``min`` may be a prefix of the smallest value and ``max`` a bound just
        above the largest: long values are truncated to 64 bytes in the footer.
        """
        return [self._present(column, p) for p in self._raw_pages(column)]

    def statistics(self, column: str) -> dict[str, Any]:
        """Column statistics aggregated over pages: null_count, min, max (None if unknown).

        For floats, min and max ignore NaN (as Parquet's do): they bound the non-NaN
        values, and are None when the column holds no value but NaN and nulls.
        """
        pages = self._raw_pages(column)
        known = [p for p in pages if p["min"] is not None]
        # A page without min/max makes the column's bounds unknown, unless it holds no
        # value a bound must cover: it is all null, or (a float page; writers always
        # give float pages with a non-NaN value their min/max) only NaN and nulls.
        floating = pa.types.is_floating(self.schema.field(column).type)
        complete = floating or all(
            p["min"] is not None or p["null_count"] == p["num_rows"] for p in pages
        )
        agg = {
            "null_count": sum(p["null_count"] for p in pages),
            "min": min(p["min"] for p in known) if known and complete else None,
            "max": max(p["max"] for p in known) if known and complete else None,
        }
        out = self._present(column, agg)
        out["num_pages"] = len(pages)
        return out

    def _raw_pages(self, column: str) -> list[dict[str, Any]]:
        i = self._column_indices([column])[0]
        typ = self.schema.field(i).type
        pages = []
        for p in self._r.page_stats(i):
            pages.append(
                {
                    "row_start": p["row_start"],
                    "num_rows": p["num_rows"],
                    "null_count": p["null_count"],
                    "min": _raw_stat(typ, p["min"]),
                    "max": _raw_stat(typ, p["max"]),
                    "encoding": _ENCODINGS.get(p["encoding"], str(p["encoding"])),
                    "compressed_size": p["length"],
                }
            )
        return pages

    def _present(self, column: str, stats: dict[str, Any]) -> dict[str, Any]:
        typ = self.schema.field(column).type
        out = dict(stats)
        for key in ("min", "max"):
            out[key] = _present_stat(typ, stats[key])
        return out


def _raw_stat(typ: pa.DataType, raw: bytes | None) -> Any:
    """Footer bytes -> a comparable Python value (int, float, bool or bytes)."""
    if raw is None:
        return None
    if pa.types.is_boolean(typ):
        return bool(raw[0])
    if pa.types.is_floating(typ):
        return struct.unpack("<d", raw)[0]
    if pa.types.is_unsigned_integer(typ):
        return struct.unpack("<Q", raw)[0]
    if pa.types.is_integer(typ) or pa.types.is_date32(typ) or pa.types.is_timestamp(typ):
        return struct.unpack("<q", raw)[0]
    return bytes(raw)


def _present_stat(typ: pa.DataType, v: Any) -> Any:
    if v is None:
        return None
    if pa.types.is_date32(typ) or pa.types.is_timestamp(typ):
        # A pyarrow scalar: timestamps may lie outside what datetime can hold.
        storage = pa.int32() if pa.types.is_date32(typ) else pa.int64()
        return pa.array([v], type=storage).view(typ)[0]
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return v.decode("utf-8", errors="replace")
    return v
