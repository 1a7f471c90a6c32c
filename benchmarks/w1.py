"""Seeded generator of the W1 recommendation-upsert table (see BENCHMARKS.md, "W1").

The table is keyed by ``user_id`` and has 36 columns: ``user_id``, ``ts``, ``cat_0..15``,
``dense_0..15``, ``seq_items`` (list<int64>) and ``country``. Every column is generated
with vectorised numpy calls, so a 2,000,000-row base table takes seconds, and the same
seed always gives the same bytes.

The full-size workload is ``W1Scale()`` (2,000,000 base rows, 5 upsert batches of 400,000);
``W1Scale.scaled(f)`` shrinks every count by ``f`` for tests and quick runs.

Example:
    >>> from w1 import W1Scale, base_table, upsert_batches
    >>> s = W1Scale.scaled(0.001)
    >>> base = base_table(s.base_rows, seed=0)
    >>> batches = list(upsert_batches(s.base_rows, seed=0, n_batches=s.n_batches,
    ...                               batch_rows=s.batch_rows))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = [
    "CATEGORY_CARDINALITIES",
    "COUNTRIES",
    "DEFAULT_SEED",
    "W1Scale",
    "base_table",
    "make_rows",
    "schema",
    "upsert_batches",
]

DEFAULT_SEED = 20240501
N_CAT = 16
N_DENSE = 16
CATEGORY_CARDINALITIES = (10, 100, 1_000, 100_000)
SEQ_MAX_LEN = 49
SEQ_ID_RANGE = 1_000_000
COUNTRIES = ("US", "GB", "DE", "FR", "JP", "BR", "IN", "CN")


@dataclass(frozen=True)
class W1Scale:
    """Row counts of one W1 run. The defaults are the full-size workload."""

    base_rows: int = 2_000_000
    n_batches: int = 5
    batch_rows: int = 400_000

    @classmethod
    def scaled(cls, factor: float) -> W1Scale:
        """The full workload with every row count multiplied by ``factor`` (at least 2 rows)."""
        full = cls()
        return cls(
            base_rows=max(2, int(full.base_rows * factor)),
            n_batches=full.n_batches,
            batch_rows=max(2, int(full.batch_rows * factor)),
        )

    @property
    def rows_in(self) -> int:
        return self.base_rows + self.n_batches * self.batch_rows

    @property
    def distinct_keys(self) -> int:
        return self.base_rows + self.n_batches * (self.batch_rows - self.batch_rows // 2)


def schema() -> pa.Schema:
    fields = [pa.field("user_id", pa.int64()), pa.field("ts", pa.int64())]
    fields += [pa.field(f"cat_{i}", pa.int64()) for i in range(N_CAT)]
    fields += [pa.field(f"dense_{i}", pa.float32()) for i in range(N_DENSE)]
    fields += [pa.field("seq_items", pa.list_(pa.int64())), pa.field("country", pa.string())]
    return pa.schema(fields)


def make_rows(keys: np.ndarray, ts: int, rng: np.random.Generator) -> pa.Table:
    """The W1 rows for ``keys`` (in the given order), stamped with batch number ``ts``."""
    n = len(keys)
    cols: list[pa.Array] = [
        pa.array(np.asarray(keys, dtype=np.int64)),
        pa.array(np.full(n, ts, dtype=np.int64)),
    ]
    for i in range(N_CAT):
        card = CATEGORY_CARDINALITIES[i % len(CATEGORY_CARDINALITIES)]
        cols.append(pa.array(rng.integers(0, card, n, dtype=np.int64)))
    for _ in range(N_DENSE):
        cols.append(pa.array(rng.standard_normal(n, dtype=np.float32)))

    lengths = rng.integers(0, SEQ_MAX_LEN + 1, n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = rng.integers(0, SEQ_ID_RANGE, int(offsets[-1]), dtype=np.int64)
    # int32 offsets give the plain list<int64> type; they overflow only past 2**31 ids.
    offset_type = np.int32 if offsets[-1] < np.iinfo(np.int32).max else np.int64
    list_cls = pa.ListArray if offset_type is np.int32 else pa.LargeListArray
    cols.append(list_cls.from_arrays(pa.array(offsets.astype(offset_type)), pa.array(values)))

    codes = rng.integers(0, len(COUNTRIES), n, dtype=np.int32)
    cols.append(pa.array(COUNTRIES, type=pa.string()).take(pa.array(codes)))

    sch = schema()
    if list_cls is pa.LargeListArray:
        sch = sch.set(
            sch.get_field_index("seq_items"), pa.field("seq_items", pa.large_list(pa.int64()))
        )
    return pa.Table.from_arrays(cols, schema=sch)


def base_table(n_rows: int = 2_000_000, seed: int = DEFAULT_SEED) -> pa.Table:
    """The base load: keys ``0..n_rows-1`` in random order, ``ts = 0``."""
    rng = np.random.default_rng([seed, 0])
    keys = rng.permutation(n_rows).astype(np.int64)
    return make_rows(keys, 0, rng)


def upsert_batches(
    n_base: int = 2_000_000,
    seed: int = DEFAULT_SEED,
    n_batches: int = 5,
    batch_rows: int = 400_000,
) -> Iterator[pa.Table]:
    """The upsert batches that follow ``base_table(n_base, seed)``, one table per batch.

    Batch ``b`` (``ts = b``, from 1) holds ``batch_rows // 2`` updates of distinct keys
    drawn from every key that exists before it (base keys and the new keys of earlier
    batches) and the rest new keys, continuing after the largest key so far; rows are
    shuffled. Each batch has its own random stream, so batch ``b`` does not depend on
    how many earlier batches were consumed.
    """
    n_updates = batch_rows // 2
    n_new = batch_rows - n_updates
    for b in range(1, n_batches + 1):
        rng = np.random.default_rng([seed, b])
        existing = n_base + (b - 1) * n_new
        updates = rng.choice(existing, size=min(n_updates, existing), replace=False)
        new = np.arange(existing, existing + n_new, dtype=np.int64)
        keys = np.concatenate([updates.astype(np.int64), new])
        rng.shuffle(keys)
        yield make_rows(keys, b, rng)
