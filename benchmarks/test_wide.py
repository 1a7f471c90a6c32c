"""Wide-table microbenchmark (BENCHMARKS.md): open a 10,000-column file and read 5 columns."""

from __future__ import annotations

from typing import Any

import pytest
from benchutil import FileCache, get_system, rounds
from micro import wide_columns_to_read, wide_table

SYSTEMS = ["lamina", "parquet", "parquet-zstd", "lance"]


@pytest.fixture(scope="module")
def wide(bench_opts: dict[str, Any]) -> Any:
    return wide_table(bench_opts["wide_columns"], bench_opts["wide_rows"])


@pytest.mark.parametrize("system_name", SYSTEMS)
def test_wide_read_5_columns(
    benchmark: Any, file_cache: FileCache, bench_opts: dict[str, Any], wide: Any, system_name: str
) -> None:
    sys_ = get_system(system_name)
    key = f"wide-{wide.num_columns}x{wide.num_rows}"
    path, size, write_s = file_cache.get(key, sys_, lambda: wide)
    cols = wide_columns_to_read(wide)

    benchmark.group = f"wide: open + read 5 of {wide.num_columns} columns"
    benchmark.extra_info.update(
        {"system": sys_.name, "columns": cols, "file_bytes": size, "write_seconds": write_s}
    )
    result = benchmark.pedantic(
        sys_.read, args=(path, cols), rounds=rounds(bench_opts, 10), warmup_rounds=1
    )
    assert result.equals(wide.select(cols))
