"""Hostile table metadata: every malformed snapshot, schema, tag or manifest is refused
with CorruptFileError (UnsupportedVersionError when a newer format wrote it), nothing
outside the table folder is read or deleted, and no claimed size is allocated.

Each test builds a small real table, plants one hostile file, and checks the typed error
plus, through ``Watch`` (an audit hook and wrappers around the core's file entry
points), that no file under the ``outside`` folder next to the table was opened, and that
the canary files there are intact. The mutation fuzz at the end runs
fuzz/fuzz_metadata.py briefly with a fixed seed (longer under ``-m slow``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import lamina
import pyarrow as pa
import pytest
from lamina.format import FileReader, write_file
from lamina.snapshot import MANIFEST_SCHEMA, MANIFEST_VERSION_KEY, DataFile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ_DIR = os.path.join(REPO, "fuzz")
sys.path.insert(0, FUZZ_DIR)

import fuzz_metadata  # noqa: E402

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.string())])
WATCH = fuzz_metadata.watch()


class Env:
    """A table with two commits and a tag, and an ``outside`` folder with canaries."""

    def __init__(self, tmp: str) -> None:
        self.root = os.path.join(tmp, "t")
        self.outside = os.path.join(tmp, "outside")
        t = lamina.create_table(
            self.root, SCHEMA, primary_key=["id"], buckets=2, options={"write.sync": "false"}
        )
        t.write(pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}))
        t.tag("first")
        t.write(pa.table({"id": [3, 4], "v": ["C", "d"]}))
        self.expected = {1: "a", 2: "b", 3: "C", 4: "d"}
        os.makedirs(self.outside)
        # Canaries: real lamina files and JSON, so a read through a link would succeed.
        live = t._live_files(t.current_snapshot())
        self.data_file = live[0]
        shutil.copy(os.path.join(self.root, live[0].path), self.out("x.lam"))
        snap = t.current_snapshot()
        assert snap is not None
        self.snap = snap
        shutil.copy(self.path("manifest", snap.manifests[0]), self.out("m.lam"))
        shutil.copy(t._store.snapshot_path(snap.id), self.out("s.json"))
        shutil.copy(self.path("tag", "first.json"), self.out("tag.json"))
        self.canaries = {n: _read(self.out(n)) for n in os.listdir(self.outside)}

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def out(self, name: str) -> str:
        return os.path.join(self.outside, name)

    def table(self) -> lamina.Table:
        return lamina.open_table(self.root)

    def doc(self, *parts: str) -> dict[str, Any]:
        return json.loads(_read(self.path(*parts)))

    def put(self, doc: Any, *parts: str) -> None:
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        with open(self.path(*parts), "wb") as f:
            f.write(data)

    def commit_manifest(self, rows: list[tuple[int, DataFile]], meta: bytes | None = None) -> int:
        """Writes a manifest with ``rows`` and a snapshot whose only manifest it is."""
        name = "manifest-hostile.lam"
        cols: dict[str, list[Any]] = {f.name: [] for f in MANIFEST_SCHEMA}
        for kind, f in rows:
            cols["kind"].append(kind)
            cols["partition"].append(json.dumps([list(p) for p in f.partition]))
            for k in MANIFEST_SCHEMA.names[2:]:
                cols[k].append(getattr(f, k))
        metadata = {MANIFEST_VERSION_KEY: meta} if meta is not None else None
        write_file(self.path("manifest", name), pa.table(cols, schema=MANIFEST_SCHEMA),
                   metadata=metadata)  # fmt: skip
        return self.commit_snapshot(manifests=[name], delta_manifests=[name])

    def commit_snapshot(self, **fields: Any) -> int:
        """Writes snapshot N + 1 as a copy of snapshot N with ``fields`` replaced."""
        doc = self.doc("snapshot", f"snapshot-{self.snap.id}.json")
        sid = self.snap.id + 1
        doc.update(id=sid, parent_id=self.snap.id)
        doc.update(fields)
        self.put(doc, "snapshot", f"snapshot-{sid}.json")
        return sid

    @contextlib.contextmanager
    def unwatched(self) -> Iterator[None]:
        """For the test's own reads of the outside folder."""
        WATCH.active = False
        try:
            yield
        finally:
            WATCH.active = True

    def assert_outside_untouched(self) -> None:
        assert {n: _read(self.out(n)) for n in os.listdir(self.outside)} == self.canaries
        assert WATCH.outside(self.outside) == []

    def assert_reads_expected(self) -> None:
        got = self.table().read().to_pydict()
        assert dict(zip(got["id"], got["v"])) == self.expected


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def env(tmp_path: Any) -> Iterator[Env]:
    e = Env(str(tmp_path))
    WATCH.paths = []
    WATCH.active = True
    try:
        yield e
    finally:
        WATCH.active = False
    e.assert_outside_untouched()


