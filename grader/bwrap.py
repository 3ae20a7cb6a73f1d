"""The strong sandbox: each job's child starts cold inside bubblewrap (`bwrap`).

The child sees the filesystem read-only except its own sandbox folder, a private empty `/tmp`,
no network, its own PID namespace (it cannot see or signal the grader) and no capabilities, even
when the grader runs as root. A forked child of a warm worker cannot be moved into new
namespaces, so this mode starts Python for every submission: slower, not weaker.

`BwrapRunner` has the `run(job)` interface of `grader.workerproc.Worker`, so the engine and the
pool use either.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grader.worker import supervise

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
    probe = subprocess.run([bwrap, *_isolation(), "--ro-bind", "/", "/", "--", "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {probe.stderr.strip() or probe.returncode}"
    return None


def _isolation() -> list[str]:
    return ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]


def command(job: dict[str, Any]) -> list[str]:
    """The bwrap command line that starts a cold child for `job`."""
    argv = [find_bwrap() or "bwrap", *_isolation(),
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in _needed_under_tmp(job):
        argv += ["--ro-bind", path, path]
    argv += ["--bind", job["sandbox"], job["sandbox"], "--chdir", job["workdir"],
             "--", sys.executable, "-I", "-B", "-m", "grader.child"]
    return argv


def _needed_under_tmp(job: dict[str, Any]) -> list[str]:
    """Folders the child reads that live under /tmp, which the sandbox replaces with an empty one
    (the chapter's checks, or the grader itself, when they were copied or installed there)."""
    grader_root = str(Path(__file__).resolve().parent.parent)
    wanted = [job["checks_dir"], grader_root, sys.prefix, *sys.path]
    found: list[str] = []
    for path in wanted:
        real = os.path.realpath(path) if path else ""
        if real.startswith("/tmp/") and os.path.isdir(real) and not any(real.startswith(f + "/") or real == f
                                                                         for f in found):
            found.append(real)
    return found


class BwrapRunner:
    """Runs each job in a fresh `bwrap` sandbox; stateless, so it never dies."""

    alive = True

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        timeout = float(job["timeout"])
        limits = {**job["limits"], "cpu_seconds": int(job["limits"]["cpu_seconds"]) + COLD_CPU}
        job = {**job, "rec_fd": 3, "dump_after": timeout, "limits": limits}
        rec_r, rec_w = os.pipe()
        out_r, out_w = os.pipe()
        with tempfile.TemporaryFile() as job_file:
            job_file.write(json.dumps(job).encode())
            job_file.seek(0)
            argv = command(job)
            start = time.monotonic()
            pid = os.posix_spawn(argv[0], argv, job["env"], setsid=True, file_actions=[
                (os.POSIX_SPAWN_DUP2, job_file.fileno(), 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, out_w, 2),
                (os.POSIX_SPAWN_DUP2, rec_w, 3),
            ])
        os.close(rec_w)
        os.close(out_w)
        outcome = supervise(pid, rec_r, out_r, job["key"], timeout, startup=COLD_START, dump_signal=False)
        # The child stops itself at the time limit after dumping its stack ("Timeout (0:00:10)!").
        stack = next((r.get("text", "") for r in outcome["records"] if r.get("type") == "stack"), "")
        if stack.lstrip().startswith("Timeout ("):
            outcome["timed_out"] = True
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
