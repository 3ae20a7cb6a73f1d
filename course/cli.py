"""`course ...`: the learner's companion commands around `grade`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False,
                  no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]},
                  help="The FastAPI sessions course: start chapters, then `grade chapter-N`.")

@app.callback()
def _group() -> None:
    """The FastAPI sessions course: start chapters, then `grade chapter-N`."""


WorkspaceOption = Annotated[Optional[Path], typer.Option("--workspace", help="Your workspace folder (or set COURSE_WORKSPACE).")]


@app.command(epilog="Example:\n\n  course start chapter-2")
def start(
    chapter: Annotated[str, typer.Argument(help="The chapter to start, e.g. chapter-2.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Copy a chapter's starter files into your workspace (never overwriting yours)."""
    from rich.console import Console

    from course.chapters import UnknownChapter, find_chapter
    from course.workspace import resolve_workspace, start_chapter
    from grader.manifest import ContentError

    console = Console(highlight=False, soft_wrap=True)
    try:
        loaded = find_chapter(chapter)
    except (UnknownChapter, ContentError) as exc:
        Console(stderr=True, soft_wrap=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    started = start_chapter(resolve_workspace(workspace), loaded)
    console.print(f"{loaded.id} · {loaded.title}", markup=False)
    if loaded.continues_from:
        console.print(f"This chapter continues from the solution of {loaded.continues_from}.", markup=False)
    for name in started.created:
        console.print(f"  created {started.folder / name}", markup=False)
    for name in started.kept:
        console.print(f"  kept    {started.folder / name} (yours, not overwritten)", markup=False)
    console.print("Edit: " + ", ".join(str(started.folder / name) for name in loaded.files), markup=False)
    console.print(f"Then run: grade {loaded.id}", markup=False)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)


# -- Instructor commands (issue 6): thin wrappers; the work is in course/scaffold.py, course/content_check.py
# -- and course/instructor.py. Exit status: 0 clean, 1 `course check` found problems, 2 usage error.
from course.grade_cli import Format  # noqa: E402


@app.command("new", epilog='Example:\n\n  course new chapter-8 --title "One engine factory" --file database.py')
def new(
    chapter: Annotated[str, typer.Argument(help="The chapter to create, e.g. chapter-8.")],
    title: Annotated[str, typer.Option("--title", help="Its title, as learners will see it.")],
    from_chapter: Annotated[Optional[str], typer.Option(
        "--from", help="Start from this chapter's solution (copied to starter and solution; sets continues_from).")] = None,
    files: Annotated[Optional[list[str]], typer.Option(
        "--file", help="A file the learner edits (repeat for several; default: those of --from, else main.py).")] = None,
) -> None:
    """Scaffold a chapter: manifest, lesson, checks, mistakes/ and quiz, with its starter and solution."""
    from course.instructor import new_command

    raise typer.Exit(new_command(chapter, title, from_chapter, files or []))


@app.command("check", epilog="Examples:\n\n  course check\n\n  course check chapter-2 --format json")
def check(
    chapters: Annotated[Optional[list[str]], typer.Argument(help="Chapters to check (default: all).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Warm grading workers to run in parallel.")] = 2,
) -> None:
    """Author QA: manifests, implementations, lessons, quizzes, and solution, starter and mistakes graded."""
    from course.instructor import check_command

    raise typer.Exit(check_command(chapters or [], fmt.value, jobs))


# -- instructor: exports to other platforms (issue 7) ------------------------------------------

export_app = typer.Typer(no_args_is_help=True, help="Package the grader for other platforms.")
app.add_typer(export_app, name="export")


@export_app.command("gradescope", epilog="Example:\n\n  course export gradescope chapter-2 --out chapter-2.zip")
def export_gradescope(
    chapter: Annotated[str, typer.Argument(help="The chapter to grade on Gradescope, e.g. chapter-2.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="The zip to write (default: gradescope-CHAPTER.zip here).")] = None,
) -> None:
    """Build the autograder zip Gradescope runs for each submission (setup.sh, run_autograder)."""
    from rich.console import Console

    from course.chapters import UnknownChapter, find_chapter
    from course.export import ExportError, build_gradescope
    from grader.manifest import ContentError

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        loaded = find_chapter(chapter)
        written = build_gradescope(loaded, out or Path(f"gradescope-{loaded.id}.zip"))
    except (UnknownChapter, ContentError, ExportError) as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    Console(highlight=False, soft_wrap=True).print(
        f"Wrote {written}: upload it as the autograder of a Gradescope programming assignment.", markup=False)
