"""The strong sandbox: each job's child starts cold inside bubblewrap (`bwrap`).

The child sees only what it needs, read-only: the system's programs and libraries, Python, the
grader package and the chapter's checks (see `command`); its own sandbox folder is the one place it
can write, besides /tmp and /dev/shm, which are private and capped. It has no network, its own
PID namespace (it cannot see or signal the grader, and everything in it dies with it) and no
capabilities, even when the grader runs as root. A forked child of a warm worker cannot be moved
into new namespaces, so this mode starts Python for every submission: slower, not weaker.

`BwrapRunner` has the `run(job)` interface of `grader.sandbox.workerproc.Worker`, so the engine and the
pool use either."""

from __future__ import annotations

import json
import os
import signal
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grader.sandbox.worker import supervise

COLD_START = 20.0
"""Seconds a cold child may spend importing before the chapter's own time limit starts."""
COLD_CPU = 10
"""Extra CPU seconds for those imports."""


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


def unavailable() -> str | None:
    """Why `--sandbox bwrap` cannot run here (None: it can)."""
    bwrap = find_bwrap()
    if bwrap is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt install bubblewrap)"
    probe = subprocess.run([bwrap, *_isolation(), "--ro-bind", "/", "/", "--size", "1024", "--tmpfs", "/tmp", "--",
                            "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {probe.stderr.strip() or probe.returncode}"
    return None


def _isolation() -> list[str]:
    return ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]


SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""The operating system's programs and libraries (links, as merged-/usr systems have them, are kept
links); nothing else of the host's file system is mounted: no /etc, /home, /run (its sockets) or /var."""
MASK_BYTES = 1024 * 1024
"""Size of the empty file system laid over the course content when it sits inside a mounted folder."""


def command(job: dict[str, Any]) -> list[str]:
    """The bwrap command line that starts a cold child for `job`: its own sandbox folder (writable);
    read-only, the system, Python (with its site-packages), the grader package and the folders the
    job's checks need (`job["mounts"]`); size-capped memory file systems for /tmp and /dev/shm; the
    root itself is read-only. The course content (solutions included) is not there, even when the
    grader keeps it inside its package."""
    tmpfs_bytes = str(int(job["limits"]["file_mb"]) * 1024 * 1024)
    argv = [find_bwrap() or "bwrap", *_isolation(), "--proc", "/proc", "--dev", "/dev",
            "--size", tmpfs_bytes, "--tmpfs", "/dev/shm", "--size", tmpfs_bytes, "--tmpfs", "/tmp"]
    for path in SYSTEM:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    software = _dedupe([sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix,
                        str(Path(__file__).resolve().parents[1])], SYSTEM)  # the grader package
    content = _content_root()
    masks = [content] if any(_within(content, path) for path in software) else []
    needed = _dedupe(job.get("mounts", [job["checks_dir"]]), ())
    for path in sorted({*software, *masks, *needed}, key=lambda p: p.count(os.sep)):  # a folder before its insides
        argv += ["--size", str(MASK_BYTES), "--tmpfs", path] if path in masks else ["--ro-bind", path, path]
    argv += ["--bind", job["sandbox"], job["sandbox"],
             *(arg for path in ("/dev", *masks, "/") for arg in ("--remount-ro", path)),
             "--chdir", job["workdir"], "--", sys.executable, "-I", "-B", "-m", "grader.sandbox.child"]
    return argv


def _dedupe(paths: list[str], covered: tuple[str, ...]) -> list[str]:
    """The existing folders of `paths`, resolved, without those inside another or inside `covered`."""
    found: list[str] = []
    for path in sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)}, key=len):
        if not any(_within(path, f) for f in (*found, *covered)):
            found.append(path)
    return found


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _content_root() -> str:
    """The course content (chapters, starters and solutions): laid over with an empty file system if
    a mounted folder holds it (an installed grader keeps it inside its package)."""
    from grader.content import content_root

    return os.path.realpath(content_root())


def _pid_namespace(info_r: int) -> int | None:
    """A pidfd of the sandbox's first process (bwrap's `--info-fd` names it), which ends only after
    every process in the sandbox's PID namespace has; None if bwrap ended first or said nothing."""
    data = b""
    try:
        while select.select([info_r], [], [], COLD_START)[0]:
            chunk = os.read(info_r, 4096)
            if not chunk:
                break
            data += chunk
        pid = json.loads(data)["child-pid"]
        return os.pidfd_open(pid)
    except (ValueError, KeyError, TypeError, OSError):
        return None
    finally:
        os.close(info_r)


def _wait_until_gone(pidfd: int | None, limit: float = 5.0) -> None:
    """Return once the sandbox's first process has ended: bwrap itself may end a moment before the
    kernel has killed the rest of its PID namespace."""
    if pidfd is None:
        return
    try:
        select.select([pidfd], [], [], limit)
    finally:
        os.close(pidfd)


class BwrapRunner:
    """Runs each job in a fresh `bwrap` sandbox; stateless, so it never dies."""

    alive = True

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        timeout = float(job["timeout"])
        limits = {**job["limits"], "cpu_seconds": int(job["limits"]["cpu_seconds"]) + COLD_CPU}
        job = {**job, "rec_fd": 3, "dump_after": timeout, "limits": limits}
        rec_r, rec_w = os.pipe()
        out_r, out_w = os.pipe()
        info_r, info_w = os.pipe()
        with tempfile.TemporaryFile() as job_file:
            job_file.write(json.dumps(job).encode())
            job_file.seek(0)
            argv = command(job)
            argv[1:1] = ["--info-fd", "4"]
            start = time.monotonic()
            pid = os.posix_spawn(argv[0], argv, job["env"], setsid=True, file_actions=[
                (os.POSIX_SPAWN_DUP2, job_file.fileno(), 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, out_w, 2),
                (os.POSIX_SPAWN_DUP2, rec_w, 3),
                (os.POSIX_SPAWN_DUP2, info_w, 4),
            ])
        for fd in (rec_w, out_w, info_w):
            os.close(fd)
        namespace = _pid_namespace(info_r)
        try:
            outcome = supervise(pid, rec_r, out_r, job["key"], timeout, startup=COLD_START, dump_signal=False)
        finally:
            _wait_until_gone(namespace)
        # The child stops itself at the time limit after dumping its stack ("Timeout (0:00:10)!").
        stack = next((r.get("text", "") for r in outcome["records"] if r.get("type") == "stack"), "")
        if stack.lstrip().startswith("Timeout ("):
            outcome["timed_out"] = True
        _signal_from_status(outcome)
        outcome["elapsed"] = round(time.monotonic() - start, 4)
        return outcome

    def kill(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> BwrapRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _signal_from_status(outcome: dict) -> None:
    """bwrap reports a child killed by signal N as exit status 128 + N: report it as that signal, as
    the warm worker does (a child that exits with such a status itself reads the same; it is rare)."""
    code = outcome.get("exit_code")
    if outcome.get("signal") is None and code is not None and code > 128:
        try:
            outcome["signal"], outcome["exit_code"] = signal.Signals(code - 128).value, None
        except ValueError:
            pass

