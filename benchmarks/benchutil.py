"""Helpers shared by the pytest-benchmark suites (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import pytest
from systems import System, system, warm_page_cache

__all__ = ["FileCache", "get_system", "rounds"]


def get_system(name: str) -> System:
    """The named system, or skips the test when its library is not installed."""
    try:
        return system(name)
    except ImportError as e:
        pytest.skip(f"{name} is not importable: {e}")


class FileCache:
    """Writes each (dataset, system) file once per session; remembers size and write time."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._files: dict[tuple[str, str], tuple[str, int, float]] = {}

    def get(self, key: str, sys_: System, make_table: Callable[[], Any]) -> tuple[str, int, float]:
        """``(path, size_bytes, write_seconds)`` of dataset ``key`` written by ``sys_``."""
        k = (key, sys_.name)
        if k not in self._files:
            path = os.path.join(self.root, f"{key}.{sys_.name}{sys_.suffix}")
            table = make_table()
            t0 = time.perf_counter()
            size = sys_.write(path, table)
            self._files[k] = (path, size, time.perf_counter() - t0)
            warm_page_cache(path)
        return self._files[k]


def rounds(bench_opts: dict[str, Any], default: int) -> int:
    r: int | None = bench_opts["bench_rounds"]
    return default if r is None else max(1, r)


def write_terminal_summary(request: pytest.FixtureRequest, write: Callable[[Any], None]) -> None:
    """Calls ``write(terminalreporter)`` with output capture off, after a module's tests."""
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return
    cap = request.config.pluginmanager.get_plugin("capturemanager")
    if cap is None:
        write(tr)
    else:
        with cap.global_and_fixture_disabled():
            write(tr)
