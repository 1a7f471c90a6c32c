"""PyTorch training input (the optional extra ``lamina[torch]``).

``TableDataset`` is an ``IterableDataset`` over one snapshot of a table: sharded across
DDP ranks and DataLoader workers, shuffled deterministically, resumable mid-epoch with
``state_dict()``/``load_state_dict()`` (torchdata's ``StatefulDataLoader`` calls them in
each worker), and collated into tensors without copies where the Arrow layout allows
(``lamina.loader`` does the work and does not import torch; see it for the sharding,
shuffling and collation rules). ``TableMapDataset`` is a map-style view of a snapshot for
samplers (rows by position through ``scan.take``).

Example:
    >>> ds = TableDataset("/data/users", columns=["age", "clicks", "seq_items"],
    ...                   batch_size=4096, seed=7)
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    >>> for epoch in range(3):
    ...     ds.set_epoch(epoch)
    ...     for batch in loader:   # {"age": Tensor[4096], "seq_items": values,
    ...         ...                #  "seq_items.offsets": Tensor[4097], ...}

Use ``batch_size=None`` in the DataLoader: batches come from lamina whole. Worker
processes may be forked or spawned: the core starts a fresh thread pool in a forked
child, and a dataset pickles as its table path, snapshot and options.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from lamina.errors import InvalidArgumentError
from lamina.loader import Loader, collate

__all__ = ["TableDataset", "TableMapDataset", "to_tensors"]


def to_tensors(batch: dict[str, Any]) -> dict[str, Any]:
    """numpy arrays -> tensors sharing their memory (no copy); other values (lists of
    strings, KJT keys) as they are. Arrays over Arrow buffers are read-only to numpy;
    the tensors may be written (only this batch's buffers change, never the table)."""
    out: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        for k, v in batch.items():
            out[k] = torch.from_numpy(v) if isinstance(v, np.ndarray) else v
    return out


def _packed(batch: dict[str, Any]) -> dict[str, Any]:
    """``to_tensors`` for a DataLoader worker: every array of a dtype copied into one
    buffer, each returned as a view of it. A worker's batch crosses to the main process
    one shared-memory segment per storage, so 34 columns cost 2 segments, not 34 (each is
    created, sent and mapped on its own)."""
    groups: dict[np.dtype[Any], list[str]] = {}
    for k, v in batch.items():
        if isinstance(v, np.ndarray) and v.dtype != np.bool_:
            groups.setdefault(v.dtype, []).append(k)
    out: dict[str, Any] = dict(batch)
    for names in groups.values():
        flat = torch.from_numpy(np.concatenate([batch[k].reshape(-1) for k in names]))
        at = 0
        for k in names:
            v = batch[k]
            out[k] = flat[at : at + v.size].view(v.shape)
            at += v.size
    return to_tensors(out)


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class TableDataset(IterableDataset[dict[str, Any]]):
    """Batches (dicts of tensors) of one snapshot; see the module docstring.

    Args:
        table: A ``lamina.Table`` or a table path.
        rank, world_size: Override the DDP rank and world size (default: from
            ``torch.distributed`` when initialized, else 0 and 1).
        **options: ``lamina.loader.Loader``'s: columns, filter, snapshot, batch_size,
            shuffle (False, True, "global"), seed, drop_last, shuffle_buffer,
            even_batches, jagged ("offsets", "padded", "kjt"), max_len, pad_value,
            strings ("list", "drop"), null_value, memory_budget.

    Attributes:
        snapshot_id: The snapshot every epoch reads (record it with the model).
    """

    def __init__(
        self,
        table: Any,
        columns: Sequence[str] | None = None,
        filter: Any = None,
        snapshot: Any = None,
        batch_size: int = 1024,
        shuffle: bool | str = True,
        seed: int = 0,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        **options: Any,
    ) -> None:
        self._loader = Loader(
            table, columns=columns, filter=filter, snapshot=snapshot, batch_size=batch_size,
            shuffle=shuffle, seed=seed, drop_last=drop_last, **options,
        )  # fmt: skip
        self._args = dict(
            columns=columns, filter=filter, batch_size=batch_size, shuffle=shuffle,
            seed=seed, drop_last=drop_last, **options,
        )  # fmt: skip
        self.snapshot_id = self._loader.snapshot_id
        self._rank, self._world = rank, world_size
        self.epoch = 0
        self._yielded = 0  # batches of this epoch yielded by this worker
        self._skip = 0  # batches to drop at the start of the next iteration (resume)

    def __getstate__(self) -> dict[str, Any]:
        # Spawned workers get the table path and options, not open files or caches.
        state = dict(self.__dict__)
        state["_loader"] = None
        state["_path"] = self._loader.table.path
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        path = state.pop("_path")
        self.__dict__.update(state)
        self._loader = Loader(path, snapshot=self.snapshot_id, **self._args)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration reads (its shuffles and shard assignment)."""
        if not isinstance(epoch, int) or epoch < 0:
            raise InvalidArgumentError("epoch must be a non-negative int")
        self.epoch = epoch
        self._yielded = 0

    def _shard(self) -> tuple[int, int]:
        rank, world = _distributed()
        rank = rank if self._rank is None else self._rank
        world = world if self._world is None else self._world
        if not 0 <= rank < world:
            raise InvalidArgumentError(f"rank {rank} is not in [0, {world})")
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank * workers + worker, world * workers

    def __len__(self) -> int:
        """Batches this rank's worker 0 yields per epoch (with even_batches: every shard's)."""
        shard, n = self._shard()
        return self._loader.num_batches(shard, n, self.epoch)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        shard, n = self._shard()
        skip, self._skip = self._skip, 0
        self._yielded = skip
        convert = _packed if get_worker_info() is not None else to_tensors
        for batch in self._loader.iter_batches(self.epoch, shard, n, skip=skip):
            self._yielded += 1
            yield convert(batch)

    def state_dict(self) -> dict[str, int | None]:
        """The position: epoch and batches yielded in it (a few integers)."""
        return {
            "epoch": self.epoch,
            "batches": self._yielded,
            "seed": self._loader.seed,
            "snapshot_id": self.snapshot_id,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the next iteration yields exactly the batches after the position."""
        if state.get("snapshot_id") != self.snapshot_id or state.get("seed") != self._loader.seed:
            raise InvalidArgumentError(
                "the state was saved by a dataset over another snapshot or seed "
                f"({state.get('snapshot_id')}, {state.get('seed')}); resuming would not "
                "give the remaining batches"
            )
        self.epoch = int(state["epoch"])
        self._skip = int(state["batches"])
        self._yielded = self._skip


