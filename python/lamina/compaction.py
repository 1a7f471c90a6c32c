"""Universal compaction per bucket: which sorted runs to merge, and committing the result.

Runs of a bucket, newest first: the files one write call or one compaction produced
(same snapshot, level and run number) form one run; they are key-disjoint. The policy, in the spirit
of RocksDB's and Paimon's universal compaction:

1. size amplification: if the newer runs together exceed
   ``compaction.max_size_amplification_percent`` of the oldest run, merge everything;
2. size ratio: else take the newest run and keep adding the next older one while its
   size is within ``compaction.size_ratio`` % of what has been taken; merge them if that
   is at least two runs;
3. run count: else, if there are more than ``compaction.num_sorted_run_trigger`` runs,
   merge the newest ones down to that count.

A merge that includes the oldest run writes the last level and drops deletes and every
version they hide physically; others keep delete markers. Output rows carry their
absolute sequence (``_seq``), so a write committed while the compaction ran still wins.
"""

from __future__ import annotations

import os
import posixpath
import time
import uuid
from dataclasses import dataclass
from typing import Any

from lamina import _core, _inflight
from lamina import options as opts
from lamina._context import TableContext, core_options
from lamina._models import DataFile, Snapshot, files_by_bucket
from lamina._retry import is_missing_file, snapshot_gone
from lamina.errors import CommitConflictError, CorruptFileError
from lamina.io import NotDurableError

MAX_LEVEL = 5


@dataclass(frozen=True)
class Run:
    files: tuple[DataFile, ...]

    @property
    def size(self) -> int:
        return sum(f.file_size for f in self.files)

    @property
    def newest(self) -> int:
        return max(f.priority for f in self.files)

    @property
    def level(self) -> int:
        return self.files[0].level


def sorted_runs(files: list[DataFile]) -> list[Run]:
    """The sorted runs of one bucket, newest first."""
    groups: dict[Any, list[DataFile]] = {}
    for f in files:
        key = (f.snapshot_id, f.level, f.run)
        groups.setdefault(key, []).append(f)
    runs = [Run(tuple(sorted(g, key=lambda f: f.min_key))) for g in groups.values()]
    return sorted(runs, key=lambda r: r.newest, reverse=True)


def pick(runs: list[Run], options: dict[str, str], full: bool) -> list[Run]:
    """The runs to merge (a newest-first prefix of ``runs``), or [] for nothing to do."""
    if not runs:
        return []
    if full:
        only = runs[0]
        done = (
            len(runs) == 1
            and only.level == MAX_LEVEL
            and not any(f.delete_count for f in only.files)
        )
        return [] if done else runs
    if len(runs) < 2:
        return []
    amp = opts.get_int(options, "compaction.max_size_amplification_percent")
    if sum(r.size for r in runs[:-1]) * 100 > amp * max(runs[-1].size, 1):
        return runs
    ratio = opts.get_int(options, "compaction.size_ratio")
    taken, acc = [runs[0]], runs[0].size
    for r in runs[1:]:
        if r.size * 100 <= acc * (100 + ratio):
            taken.append(r)
            acc += r.size
        else:
            break
    if len(taken) >= 2:
        return taken
    trigger = opts.get_int(options, "compaction.num_sorted_run_trigger")
    if len(runs) > trigger:
        return runs[: len(runs) - trigger + 1]
    return []


class _InputsGone(Exception):
    """Another commit removed files this compaction read: give up cleanly."""


