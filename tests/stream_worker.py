"""Processes for the streaming tests (``test_stream.py``): a writer and consumers.

python tests/stream_worker.py write PATH SEED N
    N random upserts/deletes (seeded) into the table at PATH, compacting now and
    then; writes PATH/../writer-done holding the last snapshot id.
python tests/stream_worker.py exactly-once PATH STATE
    Streams from the position stored in STATE (a JSON file: the rows it built, the
    position, the snapshot ids it applied), applying each batch strictly and storing
    state + position atomically after each one; stops at the writer's last snapshot.
python tests/stream_worker.py at-least-once PATH LOG
    Streams with consumer id "c" (the table keeps the position), appending the
    snapshot id of each batch to LOG before acknowledging it; stops at the writer's
    last snapshot.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import lamina
import numpy as np
import pyarrow as pa

SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.int64()), ("s", pa.string())])


def create(path: str) -> lamina.Table:
    return lamina.create_table(
        path,
        SCHEMA,
        primary_key=["k"],
        options={"changelog.producer": "lookup", "write.sync": "false"},
    )


def write(path: str, seed: int, n: int) -> None:
    t = lamina.open_table(path)
    rng = np.random.default_rng(seed)
    for i in range(n):
        keys = np.unique(rng.integers(0, 200, int(rng.integers(1, 30))))
        if rng.random() < 0.25:
            t.delete({"k": keys})
        else:
            t.write(
                pa.table(
                    {"k": keys, "v": rng.integers(0, 5, len(keys)), "s": [f"s{i}"] * len(keys)},
                    schema=SCHEMA,
                )
            )
        if i % 7 == 6:
            t.compact()
    done = os.path.join(os.path.dirname(path), "writer-done")
    with open(done + ".tmp", "w") as f:
        f.write(str(t.current_snapshot().id))
    os.replace(done + ".tmp", done)


def _last(path: str) -> int | None:
    try:
        with open(os.path.join(os.path.dirname(path), "writer-done")) as f:
            return int(f.read())
    except FileNotFoundError:
        return None


def _batches(t: lamina.Table, path: str, **kw: Any) -> Any:
    """Batches until the writer is done and the stream reached its last snapshot."""
    while True:
        last = _last(path)
        stream = t.stream(poll_interval=0.02, timeout=0.2, end=last, **kw)
        for batch in stream:
            yield stream, batch
        if last is not None and stream.position >= last:
            return
        kw["start"] = stream.position  # (a consumer id resumes from its own position)


def exactly_once(path: str, state_path: str) -> None:
    try:
        with open(state_path) as f:
            state = json.load(f)
    except FileNotFoundError:
        state = {"rows": {}, "position": 0, "applied": []}
    t = lamina.open_table(path)
    rows: dict[str, list[Any]] = state["rows"]
    for _stream, batch in _batches(t, path, start=state["position"]):
        sid = batch.column("_snapshot_id")[0].as_py()
        for r in batch.to_pylist():
            key, kind = str(r["k"]), r["_row_kind"]
            if kind in ("-U", "-D"):
                assert rows.pop(key) == [r["v"], r["s"]], (sid, r)
            else:
                assert key not in rows, (sid, r)
                rows[key] = [r["v"], r["s"]]
        state["position"] = sid
        state["applied"].append(sid)
        with open(state_path + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(state_path + ".tmp", state_path)  # output and position together


def at_least_once(path: str, log_path: str) -> None:
    t = lamina.open_table(path)
    for _stream, batch in _batches(t, path, consumer_id="c", start=0):
        sid = batch.column("_snapshot_id")[0].as_py()
        with open(log_path, "a") as f:
            f.write(f"{sid}\n")
            f.flush()


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "write":
        write(path, int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "exactly-once":
        exactly_once(path, sys.argv[3])
    elif mode == "at-least-once":
        at_least_once(path, sys.argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")
