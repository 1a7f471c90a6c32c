"""The snapshot store of one table and the optimistic commit protocol.

A snapshot file ``snapshot/snapshot-<id>.json`` names the manifests that make up the
table at that point. Creating it is the commit: it is created only if absent, so two
writers can never both create snapshot N; the loser re-reads and retries as N + 1.
Manifests (``lamina.manifest``) are lamina files with one row per file entry (ADD or
DELETE); the models are in ``lamina._models`` and re-exported here.
"""

from __future__ import annotations

import errno
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Literal, NamedTuple

from lamina import _inflight
from lamina import metadata as md
from lamina._models import (
    ADD,
    DELETE,
    MAX_FILES_PER_COMMIT,
    MAX_MANIFESTS,
    MAX_SCHEMA_ID,
    MAX_SNAPSHOT_ID,
    PRIORITY_SHIFT,
    SNAPSHOT_FORMAT_VERSION,
    SNAPSHOT_KINDS,
    TAG_FORMAT_VERSION,
    DataFile,
    Partition,
    Snapshot,
    files_by_bucket,
)
from lamina._retry import is_missing_file
from lamina.errors import (
    CommitConflictError,
    CorruptFileError,
    SnapshotExpiredError,
    StorageError,
)
from lamina.io import FileIO, storage_errors
from lamina.manifest import (
    MANIFEST_FORMAT_VERSION,
    MANIFEST_SCHEMA,
    MANIFEST_VERSION_KEY,
    new_manifest_name,
    read_manifest,
    write_manifest,
)

__all__ = [
    "ADD",
    "DELETE",
    "MANIFEST_FORMAT_VERSION",
    "MANIFEST_SCHEMA",
    "MANIFEST_VERSION_KEY",
    "MAX_FILES_PER_COMMIT",
    "MAX_MANIFESTS",
    "MAX_SCHEMA_ID",
    "MAX_SNAPSHOT_ID",
    "PRIORITY_SHIFT",
    "SNAPSHOT_FORMAT_VERSION",
    "SNAPSHOT_KINDS",
    "TAG_FORMAT_VERSION",
    "DataFile",
    "Partition",
    "Snapshot",
    "SnapshotStore",
    "files_by_bucket",
]

MAX_TAG_BYTES = 1 << 16
ID_LOCK = ".lock"  # snapshot/.lock: see SnapshotStore.id_lock
ID_LOCK_TIMEOUT_S = 60.0
LATEST_RETRIES = 10  # attempts to load the newest snapshot while others expire them
_SNAPSHOT_NAME = re.compile(r"snapshot-([1-9][0-9]{0,18})\.json")


