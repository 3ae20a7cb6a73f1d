"""`grade chapter-N`, the learner's main command: its options and what it does (run through
`course.grade_cli.main`, which may hand it a worker started before this module was imported)."""

from __future__ import annotations

import sys
import tempfile
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from grader.sandbox.workerproc import Runner

EXAMPLES = """\
Examples:

  grade                              grade the chapter to continue (as in `course list`)

  grade chapter-2                    grade your workspace copy of chapter 2

  grade chapter-2 --path mine.py     grade another file or folder

  grade chapter-2 --path x.diff      grade a variant: the solution with that patch applied

  grade chapter-2 --solution         check the reference solution

  grade chapter-2 --format json      machine-readable report

  grade chapter-2 --batch subs/      grade a class into subs-gradebook/

Exit status: 0 all checks passed, 1 a check failed, 2 usage or course content error.
With --batch: 0 once the gradebook is written, 2 usage or course content error.
"""


class GradeFormat(str, Enum):
    """`grade --format`: the checklist, the report as JSON, or another platform's results format."""

    text = "text"
    json = "json"
    exercism = "exercism"
    gradescope = "gradescope"
    junit = "junit"


class SandboxMode(str, Enum):
    process = "process"
    bwrap = "bwrap"


app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


@app.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
def grade(
    ctx: typer.Context,
    chapter: Annotated[Optional[str], typer.Argument(
        help="The chapter to grade, e.g. chapter-2 (or just 2). Default: the one to continue, as in `course list`.")] = None,
    path: Annotated[Optional[Path], typer.Option("--path", help="Grade this file or folder instead of your workspace (a .diff variant: the solution with that patch applied).")] = None,
    solution: Annotated[bool, typer.Option("--solution", help="Grade the chapter's reference solution.")] = False,
    fmt: Annotated[GradeFormat, typer.Option("--format", help="Output format.")] = GradeFormat.text,
    workspace: Annotated[Optional[Path], typer.Option("--workspace", help="Your workspace folder (or set COURSE_WORKSPACE).")] = None,
    batch: Annotated[Optional[Path], typer.Option("--batch", help="Grade every submission in this folder (one folder, .py or .zip per student) and write a gradebook.")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", min=1, help="With --batch: submissions graded at once (default: the number of cores).")] = None,
    force: Annotated[bool, typer.Option("--force", help="With --batch: re-grade submissions that have not changed since the last run.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="With --batch: the gradebook folder (default: DIR-gradebook next to DIR).")] = None,
    sandbox: Annotated[SandboxMode, typer.Option("--sandbox", help="How learner code is contained: process (fast, default) or bwrap (bubblewrap: no network, read-only files; slower).")] = SandboxMode.process,
) -> None:
    """Check your code for a chapter and say what passed, what failed and why."""
    from course.chapters import UnknownChapter, find_chapter
    from course.requirements import require
    from course.terminal import make_console
    from grader.manifest import ContentError
    from grader.submission import SubmissionError

    err = make_console(stderr=True)
    if path is not None and solution:
        err.print("error: use either --path or --solution, not both")
        raise typer.Exit(2)
    problem = _batch_usage(batch, path, solution, fmt, workspace, jobs, force, out) or _sandbox_problem(sandbox)
    if problem:
        err.print(f"error: {problem}", markup=False)
        raise typer.Exit(2)
    if chapter is None:
        chapter = _current(workspace, err, quiet=fmt is not GradeFormat.text or batch is not None)
    try:
        loaded = find_chapter(chapter)
        require(loaded)  # a too-old package is named here, before a check meets it
        if batch is not None:
            from course.batch_cli import batch_command

            raise typer.Exit(batch_command(loaded, batch, out=out, jobs=jobs, force=force, sandbox=sandbox.value))
        code = _grade(loaded, path, solution, fmt, workspace, sandbox, prestarted=ctx.obj)
    except (UnknownChapter, ContentError, SubmissionError) as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def _current(workspace: Path | None, err: Console, *, quiet: bool) -> str:
    """The chapter to continue (as `course list` and `course watch` pick it), or exit 2 when every one has passed."""
    from course.listing import current_chapter
    from course.workspace import resolve_workspace

    chapter = current_chapter(resolve_workspace(workspace))
    if chapter is None:
        err.print("error: every chapter has passed, so there is none to continue: name one, e.g. `grade chapter-2`")
        raise typer.Exit(2)
    if not quiet:
        err.print(f"{chapter}: the chapter to continue (name another: `grade chapter-N`)", markup=False)
    return chapter


def _batch_usage(batch: Path | None, path: Path | None, solution: bool, fmt: GradeFormat, workspace: Path | None,
                 jobs: int | None, force: bool, out: Path | None) -> str | None:
    """What is wrong with the batch options, if anything."""
    if batch is None:
        if jobs is not None or force or out is not None:
            return "--jobs, --force and --out go with --batch DIR"
        return None
    if path is not None or solution or workspace is not None:
        return "--batch grades a folder of submissions; leave out --path, --solution and --workspace"
    if fmt is not GradeFormat.text:
        return "--batch writes a gradebook (CSV, JSON lines, summary); --format is for one submission"
    return None


def _sandbox_problem(sandbox: SandboxMode) -> str | None:
    if sandbox is SandboxMode.bwrap:
        from grader.sandbox.bwrap import unavailable

        return unavailable()
    return None


def _grade(chapter, path: Path | None, solution: bool, fmt: GradeFormat, workspace: Path | None,
           sandbox: SandboxMode = SandboxMode.process, prestarted: Runner | None = None) -> int:
    from course.snapshot import without_bom
    from course.terminal import make_console
    from course.workspace import resolve_workspace, start_chapter
    from grader.content import solution_dir
    from grader.submission import locate

    err = make_console(stderr=True)
    own_workspace = path is None and not solution
    ws = resolve_workspace(workspace) if own_workspace else None
    if solution:
        target = solution_dir(chapter.id, chapter.dir.parent.parent)
    elif path is not None:
        target = path
    else:
        assert ws is not None
        started = start_chapter(ws, chapter)
        target = started.folder
        for note in started.notes():
            err.print(note, markup=False)
        if fmt is GradeFormat.text:
            edit = ", ".join(str(started.folder / name) for name in chapter.files)
            err.print(f"Grading {edit}", markup=False)
    with tempfile.TemporaryDirectory(prefix="grade-copy-") as scratch:
        if _is_variant(target):
            submission = _variant(chapter, target, Path(scratch))
            shown = {name: Path(name) for name in submission.edited}  # the patched solution's files, not a temp copy
        else:
            submission = locate(chapter, target)
            shown = submission.edited  # locations point at the learner's files, not at a copy without BOM
            submission = without_bom(submission, Path(scratch))
        return _grade_submission(chapter, submission, fmt, sandbox, prestarted, ws, shown)


def _is_variant(path: Path) -> bool:
    from grader.variants import SUFFIX

    return path.suffix == SUFFIX and path.is_file()


def _variant(chapter, path: Path, scratch: Path):
    """The submission a variant stands for: the chapter's solution with the patch applied, written to `scratch`."""
    import dataclasses

    from grader.content import solution_dir
    from grader.submission import locate
    from grader.variants import read_variant

    folder = read_variant(path).materialize(solution_dir(chapter.id, chapter.dir.parent.parent), scratch)
    return dataclasses.replace(locate(chapter, folder), origin=path.resolve())


def _grade_submission(chapter, submission, fmt: GradeFormat, sandbox: SandboxMode, prestarted: Runner | None,
                      ws, shown: dict[str, Path]) -> int:
    """Grade, record the learner's progress (their workspace), and print the report; `shown` are the
    files that locations in the checklist point at."""
    from course import progress
    from course.terminal import make_console
    from grader.engine import grade as run_grade
    from grader.render import render_data
    from grader.render.text import render
    from grader.sandbox.workerproc import runner

    console = make_console()
    own_workspace = ws is not None
    if sandbox is SandboxMode.bwrap:
        worker: Runner | None = runner("bwrap")
    else:
        worker = prestarted if prestarted is not None and prestarted.alive else None
    report = run_grade(chapter, submission, worker=worker)
    if own_workspace:
        progress.record_grade(ws, report)
    if fmt is not GradeFormat.text:
        sys.stdout.write(render_data(report, fmt.value))
    else:
        render(report, console, folder=submission.folder, files=shown,
               hint_command=f"course hint {chapter.id}" if own_workspace else None)
    return report.exit_code
