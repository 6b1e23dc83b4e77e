"""One run per folder: an exclusive lock that the kernel releases when its holder dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["FolderInUseError", "FolderLock"]

LOCK_FILE = ".kreg.lock"


class FolderInUseError(RuntimeError):
    """Another running process holds the folder."""


class FolderLock:
    """Hold `folder` for one run: `with FolderLock(path, "--logdir"): ...`.

    The lock is `fcntl.flock` on `folder/.kreg.lock`, which holds the
    holder's PID. The kernel drops it when the holder exits, however it exits
    (kill -9 included), so it never goes stale; the file stays and is reused.
    Entering raises `FolderInUseError` naming the holder's PID when another
    process holds the folder.

    Args:
        folder: the folder one run at a time may use (created if missing);
            None holds nothing.
        what: how the error names the folder (`"--logdir"`).
    """

    def __init__(self, folder: str | os.PathLike | None, what: str = "folder"):
        self.folder = None if folder is None else Path(folder)
        self.what = what
        self._fd = None

    def __enter__(self) -> FolderLock:
        if self.folder is None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderInUseError(
                f"{self.what} {self.folder} is in use by another run (PID {holder}); wait for "
                f"it to finish, or use another {self.what}."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
