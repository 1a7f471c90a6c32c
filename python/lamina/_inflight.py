"""In-flight announcements: how commits and ``remove_orphan_files`` stay out of each other's way.

Until its snapshot is linked, every file a commit adds (data files, compaction output,
manifests, the snapshot's temporary file) is referenced by no snapshot: an orphan by
appearance. ``remove_orphan_files`` must never delete such a file and then let the commit
link a snapshot that names it. Markers under ``<table>/_inflight/`` make that impossible:

``w-<token>``
    A writer's announcement, held under an exclusive ``flock`` by its writer from
    creation to release. Lines ``path <relative path>`` name files (``data/...``,
    ``manifest/...``) and ``prefix <P>`` names every data file ``<P>-<n>.lam`` (how the
    core names the files of one write or compaction given ``file_prefix`` P).
``c-<token>``
    A cleaner (``remove_orphan_files``) in its deletion phase, held under an exclusive
    ``flock`` until the phase ends.
``.tmp-<token>``
    A marker being created: it is locked first, then renamed to its name, so a ``w-`` or
    ``c-`` marker is never seen unlocked while its owner lives.

Writer (``SnapshotStore.commit``, compaction, transactions):

W1. announce: create ``w-<token>``;
W2. announce each file it will reference, by path or prefix, best before creating it;
W3. just before linking the snapshot (``Announcement.missing``): list the ``c-`` markers,
    wait until each is released, then check that every new file still exists; a missing
    one aborts this attempt (the snapshot is not linked);
W4. link the snapshot;  W5. release: unlink the marker, unlock.

Cleaner (``lamina.maintenance.remove_orphan_files``):

C1. list the candidate files, compute what the snapshots reference, apply ``older_than``;
C2. create ``c-<token>``;
C3. read the live ``w-`` markers: announced paths and prefixes are protected;
C4. list the snapshots again and add what the new ones reference;
C5. delete the candidates still unprotected and unreferenced;  C6. release.

Why no interleaving links a snapshot naming a deleted file: say the cleaner deleted file F
(C5, at time d) and the writer linked a snapshot naming F (W4). The cleaner read the
markers at C3 (time r < d) and did not see F announced. Either the writer's marker was
already released at r: then the snapshot was linked before r, so C4 saw it and F was
referenced, not deleted; or F was announced (W2) after r: then the writer listed the
cleaners (W3, time L) after r, after C2. If the cleaner still held ``c-`` at L, the writer
waited for its release, which comes after d; if it had released it, that was after d too.
Either way the writer's existence check came after d, found F missing, and the snapshot
was not linked. Both cases contradict the assumption.

Liveness uses ``flock``: the kernel releases a lock when its process dies, so the marker
of a killed writer or cleaner is recognised at once as stale and deleted by the next
cleaner; it blocks nothing. Where ``flock`` is unsupported, a marker counts as live until
it is older than ``MARKER_TTL_S`` (writers touch theirs on every announcement) and a
cleaner's until ``CLEANER_TTL_S`` (cleaners touch theirs as they go).

Markers are tiny and never fsynced (after a machine crash no writer is alive). Every
operation on them goes through the table's ``FileIO``, through primitives of their own
(``open_marker``, ``lock_fd``, ``write_marker``, ``read_marker``, ``rename_marker``,
``unlink_marker``, ``close_marker``, plus ``listdir``, ``exists``, ``stat``), so a fault
armed on the table's files does not land on a marker and vice versa; an error creating
one fails the operation with ``StorageError`` before anything was written.
"""

from __future__ import annotations

import errno
import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from lamina.errors import CorruptFileError
from lamina.io import FileIO

__all__ = [
    "INFLIGHT_DIR",
    "Announcement",
    "Protected",
    "cleaning",
    "in_use",
]

INFLIGHT_DIR = "_inflight"
WRITER = "w-"
CLEANER = "c-"
TEMP = ".tmp-"
MARKER_TTL_S = 24 * 3600.0
CLEANER_TTL_S = 300.0
# A commit waits at most this long for a cleaner's deletion phase to end.
CLEANER_WAIT_S = 600.0


def _dir(root: str) -> str:
    return os.path.join(root, INFLIGHT_DIR)


def _io(io: FileIO | None) -> FileIO:
    return io if io is not None else FileIO()


