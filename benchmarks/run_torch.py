"""Training input (issue 14): rows per second into torch tensors for W1's columns.

Usage:
    python benchmarks/run_torch.py [--scale 0.25] [--batch-size 8192] [--workers 0,1,2]

W1 (``w1.py``) at ``--scale``: the base load and 5 upsert batches ingested into lamina
(the read merges them: the primary-key merge is part of what is measured); the merged
rows are also written as a Lance dataset and a Parquet file for the peers. One epoch is
timed per configuration, after a warm-up epoch (the file pages are in the page cache for
every system):

- lamina: ``lamina.torch.TableDataset`` (shuffle=False) through a ``DataLoader``
  (``batch_size=None``) with 0, 1 and 2 worker processes; the W1 columns ``user_id``,
  ``ts``, ``cat_0..15``, ``dense_0..15`` and the jagged ``seq_items`` (values + offsets),
  and the numeric columns alone; and the same table after a full compaction (no merge
  at read, like the peers' files);
- lance: ``lance.torch.data.LanceDataset`` on the numeric columns only (it refuses list
  columns), in the main process (its DataLoader workers would each read everything);
- parquet: ``pyarrow.parquet.ParquetFile.iter_batches`` + ``torch.from_numpy`` per column
  (the list as values + offsets), in the main process.

The rows each configuration yields are checked (the merged row count).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tables

NUMERIC = ["user_id", "ts"] + [f"cat_{i}" for i in range(16)] + [f"dense_{i}" for i in range(16)]
ALL = [*NUMERIC, "seq_items"]


def epoch_rows(batches: Iterable[Any], key: str) -> int:
    n = 0
    for b in batches:
        n += len(b[key])
    return n


def timed_epoch(make: Any, key: str) -> tuple[float, int]:
    epoch_rows(make(), key)  # warm-up epoch
    t0 = time.perf_counter()
    rows = epoch_rows(make(), key)
    return time.perf_counter() - t0, rows


def parquet_batches(path: str, columns: list[str], batch_size: int) -> Iterable[dict[str, Any]]:
    import torch

    for rb in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns):
        out: dict[str, Any] = {}
        for name, col in zip(rb.schema.names, rb.columns):
            if pa.types.is_list(col.type):
                offsets = col.offsets.to_numpy().astype(np.int64)
                out[name] = torch.from_numpy(col.values.to_numpy())
                out[f"{name}.offsets"] = torch.from_numpy(offsets - offsets[0])
            else:
                out[name] = torch.from_numpy(col.to_numpy())
        yield out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--workers", default="0,1,2")
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    import lamina
    import torch
    from lamina.torch import TableDataset
    from torch.utils.data import DataLoader

    root = tempfile.mkdtemp(prefix="lamina-torch-", dir=args.tmp)
    results: list[tuple[str, str, float, int]] = []
    try:
        path = os.path.join(root, "lamina")
        tables.ingest_w1("lamina", path, args.scale)
        merged = lamina.open_table(path).read()
        want = merged.num_rows
        compacted = os.path.join(root, "lamina-compacted")
        shutil.copytree(path, compacted)
        lamina.open_table(compacted).compact(full=True)
        pq_path = os.path.join(root, "w1.parquet")
        pq.write_table(merged, pq_path)
        bs = args.batch_size
        for cols, label in ((ALL, "W1 columns + jagged list"), (NUMERIC, "numeric columns")):
            for w in [int(x) for x in args.workers.split(",")]:

                def make(cols: list[str] = cols, w: int = w) -> Any:
                    ds = TableDataset(path, columns=cols, batch_size=bs, shuffle=False)
                    return DataLoader(ds, batch_size=None, num_workers=w)

                sec, rows = timed_epoch(make, "user_id")
                assert rows == want, (rows, want)
                results.append((f"lamina ({w} workers)", label, sec, rows))

            def make_compacted(cols: list[str] = cols) -> Any:
                ds = TableDataset(compacted, columns=cols, batch_size=bs, shuffle=False)
                return DataLoader(ds, batch_size=None, num_workers=0)

            sec, rows = timed_epoch(make_compacted, "user_id")
            assert rows == want, (rows, want)
            results.append(("lamina, compacted (0 workers)", label, sec, rows))
            sec, rows = timed_epoch(lambda cols=cols: parquet_batches(pq_path, cols, bs), "user_id")
            assert rows == want
            results.append(("parquet + pyarrow + torch.from_numpy", label, sec, rows))
        try:
            import lance
            from lance.torch.data import LanceDataset

            lance_path = os.path.join(root, "w1.lance")
            lance.write_dataset(merged, lance_path)

            def lance_batches() -> Any:
                return LanceDataset(lance_path, batch_size=bs, columns=NUMERIC)

            sec, rows = timed_epoch(lance_batches, "user_id")
            assert rows == want, (rows, want)
            results.append((f"lance.torch {lance.__version__}", "numeric columns", sec, rows))
        except ImportError:
            print("lance not installed: skipped")
        del torch
    finally:
        shutil.rmtree(root, ignore_errors=True)
    cores = os.cpu_count() or 1
    print(f"\nrows/s into torch tensors, W1 at scale {args.scale} ({want:,} merged rows), "
          f"batch {args.batch_size}, {cores} cores, one epoch after a warm-up")  # fmt: skip
    print("| reader | columns | epoch | rows/s | rows/s per core |")
    print("|---|---|---|---|---|")
    for name, label, sec, rows in results:
        print(f"| {name} | {label} | {sec:.2f} s | {rows / sec / 1e6:.2f} M | "
              f"{rows / sec / 1e6 / cores:.2f} M |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
