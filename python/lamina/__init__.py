"""lamina: an LSM lakehouse table format for machine-learning features and training samples."""

from __future__ import annotations

from lamina import config, errors, format
from lamina.errors import (
    CommitConflictError,
    CorruptFileError,
    InvalidArgumentError,
    LaminaError,
    OutOfMemoryError,
    SchemaError,
    SnapshotExpiredError,
    StorageError,
    TableExistsError,
    TableNotFoundError,
    UnsupportedVersionError,
)
from lamina.scan import Scan, Split
from lamina.snapshot import Snapshot
from lamina.table import Table, Transaction, create_table, open_table

__version__ = "0.1.0"

__all__ = [
    "CommitConflictError",
    "CorruptFileError",
    "InvalidArgumentError",
    "LaminaError",
    "OutOfMemoryError",
    "Scan",
    "SchemaError",
    "Snapshot",
    "SnapshotExpiredError",
    "Split",
    "StorageError",
    "Table",
    "TableExistsError",
    "TableNotFoundError",
    "Transaction",
    "UnsupportedVersionError",
    "config",
    "create_table",
    "errors",
    "format",
    "open_table",
]