def _entry(env: Env, **changes: Any) -> DataFile:
    from dataclasses import replace

    sid = env.snap.id + 1
    f = replace(env.data_file, snapshot_id=sid, priority=sid << 20)
    return replace(f, **changes)


def read_all(t: lamina.Table) -> None:
    t.read()


# ---- paths that lead out of the table -------------------------------------------------

BAD_MANIFEST_NAMES = [
    "../outside/m.lam", "/etc/passwd", "..", ".", "", "a\\b", "m\x00.lam", "sub/m.lam",
    ".hidden.lam", "x" * 300,
]  # fmt: skip


@pytest.mark.parametrize("name", BAD_MANIFEST_NAMES)
def test_snapshot_manifest_name_outside_is_refused(env: Env, name: str) -> None:
    sid = env.commit_snapshot(manifests=[name], delta_manifests=[])
    with pytest.raises(lamina.CorruptFileError):
        env.table().read()
    with pytest.raises(lamina.CorruptFileError):
        env.table().snapshots()
    assert sid == env.snap.id + 1


def test_delta_manifest_name_outside_is_refused(env: Env) -> None:
    # Regression: delta_manifests were not checked at all.
    env.commit_snapshot(delta_manifests=["../outside/m.lam"])
    with pytest.raises(lamina.CorruptFileError):
        env.table().current_snapshot()


BAD_DATA_PATHS = [
    "../outside/x.lam", "/tmp/x.lam", "data/../../outside/x.lam", "data/../x.lam",
    "data\\x.lam", "data/x\x00.lam", "data//x.lam", "data/./x.lam", "x.lam",
    # Not data files: a manifest naming these would have made expire_snapshots delete
    # the table's own metadata (regression).
    "schema/schema-0.json", "snapshot/snapshot-1.json", "data/bucket-0", "data",
]  # fmt: skip


@pytest.mark.parametrize("path", BAD_DATA_PATHS)
def test_manifest_data_path_outside_is_refused(env: Env, path: str) -> None:
    env.commit_manifest([(0, _entry(env, path=path))])
    with pytest.raises(lamina.CorruptFileError):
        env.table().read()


def test_expire_never_deletes_table_metadata_named_by_a_manifest(env: Env) -> None:
    env.commit_manifest([(0, _entry(env, path="schema/schema-0.json"))])
    schema0 = _read(env.path("schema", "schema-0.json"))
    t = env.table()
    with pytest.raises(lamina.CorruptFileError):
        t.expire_snapshots(retain_last=1)
    assert _read(env.path("schema", "schema-0.json")) == schema0


def _linked_entry(env: Env) -> DataFile:
    """A manifest entry under data/evil, a link to the outside folder."""
    os.symlink(env.outside, env.path("data", "evil"))
    return _entry(env, path="data/evil/x.lam")


def test_data_file_through_symlinked_folder_is_refused(env: Env) -> None:
    env.commit_manifest([(0, _linked_entry(env))])
    with pytest.raises(lamina.CorruptFileError, match="outside the table"):
        env.table().read()
    with pytest.raises(lamina.CorruptFileError):
        env.table().scan().plan()
    with pytest.raises(lamina.CorruptFileError):
        env.table().lookup({"id": [1]})


def test_symlinked_data_file_is_refused(env: Env) -> None:
    f = _entry(env, path=env.data_file.path.replace(".lam", "-link.lam"))
    os.symlink(env.out("x.lam"), env.path(f.path))
    env.commit_manifest([(0, f)])
    with pytest.raises(lamina.CorruptFileError, match="symbolic link"):
        env.table().read()


def test_symlink_inside_the_table_is_followed(env: Env) -> None:
    f = _entry(env, path=env.data_file.path.replace(".lam", "-link.lam"))
    os.symlink(env.path(env.data_file.path), env.path(f.path))
    env.commit_manifest([(0, f)])
    # Only the linked file is live now: it holds what the original file held.
    want = FileReader(env.path(env.data_file.path)).read(["id"]).column("id").to_pylist()
    assert sorted(env.table().read(columns=["id"]).column("id").to_pylist()) == sorted(want)


