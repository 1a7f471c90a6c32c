"""Compaction microbenchmark (BENCHMARKS.md, "Compaction"): 10 overlapping runs into one.

A 1-bucket primary-key table holds 10 sorted runs, one per commit, each of 500,000 rows:
``key`` int64 (unique within a run, drawn from [0, 2,000,000) so the runs overlap
heavily), ``value`` float64, ``count`` int64 and ``tag`` string (1,000 distinct values).
Merging them keeps the latest version of each key, about 1.89 M rows.

- lamina: ``t.compact(full=True)`` on a fresh copy of the 10-run table (setup copies a
  template directory written once and opens it, untimed; pytest-benchmark ``pedantic``
  with ``setup``, one call per round). rows/s and bytes/s come from the snapshot summary
  (``rows_in``, ``bytes_in`` over the timed seconds) and go to ``extra_info``.
- pyarrow: the same merge as a Parquet rewrite: read the 10 Parquet files (zstd, one per
  run, written once), concat, append the run number as ``_seq``, ``sort_indices`` by
  (key, _seq), keep the last row of each key, write one Parquet file (zstd).

Both outputs are checked equal (sorted by key) before timing. Every file is in the OS
page cache (written just before). Sizes: ``COMPACTION_RUNS`` (10),
``COMPACTION_RUN_ROWS`` (500,000), ``COMPACTION_KEY_SPACE`` (4 x rows per run);
``--bench-rounds`` as the other suites.

    pytest benchmarks/test_compaction.py --benchmark-columns=min,median,rounds
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchutil import rounds, write_terminal_summary

N_RUNS = int(os.environ.get("COMPACTION_RUNS", "10"))
RUN_ROWS = int(os.environ.get("COMPACTION_RUN_ROWS", "500000"))
KEY_SPACE = int(os.environ.get("COMPACTION_KEY_SPACE", str(4 * RUN_ROWS)))
SEED = 20240503
N_TAGS = 1_000
DEFAULT_ROUNDS = 3

SCHEMA = pa.schema(
    [
        pa.field("key", pa.int64(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("count", pa.int64()),
        pa.field("tag", pa.string()),
    ]
)
OPTIONS = {
    "write.sync": "false",
    # keep all runs: writers compact inline above the stop trigger
    "compaction.num_sorted_run_stop_trigger": "1000",
}

_results: dict[str, float] = {}


def make_runs(
    n_runs: int = N_RUNS, run_rows: int = RUN_ROWS, key_space: int = KEY_SPACE, seed: int = SEED
) -> list[pa.Table]:
    """``n_runs`` tables of ``run_rows`` rows, keys unique within a run, random order."""
    tags = pa.array([f"tag-{i:04d}" for i in range(N_TAGS)])
    out = []
    for r in range(n_runs):
        rng = np.random.default_rng([seed, r])
        keys = rng.choice(key_space, size=run_rows, replace=False).astype(np.int64)
        out.append(
            pa.table(
                {
                    "key": keys,
                    "value": rng.standard_normal(run_rows),
                    "count": rng.integers(0, 1_000_000, run_rows, dtype=np.int64),
                    "tag": tags.take(pa.array(rng.integers(0, N_TAGS, run_rows))),
                },
                schema=SCHEMA,
            )
        )
    return out


def write_lamina(path: str, runs: list[pa.Table]) -> None:
    """A 1-bucket table with one sorted run per element of ``runs``."""
    import lamina

    t = lamina.create_table(path, SCHEMA, primary_key=["key"], buckets=1, options=OPTIONS)
    for r in runs:
        t.write(r)
    live = t._live_files(t.current_snapshot())
    assert len(live) == len(runs), f"{len(live)} live files, want {len(runs)} runs"


def write_parquet(root: str, runs: list[pa.Table]) -> list[str]:
    os.makedirs(root, exist_ok=True)
    paths = []
    for i, r in enumerate(runs):
        p = os.path.join(root, f"run-{i:03d}.parquet")
        pq.write_table(r, p, compression="zstd")
        paths.append(p)
    return paths


def pyarrow_compact(paths: list[str], out_path: str) -> pa.Table:
    """Read the runs, concat, sort by (key, _seq), keep the last of each key, write zstd."""
    parts = []
    for i, p in enumerate(paths):
        t = pq.read_table(p)
        parts.append(t.append_column("_seq", pa.array(np.full(t.num_rows, i, np.int32))))
    t = pa.concat_tables(parts)
    t = t.take(pc.sort_indices(t, [("key", "ascending"), ("_seq", "ascending")]))
    k = t.column("key").to_numpy()
    last = np.empty(len(k), dtype=bool)
    if len(k):
        last[-1] = True
        np.not_equal(k[1:], k[:-1], out=last[:-1])
    t = t.filter(pa.array(last)).drop_columns(["_seq"])
    pq.write_table(t, out_path, compression="zstd")
    return t


def same(got: pa.Table, want: pa.Table) -> str:
    """ "" when equal (after sorting ``got`` by key), else what differs."""
    got = got.select(want.column_names)
    got = got.take(pc.sort_indices(got, [("key", "ascending")]))
    if got.num_rows != want.num_rows:
        return f"{got.num_rows:,} rows, want {want.num_rows:,}"
    for c in want.column_names:
        if not got.column(c).combine_chunks().equals(want.column(c).combine_chunks()):
            return f"column {c} differs"
    return ""


@dataclass
class Fixture:
    """Template table + Parquet runs on disk, and fresh copies of the template."""

    root: str
    runs: list[pa.Table]
    template: str
    parquet: list[str]
    _n: Iterator[int] = dataclasses.field(default_factory=itertools.count)

    @property
    def parquet_bytes(self) -> int:
        return sum(os.path.getsize(p) for p in self.parquet)

    def fresh_table(self) -> Any:
        """An open copy of the 10-run template (previous copies are deleted)."""
        import lamina

        for d in os.listdir(self.root):
            if d.startswith("copy-"):
                shutil.rmtree(os.path.join(self.root, d))
        path = os.path.join(self.root, f"copy-{next(self._n)}")
        shutil.copytree(self.template, path)
        return lamina.open_table(path)


def build(root: str, runs: list[pa.Table] | None = None) -> Fixture:
    runs = make_runs() if runs is None else runs
    template = os.path.join(root, "template")
    write_lamina(template, runs)
    return Fixture(root, runs, template, write_parquet(os.path.join(root, "parquet"), runs))


def lamina_compact(t: Any) -> tuple[float, dict[str, Any]]:
    """Times ``t.compact(full=True)``; returns (seconds, summary)."""
    t0 = time.perf_counter()
    snap = t.compact(full=True)
    sec = time.perf_counter() - t0
    assert snap is not None, "compact(full=True) did nothing"
    return sec, dict(snap.summary)


# ---- pytest-benchmark --------------------------------------------------------------------


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    pytest.importorskip("lamina")
    return build(str(tmp_path_factory.mktemp("compaction")))


@pytest.fixture(scope="module")
def expected(fx: Fixture) -> pa.Table:
    return pyarrow_compact(fx.parquet, os.path.join(fx.root, "expected.parquet"))


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "lamina" in _results:
        write_terminal_summary(request, _write_summary)


def _write_summary(tr: Any) -> None:
    lam = _results["lamina"]
    rows = N_RUNS * RUN_ROWS
    tr.write_line("")
    tr.write_line(
        f"Compaction: {N_RUNS} runs x {RUN_ROWS:,} rows -> 1 (best of rounds; "
        f"ratio = peer / lamina)"
    )
    for name, sec in _results.items():
        tr.write_line(
            f"  {name:24s} {sec:8.3f} s  {rows / sec / 1e6:7.2f} M rows/s  {sec / lam:6.2f}x"
        )


def test_compaction_lamina(
    benchmark: Any, fx: Fixture, expected: pa.Table, bench_opts: dict[str, Any]
) -> None:
    t = fx.fresh_table()
    _, summary = lamina_compact(t)
    assert summary["rows_in"] == N_RUNS * RUN_ROWS
    assert summary["rows_out"] == expected.num_rows
    assert summary["files_in"] == N_RUNS
    diff = same(t.read(), expected)
    assert not diff, f"lamina compacted table differs from the pyarrow result: {diff}"

    state: dict[str, Any] = {}

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        state["t"] = fx.fresh_table()
        return (), {}

    def run() -> None:
        state["snap"] = state["t"].compact(full=True)

    benchmark.pedantic(run, setup=setup, rounds=rounds(bench_opts, DEFAULT_ROUNDS), iterations=1)
    sec = benchmark.stats.stats.min
    s = state["snap"].summary
    benchmark.extra_info.update(
        runs=N_RUNS,
        run_rows=RUN_ROWS,
        rows_in=s["rows_in"],
        rows_out=s["rows_out"],
        bytes_in=s["bytes_in"],
        bytes_out=s["bytes_out"],
        files_in=s["files_in"],
        files_out=s["files_out"],
        rows_per_s=s["rows_in"] / sec,
        bytes_per_s=s["bytes_in"] / sec,
        internal_seconds=s["seconds"],
    )
    _results["lamina"] = sec


def test_compaction_pyarrow(
    benchmark: Any, fx: Fixture, expected: pa.Table, bench_opts: dict[str, Any]
) -> None:
    out = os.path.join(fx.root, "out.parquet")
    benchmark.pedantic(
        pyarrow_compact,
        args=(fx.parquet, out),
        rounds=rounds(bench_opts, DEFAULT_ROUNDS),
        warmup_rounds=1,
    )
    sec = benchmark.stats.stats.min
    rows_in = N_RUNS * RUN_ROWS
    benchmark.extra_info.update(
        runs=N_RUNS,
        run_rows=RUN_ROWS,
        rows_in=rows_in,
        rows_out=expected.num_rows,
        bytes_in=fx.parquet_bytes,
        bytes_out=os.path.getsize(out),
        rows_per_s=rows_in / sec,
        bytes_per_s=fx.parquet_bytes / sec,
    )
    _results["pyarrow (Parquet rewrite)"] = sec
