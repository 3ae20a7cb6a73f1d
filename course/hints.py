"""`course hint chapter-N`: progressive hints for the first failing check of the last grade: the hints for
the mistake it diagnosed when the chapter has some (`hints_for`), else the check's own."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.text import Text

from course import progress
from course.terminal import print_hanging
from course.workspace import chapter_folder
from grader.outline import FILES_CHECK, FILES_TITLE, ChapterOutline

FILES_HINTS = (
    "The first check looks at your files before anything else: read its message in the checklist "
    "for the file and line.",
    "Run `python {file}` in the chapter folder: Python prints the same error with the line and a caret.",
    "Fix the line it points at (often a missing `:`, bracket or quote, or a name spelt unlike its definition or "
    "never imported); every other check waits for this one.",
)
"""Hints for the engine's own `files` check, which has no manifest entry."""


def _hints(chapter: ChapterOutline, check_id: str, diagnosis: str | None) -> tuple[str, tuple[str, ...]]:
    """The title of a check and its hints for a failure with `diagnosis`, the engine's own `files` check
    included (KeyError if unknown)."""
    if check_id == FILES_CHECK:
        return FILES_TITLE, tuple(h.format(file=chapter.files[0]) for h in FILES_HINTS)
    spec = chapter.check(check_id)
    return spec.title, spec.hints_of(diagnosis)


def _stale(workspace: Path, chapter: ChapterOutline, grade: dict) -> bool:
    """Whether the learner's files changed since the last grade."""
    from grader.submission import SubmissionError, locate

    folder = chapter_folder(workspace, chapter.id)
    try:
        return locate(chapter, folder).fingerprint() != grade.get("submission_hash")
    except SubmissionError:
        return False


def show_hint(console: Console, workspace: Path, chapter: ChapterOutline, *, check_stale: bool = True,
              again: str | None = None) -> int:
    """Reveal and print the next hint; 0 when a hint (or a pass) was shown, 1 when there is nothing to hint.

    `again` says how to get the next one (default: run `course hint chapter-N`).
    """
    grade = progress.entry(workspace, chapter.id).get("last_grade")
    if not grade:
        console.print(f"There is no grade of {chapter.id} yet, and hints follow the first check that fails. "
                      f"Run `grade {chapter.id}` (or `course watch {chapter.id}`) first.")
        return 1
    if grade.get("failing") is None:
        console.print(Text(f"Every check of {chapter.id} passed on your last grade: no hint needed.", style="green"))
        console.print(f"Try the practice questions (`course quiz {chapter.id}`) or compare with the reference "
                      f"solution (`course solution {chapter.id}`).")
        return 0
    diagnosis = grade.get("diagnosis")
    counts = {FILES_CHECK: len(FILES_HINTS), **{c.id: len(c.hints_of(diagnosis)) for c in chapter.checks}}
    check_id, shown = progress.reveal_hint(workspace, chapter.id, counts)
    if check_id is None:  # another process recorded a passing grade meanwhile
        return show_hint(console, workspace, chapter, check_stale=check_stale, again=again)
    try:
        title, hints = _hints(chapter, check_id, diagnosis if check_id == grade.get("failing") else None)
    except KeyError:
        console.print(f"The check {check_id!r} of your last grade is no longer part of {chapter.id} "
                      f"(the course was updated). Run `grade {chapter.id}` again.")
        return 1
    if not hints:
        console.print(f"“{title}” has no hints. Read its message in `grade {chapter.id}`.")
        return 1
    shown = min(shown, len(hints))  # a grade recorded meanwhile may have changed the mistake
    console.print(Text.assemble(("Hint ", "bold"), (f"{shown} of {len(hints)}", "bold"), " for “", (title, "bold"),
                                f"” ({check_id}), the first check that failed:"))
    for number, hint in enumerate(hints[:shown], start=1):
        print_hanging(console, f"  {number}. ", hint, style="cyan" if number == shown else "dim")
    if shown == len(hints):
        console.print(f"That is the last hint for this check. The lesson may help too: `course lesson {chapter.id}`.")
    else:
        console.print(f"Still stuck? {again or f'Run `course hint {chapter.id}` again'} for hint {shown + 1}.")
    if check_stale and _stale(workspace, chapter, grade):
        at = _local_time(grade.get("at", ""))
        console.print(Text(f"Your files changed since that grade{at}: run `grade {chapter.id}` to see where "
                           "you stand now.", style="yellow"))
    return 0


def _local_time(iso: str) -> str:
    try:
        return " (" + datetime.fromisoformat(iso).astimezone().strftime("%H:%M") + ")"
    except ValueError:
        return ""
