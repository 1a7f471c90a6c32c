"""lamina demo: a primary-key feature table (create, upsert, delete, read, time travel),
then the file format underneath (projection, random take, size beside Parquet).

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
import pyarrow.compute as pc
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


def table_demo(folder: str, table: pa.Table) -> None:
    path = os.path.join(folder, "features")
    if os.path.exists(path):
        import shutil

        shutil.rmtree(path)
    t = lamina.create_table(path, table.schema, primary_key=["user_id"], buckets=2)
    t0 = time.perf_counter()
    s1 = t.write(table)
    print(
        f"table {path}: snapshot {s1.id} upserted {table.num_rows:,} rows "
        f"in {time.perf_counter() - t0:.2f} s"
    )

    n = table.num_rows
    rng = np.random.default_rng(7)
    changed = table.take(rng.choice(n, 1000, replace=False))
    changed = changed.set_column(1, "ts", pa.array(np.ones(1000, dtype=np.int64)))
    s2 = t.write(changed)
    print(f"snapshot {s2.id}: upserted 1,000 changed rows (ts = 1)")

    gone = changed.column("user_id").slice(0, 10)
    s3 = t.delete({"user_id": gone})
    print(f"snapshot {s3.id}: deleted 10 users")

    now = t.read(columns=["user_id", "ts"])
    assert now.num_rows == n - 10
    print(f"current read: {now.num_rows:,} rows, {pc.sum(now.column('ts')).as_py():,} with ts = 1")
    before = t.read(columns=["user_id", "ts"], snapshot=s1.id)
    print(
        f"time travel to snapshot {s1.id}: {before.num_rows:,} rows, "
        f"{pc.sum(before.column('ts')).as_py()} with ts = 1"
    )
    t.tag("first-load", snapshot=s1.id)
    print(f"tagged snapshot {s1.id} as 'first-load'; tags = {t.tags()}")
    asked = [*gone[:1].to_pylist(), 1, 2]
    found = t.lookup({"user_id": asked}, columns=["user_id", "country"]).to_pylist()
    print(f"lookup of users {asked} (the first was deleted): {found}")
    c = t.compact(full=True)
    assert c is not None
    m = c.summary
    print(
        f"snapshot {c.id}: full compaction merged {m['files_in']} files into {m['files_out']}, "
        f"{m['rows_in']:,} rows in, {m['rows_out']:,} out, {m['rows_purged']:,} purged, "
        f"{m['bytes_in'] / 1e6:.1f} MB -> {m['bytes_out'] / 1e6:.1f} MB in {m['seconds']:.2f} s"
    )
    assert t.read(columns=["user_id"]).num_rows == n - 10
    assert t.read(columns=["user_id"], snapshot="first-load").num_rows == n
    expired = t.expire_snapshots(retain_last=1)
    print(f"expired snapshots {expired} (the tagged one stays readable)")
    print(f"snapshots: {[(s.id, s.kind) for s in t.snapshots()]}")


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="lamina-demo-")
    os.makedirs(folder, exist_ok=True)
    n = 200_000
    table = feature_table(n)
    print(
        f"lamina {lamina.__version__}: a {n:,}-row feature table with {table.num_columns} columns"
    )
    table_demo(folder, table)
    print("the file format underneath:")

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
    for row in sample.to_pylist():
        print("  ", row)

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
