"""Structure-aware fuzzing of a table's metadata: snapshots, schemas, tags, manifests.

A small real table (two partitions, two buckets, writes, a delete, merged manifests, a
tag) is built once. Each input mutates one of its metadata files - a JSON document
edited as a tree (values swapped for hostile ones: wrong types, huge or negative
numbers, ``..`` and absolute paths, names of planted symbolic links, deep nesting,
newer format versions) or as text (truncation, byte flips), or a manifest edited cell by
cell and written back as a valid lamina file - then opens the table, lists snapshots and
tags, plans and reads every snapshot, reads at a tag, filters and looks keys up. The
file is restored afterwards.

Allowed outcomes: success, a ``lamina.LaminaError``, or ``FileNotFoundError`` for a
file a mutation legitimately names but that does not exist. Anything else is a
finding, and so is any file opened (by Python or the core) that resolves into the
``outside`` folder next to the table, which planted symbolic links point to.

    # atheris (coverage-guided; the input bytes drive the mutator's choices)
    PYTHONPATH=/tmp/devpkg python fuzz/fuzz_metadata.py -max_total_time=600 -timeout=30
    # pure Python, no atheris (tests/test_hostile.py runs this briefly)
    PYTHONPATH=/tmp/devpkg python fuzz/fuzz_metadata.py --mutate --seed 1 --iterations 5000

With LAMINA_FUZZ_KEEP_GOING=DIR a finding does not stop the run: the first one of each
(exception type, raising frame) is saved as DIR/bug-<n>.txt (target file, mutation and
traceback) and fuzzing goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Protocol

if __name__ == "__main__" and "--mutate" not in sys.argv:
    import atheris

    # Coverage feedback from lamina's Python code only: instrumenting pyarrow and
    # numpy as well (instrument_all) takes minutes and adds nothing.
    with atheris.instrument_imports(include=["lamina"]):
        import lamina.metadata
        import lamina.scan
        import lamina.schema
        import lamina.snapshot
        import lamina.table

import lamina
import lamina._core
import pyarrow as pa
import pyarrow.compute as pc
from lamina.format import FileReader, write_file

# ---- the seed table -------------------------------------------------------------------


def build_table(work: str) -> str:
    """Creates ``work/t`` (the table) and ``work/outside`` (what planted links reach)."""
    root = os.path.join(work, "t")
    outside = os.path.join(work, "outside")
    schema = pa.schema(
        [("p", pa.string()), ("id", pa.int64()), ("v", pa.float64()),
         ("tags", pa.list_(pa.string()))]
    )  # fmt: skip
    t = lamina.create_table(
        root, schema, primary_key=["p", "id"], partition_by=["p"], buckets=2,
        options={"manifest.merge_min_count": "3", "write.sync": "false"},
    )  # fmt: skip
    for i in range(4):
        ids = list(range(i * 5, i * 5 + 10))
        t.write(
            pa.table(
                {"p": ["a" if j % 3 else "b" for j in ids], "id": ids,
                 "v": [j * 0.5 for j in ids], "tags": [[str(j)] for j in ids]},
                schema=schema,
            )
        )  # fmt: skip
        if i == 1:
            t.tag("t1")
    t.delete({"p": ["a", "b"], "id": [1, 3]})
    # What planted links point to: a copy of a real data file, manifest and snapshot.
    os.makedirs(outside)
    live = t._live_files(t.current_snapshot())
    shutil.copy(os.path.join(root, live[0].path), os.path.join(outside, "x.lam"))
    snap = t.current_snapshot()
    assert snap is not None
    shutil.copy(os.path.join(root, "manifest", snap.manifests[0]), os.path.join(outside, "m.lam"))
    shutil.copy(t._store.snapshot_path(snap.id), os.path.join(outside, "s.json"))
    # Links no metadata names until a mutation does.
    os.symlink(outside, os.path.join(root, "data", "evil"))
    os.symlink(os.path.join(outside, "m.lam"), os.path.join(root, "manifest", "evil.lam"))
    return root


def metadata_files(root: str) -> list[str]:
    """The files a mutation may target (relative to the root), in a fixed order."""
    out = []
    for sub in ("schema", "snapshot", "tag", "manifest"):
        for name in sorted(os.listdir(os.path.join(root, sub))):
            full = os.path.join(root, sub, name)
            if not os.path.islink(full) and not name.startswith("."):
                out.append(f"{sub}/{name}")
    return out


# ---- choices: random.Random or atheris' FuzzedDataProvider ----------------------------


class Chooser(Protocol):
    def below(self, n: int) -> int: ...


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def below(self, n: int) -> int:
        return self.rng.randrange(n) if n > 0 else 0


class FdpChooser:
    def __init__(self, fdp: Any) -> None:
        self.fdp = fdp

    def below(self, n: int) -> int:
        return self.fdp.ConsumeIntInRange(0, n - 1) if n > 1 else 0


def pick(c: Chooser, seq: Sequence[Any]) -> Any:
    return seq[c.below(len(seq))]


# ---- mutations ------------------------------------------------------------------------

HOSTILE_NAMES = [
    "..", ".", "", "/etc/passwd", "../snapshot/snapshot-1.json", "a/b", "a\\b", "x\x00y",
    "evil.lam", ".evil", "manifest-missing.lam", "x" * 300, "\u202e", "LATEST",
]  # fmt: skip
HOSTILE_PATHS = [
    "data/evil/x.lam", "../outside/x.lam", "/tmp/x.lam", "data/../../outside/x.lam",
    "data/../schema/schema-0.json", "schema/schema-0.json", "snapshot/snapshot-1.json",
    "data\\x.lam", "data/x\x00.lam", "data//x.lam", "data/./x.lam", "data/missing.lam",
    "data/" + "d/" * 600 + "x.lam", "data", "data/p=a", "",
]  # fmt: skip
HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2, 3, 7, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64,
    -(2**63), 10**30, 1.5, float("inf"), "", "1", "abc", [], {}, [1, 2], {"a": 1},
    "x" * 10000, list(range(1000)),
]  # fmt: skip
FORMAT_VERSIONS: list[Any] = [2, 3, 2**31, 1, 0, -1, "2", None, True]
DEEP = 50_000


def _deep(depth: int, leaf: Any = 1) -> str:
    return "[" * depth + json.dumps(leaf) + "]" * depth


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in a JSON tree (keys and list indices)."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return doc
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    del parent[path[-1]]
    return doc


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def mutate_json(c: Chooser, data: bytes, pool: dict[str, list[Any]]) -> tuple[bytes, str]:
    """One structural or textual mutation of a JSON document."""
    op = c.below(10)
    if op == 0:  # text: truncate
        n = c.below(len(data))
        return data[:n], f"truncate({n})"
    if op == 1:  # text: flip bytes
        b = bytearray(data)
        for _ in range(1 + c.below(4)):
            i = c.below(len(b))
            b[i] ^= 1 << c.below(8)
        return bytes(b), "flip"
    if op == 2:  # text: deep nesting somewhere
        doc = json.loads(data)
        paths = _paths(doc)
        where = pick(c, paths)
        mark = "__DEEP__"
        text = json.dumps(_set(doc, where, mark)).replace(f'"{mark}"', _deep(DEEP))
        return text.encode(), f"deep({where})"
    doc = json.loads(data)
    paths = _paths(doc)
    where = pick(c, paths)
    if op == 3 and where:
        return json.dumps(_delete(doc, where)).encode(), f"delete({where})"
    if op == 4 and isinstance(doc, dict):
        v = pick(c, FORMAT_VERSIONS)
        doc["format_version"] = v
        return json.dumps(doc).encode(), f"format_version={v!r}"
    if op == 5:  # a name or path from the hostile pools or from other files
        kind = pick(c, sorted(pool))
        v = pick(c, pool[kind]) if pool[kind] else None
        return json.dumps(_set(doc, where, v)).encode(), f"set({where}, {kind}:{v!r})"
    if op == 6:  # an int nudged: off by one, negated, doubled
        old = _get(doc, where)
        if isinstance(old, int) and not isinstance(old, bool):
            v = pick(c, [old + 1, old - 1, -old, old * 2, old << 40])
            return json.dumps(_set(doc, where, v)).encode(), f"nudge({where}, {v})"
    if op == 7:  # duplicate a list entry
        lists = [p for p in paths if isinstance(_get(doc, p), list) and _get(doc, p)]
        if lists:
            p = pick(c, lists)
            lst = _get(doc, p)
            lst.append(lst[c.below(len(lst))])
            return json.dumps(doc).encode(), f"dup({p})"
    v = pick(c, HOSTILE_VALUES)
    return json.dumps(_set(doc, where, v)).encode(), f"set({where}, {str(v)[:40]!r})"


MANIFEST_VALUES: dict[str, list[Any]] = {
    "kind": [0, 1, 2, -1, 127, None],
    "partition": ['[["p", "a"]]', '[["p", "b"]]', "[]", '[["p", ["a"]]]', '[["p", {"x": 1}]]',
                  "[[1, 2]]", '[["p"]]', "nonsense", '{"p": "a"}', _deep(DEEP, "a"), None,
                  '[["p", 1.5]]', '[["p", null]]', '[["q", "a"]]'],
    "path": [*HOSTILE_PATHS, None],
    "bucket": [0, 1, 2, -1, 2**31 - 1, None],
    "file_size": [0, -1, 2**62, 2**63 - 1, None],
    "row_count": [0, -1, 1, 2**62, 2**63 - 1, None],
    "delete_count": [0, -1, 1, 2**62, None],
    "level": [0, 1, 5, -1, 2**31 - 1, None],
    "min_key": [b"", b"\xff" * 16, b"\x00", None],
    "max_key": [b"", b"\xff" * 16, b"\x00", None],
    "priority": [0, 1, 2**63, 2**64 - 1, None],
    "schema_id": [0, 1, -1, 2**40, None],
    "snapshot_id": [0, 1, 2, 99, -1, 2**62, None],
    "run": [0, 1, -1, None],
}  # fmt: skip


def mutate_manifest(c: Chooser, data: bytes, paths: list[str]) -> tuple[bytes, str]:
    """A manifest edited as a table and written back as a valid lamina file (or, now
    and then, byte-flipped so the file reader's checks are reached too)."""
    op = c.below(8)
    if op == 0:
        b = bytearray(data)
        i = c.below(len(b))
        b[i] ^= 1 << c.below(8)
        return bytes(b), f"flip({i})"
    r = FileReader.from_bytes(data)
    meta = r.metadata
    d = r.read().to_pydict()
    n = len(d["path"])
    what = ""
    if op == 1:
        meta["lamina.manifest.format_version"] = pick(c, [b"2", b"99", b"0", b"x", b"", b"1"])
        what = f"version={meta['lamina.manifest.format_version']!r}"
    elif op == 2 and n:
        i = c.below(n)
        for k in d:
            d[k].append(d[k][i])
        what = f"dup_row({i})"
    elif op == 3 and n:
        i = c.below(n)
        for k in d:
            del d[k][i]
        what = f"drop_row({i})"
    elif op == 4 and n:
        i = c.below(n)
        d["path"][i] = pick(c, paths)
        what = f"path[{i}]=existing"
    elif n:
        col = pick(c, sorted(MANIFEST_VALUES))
        i = c.below(n)
        v = pick(c, MANIFEST_VALUES[col])
        d[col][i] = v
        what = f"{col}[{i}]={str(v)[:40]!r}"
    from lamina.snapshot import MANIFEST_SCHEMA

    try:
        table = pa.table(d, schema=MANIFEST_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return data, what + " (not representable; unchanged)"
    path = os.path.join(tempfile.gettempdir(), f"lamina-fuzz-manifest-{os.getpid()}.lam")
    write_file(path, table, metadata=meta)
    with open(path, "rb") as f:
        out = f.read()
    os.remove(path)
    return out, what


# ---- what a mutant is checked with ----------------------------------------------------


class Watch:
    """Records every file Python opens for reading or hands to the core, to catch reads
    outside the table. Audit hooks cannot be removed: use ``watch()``, the one instance."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.active = False
        sys.addaudithook(self._hook)
        core = lamina._core
        self._wrap(core, "table_merge_read", lambda a: [p for p, _ in a[0]])
        self._wrap(core, "table_compact", lambda a: [p for p, _ in a[0]])
        orig = core.FileReader
        watch = self

        class Reader:  # the class, plus a recording constructor
            def __new__(cls, path: str) -> Any:
                watch._note(path)
                return orig(path)

            from_bytes = orig.from_bytes

        core.FileReader = Reader  # type: ignore[misc]

    def _wrap(self, mod: Any, name: str, paths_of: Callable[[tuple[Any, ...]], list[str]]) -> None:
        orig = getattr(mod, name)

        def wrapper(*a: Any, **kw: Any) -> Any:
            for p in paths_of(a):
                self._note(p)
            return orig(*a, **kw)

        setattr(mod, name, wrapper)

    def _note(self, path: Any) -> None:
        if self.active and isinstance(path, str):
            self.paths.append(path)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or not self.active or not isinstance(args[0], str):
            return
        mode, flags = args[1], args[2]
        if isinstance(mode, str) and any(c in mode for c in "wax+"):
            return  # only reads matter here; deletions are checked by canaries
        if mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR):
            return
        self.paths.append(args[0])

    def outside(self, outside_dir: str) -> list[str]:
        real = os.path.realpath(outside_dir) + os.sep
        return [p for p in self.paths if os.path.realpath(p).startswith(real)]


_WATCH: Watch | None = None


def watch() -> Watch:
    global _WATCH
    if _WATCH is None:
        _WATCH = Watch()
    return _WATCH


ALLOWED = (lamina.LaminaError, FileNotFoundError)


def exercise(root: str) -> list[str]:
    """Every read-side operation, each on its own so one refusal does not hide the
    next; returns what happened (a finding raises)."""
    log = []

    def step(name: str, fn: Callable[[], Any]) -> Any:
        try:
            out = fn()
            log.append(f"{name}:ok")
            return out
        except ALLOWED as e:
            log.append(f"{name}:{type(e).__name__}")
            return None

    t = step("open", lambda: lamina.open_table(root))
    if t is None:
        return log
    step("schema", lambda: t.schema)
    snaps = step("snapshots", lambda: [s.id for s in t.snapshots()]) or []
    step("tags", t.tags)
    for sid in snaps[-3:]:
        step(f"plan{sid}", lambda sid=sid: t.scan(snapshot=sid).plan())
        step(f"read{sid}", lambda sid=sid: t.read(snapshot=sid))
    step("read_tag", lambda: t.read(snapshot="t1"))
    step("read_filter", lambda: t.read(filter=pc.field("id") < 7))
    step("count", lambda: t.scan().count())
    keys = {"p": ["a", "b", "a"], "id": [2, 3, 19]}
    step("lookup", lambda: t.lookup(keys))
    return log


class Harness:
    """The seed table, its metadata files and one mutate/exercise/restore step."""

    def __init__(self, work: str) -> None:
        self.root = build_table(work)
        self.outside = os.path.join(work, "outside")
        self.targets = metadata_files(self.root)
        self.originals = {rel: _read(os.path.join(self.root, rel)) for rel in self.targets}
        manifests = [n for n in os.listdir(os.path.join(self.root, "manifest"))]
        data_paths = []
        for rel in self.targets:
            if rel.startswith("manifest/"):
                data_paths += (
                    FileReader(os.path.join(self.root, rel))
                    .read(["path"])
                    .column("path")
                    .to_pylist()
                )
        self.data_paths = sorted(set(data_paths))
        self.pool: dict[str, list[Any]] = {
            "names": HOSTILE_NAMES + sorted(manifests),
            "paths": HOSTILE_PATHS + self.data_paths,
            "values": HOSTILE_VALUES,
        }
        self.watch = watch()

    def mutate(self, c: Chooser) -> tuple[str, bytes, str]:
        rel = pick(c, self.targets)
        data = self.originals[rel]
        if rel.startswith("manifest/"):
            new, what = mutate_manifest(c, data, self.data_paths + HOSTILE_PATHS)
        elif rel.endswith("LATEST"):
            new, what = pick(c, [b"", b"0", b"-1", b"99", b"9" * 40, b"x", b"1\n"]), "latest"
        else:
            new, what = mutate_json(c, data, self.pool)
        return rel, new, what

    def run(self, rel: str, data: bytes) -> list[str]:
        """Exercises the table with ``rel`` holding ``data``; raises on a finding."""
        path = os.path.join(self.root, rel)
        with open(path, "wb") as f:
            f.write(data)
        self.watch.paths = []
        self.watch.active = True
        try:
            return exercise(self.root)
        finally:
            self.watch.active = False
            with open(path, "wb") as f:
                f.write(self.originals[rel])
            bad = self.watch.outside(self.outside)
            if bad:
                raise AssertionError(f"read outside the table: {bad[:3]}")


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# ---- pure-Python loop -----------------------------------------------------------------


def mutate_loop(seed: int, iterations: int, seconds: float | None = None) -> dict[str, int]:
    """Runs mutants until ``iterations`` or ``seconds`` run out; raises on a finding
    (with the target, the mutation and the seed in the message)."""
    rng = random.Random(seed)
    stats = {"iterations": 0, "ok": 0, "refused": 0}
    with tempfile.TemporaryDirectory(prefix="lamina-fuzz-meta-") as work:
        h = Harness(work)
        t0 = time.monotonic()
        for i in range(iterations):
            if seconds is not None and time.monotonic() - t0 > seconds:
                break
            rel, data, what = h.mutate(RandomChooser(rng))
            try:
                log = h.run(rel, data)
            except Exception as e:
                raise AssertionError(
                    f"finding at seed {seed} iteration {i}: {rel} {what}: {type(e).__name__}: {e}"
                ) from e
            stats["iterations"] += 1
            if all(s.endswith(":ok") for s in log):
                stats["ok"] += 1
            else:
                stats["refused"] += 1
    return stats


# ---- atheris --------------------------------------------------------------------------

KEEP_GOING = os.environ.get("LAMINA_FUZZ_KEEP_GOING")
_seen: dict[tuple[str, str], int] = {}


def _record(rel: str, what: str, exc: BaseException) -> None:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else "?"
    key = (type(exc).__name__, where)
    _seen[key] = _seen.get(key, 0) + 1
    if _seen[key] > 1:
        return
    assert KEEP_GOING is not None
    os.makedirs(KEEP_GOING, exist_ok=True)
    k = len(_seen)
    with open(os.path.join(KEEP_GOING, f"bug-{k}.txt"), "w") as f:
        f.write(f"{rel}: {what}\n")
        f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    print(f"\nBUG {k}: {key[0]} at {where}: {exc}", file=sys.stderr, flush=True)


def atheris_main(argv: list[str]) -> None:
    import atheris

    work = tempfile.mkdtemp(prefix="lamina-atheris-meta-")
    h = Harness(work)

    def one_input(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        rel, new, what = h.mutate(FdpChooser(fdp))
        if KEEP_GOING is None:
            h.run(rel, new)
            return
        try:
            h.run(rel, new)
        except Exception as e:
            _record(rel, what, e)

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def main(argv: list[str]) -> None:
    if "--mutate" not in argv:
        atheris_main(argv)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--mutate", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=None)
    args = ap.parse_args(argv[1:])
    t0 = time.monotonic()
    stats = mutate_loop(args.seed, args.iterations, args.seconds)
    stats["seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(stats))


if __name__ == "__main__":
    main(sys.argv)