class SnapshotStore:
    """Reads and creates the snapshot, manifest and tag files of one table.

    Everything it reads is checked (see ``lamina.metadata``): a malformed file raises
    CorruptFileError, a newer format version UnsupportedVersionError, and no file or
    data file path may lead out of the table folder. Safe to use from several threads:
    its caches are guarded by a lock.
    """

    def __init__(self, root: str, io: FileIO) -> None:
        self.root = root
        self.io = io
        self.snapshot_dir = os.path.join(root, "snapshot")
        self.manifest_dir = os.path.join(root, "manifest")
        self.tag_dir = os.path.join(root, "tag")
        self.containment = md.Containment(root, io)
        self._lock = threading.Lock()
        self._snapshots: dict[int, Snapshot] = {}
        self._manifests: dict[str, tuple[list[int], list[DataFile]]] = {}

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

    def exists(self, sid: int) -> bool:
        """True if snapshot ``sid``'s file exists now (it was neither expired nor never
        committed); reads the storage, not the cache."""
        return self.io.exists(self.snapshot_path(sid))

    def load(self, sid: int) -> Snapshot:
        """Snapshot ``sid``; KeyError if its file does not exist."""
        with self._lock:
            hit = self._snapshots.get(sid)
        if hit is not None:
            return hit
        what = f"snapshot-{sid}.json"
        try:
            data = self.read_metadata(self.snapshot_path(sid), what)
        except FileNotFoundError:
            raise KeyError(sid) from None
        snap = Snapshot.from_json(data, what)
        if snap.id != sid:
            raise CorruptFileError(f"{what} holds snapshot {snap.id}")
        with self._lock:
            self._snapshots[sid] = snap
        return snap

    def forget(self, sid: int) -> None:
        """Drops snapshot ``sid`` from the cache (after its file was removed)."""
        with self._lock:
            self._snapshots.pop(sid, None)

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

    @contextmanager
    def id_lock(self) -> Iterator[None]:
        """Holds the table's snapshot-id lock (an exclusive ``flock`` on
        ``snapshot/.lock``): commits link a snapshot under it, and expiration removes
        snapshot files under it.

        Without it a snapshot id could be used twice. A committer computes its parent as
        the newest snapshot N and links ``N+1`` with an exclusive create; but if, while it
        staged, others committed ``N+1`` and ``N+2`` and an expiration removed ``N+1``,
        the create succeeds and the commit lands *below* the newest snapshot, where no
        read sees it: a committed write silently lost. Under the lock the committer
        checks that its parent is still the newest id listed, and no snapshot file can
        disappear between that check and the link. (The newest snapshot is never
        expired, so an id above every listed one was never used.)

        Where ``flock`` is unsupported the lock is not taken (as for the in-flight
        markers); ``StorageError`` if another process holds it for more than a minute.
        """
        self.io.makedirs(self.snapshot_dir, durable=False)
        with storage_errors("taking the snapshot-id lock"):
            fd = self.io.open_lock(os.path.join(self.snapshot_dir, ID_LOCK))
        try:
            deadline = time.monotonic() + ID_LOCK_TIMEOUT_S
            pause = 0.0002
            with storage_errors("taking the snapshot-id lock"):
                while self.io.lock_fd(fd, exclusive=True) is False:
                    if time.monotonic() > deadline:
                        raise StorageError(
                            errno.ETIMEDOUT,
                            "the snapshot-id lock was held for over "
                            f"{ID_LOCK_TIMEOUT_S:.0f} s by another process",
                            os.path.join(self.snapshot_dir, ID_LOCK),
                        )
                    time.sleep(pause)
                    pause = min(pause * 2, 0.005)
            yield
        finally:
            try:
                self.io.close_marker(fd)  # releases the flock
            except OSError:
                pass

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
        """Writes a new manifest (named ``name``, default a fresh one) and makes its
        folder entry durable; returns its name."""
        name = name or new_manifest_name()
        write_manifest(os.path.join(self.manifest_dir, name), entries, sync=self.io.sync)
        self.io.fsync_dir(self.manifest_dir)
        return name

    def read_manifest(self, name: str) -> tuple[list[int], list[DataFile]]:
        """The (kinds, files) of one manifest, checked entry by entry; never mutate them.

        Raises:
            FileNotFoundError: The manifest does not exist.
            CorruptFileError: It is malformed or leads outside the table.
            UnsupportedVersionError: Written by a newer manifest format version.
        """
        with self._lock:
            hit = self._manifests.get(name)
        if hit is not None:
            return hit
        what = f"manifest {md.check_name(name, 'snapshot')}"
        path = os.path.join(self.manifest_dir, name)
        self.containment.check(path, what)
        out = read_manifest(path, what, self.io)
        with self._lock:
            self._manifests[name] = out
        return out

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
        schema_id: int | None,
        adds: Sequence[DataFile],
        deletes: Sequence[DataFile] = (),
        commit_user: str,
        summary: dict[str, Any],
        max_retries: int,
        check: Callable[[Snapshot | None], None] | None = None,
        merge_min_count: int = 30,
        inflight: _inflight.Announcement | None = None,
        changelog: Callable[[Snapshot | None, int], tuple[str, ...]] | None = None,
    ) -> Snapshot:
        """Commits ``adds``/``deletes`` as a new snapshot, retrying on conflicts.

        ``schema_id`` None: the parent's (a data commit never changes the schema; files
        prepared under an older schema are read through field ids).

        ``check(parent_snapshot)`` may raise to abandon the commit (e.g. a compaction whose
        inputs another commit removed). Raises CommitConflictError when retries run out.

        The new files are announced in flight (``lamina._inflight``; ``inflight``: the
        caller's ``Announcement``, which then stays the caller's to release) so that
        ``remove_orphan_files`` leaves them alone, and the snapshot is linked only after
        checking that they all still exist: a commit never references a deleted file.
        Raises StorageError (ENOENT) if a file of ``adds`` was deleted before the link.

        ``changelog(parent, new_id)``, if given, writes the commit's changelog for the
        parent it is staged on (``lamina.changelog.Producer``) and returns its paths.
        """
        if len(adds) >= MAX_FILES_PER_COMMIT:
            raise CommitConflictError("too many files in one commit")
        announcement = (
            inflight if inflight is not None else _inflight.Announcement(self.root, self.io)
        )
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
                    changes = None if changelog is None else changelog(parent, sid)
                except OSError as e:
                    if is_missing_file(e) and self._parent_gone(parent):
                        continue  # the parent was superseded and expired: start again
                    raise
                staged = self._stage(parent, adds, deletes, announcement, merge_min_count)
                if staged is None:
                    continue  # the parent was superseded and expired: start again
                record_delta = sum(f.row_count for f in adds) - sum(f.row_count for f in deletes)
                snap = Snapshot(
                    id=sid,
                    parent_id=None if parent is None else parent.id,
                    schema_id=schema_id
                    if schema_id is not None
                    else (parent.schema_id if parent is not None else 0),
                    timestamp_ms=int(time.time() * 1000),
                    kind=kind,
                    manifests=staged.manifests,
                    delta_manifests=staged.manifests[-1:],
                    record_count=(parent.record_count if parent else 0) + record_delta,
                    commit_user=commit_user,
                    summary=summary,
                    changelog=changes,
                )
                outcome = self._link(snap, adds, staged.written, announcement)
                if outcome == "linked":
                    return snap
                if outcome == "taken":  # lost the race for the id
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                # else: only this attempt's fresh manifests were deleted: write them again
            raise CommitConflictError(
                f"could not commit after {max_retries} attempts: other writers kept "
                "winning; refresh and try again"
            )
        finally:
            if inflight is None:
                announcement.release()

    def _parent_gone(self, parent: Snapshot | None) -> bool:
        return parent is not None and not self.exists(parent.id)

    def _stage(
        self,
        parent: Snapshot | None,
        adds: Sequence[DataFile],
        deletes: Sequence[DataFile],
        announcement: _inflight.Announcement,
        merge_min_count: int,
    ) -> _Staged | None:
        """Writes the manifests of a commit on top of ``parent``.

        Returns None (having removed what it wrote) when the parent's manifests cannot
        be folded because the parent was expired meanwhile: the caller starts again.
        """
        sid = 1 if parent is None else parent.id + 1
        entries: list[tuple[int, DataFile]] = [
            (ADD, replace(f, priority=(sid << PRIORITY_SHIFT) | i, snapshot_id=sid))
            for i, f in enumerate(adds)
        ]
        entries += [(DELETE, f) for f in deletes]
        # Manifests are announced before they are written (lamina._inflight).
        manifest = new_manifest_name()
        announcement.add([f"manifest/{manifest}"])
        self.write_manifest(entries, manifest)
        written = [manifest]
        base = parent.manifests if parent is not None else ()
        if parent is not None and len(base) + 1 > merge_min_count:
            # Keep planning bounded: fold the parent's manifests into one that lists only
            # its live files; this commit's own manifest is the delta.
            merged = new_manifest_name()
            announcement.add([f"manifest/{merged}"])
            try:
                self.write_manifest([(ADD, f) for f in self.live_files(parent)], merged)
            except OSError as e:
                self.io.remove(os.path.join(self.manifest_dir, manifest))
                if is_missing_file(e) and self._parent_gone(parent):
                    return None
                raise
            written.append(merged)
            base = (merged,)
        return _Staged(manifests=(*base, manifest), written=tuple(written))

    def _link(
        self,
        snap: Snapshot,
        adds: Sequence[DataFile],
        written: Sequence[str],
        announcement: _inflight.Announcement,
    ) -> Literal["linked", "taken", "rewrite"]:
        """Creates ``snap``'s file if it is absent and nothing it adds was deleted
        ("linked"). Otherwise removes the manifests ``written`` and returns "taken" (another
        commit created the id first) or "rewrite" (only those manifests were deleted), or
        raises StorageError (ENOENT) if a data file of ``adds`` was deleted."""
        # Wait out any cleaner mid-deletion, then make sure nothing this snapshot adds
        # was deleted (lamina._inflight, step W3).
        missing = announcement.missing(
            [f.path for f in adds] + list(snap.changelog or ()) + [f"manifest/{m}" for m in written]
        )
        if not missing:
            with self.id_lock():
                ids = self.ids()
                newest = ids[-1] if ids else None
                linked = newest == snap.parent_id and self.io.write_new(
                    self.snapshot_path(snap.id), snap.to_json()
                )
                if linked:
                    try:  # under the lock, so that LATEST never goes back
                        self.io.write_replace(
                            os.path.join(self.snapshot_dir, "LATEST"), str(snap.id).encode()
                        )
                    except OSError:
                        pass  # only a hint
            if linked:
                with self._lock:
                    self._snapshots[snap.id] = snap
                return "linked"
        for m in written:
            self.io.remove(os.path.join(self.manifest_dir, m))
        lost = [p for p in missing if not p.startswith("manifest/")]
        if lost:
            raise StorageError(
                errno.ENOENT,
                f"commit failed: {len(lost)} file(s) it adds were deleted before it was "
                "linked (remove_orphan_files with an older_than shorter than this write "
                "took?); nothing was committed",
                os.path.join(self.root, lost[0]),
            )
        return "rewrite" if missing else "taken"

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


class _Staged(NamedTuple):
    manifests: tuple[str, ...]  # of the new snapshot, its own (the delta) last
    written: tuple[str, ...]  # by this attempt