class TableMapDataset(Dataset[dict[str, Any]]):
    """Rows of one snapshot by position (``scan.take``), for samplers; ``__getitems__``
    fetches a whole sampler batch in one take and collates it (DataLoader uses it with
    ``batch_size=None`` and a ``BatchSampler``, or its default collation otherwise)."""

    def __init__(
        self,
        table: Any,
        columns: Sequence[str] | None = None,
        snapshot: Any = None,
        **collate_options: Any,
    ) -> None:
        self._loader = Loader(table, columns=columns, snapshot=snapshot, shuffle=False)
        self._collate = collate_options
        self.snapshot_id = self._loader.snapshot_id
        self._len = self._loader.total_rows()

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Row ``index``: scalars as 0-d tensors, a list column as the row's 1-D values."""
        if not -self._len <= index < self._len:
            raise IndexError(f"index {index} out of range for {self._len} rows")
        options = {**self._collate, "jagged": "offsets"}
        batch = to_tensors(collate(self._loader._scan.take([index % self._len]), **options))
        out = {}
        for k, v in batch.items():
            if k.endswith(".offsets"):
                continue
            out[k] = v if f"{k}.offsets" in batch else v[0]
        return out

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Any]:
        idx = np.asarray(indices, dtype=np.int64)
        idx = np.where(idx < 0, idx + self._len, idx)
        return to_tensors(collate(self._loader._scan.take(idx), **self._collate))
