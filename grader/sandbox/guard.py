"""The child's audit hook: refuse what graded code has no business doing.

Installed in the child (`grader.sandbox.child`) just before the chapter's tests run, with
`sys.addaudithook`, which cannot be removed. Refused, with a `Refused` error raised where the
learner's code made the call, and reported to the parent as a `refused` record:

- starting processes (`os.fork`, `subprocess`, `os.system`, `os.exec*`, `posix_spawn`, ...), but
  for the fork of chapter 5's harness (`HARNESS_FORK`);
- signals to any process but this one (the worker that forked it, `os.getppid()`, included);
- writing, creating, renaming, deleting or changing files outside the sandbox folder
  (the submission's temp copy, HOME and TMPDIR), FIFOs and SQLite databases (`ATTACH` too) included,
  and, for chapter 5's runs side by side, outside the run's own folders (`keep_to`);
- opening another process's files under /proc, reading included: its open pipes (the worker's,
  a sibling run's result) and its memory;
- network access, raising resource limits, `ctypes` and terminal `ioctl`s.

Some functions do all that without an audit event of their own (`mkfifo`, `mknod`, the pidfd
calls, `_posixsubprocess.fork_exec`): the hook replaces them, in every module that holds them, by
ones that raise an event first (`GATED`); SQLite's `ATTACH` opens files in C, so every connection
`connect()` opens gets an authorizer.

It also flags (without refusing) what reaches into the harness where only running code shows it
(`FLAGGED_EVENTS`: frames, `gc`, another audit hook, `__class__` assignment, a library class's
special attributes), when the learner's own code makes the call: `grader.static.integrity` finds
the rest before the code runs.

This guards against mistakes and casual misuse. It is not a security boundary: the hook runs in
the same interpreter as the learner's code, which can reach the harness's objects, the original
functions (a module imported afresh has them) and the connection's authorizer (see the README's
Safety section). The kernel limits, the process-group kill and the worker's reaping of orphans do
not depend on it, and `--sandbox bwrap` adds a real boundary.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from grader.tampering import AUDIT, CLASS, FRAMES, GC, LIBRARIES, patches

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
ALLOWED_DEVICES = {"/dev/null"}


class Refused(PermissionError):
    """Learner code tried something the grader does not allow."""


class Policy:
    """Decide, for one audit event, whether the child may go ahead (None) or why not."""

    def __init__(self, sandbox: str):
        self.sandbox = os.path.realpath(sandbox)
        self.pgid = os.getpgrp()
        self.own: tuple[str, ...] | None = None
        """Where writes may go when narrower than the sandbox (`keep_to`)."""
        self.strayed: Callable[[str], None] | None = None
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
            "os.mkfifo": lambda a: self._writes(a[0], a[2], "create a FIFO at"),
            "os.mknod": self._mknod,
            "os.pidfd_open": lambda a: None if a[0] == os.getpid() else f"signal another process (pidfd_open({a[0]}))",
            "signal.pidfd_send_signal": lambda a: "signal another process (pidfd_send_signal)",
            "import": lambda a: f"import {a[0]} afresh (the grader guards it)" if a[0] in GUARDED_MODULES else None,
        }
        for event in ("os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.system", "os.startfile",
                      "subprocess.Popen", "pty.spawn", "_posixsubprocess.fork_exec"):
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
        real = _real(path, dir_fd)
        return real is not None and _under(real, (self.sandbox,))

    def outside(self, path: Any, dir_fd: int | None = None) -> str | None:
        """Where a write to `path` would go that it may not (None: it may): outside the sandbox, or
        outside the folders this process keeps to (`keep_to`, who is told)."""
        if isinstance(path, int):
            return None  # as above
        real = _real(path, dir_fd)
        if real is None or not _under(real, (self.sandbox,)):
            return "outside its own folder"
        if self.own is not None and not _under(real, self.own):
            if self.strayed is not None:
                self.strayed(real)
            return "outside its own run's folders (runs made side by side keep to theirs)"
        return None

    def _writes(self, path: Any, dir_fd: int | None, verb: str) -> str | None:
        where = self.outside(path, dir_fd)
        return None if where is None else f"{verb} {os.fsdecode(os.fspath(path))!s}, {where}"

    def _mknod(self, args: tuple[Any, ...]) -> str | None:
        path, mode, _device, dir_fd = args
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            return f"create the device file {os.fsdecode(os.fspath(path))}"
        return self._writes(path, dir_fd, "create a file at")

    def _path_dirfd(self, args: tuple[Any, ...]) -> str | None:
        return self._writes(args[0], args[1], "delete")

    def _open(self, args: tuple[Any, ...]) -> str | None:
        path, _mode, flags = args
        if isinstance(path, int) or path is None:
            return None
        other = _other_process(path)
        if other is not None:
            return f"open {os.fsdecode(os.fspath(path))}, a file of another process ({other})"
        if flags & WRITE_FLAGS:
            return self._writes(path, None, "write to")
        if (flags & os.O_DIRECTORY or os.path.isdir(path)) and not self.inside(path):
            # a directory descriptor would let `dir_fd=` calls reach outside the sandbox
            return f"open the folder {os.fsdecode(os.fspath(path))} outside its own folder"
        return None

    def _sqlite(self, args: tuple[Any, ...]) -> str | None:
        database = os.fsdecode(os.fspath(args[0]))
        path = sqlite_path(database)
        where = None if path is None else self.outside(path)
        return None if where is None else f"open the database {database} {where}"

    # -- signals --------------------------------------------------------------------------
    def _kill(self, args: tuple[Any, ...]) -> str | None:
        pid = args[0]
        if pid in (0, os.getpid(), -self.pgid):
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
            if action != sqlite3.SQLITE_ATTACH:
                return sqlite3.SQLITE_OK
            if not isinstance(arg1, str):  # a bound parameter or an expression: SQLite does not say which file
                report("sqlite3.attach", "attach a database named by a parameter or an expression (name it "
                       "with a string literal)")
                return sqlite3.SQLITE_DENY
            path = sqlite_path(arg1)
            where = None if path is None else self.outside(path)
            if where is not None:
                report("sqlite3.attach", f"attach the database {arg1} {where}")
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK

        return authorize


def _real(path: Any, dir_fd: int | None = None) -> str | None:
    """`path` (relative to `dir_fd` or the current folder) with its links followed; None if it is no path."""
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(text):
        text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
    return os.path.realpath(text)


def _under(real: str, folders: tuple[str, ...]) -> bool:
    return real in ALLOWED_DEVICES or any(real == f or real.startswith(f + os.sep) for f in folders)


PROCESS_FILES = re.compile(r"/proc/(\d+)(?:/|$)")


def _other_process(path: Any) -> int | None:
    """The process whose /proc files `path` leads to, when it is not this one (its open pipes, its
    memory): None for any other path."""
    for place in _resolving(path):
        found = PROCESS_FILES.match(place)
        if found is not None:
            pid = int(found.group(1))
            if pid != os.getpid() and not os.path.exists(f"/proc/self/task/{pid}"):
                return pid
    return None


def _resolving(path: Any) -> Iterator[str]:
    """The places the kernel passes through to open `path`: the path, its folder's real path with its
    name, and each link on the way (not past /proc's links to open files: those name no path)."""
    try:
        text = os.path.abspath(os.fsdecode(os.fspath(path)))
    except TypeError:
        return
    for _ in range(40):  # the kernel's own limit on links followed
        folder, name = os.path.split(text)
        real = os.path.join(os.path.realpath(folder), name)
        yield text
        yield real
        if not os.path.islink(real):
            return
        text = os.path.normpath(os.path.join(os.path.dirname(real), os.readlink(real)))


def sqlite_path(database: str) -> str | None:
    """The file a SQLite database name opens (None: in memory or a private temp database)."""
    if database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        parts = urlsplit(database)
        path = unquote(parts.path)  # SQLite decodes %2f and the like: so must the check
        if "mode=memory" in parts.query or path in ("", ":memory:"):
            return None
        return path
    return database


FLAGGED_EVENTS = {"sys._getframe": FRAMES, "sys._current_frames": FRAMES, "gc.get_objects": GC,
                  "gc.get_referrers": GC, "gc.get_referents": GC, "sys.addaudithook": AUDIT}
"""Audit events that reach into the harness, whatever the arguments: what the flag says."""
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
"""Attributes whose reading raises `object.__getattr__`, and that lead to frames."""
FRAME_HELPERS = ("/inspect.py",)
"""Standard modules whose functions get frames on their caller's behalf (`inspect.currentframe`,
`inspect.stack`): a `sys._getframe` they call is their caller's."""
MAX_FLAGS = 20


class Flagger:
    """Decide, for one audit event, whether the learner's own code reached into the harness, and
    where: (what, file relative to `learner`, line), each once."""

    def __init__(self, learner: str, flag: Callable[[str, str, int], None]):
        self.prefix = learner.rstrip("/") + "/"
        self.flag = flag
        self.seen: set[tuple[str, str, int]] = set()
        self.busy = False

    def what(self, event: str, args: tuple[Any, ...]) -> str | None:
        what = FLAGGED_EVENTS.get(event)
        if what is not None:
            return what
        if event == "object.__getattr__":
            return FRAMES if args[1] in FRAME_ATTRIBUTES else None
        if event == "object.__setattr__":
            if args[1] == "__class__":
                return CLASS
            owner = args[0]
            module = getattr(owner, "__module__", None) if isinstance(owner, type) else None
            if isinstance(module, str) and module.split(".")[0] in LIBRARIES:
                return patches(module.split(".")[0], f"{owner.__name__}.{args[1]}")
        return None

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.busy or len(self.seen) >= MAX_FLAGS:
            return
        self.busy = True  # sys._getframe below raises an event of its own
        try:
            self.check(event, args, sys._getframe(2))
        finally:
            self.busy = False

    def check(self, event: str, args: tuple[Any, ...], frame: Any) -> None:
        """Flag the event if it reaches into the harness and `frame`, the Python code that raised it,
        is the learner's."""
        what = self.what(event, args)
        if what is not None:
            self._blame(what, frame)

    def _blame(self, what: str, frame: Any) -> None:
        """Flag `what` if `frame` (the caller of the audited function) is the learner's code, or a
        frame helper or code given to `exec`/`eval` (`<string>`) that it called: at its line."""
        if what == FRAMES and frame is not None and frame.f_code.co_filename.endswith(FRAME_HELPERS):
            frame = frame.f_back
        while frame is not None and frame.f_code.co_filename.startswith("<"):
            frame = frame.f_back
        if frame is None or not frame.f_code.co_filename.startswith(self.prefix):
            return
        where = (what, frame.f_code.co_filename[len(self.prefix):], frame.f_lineno)
        if where not in self.seen:
            self.seen.add(where)
            self.flag(*where)


def install(sandbox: str, report: Callable[[str, str], None], *, learner: str | None = None,
            flag: Callable[[str, str, int], None] | None = None) -> None:
    """Install the hook for the rest of this process's life; `report(event, reason)` hears refusals,
    `flag(what, file, line)` each reach into the harness by code under the `learner` folder."""
    global _policy
    policy = _policy = Policy(sandbox)
    flagger = Flagger(learner, flag) if learner and flag else None

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if flagger is not None:
            flagger(event, args)
        if event == "os.fork" and _harness_fork(sys._getframe(1)):
            return
        reason = policy.check(event, args)
        if reason is not None:
            report(event, reason)
            raise Refused(f"the grader does not let submissions {reason}")

    _close_side_doors(policy.sqlite_authorizer(report))
    sys.addaudithook(hook)


_policy: Policy | None = None
"""The installed hook's policy (`keep_to` narrows it)."""


def keep_to(folders: Iterable[str | os.PathLike[str]], strayed: Callable[[str], None]) -> bool:
    """From now on, let this process write only inside `folders` (each inside the sandbox): chapter 5's
    runs of the learner's tests, made side by side, keep to their own (`grader.mutation.run_many`). A
    write elsewhere in the sandbox is refused and `strayed(path)` hears of it. False when no hook is
    installed here (nothing to narrow)."""
    if _policy is None:
        return False
    _policy.own = tuple(os.path.realpath(folder) for folder in folders)
    _policy.strayed = strayed
    return True


HARNESS_FORK = (os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mutation.py"), "_fork")
"""The one place the harness forks: chapter 5 runs each of the learner's test runs in a process of
its own (`grader.mutation.run_tests`), which keeps this hook, the limits and the process group."""


def _harness_fork(frame: Any) -> bool:
    return frame is not None and (frame.f_code.co_filename, frame.f_code.co_name) == HARNESS_FORK


GUARDED_MODULES = frozenset({"os", "posix", "signal", "_signal", "subprocess", "_posixsubprocess",
                             "sqlite3", "sqlite3.dbapi2", "_sqlite3"})
"""The modules `_close_side_doors` changes. They are loaded by then, so an `import` of one means
learner code deleted it from `sys.modules` to get the original functions back: refused."""


def _close_side_doors(authorizer: Callable[..., int]) -> None:
    """Replace the functions that act without an audit event, in every guarded module that holds
    them, by ones that raise one first (so the hook decides), and give every SQLite connection that
    `connect` opens the authorizer (`ATTACH` opens files without an audit event)."""
    import _posixsubprocess
    import _signal
    import _sqlite3
    import posix
    import signal  # noqa: F401 - guarded: imported so that it is in sys.modules
    import sqlite3
    import sqlite3.dbapi2  # noqa: F401 - as above
    import subprocess  # noqa: F401 - as above

    def mkfifo(path: Any, mode: int = 0o666, *, dir_fd: int | None = None) -> None:
        sys.audit("os.mkfifo", path, mode, dir_fd)
        return original_mkfifo(path, mode, dir_fd=dir_fd)

    def mknod(path: Any, mode: int = 0o600, device: int = 0, *, dir_fd: int | None = None) -> None:
        sys.audit("os.mknod", path, mode, device, dir_fd)
        return original_mknod(path, mode, device, dir_fd=dir_fd)

    def fork_exec(*args: Any) -> int:
        sys.audit("_posixsubprocess.fork_exec", args[0])
        return original_fork_exec(*args)

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = original_connect(*args, **kwargs)
        connection.set_authorizer(authorizer)
        return connection

    original_mkfifo, original_mknod = posix.mkfifo, posix.mknod
    original_fork_exec, original_connect = _posixsubprocess.fork_exec, _sqlite3.connect
    replacements: dict[int, tuple[Any, Any]] = {
        id(original): (original, gated) for original, gated in (
            (original_mkfifo, mkfifo), (original_mknod, mknod), (original_fork_exec, fork_exec),
            (original_connect, connect))}
    if hasattr(posix, "pidfd_open"):
        original_pidfd_open = posix.pidfd_open

        def pidfd_open(pid: int, flags: int = 0) -> int:
            sys.audit("os.pidfd_open", pid, flags)
            return original_pidfd_open(pid, flags)

        replacements[id(original_pidfd_open)] = (original_pidfd_open, pidfd_open)
    if hasattr(_signal, "pidfd_send_signal"):
        original_send = _signal.pidfd_send_signal

        def pidfd_send_signal(pidfd: int, sig: int, siginfo: None = None, flags: int = 0) -> None:
            sys.audit("signal.pidfd_send_signal", pidfd, sig)
            return original_send(pidfd, sig, siginfo, flags)

        replacements[id(original_send)] = (original_send, pidfd_send_signal)
    for module in (sys.modules[name] for name in GUARDED_MODULES):  # all imported above
        for name, value in list(vars(module).items()):
            found = replacements.get(id(value))
            if found is not None and found[0] is value:
                setattr(module, name, found[1])
