"""Write files so that a crash or Ctrl-C never leaves a half-written one."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temp file in the same folder, flush it to disk, then rename it over `path`."""
    with _synced_copy(path, data.encode("utf-8") if isinstance(data, str) else data) as tmp:
        os.replace(tmp, path)


def create_atomic(path: Path, data: bytes) -> bool:
    """Create `path` with `data` unless it exists (then return False): complete or absent, never partial."""
    try:
        with _synced_copy(path, data) as tmp:
            try:
                os.link(tmp, path)  # fails if `path` exists, even one made a moment ago
            except OSError as exc:
                if isinstance(exc, FileExistsError):
                    return False
                with open(path, "xb") as handle:  # a file system without hard links
                    handle.write(data)
        return True
    except FileExistsError:
        return False


@contextlib.contextmanager
def _synced_copy(path: Path, data: bytes) -> Iterator[str]:
    """A temp file next to `path` holding `data`, flushed to disk; removed afterwards if still there."""
    import tempfile  # here, not at the top: `course list` imports this module and writes nothing

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (a lock file) for a read-modify-write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
