"""Decode microbenchmark (BENCHMARKS.md): read one column of a one-column file.

lamina's ``FileReader(path).read([col])`` against ``pq.read_table(path, columns=[col])`` on
an uncompressed and a zstd Parquet file (and pylance when installed); opening is timed.
"""

from __future__ import annotations

from typing import Any

import pytest
from benchutil import FileCache, get_system, rounds
from micro import DECODE_CASES, decode_column

SYSTEMS = ["lamina", "parquet", "parquet-zstd", "lance"]


@pytest.mark.parametrize("system_name", SYSTEMS)
@pytest.mark.parametrize("case", list(DECODE_CASES))
def test_decode(
    benchmark: Any, file_cache: FileCache, bench_opts: dict[str, Any], case: str, system_name: str
) -> None:
    sys_ = get_system(system_name)
    n = bench_opts["decode_rows"]
    table = decode_column(case, n)
    path, size, _ = file_cache.get(f"decode-{case}-{n}", sys_, lambda: table)

    benchmark.group = f"decode {case}"
    benchmark.extra_info.update(
        {
            "system": sys_.name,
            "case": DECODE_CASES[case],
            "rows": n,
            "file_bytes": size,
            "bytes_per_value": size / n,
        }
    )
    result = benchmark.pedantic(
        sys_.read, args=(path, [case]), rounds=rounds(bench_opts, 15), warmup_rounds=1
    )
    assert result.equals(table)
