"""Process-wide settings of lamina's C++ core.

The settings apply to every table in the process. The core validates them (the one
place): a bad value raises ``InvalidArgumentError`` and changes nothing.

Example:
    >>> import lamina
    >>> lamina.config.set(threads=4)
    >>> lamina.config.get().threads
    4
"""

from __future__ import annotations

import dataclasses

from lamina import _core
from lamina.errors import InvalidArgumentError

__all__ = ["Settings", "get", "set"]


@dataclasses.dataclass(frozen=True)
class Settings:
    """A snapshot of the core's settings.

    Attributes:
        threads: Total parallelism of the one shared thread pool every read, write and
            compaction runs its parallel work on (calling threads included). Default:
            the machine's cores.
        take_index_bytes: Capacity in bytes of the cache of take indexes
            (``Scan.take``); 0 caches nothing. Default: 256 MiB.
        merge_min_range_rows: A parallel merge splits its input into key ranges of at
            least this many rows. Default: 65536.
    """

    threads: int
    take_index_bytes: int
    merge_min_range_rows: int


def get() -> Settings:
    """Returns the current settings."""
    c = _core.get_config()
    return Settings(
        threads=c.threads,
        take_index_bytes=c.take_index_bytes,
        merge_min_range_rows=c.merge_min_range_rows,
    )


def set(
    *,
    threads: int | None = None,
    take_index_bytes: int | None = None,
    merge_min_range_rows: int | None = None,
) -> None:
    """Changes the given settings; the others keep their values.

    Args:
        threads: Total parallelism of the shared thread pool, 1 to 1024.
        take_index_bytes: Take-index cache capacity in bytes, 0 or more.
        merge_min_range_rows: Minimum rows of a parallel merge's key range, 1 or more.

    Raises:
        InvalidArgumentError: A value is out of range (nothing changes).
    """
    c = _core.get_config()
    for name, value in (
        ("threads", threads),
        ("take_index_bytes", take_index_bytes),
        ("merge_min_range_rows", merge_min_range_rows),
    ):
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidArgumentError(f"{name} must be a non-negative int, got {value!r}")
        setattr(c, name, value)
    _core.set_config(c)
