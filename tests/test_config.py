"""lamina.config: the core's process-wide settings, and the one shared thread pool every
ParallelFor runs on (cpp/lamina/util/thread_pool.h)."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lamina
import numpy as np
import pyarrow as pa
import pytest
from lamina import _core
from lamina.errors import InvalidArgumentError


@pytest.fixture(autouse=True)
def _restore_config() -> Iterator[None]:
    before = lamina.config.get()
    yield
    lamina.config.set(**dataclasses.asdict(before))


def _native_threads() -> int:
    """Threads of this process that Python did not start (pool workers, Arrow's pools).

    Python counts a thread from before the kernel does until after it exited in Python,
    so the larger of two counts around the listing covers a thread starting or exiting
    meanwhile."""
    before = threading.active_count()
    tasks = len(os.listdir("/proc/self/task"))
    return tasks - max(before, threading.active_count())


def _table(path: Path) -> Any:
    """Four buckets of three overlapping runs each: a scan merges four splits in Python
    threads, and each split's merge and column reads call ParallelFor again."""
    schema = pa.schema([("k", pa.int64()), ("v", pa.int64()), ("s", pa.string())])
    t = lamina.create_table(path, schema, primary_key=["k"], buckets=4)
    for r in range(3):
        k = np.arange(4000) * (r + 2)
        t.write(pa.table({"k": k, "v": k + r, "s": pa.array([f"{r}:{x}" for x in k])}))
    return t


def _read_concurrently(
    table: Any,
    readers: int,
    rounds: int,
    *,
    by_split: bool = False,
    when_done: threading.Event | None = None,
) -> list[int]:
    """Runs `readers` threads that each scan `rounds` times; returns each read's rows.

    `by_split`: read split by split in the reader threads (no executor threads of the
    scan's own, whose coming and going would blur a thread count). `when_done` is set
    once every reader has finished reading and before any has exited."""
    results: list[int] = []
    errors: list[BaseException] = []
    finished = threading.Barrier(readers, action=when_done.set if when_done else None)

    def read() -> None:
        try:
            for _ in range(rounds):
                scan = table.scan()
                if by_split:
                    results.append(sum(sp.to_arrow().num_rows for sp in scan.plan()))
                else:
                    results.append(scan.to_arrow().num_rows)
        except BaseException as e:  # surfaces in the main thread
            errors.append(e)
        finished.wait()

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in threads), "a nested parallel read deadlocked"
    assert not errors, errors
    return results


def test_defaults() -> None:
    s = lamina.config.get()
    assert s.threads >= 1
    assert s.merge_min_range_rows >= 1


def test_set_changes_only_the_given_settings() -> None:
    before = lamina.config.get()
    lamina.config.set(take_index_bytes=12345)
    after = lamina.config.get()
    assert after == dataclasses.replace(before, take_index_bytes=12345)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threads": 0},
        {"threads": 1025},
        {"threads": -1},
        {"merge_min_range_rows": 0},
        {"take_index_bytes": -5},
        {"threads": 2.5},
        {"threads": True},
    ],
)
def test_invalid_values_raise_and_change_nothing(kwargs: dict[str, Any]) -> None:
    before = lamina.config.get()
    with pytest.raises(InvalidArgumentError):
        lamina.config.set(**kwargs)
    assert lamina.config.get() == before


def test_pool_is_resized() -> None:
    lamina.config.set(threads=3)
    assert _core.pool_threads() == 3
    lamina.config.set(threads=1)
    assert _core.pool_threads() == 1


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_nested_parallel_reads_do_not_deadlock(tmp_path: Path, threads: int) -> None:
    table = _table(tmp_path / "t")
    lamina.config.set(threads=threads, merge_min_range_rows=64)
    expected = table.scan().to_arrow().num_rows
    assert _read_concurrently(table, readers=6, rounds=3) == [expected] * 18


def test_nested_parallel_reads_use_a_bounded_pool(tmp_path: Path) -> None:
    """Regression: ParallelFor started fresh threads per call, so concurrent scans (each
    splitting into Python threads that call ParallelFor, whose tasks call it again) ran
    up to cores² threads. Now the native threads stay those of the pools."""
    table = _table(tmp_path / "t")
    lamina.config.set(threads=4, merge_min_range_rows=64)
    _read_concurrently(table, readers=6, rounds=2, by_split=True)  # Arrow's pools fill
    baseline = _native_threads()
    assert baseline >= 3  # the shared pool's 3 workers (the caller is the 4th)

    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _native_threads())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        _read_concurrently(table, readers=6, rounds=3, by_split=True, when_done=stop)
    finally:
        stop.set()
        sampler.join()
    # Slack for one more thread of Arrow's own pools; per-call threads add one or more
    # per concurrent ParallelFor.
    assert peak <= baseline + 2


def test_resize_while_reading(tmp_path: Path) -> None:
    table = _table(tmp_path / "t")
    lamina.config.set(merge_min_range_rows=64)
    expected = table.scan().to_arrow().num_rows
    done = threading.Event()

    def resize() -> None:
        n = 1
        while not done.is_set():
            lamina.config.set(threads=n % 4 + 1)
            n += 1

    resizer = threading.Thread(target=resize)
    resizer.start()
    try:
        rows = _read_concurrently(table, readers=4, rounds=3)
    finally:
        done.set()
        resizer.join()
    assert rows == [expected] * 12


def test_bad_alloc_is_out_of_memory_error() -> None:
    """Regression: an allocation failure was reported as InvalidArgumentError."""
    assert issubclass(lamina.OutOfMemoryError, lamina.LaminaError)
    assert issubclass(lamina.OutOfMemoryError, MemoryError)
    with pytest.raises(lamina.OutOfMemoryError, match="out of memory"):
        _core._raise_bad_alloc()
    with pytest.raises(lamina.OutOfMemoryError, match="pool task"):
        _core._raise_status(6, "pool task")  # StatusCode::kOutOfMemory
