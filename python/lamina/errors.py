"""The lamina exception hierarchy: every error lamina raises on purpose is a LaminaError."""

from __future__ import annotations

__all__ = [
    "CommitConflictError",
    "CorruptFileError",
    "InvalidArgumentError",
    "LaminaError",
    "SchemaError",
    "TableExistsError",
    "TableNotFoundError",
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
