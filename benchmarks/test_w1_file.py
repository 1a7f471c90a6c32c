"""The W1 base table written as one file: size on disk, and random take of 1,000 rows.

Each take opens the file (or dataset) itself. pyarrow is measured both ways a user would
write it (``pq.read_table(path).take(idx)`` and ``pyarrow.dataset.dataset(path).take(idx)``);
compare lamina with the faster one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from benchutil import FileCache, get_system, rounds
from w1 import base_table

TAKE_ROWS = 1_000
PROJECTION = ["user_id", "dense_0", "seq_items"]
TAKE_CASES = [
    ("lamina", "FileReader.take"),
    ("parquet-zstd", "read_table().take"),
    ("parquet-zstd", "dataset().take"),
    ("lance", "dataset().take"),
]
READ_SYSTEMS = ["lamina", "parquet-zstd", "lance"]


@pytest.fixture(scope="module")
def w1(bench_opts: dict[str, Any]) -> pa.Table:
    return base_table(bench_opts["w1_rows"])


@pytest.fixture(scope="module")
def take_indices(w1: pa.Table) -> np.ndarray:
    rng = np.random.default_rng(1234)
    idx: np.ndarray = rng.choice(w1.num_rows, size=min(TAKE_ROWS, w1.num_rows), replace=False)
    return idx


def _file(file_cache: FileCache, w1: pa.Table, system_name: str) -> tuple[Any, str, int, float]:
    sys_ = get_system(system_name)
    path, size, write_s = file_cache.get(f"w1-{w1.num_rows}", sys_, lambda: w1)
    return sys_, path, size, write_s


@pytest.mark.parametrize(("system_name", "variant"), TAKE_CASES)
def test_w1_take(
    benchmark: Any,
    file_cache: FileCache,
    bench_opts: dict[str, Any],
    w1: pa.Table,
    take_indices: np.ndarray,
    system_name: str,
    variant: str,
) -> None:
    sys_, path, size, write_s = _file(file_cache, w1, system_name)
    benchmark.group = f"W1 take {len(take_indices)} rows of {w1.num_rows}"
    benchmark.extra_info.update(
        {"system": sys_.name, "api": variant, "file_bytes": size, "write_seconds": write_s}
    )
    take = sys_.take_variants[variant]
    result = benchmark.pedantic(
        take, args=(path, take_indices, None), rounds=rounds(bench_opts, 5), warmup_rounds=1
    )
    assert result.equals(w1.take(take_indices))


@pytest.mark.parametrize("system_name", READ_SYSTEMS)
def test_w1_read_all(
    benchmark: Any,
    file_cache: FileCache,
    bench_opts: dict[str, Any],
    w1: pa.Table,
    system_name: str,
) -> None:
    sys_, path, size, _ = _file(file_cache, w1, system_name)
    benchmark.group = f"W1 full read of {w1.num_rows} rows"
    benchmark.extra_info.update({"system": sys_.name, "file_bytes": size})
    result = benchmark.pedantic(
        sys_.read, args=(path, None), rounds=rounds(bench_opts, 3), warmup_rounds=1
    )
    assert result.equals(w1)


@pytest.mark.parametrize("system_name", READ_SYSTEMS)
def test_w1_projection(
    benchmark: Any,
    file_cache: FileCache,
    bench_opts: dict[str, Any],
    w1: pa.Table,
    system_name: str,
) -> None:
    sys_, path, size, _ = _file(file_cache, w1, system_name)
    benchmark.group = f"W1 3-column projection ({', '.join(PROJECTION)})"
    benchmark.extra_info.update({"system": sys_.name, "file_bytes": size})
    result = benchmark.pedantic(
        sys_.read, args=(path, PROJECTION), rounds=rounds(bench_opts, 5), warmup_rounds=1
    )
    assert result.equals(w1.select(PROJECTION))
