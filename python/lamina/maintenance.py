"""Snapshot expiration and orphan-file cleanup.

Expiration deletes snapshot files first, oldest first, then the manifests and data files
that no remaining snapshot or tag references. A crash in between leaves only orphans,
which ``remove_orphan_files`` deletes later; it never removes anything a retained
snapshot needs.

Both run safely beside writers, compactions and each other (``docs/reliability.md``):

- What the snapshots reference is computed from a listing of the snapshot folder taken
  *after* the snapshots to expire are gone (expiration) or after the in-flight markers
  were read (orphan removal). A snapshot that vanishes while it is being read (another
  expiration removed it) is skipped: the newest snapshot of any listing is never expired,
  and a file a later snapshot still needs is live in every snapshot from the one that
  added it to the newest, so it stays referenced.
- Orphan removal respects the files in-flight commits announced, and deletes only inside
  a cleaner phase that commits wait out before their last existence check
  (``lamina._inflight``): no commit can link a snapshot that names a file it deleted.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterable

from lamina import _inflight, consumer
from lamina import options as opts
from lamina._context import TableContext
from lamina._models import CHANGELOG_DIR
from lamina._retry import is_missing_file
from lamina.errors import CorruptFileError, InvalidArgumentError


def _referenced(ctx: TableContext, snapshot_ids: Iterable[int]) -> tuple[set[str], set[str]]:
    """(data and changelog file paths, manifest names) the given snapshots need; a snapshot expired
    since it was listed is skipped (see the module docstring)."""
    store = ctx.store
    data: set[str] = set()
    manifests: set[str] = set()
    for sid in snapshot_ids:
        try:
            snap = store.load(sid)
            live = store.live_files(snap)
        except KeyError:
            continue  # expired since the listing
        except OSError as e:
            # A missing manifest is a race only if its snapshot is gone too; otherwise
            # the table is damaged and nothing may be deleted on its account.
            if is_missing_file(e) and not store.exists(sid):
                continue
            raise
        manifests.update(snap.manifests)
        data.update(f.path for f in live)
        data.update(snap.changelog or ())  # a changelog lives and dies with its snapshot
    return data, manifests


def expire_snapshots(
    ctx: TableContext, retain_last: int = 1, older_than: datetime.timedelta | None = None
) -> list[int]:
    """Expires snapshots; returns the ids removed. See ``Table.expire_snapshots``."""
    if not isinstance(retain_last, int) or isinstance(retain_last, bool) or retain_last < 1:
        raise InvalidArgumentError("retain_last must be an integer >= 1")
    if older_than is not None and not isinstance(older_than, datetime.timedelta):
        raise InvalidArgumentError("older_than must be a datetime.timedelta")
    store = ctx.store
    ids = store.ids()
    if len(ids) <= retain_last:
        return []
    tagged = set(store.tags().values())
    # Consumers keep their snapshot and every later one; abandoned ones are removed.
    expiration = opts.get_int(ctx.table_schema().options, "consumer.expiration_time")
    needed, abandoned = consumer.protecting(ctx, expiration)
    for cid in abandoned:
        consumer.remove(ctx, cid)
    cutoff = None if older_than is None else (time.time() - older_than.total_seconds()) * 1000
    expire = []
    for sid in ids[:-retain_last]:
        if sid in tagged or (needed is not None and sid >= needed):
            continue
        if cutoff is not None:
            try:
                if store.load(sid).timestamp_ms > cutoff:
                    continue
            except KeyError:
                continue  # another expiration removed it
        expire.append(sid)
    if not expire:
        return []
    # Everything is read (and checked: a hostile file refuses the expiration) before
    # anything is removed.
    retained = [i for i in ids if i not in set(expire)]
    keep_data, keep_manifests = _referenced(ctx, retained)
    old_data, old_manifests = _referenced(ctx, expire)
    with store.id_lock():  # no commit lands in an id freed here (SnapshotStore.id_lock)
        for sid in expire:  # oldest first
            ctx.io.remove(store.snapshot_path(sid))
            store.forget(sid)
    # The removals must be durable before the files those snapshots reference go: after
    # a crash, a snapshot file that reappeared would name deleted files.
    ctx.io.fsync_dir(store.snapshot_dir)
    # And what every snapshot there now needs: commits since ``ids`` was listed, and the
    # successors of retained snapshots another expiration removed meanwhile.
    now_data, now_manifests = _referenced(ctx, store.ids())
    keep_data |= now_data
    keep_manifests |= now_manifests
    for path in sorted(old_data - keep_data):
        ctx.io.remove(os.path.join(ctx.root, path))
    for name in sorted(old_manifests - keep_manifests):
        ctx.io.remove(os.path.join(store.manifest_dir, name))
    return expire


def remove_orphan_files(ctx: TableContext, older_than: datetime.timedelta) -> list[str]:
    """Deletes files no snapshot references, no in-flight commit announced, and last
    modified more than ``older_than`` ago. See ``Table.remove_orphan_files``."""
    if not isinstance(older_than, datetime.timedelta):
        raise InvalidArgumentError("older_than must be a datetime.timedelta")
    store = ctx.store
    subs = ("data", CHANGELOG_DIR, "manifest", "snapshot", "tag", "schema", consumer.CONSUMER_DIR)
    for sub in (*subs, _inflight.INFLIGHT_DIR):  # a linked folder would lead out
        top = os.path.join(ctx.root, sub)
        if ctx.io.lexists(top) and not store.containment.check_dir(top):
            raise CorruptFileError(f"{sub}/ leads out of the table folder; nothing was removed")
    listed = store.ids()
    data, manifests = _referenced(ctx, listed)
    cutoff = time.time() - older_than.total_seconds()
    candidates: list[tuple[str, str]] = []
    for sub in subs:
        for path in ctx.io.walk(os.path.join(ctx.root, sub)):
            rel = os.path.relpath(path, ctx.root)
            name = os.path.basename(rel)
            top = rel.split(os.sep, 1)[0]
            if top in ("data", CHANGELOG_DIR) and rel.replace(os.sep, "/") in data:
                continue
            if top == "manifest" and name in manifests:
                continue
            if top in ("snapshot", "tag", "schema", consumer.CONSUMER_DIR) and not name.startswith(
                ".tmp-"
            ):
                continue  # only leftovers of interrupted atomic writes are orphans there
            try:
                if ctx.io.mtime(path) > cutoff:
                    continue
            except FileNotFoundError:
                continue
            candidates.append((rel, path))
    removed = []
    # The cleaner phase (lamina._inflight): commits wait it out before their last check.
    with _inflight.cleaning(ctx.root, ctx.io) as phase:
        # Snapshots linked since the first listing (their writers may have released
        # their announcements before the phase began).
        seen = set(listed)
        new_data, new_manifests = _referenced(ctx, [i for i in store.ids() if i not in seen])
        data |= new_data
        manifests |= new_manifests
        for rel, path in candidates:
            slashed = rel.replace(os.sep, "/")
            name = os.path.basename(rel)
            if slashed in data or (name in manifests and slashed.startswith("manifest/")):
                continue
            if phase.protected.covers(slashed):
                continue  # announced by a commit in flight
            if name.startswith(".tmp-") and _inflight.in_use(path, ctx.io):
                continue  # an atomic write in progress
            ctx.io.remove(path)
            removed.append(rel)
            phase.touch()
    return removed
