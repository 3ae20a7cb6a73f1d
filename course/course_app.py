"""`course ...`: the learner's companion commands around `grade` (run through `course.cli.main`).

Each command is a thin layer over a flow module (course/listing.py, lesson.py, hints.py,
watch.py, reset.py, solution.py, quiz.py); heavy libraries are imported inside the commands.
`list`, `hint` and `lesson` are in `course.cli`, which runs their plain forms without typer.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from grader.manifest import Chapter

WORKSPACE_RULE = ("Your files and progress live in a workspace folder; the first match wins: --workspace DIR, the "
                  "COURSE_WORKSPACE environment variable, workspace/ at the top of a source checkout, "
                  "~/fastapi-sessions-course for an installed course.")

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False,
                  no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]},
                  help="The FastAPI sessions course: start chapters, then `grade chapter-N`.\n\n" + WORKSPACE_RULE,
                  epilog="Examples:\n\n  course list                 where you are\n\n"
                         "  course lesson chapter-2     read the lesson\n\n"
                         "  course watch                re-grade as you edit (the chapter to continue)\n\n"
                         "  course run                  serve your app to try it at /docs\n\n"
                         "Run `course COMMAND --help` for each command's options.")


@app.callback()
def _group() -> None:
    """The FastAPI sessions course: start chapters, then `grade chapter-N`."""


WorkspaceOption = Annotated[Optional[Path], typer.Option(
    "--workspace", metavar="DIR", help="Your workspace folder (default: COURSE_WORKSPACE, else workspace/ in a "
    "source checkout, else ~/fastapi-sessions-course).")]
ChapterArgument = Annotated[str, typer.Argument(metavar="CHAPTER", help="The chapter, e.g. chapter-2 (or just 2).")]
PagerOption = Annotated[bool, typer.Option("--pager/--no-pager", help="Page long text on a terminal.")]


def _console(stderr: bool = False):
    from course.terminal import make_console

    return make_console(stderr)


def _fail(message: str, code: int = 2) -> typer.Exit:
    from course.commands import usage_error

    usage_error(message)
    return typer.Exit(code)


def _chapter(name: str) -> Chapter:
    """The chapter named on the command line, or exit 2 with the reason."""
    from course.chapters import UnknownChapter, find_chapter
    from grader.manifest import ContentError

    try:
        return find_chapter(name)
    except (UnknownChapter, ContentError) as exc:
        raise _fail(str(exc)) from None


def _workspace(option: Path | None) -> Path:
    from course.workspace import resolve_workspace

    return resolve_workspace(option)


@app.command("list", epilog="Example:\n\n  course list\n\nThe states come from progress.json in your workspace, "
                             "which `grade` and `course quiz` update.")
def list_chapters(workspace: WorkspaceOption = None) -> None:
    """Every chapter: not started, in progress or passed, and checks passed in your last grade.

    ▶ marks the chapter to continue: the unfinished one you worked on last, else the first one
    not started.
    """
    from course.commands import list_command

    raise typer.Exit(list_command(workspace))


@app.command(epilog="Examples:\n\n  course lesson chapter-2\n\n  course lesson 2 > lesson.md     the Markdown source\n\n"
                    "The pager is $PAGER, else less.")
def lesson(chapter: ChapterArgument, pager: PagerOption = True) -> None:
    """Read a chapter's lesson (paged on a terminal; plain Markdown when piped)."""
    from course.commands import lesson_command

    raise typer.Exit(lesson_command(chapter, pager))


@app.command(epilog="Example:\n\n  course start chapter-2\n\nA file you edited is never overwritten. When the "
                    "course ships a new starter, files you have not edited are updated and you are told what changed.")
def start(chapter: ChapterArgument, workspace: WorkspaceOption = None) -> None:
    """Copy a chapter's starter files into your workspace (never overwriting yours)."""
    from course.workspace import start_chapter

    loaded = _chapter(chapter)
    console = _console()
    started = start_chapter(_workspace(workspace), loaded)
    console.print(f"{loaded.id} · {loaded.title}", markup=False)
    if loaded.continues_from:
        console.print(f"This chapter continues from the solution of {loaded.continues_from}.", markup=False)
    for name in started.created:
        console.print(f"  created {started.folder / name}", markup=False)
    for name in started.kept:
        console.print(f"  kept    {started.folder / name} (yours, not overwritten)", markup=False)
    for note in started.update_notes():
        console.print(note, markup=False)
    console.print("Edit: " + ", ".join(str(started.folder / name) for name in loaded.files), markup=False)
    console.print(f"Read the lesson: course lesson {loaded.id}", markup=False)
    console.print(f"Then run: grade {loaded.id} (or course watch {loaded.id} to re-grade on every save)",
                  markup=False)


