"""Snapshot expiration and orphan-file cleanup.

Expiration deletes snapshot files first, oldest first, then the manifests and data files
that no retained snapshot or tag references. A crash in between leaves only orphans,
which ``remove_orphan_files`` deletes later; it never removes anything a retained
snapshot needs.
"""

from __future__ import annotations

import datetime
import os
import time
from typing import TYPE_CHECKING

from lamina.errors import CorruptFileError, InvalidArgumentError

if TYPE_CHECKING:
    from lamina.table import Table


def _referenced(table: Table, snapshot_ids: list[int]) -> tuple[set[str], set[str]]:
    """(data file paths, manifest names) the given snapshots need."""
    store = table._store
    data: set[str] = set()
    manifests: set[str] = set()
    for sid in snapshot_ids:
        snap = store.load(sid)
        manifests.update(snap.manifests)
        data.update(f.path for f in store.live_files(snap))
    return data, manifests


def expire_snapshots(
    table: Table, retain_last: int = 1, older_than: datetime.timedelta | None = None
) -> list[int]:
    """Expires snapshots; returns the ids removed. See ``Table.expire_snapshots``."""
    if not isinstance(retain_last, int) or isinstance(retain_last, bool) or retain_last < 1:
        raise InvalidArgumentError("retain_last must be an integer >= 1")
    if older_than is not None and not isinstance(older_than, datetime.timedelta):
        raise InvalidArgumentError("older_than must be a datetime.timedelta")
    store = table._store
    ids = store.ids()
    if len(ids) <= retain_last:
        return []
    tagged = set(store.tags().values())
    cutoff = None if older_than is None else (time.time() - older_than.total_seconds()) * 1000
    expire = []
    for sid in ids[:-retain_last]:
        if sid in tagged:
            continue
        if cutoff is not None and store.load(sid).timestamp_ms > cutoff:
            continue
        expire.append(sid)
    if not expire:
        return []
    retained = [i for i in ids if i not in set(expire)]
    keep_data, keep_manifests = _referenced(table, retained)
    old_data, old_manifests = _referenced(table, expire)
    for sid in expire:  # oldest first: the table never has a gap before its newest
        table._io.remove(store.snapshot_path(sid))
        store._cache.pop(sid, None)
    # The removals must be durable before the files those snapshots reference go: after
    # a crash, a snapshot file that reappeared would name deleted files.
    table._io.fsync_dir(store.snapshot_dir)
    for path in sorted(old_data - keep_data):
        table._io.remove(os.path.join(table.path, path))
    for name in sorted(old_manifests - keep_manifests):
        table._io.remove(os.path.join(store.manifest_dir, name))
    return expire


def remove_orphan_files(table: Table, older_than: datetime.timedelta) -> list[str]:
    """Deletes files no snapshot or tag references, if older than ``older_than``."""
    if not isinstance(older_than, datetime.timedelta):
        raise InvalidArgumentError("older_than must be a datetime.timedelta")
    store = table._store
    data, manifests = _referenced(table, store.ids())
    cutoff = time.time() - older_than.total_seconds()
    removed = []
    candidates: list[str] = []
    subs = ("data", "manifest", "snapshot", "tag", "schema")
    for sub in subs:  # walking a linked folder would delete outside the table
        top = os.path.join(table.path, sub)
        if os.path.lexists(top) and not store.containment.check_dir(top):
            raise CorruptFileError(f"{sub}/ leads out of the table folder; nothing was removed")
    for sub in subs:
        for path in table._io.walk(os.path.join(table.path, sub)):
            candidates.append(os.path.relpath(path, table.path))
    for rel in candidates:
        name = os.path.basename(rel)
        top = rel.split(os.sep, 1)[0]
        if top == "data" and rel.replace(os.sep, "/") in data:
            continue
        if top == "manifest" and name in manifests:
            continue
        if top in ("snapshot", "tag", "schema") and not name.startswith(".tmp-"):
            continue  # only leftovers of interrupted atomic writes are orphans there
        full = os.path.join(table.path, rel)
        try:
            if table._io.mtime(full) > cutoff:
                continue
        except FileNotFoundError:
            continue
        table._io.remove(full)
        removed.append(rel)
    return removed
