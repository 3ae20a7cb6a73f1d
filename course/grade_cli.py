"""The `grade` command's entry point: start the grading worker first, then parse the command line.

A cold `grade` waits for one thing above all: a worker process importing FastAPI, SQLModel and
pytest. So `main` starts it before anything else is imported (typer, pydantic, the manifest,
libcst), and everything else (parsing, loading the chapter, the static checks, rendering the
report) happens in this process while the worker imports. The command itself is
`course.grade_app`; it receives the worker as the typer context's `obj` and leaves it unused when
the command turns out not to need it (an error, `--help`).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from grader.sandbox.workerproc import Worker

NO_WORKER = {"-h", "--help", "--batch", "bwrap", "--sandbox=bwrap"}
"""Arguments after which a command grades nothing, or not on a warm worker (a batch starts its
own pool; bwrap starts a cold sandbox per submission)."""


def prestart(argv: list[str]) -> Worker | None:
    """A warm worker for a command line that grades one submission in the default sandbox."""
    if any(arg in NO_WORKER or arg.startswith("--batch=") for arg in argv):
        return None
    from grader.sandbox.workerproc import Worker

    return Worker()


def main() -> None:
    """Run `grade`, then end the process at once: tearing down the interpreter (libcst, pydantic,
    rich, ...) takes tens of milliseconds and has nothing left to do, since the worker is stopped
    and the report and progress are written by then."""
    worker = prestart(sys.argv[1:])
    code: object = 0
    try:
        from course.encoding import plain_when_needed
        from course.grade_app import app

        plain_when_needed()

        app(obj=worker)
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        code = 130
    finally:
        if worker is not None:
            worker.close(wait=False)
    exit_now(code)


def exit_now(code: object) -> NoReturn:
    """`sys.exit(code)` without the interpreter's teardown (output is flushed first)."""
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nobody is reading any more
            pass
    os._exit(code or 0)
