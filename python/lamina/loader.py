"""Training input without a framework: sharded, shuffled, resumable batches of numpy arrays
from one snapshot of a table. ``lamina.torch`` wraps it for PyTorch; this module does not
import torch.

Sharding. A reader is shard ``s`` of ``n`` (``rank * num_workers + worker``). The
snapshot's splits (buckets) are the units of work; when there are fewer than ``n``, each
is cut into key ranges of about equal rows (keys of its largest file at evenly spaced
rows), read each on its own by the windowed merge. Shard s reads the units at positions
s, s + n, ... of the unit order, so every row is read by exactly one shard per epoch.
With ``even_batches`` every shard yields the same number of batches (the smallest any
shard has; units are counted first, by reading their keys), so collectives after each
step never wait for a rank that ran out; the rows of the batches cut off are not seen
that epoch.

Shuffling. ``shuffle=True``: the unit order is a permutation drawn from (seed, epoch),
the same on every shard; rows are shuffled within blocks of ``shuffle_buffer`` rows by
(seed, epoch, shard). ``shuffle="global"``: a permutation of every row position of the
snapshot drawn from (seed, epoch), read with ``scan.take`` (lamina's random access) in
the shard's part of the permutation. Different epochs give different orders; the same
(seed, epoch) always gives the same batches.

Resuming. The position of a shard is (epoch, batches yielded): ``iter_batches(...,
skip=k)`` regenerates the epoch's batches and drops the first k before collating them, so
a resumed epoch yields exactly the batches that were not yet yielded.

Collation (``collate``): numeric and bool columns without nulls become 1-D arrays without
a copy; fixed-size lists of numbers become 2-D arrays without a copy; variable-length
lists of numbers ("jagged") become ``values`` + ``offsets`` (int64, from 0), or a padded
2-D array with a mask (``jagged="padded"``), or one TorchRec KeyedJaggedTensor layout for
all jagged columns (``jagged="kjt"``: keys, values, lengths key-major); strings stay
Python lists (or are dropped). Nulls in numeric columns are filled with
``null_value`` and reported in ``<column>.valid``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lamina.errors import InvalidArgumentError

__all__ = ["Loader", "collate"]

Batch = dict[str, Any]
Jagged = Literal["offsets", "padded", "kjt"]


class Loader:
    """Batches of one snapshot for training; see the module docstring.

    Args:
        table: A ``lamina.Table`` or a table path.
        columns, filter: As for ``Table.scan``.
        snapshot: Id, tag or datetime (None: the latest at construction). The snapshot
            read is pinned and exposed as ``snapshot_id``.
        batch_size: Rows per batch.
        shuffle: False, True (split order + shuffle buffer) or "global" (via take).
        seed: Seeds every shuffle.
        drop_last: Drop each shard's last partial batch.
        shuffle_buffer: Rows shuffled together (shuffle=True).
        even_batches: Every shard yields the same number of batches.
        jagged, max_len, pad_value, strings, null_value: collation (see ``collate``).
        memory_budget: Of each streaming read (``Scan.to_batches``).
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
        shuffle_buffer: int = 65536,
        even_batches: bool = False,
        jagged: Jagged = "offsets",
        max_len: int | None = None,
        pad_value: float = 0,
        strings: Literal["list", "drop"] = "list",
        null_value: float = 0,
        memory_budget: int | None = None,
    ) -> None:
        from lamina.table import Table, open_table

        t = table if isinstance(table, Table) else open_table(os.fspath(table))
        snap = t.snapshot(snapshot)
        if snapshot is not None and snap is None:
            raise InvalidArgumentError(f"snapshot {snapshot!r} refers to nothing")
        for name, v in (("batch_size", batch_size), ("shuffle_buffer", shuffle_buffer)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidArgumentError(f"{name} must be a positive int")
        if shuffle not in (True, False, "global"):
            raise InvalidArgumentError("shuffle must be True, False or 'global'")
        if jagged not in ("offsets", "padded", "kjt"):
            raise InvalidArgumentError("jagged must be 'offsets', 'padded' or 'kjt'")
        if strings not in ("list", "drop"):
            raise InvalidArgumentError("strings must be 'list' or 'drop'")
        if max_len is not None and (not isinstance(max_len, int) or max_len < 1):
            raise InvalidArgumentError("max_len must be a positive int or None")
        self.table = t
        self.snapshot_id = None if snap is None else snap.id
        self.columns = None if columns is None else list(columns)
        self.filter = filter
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.shuffle_buffer = shuffle_buffer
        self.even_batches = bool(even_batches)
        self.collate_options: dict[str, Any] = {
            "jagged": jagged, "max_len": max_len, "pad_value": pad_value,
            "strings": strings, "null_value": null_value,
        }  # fmt: skip
        self.memory_budget = memory_budget
        self._scan = t.scan(columns=self.columns, filter=filter, snapshot=self.snapshot_id)
        self._splits = self._scan.plan() if snap is not None else []
        self._unit_cache: dict[int, list[Any]] = {}  # shards -> units
        self._counts: dict[Any, int] = {}  # unit -> rows (even_batches)
        self._total: int | None = None

    # ---- planning -------------------------------------------------------------------------

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])

    def _units(self, n: int) -> list[Any]:
        """The units of work for ``n`` shards: the splits, cut into key ranges when
        there are fewer than ``n`` (the same list on every shard)."""
        if n not in self._unit_cache:
            splits = self._splits
            if len(splits) >= n or not splits:
                units = [(s, None, None) for s in splits]
            else:
                per = -(-n // len(splits))
                units = [u for s in splits for u in self._scan._parts(s, per)]
            self._unit_cache[n] = units
        return self._unit_cache[n]

    def _unit_order(self, n_units: int, epoch: int) -> list[int]:
        if self.shuffle is True:
            return [int(i) for i in self._rng(epoch).permutation(n_units)]
        return list(range(n_units))

    def _batches_of(self, rows: int) -> int:
        if self.drop_last:
            return rows // self.batch_size
        return -(-rows // self.batch_size)

    def _unit_rows(self, unit: Any) -> int:
        key = (id(unit[0]), unit[1], unit[2])
        if key not in self._counts:
            self._counts[key] = self._scan._part_count(unit)
        return self._counts[key]

    def total_rows(self) -> int:
        """Rows of the snapshot (after the filter)."""
        if self._total is None:
            self._total = self._scan.count() if self._splits else 0
        return self._total

    def num_batches(self, shard: int = 0, num_shards: int = 1, epoch: int = 0) -> int:
        """Batches shard ``shard`` of ``num_shards`` yields in ``epoch``."""
        _check_shard(shard, num_shards)
        if not self._splits:
            return 0
        counts = self._shard_batches(num_shards, epoch)
        return min(counts) if self.even_batches else counts[shard]

    def _shard_batches(self, n: int, epoch: int) -> list[int]:
        """The batches each of ``n`` shards has in ``epoch`` (before even_batches)."""
        if self.shuffle == "global":
            total = self.total_rows()
            return [self._batches_of(_part_size(total, s, n)) for s in range(n)]
        units = self._units(n)
        order = self._unit_order(len(units), epoch)
        return [
            self._batches_of(sum(self._unit_rows(units[i]) for i in order[s::n])) for s in range(n)
        ]

    # ---- reading --------------------------------------------------------------------------

    def iter_batches(
        self, epoch: int = 0, shard: int = 0, num_shards: int = 1, skip: int = 0
    ) -> Iterator[Batch]:
        """The collated batches of shard ``shard`` of ``num_shards`` in ``epoch``, after
        dropping the first ``skip`` (a resumed epoch). Each block of batches is converted
        to numpy once and cut into batches by slicing (views); skipped blocks are not
        converted at all."""
        size = self.batch_size
        i = 0
        for block in self._blocks(epoch, shard, num_shards):
            n = -(-block.num_rows // size)
            if i + n <= skip:
                i += n
                continue
            cols = _columnar(block, self.collate_options)
            for j in range(n):
                if i >= skip:
                    yield _cut(cols, j * size, min((j + 1) * size, block.num_rows),
                               self.collate_options)  # fmt: skip
                i += 1

    def iter_tables(
        self, epoch: int = 0, shard: int = 0, num_shards: int = 1
    ) -> Iterator[pa.Table]:
        """As ``iter_batches``, uncollated (pyarrow Tables)."""
        size = self.batch_size
        for block in self._blocks(epoch, shard, num_shards):
            for a in range(0, block.num_rows, size):
                yield block.slice(a, size)

    def _blocks(self, epoch: int, shard: int, num_shards: int) -> Iterator[pa.Table]:
        """The shard's rows in order, as tables of whole batches (the last may end with a
        partial one), after drop_last and even_batches."""
        _check_shard(shard, num_shards)
        if not self._splits:
            return
        size = self.batch_size
        limit = self.num_batches(shard, num_shards, epoch) if self.even_batches else None
        if self.shuffle == "global":
            gen = self._global(epoch, shard, num_shards)
        else:
            gen = self._streamed(epoch, shard, num_shards)
        left = limit
        for block in gen:
            whole = block.num_rows - block.num_rows % size
            if self.drop_last and whole < block.num_rows:
                block = block.slice(0, whole)
            if left is not None:
                block = block.slice(0, min(block.num_rows, left * size))
                left -= -(-block.num_rows // size)
            if block.num_rows:
                yield block
            if left is not None and left <= 0:
                return

    def _global(self, epoch: int, shard: int, num_shards: int) -> Iterator[pa.Table]:
        total = self.total_rows()
        perm = self._rng(epoch).permutation(total)
        lo = _part_start(total, shard, num_shards)
        mine = perm[lo : lo + _part_size(total, shard, num_shards)]
        n = self._batches_of(len(mine))
        for b in range(n):
            idx = mine[b * self.batch_size : (b + 1) * self.batch_size]
            yield self._scan.take(idx)

    def _streamed(self, epoch: int, shard: int, num_shards: int) -> Iterator[pa.Table]:
        units = self._units(num_shards)
        order = self._unit_order(len(units), epoch)
        mine = [units[i] for i in order[shard::num_shards]]
        stream = _blocks_of(self._scan, mine, self.batch_size, self.memory_budget)
        if self.shuffle is True:
            stream = _buffer_shuffle(
                stream, self.batch_size, self.shuffle_buffer, self._rng(epoch, shard)
            )
        yield from stream


def _check_shard(shard: int, num_shards: int) -> None:
    if not (isinstance(num_shards, int) and num_shards >= 1 and 0 <= shard < num_shards):
        raise InvalidArgumentError(f"shard {shard!r} of {num_shards!r} shards is not valid")


def _part_start(total: int, shard: int, n: int) -> int:
    return shard * (total // n) + min(shard, total % n)


def _part_size(total: int, shard: int, n: int) -> int:
    return total // n + (1 if shard < total % n else 0)


def _blocks_of(scan: Any, units: list[Any], size: int, budget: int | None) -> Iterator[pa.Table]:
    """The units' rows, streamed, as tables of whole batches of ``size`` rows (the last
    may end with a partial one); rows are copied only where a batch spans two of the
    core's batches."""
    held: list[pa.RecordBatch] = []
    rows = 0
    for b in scan._part_batches(units, budget, size):
        held.append(b)
        rows += b.num_rows
        if rows >= size:
            cut = rows - rows % size
            table = pa.Table.from_batches(held)
            if len(held) > 1:
                table = table.combine_chunks()
            yield table.slice(0, cut)
            rest = table.slice(cut)
            held = rest.to_batches() if rest.num_rows else []
            rows = rest.num_rows
    if rows:
        yield pa.Table.from_batches(held).combine_chunks()


def _buffer_shuffle(
    tables: Iterator[pa.Table], size: int, buffer: int, rng: np.random.Generator
) -> Iterator[pa.Table]:
    """The rows, shuffled within blocks of about ``buffer`` rows (whole batches)."""
    held: list[pa.Table] = []
    rows = 0
    for t in tables:
        held.append(t)
        rows += t.num_rows
        if rows >= max(buffer, size):
            block = pa.concat_tables(held)
            cut = rows - rows % size  # whole batches only, the rest waits
            yield block.slice(0, cut).take(pa.array(rng.permutation(cut)))
            rest = block.slice(cut)
            held, rows = ([rest] if rest.num_rows else []), rest.num_rows
    if rows:
        yield pa.concat_tables(held).take(pa.array(rng.permutation(rows)))


# ---- collation ---------------------------------------------------------------------------


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t))


def _flat(col: pa.Array, null_value: float) -> tuple[np.ndarray, np.ndarray | None]:
    valid = None
    if col.null_count:
        valid = col.is_valid().to_numpy(zero_copy_only=False)
        col = col.fill_null(pa.scalar(null_value).cast(col.type))
    if pa.types.is_boolean(col.type):
        return col.to_numpy(zero_copy_only=False), valid
    return col.to_numpy(zero_copy_only=True), valid


def _list_parts(col: pa.Array, null_value: float) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets from 0 as int64) of a list column; a null list is empty."""
    offsets = col.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    if col.null_count:
        # A null list may still own a range of values: count it as empty.
        lengths = np.diff(offsets)
        lengths[~col.is_valid().to_numpy(zero_copy_only=False)] = 0
        values = pc.list_flatten(col)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
    else:
        values = col.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
        offsets = offsets - offsets[0]
    vals, _ = _flat(values, null_value)
    return vals, offsets


def _pad(
    values: np.ndarray, offsets: np.ndarray, max_len: int | None, pad: float
) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.diff(offsets)
    width = int(lengths.max(initial=0)) if max_len is None else max_len
    pos = np.arange(width)
    mask = pos[None, :] < lengths[:, None]
    out = np.full((len(lengths), width), pad, dtype=values.dtype)
    src = offsets[:-1, None] + pos[None, :]
    out[mask] = values[src[mask]]
    return out, mask


def _columnar(table: pa.Table, options: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Each column of ``table`` converted once: (name, kind, data) with kind "flat"
    (array, valid or None), "fixed" (2-D array), "jagged" (values, offsets from 0) or
    "strings" (a list); string columns are left out with strings="drop"."""
    null_value = options.get("null_value", 0)
    out: list[tuple[str, str, Any]] = []
    for name in table.column_names:
        chunked = table.column(name)
        # combine_chunks copies even a single (sliced) chunk
        col = chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()
        t = col.type
        if _numeric(t):
            out.append((name, "flat", _flat(col, null_value)))
        elif pa.types.is_fixed_size_list(t) and _numeric(t.value_type):
            if col.null_count:
                col = col.fill_null(pa.scalar([null_value] * t.list_size, t))
            flat = col.values.slice(col.offset * t.list_size, len(col) * t.list_size)
            vals, _ = _flat(flat, null_value)
            out.append((name, "fixed", vals.reshape(len(col), t.list_size)))
        elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and _numeric(t.value_type):
            out.append((name, "jagged", _list_parts(col, null_value)))
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
            if options.get("strings", "list") == "list":
                out.append((name, "strings", col.to_pylist()))
        else:
            raise InvalidArgumentError(f"column {name!r} of type {t} cannot be collated")
    return out


def _cut(cols: list[tuple[str, str, Any]], a: int, b: int, options: dict[str, Any]) -> Batch:
    """Rows [a, b) of converted columns as a batch: views, except the offsets (rebased)
    and the padded or KJT forms of jagged columns."""
    jagged = options.get("jagged", "offsets")
    out: Batch = {}
    kjt: list[tuple[str, np.ndarray, np.ndarray]] = []
    for name, kind, data in cols:
        if kind == "flat":
            arr, valid = data
            out[name] = arr[a:b]
            if valid is not None:
                out[f"{name}.valid"] = valid[a:b]
        elif kind in ("fixed", "strings"):
            out[name] = data[a:b]
        else:
            values, offsets = data
            offs = offsets[a : b + 1]
            vals = values[offs[0] : offs[-1]]
            offs = offs - offs[0]
            if jagged == "padded":
                out[name], out[f"{name}.mask"] = _pad(
                    vals, offs, options.get("max_len"), options.get("pad_value", 0)
                )
            elif jagged == "kjt":
                kjt.append((name, vals, offs))
            else:
                out[name] = vals
                out[f"{name}.offsets"] = offs
    if kjt:
        out["kjt.keys"] = [k for k, _, _ in kjt]
        dtype = np.result_type(*[v.dtype for _, v, _ in kjt])
        out["kjt.values"] = np.concatenate([v.astype(dtype, copy=False) for _, v, _ in kjt])
        out["kjt.lengths"] = np.concatenate([np.diff(o) for _, _, o in kjt]).astype(np.int64)
    return out


def collate(
    table: pa.Table,
    jagged: Jagged = "offsets",
    max_len: int | None = None,
    pad_value: float = 0,
    strings: Literal["list", "drop"] = "list",
    null_value: float = 0,
) -> Batch:
    """A batch (pyarrow Table) as a dict of numpy arrays; see the module docstring."""
    options = {
        "jagged": jagged, "max_len": max_len, "pad_value": pad_value,
        "strings": strings, "null_value": null_value,
    }  # fmt: skip
    return _cut(_columnar(table, options), 0, table.num_rows, options)
