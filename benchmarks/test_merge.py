"""Merge microbenchmark (BENCHMARKS.md, "Merge"): 8 sorted runs, keep the last version per key.

Each run has 1,250,000 rows (``key`` int64, sorted and unique within the run, drawn from
[0, 5,000,000) so runs overlap; ``seq`` int64, increasing across runs; ``value``
float64). The result keeps, for each key, the row with the highest ``seq`` (the latest
run), about 4.5 M rows.

- lamina: the public path. The 8 runs are written as 8 commits into a 1-bucket table
  (``buckets=1``, key ``key``); timed: ``t.read()``, the merged read of the 8 runs (file
  decode + k-way merge + dedup). The table is opened once, outside the timing.
- lamina decode only: ``lamina.format.read_file`` of the same 8 data files (found with
  the public ``t.scan().plan()``), no merge. ``merged read - decode only`` estimates the
  merge kernel alone; the summary prints it.
- pyarrow: ``concat_tables`` + ``sort_indices`` by (key, seq) + ``take`` + a vectorised
  "last of each key" mask (``key[i] != key[i+1]``) + ``filter``; from in-memory tables.
- polars: ``concat`` + ``sort(["key", "seq"])`` + ``unique("key", keep="last",
  maintain_order=True)`` (sorted output, like the others); from in-memory DataFrames.

Peers start from memory while lamina reads and decodes its files: that favours the peers.
Every result is checked equal to the pyarrow result (sorted by key) before timing.

Sizes: ``MERGE_RUN_ROWS`` (default 1,250,000), ``MERGE_RUNS`` (8), ``MERGE_KEY_SPACE``
(default 4 x rows per run) environment variables; ``--bench-rounds`` as the other suites.

    pytest benchmarks/test_merge.py --benchmark-columns=min,median,rounds
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from benchutil import rounds, write_terminal_summary

N_RUNS = int(os.environ.get("MERGE_RUNS", "8"))
RUN_ROWS = int(os.environ.get("MERGE_RUN_ROWS", "1250000"))
KEY_SPACE = int(os.environ.get("MERGE_KEY_SPACE", str(4 * RUN_ROWS)))
SEED = 20240502
DEFAULT_ROUNDS = 5

DECODE = "lamina decode only (8 files)"
_results: dict[str, float] = {}


def make_runs(
    n_runs: int = N_RUNS, run_rows: int = RUN_ROWS, key_space: int = KEY_SPACE, seed: int = SEED
) -> list[pa.Table]:
    """``n_runs`` tables, each sorted by a unique ``key``; keys overlap across runs."""
    out = []
    for r in range(n_runs):
        rng = np.random.default_rng([seed, r])
        keys = np.sort(rng.choice(key_space, size=run_rows, replace=False)).astype(np.int64)
        seq = np.arange(r * run_rows, (r + 1) * run_rows, dtype=np.int64)
        out.append(pa.table({"key": keys, "seq": seq, "value": rng.standard_normal(run_rows)}))
    return out


def pyarrow_merge(runs: list[pa.Table]) -> pa.Table:
    t = pa.concat_tables(runs)
    t = t.take(pc.sort_indices(t, [("key", "ascending"), ("seq", "ascending")]))
    k = t.column("key").to_numpy()
    last = np.empty(len(k), dtype=bool)
    if len(k):
        last[-1] = True
        np.not_equal(k[1:], k[:-1], out=last[:-1])
    return t.filter(pa.array(last))


def polars_merge(frames: list[Any]) -> Any:
    import polars as pl

    return (
        pl.concat(frames)
        .sort(["key", "seq"])
        .unique(subset=["key"], keep="last", maintain_order=True)
    )


def _same(got: pa.Table, want: pa.Table) -> bool:
    got = got.select(want.column_names)
    if got.num_rows != want.num_rows:
        return False
    return all(
        got.column(c).combine_chunks().equals(want.column(c).combine_chunks())
        for c in want.column_names
    )


@pytest.fixture(scope="module")
def runs() -> list[pa.Table]:
    return make_runs()


@pytest.fixture(scope="module")
def expected(runs: list[pa.Table]) -> pa.Table:
    return pyarrow_merge(runs)


@pytest.fixture(scope="module")
def lamina_table(runs: list[pa.Table], tmp_path_factory: pytest.TempPathFactory) -> Any:
    lamina = pytest.importorskip("lamina")
    path = str(tmp_path_factory.mktemp("merge") / "t")
    schema = pa.schema(
        [
            pa.field("key", pa.int64(), nullable=False),
            pa.field("seq", pa.int64()),
            pa.field("value", pa.float64()),
        ]
    )
    options = {
        "write.sync": "false",
        # keep all 8 runs: no inline compaction during the 8 commits
        "compaction.num_sorted_run_stop_trigger": "1000",
    }
    try:
        t = lamina.create_table(path, schema, primary_key=["key"], buckets=1, options=options)
    except lamina.InvalidArgumentError:  # a build without compaction options
        options.pop("compaction.num_sorted_run_stop_trigger")
        t = lamina.create_table(path, schema, primary_key=["key"], buckets=1, options=options)
    for r in runs:
        t.write(r)
    assert len(t.snapshots()) == len(runs)
    return lamina.open_table(path)


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "lamina merged read" in _results:
        write_terminal_summary(request, _write_summary)


def _write_summary(tr: Any) -> None:
    lam = _results["lamina merged read"]
    tr.write_line("")
    tr.write_line(
        f"Merge: {N_RUNS} runs x {RUN_ROWS:,} rows (best of rounds, seconds; "
        f"ratio = peer / lamina merged read)"
    )
    for name, sec in _results.items():
        tr.write_line(f"  {name:34s} {sec:8.3f} s   {sec / lam:6.2f}x")
    if DECODE in _results:
        kernel = lam - _results[DECODE]
        tr.write_line(
            f"  {'lamina merge kernel (est.)':34s} {kernel:8.3f} s   (merged read - decode only)"
        )
        for peer in ("pyarrow", "polars"):
            if peer in _results and kernel > 0:
                tr.write_line(f"    {peer} / merge kernel: {_results[peer] / kernel:.2f}x")


def _record(name: str, benchmark: Any) -> None:
    _results[name] = benchmark.stats.stats.min


def test_merge_lamina(
    benchmark: Any, lamina_table: Any, expected: pa.Table, bench_opts: dict[str, Any]
) -> None:
    got = lamina_table.read()
    assert _same(got, expected), "lamina merged read differs from the pyarrow result"
    del got
    benchmark.extra_info.update(runs=N_RUNS, run_rows=RUN_ROWS, out_rows=expected.num_rows)
    benchmark.pedantic(
        lamina_table.read, rounds=rounds(bench_opts, DEFAULT_ROUNDS), warmup_rounds=1
    )
    _record("lamina merged read", benchmark)


def test_merge_lamina_decode_only(
    benchmark: Any, lamina_table: Any, bench_opts: dict[str, Any]
) -> None:
    from lamina.format import read_file

    (split,) = lamina_table.scan().plan()
    paths = [os.path.join(lamina_table.path, p) for p, _ in split.files]
    assert len(paths) == N_RUNS

    def decode() -> int:
        return sum(read_file(p).num_rows for p in paths)

    assert decode() == N_RUNS * RUN_ROWS
    benchmark.pedantic(decode, rounds=rounds(bench_opts, DEFAULT_ROUNDS), warmup_rounds=1)
    _record(DECODE, benchmark)


def test_merge_pyarrow(
    benchmark: Any, runs: list[pa.Table], expected: pa.Table, bench_opts: dict[str, Any]
) -> None:
    benchmark.pedantic(
        pyarrow_merge, args=(runs,), rounds=rounds(bench_opts, DEFAULT_ROUNDS), warmup_rounds=1
    )
    _record("pyarrow", benchmark)


def test_merge_polars(
    benchmark: Any, runs: list[pa.Table], expected: pa.Table, bench_opts: dict[str, Any]
) -> None:
    pl = pytest.importorskip("polars")
    frames = [pl.from_arrow(r) for r in runs]
    got = polars_merge(frames).to_arrow()
    assert _same(got, expected), "polars result differs from the pyarrow result"
    del got
    benchmark.pedantic(
        polars_merge, args=(frames,), rounds=rounds(bench_opts, DEFAULT_ROUNDS), warmup_rounds=1
    )
    _record("polars", benchmark)
