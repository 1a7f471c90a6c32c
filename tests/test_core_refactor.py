"""Issue 11: one loser tree (merge/loser_tree.h), one RowKind and one fold by row kind
(merge/row_kind.h, FoldVersions in merge/engine.h) serve reads and compaction alike.

Compaction merges whole runs on one thread (MergeRuns) and folds with the compaction
policies; these tests pin its output -- kinds, sequences, purged counts -- against a plain
model of the LSM rule, for integer and byte-string keys, with and without per-row
sequences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lamina import _core
from lamina.errors import CorruptFileError, InvalidArgumentError

UPSERT, DELETE, RESET = 0, 1, 2

KEY_TYPES: dict[str, tuple[pa.DataType, Any]] = {
    "int64": (pa.int64(), lambda i: i * 1_000_003),
    "int32": (pa.int32(), lambda i: i),
    "string": (pa.string(), lambda i: f"k{i + 20:02d}"),
}

Row = tuple[int, int, Any, int]  # (key index, kind, v, seq)


def schema(key_type: str) -> pa.Schema:
    return pa.schema([pa.field("k", KEY_TYPES[key_type][0], nullable=False), ("v", pa.int64())])


def write_runs(tmp: Path, key_type: str, runs: list[list[Row]], per_row_seq: bool) -> list[str]:
    arrow_type, key_of = KEY_TYPES[key_type]
    paths = []
    for r, rows in enumerate(runs):
        rows = sorted(rows, key=lambda x: key_of(x[0]))
        cols: dict[str, pa.Array] = {
            "k": pa.array([key_of(x[0]) for x in rows], arrow_type),
            "v": pa.array([x[2] for x in rows], pa.int64()),
            "_kind": pa.array([x[1] for x in rows], pa.int8()),
        }
        if per_row_seq:
            cols["_seq"] = pa.array([x[3] for x in rows], pa.uint64())
        path = str(tmp / f"run{r}.lam")
        _core.write_file(path, pa.table(cols).__arrow_c_stream__(), {"sync": False})
        paths.append(path)
    return paths


def table_options(key_type: str) -> dict[str, Any]:
    return {
        "key_columns": ["k"],
        "engine": "deduplicate",
        "aggregates": {},
        "table_schema": schema(key_type).__arrow_c_schema__(),
    }


def compact(tmp: Path, key_type: str, files: list[tuple[str, int]], drop: bool) -> Any:
    o = table_options(key_type)
    o.update(
        {
            "directory": str(tmp),
            "output_dir": "out",
            "file_prefix": f"c{int(drop)}",
            "target_file_size": 1 << 20,
            "sync": False,
            "drop_deletes": drop,
            "level": 1,
            "window_rows": 3,  # many rounds: every round is its own MergeRuns
        }
    )
    return _core.table_compact(files, o)


def model(
    runs: list[list[Row]], priorities: list[int], per_row_seq: bool, drop: bool
) -> tuple[dict[int, tuple[int, Any, int]], int]:
    """Per key, the compacted (kind, v, seq); and the versions purged."""
    versions: dict[int, list[tuple[int, int, int, Any]]] = {}
    for r, rows in enumerate(runs):
        for k, kind, v, seq in rows:
            versions.setdefault(k, []).append((seq if per_row_seq else priorities[r], r, kind, v))
    out, purged = {}, 0
    for k, vs in versions.items():
        vs.sort(key=lambda x: (x[0], x[1]))  # oldest first: sequence, then run index
        start, hidden = 0, False
        for i, (_, _, kind, _) in enumerate(vs):
            if kind == DELETE:
                start, hidden = i + 1, True
            elif kind == RESET:
                start, hidden = i, True
        newest_seq = vs[-1][0]
        if start == len(vs):  # the newest version is a delete
            if drop:
                purged += len(vs)
            else:
                purged += len(vs) - 1
                out[k] = (DELETE, None, newest_seq)
            continue
        purged += start
        out[k] = (RESET if hidden and not drop else UPSERT, vs[-1][3], newest_seq)
    return out, purged


@st.composite
def run_sets(draw: Any) -> Any:
    n_runs = draw(st.integers(1, 6))
    runs = []
    for _ in range(n_runs):
        keys = draw(st.lists(st.integers(-20, 19), unique=True, max_size=12))
        runs.append(
            [
                (
                    k,
                    draw(st.sampled_from([UPSERT, UPSERT, DELETE, RESET])),
                    draw(st.one_of(st.none(), st.integers(-50, 50))),
                    draw(st.integers(0, 5)),  # small: sequences tie across runs
                )
                for k in keys
            ]
        )
    priorities = draw(st.lists(st.integers(1, 3), min_size=n_runs, max_size=n_runs))
    return runs, priorities, draw(st.booleans())


@pytest.mark.parametrize("drop", [False, True])
@pytest.mark.parametrize("key_type", list(KEY_TYPES))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=run_sets())
def test_compaction_folds_by_row_kind(
    tmp_path_factory: pytest.TempPathFactory, key_type: str, drop: bool, data: Any
) -> None:
    runs, priorities, per_row_seq = data
    tmp = tmp_path_factory.mktemp("t")
    paths = write_runs(tmp, key_type, runs, per_row_seq)
    res = compact(tmp, key_type, list(zip(paths, priorities)), drop)
    want, purged = model(runs, priorities, per_row_seq, drop)
    key_of = KEY_TYPES[key_type][1]
    got: list[dict[str, Any]] = []
    for f in res["files"]:
        rd = _core.FileReader(str(tmp / f["path"]))
        sc, ac = rd.read([0, 1, 2, 3])
        got += pa.RecordBatch._import_from_c_capsule(sc, ac).to_pylist()
    keys = sorted(want, key=key_of)
    assert [r["k"] for r in got] == [key_of(k) for k in keys]
    assert [(r["_kind"], r["v"], r["_seq"]) for r in got] == [want[k] for k in keys]
    assert res["rows_purged"] == purged
    assert res["rows_out"] == len(keys)


def test_kind_outside_the_format_reads_as_delete_and_compaction_rejects_it(
    tmp_path: Path,
) -> None:
    runs: list[list[Row]] = [[(1, UPSERT, 10, 0), (2, UPSERT, 20, 0)], [(1, 3, None, 0)]]
    paths = write_runs(tmp_path, "int64", runs, per_row_seq=False)
    files = list(zip(paths, [1, 2]))
    sc, ac = _core.table_merge_read(files, ["k", "v"], table_options("int64"))
    batch = pa.RecordBatch._import_from_c_capsule(sc, ac)
    assert batch.to_pydict() == {"k": [2_000_006], "v": [20]}
    with pytest.raises(CorruptFileError, match="_kind 3 is not 0, 1 or 2"):
        compact(tmp_path, "int64", files, drop=True)


@pytest.mark.parametrize("kind", [2, 3, -1, 256])
def test_write_takes_only_upserts_and_deletes(tmp_path: Path, kind: int) -> None:
    t = pa.table({"k": pa.array([1], pa.int64()), "v": pa.array([1], pa.int64())})
    o = table_options("int64")
    o.update(
        {
            "partition_columns": [],
            "buckets": 1,
            "directory": str(tmp_path),
            "file_prefix": "f",
            "kind": kind,
            "target_file_size": 1 << 20,
            "sync": False,
        }
    )
    with pytest.raises(InvalidArgumentError, match="kind must be 0"):
        _core.table_write(t, o)
