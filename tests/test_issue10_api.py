"""Regression tests for the API defects of issue 10 (found by testing lamina as a new user
would). Each test is named after the defect it pins."""

from __future__ import annotations

import datetime
import multiprocessing as mp
import pickle
import time

import lamina
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.int64()), ("s", pa.string())])


def _table(tmp_path, schema=SCHEMA, **kw):
    kw.setdefault("primary_key", ["k"])
    return lamina.create_table(tmp_path / "t", schema, **kw)


def _rows(t, **kw):
    return t.read(**kw).sort_by("k").to_pydict()


# ---- 1. a zero-row commit bricked the table ---------------------------------------------


def test_empty_write_delete_and_transaction_commit_nothing(tmp_path):
    t = _table(tmp_path)
    assert t.write(SCHEMA.empty_table()) is None  # no snapshot yet: nothing to return
    assert t.snapshots() == []
    s1 = t.write(pa.table({"k": [1, 2], "v": [1, 2], "s": ["a", "b"]}))
    assert t.write(SCHEMA.empty_table()) == s1
    assert t.write({"k": [], "v": [], "s": []}) == s1
    assert t.delete({"k": []}) == s1
    assert t.delete(pa.table({"k": pa.array([], pa.int64())})) == s1
    with t.transaction() as tx:
        pass
    assert tx.snapshot == s1
    with t.transaction() as tx:
        tx.write(SCHEMA.empty_table())
        tx.delete({"k": []})
    assert tx.snapshot == s1
    assert [s.id for s in t.snapshots()] == [s1.id]
    # Every operation still works on the latest snapshot.
    assert _rows(t) == {"k": [1, 2], "v": [1, 2], "s": ["a", "b"]}
    t.write(pa.table({"k": [3], "v": [3], "s": ["c"]}))
    assert t.compact(full=True) is not None
    t.expire_snapshots(retain_last=1)
    assert _rows(t)["k"] == [1, 2, 3]


def test_manifest_folded_while_the_table_has_no_live_file_reads_back(tmp_path):
    t = _table(tmp_path, options={"manifest.merge_min_count": "1"})
    t.write(pa.table({"k": [1, 2], "v": [1, 2], "s": ["a", "b"]}))
    t.delete({"k": [1, 2]})
    t.compact(full=True)  # purges every row: no live file is left
    assert t._live_files(t.current_snapshot()) == []
    # This commit folds the parent's manifests into one listing no file.
    s = t.write(pa.table({"k": [5], "v": [5], "s": ["e"]}))
    assert _rows(t) == {"k": [5], "v": [5], "s": ["e"]}
    assert t.read(snapshot=s.id - 1).num_rows == 0
    reopened = lamina.open_table(t.path)
    assert reopened.scan().count() == 1
    assert reopened.compact(full=True) is None or reopened.scan().count() == 1
    reopened.expire_snapshots(retain_last=1)
    assert reopened.scan().count() == 1


# ---- 4. time travel into an expired range -------------------------------------------------


def test_as_of_datetime_in_expired_range_raises_instead_of_older_tag(tmp_path):
    t = _table(tmp_path)
    s1 = t.write(pa.table({"k": [1], "v": [1], "s": ["a"]}))
    t.tag("first", s1.id)
    time.sleep(0.02)
    t.write(pa.table({"k": [1], "v": [2], "s": ["a"]}))
    time.sleep(0.02)
    during_s2 = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.02)
    s3 = t.write(pa.table({"k": [1], "v": [3], "s": ["a"]}))
    assert t.read(snapshot=during_s2).column("v").to_pylist() == [2]
    assert t.expire_snapshots(retain_last=1) == [2]
    with pytest.raises(lamina.SnapshotExpiredError, match="expired"):
        t.read(snapshot=during_s2)
    # Times whose snapshot is retained still resolve.
    after_s3 = datetime.datetime.fromtimestamp(s3.timestamp_ms / 1000 + 1, datetime.timezone.utc)
    assert t.snapshot(after_s3) == s3
    at_s1 = datetime.datetime.fromtimestamp(s1.timestamp_ms / 1000, datetime.timezone.utc)
    assert t.snapshot(at_s1) == s1


def test_as_of_datetime_before_every_retained_snapshot_says_expired(tmp_path):
    t = _table(tmp_path)
    t.write(pa.table({"k": [1], "v": [1], "s": ["a"]}))
    time.sleep(0.02)
    when = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.02)
    t.write(pa.table({"k": [1], "v": [2], "s": ["a"]}))
    t.expire_snapshots(retain_last=1)
    with pytest.raises(lamina.SnapshotExpiredError, match="expired"):
        t.snapshot(when)


