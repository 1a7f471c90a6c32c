"""Reading untrusted table metadata: JSON limits, typed fields, format versions, paths.

Snapshot, schema and tag files are JSON; manifests are lamina files. Any of them may be
truncated, bit-flipped, hand-edited or planted, so every reader here checks what it is
given and raises ``CorruptFileError`` (``UnsupportedVersionError`` for a file written by
a newer format version) instead of KeyError/TypeError/ValueError/RecursionError, never
allocates in proportion to a number a file claims, and never follows a path out of the
table folder (``..``, absolute paths, backslashes, NUL, or symbolic links that resolve
outside it).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from lamina.errors import CorruptFileError, UnsupportedVersionError
from lamina.io import FileIO

# A snapshot lists at most a few dozen manifests and a schema a few thousand columns;
# 64 MiB leaves room for 100k columns while refusing a planted multi-gigabyte file.
MAX_JSON_BYTES = 64 << 20
MAX_INT = (1 << 63) - 1
MAX_NAME_BYTES = 255  # one path component (NAME_MAX on Linux and macOS)
MAX_PATH_BYTES = 1024


def parse_json(data: bytes, what: str) -> dict[str, Any]:
    """``data`` as a JSON object; CorruptFileError for anything else.

    Deep nesting raises RecursionError inside ``json``; it is caught here, so a planted
    ``[[[[...`` is a corrupt file, not a crash.
    """
    if len(data) > MAX_JSON_BYTES:
        raise CorruptFileError(f"{what} is {len(data)} bytes; at most {MAX_JSON_BYTES} expected")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise CorruptFileError(f"{what} is not valid JSON: {_short(e)}") from None
    if not isinstance(doc, dict):
        raise CorruptFileError(f"{what} is not a JSON object")
    return doc


def check_format_version(doc: Mapping[str, Any], what: str, current: int) -> int:
    """The document's ``format_version`` (missing: 1, the version before it was written).

    Raises:
        UnsupportedVersionError: Written by a newer format version than ``current``.
        CorruptFileError: Not a positive integer.
    """
    v = doc.get("format_version", 1)
    if not is_int(v) or v < 1:
        raise CorruptFileError(f"{what}: format_version must be a positive integer, not {v!r}")
    if v > current:
        raise UnsupportedVersionError(
            f"{what} was written with format version {v}; this lamina reads format "
            f"version {current} at most: upgrade lamina"
        )
    return int(v)


def is_int(v: Any) -> bool:
    """True for an int that is not a bool (JSON ``true`` must not pass as 1)."""
    return isinstance(v, int) and not isinstance(v, bool)


def get_int(doc: Mapping[str, Any], key: str, what: str, lo: int = 0, hi: int = MAX_INT) -> int:
    if key not in doc:
        raise CorruptFileError(f"{what} has no {key!r}")
    v = doc[key]
    if not is_int(v) or not lo <= v <= hi:
        raise CorruptFileError(
            f"{what}: {key!r} must be an integer in [{lo}, {hi}], not {brief(v)}"
        )
    return int(v)


def get_str(doc: Mapping[str, Any], key: str, what: str) -> str:
    if key not in doc:
        raise CorruptFileError(f"{what} has no {key!r}")
    v = doc[key]
    if not isinstance(v, str):
        raise CorruptFileError(f"{what}: {key!r} must be a string, not {brief(v)}")
    return v


def get_list(doc: Mapping[str, Any], key: str, what: str, max_len: int) -> list[Any]:
    if key not in doc:
        raise CorruptFileError(f"{what} has no {key!r}")
    v = doc[key]
    if not isinstance(v, list) or len(v) > max_len:
        raise CorruptFileError(f"{what}: {key!r} must be a list of at most {max_len} items")
    return v


def get_str_list(doc: Mapping[str, Any], key: str, what: str, max_len: int) -> list[str]:
    v = get_list(doc, key, what, max_len)
    for s in v:
        if not isinstance(s, str):
            raise CorruptFileError(f"{what}: {key!r} must hold strings, not {brief(s)}")
    return v


def check_plain(v: Any, what: str, depth: int = 8) -> None:
    """``v`` is JSON made of scalars, lists and string-keyed objects, at most ``depth``
    levels deep, so later code may walk it recursively without hitting the limit."""
    stack = [(v, 0)]
    while stack:
        x, d = stack.pop()
        if x is None or isinstance(x, (bool, int, float, str)):
            continue
        if d >= depth:
            raise CorruptFileError(f"{what} is nested more than {depth} levels deep")
        if isinstance(x, list):
            stack.extend((y, d + 1) for y in x)
        elif isinstance(x, dict):
            stack.extend((y, d + 1) for y in x.values())
        else:  # pragma: no cover - json.loads produces nothing else
            raise CorruptFileError(f"{what} holds a {type(x).__name__}")


def check_name(name: Any, what: str) -> str:
    """A bare file name (of a manifest or tag): nothing may point outside its folder."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or not name.isprintable()
        or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
    ):
        raise CorruptFileError(f"{what} names an invalid file {brief(name)}")
    return name


def check_relative_path(path: Any, what: str = "manifest") -> str:
    """A data file path as the writer makes it: ``data/<k=v>/.../bucket-<b>/<name>.lam``,
    relative, with no empty, ``.`` or ``..`` part, no backslash, NUL or control byte."""
    if not isinstance(path, str):
        raise CorruptFileError(f"{what} names a file by a {type(path).__name__}")
    parts = path.split("/")
    if (
        len(parts) < 2
        or parts[0] != "data"
        or not path.endswith(".lam")
        or "\\" in path
        or not path.isprintable()
        or len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES
        or any(
            p in ("", ".", "..") or len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
            for p in parts
        )
    ):
        raise CorruptFileError(f"{what} names a file outside the table's data folder: {path!r}")
    return path


# The same rules as check_relative_path, for a whole column at once (RE2 syntax).
_PATH_OK = r"^data(/[^/\\\x00-\x1f\x7f]{1,255})+$"
_PATH_BAD_PART = r"(^|/)\.\.?(/|$)"


def check_relative_paths(paths: pa.Array | pa.ChunkedArray, what: str = "manifest") -> None:
    """``check_relative_path`` for every string of ``paths`` (vectorised).

    An empty column passes: a manifest folded while the table had no live file is empty.
    """
    import pyarrow.compute as pc

    ok = pc.and_(
        pc.and_(
            pc.match_substring_regex(paths, _PATH_OK),
            pc.invert(pc.match_substring_regex(paths, _PATH_BAD_PART)),
        ),
        pc.and_(
            pc.ends_with(paths, ".lam"), pc.less_equal(pc.binary_length(paths), MAX_PATH_BYTES)
        ),
    )
    if not pc.all(ok, min_count=0).as_py():
        bad = paths.filter(pc.invert(ok))[0].as_py()
        raise CorruptFileError(f"{what} names a file outside the table's data folder: {bad!r}")


class Containment:
    """Checks that files resolve inside one table folder, through symbolic links too.

    A folder's resolved path is cached (partitions and buckets are few), and so is each
    file that passed, so planning over many files costs one ``lstat`` per new file. A
    link planted after a file passed is not noticed by this object; the checks guard
    against hostile tables, not against a concurrent attacker on the same machine.

    Every ``stat``, ``lstat``, ``realpath`` and link test goes through ``io`` (default:
    a new ``lamina.io.FileIO``), the table's file layer.
    """

    def __init__(self, root: str, io: FileIO | None = None) -> None:
        self._io = io if io is not None else FileIO()
        self._root = root
        self._real_root: str | None = None
        self._dirs: dict[str, bool] = {}
        self._files: set[str] = set()

    def _inside(self, real: str) -> bool:
        if self._real_root is None:
            self._real_root = self._io.realpath(self._root)
        root = self._real_root
        return real == root or real.startswith(root.rstrip(os.sep) + os.sep)

    def check(self, path: str, what: str, max_size: int | None = None) -> None:
        """Raises CorruptFileError if ``path`` (under the root) resolves outside the
        root, is not a regular file, or is larger than ``max_size``. A missing file
        passes: whoever reads it gets FileNotFoundError."""
        if path in self._files:
            return
        d = os.path.dirname(path)
        ok = self._dirs.get(d)
        if ok is None:
            ok = self._dirs[d] = self._inside(self._io.realpath(d))
        if not ok:
            raise CorruptFileError(
                f"{what} {path!r} lies outside the table folder (a symbolic link leads out)"
            )
        try:
            st = self._io.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                if not self._inside(self._io.realpath(path)):
                    raise CorruptFileError(
                        f"{what} {path!r} is a symbolic link that leads out of the table folder"
                    )
                st = self._io.stat(path)
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENAMETOOLONG):
                raise CorruptFileError(
                    f"{what} {path!r} cannot be resolved: {e.strerror}"
                ) from None
            raise
        if not stat.S_ISREG(st.st_mode):
            raise CorruptFileError(f"{what} {path!r} is not a regular file")
        if max_size is not None and st.st_size > max_size:
            raise CorruptFileError(
                f"{what} {path!r} is {st.st_size} bytes; at most {max_size} expected"
            )
        if max_size is None:
            self._files.add(path)

    def check_dir(self, path: str) -> bool:
        """False if the folder ``path`` resolves outside the root (or is a link)."""
        return not self._io.is_link(path) and self._inside(self._io.realpath(path))


def _short(e: BaseException) -> str:
    s = str(e)
    return s if len(s) <= 200 else s[:200] + "..."


def brief(v: Any) -> str:
    """A bounded repr: a planted megabyte string must not end up in an error message."""
    try:
        s = repr(v)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        return f"<{type(v).__name__}>"
    return s if len(s) <= 80 else s[:80] + "..."