def test_expire_and_orphan_removal_never_delete_through_a_link(env: Env) -> None:
    # Snapshot 3 lists a file under data/evil (-> outside); expiring snapshots 1-3 would
    # delete it, so the expiration refuses before deleting anything.
    sid = env.commit_manifest([(0, _linked_entry(env))])
    env.commit_snapshot(id=sid + 1, parent_id=sid, manifests=env.snap.manifests,
                        delta_manifests=[])  # fmt: skip
    snapshot_files = sorted(os.listdir(env.path("snapshot")))
    t = env.table()
    with pytest.raises(lamina.CorruptFileError):
        t.expire_snapshots(retain_last=1)
    assert sorted(os.listdir(env.path("snapshot"))) == snapshot_files
    with pytest.raises(lamina.CorruptFileError):
        t.remove_orphan_files(older_than=datetime.timedelta(0))


def test_symlinked_manifest_is_refused(env: Env) -> None:
    os.symlink(env.out("m.lam"), env.path("manifest", "linked.lam"))
    env.commit_snapshot(manifests=["linked.lam"], delta_manifests=["linked.lam"])
    with pytest.raises(lamina.CorruptFileError, match="symbolic link"):
        env.table().read()


def test_symlinked_snapshot_is_refused(env: Env) -> None:
    sid = env.snap.id + 1
    # The outside copy holds snapshot N; rewrite it as N + 1 so only the link is wrong.
    doc = json.loads(env.canaries["s.json"])
    doc.update(id=sid, parent_id=env.snap.id)
    with env.unwatched():
        with open(env.out("s.json"), "w") as f:
            json.dump(doc, f)
        env.canaries["s.json"] = _read(env.out("s.json"))
    os.symlink(env.out("s.json"), env.path("snapshot", f"snapshot-{sid}.json"))
    with pytest.raises(lamina.CorruptFileError, match="symbolic link"):
        env.table().read()


def test_symlinked_tag_is_refused(env: Env) -> None:
    os.symlink(env.out("tag.json"), env.path("tag", "linked.json"))
    with pytest.raises(lamina.CorruptFileError, match="symbolic link"):
        env.table().tags()
    with pytest.raises(lamina.CorruptFileError):
        env.table().read(snapshot="first")


def test_symlinked_snapshot_folder_is_refused(env: Env) -> None:
    moved = env.out("snapshot")
    shutil.move(env.path("snapshot"), moved)
    os.symlink(moved, env.path("snapshot"))
    with pytest.raises(lamina.CorruptFileError):
        env.table().read()
    with env.unwatched():
        shutil.rmtree(moved)  # not a canary


def test_symlinked_latest_hint_is_ignored(env: Env) -> None:
    with open(env.out("latest"), "w") as f:
        f.write("1")
    env.canaries["latest"] = b"1"
    os.remove(env.path("snapshot", "LATEST"))
    os.symlink(env.out("latest"), env.path("snapshot", "LATEST"))
    env.assert_reads_expected()  # LATEST is only a hint: the listing decides


@pytest.mark.parametrize("latest", [b"", b"-1", b"0", b"x", b"9" * 40, b"99", b"\xff", b"1_0"])
def test_bad_latest_hint_is_ignored(env: Env, latest: bytes) -> None:
    env.put(latest, "snapshot", "LATEST")
    env.assert_reads_expected()


@pytest.mark.parametrize(
    "name",
    [
        "snapshot-+2.json",
        "snapshot-0.json",
        "snapshot-٣.json",
        "snapshot-1_0.json",
        "snapshot-02.json",
        "snapshot- 2.json",
    ],
)
def test_non_canonical_snapshot_names_are_not_snapshots(env: Env, name: str) -> None:
    # Regression: int() accepted "+2", "٣" and "1_0", and load() then raised KeyError.
    shutil.copy(env.path("snapshot", "snapshot-1.json"), env.path("snapshot", name))
    assert [s.id for s in env.table().snapshots()] == [1, 2]
    env.assert_reads_expected()


def test_tag_naming_a_missing_snapshot(env: Env) -> None:
    # Found by fuzz_metadata: Table.snapshot("first") raised KeyError.
    env.put({"name": "first", "snapshot_id": 99}, "tag", "first.json")
    with pytest.raises(lamina.CorruptFileError, match="does not exist"):
        env.table().read(snapshot="first")