def compact(ctx: TableContext, full: bool = False) -> Snapshot | None:
    """Runs one round of compaction over every bucket; see ``Table.compact``.

    Losing a race returns None and leaves no trace: another commit removed the inputs
    first, or ``expire_snapshots`` expired the snapshot this compaction started from and
    deleted files it was reading (its manifests, its inputs).
    """
    t0 = time.perf_counter()
    snap = ctx.store.latest()
    if snap is None:
        return None
    ts = ctx.table_schema(snap.schema_id)
    adds: list[DataFile] = []
    removed: list[DataFile] = []
    metrics = {"rows_in": 0, "rows_out": 0, "bytes_in": 0, "bytes_out": 0, "rows_purged": 0}
    written: list[str] = []
    # The output files are announced (by name prefix) before they are written, so that
    # remove_orphan_files never takes them for orphans (lamina._inflight).
    announcement: _inflight.Announcement | None = None
    try:
        files = ctx.live_files(snap)
        announcement = _inflight.Announcement(ctx.root, ctx.io)
        for (partition, bucket), bucket_files in sorted(
            files_by_bucket(files).items(), key=lambda kv: (repr(kv[0][0]), kv[0][1])
        ):
            runs = sorted_runs(bucket_files)
            picked = pick(runs, ts.options, full)
            if not picked:
                continue
            inputs = sorted((f for r in picked for f in r.files), key=lambda f: f.priority)
            last_level = len(picked) == len(runs)
            level = MAX_LEVEL if last_level else max(1, max(r.level for r in picked))
            out_dir = os.path.dirname(inputs[0].path)
            prefix = f"compact-{uuid.uuid4().hex}"
            announcement.add_prefix(prefix)
            options = core_options(ts)
            options.update(
                {
                    "directory": ctx.root,
                    "output_dir": out_dir,
                    "file_prefix": prefix,
                    "target_file_size": opts.get_int(ts.options, "target_file_size"),
                    "sync": ctx.io.sync,
                    "drop_deletes": last_level,
                    "level": level,
                }
            )
            try:
                res = _core.table_compact(
                    [(os.path.join(ctx.root, f.path), f.priority) for f in inputs], options
                )
            except (OSError, CorruptFileError):
                # A concurrent compaction + expiration may have deleted inputs while this
                # one read them: that is a lost race, not a failure.
                if snapshot_gone(ctx.store, snap) or not _all_live(ctx, inputs):
                    raise _InputsGone from None
                raise
            for m in res["files"]:
                written.append(m["path"])
                adds.append(
                    DataFile(
                        path=m["path"],
                        partition=partition,
                        bucket=bucket,
                        file_size=int(m["file_size"]),
                        row_count=int(m["row_count"]),
                        delete_count=int(m["delete_count"]),
                        min_key=bytes(m["min_key"]),
                        max_key=bytes(m["max_key"]),
                        level=level,
                        schema_id=ts.id,
                    )
                )
            removed.extend(inputs)
            for k in metrics:
                metrics[k] += int(res[k])
        if not removed:
            return None

        wanted = {f.path for f in removed}

        def check(parent: Snapshot | None) -> None:
            live = {f.path for f in ctx.live_files(parent)}
            if not wanted <= live:
                raise _InputsGone

        metrics_summary: dict[str, Any] = dict(metrics)
        # Every row physically dropped: superseded versions, deleted rows and delete
        # markers (the core's own figure counts only rows removed by deletes).
        metrics_summary["rows_purged"] = metrics["rows_in"] - metrics["rows_out"]
        metrics_summary["deleted_rows_purged"] = metrics["rows_purged"]
        metrics_summary.update(
            files_in=len(removed),
            files_out=len(adds),
            full=full,
            seconds=round(time.perf_counter() - t0, 6),
        )
        ctx.sync_dirs(posixpath.dirname(p) for p in written)
        return ctx.store.commit(
            kind="compact",
            schema_id=None,  # the parent's: a schema change committed meanwhile stays
            adds=adds,
            deletes=removed,
            commit_user=ctx.user,
            summary=metrics_summary,
            max_retries=opts.get_int(ts.options, "commit.max_retries"),
            check=check,
            merge_min_count=opts.get_int(ts.options, "manifest.merge_min_count"),
            inflight=announcement,
        )
    except _InputsGone:
        _remove(ctx, written)
        return None
    except NotDurableError:
        raise  # the snapshot exists and references the new files: keep them
    except BaseException as e:
        _remove(ctx, written)
        if is_missing_file(e) and snapshot_gone(ctx.store, snap):
            return None  # snap was expired under us and a file we read went with it
        raise
    finally:
        if announcement is not None:
            announcement.release()


def _all_live(ctx: TableContext, files: list[DataFile]) -> bool:
    """True if ``files`` are all live in the latest snapshot (False if that cannot be
    read because it is being expired too)."""
    try:
        live = {f.path for f in ctx.live_files(ctx.store.latest())}
    except OSError as e:
        if is_missing_file(e):
            return False
        raise
    return all(f.path in live for f in files)


def _remove(ctx: TableContext, paths: list[str]) -> None:
    """Best effort: a file that cannot be removed stays as an orphan."""
    for p in paths:
        try:
            ctx.io.remove(os.path.join(ctx.root, p))
        except OSError:
            pass


def needs_inline_compaction(ctx: TableContext, snap: Snapshot) -> bool:
    """True when some bucket has more runs than the stop trigger allows."""
    ts = ctx.table_schema(snap.schema_id)
    stop = opts.get_int(ts.options, "compaction.num_sorted_run_stop_trigger")
    for fs in files_by_bucket(ctx.live_files(snap)).values():
        if len(sorted_runs(fs)) > stop:
            return True
    return False


__all__ = ["CommitConflictError", "compact", "pick", "sorted_runs"]
