"""Primary-key table systems for the W1 upsert workload, each behind one small interface.

W1 (BENCHMARKS.md) is an upsert workload: a base load then upsert batches, each a separate
commit, then reads that must see only the latest version of every key. Every system here
does that its natural, documented way:

- ``lamina``: ``lamina.create_table(..., primary_key=["user_id"])``, ``t.write(batch)``
  (one commit per call), ``t.read()`` (merged read), ``t.lookup(keys)``;
- ``lance``: ``lance.write_dataset`` then, per batch,
  ``ds.merge_insert("user_id").when_matched_update_all().when_not_matched_insert_all()``;
- ``deltalake``: ``write_deltalake`` then ``DeltaTable.merge(...)`` with
  ``when_matched_update_all().when_not_matched_insert_all()``;
- ``parquet+duckdb``: every batch appended as one Parquet file with a ``_batch`` column;
  the merged read is a DuckDB query keeping the last version of each ``user_id``
  (``QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY _batch DESC) = 1``).

Every read opens the table (or dataset) itself, so its time includes opening. Reads return
rows in no particular order; callers sort by ``user_id`` when they compare.

Example:
    >>> from tables import table_system
    >>> s = table_system("lamina")
    >>> s.ingest("/tmp/w1.lamina", base, batches)   # base + one commit per batch
    >>> merged = s.read("/tmp/w1.lamina")
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from typing import Callable

import numpy as np
import pyarrow as pa

__all__ = ["KEY", "TABLE_SYSTEMS", "TableSystem", "table_system"]

KEY = "user_id"


class TableSystem:
    """One primary-key table system: ingest (base + upserts), merged read, lookup.

    ``ingest(path, base, batches)`` writes ``base`` then each batch as its own commit.
    ``read(path, columns)`` is the merged read (latest version per key).
    ``lookup(path, keys, columns)`` returns the current rows of ``keys`` (int64 array).
    ``notes`` says anything a reader of the numbers should know (fsync, index, ...).
    """

    def __init__(
        self,
        name: str,
        ingest: Callable[[str, pa.Table, Sequence[pa.Table]], None],
        read: Callable[[str, Sequence[str] | None], pa.Table],
        lookup: Callable[[str, np.ndarray, Sequence[str] | None], pa.Table],
        version: Callable[[], str],
        notes: str = "",
    ) -> None:
        self.name = name
        self.ingest = ingest
        self.read = read
        self.lookup = lookup
        self.version = version
        self.notes = notes

    def __repr__(self) -> str:
        return f"TableSystem({self.name!r})"


def _cols(columns: Sequence[str] | None) -> list[str] | None:
    return None if columns is None else list(columns)


def _lamina(sync: bool) -> TableSystem:
    import lamina

    def ingest(path: str, base: pa.Table, batches: Sequence[pa.Table]) -> None:
        options = None if sync else {"write.sync": "false"}
        t = lamina.create_table(path, base.schema, primary_key=[KEY], options=options)
        t.write(base)
        for b in batches:
            t.write(b)

    def read(path: str, columns: Sequence[str] | None) -> pa.Table:
        return lamina.open_table(path).read(columns=_cols(columns))

    def lookup(path: str, keys: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        return lamina.open_table(path).lookup(pa.table({KEY: keys}), columns=_cols(columns))

    return TableSystem(
        "lamina" if not sync else "lamina (fsync)", ingest, read, lookup,
        version=lambda: lamina.__version__,
        notes="write.sync=" + ("true (fsync on commit)" if sync else "false (no fsync)"),
    )


def _lance() -> TableSystem:
    import lance
    import pyarrow.compute as pc

    def ingest(path: str, base: pa.Table, batches: Sequence[pa.Table]) -> None:
        lance.write_dataset(base, path)
        for b in batches:
            ds = lance.dataset(path)
            (ds.merge_insert(KEY).when_matched_update_all()
             .when_not_matched_insert_all().execute(b))

    def read(path: str, columns: Sequence[str] | None) -> pa.Table:
        return lance.dataset(path).to_table(columns=_cols(columns))

    def lookup(path: str, keys: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        return lance.dataset(path).to_table(columns=_cols(columns),
                                            filter=pc.field(KEY).isin(pa.array(keys)))

    return TableSystem("lance", ingest, read, lookup, version=lambda: lance.__version__,
                       notes="merge_insert per batch; lookup = filter user_id IN keys "
                             "(no scalar index)")


def _deltalake() -> TableSystem:
    import deltalake
    import pyarrow.compute as pc
    from deltalake import DeltaTable, write_deltalake

    def ingest(path: str, base: pa.Table, batches: Sequence[pa.Table]) -> None:
        write_deltalake(path, base)
        for b in batches:
            (DeltaTable(path)
             .merge(source=b, predicate=f"t.{KEY} = s.{KEY}", source_alias="s",
                    target_alias="t")
             .when_matched_update_all().when_not_matched_insert_all().execute())

    def read(path: str, columns: Sequence[str] | None) -> pa.Table:
        return DeltaTable(path).to_pyarrow_table(columns=_cols(columns))

    def lookup(path: str, keys: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        return DeltaTable(path).to_pyarrow_dataset().to_table(
            columns=_cols(columns), filter=pc.field(KEY).isin(pa.array(keys)))

    return TableSystem("deltalake", ingest, read, lookup,
                       version=lambda: deltalake.__version__,
                       notes="merge per batch; lookup = dataset filter user_id IN keys")


def _parquet_duckdb() -> TableSystem:
    import duckdb
    import pyarrow.parquet as pq

    def ingest(path: str, base: pa.Table, batches: Sequence[pa.Table]) -> None:
        os.makedirs(path)
        for i, b in enumerate([base, *batches]):
            b = b.append_column("_batch", pa.array(np.full(b.num_rows, i, dtype=np.int32)))
            pq.write_table(b, os.path.join(path, f"batch-{i:05d}.parquet"))

    def _query(path: str, columns: Sequence[str] | None, where: str = "") -> pa.Table:
        files = sorted(glob.glob(os.path.join(path, "*.parquet")))
        sel = "* EXCLUDE (_batch)" if columns is None else ", ".join(
            f'"{c}"' for c in columns)
        sql = (f"SELECT {sel} FROM read_parquet({files!r}) {where} "
               f"QUALIFY row_number() OVER (PARTITION BY {KEY} ORDER BY _batch DESC) = 1")
        con = duckdb.connect()
        try:
            return con.sql(sql).to_arrow_table()
        finally:
            con.close()

    def read(path: str, columns: Sequence[str] | None) -> pa.Table:
        return _query(path, columns)

    def lookup(path: str, keys: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        in_list = ", ".join(str(int(k)) for k in keys)
        return _query(path, columns, where=f"WHERE {KEY} IN ({in_list})")

    return TableSystem("parquet+duckdb", ingest, read, lookup,
                       version=lambda: f"duckdb {duckdb.__version__}",
                       notes="one Parquet file per batch (pyarrow default: snappy); "
                             "dedup on read with QUALIFY row_number()")


TABLE_SYSTEMS: dict[str, Callable[[], TableSystem]] = {
    "lamina": lambda: _lamina(sync=False),
    "lamina-fsync": lambda: _lamina(sync=True),
    "lance": _lance,
    "deltalake": _deltalake,
    "parquet+duckdb": _parquet_duckdb,
}


def table_system(name: str) -> TableSystem:
    """One system by name; raises ImportError if its library is missing."""
    return TABLE_SYSTEMS[name]()