def test_symlinked_schema_is_refused(env: Env) -> None:
    with env.unwatched():
        shutil.copy(env.path("schema", "schema-0.json"), env.out("schema.json"))
        env.canaries["schema.json"] = _read(env.out("schema.json"))
    os.remove(env.path("schema", "schema-0.json"))
    os.symlink(env.out("schema.json"), env.path("schema", "schema-0.json"))
    with pytest.raises(lamina.CorruptFileError, match="symbolic link"):
        env.table()


def test_schema_file_holding_another_id(env: Env) -> None:
    doc = env.doc("schema", "schema-0.json")
    doc["id"] = 5
    env.put(doc, "schema", "schema-0.json")
    with pytest.raises(lamina.CorruptFileError, match="holds schema 5"):
        env.table()


def test_remove_orphans_never_walks_a_linked_data_folder(tmp_path: Any) -> None:
    """An empty table (nothing for the planner to refuse) whose data/ is a link: the
    orphan sweep must not delete what lies behind it."""
    root, outside = str(tmp_path / "t"), str(tmp_path / "outside")
    lamina.create_table(root, SCHEMA, primary_key=["id"])
    os.makedirs(outside)
    canary = os.path.join(outside, "precious.lam")
    with open(canary, "wb") as f:
        f.write(b"keep me")
    os.utime(canary, (0, 0))  # older than any bound
    os.rmdir(os.path.join(root, "data"))
    os.symlink(outside, os.path.join(root, "data"))
    try:
        with pytest.raises(lamina.CorruptFileError):
            lamina.open_table(root).remove_orphan_files(older_than=datetime.timedelta(0))
    finally:
        assert os.path.exists(canary)


def test_partition_values_that_look_hostile_still_read(tmp_path: Any) -> None:
    """The path checks refuse only what a writer never makes: partition values such as
    "..", "a/b" or "\\" are percent-encoded into safe folder names."""
    schema = pa.schema([("p", pa.string()), ("id", pa.int64())])
    t = lamina.create_table(str(tmp_path / "t"), schema, primary_key=["p", "id"],
                            partition_by=["p"], buckets=2)  # fmt: skip
    values = ["..", ".", "a/b", "\\x", "ü", " ", "%2F", "", "x" * 200, "\x00"]
    t.write(pa.table({"p": values, "id": list(range(len(values)))}, schema=schema))
    got = lamina.open_table(str(tmp_path / "t")).read().sort_by("id").to_pydict()
    assert got == {"p": values, "id": list(range(len(values)))}


# ---- newer format versions ------------------------------------------------------------


@pytest.mark.parametrize("version", [2, 99, 2**40])
def test_newer_snapshot_version(env: Env, version: int) -> None:
    env.commit_snapshot(format_version=version)
    with pytest.raises(lamina.UnsupportedVersionError) as ei:
        env.table().read()
    assert f"version {version}" in str(ei.value) and "version 1" in str(ei.value)


@pytest.mark.parametrize("version", [3, 7])  # 2: schema files with defaults (issue 12)
def test_newer_schema_version(env: Env, version: int) -> None:
    doc = env.doc("schema", "schema-0.json")
    doc["format_version"] = version
    env.put(doc, "schema", "schema-0.json")
    with pytest.raises(lamina.UnsupportedVersionError) as ei:
        env.table()
    assert f"version {version}" in str(ei.value) and "version 2" in str(ei.value)


@pytest.mark.parametrize("version", [b"2", b"10"])
def test_newer_manifest_version(env: Env, version: bytes) -> None:
    env.commit_manifest([(0, _entry(env))], meta=version)
    with pytest.raises(lamina.UnsupportedVersionError) as ei:
        env.table().read()
    assert f"version {int(version)}" in str(ei.value) and "version 1" in str(ei.value)


def test_newer_tag_version(env: Env) -> None:
    doc = env.doc("tag", "first.json")
    doc["format_version"] = 2
    env.put(doc, "tag", "first.json")
    with pytest.raises(lamina.UnsupportedVersionError):
        env.table().tags()


def _set_data_file_version(path: str, head: int | None, tail: int | None) -> bytes:
    b = bytearray(_read(path))
    if head is not None:
        struct.pack_into("<I", b, 4, head)
    if tail is not None:
        struct.pack_into("<I", b, len(b) - 8, tail)
    with open(path, "wb") as f:
        f.write(b)
    return bytes(b)


