"""Snapshots, manifests and the optimistic commit protocol.

A snapshot file ``snapshot/snapshot-<id>.json`` names the manifests that make up the
table at that point. Creating it is the commit: it is created only if absent, so two
writers can never both create snapshot N; the loser re-reads and retries as N + 1.
Manifests are lamina files with one row per file entry (ADD or DELETE).

Commit order is sequence order: every file committed by snapshot N gets the priority
``N << 20 | i`` (i = its position in the commit), so between two versions of a key the
one committed later always wins, however the writers interleaved.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lamina import format as lformat
from lamina import metadata as md
from lamina.errors import (
    CommitConflictError,
    CorruptFileError,
    SnapshotExpiredError,
    UnsupportedVersionError,
)
from lamina.io import FileIO

ADD = 0
DELETE = 1
PRIORITY_SHIFT = 20
MAX_FILES_PER_COMMIT = 1 << PRIORITY_SHIFT

# Format versions this lamina writes and reads (a missing field means version 1).
SNAPSHOT_FORMAT_VERSION = 1
MANIFEST_FORMAT_VERSION = 1
TAG_FORMAT_VERSION = 1
MANIFEST_VERSION_KEY = "lamina.manifest.format_version"

SNAPSHOT_KINDS = frozenset({"append", "delete", "compact", "overwrite", "schema"})
# Priorities (id << PRIORITY_SHIFT | i) must stay below 2**63.
MAX_SNAPSHOT_ID = (1 << (63 - PRIORITY_SHIFT)) - 1
MAX_SCHEMA_ID = (1 << 31) - 1
MAX_MANIFESTS = 1 << 16  # commits merge manifests past manifest.merge_min_count
MAX_BUCKETS = 1 << 16
MAX_TAG_BYTES = 1 << 16
LATEST_RETRIES = 10  # attempts to load the newest snapshot while others expire them
_SNAPSHOT_NAME = re.compile(r"snapshot-([1-9][0-9]{0,18})\.json")

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


@dataclass(frozen=True)
class DataFile:
    """A data file of the table: one sorted run of one (partition, bucket)."""

    path: str  # relative to the table root
    partition: tuple[tuple[str, Any], ...]
    bucket: int
    file_size: int
    row_count: int
    delete_count: int
    min_key: bytes
    max_key: bytes
    level: int = 0
    priority: int = 0
    schema_id: int = 0
    snapshot_id: int = 0
    run: int = 0  # files of one commit with the same (level, run) form one sorted run

    @property
    def partition_dict(self) -> dict[str, Any]:
        return dict(self.partition)


@dataclass(frozen=True)
class Snapshot:
    """One committed version of a table."""

    id: int
    parent_id: int | None
    schema_id: int
    timestamp_ms: int
    kind: str
    manifests: tuple[str, ...]
    delta_manifests: tuple[str, ...]
    record_count: int
    commit_user: str
    summary: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        doc = {
            "format_version": SNAPSHOT_FORMAT_VERSION,
            "id": self.id,
            "parent_id": self.parent_id,
            "schema_id": self.schema_id,
            "timestamp_ms": self.timestamp_ms,
            "kind": self.kind,
            "manifests": list(self.manifests),
            "delta_manifests": list(self.delta_manifests),
            "record_count": self.record_count,
            "commit_user": self.commit_user,
            "summary": self.summary,
        }
        return json.dumps(doc, indent=2, sort_keys=True).encode()

    @staticmethod
    def from_json(data: bytes, what: str = "snapshot file") -> Snapshot:
        """Parses and checks a snapshot file.

        Raises:
            CorruptFileError: Not a valid snapshot (bad JSON, a missing field, a wrong
                type, a value out of range, a manifest name that is not a bare name).
            UnsupportedVersionError: Written by a newer format version.
        """
        doc = md.parse_json(data, what)
        md.check_format_version(doc, what, SNAPSHOT_FORMAT_VERSION)
        sid = md.get_int(doc, "id", what, 1, MAX_SNAPSHOT_ID)
        parent = doc.get("parent_id")
        if parent is not None and not (md.is_int(parent) and 1 <= parent < sid):
            raise CorruptFileError(f"{what}: parent_id must be null or in [1, {sid - 1}]")
        kind = md.get_str(doc, "kind", what)
        if kind not in SNAPSHOT_KINDS:
            raise CorruptFileError(f"{what}: unknown kind {kind[:40]!r}")
        manifests = md.get_str_list(doc, "manifests", what, MAX_MANIFESTS)
        for name in manifests:
            md.check_name(name, what)
        delta = md.get_str_list(doc, "delta_manifests", what, MAX_MANIFESTS)
        if not set(delta) <= set(manifests):
            raise CorruptFileError(f"{what}: a delta manifest is not one of its manifests")
        summary = doc.get("summary", {})
        if not isinstance(summary, dict):
            raise CorruptFileError(f"{what}: summary must be an object")
        md.check_plain(summary, f"{what} summary")
        return Snapshot(
            id=sid,
            parent_id=None if parent is None else int(parent),
            schema_id=md.get_int(doc, "schema_id", what, 0, MAX_SCHEMA_ID),
            timestamp_ms=md.get_int(doc, "timestamp_ms", what),
            kind=kind,
            manifests=tuple(manifests),
            delta_manifests=tuple(delta),
            record_count=md.get_int(doc, "record_count", what),
            commit_user=md.get_str(doc, "commit_user", what),
            summary=summary,
        )


def check_relative_path(path: str) -> None:
    """Data file paths stay inside the table's ``data/`` folder."""
    md.check_relative_path(path)


