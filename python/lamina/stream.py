"""Streaming consumption: ``Table.stream()``, a blocking iterator of change batches.

Each batch is the changes of one write snapshot (``changes(n - 1, n)``, in snapshot n's
schema, with ``_row_kind`` and ``_snapshot_id``); compaction, schema and no-op snapshots
yield nothing. With ``full=True`` the stream first yields the start snapshot's rows as
``+I`` (split by split), then its changes.

Positions. The stream's position is the last snapshot whose changes were acknowledged:
a batch is acknowledged by ``commit()`` or, automatically, when the next one is asked
for. With a ``consumer_id`` each acknowledgement is persisted (``lamina.consumer``), a
restarted stream resumes after it, and ``expire_snapshots`` keeps what it still needs.
That is at-least-once: a consumer that dies between processing a batch and acknowledging
it sees that batch again. For exactly-once, store each batch's ``_snapshot_id`` with the
consumer's own output, atomically, and restart with ``start=<that id>`` (or
``reset_consumer``): the stream yields exactly the snapshots after it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lamina import consumer as consumers
from lamina._arrow import constant
from lamina._models import Snapshot
from lamina.changelog import CONTENT_KINDS, ROW_KIND, SNAPSHOT_ID
from lamina.changes import request_columns, snapshot_changes
from lamina.errors import InvalidArgumentError, SnapshotExpiredError

if TYPE_CHECKING:
    from lamina.table import Table

__all__ = ["ChangeStream"]


class ChangeStream:
    """Iterator of change batches (pyarrow Tables); see ``Table.stream``.

    Attributes:
        position: The last snapshot whose changes were acknowledged (0: none).
        consumer_id: The consumer whose position is persisted, or None.
    """

    def __init__(
        self,
        table: Table,
        start: Any,
        consumer_id: str | None,
        poll_interval: float,
        full: bool,
        timeout: float | None,
        end: Any,
        columns: Sequence[str] | None,
        filter: Any,
    ) -> None:
        if not isinstance(poll_interval, (int, float)) or not poll_interval > 0:
            raise InvalidArgumentError("poll_interval must be a positive number of seconds")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise InvalidArgumentError("timeout must be None or a number of seconds >= 0")
        self._t = table
        self._ctx = table._ctx
        self._poll = float(poll_interval)
        self._timeout = None if timeout is None else float(timeout)
        self._columns = None if columns is None else list(columns)
        self._filter = filter
        self._stop = threading.Event()
        self.consumer_id = None if consumer_id is None else consumers.check_id(consumer_id)
        end_snap = None if end is None else table.snapshot(end)
        if end is not None and end_snap is None:
            raise InvalidArgumentError("end refers to no snapshot")
        self._end = None if end_snap is None else end_snap.id
        self._full: Iterator[pa.Table] | None = None
        saved = None if self.consumer_id is None else consumers.load(self._ctx, self.consumer_id)
        if saved is not None:
            self.position = saved.snapshot_id  # resume; start and full do not apply
        else:
            self.position, full_at = self._resolve(start, full)
            if full_at is not None:
                self._full = self._full_batches(full_at)
        self._delivered = self.position  # the snapshot of the last batch returned
        self._persisted = saved.snapshot_id if saved is not None else None
        if self.consumer_id is not None and saved is None and self._full is None:
            self._persist()  # from now on the consumer protects its snapshots

    def _resolve(self, start: Any, full: bool) -> tuple[int, Snapshot | None]:
        """(position, snapshot to read whole first or None)."""
        store = self._ctx.store
        if isinstance(start, int) and not isinstance(start, bool) and start == 0:
            return 0, None
        if start == "earliest":
            ids = store.ids()
            if not ids or ids[0] == 1:
                return 0, None  # every change since the table was created
            oldest = store.load(ids[0])  # older changes are gone: read it whole first
            return oldest.id, oldest
        snap = store.latest() if start == "latest" else self._t.snapshot(start)
        if snap is None:
            if start == "latest":
                return 0, None
            raise InvalidArgumentError(f"start {start!r} refers to no snapshot")
        return snap.id, (snap if full else None)

    def _full_batches(self, snap: Snapshot) -> Iterator[pa.Table]:
        scan = self._t.scan(columns=self._columns, filter=self._filter, snapshot=snap.id)
        ts = self._ctx.table_schema(snap.schema_id)
        cols = request_columns(ts, self._columns)
        for batch in scan.to_batches():
            if batch.num_rows == 0:
                continue
            tab = pa.Table.from_batches([batch]).select(cols)
            n = tab.num_rows
            tab = tab.append_column(ROW_KIND, constant("+I", n, pa.string()))
            yield tab.append_column(SNAPSHOT_ID, constant(snap.id, n, pa.int64()))

    # ---- iteration ---------------------------------------------------------------------

    def __iter__(self) -> ChangeStream:
        return self

    def __next__(self) -> pa.Table:
        self.commit()  # the previous batch was handled
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while not self._stop.is_set():
            if self._full is not None:
                batch = next(self._full, None)
                if batch is not None:
                    return batch
                self._full = None
                self._persist()
            if self._end is not None and self.position >= self._end:
                break
            batch = self._next_change()
            if batch is not None:
                return batch
            if self._end is not None and self.position >= self._end:
                break
            self._persist()  # skipped snapshots: stop protecting them
            wait = self._poll
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            self._stop.wait(wait)
        self._persist()
        raise StopIteration

    def _next_change(self) -> pa.Table | None:
        """The next non-empty batch of changes after the position (which it advances over
        snapshots that yield nothing), or None when it has caught up."""
        store = self._ctx.store
        latest = store.latest_id() or 0
        if self._end is not None:
            latest = min(latest, self._end)
        while self.position < latest and not self._stop.is_set():
            sid = self.position + 1
            snap = self._load(sid)
            if snap.kind in CONTENT_KINDS:
                parent = self._load(sid - 1) if sid > 1 and snap.changelog is None else None
                ts = self._ctx.table_schema(snap.schema_id)
                cols = request_columns(ts, self._columns)
                out = snapshot_changes(self._ctx, ts, snap, parent, cols)
                if self._filter is not None:
                    out = out.filter(self._filter)
                if out.num_rows:
                    self._delivered = sid
                    return out
            self.position = self._delivered = sid  # nothing to deliver: consumed
        return None

    def _load(self, sid: int) -> Snapshot:
        try:
            return self._ctx.store.load(sid)
        except KeyError:
            raise SnapshotExpiredError(
                f"snapshot {sid} was expired before the stream read it (use a consumer_id "
                "to protect what a stream still needs)"
            ) from None

    # ---- acknowledgement ---------------------------------------------------------------

    def commit(self) -> None:
        """Acknowledges every batch returned so far (persisted for a consumer id)."""
        if self._full is None:
            self.position = max(self.position, self._delivered)
        self._persist()

    def _persist(self) -> None:
        if self.consumer_id is None or self._full is not None:
            return
        if self._persisted != self.position:
            consumers.save(self._ctx, self.consumer_id, self.position)
            self._persisted = self.position

    def close(self) -> None:
        """Ends the stream (also from another thread: a waiting ``next`` returns)."""
        self._stop.set()

    def __enter__(self) -> ChangeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
