"""The lamina exception hierarchy: every error lamina raises on purpose is a LaminaError."""

from __future__ import annotations

__all__ = [
    "CommitConflictError",
    "CorruptFileError",
    "InvalidArgumentError",
    "LaminaError",
    "OutOfMemoryError",
    "SchemaError",
    "SnapshotExpiredError",
    "StorageError",
    "TableExistsError",
    "TableNotFoundError",
    "UnsupportedVersionError",
]


class LaminaError(Exception):
    """Base class of all lamina errors."""


class TableNotFoundError(LaminaError):
    """No lamina table exists at the given path."""


class TableExistsError(LaminaError):
    """A table already exists where one was to be created."""


class SchemaError(LaminaError):
    """Data does not match the table's schema (missing/extra column, bad type, null key)."""


class CommitConflictError(LaminaError):
    """A commit lost the race for its snapshot id too many times; refresh and try again."""


class CorruptFileError(LaminaError):
    """A file's bytes do not describe valid lamina data (truncated, bit-flipped, foreign)."""


class InvalidArgumentError(LaminaError, ValueError):
    """An argument is unsupported or malformed (unknown option, unsupported type, ...)."""


class SnapshotExpiredError(InvalidArgumentError):
    """The snapshot a read is pinned to was expired (``expire_snapshots``) before or
    while it was read, so its files may be gone.

    An ``InvalidArgumentError`` (as asking for a snapshot id that never existed is), so
    code that catches that for a bad ``snapshot=`` keeps working.

    A read of the latest snapshot (``snapshot=None``) does not raise it for a snapshot
    expired under it: it reads the new latest snapshot instead (a bounded number of
    times). Tag a snapshot to keep it readable.
    """


class StorageError(LaminaError, OSError):
    """The storage failed (write, short write, no space, fsync, rename, ...).

    Nothing was committed by the failing operation: the table stays readable at its last
    committed snapshot, and files the operation left behind are orphans. It is also an
    ``OSError`` whose ``errno`` says what the operating system reported.
    """


class OutOfMemoryError(LaminaError, MemoryError):
    """An allocation failed while lamina read, wrote or compacted data.

    Also a ``MemoryError``. Nothing was committed by the failing operation.
    """


class UnsupportedVersionError(LaminaError):
    """A file or table was written by a newer lamina format version than this one reads."""
