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
  (``QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY _batch DESC) = 1``);
- ``parquet+polars``: the same files (without ``_batch``); the merged read is a polars lazy
  scan of the files in commit order with ``unique(subset=["user_id"], keep="last")``;
- ``pypaimon``: a primary-key table (1 bucket) in a filesystem catalog, one batch write
  and commit per batch; reads through the read builder.

Each system also has ``take`` (rows at positions of its current table) and, where the
system has one, ``compact`` (its compaction plus removal of old versions).

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

__all__ = ["KEY", "TABLE_SYSTEMS", "TableSystem", "ingest_w1", "table_system"]

KEY = "user_id"


class TableSystem:
    """One primary-key table system: ingest (base + upserts), merged read, lookup.

    ``ingest(path, base, batches)`` writes ``base`` then each batch as its own commit.
    ``read(path, columns)`` is the merged read (latest version per key).
    ``lookup(path, keys, columns)`` returns the current rows of ``keys`` (int64 array).
    ``take(path, indices)`` returns the current rows at ``indices`` (positions in the
    system's own row order of the current table; every column).
    ``compact(path)`` rewrites the table into its compacted form and removes what the
    old versions held (None: the system has no compaction).
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
        take: Callable[[str, np.ndarray], pa.Table] | None = None,
        compact: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.ingest = ingest
        self.read = read
        self.lookup = lookup
        self.version = version
        self.notes = notes
        self.take = (
            take if take is not None else (lambda path, idx: read(path, None).take(pa.array(idx)))
        )
        self.compact = compact

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

    def take(path: str, idx: np.ndarray) -> pa.Table:
        scan = lamina.open_table(path).scan()
        if hasattr(scan, "take"):
            return scan.take(idx)
        return scan.to_arrow().take(pa.array(idx))

    def compact(path: str) -> None:
        import datetime

        t = lamina.open_table(path)
        t.compact(full=True)
        t.expire_snapshots(retain_last=1)
        t.remove_orphan_files(older_than=datetime.timedelta(0))

    return TableSystem(
        "lamina" if not sync else "lamina (fsync)",
        ingest,
        read,
        lookup,
        version=lambda: lamina.__version__,
        notes="write.sync=" + ("true (fsync on commit)" if sync else "false (no fsync)"),
        take=take,
        compact=compact,
    )


def _lance() -> TableSystem:
    import lance
    import pyarrow.compute as pc

    def ingest(path: str, base: pa.Table, batches: Sequence[pa.Table]) -> None:
        lance.write_dataset(base, path)
        for b in batches:
            ds = lance.dataset(path)
            (
                ds.merge_insert(KEY)
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(b)
            )

    def read(path: str, columns: Sequence[str] | None) -> pa.Table:
        return lance.dataset(path).to_table(columns=_cols(columns))

    def lookup(path: str, keys: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        return lance.dataset(path).to_table(
            columns=_cols(columns), filter=pc.field(KEY).isin(pa.array(keys))
        )

    def take(path: str, idx: np.ndarray) -> pa.Table:
        return lance.dataset(path).take(idx)

    def compact(path: str) -> None:
        import datetime

        ds = lance.dataset(path)
        ds.optimize.compact_files()
        lance.dataset(path).cleanup_old_versions(older_than=datetime.timedelta(0))

    return TableSystem(
        "lance",
        ingest,
        read,
        lookup,
        version=lambda: lance.__version__,
        notes="merge_insert per batch; lookup = filter user_id IN keys "
        "(no scalar index); compaction = optimize.compact_files + "
        "cleanup_old_versions",
        take=take,
        compact=compact,
    )


def _deltalake() -> TableSystem:
    import deltalake
    import pyarrow.compute as pc
    from deltalake import DeltaTable, write_deltalake

    def ingest(path: str, base: pa.Table, batches: Sequence[pa.Table]) -> None:
        write_deltalake(path, base)
        for b in batches:
            (
                DeltaTable(path)
                .merge(source=b, predicate=f"t.{KEY} = s.{KEY}", source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )

    def read(path: str, columns: Sequence[str] | None) -> pa.Table:
        return DeltaTable(path).to_pyarrow_table(columns=_cols(columns))

    def lookup(path: str, keys: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        return (
            DeltaTable(path)
            .to_pyarrow_dataset()
            .to_table(columns=_cols(columns), filter=pc.field(KEY).isin(pa.array(keys)))
        )

    def take(path: str, idx: np.ndarray) -> pa.Table:
        return DeltaTable(path).to_pyarrow_dataset().take(pa.array(idx))

    def compact(path: str) -> None:
        dt = DeltaTable(path)
        dt.optimize.compact()
        DeltaTable(path).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)

    return TableSystem(
        "deltalake",
        ingest,
        read,
        lookup,
        version=lambda: deltalake.__version__,
        notes="merge per batch; lookup = dataset filter user_id IN keys; "
        "compaction = optimize.compact + vacuum(0)",
        take=take,
        compact=compact,
    )


def _write_batch_files(path: str, tables: Sequence[pa.Table], batch_column: bool) -> None:
    """One Parquet file per commit, in commit order (``_batch`` = the commit number)."""
    import pyarrow.parquet as pq

    os.makedirs(path, exist_ok=True)
    for i, b in enumerate(tables):
        if batch_column:
            b = b.append_column("_batch", pa.array(np.full(b.num_rows, i, dtype=np.int32)))
        pq.write_table(b, os.path.join(path, f"batch-{i:05d}.parquet"))


def _replace_with_one_file(path: str, merged: pa.Table, batch_column: bool) -> None:
    """The Parquet systems' compaction: the deduplicated table as the only file."""
    for f in glob.glob(os.path.join(path, "*.parquet")):
        os.remove(f)
    _write_batch_files(path, [merged], batch_column)


