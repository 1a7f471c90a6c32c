"""The file layer every table-level file operation goes through, swappable for tests.

``FileIO`` (alias ``LocalFileIO``) works on the local file system. A table uses the one
given to ``create_table(..., file_io=...)`` / ``open_table(..., file_io=...)``, or a
fresh ``FileIO``; the table sets its ``sync`` from the ``write.sync`` option.

Metadata files (snapshots, schemas, tags) are written by ``write_new``: a temporary file
is written, fsynced, and linked into place only if the name is still free; then the
folder is fsynced. Data files and manifests are written by the C++ core (its own file
layer, ``cpp/lamina/util/file_io.h``, fsyncs them when ``sync``); the table fsyncs the
folders that received them through ``fsync_dir`` before it commits.

While ``write_new``/``write_replace`` run, their temporary file is locked (``flock``,
through ``open_marker``/``lock_fd``, best effort) so that a concurrent
``remove_orphan_files`` does not take it for a leftover (``lamina._inflight``).

To inject faults, subclass and override the primitives that the operations above are
built from: ``open_fd``, ``write_fd``, ``fsync_fd``, ``close_fd``, ``link``,
``replace``, ``unlink``; the reads and listings ``exists``, ``lexists``, ``stat``,
``lstat``, ``realpath``, ``is_link``, ``listdir``, ``walk``, ``read_bytes`` (the
containment checks and the manifest cache go through them too); and the in-flight
markers' own primitives (``lamina._inflight``, and ``open_lock`` for the snapshot-id
lock): ``open_marker``, ``lock_fd``,
``write_marker``, ``read_marker``, ``rename_marker``, ``unlink_marker``,
``close_marker``. The markers have primitives of their own so that a fault armed on
``open_fd`` or ``unlink`` hits the table's files, as before markers existed. Any
``OSError`` these raise makes the table operation fail with ``lamina.StorageError``
(same errno) and leaves the table at its last committed snapshot.

Not through ``FileIO``: data files and manifests, which the C++ core reads and writes
through its own layer; and ``fstat``/``utime`` of a marker the layer opened (they read
or touch only its timestamps).
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from lamina.errors import LaminaError, StorageError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: markers age out instead
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileIO", "LocalFileIO", "NotDurableError", "as_storage_error", "storage_errors"]


# flock errors that mean "not supported here" rather than "held by someone".
_LOCK_UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENOTSUP)


class NotDurableError(StorageError):
    """A file was created and is visible, but flushing its folder to disk failed.

    Raised by ``FileIO.write_new`` after the link succeeded. For a snapshot this means
    the commit happened (readers see it) but may not survive a crash; the table keeps
    every file the commit references.
    """


class FileIO:
    """Local file-system operations used by lamina tables.

    Args:
        sync: fsync files and folders (``write_new``, ``write_replace``, ``fsync_dir``).
            Tables set it from their ``write.sync`` option.
    """

    def __init__(self, sync: bool = True) -> None:
        self.sync = sync
        # Temporary files of write_new/write_replace in progress -> a descriptor holding
        # a lock on them, so that remove_orphan_files leaves them alone (lamina._inflight).
        self._temp_locks: dict[str, int] = {}

    # ---- primitives: the seams a fault-injecting subclass overrides ------------------

    def open_fd(self, path: str, flags: int, mode: int = 0o644) -> int:
        return os.open(path, flags, mode)

    def write_fd(self, fd: int, data: memoryview) -> int:
        """Writes some of ``data``; returns how many bytes (may be fewer: callers loop)."""
        return os.write(fd, data)

    def fsync_fd(self, fd: int) -> None:
        os.fsync(fd)

    def close_fd(self, fd: int) -> None:
        os.close(fd)

    def link(self, src: str, dst: str) -> None:
        """Hard-links ``src`` as ``dst``; FileExistsError if ``dst`` exists."""
        os.link(src, dst)

    def replace(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    # ---- reads and listings ----------------------------------------------------------

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def lexists(self, path: str) -> bool:
        """True if ``path`` exists, a dangling symbolic link included."""
        return os.path.lexists(path)

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def lstat(self, path: str) -> os.stat_result:
        """``stat`` of ``path`` itself, not of where a symbolic link leads."""
        return os.lstat(path)

    def realpath(self, path: str) -> str:
        """``path`` with every symbolic link resolved (as ``os.path.realpath``)."""
        return os.path.realpath(path)

    def is_link(self, path: str) -> bool:
        return os.path.islink(path)

    def listdir(self, path: str) -> list[str]:
        try:
            return os.listdir(path)
        except FileNotFoundError:
            return []

    def walk(self, top: str) -> Iterator[str]:
        """Paths of every file under ``top`` (nothing if it does not exist)."""
        for dirpath, _dirs, names in os.walk(top):
            for name in names:
                yield os.path.join(dirpath, name)

    def read_bytes(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def mtime(self, path: str) -> float:
        return self.stat(path).st_mtime

    def size(self, path: str) -> int:
        return self.stat(path).st_size

    # ---- in-flight markers (lamina._inflight) ----------------------------------------

    def open_marker(self, path: str, create: bool) -> int:
        """A descriptor of the marker ``path``: ``create`` makes a new one (exclusive,
        appending), otherwise it is opened for reading."""
        if create:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        return os.open(path, os.O_RDONLY)

    def lock_fd(self, fd: int, exclusive: bool) -> bool | None:
        """Takes a non-blocking ``flock``: True taken, False held by someone, None where
        the file system does not support it. The kernel drops it when ``fd`` is closed
        or its process dies."""
        if fcntl is None:
            return None
        op = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        try:
            fcntl.flock(fd, op)
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            if e.errno in _LOCK_UNSUPPORTED:
                return None
            raise
        return True

    def write_marker(self, fd: int, data: bytes) -> None:
        """Appends all of ``data`` to a marker (never fsynced: see ``lamina._inflight``)."""
        view = memoryview(data)
        while view:  # one write in practice (O_APPEND); a reader ignores a torn tail
            view = view[os.write(fd, view) :]

    def read_marker(self, fd: int) -> bytes:
        chunks: list[bytes] = []
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                return b"".join(chunks)
            chunks.append(b)

    def open_lock(self, path: str) -> int:
        """A descriptor of the lock file ``path`` (created if absent, never written): the
        snapshot-id lock of ``SnapshotStore.id_lock``."""
        return os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)

    def rename_marker(self, src: str, dst: str) -> None:
        os.rename(src, dst)

    def unlink_marker(self, path: str) -> None:
        os.unlink(path)

    def close_marker(self, fd: int) -> None:
        os.close(fd)

    # ---- changes -----------------------------------------------------------------------

    def makedirs(self, path: str, durable: bool = True) -> None:
        """Creates ``path`` and missing parents; with ``sync`` and ``durable``, their
        entries are durable."""
        if not durable:
            os.makedirs(path, exist_ok=True)
            return
        missing = []
        d = os.path.abspath(path)
        while not os.path.isdir(d):
            missing.append(d)
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
        os.makedirs(path, exist_ok=True)
        for created in reversed(missing):
            self.fsync_dir(os.path.dirname(created))

    def remove(self, path: str) -> None:
        """Removes a file; nothing happens if it does not exist."""
        try:
            self.unlink(path)
        except FileNotFoundError:
            pass

    def _discard(self, path: str) -> None:
        """Removes a temporary file, best effort: if that fails too, it stays as an
        orphan (``remove_orphan_files`` deletes it) rather than hide the first error."""
        try:
            self.remove(path)
        except OSError:
            pass

    def fsync_dir(self, path: str) -> None:
        """Makes the entries of folder ``path`` durable (no-op without ``sync``)."""
        if not self.sync:
            return
        fd = self.open_fd(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.fsync_fd(fd)
        finally:
            self.close_fd(fd)

    def _lock_temp(self, tmp: str) -> None:
        """Holds a lock on the temporary file ``tmp`` until ``_unlock_temp``: a concurrent
        ``remove_orphan_files`` skips locked temporary files. Best effort (it changes
        nothing on disk): a failure here never fails the write."""
        try:
            fd = self.open_marker(tmp, create=False)
        except OSError:
            return
        try:
            self.lock_fd(fd, exclusive=True)
        except OSError:
            pass  # only protects against an early removal by a cleaner
        self._temp_locks[tmp] = fd

    def _unlock_temp(self, tmp: str) -> None:
        fd = self._temp_locks.pop(tmp, -1)
        if fd >= 0:
            try:
                self.close_marker(fd)
            except OSError:
                pass

    def _write_temp(self, directory: str, data: bytes) -> str:
        tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
        fd = self.open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        self._lock_temp(tmp)
        try:
            view = memoryview(data)
            while view:
                n = self.write_fd(fd, view)
                if n <= 0:  # write(2) never returns 0 for a non-empty request
                    raise OSError(errno.EIO, f"write {tmp} made no progress")
                view = view[n:]
            if self.sync:
                self.fsync_fd(fd)
        except BaseException:
            try:
                self.close_fd(fd)
            except OSError:
                pass
            self._discard(tmp)
            self._unlock_temp(tmp)
            raise
        try:
            self.close_fd(fd)
        except BaseException:
            self._discard(tmp)
            self._unlock_temp(tmp)
            raise
        return tmp

    def write_new(self, path: str, data: bytes) -> bool:
        """Atomically creates ``path`` with ``data`` unless it exists; True if created.

        The content is complete and flushed before the name appears, so a reader never
        sees a partial file, and two writers can never both create the same path.

        Raises:
            OSError: Nothing was created (the temporary file is removed).
            NotDurableError: ``path`` was created, but fsyncing its folder failed.
        """
        directory = os.path.dirname(path)
        tmp = self._write_temp(directory, data)
        locked = tmp
        try:
            self.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as e:  # pragma: no cover - file systems without hard links
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            try:
                fd = self.open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                return False
            self.close_fd(fd)
            self.replace(tmp, path)
            tmp = ""
        finally:
            if tmp:
                # Best effort even after a successful link: the name is already in place.
                self._discard(tmp)
            self._unlock_temp(locked)
        try:
            self.fsync_dir(directory)
        except OSError as e:
            raise NotDurableError(
                e.errno or errno.EIO,
                f"created {path}, but fsync of its folder failed ({e.strerror or e}); "
                "it is visible but may not survive a crash",
            ) from e
        return True

    def write_replace(self, path: str, data: bytes) -> None:
        """Atomically writes ``path``, replacing what was there (for hints like LATEST)."""
        directory = os.path.dirname(path)
        tmp = self._write_temp(directory, data)
        try:
            self.replace(tmp, path)
        except BaseException:
            self._discard(tmp)
            raise
        finally:
            self._unlock_temp(tmp)
        self.fsync_dir(directory)


LocalFileIO = FileIO


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Re-raises an ``OSError`` that is not yet a ``LaminaError`` as ``StorageError``.

    The errno, message and file name are kept; the original is the ``__cause__``.
    """
    try:
        yield
    except LaminaError:
        raise
    except OSError as e:
        raise as_storage_error(e, what) from e


def as_storage_error(e: OSError, what: str) -> StorageError:
    """``e`` as a ``StorageError`` whose message starts with ``what``."""
    if e.errno is None:
        return StorageError(f"{what} failed: {e}")
    reason = e.strerror or os.strerror(e.errno)
    if e.filename is not None:
        return StorageError(e.errno, f"{what} failed: {reason}", e.filename)
    return StorageError(e.errno, f"{what} failed: {reason}")
