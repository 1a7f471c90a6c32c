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
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from lamina import format as lformat
from lamina.errors import CommitConflictError, CorruptFileError
from lamina.io import FileIO

ADD = 0
DELETE = 1
PRIORITY_SHIFT = 20
MAX_FILES_PER_COMMIT = 1 << PRIORITY_SHIFT

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
            "format_version": 1,
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
    def from_json(data: bytes) -> Snapshot:
        try:
            doc = json.loads(data)
            if doc.get("format_version", 1) > 1:
                raise CorruptFileError(
                    f"snapshot written by a newer lamina (format_version "
                    f"{doc['format_version']}); upgrade lamina"
                )
            for name in doc["manifests"]:
                _check_name(name)
            return Snapshot(
                id=int(doc["id"]),
                parent_id=None if doc["parent_id"] is None else int(doc["parent_id"]),
                schema_id=int(doc["schema_id"]),
                timestamp_ms=int(doc["timestamp_ms"]),
                kind=str(doc["kind"]),
                manifests=tuple(doc["manifests"]),
                delta_manifests=tuple(doc["delta_manifests"]),
                record_count=int(doc["record_count"]),
                commit_user=str(doc["commit_user"]),
                summary=dict(doc.get("summary", {})),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptFileError(f"malformed snapshot file: {e}") from None


def _check_name(name: str) -> None:
    """Manifest names are bare file names: nothing may point outside the table."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise CorruptFileError(f"snapshot names an invalid manifest {name!r}")


def check_relative_path(path: str) -> None:
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise CorruptFileError(f"manifest names a file outside the table: {path!r}")


class SnapshotStore:
    """Reads and creates the snapshot, manifest and tag files of one table."""

    def __init__(self, root: str, io: FileIO) -> None:
        self.root = root
        self.io = io
        self.snapshot_dir = os.path.join(root, "snapshot")
        self.manifest_dir = os.path.join(root, "manifest")
        self.tag_dir = os.path.join(root, "tag")
        self._cache: dict[int, Snapshot] = {}
        self._manifest_cache: dict[str, list[DataFile]] = {}
        self._manifest_kinds: dict[str, list[int]] = {}

    # ---- snapshots ------------------------------------------------------------------

    def snapshot_path(self, sid: int) -> str:
        return os.path.join(self.snapshot_dir, f"snapshot-{sid}.json")

    def load(self, sid: int) -> Snapshot:
        if sid in self._cache:
            return self._cache[sid]
        try:
            data = self.io.read_bytes(self.snapshot_path(sid))
        except FileNotFoundError:
            raise KeyError(sid) from None
        snap = Snapshot.from_json(data)
        if snap.id != sid:
            raise CorruptFileError(f"snapshot-{sid}.json holds snapshot {snap.id}")
        self._cache[sid] = snap
        return snap

    def ids(self) -> list[int]:
        out = []
        for name in self.io.listdir(self.snapshot_dir):
            if name.startswith("snapshot-") and name.endswith(".json"):
                try:
                    out.append(int(name[len("snapshot-") : -len(".json")]))
                except ValueError:
                    continue
        return sorted(out)

    def latest_id(self) -> int | None:
        """The newest snapshot id: LATEST is a hint, verified by probing the next ids."""
        hint = None
        try:
            hint = int(self.io.read_bytes(os.path.join(self.snapshot_dir, "LATEST")).decode())
        except (FileNotFoundError, ValueError):
            pass
        if hint is None or not self.io.exists(self.snapshot_path(hint)):
            ids = self.ids()
            return ids[-1] if ids else None
        sid = hint
        while self.io.exists(self.snapshot_path(sid + 1)):
            sid += 1
        return sid

    def latest(self) -> Snapshot | None:
        sid = self.latest_id()
        return None if sid is None else self.load(sid)

    # ---- manifests ------------------------------------------------------------------

    def write_manifest(self, entries: Sequence[tuple[int, DataFile]]) -> str:
        name = f"manifest-{uuid.uuid4().hex}.lam"
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
        table = pa.table(cols, schema=MANIFEST_SCHEMA)
        path = os.path.join(self.manifest_dir, name)
        lformat.write_file(path, table, sync=self.io.sync)
        return name

    def read_manifest(self, name: str) -> tuple[list[int], list[DataFile]]:
        if name not in self._manifest_cache:
            _check_name(name)
            table = lformat.read_file(os.path.join(self.manifest_dir, name))
            if not table.schema.equals(MANIFEST_SCHEMA):
                raise CorruptFileError(f"manifest {name} has an unexpected schema")
            d = table.to_pydict()
            files = []
            for i in range(table.num_rows):
                check_relative_path(d["path"][i])
                files.append(
                    DataFile(
                        path=d["path"][i],
                        partition=tuple((k, v) for k, v in json.loads(d["partition"][i])),
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
        return self._manifest_kinds[name], self._manifest_cache[name]

    def live_files(self, snap: Snapshot) -> list[DataFile]:
        """The data files of a snapshot: every ADD not later DELETEd, in commit order."""
        live: dict[str, DataFile] = {}
        for name in snap.manifests:
            kinds, files = self.read_manifest(name)
            for kind, f in zip(kinds, files):
                if kind == ADD:
                    live[f.path] = f
                else:
                    live.pop(f.path, None)
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
    ) -> Snapshot:
        """Commits ``adds``/``deletes`` as a new snapshot, retrying on conflicts.

        ``check(parent_snapshot)`` may raise to abandon the commit (e.g. a compaction whose
        inputs another commit removed). Raises CommitConflictError when retries run out.
        """
        if len(adds) >= MAX_FILES_PER_COMMIT:
            raise CommitConflictError("too many files in one commit")
        for attempt in range(max_retries):
            parent = self.latest()
            sid = 1 if parent is None else parent.id + 1
            if check is not None:
                check(parent)
            entries: list[tuple[int, DataFile]] = [
                (ADD, replace(f, priority=(sid << PRIORITY_SHIFT) | i, snapshot_id=sid))
                for i, f in enumerate(adds)
            ]
            entries += [(DELETE, f) for f in deletes]
            manifest = self.write_manifest(entries)
            base = parent.manifests if parent is not None else ()
            merged = None
            if parent is not None and len(base) + 1 > merge_min_count:
                # Keep planning bounded: fold the parent's manifests into one that lists
                # only its live files; this commit's own manifest stays the delta.
                merged = self.write_manifest([(ADD, f) for f in self.live_files(parent)])
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
            if self.io.write_new(self.snapshot_path(sid), snap.to_json()):
                self._cache[sid] = snap
                try:
                    self.io.write_replace(
                        os.path.join(self.snapshot_dir, "LATEST"), str(sid).encode()
                    )
                except OSError:
                    pass  # only a hint
                return snap
            self.io.remove(os.path.join(self.manifest_dir, manifest))
            if merged is not None:
                self.io.remove(os.path.join(self.manifest_dir, merged))
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise CommitConflictError(
            f"could not commit after {max_retries} attempts: other writers kept winning; "
            "refresh and try again"
        )

    # ---- tags -----------------------------------------------------------------------

    def tag_path(self, name: str) -> str:
        return os.path.join(self.tag_dir, f"{name}.json")

    def tags(self) -> dict[str, int]:
        out = {}
        for fname in self.io.listdir(self.tag_dir):
            if fname.endswith(".json") and not fname.startswith("."):
                doc = json.loads(self.io.read_bytes(os.path.join(self.tag_dir, fname)))
                out[fname[: -len(".json")]] = int(doc["snapshot_id"])
        return out


def files_by_bucket(
    files: Iterable[DataFile],
) -> dict[tuple[tuple[tuple[str, Any], ...], int], list[DataFile]]:
    out: dict[tuple[tuple[tuple[str, Any], ...], int], list[DataFile]] = {}
    for f in files:
        out.setdefault((f.partition, f.bucket), []).append(f)
    return out
