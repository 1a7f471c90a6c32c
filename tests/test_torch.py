"""``lamina.torch`` (issue 14): sharding covers every row exactly once per epoch across
ranks x workers (forked and spawned workers), shuffles are deterministic and differ by
epoch, resume is exact (also through torchdata's StatefulDataLoader), jagged features
round-trip against pyarrow, and the map-style dataset equals ``scan.take``."""

from __future__ import annotations

import collections
from typing import Any

import lamina
import numpy as np
import pyarrow as pa
import pytest

torch = pytest.importorskip("torch")
from lamina.loader import Loader, collate  # noqa: E402
from lamina.torch import TableDataset, TableMapDataset  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

SCHEMA = pa.schema(
    [
        ("k", pa.int64()),
        ("x", pa.float32()),
        ("seq", pa.list_(pa.int64())),
        ("emb", pa.list_(pa.float32(), 2)),
        ("name", pa.string()),
    ]
)


def make(tmp_path: Any, buckets: int = 1, rows: int = 6000) -> lamina.Table:
    t = lamina.create_table(
        str(tmp_path / "t"), SCHEMA, primary_key=["k"], buckets=buckets,
        options={"write.sync": "false"},
    )  # fmt: skip
    rng = np.random.default_rng(1)
    for _ in range(3):  # overlapping runs: every read merges
        ks = rng.integers(0, rows, rows // 2)
        t.write(
            pa.table(
                {
                    "k": ks,
                    "x": rng.random(len(ks)).astype(np.float32),
                    "seq": [[int(k)] * int(k % 4) for k in ks],
                    "emb": [[float(k), -float(k)] for k in ks],
                    "name": [f"n{k}" for k in ks],
                },
                schema=SCHEMA,
            )
        )
    return t


def keys_of(batches: list[dict[str, Any]]) -> list[int]:
    return [int(k) for b in batches for k in b["k"].tolist()]


def run(ds: TableDataset, workers: int, ctx: str | None = None) -> list[dict[str, Any]]:
    dl = DataLoader(
        ds, batch_size=None, num_workers=workers,
        multiprocessing_context=ctx if workers else None,
    )  # fmt: skip
    return list(dl)


@pytest.mark.parametrize("buckets", [1, 3])
@pytest.mark.parametrize("shuffle", [False, True, "global"])
def test_every_row_once_per_epoch_across_ranks_and_workers(tmp_path, buckets, shuffle):
    t = make(tmp_path, buckets)
    want = sorted(t.read(columns=["k"]).column("k").to_pylist())
    for world, workers in [(1, 0), (2, 0), (3, 2)]:
        seen: list[int] = []
        for rank in range(world):
            ds = TableDataset(t, batch_size=256, shuffle=shuffle, rank=rank, world_size=world)
            seen += keys_of(run(ds, workers, "fork"))
        assert sorted(seen) == want, (world, workers)


def test_spawned_workers_and_a_forked_parent_that_read(tmp_path):
    t = make(tmp_path)
    want = sorted(t.read(columns=["k"]).column("k").to_pylist())
    t.read()  # the parent's thread pool is running when the DataLoader forks
    ds = TableDataset(t.path, columns=["k", "seq"], batch_size=500, seed=3)
    assert sorted(keys_of(run(ds, 2, "fork"))) == want
    assert sorted(keys_of(run(ds, 2, "spawn"))) == want


def test_shuffle_is_deterministic_and_differs_by_epoch(tmp_path):
    t = make(tmp_path, buckets=2)
    a = TableDataset(t, batch_size=300, seed=5)
    b = TableDataset(t, batch_size=300, seed=5)
    e0 = keys_of(list(a))
    assert e0 == keys_of(list(b))
    a.set_epoch(1)
    e1 = keys_of(list(a))
    assert sorted(e0) == sorted(e1) and e0 != e1
    assert keys_of(list(TableDataset(t, batch_size=300, seed=6))) != e0
    plain = keys_of(list(TableDataset(t, batch_size=300, shuffle=False)))
    assert plain == [int(k) for k in t.read(columns=["k"]).column("k").to_pylist()]
    g = TableDataset(t, batch_size=300, shuffle="global", seed=5)
    assert keys_of(list(g)) == keys_of(
        list(TableDataset(t, batch_size=300, shuffle="global", seed=5))
    )


def test_even_batches_and_drop_last(tmp_path):
    t = make(tmp_path, buckets=3)
    counts = []
    for rank in range(4):
        ds = TableDataset(t, batch_size=128, rank=rank, world_size=4, even_batches=True)
        got = list(ds)
        assert len(got) == len(ds)
        counts.append(len(got))
    assert len(set(counts)) == 1
    ds = TableDataset(t, batch_size=1000, drop_last=True, shuffle=False)
    assert all(len(b["k"]) == 1000 for b in ds)
    assert len(list(ds)) == t.scan().count() // 1000


@pytest.mark.parametrize("shuffle", [True, "global"])
def test_resume_mid_epoch_is_exact(tmp_path, shuffle):
    t = make(tmp_path, buckets=2)
    full = TableDataset(t, batch_size=200, seed=9, shuffle=shuffle)
    full.set_epoch(2)
    whole = keys_of(list(full))
    first = TableDataset(t, batch_size=200, seed=9, shuffle=shuffle)
    first.set_epoch(2)
    it = iter(first)
    head = [next(it) for _ in range(7)]
    state = first.state_dict()
    assert state["batches"] == 7 and state["epoch"] == 2
    resumed = TableDataset(t, batch_size=200, seed=9, shuffle=shuffle)
    resumed.load_state_dict(state)
    assert keys_of(head) + keys_of(list(resumed)) == whole
    other = TableDataset(t, batch_size=200, seed=10)
    with pytest.raises(lamina.InvalidArgumentError, match="another snapshot or seed"):
        other.load_state_dict(state)


# torchdata 0.11 calls an API torch 2.13 deprecates
@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")
def test_stateful_dataloader_resume(tmp_path):
    sdl = pytest.importorskip("torchdata.stateful_dataloader")
    t = make(tmp_path, buckets=2)

    def loader() -> Any:
        ds = TableDataset(t, batch_size=100, seed=4)
        return sdl.StatefulDataLoader(ds, batch_size=None, num_workers=2)

    whole = keys_of(list(loader()))
    dl = loader()
    it = iter(dl)
    head = [next(it) for _ in range(9)]
    state = dl.state_dict()
    dl2 = loader()
    dl2.load_state_dict(state)
    assert keys_of(head) + keys_of(list(dl2)) == whole  # exactly the remaining batches


def test_jagged_features_round_trip(tmp_path):
    t = make(tmp_path)
    table = t.read(columns=["k", "seq", "emb", "x"])
    want = table.column("seq").to_pylist()
    b = collate(table)
    offs, vals = b["seq.offsets"], b["seq"]
    assert [vals[offs[i] : offs[i + 1]].tolist() for i in range(len(want))] == want
    assert b["emb"].shape == (table.num_rows, 2)
    assert b["emb"].tolist() == table.column("emb").to_pylist()
    padded = collate(table, jagged="padded", pad_value=-1)
    width = max(len(x) for x in want)
    assert padded["seq"].shape == (table.num_rows, width)
    for i, row in enumerate(want):
        assert padded["seq"][i][padded["seq.mask"][i]].tolist() == row
        assert (padded["seq"][i][~padded["seq.mask"][i]] == -1).all()
    cut = collate(table, jagged="padded", max_len=2)
    assert [r[m].tolist() for r, m in zip(cut["seq"], cut["seq.mask"])] == [x[:2] for x in want]
    two = table.append_column("seq2", table.column("seq"))
    kjt = collate(two, jagged="kjt")
    assert kjt["kjt.keys"] == ["seq", "seq2"]
    lengths = [len(x) for x in want]
    assert kjt["kjt.lengths"].tolist() == lengths + lengths
    flat = [v for x in want for v in x]
    assert kjt["kjt.values"].tolist() == flat + flat
    # slices of Arrow arrays (offsets not from 0) and null lists / nulls
    part = collate(table.slice(10, 50))
    assert part["seq.offsets"][0] == 0
    nul = pa.table(
        {"l": pa.array([[1, 2], None, [3]], pa.list_(pa.int64())), "v": [1.0, None, 3.0]}
    )
    c = collate(nul)
    assert c["l.offsets"].tolist() == [0, 2, 2, 3] and c["l"].tolist() == [1, 2, 3]
    assert c["v"].tolist() == [1.0, 0.0, 3.0] and c["v.valid"].tolist() == [True, False, True]
    # through torch: dense columns become tensors sharing memory with the batch
    batch = next(iter(TableDataset(t, batch_size=64, shuffle=False)))
    assert batch["x"].dtype == torch.float32 and batch["emb"].shape == (64, 2)
    assert isinstance(batch["name"], list)
    assert "name" not in next(iter(TableDataset(t, batch_size=8, strings="drop")))


def test_map_dataset(tmp_path):
    t = make(tmp_path)
    ds = TableMapDataset(t, columns=["k", "x", "seq"])
    scan = t.scan(columns=["k", "x", "seq"])
    assert len(ds) == scan.count()
    row = ds[5]
    want = scan.take([5]).to_pylist()[0]
    assert int(row["k"]) == want["k"] and row["seq"].tolist() == want["seq"]
    assert int(ds[-1]["k"]) == scan.take([len(ds) - 1]).column("k")[0].as_py()
    with pytest.raises(IndexError):
        ds[len(ds)]
    batch = ds.__getitems__([3, 1, 4])
    assert batch["k"].tolist() == scan.take([3, 1, 4]).column("k").to_pylist()


def test_snapshot_is_pinned_and_recorded(tmp_path):
    t = make(tmp_path)
    ds = TableDataset(t, batch_size=1000, shuffle=False)
    sid = ds.snapshot_id
    assert sid == t.current_snapshot().id
    before = collections.Counter(keys_of(list(ds)))
    t.write(pa.table({"k": [10**9], "x": [1.0], "seq": [[1]], "emb": [[1.0, 1.0]],
                      "name": ["new"]}, schema=SCHEMA))  # fmt: skip
    assert collections.Counter(keys_of(list(ds))) == before  # still the pinned snapshot
    assert TableDataset(t, snapshot=sid, shuffle=False).snapshot_id == sid


def test_loader_argument_errors(tmp_path):
    t = make(tmp_path, rows=100)
    for kw in ({"batch_size": 0}, {"shuffle": "yes"}, {"jagged": "ragged"},
               {"strings": "keep"}, {"max_len": 0}):  # fmt: skip
        with pytest.raises(lamina.InvalidArgumentError):
            Loader(t, **kw)
    with pytest.raises(lamina.InvalidArgumentError):
        list(Loader(t).iter_batches(shard=2, num_shards=2))
    with pytest.raises(lamina.InvalidArgumentError, match="rank"):
        list(TableDataset(t, rank=3, world_size=2))