@pytest.mark.parametrize("version", [2, 9])
def test_newer_data_file_version(env: Env, version: int) -> None:
    path = env.path(env.data_file.path)
    data = _set_data_file_version(path, version, version)
    with pytest.raises(lamina.UnsupportedVersionError) as ei:
        env.table().read()
    assert f"version {version}" in str(ei.value) and "version 1" in str(ei.value)
    with pytest.raises(lamina.UnsupportedVersionError):
        FileReader(path)
    with pytest.raises(lamina.UnsupportedVersionError):
        FileReader.from_bytes(data)


@pytest.mark.parametrize("head,tail", [(2, None), (None, 2), (2, 3)])
def test_one_newer_data_file_version_field_is_corruption(env: Env, head: Any, tail: Any) -> None:
    """A newer writer sets both version fields; one alone is a flipped byte."""
    _set_data_file_version(env.path(env.data_file.path), head, tail)
    with pytest.raises(lamina.CorruptFileError):
        env.table().read()


def test_missing_format_versions_read_as_version_1(env: Env) -> None:
    """Tables written before the version fields existed stay readable."""
    for sub in ("snapshot", "schema"):
        for name in os.listdir(env.path(sub)):
            if name.endswith(".json"):
                doc = env.doc(sub, name)
                del doc["format_version"]
                env.put(doc, sub, name)
    for name in env.snap.manifests:  # rewrite without the footer's version key
        path = env.path("manifest", name)
        assert MANIFEST_VERSION_KEY in FileReader(path).metadata
        write_file(path, FileReader(path).read())
    env.assert_reads_expected()
    assert env.table().tags() == {"first": 1}


@pytest.mark.parametrize("version", [0, -1, "2", True, 1.5, None])
def test_bad_format_version_is_corrupt(env: Env, version: Any) -> None:
    env.commit_snapshot(format_version=version)
    with pytest.raises(lamina.CorruptFileError):
        env.table().read()


def test_written_files_carry_versions(env: Env) -> None:
    assert env.doc("snapshot", "snapshot-1.json")["format_version"] == 1
    assert env.doc("schema", "schema-0.json")["format_version"] == 1
    meta = FileReader(env.path("manifest", env.snap.manifests[0])).metadata
    assert meta[MANIFEST_VERSION_KEY] == b"1"


# ---- absurd sizes and counts ----------------------------------------------------------


def test_huge_claimed_counts_allocate_nothing(env: Env) -> None:
    """row_count/file_size/record_count claims of 2**62 are only numbers: reading the
    table under a 3 GiB address-space limit still works (in a subprocess)."""
    env.commit_manifest([(0, _entry(env, row_count=2**62, file_size=2**62, delete_count=2**61))])
    doc = env.doc("snapshot", f"snapshot-{env.snap.id + 1}.json")
    doc["record_count"] = 2**62
    env.put(doc, "snapshot", f"snapshot-{env.snap.id + 1}.json")
    code = (
        "import resource, sys, lamina\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "t = lamina.open_table(sys.argv[1])\n"
        "print(t.scan().plan()[0].estimated_rows, t.read().num_rows, t.scan().count())\n"
    )
    env_vars = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code, env.root], env=env_vars,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    est, rows, count = map(int, out.stdout.split())
    want = FileReader(env.path(env.data_file.path)).num_rows
    assert (est, rows, count) == (2**62 - 2**61, want, want)


def test_huge_metadata_file_is_refused_unread(env: Env) -> None:
    sid = env.snap.id + 1
    path = env.path("snapshot", f"snapshot-{sid}.json")
    with open(path, "wb") as f:
        f.truncate(1 << 40)  # sparse: a terabyte claimed, nothing on disk
    with pytest.raises(lamina.CorruptFileError, match="bytes"):
        env.table().read()
    os.remove(path)


def test_too_many_manifests_is_refused(env: Env) -> None:
    names = [f"manifest-{i}.lam" for i in range((1 << 16) + 1)]
    env.commit_snapshot(manifests=names, delta_manifests=[])
    with pytest.raises(lamina.CorruptFileError, match="at most"):
        env.table().read()


