"""The file layer every table operation goes through, swappable so tests can inject faults.

``LocalFileIO`` is the default. A commit is made durable by writing a temporary file,
flushing it, and linking it into place only if the target does not exist yet.
"""

from __future__ import annotations

import errno
import os
import uuid


class FileIO:
    """Local file-system operations used by lamina tables."""

    def __init__(self, sync: bool = True) -> None:
        self.sync = sync

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def listdir(self, path: str) -> list[str]:
        try:
            return os.listdir(path)
        except FileNotFoundError:
            return []

    def read_bytes(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def remove(self, path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass

    def mtime(self, path: str) -> float:
        return os.stat(path).st_mtime

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def fsync_dir(self, path: str) -> None:
        if not self.sync:
            return
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write_temp(self, directory: str, data: bytes) -> str:
        tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self.sync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            self.remove(tmp)
            raise
        os.close(fd)
        return tmp

    def write_new(self, path: str, data: bytes) -> bool:
        """Atomically creates ``path`` with ``data`` unless it exists; True if created.

        The content is complete and flushed before the name appears, so a reader never
        sees a partial file, and two writers can never both create the same path.
        """
        directory = os.path.dirname(path)
        tmp = self._write_temp(directory, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as e:  # pragma: no cover - file systems without hard links
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            os.close(fd)
            os.replace(tmp, path)
            tmp = ""
        finally:
            if tmp:
                self.remove(tmp)
        self.fsync_dir(directory)
        return True

    def write_replace(self, path: str, data: bytes) -> None:
        """Atomically writes ``path``, replacing what was there (for hints like LATEST)."""
        directory = os.path.dirname(path)
        tmp = self._write_temp(directory, data)
        os.replace(tmp, path)
        self.fsync_dir(directory)


LocalFileIO = FileIO
