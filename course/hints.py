"""`course hint chapter-N`: progressive hints for the first failing check of the last grade: the hints for
the mistake it diagnosed when the chapter has some (`hints_for`), else the check's own."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Hints:
    """The hints of the last grade's first failing check, `shown` of them revealed."""

    check_id: str
    title: str
    hints: tuple[str, ...]
    shown: int


class NoHint(Exception):
    """Nothing to hint; `kind` says why: `ungraded`, `passed`, `gone` (the check left the course) or
    `empty` (it has no hints)."""

    def __init__(self, kind: str, title: str = ""):
        super().__init__(kind)
        self.kind = kind
        self.title = title


def _counts(chapter: ChapterOutline, diagnosis: str | None) -> dict[str, int]:
    return {FILES_CHECK: len(FILES_HINTS), **{c.id: len(c.hints_of(diagnosis)) for c in chapter.checks}}


def _grade_or_raise(workspace: Path, chapter: ChapterOutline) -> dict:
    grade = progress.entry(workspace, chapter.id).get("last_grade")
    if not grade:
        raise NoHint("ungraded")
    if grade.get("failing") is None:
        raise NoHint("passed")
    return grade


def _found(chapter: ChapterOutline, grade: dict, check_id: str, shown: int) -> Hints:
    diagnosis = grade.get("diagnosis")
    try:
        title, hints = _hints(chapter, check_id, diagnosis if check_id == grade.get("failing") else None)
    except KeyError:
        raise NoHint("gone", check_id) from None
    if not hints:
        raise NoHint("empty", title)
    return Hints(check_id, title, hints, min(shown, len(hints)))  # a grade meanwhile may have changed the mistake


def reveal(workspace: Path, chapter: ChapterOutline) -> Hints:
    """Reveal one more hint for the last grade's first failing check (the count `course hint` keeps in
    progress.json); NoHint says why there is none."""
    grade = _grade_or_raise(workspace, chapter)
    check_id, shown = progress.reveal_hint(workspace, chapter.id, _counts(chapter, grade.get("diagnosis")))
    if check_id is None:  # another process recorded a passing grade meanwhile
        return reveal(workspace, chapter)
    return _found(chapter, grade, check_id, shown)


def revealed(workspace: Path, chapter: ChapterOutline) -> Hints:
    """The hints revealed so far (at least the first, which the checklist shows), revealing none."""
    grade = _grade_or_raise(workspace, chapter)
    entry = progress.entry(workspace, chapter.id)
    return _found(chapter, grade, grade["failing"], max(entry.get("hints_shown", 1), 1))


def show_hint(console: Console, workspace: Path, chapter: ChapterOutline, *, check_stale: bool = True,
              again: str | None = None) -> int:
    """Reveal and print the next hint; 0 when a hint (or a pass) was shown, 1 when there is nothing to hint.

    `again` says how to get the next one (default: run `course hint chapter-N`).
    """
    try:
        found = reveal(workspace, chapter)
    except NoHint as exc:
        return _no_hint(console, chapter, exc)
    hints, shown, check_id, title = found.hints, found.shown, found.check_id, found.title
    console.print(Text.assemble(("Hint ", "bold"), (f"{shown} of {len(hints)}", "bold"), " for “", (title, "bold"),
                                f"” ({check_id}), the first check that failed:"))
    for number, hint in enumerate(hints[:shown], start=1):
        print_hanging(console, f"  {number}. ", hint, style="cyan" if number == shown else "dim")
    if shown == len(hints):
        console.print(f"That is the last hint for this check. The lesson may help too: `course lesson {chapter.id}`.")
    else:
        console.print(f"Still stuck? {again or f'Run `course hint {chapter.id}` again'} for hint {shown + 1}.")
    grade = progress.entry(workspace, chapter.id).get("last_grade") or {}
    if check_stale and _stale(workspace, chapter, grade):
        at = _local_time(grade.get("at", ""))
        console.print(Text(f"Your files changed since that grade{at}: run `grade {chapter.id}` to see where "
                           "you stand now.", style="yellow"))
    return 0


def _no_hint(console: Console, chapter: ChapterOutline, why: NoHint) -> int:
    if why.kind == "ungraded":
        console.print(f"There is no grade of {chapter.id} yet, and hints follow the first check that fails. "
                      f"Run `grade {chapter.id}` (or `course watch {chapter.id}`) first.")
        return 1
    if why.kind == "passed":
        console.print(Text(f"Every check of {chapter.id} passed on your last grade: no hint needed.", style="green"))
        console.print(f"Try the practice questions (`course quiz {chapter.id}`) or compare with the reference "
                      f"solution (`course solution {chapter.id}`).")
        return 0
    if why.kind == "gone":
        console.print(f"The check {why.title!r} of your last grade is no longer part of {chapter.id} "
                      f"(the course was updated). Run `grade {chapter.id}` again.")
        return 1
    console.print(f"“{why.title}” has no hints. Read its message in `grade {chapter.id}`.")
    return 1


def _local_time(iso: str) -> str:
    try:
        return " (" + datetime.fromisoformat(iso).astimezone().strftime("%H:%M") + ")"
    except ValueError:
        return ""