def test_huge_fixed_size_list_is_refused(env: Env) -> None:
    doc = env.doc("schema", "schema-0.json")
    doc["fields"].append({"id": 3, "name": "emb", "nullable": True,
                          "type": {"type": "fixed_size_list", "size": 2**31 - 1,
                                   "item": "float32"}})  # fmt: skip
    doc["next_field_id"] = 4
    env.put(doc, "schema", "schema-0.json")
    with pytest.raises(lamina.CorruptFileError, match="size"):
        env.table()
    schema = pa.schema([("id", pa.int64()), ("e", pa.list_(pa.float32(), (1 << 20) + 1))])
    with pytest.raises(lamina.InvalidArgumentError):
        lamina.create_table(env.out("never"), schema, primary_key=["id"])


# ---- deep nesting, truncation, wrong types --------------------------------------------


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [10, 100_000])
def test_deeply_nested_snapshot_summary(env: Env, depth: int) -> None:
    # Regression: 100k levels raised RecursionError out of json.loads.
    doc = env.doc("snapshot", f"snapshot-{env.snap.id}.json")
    doc["id"] = doc["parent_id"] = None
    text = json.dumps(dict(doc, summary="@")).replace('"@"', '{"x": ' + _deep(depth) + "}")
    text = text.replace('"id": null', f'"id": {env.snap.id + 1}')
    text = text.replace('"parent_id": null', f'"parent_id": {env.snap.id}')
    env.put(text.encode(), "snapshot", f"snapshot-{env.snap.id + 1}.json")
    with pytest.raises(lamina.CorruptFileError, match=r"nested|JSON"):
        env.table().read()


def test_deeply_nested_schema_type(env: Env) -> None:
    doc = env.doc("schema", "schema-0.json")
    t: Any = "int64"
    for _ in range(5000):
        t = {"type": "list", "item": t}
    doc["fields"][1]["type"] = t
    env.put(_dump_deep(doc), "schema", "schema-0.json")
    with pytest.raises(lamina.CorruptFileError):
        env.table()


def _dump_deep(doc: Any) -> bytes:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        return json.dumps(doc).encode()
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize("what", ["snapshot", "schema", "tag"])
def test_every_truncation_is_corrupt(env: Env, what: str) -> None:
    parts = {"snapshot": ("snapshot", "snapshot-2.json"), "schema": ("schema", "schema-0.json"),
             "tag": ("tag", "first.json")}[what]  # fmt: skip
    full = _read(env.path(*parts))
    for n in range(0, len(full), 7 if what == "schema" else 3):
        env.put(full[:n], *parts)
        with pytest.raises(lamina.CorruptFileError):
            t = env.table()
            t.snapshots()
            t.tags()


SNAPSHOT_BAD_FIELDS: list[tuple[str, Any]] = [
    ("id", "3"), ("id", True), ("id", 3.0), ("id", -3), ("id", None), ("id", 2**62),
    ("parent_id", "2"), ("parent_id", 5), ("parent_id", True), ("parent_id", 0),
    ("schema_id", -1), ("schema_id", "0"), ("schema_id", 2**40),
    ("timestamp_ms", -1), ("timestamp_ms", 1e12), ("timestamp_ms", 2**63),
    ("kind", 1), ("kind", "explode"), ("manifests", "manifest-x.lam"), ("manifests", [1]),
    ("manifests", None), ("manifests", {"a": 1}), ("delta_manifests", "x"),
    ("record_count", -1), ("record_count", "5"), ("commit_user", 5),
    ("summary", []), ("summary", "x"),
]  # fmt: skip


@pytest.mark.parametrize("field,value", SNAPSHOT_BAD_FIELDS)
def test_snapshot_wrong_types(env: Env, field: str, value: Any) -> None:
    env.commit_snapshot(**{field: value})
    with pytest.raises(lamina.CorruptFileError):
        t = env.table()
        t.snapshots()
        t.read()


@pytest.mark.parametrize(
    "field",
    [
        "id",
        "schema_id",
        "timestamp_ms",
        "kind",
        "manifests",
        "delta_manifests",
        "record_count",
        "commit_user",
    ],
)
def test_snapshot_missing_field(env: Env, field: str) -> None:
    sid = env.commit_snapshot()
    doc = env.doc("snapshot", f"snapshot-{sid}.json")
    del doc[field]
    env.put(doc, "snapshot", f"snapshot-{sid}.json")
    with pytest.raises(lamina.CorruptFileError):
        env.table().read()


@pytest.mark.parametrize("doc", [b"[]", b"null", b"5", b'"x"', b"\xff\xfe", b"{"])
def test_snapshot_not_an_object(env: Env, doc: bytes) -> None:
    # Regression: a JSON list raised AttributeError from doc.get.
    env.put(doc, "snapshot", f"snapshot-{env.snap.id + 1}.json")
    with pytest.raises(lamina.CorruptFileError):
        env.table().read()


