"""The child that runs learner code: isolate this process, then run the chapter's pytest checks.

Entered by a warm worker right after `fork()`. The verdict leaves through `rec_fd` only;
stdout and stderr go to a capped pipe that nobody parses.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from typing import Any, NoReturn

from grader import limits


def run(job: dict[str, Any], rec_fd: int, out_fd: int) -> NoReturn:
    code = 70
    try:
        rec_fd = _isolate(job, rec_fd, out_fd)
        code = _run_pytest(job, rec_fd)
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _isolate(job: dict[str, Any], rec_fd: int, out_fd: int) -> int:
    os.setsid()  # its own process group, so a timeout kills everything it started
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.dup2(rec_fd, 3)
    for fd in _open_fds():
        if fd > 3:
            try:
                os.close(fd)
            except OSError:
                pass
    os.chdir(job["workdir"])
    os.environ.clear()
    os.environ.update(job["env"])
    limits.apply(job["limits"])
    # On a timeout the worker sends SIGUSR1: dump every thread's stack to the record pipe first.
    faulthandler.register(signal.SIGUSR1, file=3, all_threads=True)
    sys.path.insert(0, job["workdir"])
    return 3


def _open_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 1024))


def _run_pytest(job: dict[str, Any], rec_fd: int) -> int:
    import pytest

    import grader.testing
    from grader.plugin import GraderPlugin

    args = [
        *job["test_files"],
        "-c", job["ini"], "--rootdir", job["checks_dir"], "--confcutdir", job["checks_dir"],
        "-q", "--no-header", "--tb=no", "-p", "no:cacheprovider", "-p", "no:stepwise", "-p", "no:faulthandler",
        "-W", "ignore::DeprecationWarning",
    ]
    return int(pytest.main(args, plugins=[GraderPlugin(job, rec_fd), grader.testing]))
