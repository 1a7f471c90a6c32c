"""The table API contract: creation, bad input, snapshots, tags, scans and lookups."""

from __future__ import annotations

import datetime
import os
import pickle
import time

import lamina
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

SCHEMA = pa.schema([("user_id", pa.int64()), ("country", pa.string()), ("score", pa.float64())])


def _t(ids, country="DE", score=1.0) -> pa.Table:
    n = len(ids)
    return pa.table(
        {"user_id": pa.array(ids, pa.int64()), "country": [country] * n, "score": [score] * n},
        schema=SCHEMA,
    )


@pytest.fixture
def table(tmp_path):
    return lamina.create_table(tmp_path / "t", SCHEMA, primary_key=["user_id"])


def test_create_open_and_properties(tmp_path):
    t = lamina.create_table(tmp_path / "t", SCHEMA, primary_key=["user_id"], buckets=4)
    assert t.primary_key == ["user_id"]
    assert t.partition_by == []
    assert t.schema.field("user_id").nullable is False
    assert t.options["target_file_size"] == "134217728"
    t2 = lamina.open_table(tmp_path / "t")
    assert t2.schema.equals(t.schema)
    assert t2.current_snapshot() is None
    assert t2.read().num_rows == 0
    with pytest.raises(lamina.TableExistsError):
        lamina.create_table(tmp_path / "t", SCHEMA, primary_key=["user_id"])
    with pytest.raises(lamina.TableNotFoundError):
        lamina.open_table(tmp_path / "nope")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"primary_key": []},
        {"primary_key": ["missing"]},
        {"primary_key": ["score"]},
        {"primary_key": ["user_id"], "partition_by": ["country"]},
        {"primary_key": ["user_id"], "buckets": 0},
        {"primary_key": ["user_id"], "merge_engine": "latest"},
        {"primary_key": ["user_id"], "options": {"no.such.option": "1"}},
        {"primary_key": ["user_id"], "options": {"target_file_size": "-5"}},
        {"primary_key": ["user_id"], "options": {"fields.score.aggregate": "sum"}},
        {
            "primary_key": ["user_id"],
            "merge_engine": "aggregate",
            "options": {"fields.score.aggregate": "median"},
        },
    ],
)
def test_bad_create_arguments(tmp_path, kwargs):
    with pytest.raises(lamina.InvalidArgumentError):
        lamina.create_table(tmp_path / "t", SCHEMA, **kwargs)


def test_bad_writes_name_the_column_and_write_nothing(table):
    table.write(_t([1, 2]))
    before = table.current_snapshot().id
    bad = {
        "null key": pa.table(
            {"user_id": pa.array([None], pa.int64()), "country": ["x"], "score": [1.0]}
        ),
        "missing": pa.table({"user_id": [1], "country": ["x"]}),
        "extra": _t([3]).append_column("extra", pa.array([1])),
        "unsafe cast": pa.table({"user_id": [1.5], "country": ["x"], "score": [1.0]}),
    }
    names = {"null key": "user_id", "missing": "score", "extra": "extra", "unsafe cast": "user_id"}
    for what, data in bad.items():
        with pytest.raises(lamina.SchemaError, match=names[what]):
            table.write(data)
    with pytest.raises(lamina.SchemaError):
        table.delete({"user_id": [1], "country": ["x"]})
    assert table.current_snapshot().id == before
    files = [f for _, _, fs in os.walk(os.path.join(table.path, "data")) for f in fs]
    assert len(files) == 1
    assert sorted(table.read().column("user_id").to_pylist()) == [1, 2]


def test_safe_casts_are_accepted(table):
    data = pa.table(
        {"user_id": pa.array([1, 2], pa.int32()), "country": ["a", "b"], "score": [1, 2]}
    )
    table.write(data)
    got = table.read().sort_by("user_id")
    assert got.column("score").to_pylist() == [1.0, 2.0]


def test_input_kinds(table):
    pd = pytest.importorskip("pandas")
    table.write(_t([1]).to_batches()[0])
    table.write(pa.RecordBatchReader.from_batches(SCHEMA, _t([2]).to_batches()))
    table.write(pd.DataFrame({"user_id": [3], "country": ["FR"], "score": [0.5]}))
    assert sorted(table.read().column("user_id").to_pylist()) == [1, 2, 3]


