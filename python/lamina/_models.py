"""The snapshot and data-file models: what a snapshot file holds, what a manifest lists.

Frozen, typed values; reading and writing them is elsewhere (``lamina.manifest`` for
manifests, ``lamina.snapshot`` for snapshot files and the commit protocol). A snapshot
file is the JSON of ``Snapshot.to_json``; ``Snapshot.from_json`` checks one.

Commit order is sequence order: every file committed by snapshot N gets the priority
``N << PRIORITY_SHIFT | i`` (i = its position in the commit), so between two versions of
a key the one committed later always wins, however the writers interleaved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lamina import metadata as md
from lamina.errors import CorruptFileError

ADD = 0
DELETE = 1
PRIORITY_SHIFT = 20
MAX_FILES_PER_COMMIT = 1 << PRIORITY_SHIFT

# Format versions this lamina writes and reads (a missing field means version 1).
SNAPSHOT_FORMAT_VERSION = 1
TAG_FORMAT_VERSION = 1

SNAPSHOT_KINDS = frozenset({"append", "delete", "compact", "overwrite", "schema"})
# Priorities (id << PRIORITY_SHIFT | i) must stay below 2**63.
MAX_SNAPSHOT_ID = (1 << (63 - PRIORITY_SHIFT)) - 1
MAX_SCHEMA_ID = (1 << 31) - 1
MAX_MANIFESTS = 1 << 16  # commits merge manifests past manifest.merge_min_count

CHANGELOG_DIR = "changelog"  # the folder of changelog files, under the table root

Partition = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class DataFile:
    """A data file of the table: one sorted run of one (partition, bucket)."""

    path: str  # relative to the table root
    partition: Partition
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
    # The changelog files (relative paths under changelog/) holding this snapshot's
    # changes of the merged table, written at commit time (option changelog.producer);
    # None: none was written (changes are computed by lookups), (): it changed nothing.
    changelog: tuple[str, ...] | None = None

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
        if self.changelog is not None:
            doc["changelog"] = list(self.changelog)
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
        changelog = None
        if doc.get("changelog") is not None:
            changelog = md.get_str_list(doc, "changelog", what, MAX_FILES_PER_COMMIT)
            for path in changelog:
                head, _, name = path.partition("/")
                if head != CHANGELOG_DIR:
                    raise CorruptFileError(
                        f"{what}: changelog file {path[:80]!r} is not in changelog/"
                    )
                md.check_name(name, what)
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
            changelog=None if changelog is None else tuple(changelog),
        )


def files_by_bucket(
    files: Iterable[DataFile],
) -> dict[tuple[Partition, int], list[DataFile]]:
    """The files grouped by (partition, bucket), each group in the order given."""
    out: dict[tuple[Partition, int], list[DataFile]] = {}
    for f in files:
        out.setdefault((f.partition, f.bucket), []).append(f)
    return out
