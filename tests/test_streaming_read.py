"""Streaming merged reads (issue 14): ``scan.to_batches(batch_size, memory_budget)``,
``scan.to_reader()`` and ``__arrow_c_stream__`` give exactly ``scan.to_arrow()``'s rows,
in its order, for every engine, across deletes, compactions, partitions and schema
changes, while holding about ``memory_budget`` of decoded data (checked in a fresh
process against its peak RSS)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from typing import Any

import lamina
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ENGINES = ["deduplicate", "partial_update", "aggregate", "first_row"]
SCHEMA = pa.schema(
    [("p", pa.int64()), ("k", pa.int64()), ("a", pa.int64()), ("s", pa.string()),
     ("l", pa.list_(pa.int32()))]
)  # fmt: skip


def build(path: str, engine: str, seed: int, ops: int, rows: int, **extra: str) -> lamina.Table:
    options = {"fields.a.aggregate": "sum"} if engine == "aggregate" else {}
    options.update(extra)
    t = lamina.create_table(
        path, SCHEMA, primary_key=["p", "k"], partition_by=["p"], buckets=2,
        merge_engine=engine, options={"write.sync": "false", **options},
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    for i in range(ops):
        n = int(rng.integers(1, rows))
        k = rng.integers(0, rows * 2, n)
        p = k % 2
        r = rng.random()
        if r < 0.2:
            t.delete({"p": p, "k": k})
        elif r < 0.3:
            t.compact(full=bool(rng.integers(0, 2)))
        else:
            a = pa.array(rng.integers(-5, 5, n)).cast(pa.int64())
            mask = pa.array(rng.random(n) < 0.2)
            t.write(
                pa.table(
                    {
                        "p": p, "k": k, "a": pc.if_else(mask, pa.nulls(n, pa.int64()), a),
                        "s": [f"s{i}-{x}" for x in k[:n]],
                        "l": [[int(x)] * int(x % 4) for x in k],
                    },
                    schema=SCHEMA,
                )
            )  # fmt: skip
    return t


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch_size=st.sampled_from([None, 1, 777, 4096, 100_000]),
    budget=st.sampled_from([1, 1 << 20, None]),
)
def test_batches_equal_to_arrow(tmp_path_factory: Any, engine: str, seed: int,
                                batch_size: Any, budget: Any) -> None:  # fmt: skip
    path = str(tmp_path_factory.mktemp("t") / "t")
    t = build(path, engine, seed, ops=6, rows=9000)
    scan = t.scan()
    want = scan.to_arrow()
    batches = list(scan.to_batches(batch_size=batch_size, memory_budget=budget))
    got = pa.Table.from_batches(batches, want.schema)
    assert got.equals(want)
    if batch_size is not None:
        assert all(b.num_rows == batch_size for b in batches[:-1])
    # projections and filters, through the reader and the C stream
    f = (pc.field("a") > 0) | pc.field("a").is_null()
    proj = t.scan(columns=["s", "a"], filter=f)
    assert proj.to_reader(batch_size=500, memory_budget=budget).read_all().equals(proj.to_arrow())
    assert pa.table(t.scan(columns=["l"])).equals(t.scan(columns=["l"]).to_arrow())


def test_streams_across_schema_changes_and_prefetch_off(tmp_path: Any) -> None:
    t = build(str(tmp_path / "t"), "deduplicate", 3, ops=4, rows=5000)
    t.update_schema().rename_column("s", "name").add_column("d", pa.int64(), default=9).commit()
    row = {"p": [1], "k": [1], "a": [1], "name": ["x"], "l": [[1]], "d": [2]}
    t.write(pa.table(row, schema=t.schema))
    want = t.read()
    got = pa.Table.from_batches(list(t.scan().to_batches(prefetch=False, memory_budget=1)))
    assert got.equals(want)
    assert set(got.column("d").to_pylist()) >= {9, 2}


def test_bad_arguments(tmp_path: Any) -> None:
    t = build(str(tmp_path / "t"), "deduplicate", 1, ops=1, rows=10)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(lamina.InvalidArgumentError, match="batch_size"):
            list(t.scan().to_batches(batch_size=bad))
        with pytest.raises(lamina.InvalidArgumentError, match="memory_budget"):
            list(t.scan().to_batches(memory_budget=bad))


def test_empty_table_and_empty_result(tmp_path: Any) -> None:
    t = lamina.create_table(str(tmp_path / "t"), SCHEMA, primary_key=["p", "k"])
    assert list(t.scan().to_batches()) == []
    assert t.scan().to_reader().read_all().num_rows == 0
    t.write(pa.table({"p": [0], "k": [1], "a": [1], "s": ["x"], "l": [[1]]}, schema=SCHEMA))
    t.delete({"p": [0], "k": [1]})
    assert list(t.scan().to_batches()) == []


_MEMORY_CHILD = textwrap.dedent(
    """
    import sys
    import lamina
    t = lamina.open_table(sys.argv[1])
    budget = int(sys.argv[2])
    scan = t.scan()
    def hwm():  # peak RSS of this process image (ru_maxrss survives exec)
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmHWM"))
    before = hwm()
    rows = nbytes = 0
    for b in scan.to_batches(batch_size=8192, memory_budget=budget):
        rows += b.num_rows
        nbytes += b.nbytes
    peak = hwm()
    print(rows, nbytes, peak - before)
    """
)


def test_memory_stays_within_budget(tmp_path: Any) -> None:
    """A merged read of ~10x the budget (three overlapping runs) grows the peak RSS of a
    fresh process by less than budget + 150 MB; to_arrow would hold all of it."""
    # benchmarks/w1.py, loaded by path: putting benchmarks/ on sys.path would shadow test
    # modules (it has a test_compaction.py) for worker processes that import them later
    spec = importlib.util.spec_from_file_location(
        "w1", os.path.join(os.path.dirname(__file__), "..", "benchmarks", "w1.py")
    )
    assert spec is not None and spec.loader is not None
    w1 = importlib.util.module_from_spec(spec)
    sys.modules["w1"] = w1  # its dataclasses look their module up
    spec.loader.exec_module(w1)

    path = str(tmp_path / "w1")
    base = w1.base_table(600_000)
    t = lamina.create_table(path, base.schema, primary_key=["user_id"],
                            options={"write.sync": "false"})  # fmt: skip
    t.write(base)
    for b in w1.upsert_batches(600_000, n_batches=2, batch_rows=200_000):
        t.write(b)
    assert len(t._ctx.live_files(t.current_snapshot())) >= 3
    budget = 32 << 20
    out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, path, str(budget)],
                         check=True, capture_output=True, text=True)  # fmt: skip
    rows, nbytes, grew = (int(x) for x in out.stdout.split())
    assert rows == t.scan().count()
    assert nbytes > 8 * budget  # the read is much larger than the budget
    assert grew < budget + (150 << 20), (grew, nbytes)


def test_compacted_runs_stream_without_a_merge(tmp_path: Any) -> None:
    """Key-disjoint files without deletes (a full compaction into several files) are read
    window by window in key order; a delete makes the split merge again."""
    path = str(tmp_path / "t")
    t = build(path, "deduplicate", 5, ops=5, rows=20000, target_file_size="8000")
    t.compact(full=True)
    t2 = lamina.open_table(path)
    want = t2.read()
    splits = t2.scan().plan()
    assert all(s.key_order is not None for s in splits)
    assert max(len(s.files) for s in splits) > 1  # several files, read in key order
    got = pa.Table.from_batches(list(t2.scan().to_batches(memory_budget=1)), want.schema)
    assert got.equals(want)
    for size in (4096, 1000):  # windows of whole batches (65,536 rows) and not
        got = pa.Table.from_batches(list(t2.scan().to_batches(batch_size=size)), want.schema)
        assert got.equals(want)
    cols = t2.scan(columns=["l", "k"]).to_reader(batch_size=1000).read_all()
    assert cols.equals(t2.read(columns=["l", "k"]))
    t2.delete({"p": [0], "k": [want.column("k")[0].as_py()]})
    assert any(s.key_order is None for s in t2.scan().plan())
    assert pa.Table.from_batches(list(t2.scan().to_batches())).equals(t2.read())