# ---- 5. bad table definitions fail at create_table ---------------------------------------


@pytest.mark.parametrize("typ", [pa.binary(), pa.large_binary()])
def test_binary_partition_column_is_refused_at_create(tmp_path, typ):
    schema = pa.schema([("p", typ), ("k", pa.int64())])
    with pytest.raises(lamina.InvalidArgumentError, match="partition column 'p'"):
        lamina.create_table(tmp_path / "t", schema, primary_key=["p", "k"], partition_by=["p"])
    assert not (tmp_path / "t").exists() or not any((tmp_path / "t" / "schema").iterdir())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("commit.max_retries", 10**30),
        ("commit.max_retries", 0),
        ("target_file_size", -5),
        ("target_file_size", "9" * 30),
        ("manifest.merge_min_count", 10**9),
        ("compaction.num_sorted_run_trigger", 0),
        ("compaction.size_ratio", -1),
        ("compaction.max_size_amplification_percent", "1e3"),
    ],
)
def test_option_out_of_range_is_refused_at_create(tmp_path, key, value):
    with pytest.raises(lamina.InvalidArgumentError, match=key):
        _table(tmp_path, options={key: value})


def test_largest_accepted_options_still_open(tmp_path):
    t = _table(tmp_path, options={"commit.max_retries": 100_000, "target_file_size": 1 << 40})
    t.write(pa.table({"k": [1], "v": [1], "s": ["a"]}))
    assert lamina.open_table(t.path).options["commit.max_retries"] == "100000"


# ---- 6. uint64 partition values >= 2**63 --------------------------------------------------


def test_uint64_partition_value_above_int64_filters(tmp_path):
    schema = pa.schema([("p", pa.uint64()), ("k", pa.int64()), ("v", pa.int64())])
    t = lamina.create_table(tmp_path / "t", schema, primary_key=["p", "k"], partition_by=["p"])
    big = 2**63 + 5
    t.write(pa.table({"p": pa.array([big, 3], pa.uint64()), "k": [1, 2], "v": [10, 20]}))
    assert t.read(filter=pc.field("v") > 0).num_rows == 2
    got = t.read(filter=pc.field("p") == pa.scalar(big, pa.uint64()))
    assert got.to_pydict() == {"p": [big], "k": [1], "v": [10]}
    assert t.read(filter=pc.field("p") < pa.scalar(big, pa.uint64())).column("k").to_pylist() == [2]
    assert len(t.scan(filter=pc.field("p") == pa.scalar(3, pa.uint64())).plan()) == 1


# ---- 7. wrong-type data was cast silently -------------------------------------------------


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("v", pa.array(["12"])),  # a string into int64
        ("s", pa.array([5])),  # an int into a string
        ("v", pa.array([True])),  # a bool into int64
        ("v", pa.array([1], pa.timestamp("s"))),  # a timestamp into int64
        ("v", pa.array([1.0])),  # a float into int64
        ("v", pa.array([1], pa.uint64())),  # uint64 into int64 is not a widening
        ("s", pa.array([b"x"])),  # binary into string
    ],
)
def test_wrong_type_is_refused_naming_column_and_types(tmp_path, column, values):
    t = _table(tmp_path)
    cols = {"k": pa.array([1]), "v": pa.array([1]), "s": pa.array(["a"])}
    cols[column] = values
    with pytest.raises(lamina.SchemaError) as e:
        t.write(pa.table(cols))
    msg = str(e.value)
    assert repr(column) in msg and str(values.type) in msg
    assert str(SCHEMA.field(column).type) in msg
    assert t.snapshots() == []


def test_lossless_widenings_are_accepted(tmp_path):
    schema = pa.schema(
        [
            ("k", pa.int64()),
            ("i", pa.int64()),
            ("f", pa.float64()),
            ("s", pa.large_string()),
            ("t", pa.timestamp("us")),
            ("l", pa.list_(pa.int64())),
            ("n", pa.int32()),
        ]
    )
    t = lamina.create_table(tmp_path / "t", schema, primary_key=["k"])
    t.write(
        pa.table(
            {
                "k": pa.array([1, 2], pa.int32()),
                "i": pa.array([7, 255], pa.uint8()),
                "f": pa.array([0.5, 2.0], pa.float32()),
                "s": pa.array(["x", "y"]).dictionary_encode(),
                "t": pa.array([1, 2], pa.timestamp("s")),
                "l": pa.array([[1], [2, 3]], pa.list_(pa.int8())),
                "n": pa.array([None, None], pa.null()),
            }
        )
    )
    got = t.read().sort_by("k")
    assert got.schema == t.schema
    assert got.column("i").to_pylist() == [7, 255]
    assert got.column("t").to_pylist()[1] == datetime.datetime(1970, 1, 1, 0, 0, 2)
    assert got.column("l").to_pylist() == [[1], [2, 3]]