def _create_locked(root: str, io: FileIO, prefix: str, header: bytes) -> tuple[str, int]:
    """Creates ``<root>/_inflight/<prefix><token>`` locked (exclusively) and returns
    (path, fd). It appears under its name only once locked."""
    d = _dir(root)
    # Not made durable: markers do not outlive a machine crash (module docstring).
    io.makedirs(d, durable=False)
    if io.is_link(d):  # lamina never writes through a planted link
        raise CorruptFileError(f"{INFLIGHT_DIR}/ in {root} is a symbolic link")
    for _ in range(8):
        token = uuid.uuid4().hex
        tmp = os.path.join(d, f"{TEMP}{token}")
        fd = io.open_marker(tmp, create=True)
        try:
            if io.lock_fd(fd, exclusive=True) is False:
                # A cleaner holds it, taking it for a leftover: it will remove it.
                io.close_marker(fd)
                continue
            io.write_marker(fd, header)  # unsupported locks: the marker ages out instead
            path = os.path.join(d, f"{prefix}{token}")
            try:
                io.rename_marker(tmp, path)
            except FileNotFoundError:
                # A cleaner removed it (before we locked it) as a leftover: try again.
                io.close_marker(fd)
                continue
        except BaseException:
            try:
                io.close_marker(fd)
            except OSError:
                pass
            try:
                io.unlink_marker(tmp)
            except OSError:
                pass
            raise
        return path, fd
    raise OSError(errno.EAGAIN, "could not create an in-flight marker", d)


def _header() -> bytes:
    return f"pid {os.getpid()} {socket.gethostname()} {time.time():.3f}\n".encode()


class Announcement:
    """A writer's in-flight marker (``w-<token>``); see the module docstring.

    Use as a context manager, or call ``release`` when the commit is linked or abandoned.
    """

    def __init__(self, root: str, io: FileIO | None = None) -> None:
        self.root = root
        self.io = _io(io)
        self.path, self._fd = _create_locked(root, self.io, WRITER, _header())

    @property
    def released(self) -> bool:
        return self._fd < 0

    def _append(self, lines: list[str]) -> None:
        if self._fd < 0:
            raise ValueError("announcement already released")
        if lines:
            self.io.write_marker(self._fd, "".join(f"{line}\n" for line in lines).encode())

    def add(self, paths: Iterable[str]) -> None:
        """Announces files by path relative to the table root (``/`` separators)."""
        lines = []
        for p in paths:
            if "\n" in p:
                raise ValueError(f"bad path {p!r}")
            lines.append(f"path {p}")
        self._append(lines)

    def add_prefix(self, prefix: str) -> None:
        """Announces every data file named ``<prefix>-<n>.lam`` (the core's names for
        the files of a call given ``file_prefix=prefix``), before they are written."""
        if not prefix or "\n" in prefix or "/" in prefix:
            raise ValueError(f"bad prefix {prefix!r}")
        self._append([f"prefix {prefix}"])

    def missing(self, paths: Sequence[str]) -> list[str]:
        """Step W3: waits for every cleaner now in its deletion phase, then returns the
        ``paths`` (relative to the root, all announced already) that no longer exist.

        Call it after the last announcement and right before linking the snapshot; link
        only if it returns ``[]``.
        """
        _wait_for_cleaners(self.root, self.io)
        return [p for p in paths if not self.io.exists(os.path.join(self.root, p))]

    def release(self) -> None:
        """Removes the marker (idempotent)."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        try:
            self.io.unlink_marker(self.path)
        except OSError:
            pass  # left behind: unlocked once closed, so the next cleaner removes it
        finally:
            self.io.close_marker(fd)

    def __enter__(self) -> Announcement:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:  # never released: closing unlocks it, so it is stale from now on
            try:
                self.io.close_marker(fd)
            except OSError:
                pass


def _wait_for_cleaners(root: str, io: FileIO) -> None:
    names = [n for n in io.listdir(_dir(root)) if n.startswith(CLEANER)]
    d = _dir(root)
    deadline = time.monotonic() + CLEANER_WAIT_S
    for name in names:
        path = os.path.join(d, name)
        try:
            fd = io.open_marker(path, create=False)
        except FileNotFoundError:
            continue
        try:
            delay = 0.0005
            while True:
                got = io.lock_fd(fd, exclusive=False)
                if got:
                    break  # released (or its cleaner died)
                if got is None:
                    try:
                        if time.time() - io.stat(path).st_mtime > CLEANER_TTL_S:
                            break
                    except FileNotFoundError:
                        break
                if time.monotonic() > deadline:
                    raise OSError(
                        errno.ETIMEDOUT,
                        f"remove_orphan_files held {name} for more than {CLEANER_WAIT_S:.0f} s",
                        path,
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
        finally:
            io.close_marker(fd)


class Protected:
    """What live writers announced (step C3)."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.prefixes: set[str] = set()

    def covers(self, rel: str) -> bool:
        """True if the file ``rel`` (relative, ``/`` separators) was announced."""
        if rel in self.paths:
            return True
        if rel.startswith("data/"):
            name = rel.rsplit("/", 1)[-1]
            return name.rsplit("-", 1)[0] in self.prefixes  # <prefix>-<n>.lam
        return False


