"""Writing result files so that a crash never leaves a half-written one, and checking first."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "atomic_write",
    "check_output_dir",
    "check_output_file",
    "test_pause",
    "write_json",
]

_umask_lock = threading.Lock()


def _current_umask() -> int:
    # os.umask can only be read by setting it; the lock keeps kreg's own threads from racing.
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it over `path`.

    The rename is atomic on POSIX file systems: readers see the old file or
    the complete new one, never a partial one. On error the temporary file is
    removed and `path` is left untouched. The file gets the permissions
    `open(path, "w")` would give it under the current umask (the temporary
    file starts private, as `tempfile.mkstemp` makes it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name keeps every suffix: Keras checks for ".keras" and ".weights.h5".
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix="".join(path.suffixes[-2:]), dir=path.parent
    )
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | os.PathLike, data) -> Path:
    """Write `data` as indented JSON to `path` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")

    return atomic_write(path, write)


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_creatable(path: Path, flag: str) -> None:
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():
        raise ValueError(f"{flag} {path}: {existing} is a file; nothing can be written below it.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: {existing} is not writable.")


def check_output_file(path: str | os.PathLike | None, flag: str) -> None:
    """Raise ValueError, naming `flag`, unless a file can be written at `path` (None passes).

    A directory at `path`, or a parent that is a file or not writable, is
    refused before any work is done rather than after it.
    """
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a directory; give a file name, e.g. {path}/out.json.")
    if path.exists() and not os.access(path.parent.absolute(), os.W_OK):
        raise ValueError(f"{flag} {path}: its folder is not writable.")
    _check_creatable(path, flag)


def check_output_dir(path: str | os.PathLike | None, flag: str) -> None:
    """Raise ValueError, naming `flag`, unless `path` is or can become a writable directory."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is an existing file; give a directory.")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{flag} {path} is not writable.")
        return
    _check_creatable(path / "x", flag)


def test_pause(event: str) -> None:
    """Tests only: announce `event` on stderr and wait, so that a test can kill the process there.

    Inactive unless `KREG_TEST_PAUSE=<seconds>` is set. kreg's backup writes
    call it between their stages, and the CIFAR runner between recording a
    result and removing its backup: a test reads the line and sends SIGKILL
    inside the window it widens.
    """
    pause = os.environ.get("KREG_TEST_PAUSE")
    if pause:
        print(f"kreg-test: {event}", file=sys.stderr, flush=True)
        time.sleep(float(pause))