def test_lossy_values_of_an_allowed_widening_are_refused(tmp_path):
    schema = pa.schema([("k", pa.int64()), ("f", pa.float64()), ("t", pa.timestamp("s"))])
    t = lamina.create_table(tmp_path / "t", schema, primary_key=["k"])
    with pytest.raises(lamina.SchemaError, match="'f'"):
        t.write(pa.table({"k": [1], "f": [2**53 + 1], "t": pa.array([0], pa.timestamp("s"))}))
    with pytest.raises(lamina.SchemaError, match="'t'"):
        t.write(pa.table({"k": [1], "f": [1.0], "t": pa.array([1500], pa.timestamp("ms"))}))
    t.write(pa.table({"k": [1], "f": [1.0], "t": pa.array([2000], pa.timestamp("ms"))}))
    assert t.scan().count() == 1


def test_python_values_take_the_column_type(tmp_path):
    schema = pa.schema([("k", pa.int32()), ("v", pa.float32()), ("u", pa.uint8())])
    t = lamina.create_table(tmp_path / "t", schema, primary_key=["k"])
    t.write({"k": [1, 2], "v": [0.5, 1.5], "u": [3, 200]})
    assert t.lookup({"k": [2]}).to_pydict() == {"k": [2], "v": [1.5], "u": [200]}
    with pytest.raises(lamina.SchemaError, match="'u'"):
        t.write({"k": [3], "v": [0.5], "u": [300]})
    with pytest.raises(lamina.SchemaError, match="'k'"):
        t.delete({"k": [2**40]})
    with pytest.raises(lamina.SchemaError, match="'k'"):
        t.write({"k": ["1"], "v": [0.5], "u": [1]})


# ---- 8. a null in a non-nullable value column --------------------------------------------


def test_null_in_non_nullable_value_column_names_it_as_a_value_column(tmp_path):
    schema = pa.schema([("k", pa.int64()), pa.field("v", pa.int64(), nullable=False)])
    t = lamina.create_table(tmp_path / "t", schema, primary_key=["k"])
    with pytest.raises(lamina.SchemaError) as e:
        t.write(pa.table({"k": [1, 2], "v": pa.array([None, 1], pa.int64())}))
    assert "primary key" not in str(e.value) and "'v'" in str(e.value)
    with pytest.raises(lamina.SchemaError, match="primary key column 'k'"):
        t.write(pa.table({"k": pa.array([None], pa.int64()), "v": [1]}))


# ---- 10. input handling ---------------------------------------------------------------


def test_pandas_index_is_not_written_as_a_column(tmp_path):
    pd = pytest.importorskip("pandas")
    t = _table(tmp_path)
    t.write(pd.DataFrame({"k": [1, 2], "v": [1, 2], "s": ["a", "b"]}, index=[10, 20]))
    assert t.schema.names == ["k", "v", "s"]
    assert _rows(t) == {"k": [1, 2], "v": [1, 2], "s": ["a", "b"]}
    # A named index is a column: the common df.set_index("key") round trip works.
    t.write(pd.DataFrame({"k": [3], "v": [3], "s": ["c"]}).set_index("k"))
    assert _rows(t)["k"] == [1, 2, 3]


def test_plain_array_is_a_typed_error_and_struct_array_writes(tmp_path):
    t = _table(tmp_path)
    with pytest.raises(lamina.InvalidArgumentError, match="array"):
        t.write(pa.array([1, 2]))
    with pytest.raises(lamina.InvalidArgumentError):
        t.write(pa.chunked_array([[1]]))
    struct = pa.StructArray.from_arrays(
        [pa.array([1]), pa.array([5]), pa.array(["x"])], names=["k", "v", "s"]
    )
    t.write(struct)
    assert _rows(t) == {"k": [1], "v": [5], "s": ["x"]}


