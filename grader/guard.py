"""The child's audit hook: refuse what graded code has no business doing.

Installed in the child (`grader.child`) just before the chapter's tests run, with
`sys.addaudithook`, which cannot be removed. Refused, with a `Refused` error raised where the
learner's code made the call, and reported to the parent as a `refused` record:

- starting processes (`os.fork`, `subprocess`, `os.system`, `os.exec*`, `posix_spawn`, ...);
- signals to any process but this one (the worker that forked it, `os.getppid()`, included);
- writing, creating, renaming, deleting or changing files outside the sandbox folder
  (the submission's temp copy, HOME and TMPDIR), SQLite databases and ATTACHes included;
- network access, raising resource limits, `ctypes` and terminal `ioctl`s.

This guards against mistakes and casual misuse. It is not a security boundary: the hook runs in
the same interpreter as the learner's code, which can reach the harness's objects (see the
README's Safety section). The kernel limits and the process-group kill do not depend on it, and
`--sandbox bwrap` adds a real one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
ALLOWED_DEVICES = {"/dev/null"}


class Refused(PermissionError):
    """Learner code tried something the grader does not allow."""


class Policy:
    """Decide, for one audit event, whether the child may go ahead (None) or why not."""

    def __init__(self, sandbox: str):
        self.sandbox = os.path.realpath(sandbox)
        self.pid = os.getpid()
        self.pgid = os.getpgrp()
        self.handlers: dict[str, Callable[[tuple[Any, ...]], str | None]] = {
            "open": self._open,
            "os.kill": self._kill,
            "os.killpg": self._killpg,
            "os.remove": self._path_dirfd,
            "os.rmdir": self._path_dirfd,
            "os.mkdir": lambda a: self._writes(a[0], a[2], "create a folder at"),
            "os.chmod": lambda a: self._writes(a[0], a[2], "change the permissions of"),
            "os.chown": lambda a: self._writes(a[0], a[3], "change the owner of"),
            "os.utime": lambda a: self._writes(a[0], a[3], "change the times of"),
            "os.truncate": lambda a: self._writes(a[0], None, "truncate"),
            "os.setxattr": lambda a: self._writes(a[0], None, "change the attributes of"),
            "os.removexattr": lambda a: self._writes(a[0], None, "change the attributes of"),
            "os.rename": lambda a: self._writes(a[0], a[2], "move") or self._writes(a[1], a[3], "move a file to"),
            "os.link": lambda a: self._writes(a[0], a[2], "link to") or self._writes(a[1], a[3], "create a link at"),
            "os.symlink": lambda a: self._writes(a[1], a[2], "create a link at"),
            "shutil.rmtree": lambda a: self._writes(a[0], a[1] if len(a) > 1 else None, "delete"),
            "sqlite3.connect": self._sqlite,
            "sqlite3.enable_load_extension": lambda a: "load SQLite extensions" if a[1] else None,
        }
        for event in ("os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.system", "os.startfile",
                      "subprocess.Popen", "pty.spawn"):
            self.handlers[event] = lambda a, e=event: f"start another process ({e})"
        for event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                      "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"):
            self.handlers[event] = lambda a, e=event: f"use the network ({e})"
        for event in ("resource.setrlimit", "resource.prlimit"):
            self.handlers[event] = lambda a, e=event: f"change the grader's resource limits ({e})"
        self.handlers["fcntl.ioctl"] = lambda a: "control a terminal or device (fcntl.ioctl)"

    def check(self, event: str, args: tuple[Any, ...]) -> str | None:
        handler = self.handlers.get(event)
        if handler is not None:
            return handler(args)
        if event.startswith("ctypes."):
            return f"call C code directly ({event})"
        return None

    # -- paths ----------------------------------------------------------------------------
    def inside(self, path: Any, dir_fd: int | None = None) -> bool:
        """Is `path` (relative to `dir_fd` or the current folder, links followed) in the sandbox?"""
        if isinstance(path, int):
            return True  # an already open file descriptor: the open was checked
        try:
            text = os.fsdecode(os.fspath(path))
        except TypeError:
            return False
        if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(text):
            text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
        real = os.path.realpath(text)
        return real == self.sandbox or real.startswith(self.sandbox + os.sep) or real in ALLOWED_DEVICES

    def _writes(self, path: Any, dir_fd: int | None, verb: str) -> str | None:
        if self.inside(path, dir_fd):
            return None
        return f"{verb} {os.fsdecode(os.fspath(path))!s}, outside its own folder"

    def _path_dirfd(self, args: tuple[Any, ...]) -> str | None:
        return self._writes(args[0], args[1], "delete")

    def _open(self, args: tuple[Any, ...]) -> str | None:
        path, _mode, flags = args
        if isinstance(path, int) or path is None:
            return None
        if flags & WRITE_FLAGS:
            return self._writes(path, None, "write to")
        if (flags & os.O_DIRECTORY or os.path.isdir(path)) and not self.inside(path):
            # a directory descriptor would let `dir_fd=` calls reach outside the sandbox
            return f"open the folder {os.fsdecode(os.fspath(path))} outside its own folder"
        return None

    def _sqlite(self, args: tuple[Any, ...]) -> str | None:
        database = os.fsdecode(os.fspath(args[0]))
        path = sqlite_path(database)
        if path is None or self.inside(path):
            return None
        return f"open the database {database} outside its own folder"

    # -- signals --------------------------------------------------------------------------
    def _kill(self, args: tuple[Any, ...]) -> str | None:
        pid = args[0]
        if pid in (0, self.pid, -self.pgid):
            return None
        return f"send a signal to another process (os.kill({pid}, ...))"

    def _killpg(self, args: tuple[Any, ...]) -> str | None:
        if args[0] in (0, self.pgid):
            return None
        return f"send a signal to another process group (os.killpg({args[0]}, ...))"

    # -- SQLite ---------------------------------------------------------------------------
    def sqlite_authorizer(self, report: Callable[[str, str], None]) -> Callable[..., int]:
        import sqlite3

        def authorize(action: int, arg1: Any, *_: Any) -> int:
            if action == sqlite3.SQLITE_ATTACH and isinstance(arg1, str):
                path = sqlite_path(arg1)
                if path is not None and not self.inside(path):
                    report("sqlite3.attach", f"attach the database {arg1} outside its own folder")
                    return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK

        return authorize


def sqlite_path(database: str) -> str | None:
    """The file a SQLite database name opens (None: in memory or a private temp database)."""
    if database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        parts = urlsplit(database)
        if "mode=memory" in parts.query or parts.path in ("", ":memory:"):
            return None
        return parts.path
    return database


def install(sandbox: str, report: Callable[[str, str], None]) -> None:
    """Install the hook for the rest of this process's life; `report(event, reason)` hears refusals."""
    policy = Policy(sandbox)
    authorizer = policy.sqlite_authorizer(report)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        reason = policy.check(event, args)
        if reason is not None:
            report(event, reason)
            raise Refused(f"the grader does not let submissions {reason}")

    _close_side_doors(report, authorizer)
    sys.addaudithook(hook)


def _close_side_doors(report: Callable[[str, str], None], authorizer: Callable[..., int]) -> None:
    """Functions that start processes or send signals without raising an audit event, and SQLite
    connections, which get an authorizer for `ATTACH` (it opens files without an audit event)."""
    import _posixsubprocess
    import signal
    import sqlite3
    import sqlite3.dbapi2

    connect = sqlite3.connect

    def guarded_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(*args, **kwargs)
        connection.set_authorizer(authorizer)
        return connection

    sqlite3.connect = sqlite3.dbapi2.connect = guarded_connect

    def refuse(name: str, reason: str) -> Callable[..., Any]:
        def refused(*_: Any, **__: Any) -> Any:
            report(name, reason)
            raise Refused(f"the grader does not let submissions {reason}")
        return refused

    _posixsubprocess.fork_exec = refuse("_posixsubprocess.fork_exec", "start another process (fork_exec)")
    for module, name in ((os, "pidfd_open"), (signal, "pidfd_send_signal")):
        if hasattr(module, name):
            setattr(module, name, refuse(name, f"signal another process ({name})"))