def _schema_edits() -> list[tuple[str, Any]]:
    return [
        ("fields", []),
        ("fields", "x"),
        ("fields", [5]),
        ("fields.0.type", ["int64"]),
        ("fields.0.type", 5),
        ("fields.0.type", {"type": "map"}),
        ("fields.0.type", "int128"),
        ("fields.0.type", {"type": "timestamp", "unit": "weeks"}),
        ("fields.0.type", {"type": "timestamp", "unit": "us", "tz": 5}),
        ("fields.1.type", {"type": "list", "item": {"type": "list", "item": "int8"}}),
        ("fields.1.type", {"type": "fixed_size_list", "size": -1, "item": "int8"}),
        ("fields.1.type", {"type": "fixed_size_list", "size": "3", "item": "int8"}),
        ("fields.0.nullable", "no"),
        ("fields.0.nullable", True),
        ("fields.0.id", True),
        ("fields.0.id", 0),
        ("fields.1.id", 1),
        ("fields.1.name", "id"),
        ("fields.1.name", ""),
        ("fields.1.name", "_seq"),
        ("fields.0.type", "float64"),
        ("next_field_id", 1),
        ("next_field_id", "3"),
        ("primary_key", []),
        ("primary_key", ["nope"]),
        ("primary_key", ["id", "id"]),
        ("primary_key", "id"),
        ("primary_key", ["v"]),
        ("partition_by", ["v"]),
        ("partition_by", "id"),
        ("buckets", 0),
        ("buckets", 2**20),
        ("buckets", True),
        ("buckets", "2"),
        ("merge_engine", "magic"),
        ("merge_engine", 1),
        ("options", []),
        ("options", {"target_file_size": 5}),
        ("options", {"no.such.option": "1"}),
        ("options", {"write.sync": "maybe"}),
        ("options", {"target_file_size": "9" * 30}),
        ("options", {"fields.v.aggregate": "sum"}),
        ("id", -1),
        ("id", "0"),
    ]


@pytest.mark.parametrize("edit", _schema_edits(), ids=lambda e: f"{e[0]}={str(e[1])[:30]}")
def test_schema_wrong_types(env: Env, edit: tuple[str, Any]) -> None:
    doc = env.doc("schema", "schema-0.json")
    where, value = edit
    keys: list[Any] = [int(k) if k.isdigit() else k for k in where.split(".")]
    target = doc
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value
    env.put(doc, "schema", "schema-0.json")
    with pytest.raises(lamina.CorruptFileError):
        env.table()


@pytest.mark.parametrize(
    "doc",
    [
        b"{}",
        b'{"snapshot_id": "1"}',
        b'{"snapshot_id": true}',
        b'{"snapshot_id": 0}',
        b"[1]",
        b'{"name": "other", "snapshot_id": 1}',
        b"\x00",
    ],
)
def test_tag_wrong_types(env: Env, doc: bytes) -> None:
    # Regression: a malformed tag raised KeyError/ValueError out of Table.tags().
    env.put(doc, "tag", "first.json")
    with pytest.raises(lamina.CorruptFileError):
        env.table().tags()
    with pytest.raises(lamina.CorruptFileError):  # never expire a snapshot a bad tag holds
        env.table().expire_snapshots(retain_last=1)
    assert os.path.exists(env.path("snapshot", "snapshot-1.json"))


MANIFEST_BAD_CELLS: list[tuple[str, Any]] = [
    ("kind", 2), ("kind", -1), ("bucket", -1), ("bucket", 2), ("file_size", -1),
    ("row_count", -1), ("delete_count", -1), ("delete_count", 10**6), ("level", -1),
    ("schema_id", -1), ("snapshot_id", 0), ("snapshot_id", 99), ("run", -1),
    ("priority", 0), ("priority", 2**64 - 1), ("min_key", b"\xff" * 9),
    ("partition", "nonsense"), ("partition", '{"p": 1}'), ("partition", '[["p", [1]]]'),
    ("partition", '[["p", {"a": 1}]]'), ("partition", "[[1, 2]]"), ("partition", '[["p"]]'),
    ("partition", '[["p", 1.5]]'), ("partition", "[" * 100_000 + "]" * 100_000),
]  # fmt: skip


