"""`grade chapter-N`: the learner's main command."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

EXAMPLES = """\
Examples:

  grade chapter-2                    grade your workspace copy of chapter 2

  grade chapter-2 --path mine.py     grade another file or folder

  grade chapter-2 --solution         check the reference solution

  grade chapter-2 --format json      machine-readable report

Exit status: 0 all checks passed, 1 a check failed, 2 usage or course content error.
"""


class Format(str, Enum):
    text = "text"
    json = "json"


app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


@app.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
def grade(
    chapter: Annotated[str, typer.Argument(help="The chapter to grade, e.g. chapter-2 (or just 2).")],
    path: Annotated[Optional[Path], typer.Option("--path", help="Grade this file or folder instead of your workspace.")] = None,
    solution: Annotated[bool, typer.Option("--solution", help="Grade the chapter's reference solution.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    workspace: Annotated[Optional[Path], typer.Option("--workspace", help="Your workspace folder (or set COURSE_WORKSPACE).")] = None,
) -> None:
    """Check your code for a chapter and say what passed, what failed and why."""
    from rich.console import Console

    from course.chapters import UnknownChapter, find_chapter
    from grader.manifest import ContentError
    from grader.submission import SubmissionError

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if path is not None and solution:
        err.print("error: use either --path or --solution, not both")
        raise typer.Exit(2)
    try:
        loaded = find_chapter(chapter)
        code = _grade(loaded, path, solution, fmt, workspace)
    except (UnknownChapter, ContentError, SubmissionError) as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def _grade(chapter, path: Path | None, solution: bool, fmt: Format, workspace: Path | None) -> int:
    from rich.console import Console

    from course import progress
    from course.workspace import resolve_workspace, start_chapter
    from grader.content import solution_dir
    from grader.engine import grade as run_grade
    from grader.render.text import render
    from grader.submission import locate

    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    own_workspace = path is None and not solution
    if solution:
        target = solution_dir(chapter.id, chapter.dir.parent.parent)
    elif path is not None:
        target = path
    else:
        ws = resolve_workspace(workspace)
        started = start_chapter(ws, chapter)
        target = started.folder
        if started.created:
            err.print(f"Created {', '.join(started.created)} in {started.folder} from the chapter's starter.",
                      markup=False)
        for note in started.update_notes():
            err.print(note, markup=False)
        if fmt is Format.text:
            edit = ", ".join(str(started.folder / name) for name in chapter.files)
            err.print(f"Grading {edit}", markup=False)
    submission = locate(chapter, target)
    report = run_grade(chapter, submission)
    if own_workspace:
        progress.record_grade(resolve_workspace(workspace), report)
    if fmt is Format.json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        render(report, console, folder=submission.folder, files=submission.edited,
               hint_command=f"course hint {chapter.id}" if own_workspace else None)
    return report.exit_code


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