def _read_live(path: str, io: FileIO) -> tuple[bool, bytes]:
    """(live, content) of a writer marker; a stale one is removed."""
    try:
        fd = io.open_marker(path, create=False)
    except FileNotFoundError:
        return False, b""
    try:
        got = io.lock_fd(fd, exclusive=True)
        if got is None:
            st = os.fstat(fd)
            got = time.time() - st.st_mtime > MARKER_TTL_S
        if got:  # nobody holds it: its writer finished or died
            try:
                io.unlink_marker(path)
            except FileNotFoundError:
                pass
            return False, b""
        return True, io.read_marker(fd)
    finally:
        io.close_marker(fd)


def _remove_if_unlocked(path: str, io: FileIO) -> None:
    try:
        fd = io.open_marker(path, create=False)
    except FileNotFoundError:
        return
    try:
        got = io.lock_fd(fd, exclusive=True)
        if got is None:
            got = time.time() - os.fstat(fd).st_mtime > MARKER_TTL_S
        if got:
            try:
                io.unlink_marker(path)
            except FileNotFoundError:
                pass
    finally:
        io.close_marker(fd)


def _announced(root: str, own: str, io: FileIO) -> Protected:
    """Step C3: the files live writers announced; stale markers are removed."""
    out = Protected()
    d = _dir(root)
    for name in io.listdir(d):
        path = os.path.join(d, name)
        if name.startswith(WRITER):
            live, content = _read_live(path, io)
            if not live:
                continue
            lines = content.split(b"\n")
            for line in lines[:-1]:  # the part after the last newline may be torn
                kind, _, value = line.decode("utf-8", "replace").partition(" ")
                if kind == "path":
                    out.paths.add(value)
                elif kind == "prefix" and value:
                    out.prefixes.add(value)
        elif path != own and (name.startswith(CLEANER) or name.startswith(TEMP)):
            _remove_if_unlocked(path, io)  # a dead cleaner's, or a marker never renamed
    return out


class Cleaning:
    """A cleaner's deletion phase (``c-<token>``), from ``cleaning``."""

    def __init__(self, root: str, io: FileIO | None = None) -> None:
        self.root = root
        self.io = _io(io)
        self.path, self._fd = _create_locked(root, self.io, CLEANER, _header())
        self._touched = time.monotonic()
        try:
            self.protected = _announced(root, self.path, self.io)
        except BaseException:
            self.release()
            raise

    def touch(self) -> None:
        """Keeps the marker fresh where flock is unsupported (cheap; call often)."""
        now = time.monotonic()
        if now - self._touched > 5.0:
            self._touched = now
            try:
                os.utime(self._fd)
            except OSError:
                pass

    def release(self) -> None:
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        try:
            self.io.unlink_marker(self.path)
        except OSError:
            pass
        finally:
            self.io.close_marker(fd)


@contextmanager
def cleaning(root: str, io: FileIO | None = None) -> Iterator[Cleaning]:
    """Steps C2, C3 and C6: holds the cleaner marker; ``.protected`` is what live writers
    announced, read after the marker was in place."""
    c = Cleaning(root, io)
    try:
        yield c
    finally:
        c.release()


def in_use(path: str, io: FileIO | None = None) -> bool:
    """True if a live writer holds the temporary file ``path`` (``FileIO._lock_temp``)."""
    io = _io(io)
    try:
        fd = io.open_marker(path, create=False)
    except FileNotFoundError:
        return False
    try:
        return io.lock_fd(fd, exclusive=True) is False
    finally:
        io.close_marker(fd)
