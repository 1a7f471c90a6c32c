"""lamina demo: write a feature table to a lamina file, read a projection, take random rows,
and compare the file's size with Parquet's.

    python examples/demo.py [folder]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import lamina
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def feature_table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 50, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    items = rng.integers(0, 1_000_000, int(offsets[-1]))
    cols = {
        "user_id": rng.permutation(n).astype(np.int64),
        "ts": np.zeros(n, dtype=np.int64),
    }
    cards = [10, 100, 1_000, 100_000]
    for i in range(16):
        cols[f"cat_{i}"] = rng.integers(0, cards[i % 4], n)
    for i in range(16):
        cols[f"dense_{i}"] = rng.standard_normal(n).astype(np.float32)
    table = pa.table(cols)
    seq = pa.ListArray.from_arrays(pa.array(offsets), pa.array(items))
    countries = np.array(["US", "DE", "FR", "JP", "BR", "IN", "GB", "CA"])
    return table.append_column("seq_items", seq).append_column(
        "country", pa.array(countries[rng.integers(0, 8, n)])
    )


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="lamina-demo-")
    os.makedirs(folder, exist_ok=True)
    n = 200_000
    table = feature_table(n)
    print(
        f"lamina {lamina.__version__}: a {n:,}-row feature table with {table.num_columns} columns"
    )

    path = os.path.join(folder, "features.lam")
    t0 = time.perf_counter()
    lamina.format.write_file(path, table)
    print(f"wrote {path} in {time.perf_counter() - t0:.3f} s")

    reader = lamina.format.FileReader(path)
    proj = reader.read(["user_id", "cat_3", "country"])
    assert proj.equals(table.select(["user_id", "cat_3", "country"]))
    print(f"read back a 3-column projection: {proj.num_rows:,} rows, equal to the input")

    rows = np.random.default_rng(1).integers(0, n, 5)
    sample = reader.take(rows, columns=["user_id", "cat_15", "dense_0", "country"])
    assert sample.equals(table.take(rows).select(sample.column_names))
    print("took 5 random rows:")
    print(sample.to_pandas().to_string(index=False))

    stats = reader.statistics("user_id")
    print(f"user_id statistics: min={stats['min']} max={stats['max']} pages={stats['num_pages']}")

    sizes = {"lamina": os.path.getsize(path)}
    for codec in ("none", "zstd"):
        p = os.path.join(folder, f"features.{codec}.parquet")
        pq.write_table(table, p, compression=codec)
        sizes[f"parquet ({codec})"] = os.path.getsize(p)
    print("file sizes:")
    for name, size in sizes.items():
        print(f"  {name:<16} {size / 1e6:8.2f} MB  ({size / sizes['lamina']:.2f}x lamina)")


if __name__ == "__main__":
    main()
