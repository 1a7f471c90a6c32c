"""Reads that lose a race with ``expire_snapshots``.

``expire_snapshots`` removes snapshot files first (durably), then the manifests and data
files only they referenced. A read that resolved snapshot N and then finds one of its
files missing therefore finds ``snapshot-N.json`` gone as well: N was expired under it.

- A read of the latest snapshot (``snapshot=None``) resolves "latest" again and reads
  that, at most ``READ_RETRIES`` times.
- A read pinned to a snapshot (an id, a tag, a time, or a ``Scan`` that already returned
  data) raises ``SnapshotExpiredError``.
- A missing file of a snapshot that still exists is not a race: the original error
  (``FileNotFoundError``) propagates.

``read_snapshot`` is the one helper every read path uses (``Scan``; ``lookup`` with
``follow_latest=True``). All it needs of a table is its ``SnapshotStore``.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from lamina.errors import SnapshotExpiredError

if TYPE_CHECKING:
    from lamina._models import Snapshot
    from lamina.snapshot import SnapshotStore

__all__ = [
    "READ_RETRIES",
    "expired_error",
    "is_missing_file",
    "read_snapshot",
    "snapshot_gone",
]

READ_RETRIES = 10

T = TypeVar("T")


def is_missing_file(e: BaseException) -> bool:
    """True for the errors a file deleted under a reader produces."""
    return isinstance(e, FileNotFoundError) or (isinstance(e, OSError) and e.errno == errno.ENOENT)


def snapshot_gone(store: SnapshotStore, snap: Snapshot | None) -> bool:
    """True if ``snap``'s snapshot file no longer exists (it was expired)."""
    return snap is not None and not store.exists(snap.id)


def expired_error(snap: Snapshot) -> SnapshotExpiredError:
    return SnapshotExpiredError(
        f"snapshot {snap.id} was expired (expire_snapshots) while it was read and its "
        "files are being deleted; read the latest snapshot again, or tag snapshots that "
        "must stay readable"
    )


def read_snapshot(
    store: SnapshotStore,
    snapshot: Snapshot | None,
    read: Callable[[Snapshot | None], T],
    *,
    follow_latest: bool,
) -> T:
    """``read(snapshot)``; if that fails because ``snapshot`` was expired meanwhile:
    with ``follow_latest``, ``read(<the new latest snapshot>)`` (up to ``READ_RETRIES``
    times), else ``SnapshotExpiredError``.

    ``read`` must be repeatable: nothing it returned reached the caller. Any other error,
    and a missing file of a snapshot that still exists, propagates unchanged.
    """
    snap = snapshot
    for attempt in range(READ_RETRIES + 1):
        try:
            return read(snap)
        except (OSError, SnapshotExpiredError) as e:
            if not (is_missing_file(e) or isinstance(e, SnapshotExpiredError)):
                raise
            if snap is None or not snapshot_gone(store, snap):
                raise
            if not follow_latest:
                if isinstance(e, SnapshotExpiredError):
                    raise
                raise expired_error(snap) from e
            if attempt == READ_RETRIES:
                raise SnapshotExpiredError(
                    f"the latest snapshot was expired under this read {attempt + 1} times in a row"
                ) from e
            # SnapshotStore.latest looks again when the newest id listed is expired
            # before it is loaded.
            snap = store.latest()
    raise AssertionError("unreachable")  # pragma: no cover
