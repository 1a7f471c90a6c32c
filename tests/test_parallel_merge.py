"""The merge of a bucket split into key ranges merged in parallel (merge/mread_merge.h),
checked against a plain dict model of the engines.

`lamina.config.set(merge_min_range_rows=...)` makes the merge split even tiny inputs into
many ranges, so range borders fall between (and next to) duplicate keys, deletes and
resets. Runs are written directly as data files with `_kind` (0 upsert, 1 delete, 2
reset: an upsert that hides every older version) and optionally `_seq`, so versions
across runs tie and interleave in every way the merge must order: by key, then sequence,
then run index."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Any

import lamina
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lamina import _core
from lamina.errors import CorruptFileError

RANGE_ROWS = ["1", "3", "65536"]


@pytest.fixture(autouse=True)
def _restore_config() -> Any:
    before = lamina.config.get()
    yield
    lamina.config.set(**dataclasses.asdict(before))


KEY_TYPES: dict[str, tuple[pa.DataType, Any]] = {
    # name: (arrow type, key value from an int in [-20, 20))
    "int64": (pa.int64(), lambda i: i * 1_000_000_007),
    "int32": (pa.int32(), lambda i: i),
    "uint64": (pa.uint64(), lambda i: (i + 20) * (1 << 58)),
    "int16": (pa.int16(), lambda i: i * 7),  # normalized uint64 keys
    "string": (pa.string(), lambda i: f"k{i + 20:02d}" if i % 3 else f"k{i + 20:02d}\0"),
}

ENGINES: dict[str, tuple[str, dict[str, str]]] = {
    "deduplicate": ("deduplicate", {}),
    "first_row": ("first_row", {}),
    "partial_update": ("partial_update", {}),
    "aggregate": ("aggregate", {"v": "sum", "s": "max"}),
    # Both positional functions at once: not the fused one-version-per-key path.
    "aggregate_positional": ("aggregate", {"v": "last_value", "s": "first_value"}),
}


def fold(fn: str, values: list[Any]) -> Any:
    nn = [v for v in values if v is not None]
    if fn == "last_value":
        return values[-1]
    if fn == "first_value":
        return values[0]
    if fn == "last_non_null":
        return nn[-1] if nn else None
    if fn == "sum":
        return sum(nn) if nn else None
    if fn == "max":
        return max(nn) if nn else None
    raise AssertionError(fn)


def column_fn(engine: str, aggregates: dict[str, str], column: str) -> str:
    return {
        "deduplicate": "last_value",
        "first_row": "first_value",
        "partial_update": "last_non_null",
    }.get(engine) or aggregates.get(column, "last_non_null")


Row = tuple[int, int, Any, Any, int]  # (key index, kind, v, s, seq)


def model(
    runs: list[list[Row]],
    priorities: list[int],
    per_row_seq: bool,
    engine: str,
    aggregates: dict[str, str],
) -> dict[int, dict[str, Any]]:
    versions: dict[int, list[tuple[int, int, int, Any, Any]]] = defaultdict(list)
    for r, rows in enumerate(runs):
        for k, kind, v, s, seq in rows:
            versions[k].append((seq if per_row_seq else priorities[r], r, kind, v, s))
    out = {}
    for k, vs in versions.items():
        vs.sort(key=lambda x: (x[0], x[1]))  # oldest first: sequence, then run index
        start = 0
        for i, (_, _, kind, _, _) in enumerate(vs):
            if kind == 1:
                start = i + 1
            elif kind == 2:
                start = i
        live = vs[start:]
        if not live:
            continue
        out[k] = {
            "v": fold(column_fn(engine, aggregates, "v"), [x[3] for x in live]),
            "s": fold(column_fn(engine, aggregates, "s"), [x[4] for x in live]),
        }
    return out


def write_runs(tmp: Path, key_type: str, runs: list[list[Row]], per_row_seq: bool) -> list[str]:
    arrow_type, key_of = KEY_TYPES[key_type]
    paths = []
    for r, rows in enumerate(runs):
        rows = sorted(rows, key=lambda x: x[0])
        if key_type == "string":
            rows = sorted(rows, key=lambda x: key_of(x[0]))
        cols: dict[str, pa.Array] = {
            "k": pa.array([key_of(x[0]) for x in rows], arrow_type),
            "v": pa.array([x[2] for x in rows], pa.int64()),
            "s": pa.array([x[3] for x in rows], pa.string()),
            "_kind": pa.array([x[1] for x in rows], pa.int8()),
        }
        if per_row_seq:
            cols["_seq"] = pa.array([x[4] for x in rows], pa.uint64())
        path = str(tmp / f"run{r}.lam")
        _core.write_file(path, pa.table(cols).__arrow_c_stream__(), {"sync": False})
        paths.append(path)
    return paths


def merge_read(
    paths: list[str],
    priorities: list[int],
    key_type: str,
    engine: str,
    aggregates: dict[str, str],
    columns: list[str],
) -> pa.RecordBatch:
    schema = pa.schema([("k", KEY_TYPES[key_type][0]), ("v", pa.int64()), ("s", pa.string())])
    options = {
        "key_columns": ["k"],
        "engine": engine,
        "aggregates": aggregates,
        "table_schema": schema.__arrow_c_schema__(),
    }
    sc, ac = _core.table_merge_read(list(zip(paths, priorities)), columns, options)
    return pa.RecordBatch._import_from_c_capsule(sc, ac)


def check(
    tmp: Path,
    key_type: str,
    engine_name: str,
    runs: list[list[Row]],
    priorities: list[int],
    per_row_seq: bool,
) -> None:
    engine, aggregates = ENGINES[engine_name]
    paths = write_runs(tmp, key_type, runs, per_row_seq)
    expected = model(runs, priorities, per_row_seq, engine, aggregates)
    key_of = KEY_TYPES[key_type][1]
    want_keys = sorted(expected, key=key_of)
    batch = merge_read(paths, priorities, key_type, engine, aggregates, ["k", "v", "s"])
    got = batch.to_pydict()
    assert got["k"] == [key_of(k) for k in want_keys], "live keys, in key order"
    assert got["v"] == [expected[k]["v"] for k in want_keys]
    assert got["s"] == [expected[k]["s"] for k in want_keys]
    # A projection without the key column folds the same versions.
    batch = merge_read(paths, priorities, key_type, engine, aggregates, ["s"])
    assert batch.column(0).to_pylist() == [expected[k]["s"] for k in want_keys]


@st.composite
def run_sets(draw: Any, max_runs: int = 12, universe: int = 40) -> Any:
    n_runs = draw(st.integers(1, max_runs))
    per_row_seq = draw(st.booleans())
    lo = draw(st.integers(-20, 19))
    hi = draw(st.integers(lo + 1, min(20, lo + universe)))
    runs = []
    for _ in range(n_runs):
        keys = draw(st.lists(st.integers(lo, hi - 1), unique=True, max_size=hi - lo))
        rows = []
        for k in keys:
            rows.append(
                (
                    k,
                    draw(st.sampled_from([0, 0, 0, 1, 2])),
                    draw(st.one_of(st.none(), st.integers(-50, 50))),
                    draw(st.one_of(st.none(), st.text("ab\0", max_size=2))),
                    draw(st.integers(0, 6)),  # small: sequences tie across runs
                )
            )
        runs.append(rows)
    priorities = draw(st.lists(st.integers(1, 4), min_size=n_runs, max_size=n_runs))
    return runs, priorities, per_row_seq


@pytest.mark.parametrize("range_rows", RANGE_ROWS)
@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("key_type", list(KEY_TYPES))
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=run_sets())
def test_ranges_match_model(
    tmp_path_factory: pytest.TempPathFactory,
    range_rows: str,
    engine: str,
    key_type: str,
    data: Any,
) -> None:
    lamina.config.set(merge_min_range_rows=int(range_rows))
    runs, priorities, per_row_seq = data
    check(tmp_path_factory.mktemp("t"), key_type, engine, runs, priorities, per_row_seq)


@pytest.mark.parametrize("engine", list(ENGINES))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=run_sets(max_runs=16, universe=3))
def test_all_duplicate_keys(
    tmp_path_factory: pytest.TempPathFactory,
    engine: str,
    data: Any,
) -> None:
    """Few distinct keys, each in many runs: a range border cannot split a key."""
    lamina.config.set(merge_min_range_rows=1)
    runs, priorities, per_row_seq = data
    check(tmp_path_factory.mktemp("t"), "int64", engine, runs, priorities, per_row_seq)


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("key_type", ["int64", "string"])
def test_deletes_at_range_borders(tmp_path: Path, engine: str, key_type: str) -> None:
    """Every key is written by 6 runs; every other key ends with a delete, every third is
    reset in the middle; with one row per range the borders fall on all of them."""
    lamina.config.set(merge_min_range_rows=1)
    runs: list[list[Row]] = []
    for r in range(6):
        rows = []
        for k in range(-20, 20):
            kind = 0
            if r == 5 and k % 2 == 0:
                kind = 1
            elif r == 3 and k % 3 == 0:
                kind = 2
            elif r == 1 and k % 5 == 0:
                kind = 1
            rows.append((k, kind, None if (k + r) % 4 == 0 else k * 10 + r, f"{r}", r))
        runs.append(rows)
    check(tmp_path, key_type, engine, runs, [1, 2, 3, 4, 5, 6], per_row_seq=False)


@pytest.mark.parametrize("range_rows", ["1", "65536"])
def test_disjoint_runs_concatenate(tmp_path: Path, range_rows: str) -> None:
    """Runs with disjoint key ranges (given out of key order) are concatenated."""
    lamina.config.set(merge_min_range_rows=int(range_rows))
    runs: list[list[Row]] = [
        [(k, 1 if k == 15 else 0, k, "c", 0) for k in range(10, 20)],
        [(k, 0, k, "a", 0) for k in range(-20, -5)],
        [(k, 2 if k == 0 else 0, None, "b", 0) for k in range(-5, 10)],
    ]
    for engine in ENGINES:
        (tmp_path / engine).mkdir()
        check(tmp_path / engine, "int64", engine, runs, [3, 1, 2], per_row_seq=False)


def test_unsorted_run_is_corruption(tmp_path: Path) -> None:
    lamina.config.set(merge_min_range_rows=1)
    for key_type, keys in (("int64", [1, 3, 3, 4]), ("int32", [5, 2, 7]), ("string", ["b", "a"])):
        arrow_type = KEY_TYPES[key_type][0]
        t = pa.table(
            {
                "k": pa.array(keys, arrow_type),
                "v": pa.array([1] * len(keys), pa.int64()),
                "s": pa.array(["x"] * len(keys), pa.string()),
            }
        )
        path = str(tmp_path / f"{key_type}.lam")
        _core.write_file(path, t.__arrow_c_stream__(), {"sync": False})
        good = str(tmp_path / f"{key_type}-good.lam")
        _core.write_file(good, t.slice(0, 1).__arrow_c_stream__(), {"sync": False})
        with pytest.raises(CorruptFileError, match="not sorted by primary key"):
            merge_read([good, path], [1, 2], key_type, "deduplicate", {}, ["k", "v"])


@pytest.mark.slow
@pytest.mark.parametrize("engine", list(ENGINES))
def test_large_random_runs(tmp_path: Path, engine: str) -> None:
    """200,000 rows with the default range size: several ranges on several threads."""
    import random

    rng = random.Random(7)
    runs: list[list[Row]] = []
    for _r in range(8):
        keys = rng.sample(range(-60_000, 60_000), 25_000)
        runs.append(
            [
                (k, rng.choice([0, 0, 0, 0, 1, 2]), rng.randint(0, 9), "x", rng.randint(0, 9))
                for k in keys
            ]
        )
    check(tmp_path, "int32", engine, runs, list(range(1, 9)), per_row_seq=True)
