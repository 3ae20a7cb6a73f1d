"""A warm worker: imports the heavy libraries once, then runs every job in a fresh forked child.

The worker never imports learner code, so each child starts clean: the learner's modules are
imported after the fork, in the child's own temp directory, under its limits.

Speed: the libraries every job needs are imported with the garbage collector off, then frozen
(`gc.freeze`), so a child's collections skip them (pytest collects several times per run, and a
collection writes to every object it scans, copying the worker's memory page by page). Modules
only some chapters need are imported while the worker waits for a job.

Protocol: one JSON job per line on stdin; one JSON outcome per line on the original stdout, carrying
the job's key (the parent takes no other line for that job's outcome).
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from typing import Any

from grader.sandbox import reaper, rewrites
from grader.sandbox.child import prepare_config
from grader.sandbox.preload import preload
from grader.sandbox.records import RecordReader

CURRENT_CHILD: int | None = None
DUMP_WAIT = 0.3
"""Seconds a timed-out child gets to dump its stack (faulthandler, on SIGUSR1) before it is killed."""

IDLE_PRELOAD = ("pydantic.v1",)
"""What FastAPI imports for an app with response models, which not every chapter has: imported
while no job is waiting, so it never delays one. What a chapter needs besides is content: its
manifest's `preload`, which comes with the worker's start and with each job."""
OUTPUT_CAP = 64 * 1024


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Fork a child for `job`, enforce its wall-clock timeout, collect what it reported."""
    preload([*job.get("preload", ()), *rewrites.prepare(job["test_files"])], base=(), index=True)
    prepare_config()
    rec_r, rec_w = os.pipe()
    out_r, out_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    global CURRENT_CHILD
    start = time.monotonic()
    worker = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(rec_r)
        os.close(out_r)
        from grader.sandbox.child import run
        run(job, rec_w, out_w, parent=worker)
    CURRENT_CHILD = pid
    os.close(rec_w)
    os.close(out_w)
    try:
        outcome = supervise(pid, rec_r, out_r, job["key"], float(job["timeout"]))
    finally:
        CURRENT_CHILD = None
        reaper.kill_orphans()  # what the child started in sessions of its own (see main)
    outcome["elapsed"] = round(time.monotonic() - start, 4)
    return outcome


def supervise(pid: int, rec_r: int, out_r: int, key: str, timeout: float, startup: float = 0.0,
              dump_signal: bool = True) -> dict[str, Any]:
    """Collect the child's records (see `grader.sandbox.records`) and capped output until it ends or its
    time is up; then kill its process group. The child has `timeout` seconds from now, or, with a
    `startup` allowance, from its harness's first record (but no more than `startup + timeout` in
    all). With `dump_signal`, a late child first gets SIGUSR1 to dump its stack; without, the child
    dumps it itself at its time limit, and gets DUMP_WAIT more to do so."""
    reader = RecordReader(key)
    output = bytearray()
    output_total = 0
    open_fds = {rec_r, out_r}
    timed_out = False
    status: int | None = None
    deadline = time.monotonic() + startup + timeout
    waiting_for_start = startup > 0
    try:
        while open_fds or status is None:
            if status is None:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
                    _kill_group(pid)  # anything it left behind
                    deadline = min(deadline, time.monotonic() + 0.5)  # drain what is buffered
            if waiting_for_start and reader.started:
                waiting_for_start = False
                deadline = min(deadline, time.monotonic() + timeout + (0 if dump_signal else DUMP_WAIT))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if status is None and not timed_out and dump_signal:
                    # Ask for a stack dump (see grader.sandbox.child), so the report can say where it was stuck.
                    timed_out = True
                    try:
                        os.kill(pid, signal.SIGUSR1)
                    except ProcessLookupError:
                        pass
                    deadline = time.monotonic() + DUMP_WAIT
                    continue
                if status is None:
                    timed_out = True
                    _kill_group(pid)
                    _, status = os.waitpid(pid, 0)
                break
            if not open_fds:
                time.sleep(min(remaining, 0.001))
                continue
            ready, _, _ = select.select(list(open_fds), [], [], min(remaining, 0.05))
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    open_fds.discard(fd)
                elif fd == rec_r:
                    reader.feed(chunk)
                else:
                    output_total += len(chunk)
                    if len(output) < OUTPUT_CAP:
                        output.extend(chunk[: OUTPUT_CAP - len(output)])
    finally:
        if status is None:  # only if supervising itself failed: the child must not outlive it
            _kill_group(pid)
            os.waitpid(pid, 0)
        os.close(rec_r)
        os.close(out_r)
    return {
        "records": reader.records(),
        "exit_code": os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "output": output.decode("utf-8", "replace"),
        "output_bytes": output_total,
    }


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _terminate(signum: int, frame: object) -> None:
    """Stop now, taking the current child (and its group) down too."""
    if CURRENT_CHILD is not None:
        _kill_group(CURRENT_CHILD)
    os._exit(0)


class Jobs:
    """Lines from a file descriptor, with a way to ask whether one is waiting."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = b""
        self.ended = False

    def waiting(self) -> bool:
        return b"\n" in self.buffer or self.ended or bool(select.select([self.fd], [], [], 0)[0])

    def discard_waiting(self) -> None:
        """Drop whatever input is waiting. Called when a job is done, before its outcome is sent:
        the parent sends the next job only after reading that outcome, so anything already there
        was written by the job's child (with the audit hook off, through /proc)."""
        self.buffer = b""
        while not self.ended and select.select([self.fd], [], [], 0)[0]:
            if not os.read(self.fd, 65536):
                self.ended = True

    def next(self) -> bytes | None:
        """The next line (blocking); None at the end of input."""
        while b"\n" not in self.buffer:
            chunk = b"" if self.ended else os.read(self.fd, 65536)
            if not chunk:
                self.ended = True
                line, self.buffer = self.buffer, b""
                return line or None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


def main() -> None:
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints from imports must not corrupt the protocol
    signal.signal(signal.SIGTERM, _terminate)
    reaper.adopt_orphans()
    preload(sys.argv[1:], index=True)
    channel.write(json.dumps({"ready": True}) + "\n")
    jobs = Jobs(sys.stdin.fileno())
    idle: list[str] | None = None  # from the first job on (a cold `grade` sends its one job at once)
    while True:
        if idle and not jobs.waiting():
            preload([idle.pop(0)], base=(), index=True)
            continue
        line = jobs.next()
        if line is None:
            return
        try:
            job = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(job, dict):
            continue
        outcome = run_job(job)
        jobs.discard_waiting()
        channel.write(json.dumps({**outcome, "key": job["key"]}) + "\n")
        if idle is None:
            idle = list(IDLE_PRELOAD)


if __name__ == "__main__":
    main()
