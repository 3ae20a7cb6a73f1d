"""Remove a sandbox folder, whatever learner code left in it.

Learner code may leave folders it made read-only or unreadable, links pointing outside (to files
it hopes the grader will change), FIFOs, and nesting deeper than Python's recursion limit. So the
removal never follows a link and never names a path twice: each folder is opened without following
links, made writable through that open descriptor (never through a path a link could redirect), and
its sub-folders are moved up to the top folder as they are found, so the tree it walks is never
more than two folders deep.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

OWNER_ONLY = stat.S_IRWXU


def remove_tree(root: Path) -> None:
    """Delete `root` and everything in it, as far as the grader's user may; never raises."""
    try:
        top = _open_writable(None, str(root))
    except OSError:
        return
    if top is None:  # a link or a file put where the folder was: remove just that
        _quietly(os.unlink, str(root))
        return
    prefix = f".removing-{secrets.token_hex(4)}-"
    pending: list[str] = []
    try:
        _empty(top, top, pending, prefix)
        while pending:
            name = pending.pop()
            try:
                folder = _open_writable(top, name)
            except OSError:
                continue
            if folder is not None:
                try:
                    _empty(folder, top, pending, prefix)
                finally:
                    os.close(folder)
            _quietly(os.rmdir, name, dir_fd=top)
    finally:
        os.close(top)
    _quietly(os.rmdir, str(root))


def _empty(folder: int, top: int, pending: list[str], prefix: str) -> None:
    """Unlink what `folder` holds but its folders, which move up into `top` (named in `pending`)."""
    try:
        entries = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in os.scandir(folder)]
    except OSError:
        return
    for name, is_dir in entries:
        if not is_dir:
            _quietly(os.unlink, name, dir_fd=folder)
        elif folder == top:
            pending.append(name)
        else:
            moved = f"{prefix}{len(pending)}-{secrets.token_hex(4)}"
            try:
                sub = _open_writable(folder, name)  # moving a folder rewrites its `..`: it must be writable
                if sub is not None:
                    os.close(sub)
                os.rename(name, moved, src_dir_fd=folder, dst_dir_fd=top)
                pending.append(moved)
            except OSError:
                continue


def _open_writable(parent: int | None, name: str) -> int | None:
    """`name` (in the folder `parent`, or a path) opened as a folder after making it the owner's to
    read, write and enter; None if it is not a folder (a link is never followed)."""
    if hasattr(os, "O_PATH"):  # Linux: change the mode through the descriptor's /proc entry
        handle = os.open(name, os.O_PATH | os.O_NOFOLLOW, dir_fd=parent)
        try:
            if not stat.S_ISDIR(os.fstat(handle).st_mode):
                return None
            own = f"/proc/self/fd/{handle}"
            os.chmod(own, OWNER_ONLY)
            return os.open(own, os.O_RDONLY | os.O_DIRECTORY)
        finally:
            os.close(handle)
    if not stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
        return None
    os.chmod(name, OWNER_ONLY, dir_fd=parent, follow_symlinks=False)  # lchmod: BSDs and macOS
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)


def _quietly(action: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    try:
        action(*args, **kwargs)
    except OSError:
        pass
