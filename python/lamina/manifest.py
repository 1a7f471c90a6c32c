"""Manifest files: the codec (write, read and check) and a process-wide cache of them.

A manifest is a lamina file (``lamina.format``) with one row per file entry::

    manifest   := lamina file, schema MANIFEST_SCHEMA, key-value metadata
                  {MANIFEST_VERSION_KEY: "<decimal version>"} (absent: version 1)
    row        := kind (ADD=0 | DELETE=1), partition, bucket, path, file_size, row_count,
                  delete_count, level, min_key, max_key, priority, schema_id,
                  snapshot_id, run
    partition  := JSON text [[column, value], ...], value an int, a string or null

For example, a commit of snapshot 3 adding one file of partition ``day=7`` holds the row
``(0, '[["day", 7]]', 0, "data/day=7/bucket-0/<uuid>.lam", 4096, 100, 0, 0, b"...",
b"...", 3 << 20 | 0, 0, 3, 1)``.

Everything read is checked: a malformed manifest raises CorruptFileError, one of a newer
format version UnsupportedVersionError. ``read_manifest`` does not check where a path
leads on disk (``SnapshotStore`` does, against the table folder).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lamina import format as lformat
from lamina import metadata as md
from lamina._models import (
    ADD,
    DELETE,
    MAX_SCHEMA_ID,
    MAX_SNAPSHOT_ID,
    PRIORITY_SHIFT,
    DataFile,
    Partition,
)
from lamina.errors import CorruptFileError, UnsupportedVersionError
from lamina.io import FileIO
from lamina.schema import MAX_BUCKETS

MANIFEST_FORMAT_VERSION = 1
MANIFEST_VERSION_KEY = "lamina.manifest.format_version"

_Identity = tuple[str, int, int, int, int]

MANIFEST_SCHEMA = pa.schema(
    [
        ("kind", pa.int8()),
        ("partition", pa.string()),
        ("bucket", pa.int32()),
        ("path", pa.string()),
        ("file_size", pa.int64()),
        ("row_count", pa.int64()),
        ("delete_count", pa.int64()),
        ("level", pa.int32()),
        ("min_key", pa.binary()),
        ("max_key", pa.binary()),
        ("priority", pa.uint64()),
        ("schema_id", pa.int64()),
        ("snapshot_id", pa.int64()),
        ("run", pa.int32()),
    ]
)


def new_manifest_name() -> str:
    return f"manifest-{uuid.uuid4().hex}.lam"


def write_manifest(path: str, entries: Sequence[tuple[int, DataFile]], *, sync: bool) -> None:
    """Writes the manifest ``path`` listing ``entries`` as (kind, file) pairs.

    Does not fsync the folder: the caller makes the new entry durable.
    """
    cols: dict[str, list[Any]] = {f.name: [] for f in MANIFEST_SCHEMA}
    for kind, f in entries:
        cols["kind"].append(kind)
        cols["partition"].append(json.dumps([list(p) for p in f.partition]))
        cols["bucket"].append(f.bucket)
        cols["path"].append(f.path)
        cols["file_size"].append(f.file_size)
        cols["row_count"].append(f.row_count)
        cols["delete_count"].append(f.delete_count)
        cols["level"].append(f.level)
        cols["min_key"].append(f.min_key)
        cols["max_key"].append(f.max_key)
        cols["priority"].append(f.priority)
        cols["schema_id"].append(f.schema_id)
        cols["snapshot_id"].append(f.snapshot_id)
        cols["run"].append(f.run)
    table = pa.Table.from_pydict(cols, schema=MANIFEST_SCHEMA)
    lformat.write_file(
        path,
        table,
        sync=sync,
        metadata={MANIFEST_VERSION_KEY: str(MANIFEST_FORMAT_VERSION).encode()},
    )


def read_manifest(
    path: str, what: str, io: FileIO | None = None
) -> tuple[list[int], list[DataFile]]:
    """The (kinds, files) of the manifest ``path``, checked entry by entry.

    ``io`` (default: a new ``lamina.io.FileIO``) stats the file for the cache; the core
    reads it.

    The lists are shared with every other caller that reads the same file: never
    mutate them.

    Raises:
        FileNotFoundError: The manifest does not exist.
        CorruptFileError: It is malformed.
        UnsupportedVersionError: Written by a newer manifest format version.
    """
    identity = _file_identity(path, io if io is not None else FileIO())
    hit = _SHARED.get(identity)
    if hit is not None:
        return hit
    out = _decode(path, what)
    _SHARED.put(identity, out)
    return out


def _decode(path: str, what: str) -> tuple[list[int], list[DataFile]]:
    reader = lformat.FileReader(path)
    _check_manifest_version(reader.metadata, what)
    if not reader.schema.equals(MANIFEST_SCHEMA):
        raise CorruptFileError(f"{what} has an unexpected schema")
    table = reader.read()
    _check_manifest_columns(table, what)
    md.check_relative_paths(table.column("path"), what)
    d = table.to_pydict()
    paths = d["path"]
    # Few distinct partitions: parse each text once.
    parsed: dict[str, Partition] = {}
    for text in d["partition"]:
        if text not in parsed:
            parsed[text] = _parse_partition(text, what)
    partitions = d["partition"]
    files = [
        DataFile(
            path=paths[i],
            partition=parsed[partitions[i]],
            bucket=d["bucket"][i],
            file_size=d["file_size"][i],
            row_count=d["row_count"][i],
            delete_count=d["delete_count"][i],
            min_key=d["min_key"][i],
            max_key=d["max_key"][i],
            level=d["level"][i],
            priority=d["priority"][i],
            schema_id=d["schema_id"][i],
            snapshot_id=d["snapshot_id"][i],
            run=d["run"][i],
        )
        for i in range(table.num_rows)
    ]
    return list(d["kind"]), files


def _file_identity(path: str, io: FileIO) -> _Identity:
    st = io.stat(path)
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class _SharedManifests:
    """Checked manifests, shared by every table object of this process.

    Manifests are immutable once written, so a manifest read once need not be read and
    checked again while the file keeps its identity (path, device, inode, size, mtime:
    a file replaced in place is read again). Bounded by entry count (a manifest holds at
    most a few MB of entries). Scans plan from several threads, hence the lock; a miss
    decodes outside it, so two threads may decode the same manifest once each.
    """

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[_Identity, tuple[list[int], list[DataFile]]] = OrderedDict()

    def get(self, identity: _Identity) -> tuple[list[int], list[DataFile]] | None:
        with self._lock:
            hit = self._entries.get(identity)
            if hit is not None:
                self._entries.move_to_end(identity)
            return hit

    def put(self, identity: _Identity, value: tuple[list[int], list[DataFile]]) -> None:
        with self._lock:
            self._entries[identity] = value
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


_SHARED = _SharedManifests(256)


def _check_manifest_version(meta: dict[str, bytes], what: str) -> None:
    raw = meta.get(MANIFEST_VERSION_KEY, b"1")
    if not (0 < len(raw) <= 9 and raw.isdigit()) or int(raw) < 1:
        raise CorruptFileError(f"{what}: bad format version {raw[:20]!r}")
    if int(raw) > MANIFEST_FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"{what} was written with format version {int(raw)}; this lamina reads format "
            f"version {MANIFEST_FORMAT_VERSION} at most: upgrade lamina"
        )


def _check_manifest_columns(table: pa.Table, what: str) -> None:
    """Vectorised range and consistency checks of a manifest's columns."""
    for name in table.column_names:
        if table.column(name).null_count:
            raise CorruptFileError(f"{what}: column {name!r} holds nulls")
    if table.num_rows == 0:
        return

    def bad(mask: Any) -> bool:
        return bool(pc.any(mask).as_py())

    col = table.column
    if bad(pc.invert(pc.is_in(col("kind"), value_set=pa.array([ADD, DELETE], pa.int8())))):
        raise CorruptFileError(f"{what}: an entry kind is neither ADD nor DELETE")
    for name in ("file_size", "row_count", "delete_count", "level", "schema_id", "run"):
        if bad(pc.less(col(name), 0)):
            raise CorruptFileError(f"{what}: a negative {name}")
    if bad(pc.less(col("bucket"), 0)) or bad(pc.greater_equal(col("bucket"), MAX_BUCKETS)):
        raise CorruptFileError(f"{what}: a bucket outside [0, {MAX_BUCKETS})")
    if bad(pc.greater(col("delete_count"), col("row_count"))):
        raise CorruptFileError(f"{what}: an entry with more deletes than rows")
    if bad(pc.greater(col("schema_id"), MAX_SCHEMA_ID)):
        raise CorruptFileError(f"{what}: a schema id out of range")
    sid = col("snapshot_id")
    if bad(pc.less(sid, 1)) or bad(pc.greater(sid, MAX_SNAPSHOT_ID)):
        raise CorruptFileError(f"{what}: a snapshot id out of range")
    # A file's priority is (committing snapshot << PRIORITY_SHIFT) | position.
    prio_sid = pc.shift_right(col("priority"), pa.scalar(PRIORITY_SHIFT, pa.uint64()))
    if bad(pc.not_equal(prio_sid, pc.cast(sid, pa.uint64()))):
        raise CorruptFileError(f"{what}: a priority that does not match its snapshot id")
    if bad(pc.greater(col("min_key"), col("max_key"))):
        raise CorruptFileError(f"{what}: an entry whose min key exceeds its max key")


def _parse_partition(text: str, what: str) -> tuple[tuple[str, Any], ...]:
    """``[[column, value], ...]`` with string columns and int/string/null values."""
    if len(text) > md.MAX_PATH_BYTES * 4:
        raise CorruptFileError(f"{what}: a partition value is too long")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise CorruptFileError(f"{what}: a partition is not valid JSON") from None
    if not isinstance(doc, list):
        raise CorruptFileError(f"{what}: a partition is not a list")
    out = []
    for pair in doc:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not (pair[1] is None or isinstance(pair[1], str) or md.is_int(pair[1]))
        ):
            raise CorruptFileError(f"{what}: a partition entry is not [column, value]")
        out.append((pair[0], pair[1]))
    return tuple(out)