@pytest.mark.parametrize("col,value", MANIFEST_BAD_CELLS, ids=lambda v: str(v)[:20])
def test_manifest_bad_cells(env: Env, col: str, value: Any) -> None:
    # Regression: partition [["p", [1]]] raised TypeError (unhashable) while planning,
    # and "nonsense" a JSONDecodeError.
    if col == "kind":
        env.commit_manifest([(value, _entry(env))])
    else:
        env.commit_manifest([(0, _entry(env, **{col: value}))] if col != "partition" else [])
    if col == "partition":
        name = "manifest-hostile.lam"
        t = FileReader(env.path("manifest", env.snap.manifests[-1])).read()
        d = t.to_pydict()
        d["partition"] = [value] * len(d["partition"])
        sid = env.snap.id + 1
        d["snapshot_id"] = [sid] * t.num_rows
        d["priority"] = [(sid << 20) | i for i in range(t.num_rows)]
        write_file(env.path("manifest", name), pa.table(d, schema=MANIFEST_SCHEMA))
    with pytest.raises(lamina.CorruptFileError):
        env.table().read()


@pytest.mark.parametrize("col", [f.name for f in MANIFEST_SCHEMA])
def test_manifest_nulls(env: Env, col: str) -> None:
    # Regression: nulls became None fields of DataFile (TypeError when sorting).
    t = FileReader(env.path("manifest", env.snap.manifests[-1])).read()
    d = t.to_pydict()
    d[col][0] = None
    name = "manifest-nulls.lam"
    write_file(env.path("manifest", name), pa.table(d, schema=MANIFEST_SCHEMA))
    env.commit_snapshot(manifests=[name], delta_manifests=[name])
    with pytest.raises(lamina.CorruptFileError, match="null"):
        env.table().read()


def test_manifest_with_wrong_schema(env: Env) -> None:
    name = "manifest-other.lam"
    write_file(env.path("manifest", name), pa.table({"x": [1]}))
    env.commit_snapshot(manifests=[name], delta_manifests=[name])
    with pytest.raises(lamina.CorruptFileError, match="schema"):
        env.table().read()


@pytest.mark.parametrize("meta", [b"x", b"", b"0", b"-1", b"1" * 40])
def test_manifest_bad_version_value(env: Env, meta: bytes) -> None:
    env.commit_manifest([(0, _entry(env))], meta=meta)
    with pytest.raises(lamina.CorruptFileError):
        env.table().read()


def test_manifest_entry_from_a_later_snapshot(env: Env) -> None:
    env.commit_manifest([(0, _entry(env, snapshot_id=50, priority=50 << 20))])
    with pytest.raises(lamina.CorruptFileError, match="later snapshot"):
        env.table().read()


def test_valid_hand_written_manifest_reads(env: Env) -> None:
    """The checks refuse only what is wrong: a correct hand-made entry reads."""
    env.commit_manifest([(0, _entry(env))])
    want = FileReader(env.path(env.data_file.path)).read(["id"]).column("id").to_pylist()
    got = env.table().read(columns=["id"]).column("id").to_pylist()
    assert sorted(got) == sorted(want)


def test_lookup_composite_key_with_list_column(tmp_path: Any) -> None:
    # Found by fuzz_metadata on the unmutated seed table: the join behind lookup() with a
    # composite key raised ArrowInvalid for a list column (fixed by the lookup rewrite).
    schema = pa.schema([("p", pa.string()), ("id", pa.int64()), ("tags", pa.list_(pa.string()))])
    t = lamina.create_table(str(tmp_path / "t"), schema, primary_key=["p", "id"])
    t.write(pa.table({"p": ["a", "b", "a"], "id": [1, 1, 2], "tags": [["x"], ["y"], []]}))
    got = t.lookup({"p": ["a", "b", "c"], "id": [1, 1, 1]}).sort_by("p").to_pydict()
    assert got == {"p": ["a", "b"], "id": [1, 1], "tags": [["x"], ["y"]]}


# ---- the mutation fuzz ----------------------------------------------------------------


def _fuzz(seed: int, iterations: int) -> dict[str, int]:
    return fuzz_metadata.mutate_loop(seed, iterations)


def test_metadata_mutation_fuzz_short() -> None:
    stats = _fuzz(seed=20261127, iterations=40)
    assert stats["iterations"] == 40
    assert stats["refused"] > 0  # the mutations do reach the checks


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_metadata_mutation_fuzz_long(seed: int) -> None:
    stats = _fuzz(seed=seed, iterations=2000)
    assert stats["iterations"] == 2000
