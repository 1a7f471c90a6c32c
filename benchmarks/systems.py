"""The systems the format benchmarks compare, each behind the same small interface.

Every operation opens the file (or dataset) itself, so a timing includes opening: that
is what a reader that meets a file for the first time pays. Peers are used the natural
way their documentation shows, with default options except the stated compression.

Example:
    >>> from systems import available_systems
    >>> for s in available_systems(["lamina", "parquet-zstd"]):
    ...     size = s.write("/tmp/x" + s.suffix, table)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

__all__ = ["SYSTEMS", "System", "available_systems", "path_size", "warm_page_cache"]


def path_size(path: str) -> int:
    """Bytes on disk of a file, or of every file under a directory."""
    if os.path.isdir(path):
        return sum(
            os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files
        )
    return os.path.getsize(path)


def warm_page_cache(path: str) -> None:
    """Reads every byte of ``path`` once so that all systems are timed with a warm cache."""
    paths = (
        [os.path.join(d, f) for d, _, files in os.walk(path) for f in files]
        if os.path.isdir(path)
        else [path]
    )
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


class System:
    """One storage system: how it writes a table, reads columns and takes rows.

    ``take_variants`` maps a label to a take function; a runner times each and may keep
    the fastest, so a peer is not judged by its slower API.
    """

    def __init__(
        self,
        name: str,
        suffix: str,
        write: Callable[[str, pa.Table], None],
        read: Callable[[str, Sequence[str] | None], pa.Table],
        take_variants: dict[str, Callable[[str, np.ndarray, Sequence[str] | None], pa.Table]],
        version: Callable[[], str],
    ) -> None:
        self.name = name
        self.suffix = suffix
        self._write = write
        self.read = read
        self.take_variants = take_variants
        self.version = version

    def write(self, path: str, table: pa.Table) -> int:
        """Writes ``table`` at ``path`` (replacing it) and returns its size on disk."""
        _remove(path)
        self._write(path, table)
        return path_size(path)

    def take(
        self, path: str, indices: np.ndarray, columns: Sequence[str] | None = None
    ) -> pa.Table:
        return next(iter(self.take_variants.values()))(path, indices, columns)

    def __repr__(self) -> str:
        return f"System({self.name!r})"


def _lamina() -> System:
    import lamina
    from lamina.format import FileReader, write_file

    return System(
        "lamina",
        ".lam",
        write=lambda p, t: write_file(p, t),
        read=lambda p, cols: FileReader(p).read(cols),
        take_variants={"FileReader.take": lambda p, i, cols: FileReader(p).take(i, cols)},
        version=lambda: lamina.__version__,
    )


def _parquet(compression: str) -> System:
    def write(p: str, t: pa.Table) -> None:
        pq.write_table(t, p, compression=compression)

    def take_table(p: str, i: np.ndarray, cols: Sequence[str] | None) -> pa.Table:
        return pq.read_table(p, columns=cols).take(i)

    def take_dataset(p: str, i: np.ndarray, cols: Sequence[str] | None) -> pa.Table:
        return pads.dataset(p, format="parquet").take(pa.array(i), columns=cols)

    name = "parquet" if compression == "none" else f"parquet-{compression}"
    return System(
        name,
        ".parquet",
        write=write,
        read=lambda p, cols: pq.read_table(p, columns=cols),
        take_variants={"read_table().take": take_table, "dataset().take": take_dataset},
        version=lambda: pa.__version__,
    )


def _lance() -> System:
    import lance

    def write(p: str, t: pa.Table) -> None:
        lance.write_dataset(t, p)

    def read(p: str, cols: Sequence[str] | None) -> pa.Table:
        return lance.dataset(p).to_table(columns=None if cols is None else list(cols))

    def take(p: str, i: np.ndarray, cols: Sequence[str] | None) -> pa.Table:
        return lance.dataset(p).take(i, columns=None if cols is None else list(cols))

    return System(
        "lance",
        ".lance",
        write=write,
        read=read,
        take_variants={"dataset().take": take},
        version=lambda: lance.__version__,
    )


SYSTEMS: dict[str, Callable[[], System]] = {
    "lamina": _lamina,
    "parquet": lambda: _parquet("none"),
    "parquet-zstd": lambda: _parquet("zstd"),
    "lance": _lance,
}


def available_systems(names: Sequence[str]) -> list[System]:
    """The named systems whose library imports; the others are left out silently."""
    out = []
    for n in names:
        try:
            out.append(SYSTEMS[n]())
        except ImportError:
            continue
    return out


def system(name: str) -> System:
    """One system by name; raises ImportError if its library is missing."""
    return SYSTEMS[name]()