@app.command(epilog="Example:\n\n  course hint chapter-2     run it again for the next hint\n\n"
                    "Exit status: 0 a hint (or the news that all passed) was shown, 1 no grade yet, 2 usage error.")
def hint(chapter: ChapterArgument, workspace: WorkspaceOption = None) -> None:
    """The next hint for the first check that failed in your last grade (one more each time)."""
    from course.commands import hint_command

    raise typer.Exit(hint_command(chapter, workspace))


@app.command(epilog="Examples:\n\n  course watch                 the chapter to continue\n\n"
                    "  course watch chapter-2\n\n"
                    "  course watch 2 --manual      press Enter to re-grade\n\n"
                    "Keys: h next hint, l list, n next chapter (once this one passes), Enter re-grade, q quit.")
def watch(
    chapter: Annotated[Optional[str], typer.Argument(
        metavar="CHAPTER", help="The chapter to watch (default: the one to continue, as in `course list`).")] = None,
    manual: Annotated[bool, typer.Option("--manual", help="Re-grade when you press Enter instead of on every save "
                                                          "(for file systems where watching fails).")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Re-grade a chapter every time you save, and show the checklist."""
    from course.listing import current_chapter
    from course.watch import Watch

    ws = _workspace(workspace)
    console = _console()
    if chapter is None:
        chapter = current_chapter(ws)
        if chapter is None:
            console.print("Every chapter has passed. Name one to watch it again, e.g. `course watch chapter-2`.")
            raise typer.Exit(0)
    raise typer.Exit(Watch(console, ws, _chapter(chapter), manual=manual).run())


@app.command(epilog="Examples:\n\n  course run                 the chapter to continue\n\n"
                    "  course run chapter-3\n\n  course run 3 --port 8080\n\n"
                    "Open the /docs address it prints: each endpoint has a form to try it. Ctrl-C stops the app.")
def run(
    chapter: Annotated[Optional[str], typer.Argument(
        metavar="CHAPTER", help="The chapter whose app to serve (default: the one to continue, as in `course list`).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", min=1, max=65535, help="The port (default: 8000 if it is "
                                                "free, else any free one).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve your app on 127.0.0.1 with auto-reload, to try it by hand in the interactive docs."""
    from course.listing import current_chapter
    from course.run import PortTaken, serve

    ws = _workspace(workspace)
    if chapter is None:
        chapter = current_chapter(ws)
        if chapter is None:
            raise _fail("every chapter has passed: name the one to serve, e.g. `course run chapter-3`")
    try:
        code = serve(_console(), ws, _chapter(chapter), port=port)
    except PortTaken as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(code)


@app.command(epilog="Examples:\n\n  course serve                          the course in your browser\n\n"
                    "  course serve --port 8765 --no-open\n\n"
                    "  course serve --gradebook chapter-2-gradebook     the class's grades (from `grade --batch`)\n\n"
                    "It serves on 127.0.0.1 only; the address it prints carries a token that lets your browser in.")
def serve(
    port: Annotated[Optional[int], typer.Option("--port", min=1, max=65535,
                                                help="The port (default: any free one).")] = None,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the page in your browser.")] = True,
    gradebook: Annotated[Optional[Path], typer.Option(
        "--gradebook", metavar="DIR", help="Serve the instructor's report of a `grade --batch` output folder "
        "instead (also saved as DIR/report.html).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The course in your browser: lessons, a checklist graded live on every save, hints, quizzes."""
    from course.run import PortTaken
    from course.serve.server import serve as run_server

    if gradebook is not None and not gradebook.is_dir():
        raise _fail(f"{gradebook} is not a folder: give the output folder of `grade --batch`")
    try:
        code = run_server(_console(), None if gradebook is not None else _workspace(workspace), port=port,
                          open_browser=open_browser, gradebook=gradebook)
    except PortTaken as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(code)


@app.command(epilog="Examples:\n\n  course reset chapter-2\n\n  course reset chapter-2 --yes     without asking\n\n"
                    "Without --yes it asks first, and refuses (exit 2) when there is no terminal to ask on.")
def reset(
    chapter: ChapterArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Put a chapter's starter files back; your version is first copied to workspace/backups/."""
    from course.reset import NeedsConfirmation, run

    try:
        code = run(_console(), _workspace(workspace), _chapter(chapter), yes=yes)
    except NeedsConfirmation as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(code)


@app.command(epilog="Example:\n\n  course solution chapter-2\n\n"
                    "Exit status: 0 shown, 1 not yet (the chapter has not passed), 2 usage error.")
def solution(chapter: ChapterArgument, pager: PagerOption = True, workspace: WorkspaceOption = None) -> None:
    """The reference solution and how yours differs, once your version has passed."""
    from course.solution import show_solution

    raise typer.Exit(show_solution(_console(), _workspace(workspace), _chapter(chapter), pager=pager))


@app.command(epilog="Examples:\n\n  course quiz chapter-2\n\n"
                    "  course quiz chapter-2 --answers b,d,a,c,b,c   mark answers given at once\n\n"
                    "Your last and best scores go to progress.json. "
                    "Exit status: 0 done, 1 stopped before the end, 2 usage error.")
def quiz(
    chapter: ChapterArgument,
    answers: Annotated[Optional[str], typer.Option(
        "--answers", metavar="LETTERS", help="Answer every question at once, comma-separated, e.g. b,a,c.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The chapter's practice questions, one at a time, each followed by its explanation."""
    from course.quiz import BadAnswers, run
    from grader.manifest import ContentError
    from grader.quiz import load_quiz

    loaded = _chapter(chapter)
    try:
        questions = load_quiz(loaded.quiz_path)
    except ContentError as exc:
        raise _fail(str(exc)) from None
    try:
        code = run(_console(), _workspace(workspace), loaded.id, questions, answers)
    except BadAnswers as exc:
        raise typer.BadParameter(str(exc), param_hint="--answers") from None
    raise typer.Exit(code)


# -- Instructor commands (issue 6): thin wrappers; the work is in course/scaffold.py, course/content_check.py
# -- and course/instructor.py. Exit status: 0 clean, 1 `course check` found problems, 2 usage error.
class Format(str, Enum):
    """`course check --format`."""

    text = "text"
    json = "json"


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
    jobs: Annotated[Optional[int], typer.Option("--jobs", min=1, help="Warm grading workers to run in parallel "
                                                "(default: one per core, 2 to 8).")] = None,
) -> None:
    """Author QA: manifests, implementations, lessons, quizzes, and solution, starter and mistakes graded."""
    from course.instructor import check_command

    raise typer.Exit(check_command(chapters or [], fmt.value, jobs))


@app.command("variant", epilog="Examples:\n\n  course variant chapter-2 my-copy/ --name depends-called\n\n"
                               "  course variant chapter-2 odd.py --out tests/corpus/chapter-2/ok_odd.diff")
def variant(
    chapter: Annotated[str, typer.Argument(help="The chapter whose solution the submission varies, e.g. chapter-2.")],
    path: Annotated[Path, typer.Argument(help="The submission: a folder (or a file of a one-file chapter).")],
    name: Annotated[Optional[str], typer.Option("--name", help="Write chapters/CHAPTER/mistakes/NAME.diff (default: the path's name).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the variant here instead.")] = None,
) -> None:
    """Turn a submission into a variant (a patch against the solution), its header filled from a real grade."""
    from course.instructor import variant_command

    raise typer.Exit(variant_command(chapter, path, out, name))


# -- instructor: exports to other platforms (issue 7) ------------------------------------------

export_app = typer.Typer(no_args_is_help=True, help="Package the grader for other platforms.")
app.add_typer(export_app, name="export")


@export_app.command("gradescope", epilog="Example:\n\n  course export gradescope chapter-2 --out chapter-2.zip")
def export_gradescope(
    chapter: Annotated[str, typer.Argument(help="The chapter to grade on Gradescope, e.g. chapter-2.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="The zip to write, or a folder to write it into (default: gradescope-CHAPTER.zip here).")] = None,
) -> None:
    """Build the autograder zip Gradescope runs for each submission (setup.sh, run_autograder)."""
    from course.export import ExportError, build_gradescope

    loaded = _chapter(chapter)
    try:
        written = build_gradescope(loaded, out or Path(f"gradescope-{loaded.id}.zip"))
    except ExportError as exc:
        raise _fail(str(exc)) from None
    _console().print(
        f"Wrote {written}: upload it as the autograder of a Gradescope programming assignment.", markup=False)
