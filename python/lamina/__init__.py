"""lamina: an LSM lakehouse table format for machine-learning features and training samples."""

from __future__ import annotations

from lamina import errors, format
from lamina.errors import (
    CommitConflictError,
    CorruptFileError,
    InvalidArgumentError,
    LaminaError,
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
    "create_table",
    "errors",
    "format",
    "open_table",
]
