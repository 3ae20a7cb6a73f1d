"""The `course` command's entry point, and the three commands learners run all the time.

`course list`, `course hint CHAPTER` and `course lesson CHAPTER` (`course.commands`) take a few
milliseconds of work, but typer costs more than that: it builds a pydantic validator for every parameter of the
command it runs. So `main` runs the plain forms of these three itself (see `QUICK`), with the same
functions the typer commands call; any other command line (help, other commands, an option
spelled another way, a mistake) goes to the typer app in `course.course_app`, which documents
every command and reports usage errors.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from course.commands import hint_command, lesson_command, list_command


QUICK: dict[str, tuple[Callable[..., int], bool, set[str]]] = {
    "list": (list_command, False, {"--workspace"}),
    "hint": (hint_command, True, {"--workspace"}),
    "lesson": (lesson_command, True, {"--pager", "--no-pager"}),
}
"""The commands `main` runs itself: command -> (function, takes a CHAPTER, the options it accepts)."""
FLAGS = {"--pager": ("pager", True), "--no-pager": ("pager", False)}


def quick(argv: list[str]) -> Callable[[], int] | None:
    """The command for `argv` when it is a plain form of a `QUICK` command; None for anything else."""
    if not argv or argv[0] not in QUICK:
        return None
    function, takes_chapter, accepted = QUICK[argv[0]]
    positional: list[str] = []
    options: dict[str, object] = {}
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("-"):
            positional.append(arg)
        elif arg not in accepted:
            return None
        elif arg in FLAGS:
            keyword, value = FLAGS[arg]
            options[keyword] = value
        elif rest and not rest[0].startswith("-"):
            options["workspace"] = Path(rest.pop(0))
        else:
            return None
    if len(positional) != int(takes_chapter):
        return None
    return lambda: function(*positional, **options)


def main() -> None:
    from course.encoding import plain_when_needed

    plain_when_needed()
    try:
        command = quick(sys.argv[1:])
        if command is not None:
            sys.exit(command())
        from course.course_app import app

        app()
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
