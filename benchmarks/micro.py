"""Seeded data for the format microbenchmarks: the Decode columns and the wide table.

Example:
    >>> from micro import decode_column, DECODE_CASES, wide_table
    >>> decode_column("int_k10", 1000).num_rows
    1000
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["DECODE_CASES", "decode_column", "wide_columns_to_read", "wide_table"]

DECODE_SEED = 7
WIDE_SEED = 11

# Name -> description; every name is a one-column table from decode_column().
DECODE_CASES = {
    "int_k4": "int64 uniform in [0, 2^4)",
    "int_k10": "int64 uniform in [0, 2^10)",
    "int_k17": "int64 uniform in [0, 2^17)",
    "int_k30": "int64 uniform in [0, 2^30)",
    "sorted_ids": "int64 ascending, gaps uniform in [1, 8)",
    "runs": "int64 runs of length 1..200 of values in [0, 1000)",
    "float32": "float32 standard normal",
    "dict_string": "string, 1,000 distinct values of 8-24 chars",
}


def decode_column(case: str, n_rows: int = 1_000_000, seed: int = DECODE_SEED) -> pa.Table:
    """A one-column table (column named ``case``) of ``n_rows`` values for ``case``."""
    rng = np.random.default_rng([seed, list(DECODE_CASES).index(case)])
    arr: pa.Array
    if case.startswith("int_k"):
        k = int(case[len("int_k") :])
        arr = pa.array(rng.integers(0, 1 << k, n_rows, dtype=np.int64))
    elif case == "sorted_ids":
        arr = pa.array(np.cumsum(rng.integers(1, 8, n_rows, dtype=np.int64)))
    elif case == "runs":
        # Enough runs to cover n_rows even if every run had the mean length of ~100.
        n_runs = n_rows // 50 + 1
        lengths = rng.integers(1, 201, n_runs)
        while lengths.sum() < n_rows:
            lengths = np.concatenate([lengths, rng.integers(1, 201, n_runs)])
        values = rng.integers(0, 1000, len(lengths), dtype=np.int64)
        arr = pa.array(np.repeat(values, lengths)[:n_rows])
    elif case == "float32":
        arr = pa.array(rng.standard_normal(n_rows, dtype=np.float32))
    elif case == "dict_string":
        vocab = _random_strings(rng, 1000, 8, 24)
        arr = vocab.take(pa.array(rng.integers(0, len(vocab), n_rows, dtype=np.int32)))
    else:
        raise KeyError(case)
    return pa.table({case: arr})


def _random_strings(rng: np.random.Generator, n: int, min_len: int, max_len: int) -> pa.Array:
    lengths = rng.integers(min_len, max_len + 1, n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    chars = rng.integers(ord("a"), ord("z") + 1, int(offsets[-1]), dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def wide_table(n_columns: int = 10_000, n_rows: int = 1_000, seed: int = WIDE_SEED) -> pa.Table:
    """``n_columns`` columns ``c00000..``: even ones int64 in [0, 1000), odd ones float32."""
    rng = np.random.default_rng(seed)
    n_int = (n_columns + 1) // 2
    ints = rng.integers(0, 1000, (n_int, n_rows), dtype=np.int64)
    floats = rng.standard_normal((n_columns - n_int, n_rows), dtype=np.float32)
    width = len(str(n_columns - 1))
    names = [f"c{i:0{width}d}" for i in range(n_columns)]
    cols = [
        pa.array(ints[i // 2]) if i % 2 == 0 else pa.array(floats[i // 2]) for i in range(n_columns)
    ]
    return pa.Table.from_arrays(cols, names=names)


def wide_columns_to_read(table_or_names: pa.Table | list[str], k: int = 5) -> list[str]:
    """``k`` column names spread evenly over the table, ints and floats mixed."""
    names = (
        table_or_names.column_names
        if isinstance(table_or_names, pa.Table)
        else list(table_or_names)
    )
    n = len(names)
    picks = sorted({min(n - 1, (i * n) // k + i % 2) for i in range(k)})
    return [names[i] for i in picks]
