"""The child that runs learner code: isolate this process, then run the chapter's pytest checks.

Entered by a warm worker right after `fork()` (`run`), or started cold inside bubblewrap
(`python -m grader.sandbox.child`, the job on stdin; see `grader.sandbox.bwrap`). The verdict leaves through
the record pipe only, each record carrying the job's key; stdout and stderr go to a capped
pipe that nobody parses.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import tempfile
from typing import Any, NoReturn

from grader.sandbox import limits, reaper

RECORDS_FD = 3
UNUSED_PLUGINS = ("cacheprovider", "stepwise", "faulthandler", "pastebin", "setuponly", "setupplan")
"""pytest's built-in plugins a grading run does without: a cache, re-runs, crash dumps (the child
has its own), and options nobody passes. Each one would cost its registration on every job.
They provide no fixtures, so chapter tests see pytest as usual."""


def run(job: dict[str, Any], rec_fd: int, out_fd: int | None, parent: int | None = None) -> NoReturn:
    """Run `job` and exit. `parent`: the worker that forked this child, which it must not outlive."""
    code = 70
    try:
        if parent is not None:
            reaper.die_with_parent()
            if os.getppid() != parent:
                return  # the worker died before the tie was made
        _isolate(job, rec_fd, out_fd)
        code = _run_pytest(job)
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _isolate(job: dict[str, Any], rec_fd: int, out_fd: int | None) -> None:
    try:
        os.setsid()  # its own process group, so a timeout kills everything it started
    except PermissionError:
        pass  # already a group leader (started cold in a new session)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    if out_fd is not None:
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
    if rec_fd != RECORDS_FD:
        os.dup2(rec_fd, RECORDS_FD)
    for fd in _open_fds():
        if fd > RECORDS_FD:
            try:
                os.close(fd)
            except OSError:
                pass
    os.chdir(job["workdir"])
    os.environ.clear()
    os.environ.update(job["env"])
    tempfile.tempdir = None  # the worker may have cached its own temp folder
    limits.apply(job["limits"])
    limits.pin(job.get("cores"))
    # On a timeout the worker sends SIGUSR1: dump every thread's stack to the record pipe first.
    faulthandler.register(signal.SIGUSR1, file=RECORDS_FD, all_threads=True)
    sys.path.insert(0, job["workdir"])


def _open_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 1024))


def emit(key: str, record: dict[str, Any]) -> None:
    """Write one record to the parent, stamped with the job's key; a leading newline ends any
    partial line learner code may have written to the same pipe."""
    data = ("\n" + json.dumps({**record, "key": key}) + "\n").encode()
    while data:
        try:
            written = os.write(RECORDS_FD, data)
        except InterruptedError:
            continue
        data = data[written:]


EXCLUDED = tuple(arg for plugin in UNUSED_PLUGINS for arg in ("-p", f"no:{plugin}"))
PROG = "pytest.main()"
"""The program name `pytest.main` gives its configuration."""
_prepared: dict[tuple[str, ...], Any] = {}
"""pytest's configurations as `get_config` starts them (plugin manager, built-in plugins registered,
their options declared), by the `-p` flags they were made for, made once by the warm worker
(`prepare_config`); each child takes its own copy with the fork and completes it for its job, as
`pytest.main` would have done from scratch. A chapter 5 job leaves the one for its test runs
(`grader.mutation.RUN_FLAGS`) to each run's process, forked from it."""


def prepare_config() -> None:
    """Start pytest's configurations in the worker, before any fork (see `_prepared`): the job's, and
    when the chapter's checks run the learner's tests (`grader.mutation` is loaded), one for those
    runs. Nothing in them depends on the job: only the `-p` flags, the same for every job, decide
    what they hold."""
    import inspect

    from _pytest.config import get_config

    if "prog" not in inspect.signature(get_config).parameters:
        return  # an older pytest (8.0 has no `prog`): each child starts its own, as pytest.main does
    mutation = sys.modules.get("grader.mutation")
    wanted = [EXCLUDED, *([mutation.RUN_FLAGS] if mutation is not None else [])]
    missing = [flags for flags in wanted if flags not in _prepared]
    if missing:
        import gc

        for flags in missing:
            _prepared[flags] = get_config(list(flags), None, prog=PROG)
        gc.freeze()  # as the preloaded libraries: children's collections skip it


def _take_prepared(original: Any) -> Any:
    """`get_config` for this child's pytest runs: the worker's prepared configuration for the run's
    `-p` flags, once (given the run's arguments, plugins and folder); pytest's own `get_config` for
    anything else."""
    from pathlib import Path

    from _pytest.config import Config

    def get_config(args: Any = None, plugins: Any = None, **named: Any) -> Any:
        flags = tuple(a for i, a in enumerate(args or ()) if a == "-p" or (i and args[i - 1] == "-p"))
        config = _prepared.pop(flags, None) if named.get("prog") == PROG else None
        if config is None:
            return original(args, plugins, **named)  # as pytest called it (an older one passes no `prog`)
        config.invocation_params = Config.InvocationParams(args=args, plugins=plugins, dir=Path.cwd())
        return config

    return get_config


def _run_pytest(job: dict[str, Any]) -> int:
    import _pytest.config
    import pytest

    import grader.testing
    from grader.sandbox import guard
    from grader.sandbox.plugin import GraderPlugin

    args = [
        *job["test_files"],
        "-c", job["ini"], "--rootdir", job["checks_dir"], "--confcutdir", job["checks_dir"],
        "-q", "--no-header", "--tb=no", "-W", "ignore::DeprecationWarning", *EXCLUDED,
    ]
    _pytest.config.get_config = _take_prepared(_pytest.config.get_config)
    key = job["key"]
    plugin = GraderPlugin(job, lambda record: emit(key, record))
    guard.install(job["sandbox"], lambda event, reason: emit(key, {"type": "refused", "event": event,
                                                                   "reason": reason}),
                  learner=job["workdir"],
                  flag=lambda what, file, line: emit(key, {"type": "flag", "what": what, "file": file, "line": line}))
    # The harness is up: the parent's clock for the time limit starts now (see `grader.sandbox.worker.supervise`).
    emit(key, {"type": "ready"})
    if job.get("dump_after"):
        # Started cold, out of the parent's signal reach: dump the stacks and stop at the time limit.
        # (Learner code can cancel this timer; the parent's deadline still holds.)
        faulthandler.dump_traceback_later(float(job["dump_after"]), exit=True, file=RECORDS_FD)
    return int(pytest.main(args, plugins=[plugin, grader.testing]))


def main() -> None:
    """Cold start (inside bubblewrap): the job arrives on stdin, records go to the fd it names."""
    job = json.loads(sys.stdin.buffer.read())
    from grader.sandbox.preload import preload

    preload(list(job.get("preload", [])))
    run(job, int(job["rec_fd"]), None)


if __name__ == "__main__":
    main()