def _parquet_duckdb() -> TableSystem:
    import duckdb

    def ingest(path: str, base: pa.Table, batches: Sequence[pa.Table]) -> None:
        _write_batch_files(path, [base, *batches], batch_column=True)

    def _query(path: str, columns: Sequence[str] | None, where: str = "") -> pa.Table:
        files = sorted(glob.glob(os.path.join(path, "*.parquet")))
        sel = "* EXCLUDE (_batch)" if columns is None else ", ".join(f'"{c}"' for c in columns)
        sql = (
            f"SELECT {sel} FROM read_parquet({files!r}) {where} "
            f"QUALIFY row_number() OVER (PARTITION BY {KEY} ORDER BY _batch DESC) = 1"
        )
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

    def compact(path: str) -> None:
        _replace_with_one_file(path, _query(path, None), batch_column=True)

    return TableSystem(
        "parquet+duckdb",
        ingest,
        read,
        lookup,
        version=lambda: f"duckdb {duckdb.__version__}",
        notes="one Parquet file per batch (pyarrow default: snappy); "
        "dedup on read with QUALIFY row_number(); take = dedup "
        "then take; compaction = rewrite the deduplicated table as "
        "one Parquet file",
        compact=compact,
    )


def _parquet_polars() -> TableSystem:
    import polars as pl

    def ingest(path: str, base: pa.Table, batches: Sequence[pa.Table]) -> None:
        _write_batch_files(path, [base, *batches], batch_column=False)

    def _frame(path: str, columns: Sequence[str] | None) -> pl.LazyFrame:
        files = sorted(glob.glob(os.path.join(path, "*.parquet")))
        lf = pl.scan_parquet(files)  # files in commit order, rows in file order
        lf = lf.unique(subset=[KEY], keep="last", maintain_order=False)
        return lf if columns is None else lf.select(list(columns))

    def read(path: str, columns: Sequence[str] | None) -> pa.Table:
        return _frame(path, columns).collect().to_arrow()

    def lookup(path: str, keys: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        files = sorted(glob.glob(os.path.join(path, "*.parquet")))
        lf = (
            pl.scan_parquet(files)
            .filter(pl.col(KEY).is_in(pl.Series(keys)))
            .unique(subset=[KEY], keep="last", maintain_order=False)
        )
        return (lf if columns is None else lf.select(list(columns))).collect().to_arrow()

    def compact(path: str) -> None:
        _replace_with_one_file(path, read(path, None), batch_column=False)

    return TableSystem(
        "parquet+polars",
        ingest,
        read,
        lookup,
        version=lambda: f"polars {pl.__version__}",
        notes="one Parquet file per batch (pyarrow default: snappy); "
        "dedup on read with unique(keep='last') over the files in "
        "commit order; take = dedup then take; compaction = rewrite "
        "as one Parquet file",
        compact=compact,
    )


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _pypaimon() -> TableSystem:
    from pypaimon import CatalogFactory, Schema

    def _table(path: str) -> object:
        return CatalogFactory.create({"warehouse": path}).get_table("db.w1")

    def _arrow_schema(schema: pa.Schema) -> pa.Schema:
        return schema.set(schema.get_field_index(KEY), pa.field(KEY, pa.int64(), nullable=False))

    def ingest(path: str, base: pa.Table, batches: Sequence[pa.Table]) -> None:
        cat = CatalogFactory.create({"warehouse": path})
        cat.create_database("db", True)
        sch = _arrow_schema(base.schema)
        cat.create_table(
            "db.w1",
            Schema.from_pyarrow_schema(sch, primary_keys=[KEY], options={"bucket": "1"}),
            False,
        )
        for b in [base, *batches]:
            t = cat.get_table("db.w1")
            wb = t.new_batch_write_builder()
            w, c = wb.new_write(), wb.new_commit()
            w.write_arrow(b.cast(sch))
            c.commit(w.prepare_commit())
            w.close()
            c.close()

    def read(path: str, columns: Sequence[str] | None) -> pa.Table:
        rb = _table(path).new_read_builder()  # type: ignore[attr-defined]
        if columns is not None:
            rb = rb.with_projection(list(columns))
        return rb.new_read().to_arrow(rb.new_scan().plan().splits())

    def lookup(path: str, keys: np.ndarray, columns: Sequence[str] | None) -> pa.Table:
        rb = _table(path).new_read_builder()  # type: ignore[attr-defined]
        rb = rb.with_filter(rb.new_predicate_builder().is_in(KEY, [int(k) for k in keys]))
        if columns is not None:
            rb = rb.with_projection(list(columns))
        return rb.new_read().to_arrow(rb.new_scan().plan().splits())

    return TableSystem(
        "pypaimon",
        ingest,
        read,
        lookup,
        version=lambda: f"pypaimon {_dist_version('pypaimon')}",
        notes="primary-key table, 1 bucket, one commit per batch; lookup = "
        "is_in predicate; take = merged read then take; no compaction "
        "in pypaimon",
    )


TABLE_SYSTEMS: dict[str, Callable[[], TableSystem]] = {
    "lamina": lambda: _lamina(sync=False),
    "lamina-fsync": lambda: _lamina(sync=True),
    "lance": _lance,
    "deltalake": _deltalake,
    "parquet+duckdb": _parquet_duckdb,
    "parquet+polars": _parquet_polars,
    "pypaimon": _pypaimon,
}


def table_system(name: str) -> TableSystem:
    """One system by name; raises ImportError if its library is missing."""
    return TABLE_SYSTEMS[name]()


def ingest_w1(name: str, path: str, scale: float) -> None:
    """W1 at ``scale`` (the base load and its upsert batches) ingested by system ``name``."""
    import w1

    s = w1.W1Scale.scaled(scale)
    batches = w1.upsert_batches(s.base_rows, n_batches=s.n_batches, batch_rows=s.batch_rows)
    table_system(name).ingest(path, w1.base_table(s.base_rows), list(batches))
