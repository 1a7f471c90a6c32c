"""Shared fixtures for the pytest-benchmark suites in ``benchmarks/``.

Run with ``pytest benchmarks/`` (the default ``pytest`` run only collects ``tests/``).
Sizes default to the BENCHMARKS.md figures; shrink them for a smoke run, e.g.
``pytest benchmarks/ --w1-rows 10000 --decode-rows 10000 --wide-columns 100``.

Data files are written once per session under pytest's temporary directory, and every
file is read once before it is timed, so all systems run with a warm OS page cache.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from benchutil import FileCache


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lamina benchmarks")
    group.addoption(
        "--w1-rows",
        type=int,
        default=1_000_000,
        help="rows of the W1 base table written as one file",
    )
    group.addoption("--decode-rows", type=int, default=1_000_000, help="values per Decode column")
    group.addoption("--wide-columns", type=int, default=10_000, help="columns of the wide table")
    group.addoption("--wide-rows", type=int, default=1_000, help="rows of the wide table")
    group.addoption(
        "--bench-rounds",
        type=int,
        default=None,
        help="timed rounds per benchmark (default: per suite)",
    )


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("lamina-bench"))


@pytest.fixture(scope="session")
def bench_opts(request: pytest.FixtureRequest) -> dict[str, Any]:
    c = request.config
    return {
        k: c.getoption(k)
        for k in ("w1_rows", "decode_rows", "wide_columns", "wide_rows", "bench_rounds")
    }


@pytest.fixture(scope="session")
def file_cache(bench_dir: str) -> Iterator[FileCache]:
    yield FileCache(bench_dir)
