"""W1 upsert workload on primary-key tables (BENCHMARKS.md, "W1"), as pytest-benchmark tests.

Per system (see ``tables.py``): ingest (base load + 5 upsert batches, each its own
commit; one round, into a fresh directory), merged full read (all columns), merged
3-column projection, lookup of 1,000 random existing keys. Sizes on disk after ingest are
in ``extra_info["bytes"]`` of the ingest benchmark. Every read result is checked (row
count = distinct keys; lookups return the asked keys) before it is timed.

Environment variables (pytest options belong to conftest.py):
- ``W1_TABLE_SCALE``: multiplies the W1 row counts (default 1.0: 2,000,000 base rows +
  5 x 400,000 upserts = 3,000,000 distinct keys);
- ``W1_TABLE_SYSTEMS``: comma-separated (default ``lamina,lance,parquet+duckdb``; add
  ``deltalake``, about a minute of ingest at scale 1, or ``lamina-fsync``).

    W1_TABLE_SCALE=0.1 pytest benchmarks/test_w1_table.py --benchmark-columns=min,rounds

``run.py`` runs the same workload once and prints one table of ratios.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from benchutil import rounds
from systems import path_size, warm_page_cache
from tables import KEY, TableSystem, table_system
from w1 import DEFAULT_SEED, W1Scale, base_table, upsert_batches

SCALE = float(os.environ.get("W1_TABLE_SCALE", "1.0"))
SYSTEMS = [
    s.strip()
    for s in os.environ.get("W1_TABLE_SYSTEMS", "lamina,lance,parquet+duckdb").split(",")
    if s.strip()
]
PROJECTION = ["user_id", "dense_0", "seq_items"]
W1 = W1Scale.scaled(SCALE)


@pytest.fixture(scope="module")
def w1_data() -> tuple[pa.Table, list[pa.Table]]:
    base = base_table(W1.base_rows, DEFAULT_SEED)
    batches = list(upsert_batches(W1.base_rows, DEFAULT_SEED, W1.n_batches, W1.batch_rows))
    return base, batches


@pytest.fixture(scope="module")
def lookup_keys() -> np.ndarray:
    rng = np.random.default_rng([DEFAULT_SEED, 99])
    return rng.choice(W1.distinct_keys, size=min(1000, W1.distinct_keys), replace=False).astype(
        np.int64
    )


@pytest.fixture(scope="module")
def tables_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("w1-tables"))


_ingested: dict[str, str] = {}


def _system(name: str) -> TableSystem:
    try:
        return table_system(name)
    except ImportError as e:
        pytest.skip(f"{name} is not importable: {e}")


def _ingested_path(name: str, tables_dir: str, w1_data: Any) -> str:
    """The table of ``name`` after the full ingest (done once, untimed, if not yet)."""
    if name not in _ingested:
        path = os.path.join(tables_dir, name.replace("+", "_"))
        shutil.rmtree(path, ignore_errors=True)
        _system(name).ingest(path, *w1_data)
        warm_page_cache(path)
        _ingested[name] = path
    return _ingested[name]


@pytest.mark.parametrize("name", SYSTEMS)
def test_w1_ingest(benchmark: Any, name: str, tables_dir: str, w1_data: Any) -> None:
    sys_ = _system(name)
    path = os.path.join(tables_dir, name.replace("+", "_"))

    def fresh() -> tuple[tuple[Any, ...], dict[str, Any]]:
        _ingested.pop(name, None)
        shutil.rmtree(path, ignore_errors=True)
        return (path, *w1_data), {}

    t0 = time.perf_counter()
    benchmark.pedantic(sys_.ingest, setup=fresh, rounds=1, iterations=1)
    benchmark.extra_info.update(
        bytes=path_size(path),
        rows_in=W1.rows_in,
        scale=SCALE,
        rows_per_s=W1.rows_in / (time.perf_counter() - t0),
    )
    warm_page_cache(path)
    _ingested[name] = path


@pytest.mark.parametrize("name", SYSTEMS)
def test_w1_merged_read(
    benchmark: Any, name: str, tables_dir: str, w1_data: Any, bench_opts: dict[str, Any]
) -> None:
    path = _ingested_path(name, tables_dir, w1_data)
    sys_ = _system(name)
    got = sys_.read(path, None)
    assert got.num_rows == W1.distinct_keys
    assert pc.count_distinct(got.column(KEY)).as_py() == W1.distinct_keys
    del got
    benchmark.pedantic(sys_.read, args=(path, None), rounds=rounds(bench_opts, 3), warmup_rounds=0)


@pytest.mark.parametrize("name", SYSTEMS)
def test_w1_projection(
    benchmark: Any, name: str, tables_dir: str, w1_data: Any, bench_opts: dict[str, Any]
) -> None:
    path = _ingested_path(name, tables_dir, w1_data)
    sys_ = _system(name)
    got = sys_.read(path, PROJECTION)
    assert got.num_rows == W1.distinct_keys and got.column_names == PROJECTION
    del got
    benchmark.pedantic(
        sys_.read, args=(path, PROJECTION), rounds=rounds(bench_opts, 5), warmup_rounds=0
    )


@pytest.mark.parametrize("name", SYSTEMS)
def test_w1_lookup(
    benchmark: Any,
    name: str,
    tables_dir: str,
    w1_data: Any,
    lookup_keys: np.ndarray,
    bench_opts: dict[str, Any],
) -> None:
    path = _ingested_path(name, tables_dir, w1_data)
    sys_ = _system(name)
    got = sys_.lookup(path, lookup_keys, None)
    assert sorted(got.column(KEY).to_pylist()) == sorted(lookup_keys.tolist())
    del got
    benchmark.pedantic(
        sys_.lookup, args=(path, lookup_keys, None), rounds=rounds(bench_opts, 5), warmup_rounds=0
    )
