"""lamina: an LSM lakehouse table format for machine-learning features and training samples."""

from __future__ import annotations

from lamina import errors
from lamina.errors import (
    CommitConflictError,
    CorruptFileError,
    InvalidArgumentError,
    LaminaError,
    SchemaError,
    TableExistsError,
    TableNotFoundError,
)

from lamina import _core  # noqa: E402  (errors must exist before the core raises them)
from lamina import format  # noqa: E402

# The encoding test hooks look the corruption class up on the core module.
_core.CorruptFileError = CorruptFileError  # type: ignore[attr-defined]

__version__ = "0.1.0"

__all__ = [
    "CommitConflictError",
    "CorruptFileError",
    "InvalidArgumentError",
    "LaminaError",
    "SchemaError",
    "TableExistsError",
    "TableNotFoundError",
    "errors",
    "format",
]