def test_repeated_and_empty_column_lists(tmp_path):
    t = _table(tmp_path, buckets=3)
    t.write(pa.table({"k": np.arange(50), "v": np.arange(50), "s": ["x"] * 50}))
    with pytest.raises(lamina.InvalidArgumentError, match="'v'"):
        t.read(columns=["v", "v"])
    with pytest.raises(lamina.InvalidArgumentError, match="'v'"):
        t.lookup({"k": [1]}, columns=["v", "v"])
    none = t.read(columns=[])
    assert none.num_columns == 0 and none.num_rows == t.scan().count() == 50
    assert t.read(columns=[], filter=pc.field("v") < 10).num_rows == 10
    assert t.scan(columns=[]).count() == 50


def test_tag_name_with_nul_or_too_long_is_invalid_argument(tmp_path):
    t = _table(tmp_path)
    t.write(pa.table({"k": [1], "v": [1], "s": ["a"]}))
    for name in ["a\0b", "a\nb", "x" * 300, "a\\b", "", ".hidden", "a/b"]:
        with pytest.raises(lamina.InvalidArgumentError, match="tag name"):
            t.tag(name)
    assert t.tags() == {}
    t.tag("release-1.0 ü")
    assert t.tags() == {"release-1.0 ü": 1}


@pytest.mark.parametrize(
    ("typ", "name"),
    [(pa.decimal128(10, 2), "decimal128(10, 2)"), (pa.list_view(pa.int64()), "list_view")],
)
def test_unsupported_types_are_named_as_arrow_names_them(tmp_path, typ, name):
    schema = pa.schema([("k", pa.int64()), ("d", typ)])
    with pytest.raises(lamina.InvalidArgumentError) as e:
        lamina.create_table(tmp_path / "t", schema, primary_key=["k"])
    assert name in str(e.value) and "'d'" in str(e.value)
    data = pa.table({"d": pa.array([None], typ)})
    with pytest.raises(lamina.InvalidArgumentError) as e:
        lamina.format.write_file(tmp_path / "f.lam", data)
    assert name in str(e.value)
    assert "d:10,2" not in str(e.value) and "+vl" not in str(e.value)


def test_zero_column_file_is_refused_instead_of_losing_its_rows(tmp_path):
    data = pa.table({"a": [1, 2, 3]}).drop_columns(["a"])
    with pytest.raises(lamina.InvalidArgumentError, match="at least one column"):
        lamina.format.write_file(tmp_path / "z.lam", data)
    assert not (tmp_path / "z.lam").exists()


# ---- 14. documented limits and reading a split -----------------------------------------


def test_too_long_partition_value_is_refused_before_anything_is_written(tmp_path):
    schema = pa.schema([("p", pa.string()), ("k", pa.int64())])
    t = lamina.create_table(tmp_path / "t", schema, primary_key=["p", "k"], partition_by=["p"])
    with pytest.raises(lamina.InvalidArgumentError, match="partition column 'p'"):
        t.write(pa.table({"p": ["ok", "é" * 100], "k": [1, 2]}))
    assert t.snapshots() == []
    assert list((tmp_path / "t" / "data").iterdir()) == []
    t.write(pa.table({"p": ["x" * 200], "k": [1]}))  # fits in one folder name
    assert t.scan().count() == 1


def _read_pickled_split(blob: bytes) -> bytes:
    split = pickle.loads(blob)
    return pickle.dumps(split.to_arrow())


def test_split_to_arrow_reads_its_part_of_the_scan(tmp_path):
    t = _table(tmp_path, buckets=4)
    n = 400
    t.write(pa.table({"k": np.arange(n), "v": np.arange(n) % 7, "s": ["x"] * n}))
    t.write(
        pa.table(
            {
                "k": np.arange(0, n, 3),
                "v": np.full(len(range(0, n, 3)), 100),
                "s": ["y"] * len(range(0, n, 3)),
            }
        )
    )
    t.delete({"k": [5, 6, 7]})
    scan = t.scan(columns=["k", "s"], filter=pc.field("v") > 3)
    splits = scan.plan()
    assert len(splits) == 4
    assert pickle.loads(pickle.dumps(splits)) == splits
    parts = [s.to_arrow() for s in splits]
    whole = pa.concat_tables(parts).sort_by("k")
    assert whole.equals(scan.to_arrow().sort_by("k"))
    assert whole.column_names == ["k", "s"]
    # In another process, as a distributed reader would.
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        got = pool.map(_read_pickled_split, [pickle.dumps(s) for s in splits])
    assert pa.concat_tables([pickle.loads(g) for g in got]).sort_by("k").equals(whole)
