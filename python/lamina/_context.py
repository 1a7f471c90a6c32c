"""What the helper modules need of a table, and nothing else.

``Table`` owns one ``TableContext`` and passes it to the modules that plan, read, look
up, compact and clean (``scan``, ``_lookup``, ``compaction``, ``maintenance``), so they
depend on this small, typed surface instead of the Table's private attributes. Reads that
race with expiration need even less: ``_retry`` takes the ``SnapshotStore``.
"""

from __future__ import annotations

import os
import posixpath
import threading
from collections.abc import Iterable
from typing import Any

from lamina._models import DataFile, Snapshot
from lamina.io import FileIO
from lamina.metadata import Containment
from lamina.schema import TableSchema, read_schema
from lamina.snapshot import SnapshotStore


def core_options(ts: TableSchema) -> dict[str, Any]:
    """The options every core call on the table's files takes: the schema version's
    ``TableSpec`` (a fresh dict: callers add the call's own keys)."""
    return {"table": ts.core_spec}


class TableContext:
    """One table folder as the helper modules see it.

    Attributes:
        root: The table folder.
        io: The file layer every file operation goes through.
        store: The snapshot, manifest and tag files, and the commit protocol.
        user: The commit user of this process (``<login>-<pid>``).
    """

    def __init__(self, root: str, io: FileIO, user: str) -> None:
        self.root = root
        self.io = io
        self.store = SnapshotStore(root, io)
        self.user = user
        self._lock = threading.Lock()
        self._schemas: dict[int, TableSchema] = {}
        # Folders under data/ whose own entry in their parent is known to be durable.
        self._durable_dirs: set[str] = set()

    def table_schema(self, schema_id: int | None = None) -> TableSchema:
        """Schema ``schema_id`` (None: the latest snapshot's; schema 0 without one)."""
        if schema_id is None:
            snap = self.store.latest()
            schema_id = snap.schema_id if snap is not None else 0
        with self._lock:
            hit = self._schemas.get(schema_id)
        if hit is not None:
            return hit
        ts = read_schema(self.root, self.io, schema_id, Containment(self.root, self.io))
        with self._lock:
            return self._schemas.setdefault(schema_id, ts)

    def live_files(self, snap: Snapshot | None) -> list[DataFile]:
        """The data files of ``snap`` in commit order (none for None: an empty table)."""
        return [] if snap is None else self.store.live_files(snap)

    def sync_dirs(self, rel_dirs: Iterable[str]) -> None:
        """Makes folders under data/ that received new files durable, before a commit.

        Each folder is fsynced (its new entries), and so is the parent of every folder
        this context has not yet seen: the core creates partition and bucket folders as
        it writes, and their own entries must survive a crash too. Does nothing when the
        file layer does not sync.
        """
        if not self.io.sync:
            return
        dirs = set(rel_dirs)
        with self._lock:
            known = set(self._durable_dirs)
        new: set[str] = set()
        for d in dirs:
            while d not in ("", "data") and d not in known and d not in new:
                new.add(d)
                d = posixpath.dirname(d)
        for d in sorted(dirs | {posixpath.dirname(n) for n in new}, key=len, reverse=True):
            self.io.fsync_dir(os.path.join(self.root, d))
        with self._lock:
            self._durable_dirs |= new