def test_upsert_delete_and_time_travel(table):
    s1 = table.write(_t([1, 2, 3], score=1.0))
    s2 = table.write(_t([2, 4], score=2.0))
    s3 = table.delete({"user_id": [1, 99]})
    assert [s.id for s in table.snapshots()] == [s1.id, s2.id, s3.id]
    got = table.read().sort_by("user_id").to_pydict()
    assert got["user_id"] == [2, 3, 4]
    assert got["score"] == [2.0, 1.0, 2.0]
    assert table.read(snapshot=s1.id).num_rows == 3
    assert sorted(table.read(snapshot=s2.id).column("user_id").to_pylist()) == [1, 2, 3, 4]
    table.tag("v1", snapshot=s1.id)
    assert table.tags() == {"v1": s1.id}
    assert table.read(snapshot="v1").num_rows == 3
    with pytest.raises(lamina.InvalidArgumentError):
        table.tag("v1")
    when = datetime.datetime.fromtimestamp(s2.timestamp_ms / 1000 + 0.0005)
    assert table.snapshot(when).id in (s2.id, s3.id)
    with pytest.raises(lamina.InvalidArgumentError):
        table.read(snapshot=12345)
    with pytest.raises(lamina.InvalidArgumentError):
        table.read(snapshot="no-such-tag")


def test_pinned_reader_keeps_its_snapshot(table):
    table.write(_t([1, 2]))
    scan = table.scan()
    table.write(_t([3]))
    table.delete({"user_id": [1]})
    assert sorted(scan.to_arrow().column("user_id").to_pylist()) == [1, 2]
    assert sorted(table.read().column("user_id").to_pylist()) == [2, 3]


def test_transaction_groups_and_aborts(table):
    with table.transaction() as tx:
        tx.write(_t([1, 2]))
        tx.delete({"user_id": [1]})
        tx.write(_t([5]))
    assert len(table.snapshots()) == 1
    assert sorted(table.read().column("user_id").to_pylist()) == [2, 5]
    with pytest.raises(RuntimeError):
        with table.transaction() as tx:
            tx.write(_t([7]))
            raise RuntimeError("boom")
    assert len(table.snapshots()) == 1
    assert 7 not in table.read().column("user_id").to_pylist()


def test_within_one_write_the_last_row_wins(table):
    data = pa.table(
        {"user_id": [1, 1, 2, 1], "country": ["a", "b", "c", "d"], "score": [1.0, 2.0, 3.0, 4.0]},
        schema=SCHEMA,
    )
    table.write(data)
    got = table.read().sort_by("user_id").to_pydict()
    assert got["country"] == ["d", "c"]


