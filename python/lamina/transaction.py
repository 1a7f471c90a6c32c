"""Transactions: writes and deletes staged as data files, committed as one snapshot."""

from __future__ import annotations

import logging
import os
import posixpath
import uuid
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lamina import _core, _inflight
from lamina import options as opts
from lamina._context import core_options
from lamina._input import _as_table, check_partition_values, conform
from lamina.changelog import Producer
from lamina.errors import CommitConflictError, InvalidArgumentError, StorageError
from lamina.io import NotDurableError, as_storage_error, storage_errors
from lamina.snapshot import DataFile, Snapshot

if TYPE_CHECKING:
    from lamina.table import Table

_log = logging.getLogger("lamina")


class Transaction:
    """Writes and deletes staged for one commit; see ``Table.transaction``."""

    def __init__(self, table: Table) -> None:
        self._t = table
        self._ctx = table._ctx
        self._ts = self._ctx.table_schema()
        self._files: list[DataFile] = []
        self._rows = {"written": 0, "deleted": 0}
        self._calls = 0
        self.snapshot: Snapshot | None = None
        self._done = False
        # Announces the data files as they are written (lamina._inflight), so that
        # remove_orphan_files leaves them alone until the commit is linked or aborted.
        self._inflight: _inflight.Announcement | None = None
        self._changelog: Producer | None = None

    def _release(self) -> None:
        if self._inflight is not None:
            self._inflight.release()

    def _check_open(self) -> None:
        if self._done:
            raise InvalidArgumentError("the transaction is already finished")

    def _write_files(self, table: pa.Table, kind: int) -> None:
        ts = self._ts
        prefix = uuid.uuid4().hex
        with storage_errors("write"):
            if self._inflight is None:
                self._inflight = _inflight.Announcement(self._ctx.root, self._ctx.io)
            self._inflight.add_prefix(prefix)
        options = core_options(ts)
        options.update(
            {
                "partition_columns": list(ts.partition_by),
                "buckets": ts.buckets,
                "kind": kind,
                "directory": self._ctx.root,
                "file_prefix": prefix,
                "target_file_size": opts.get_int(ts.options, "target_file_size"),
                "sync": self._ctx.io.sync,
            }
        )
        with storage_errors("write"):
            metas = _core.table_write(table.__arrow_c_stream__(), options)
        self._calls += 1  # the files of one call are one sorted run per bucket
        for m in metas:
            self._files.append(
                DataFile(
                    path=m["path"],
                    partition=tuple((c, m["partition"][c]) for c in ts.partition_by),
                    bucket=int(m["bucket"]),
                    file_size=int(m["file_size"]),
                    row_count=int(m["row_count"]),
                    delete_count=int(m["delete_count"]),
                    min_key=bytes(m["min_key"]),
                    max_key=bytes(m["max_key"]),
                    schema_id=ts.id,
                    run=self._calls,
                )
            )

    def write(self, data: Any) -> None:
        """Stages an upsert of ``data`` (see ``Table.write``)."""
        self._check_open()
        ts = self._ts
        table = conform(_as_table(data, ts.schema), ts.schema, primary_key=ts.primary_key)
        if table.num_rows:
            check_partition_values(table, self._ts.partition_by)
            self._write_files(table, 0)
            self._rows["written"] += table.num_rows

    def delete(self, keys: Any) -> None:
        """Stages deletes of the rows with these primary keys."""
        self._check_open()
        ts = self._ts
        key_schema = pa.schema([ts.schema.field(c) for c in ts.primary_key])
        table = conform(
            _as_table(keys, key_schema), key_schema, what="keys", primary_key=ts.primary_key
        )
        if table.num_rows:
            check_partition_values(table, ts.partition_by)
            self._write_files(table, 1)
            self._rows["deleted"] += table.num_rows

    def _abort(self) -> None:
        self._done = True
        if self._changelog is not None:
            self._changelog.discard()
        files, self._files = self._files, []
        for f in files:
            try:
                self._ctx.io.remove(os.path.join(self._ctx.root, f.path))
            except OSError:
                pass  # left as an orphan: never hide the error that aborted
        self._release()

    def _commit(self) -> None:
        self._check_open()
        self._done = True
        if not self._files:
            # Nothing to write (empty data, empty keys, no calls): commit nothing.
            self.snapshot = self._t.current_snapshot()
            return
        kind = "delete" if self._rows["deleted"] and not self._rows["written"] else "append"
        try:
            self._ctx.sync_dirs(posixpath.dirname(f.path) for f in self._files)
            if opts.get_str(self._ctx.table_schema().options, "changelog.producer") == "lookup":
                assert self._inflight is not None
                self._changelog = Producer(self._ctx, self._files, self._inflight)
            self.snapshot = self._ctx.store.commit(
                kind=kind,
                schema_id=None,  # the parent's: a concurrent schema change stays
                adds=self._files,
                commit_user=self._ctx.user,
                summary={
                    "rows_written": self._rows["written"],
                    "rows_deleted": self._rows["deleted"],
                    "files_added": len(self._files),
                },
                max_retries=opts.get_int(self._ts.options, "commit.max_retries"),
                merge_min_count=opts.get_int(self._ts.options, "manifest.merge_min_count"),
                inflight=self._inflight,
                changelog=self._changelog,
            )
            self._release()
        except NotDurableError:
            self._release()
            # The snapshot file exists, so the commit is visible: keep its files.
            self._files = []
            raise
        except OSError as e:
            self._abort()
            if isinstance(e, StorageError):
                raise
            raise as_storage_error(e, "commit") from e
        except BaseException:
            self._abort()
            raise
        from lamina.compaction import needs_inline_compaction

        # Reads must not degrade without bound: compact before returning. The write is
        # already committed, so a compaction that loses a race or hits a storage error
        # must not fail it (a caller would retry a write that happened).
        try:
            if opts.get_bool(
                self._ts.options, "compaction.after_commit"
            ) or needs_inline_compaction(self._ctx, self.snapshot):
                self._t.compact()
        except (CommitConflictError, OSError) as e:
            _log.warning("compaction after commit %d failed: %s", self.snapshot.id, e)
