"""Host -> GPU feeding (issue 14): W1 batches from ``lamina.torch.TableDataset`` copied to
a CUDA device through pinned buffers, overlapping the copy of batch i with the read of
batch i + 1 (``non_blocking=True`` on a side stream).

Usage:
    python benchmarks/gpu_feed.py [--scale 0.25] [--batch-size 8192]

Reports rows/s and GB/s reaching the device, against the rows/s the host loop alone
reaches. Runs on machines without CUDA: it then measures the host loop only and says
that it skipped the GPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tables

COLUMNS = (
    ["user_id", "ts"] + [f"cat_{i}" for i in range(16)] + [f"dense_{i}" for i in range(16)]
    + ["seq_items"]
)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    import torch
    from lamina.torch import TableDataset

    root = tempfile.mkdtemp(prefix="lamina-gpu-", dir=args.tmp)
    try:
        path = os.path.join(root, "t")
        tables.ingest_w1("lamina", path, args.scale)
        ds = TableDataset(path, columns=COLUMNS, batch_size=args.batch_size, shuffle=False)
        for _ in ds:  # warm the page cache
            pass
        t0 = time.perf_counter()
        rows = sum(len(b["user_id"]) for b in ds)
        host = time.perf_counter() - t0
        print(f"host loop: {rows:,} rows in {host:.2f} s ({rows / host / 1e6:.2f} M rows/s)")
        if not torch.cuda.is_available():
            print("no CUDA device: skipped the GPU transfer (host loop only)")
            return 0
        dev = torch.device("cuda")
        side = torch.cuda.Stream()
        moved = 0
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        pending: list[Any] = []
        for b in ds:
            tensors = {k: v for k, v in b.items() if isinstance(v, torch.Tensor)}
            pinned = {k: v.pin_memory() for k, v in tensors.items()}
            with torch.cuda.stream(side):
                on_dev = {k: v.to(dev, non_blocking=True) for k, v in pinned.items()}
            moved += sum(v.numel() * v.element_size() for v in pinned.values())
            pending.append((on_dev, pinned))
            if len(pending) > 2:  # keep pinned buffers alive until their copy finished
                side.synchronize()
                pending.pop(0)
        side.synchronize()
        torch.cuda.synchronize()
        gpu = time.perf_counter() - t0
        print(f"to {torch.cuda.get_device_name(0)}: {rows:,} rows in {gpu:.2f} s "
              f"({rows / gpu / 1e6:.2f} M rows/s, {moved / gpu / 1e9:.2f} GB/s); "
              f"host loop alone {rows / host / 1e6:.2f} M rows/s")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