def test_partitions_buckets_scan_api(tmp_path):
    schema = pa.schema([("day", pa.string()), ("id", pa.int64()), ("v", pa.int64())])
    t = lamina.create_table(
        tmp_path / "t", schema, primary_key=["day", "id"], partition_by=["day"], buckets=3
    )
    n = 300
    data = pa.table(
        {"day": ["2026-01-01", "2026-01-02/x"] * (n // 2), "id": np.arange(n), "v": np.arange(n)},
        schema=schema,
    )
    t.write(data)
    dirs = sorted(os.listdir(os.path.join(t.path, "data")))
    assert dirs == ["day=2026-01-01", "day=2026-01-02%2Fx"]
    scan = t.scan(filter=pc.field("day") == "2026-01-01")
    splits = scan.plan()
    assert {s.partition for s in splits} == {(("day", "2026-01-01"),)}
    assert len(splits) == 3
    assert pickle.loads(pickle.dumps(splits)) == splits
    got = scan.to_arrow()
    assert got.num_rows == n // 2
    assert scan.count() == n // 2
    assert sum(b.num_rows for b in scan.to_batches()) == n // 2
    assert t.scan(columns=["v"], filter=pc.field("v") < 10).to_arrow().column_names == ["v"]
    assert t.scan(filter=pc.field("v") < 10).count() == 10
    assert len(t.scan().to_pandas()) == n


def test_lookup(table):
    table.write(_t([1, 2, 3], score=1.0))
    table.write(_t([2], score=5.0))
    got = table.lookup({"user_id": [2, 3, 42]}, columns=["user_id", "score"]).sort_by("user_id")
    assert got.to_pydict() == {"user_id": [2, 3], "score": [5.0, 1.0]}


def test_string_and_composite_keys(tmp_path):
    schema = pa.schema([("a", pa.string()), ("b", pa.int32()), ("v", pa.int64())])
    t = lamina.create_table(tmp_path / "t", schema, primary_key=["a", "b"], buckets=2)
    t.write(
        pa.table({"a": ["x", "x", "y", ""], "b": [1, 2, 1, 0], "v": [1, 2, 3, 4]}, schema=schema)
    )
    t.write(pa.table({"a": ["x"], "b": [2], "v": [20]}, schema=schema))
    t.delete({"a": ["y"], "b": pa.array([1], pa.int32())})
    got = t.read().sort_by([("a", "ascending"), ("b", "ascending")]).to_pydict()
    assert got == {"a": ["", "x", "x"], "b": [0, 1, 2], "v": [4, 1, 20]}
    got = t.lookup({"a": ["x", "zz"], "b": [2, 2]})
    assert got.to_pydict() == {"a": ["x"], "b": [2], "v": [20]}


def test_snapshot_timestamps_increase(table):
    ids = []
    for i in range(3):
        ids.append(table.write(_t([i])).timestamp_ms)
        time.sleep(0.002)
    assert ids == sorted(ids)


def test_lookup_prunes_buckets_and_files_without_losing_rows(tmp_path):
    t = lamina.create_table(tmp_path / "t", SCHEMA, primary_key=["user_id"], buckets=4)
    rng = np.random.default_rng(3)
    model = {}
    for round_ in range(6):
        ids = rng.choice(1000, 200, replace=False) + round_ * 50
        t.write(_t(ids.tolist(), score=float(round_)))
        for i in ids.tolist():
            model[i] = float(round_)
    dropped = list(model)[:20]
    t.delete({"user_id": dropped})
    for i in dropped:
        del model[i]
    asked = rng.choice(1400, 300, replace=False).tolist()
    got = t.lookup({"user_id": asked}, columns=["user_id", "score"]).to_pydict()
    assert dict(zip(got["user_id"], got["score"])) == {k: model[k] for k in asked if k in model}
    assert t.lookup({"user_id": pa.array([], pa.int64())}).num_rows == 0


@pytest.mark.parametrize("key_type", [pa.int64(), pa.int16(), pa.uint32(), pa.string()])
def test_key_filters_prune_files_and_match_pyarrow(tmp_path, key_type):
    schema = pa.schema([("k", key_type), ("v", pa.int64())])
    t = lamina.create_table(tmp_path / "t", schema, primary_key=["k"], buckets=2)

    def keys(lo, hi):
        ks = np.arange(lo, hi)
        return [f"{x:05d}" for x in ks] if pa.types.is_string(key_type) else ks.tolist()

    for r in range(5):  # key-disjoint writes, plus one overlapping rewrite
        t.write(pa.table({"k": keys(r * 100, r * 100 + 100), "v": [r] * 100}, schema=schema))
    t.write(pa.table({"k": keys(150, 250), "v": [9] * 100}, schema=schema))
    t.delete({"k": keys(160, 170)})
    full = t.read()
    lo, hi = (keys(120, 121)[0], keys(260, 261)[0])
    k = pc.field("k")
    filters = [k == lo, (k > lo) & (k < hi), k >= hi, (k < lo) | (pc.field("v") == 9),
               (k > lo) & (pc.field("v") != 9), k.isin([lo, hi])]  # fmt: skip
    for f in filters:
        got = t.read(filter=f).sort_by("k")
        assert got.equals(full.filter(f).sort_by("k")), str(f)
    narrow = t.scan(filter=k == lo).plan()
    assert sum(len(s.files) for s in narrow) < sum(len(s.files) for s in t.scan().plan())


def test_manifest_replaced_in_place_is_checked_again(tmp_path):
    """Checked manifests are shared between table objects of a process; a manifest file
    replaced in place (new identity) must be read and validated again, not served from
    that cache."""
    import glob

    schema = pa.schema([("k", pa.int64()), ("v", pa.int64())])
    t = lamina.create_table(str(tmp_path / "t"), schema, primary_key=["k"])
    t.write(pa.table({"k": [1, 2], "v": [10, 20]}))
    assert lamina.open_table(str(tmp_path / "t")).read().num_rows == 2  # cached now
    for path in glob.glob(str(tmp_path / "t" / "manifest" / "*")):
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0xFF
        os.remove(path)
        with open(path, "wb") as f:
            f.write(bytes(data) + b"\0")  # different size: a different file
    with pytest.raises(lamina.CorruptFileError):
        lamina.open_table(str(tmp_path / "t")).read()


def test_tag_file_carries_its_format_version(table):
    import json

    snap = table.write(_t([1]))
    table.tag("v1")
    with open(os.path.join(table.path, "tag", "v1.json"), "rb") as f:
        doc = json.loads(f.read())
    assert doc == {"format_version": 1, "name": "v1", "snapshot_id": snap.id}
