"""The parent's handle on a warm worker process (see `grader.sandbox.worker`)."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Literal, Protocol

GRACE_SECONDS = 5.0
"""How long past a job's own timeout the parent waits before it gives up on the worker."""
STARTUP_SECONDS = 30.0
"""Extra patience for a worker still importing its libraries."""


def worker_env(home: str) -> dict[str, str]:
    """A scrubbed environment: nothing from the learner's shell leaks into graded code."""
    return {
        "PATH": os.defpath,
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


Sandboxing = Literal["process", "bwrap"]
"""How the child that runs learner code is contained (see the README's Safety section)."""


class Runner(Protocol):
    """What the engine needs from a worker: run one job, report whether it can take more."""

    @property
    def alive(self) -> bool: ...

    def run(self, job: dict[str, Any]) -> dict[str, Any]: ...

    def kill(self) -> None: ...

    def close(self) -> None: ...


def runner(sandbox: Sandboxing = "process", preload: tuple[str, ...] | list[str] = ()) -> Runner:
    """A warm worker (forked children), or a bubblewrap runner (a cold sandbox per job, which imports
    what the job's `preload` names)."""
    if sandbox == "bwrap":
        from grader.sandbox.bwrap import BwrapRunner

        return BwrapRunner()
    return Worker(preload)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class WorkerDied(RuntimeError):
    """The worker process ended or stopped answering; the caller replaces it.

    `during_job`: it was killed by a signal, or stopped answering, while a job's child ran. Only
    that child's code (or someone outside the grader) can do that, so the job is the learner's
    failure; a worker that exits by itself (a traceback) is the grader's."""

    def __init__(self, message: str, during_job: bool = False):
        super().__init__(message)
        self.during_job = during_job


class Worker:
    """A worker process that has (or is) importing the heavy libraries; run jobs with :meth:`run`."""

    def __init__(self, preload: tuple[str, ...] | list[str] = ()):
        self._home = tempfile.TemporaryDirectory(prefix="grader-worker-")
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", "from grader.sandbox.worker import main; main()", *preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=worker_env(self._home.name), cwd=self._home.name, start_new_session=True,
        )
        self._buffer = b""
        self.ready = False

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Send a job and wait for its outcome; raise WorkerDied if the worker fails."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerDied(self._death_note()) from None
        slack = GRACE_SECONDS + (0 if self.ready else STARTUP_SECONDS)
        deadline = time.monotonic() + float(job["timeout"]) + slack
        while True:
            line = self._read_line(deadline)
            if line is None:
                try:
                    code = self.proc.wait(timeout=1)  # its output ends a moment before it does
                except subprocess.TimeoutExpired:
                    code = None
                during_job = self.ready and (code is None or code < 0)  # hung, or killed by a signal
                note = self._death_note()
                self.kill()
                raise WorkerDied(note, during_job)
            try:
                message = json.loads(line)
            except (ValueError, RecursionError):
                continue  # not the worker's: the job's child can reach its pipes (see below)
            if not isinstance(message, dict):
                continue
            if message.get("ready"):
                self.ready = True
            elif message.get("key") == job["key"]:
                return message
            # Anything else is not this job's outcome: code in a child that switched the audit hook
            # off can write to the worker's pipes (through /proc). Only this job's key counts.

    LINE_CAP = 64 * 1024 * 1024
    """The longest answer read from the worker (an outcome holds at most 4 MB of records)."""

    def _read_line(self, deadline: float) -> bytes | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk or len(self._buffer) > self.LINE_CAP:
                    return None
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _death_note(self) -> str:
        code = self.proc.poll()
        self._stderr.seek(0)
        tail = self._stderr.read()[-1500:].decode("utf-8", "replace").strip()
        state = ("stopped answering" if code is None else f"was killed by {signal_name(-code)}" if code < 0
                 else f"exited with status {code}")
        return f"the grader's worker process {state}" + (f":\n{tail}" if tail else "")

    def kill(self) -> None:
        if self.alive:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.proc.wait()

    def close(self, wait: bool = True) -> None:
        """Stop the worker (and any child it is running) without waiting for a graceful exit.

        `wait=False` only asks it to stop (SIGTERM): for a process that is about to exit itself.
        """
        if self.alive:
            self.proc.terminate()
            try:
                if wait:
                    self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()
        self._home.cleanup()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