# Manifests are immutable once written, so a checked manifest is shared by every table
# object of this process that opens the same file (same path and the same identity from
# stat: a file replaced in place is read and checked again). Opening a table and planning
# a scan no longer re-reads and re-validates every manifest; callers never mutate the
# shared lists. Bounded by entry count (a manifest holds at most a few MB of entries).
_SHARED_MANIFESTS: OrderedDict[tuple[str, int, int, int, int], tuple[list[int], list[DataFile]]] = (
    OrderedDict()
)
_SHARED_MANIFESTS_MAX = 256


def _file_identity(path: str) -> tuple[str, int, int, int, int]:
    st = os.stat(path)
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class SnapshotStore:
    """Reads and creates the snapshot, manifest and tag files of one table.

    Everything it reads is checked (see ``lamina.metadata``): a malformed file raises
    CorruptFileError, a newer format version UnsupportedVersionError, and no file or
    data file path may lead out of the table folder.
    """

    def __init__(self, root: str, io: FileIO) -> None:
        self.root = root
        self.io = io
        self.snapshot_dir = os.path.join(root, "snapshot")
        self.manifest_dir = os.path.join(root, "manifest")
        self.tag_dir = os.path.join(root, "tag")
        self.containment = md.Containment(root)
        self._cache: dict[int, Snapshot] = {}
        self._manifest_cache: dict[str, list[DataFile]] = {}
        self._manifest_kinds: dict[str, list[int]] = {}

    def read_metadata(self, path: str, what: str, max_size: int = md.MAX_JSON_BYTES) -> bytes:
        """The bytes of a metadata file under the root, after the containment checks.

        Raises:
            FileNotFoundError: The file does not exist.
            CorruptFileError: It leads out of the table, is no regular file or too big.
        """
        self.containment.check(path, what, max_size)
        data = self.io.read_bytes(path)
        if len(data) > max_size:  # grew after the check
            raise CorruptFileError(f"{what} is {len(data)} bytes; at most {max_size} expected")
        return data

    # ---- snapshots ------------------------------------------------------------------

    def snapshot_path(self, sid: int) -> str:
        return os.path.join(self.snapshot_dir, f"snapshot-{sid}.json")

    def load(self, sid: int) -> Snapshot:
        """Snapshot ``sid``; KeyError if its file does not exist."""
        if sid in self._cache:
            return self._cache[sid]
        what = f"snapshot-{sid}.json"
        try:
            data = self.read_metadata(self.snapshot_path(sid), what)
        except FileNotFoundError:
            raise KeyError(sid) from None
        snap = Snapshot.from_json(data, what)
        if snap.id != sid:
            raise CorruptFileError(f"{what} holds snapshot {snap.id}")
        self._cache[sid] = snap
        return snap

    def ids(self) -> list[int]:
        """Ids of the snapshot files present (only canonical ``snapshot-<id>.json``)."""
        out = []
        for name in self.io.listdir(self.snapshot_dir):
            m = _SNAPSHOT_NAME.fullmatch(name)
            if m is not None and int(m.group(1)) <= MAX_SNAPSHOT_ID:
                out.append(int(m.group(1)))
        return sorted(out)

    def latest_id(self) -> int | None:
        """The newest snapshot id: LATEST is a hint, verified by probing the next ids."""
        hint = None
        path = os.path.join(self.snapshot_dir, "LATEST")
        try:
            text = self.read_metadata(path, "LATEST", 64).decode("ascii").strip()
            if text.isdigit() and 1 <= int(text) <= MAX_SNAPSHOT_ID:
                hint = int(text)
        except (FileNotFoundError, CorruptFileError, UnicodeDecodeError):
            pass  # only a hint: list the folder instead
        if hint is None or not self.io.exists(self.snapshot_path(hint)):
            ids = self.ids()
            return ids[-1] if ids else None
        sid = hint
        while sid < MAX_SNAPSHOT_ID and self.io.exists(self.snapshot_path(sid + 1)):
            sid += 1
        return sid

    def latest(self) -> Snapshot | None:
        """The newest snapshot (None for a table without one).

        The newest id listed may be expired before it is loaded when a newer snapshot
        exists (expiration keeps the newest): then look again, a bounded number of times.
        """
        for _ in range(LATEST_RETRIES):
            sid = self.latest_id()
            if sid is None:
                return None
            try:
                return self.load(sid)
            except KeyError:
                continue
        raise SnapshotExpiredError(
            f"the latest snapshot was expired {LATEST_RETRIES} times in a row before it "
            "could be loaded"
        )

    # ---- manifests ------------------------------------------------------------------

    def write_manifest(self, entries: Sequence[tuple[int, DataFile]], name: str = "") -> str:
        """Writes a new manifest (named ``name``, default a fresh one); returns its name."""
        name = name or self.new_manifest_name()
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
        path = os.path.join(self.manifest_dir, name)
        lformat.write_file(
            path,
            table,
            sync=self.io.sync,
            metadata={MANIFEST_VERSION_KEY: str(MANIFEST_FORMAT_VERSION).encode()},
        )
        self.io.fsync_dir(self.manifest_dir)
        return name

    @staticmethod
    def new_manifest_name() -> str:
        return f"manifest-{uuid.uuid4().hex}.lam"

    def read_manifest(self, name: str) -> tuple[list[int], list[DataFile]]:
        """The (kinds, files) of one manifest, checked entry by entry.

        Raises:
            FileNotFoundError: The manifest does not exist.
            CorruptFileError: It is malformed or names a file outside the table.
            UnsupportedVersionError: Written by a newer manifest format version.
        """
        if name not in self._manifest_cache:
            what = f"manifest {md.check_name(name, 'snapshot')}"
            path = os.path.join(self.manifest_dir, name)
            self.containment.check(path, what)
            identity = _file_identity(path)
            hit = _SHARED_MANIFESTS.get(identity)
            if hit is not None:
                _SHARED_MANIFESTS.move_to_end(identity)
                self._manifest_kinds[name], self._manifest_cache[name] = hit
                return hit
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
            parsed: dict[str, tuple[tuple[str, Any], ...]] = {}
            for text in d["partition"]:
                if text not in parsed:
                    parsed[text] = _parse_partition(text, what)
            partitions = d["partition"]
            files = []
            for i in range(table.num_rows):
                files.append(
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
                )
            self._manifest_kinds[name] = list(d["kind"])
            self._manifest_cache[name] = files
            _SHARED_MANIFESTS[identity] = (self._manifest_kinds[name], files)
            while len(_SHARED_MANIFESTS) > _SHARED_MANIFESTS_MAX:
                _SHARED_MANIFESTS.popitem(last=False)
        return self._manifest_kinds[name], self._manifest_cache[name]

    def live_files(self, snap: Snapshot) -> list[DataFile]:
        """The data files of a snapshot: every ADD not later DELETEd, in commit order.

        Raises CorruptFileError if a manifest lists a file committed after ``snap`` or
        a file that resolves outside the table folder (checked here, before anything
        reads, compacts or deletes it).
        """
        live: dict[str, DataFile] = {}
        for name in snap.manifests:
            kinds, files = self.read_manifest(name)
            for kind, f in zip(kinds, files):
                if f.snapshot_id > snap.id:
                    raise CorruptFileError(
                        f"manifest {name} of snapshot {snap.id} lists {f.path!r} as committed "
                        f"by the later snapshot {f.snapshot_id}"
                    )
                if kind == ADD:
                    live[f.path] = f
                else:
                    live.pop(f.path, None)
        for f in live.values():
            self.containment.check(os.path.join(self.root, f.path), "data file")
        return sorted(live.values(), key=lambda f: f.priority)

    # ---- commit ---------------------------------------------------------------------

    def commit(
        self,
        *,
        kind: str,
        schema_id: int,
        adds: Sequence[DataFile],
        deletes: Sequence[DataFile] = (),
        commit_user: str,
        summary: dict[str, Any],
        max_retries: int,
        check: Any | None = None,
        merge_min_count: int = 30,
        inflight: Any | None = None,
    ) -> Snapshot:
        """Commits ``adds``/``deletes`` as a new snapshot, retrying on conflicts.

        ``check(parent_snapshot)`` may raise to abandon the commit (e.g. a compaction whose
        inputs another commit removed). Raises CommitConflictError when retries run out.

        The new files are announced in flight (``lamina._inflight``; ``inflight``: the
        caller's ``Announcement``, which then stays the caller's to release) so that
        ``remove_orphan_files`` leaves them alone, and the snapshot is linked only after
        checking that they all still exist: a commit never references a deleted file.
        Raises StorageError (ENOENT) if a file of ``adds`` was deleted before the link.
        """
        import errno

        from lamina import _inflight
        from lamina._retry import is_missing_file
        from lamina.errors import StorageError

        if len(adds) >= MAX_FILES_PER_COMMIT:
            raise CommitConflictError("too many files in one commit")

        def parent_gone(parent: Snapshot | None) -> bool:
            return parent is not None and not self.io.exists(self.snapshot_path(parent.id))

        announcement = inflight if inflight is not None else _inflight.Announcement(self.root)
        try:
            announcement.add(f.path for f in adds)
            for attempt in range(max_retries):
                try:
                    parent = self.latest()
                except KeyError:
                    continue  # the newest id listed was expired meanwhile: a newer exists
                sid = 1 if parent is None else parent.id + 1
                try:
                    if check is not None:
                        check(parent)
                except OSError as e:
                    if is_missing_file(e) and parent_gone(parent):
                        continue  # the parent was superseded and expired: start again
                    raise
                entries: list[tuple[int, DataFile]] = [
                    (ADD, replace(f, priority=(sid << PRIORITY_SHIFT) | i, snapshot_id=sid))
                    for i, f in enumerate(adds)
                ]
                entries += [(DELETE, f) for f in deletes]
                # Manifests are announced before they are written (lamina._inflight).
                manifest = self.new_manifest_name()
                announcement.add([f"manifest/{manifest}"])
                self.write_manifest(entries, manifest)
                written = [manifest]
                base = parent.manifests if parent is not None else ()
                if parent is not None and len(base) + 1 > merge_min_count:
                    # Keep planning bounded: fold the parent's manifests into one that
                    # lists only its live files; this commit's own manifest is the delta.
                    merged = self.new_manifest_name()
                    announcement.add([f"manifest/{merged}"])
                    try:
                        self.write_manifest([(ADD, f) for f in self.live_files(parent)], merged)
                    except OSError as e:
                        self.io.remove(os.path.join(self.manifest_dir, manifest))
                        if is_missing_file(e) and parent_gone(parent):
                            continue
                        raise
                    written.append(merged)
                    base = (merged,)
                record_delta = sum(f.row_count for f in adds) - sum(f.row_count for f in deletes)
                snap = Snapshot(
                    id=sid,
                    parent_id=None if parent is None else parent.id,
                    schema_id=schema_id,
                    timestamp_ms=int(time.time() * 1000),
                    kind=kind,
                    manifests=(*base, manifest),
                    delta_manifests=(manifest,),
                    record_count=(parent.record_count if parent else 0) + record_delta,
                    commit_user=commit_user,
                    summary=summary,
                )
                # Wait out any cleaner mid-deletion, then make sure nothing this snapshot
                # adds was deleted (lamina._inflight, step W3).
                missing = announcement.missing(
                    [f.path for f in adds] + [f"manifest/{m}" for m in written]
                )
                linked = not missing and self.io.write_new(self.snapshot_path(sid), snap.to_json())
                if linked:
                    self._cache[sid] = snap
                    try:
                        self.io.write_replace(
                            os.path.join(self.snapshot_dir, "LATEST"), str(sid).encode()
                        )
                    except OSError:
                        pass  # only a hint
                    return snap
                for m in written:
                    self.io.remove(os.path.join(self.manifest_dir, m))
                lost = [p for p in missing if not p.startswith("manifest/")]
                if lost:
                    raise StorageError(
                        errno.ENOENT,
                        f"commit failed: {len(lost)} file(s) it adds were deleted before it "
                        "was linked (remove_orphan_files with an older_than shorter than "
                        "this write took?); nothing was committed",
                        os.path.join(self.root, lost[0]),
                    )
                if not missing:  # lost the race for the id
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                # else: only this attempt's fresh manifests were removed: write them again
            raise CommitConflictError(
                f"could not commit after {max_retries} attempts: other writers kept "
                "winning; refresh and try again"
            )
        finally:
            if inflight is None:
                announcement.release()

    # ---- tags -----------------------------------------------------------------------

    def tag_path(self, name: str) -> str:
        return os.path.join(self.tag_dir, f"{name}.json")

    def tags(self) -> dict[str, int]:
        """Tag name -> snapshot id, from every ``tag/<name>.json``.

        Raises:
            CorruptFileError: A tag file is malformed or leads out of the table. A bad tag
                is never skipped: expiring snapshots relies on every tag being seen.
            UnsupportedVersionError: A tag written by a newer format version.
        """
        out = {}
        for fname in self.io.listdir(self.tag_dir):
            if not fname.endswith(".json") or fname.startswith("."):
                continue
            name = fname[: -len(".json")]
            what = f"tag file {fname!r}"
            try:
                data = self.read_metadata(os.path.join(self.tag_dir, fname), what, MAX_TAG_BYTES)
            except FileNotFoundError:
                continue  # removed since the listing
            doc = md.parse_json(data, what)
            md.check_format_version(doc, what, TAG_FORMAT_VERSION)
            if "name" in doc and doc["name"] != name:
                raise CorruptFileError(f"{what} names tag {md.brief(doc['name'])}")
            out[name] = md.get_int(doc, "snapshot_id", what, 1, MAX_SNAPSHOT_ID)
        return out


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


def files_by_bucket(
    files: Iterable[DataFile],
) -> dict[tuple[tuple[tuple[str, Any], ...], int], list[DataFile]]:
    out: dict[tuple[tuple[tuple[str, Any], ...], int], list[DataFile]] = {}
    for f in files:
        out.setdefault((f.partition, f.bucket), []).append(f)
    return out
