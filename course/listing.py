"""`course list`: every chapter, where the learner stands in it, and which one to continue."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from course import progress
from course.terminal import print_hanging
from course.workspace import chapter_folder
from grader.content import ContentError, chapter_ids
from grader.outline import load_outline

NOT_STARTED, IN_PROGRESS, PASSED = "not started", "in progress", "passed"
BAR_WIDTH = 24
WIDE = 72
"""Terminals at least this wide get the list as a table; narrower ones, two lines per chapter."""
STYLES = {PASSED: "green", IN_PROGRESS: "yellow", NOT_STARTED: "dim"}


@dataclass
class ChapterState:
    id: str
    title: str
    state: str
    passed: int
    """Checks passed in the last grade (0 when never graded)."""
    total: int
    """Checks in the last grade, or in the chapter when never graded."""
    graded: bool
    activity: str
    """When the learner last did something in the chapter (ISO time; "" when unknown)."""
    reset: bool = False
    """The files were reset to the starter after the last grade: `passed`/`total` describe files now gone."""
    quiz: dict[str, Any] | None = None
    broken: str | None = None
    """Why the chapter's content could not be loaded (a course problem, not the learner's)."""


def chapter_states(workspace: Path) -> list[ChapterState]:
    """Every chapter of the course, in order, with the learner's state in it."""
    chapters = progress.load(workspace)["chapters"]
    states = []
    for chapter_id in chapter_ids():
        entry = chapters.get(chapter_id, {})
        grade = entry.get("last_grade") or {}
        try:
            chapter = load_outline(chapter_id)
            title, total, broken = chapter.title, len(chapter.checks) + 1, None  # +1: the engine's `files` check
        except ContentError as exc:
            title, total, broken = "(this chapter's content is broken)", 0, str(exc)
        if "passed_at" in entry:
            state = PASSED
        elif grade or "started_at" in entry or chapter_folder(workspace, chapter_id).is_dir():
            state = IN_PROGRESS
        else:
            state = NOT_STARTED
        states.append(ChapterState(
            id=chapter_id, title=title, state=state, passed=grade.get("passed", 0),
            total=grade.get("total", total), graded=bool(grade),
            activity=max(grade.get("at", ""), entry.get("started_at", ""), entry.get("reset_at", "")),
            reset="reset_at" in entry, quiz=entry.get("quiz"), broken=broken,
        ))
    return states


def to_continue(states: list[ChapterState]) -> ChapterState | None:
    """The chapter to continue: the unfinished one worked on most recently, else the first not passed."""
    open_ones = [s for s in states if s.state == IN_PROGRESS and not s.broken]
    if open_ones:
        return max(open_ones, key=lambda s: s.activity)  # max keeps the first of equals: course order
    return next((s for s in states if s.state == NOT_STARTED and not s.broken), None)


def current_chapter(workspace: Path) -> str | None:
    """The id of the chapter to continue, by the rule of `to_continue` (None when every chapter has passed)."""
    chosen = to_continue(chapter_states(workspace))
    return chosen.id if chosen else None


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """A progress bar that reads without colour: █ done, ░ to do."""
    filled = round(width * done / total) if total else 0
    return "█" * filled + "░" * (width - filled)


def show(console: Console, workspace: Path) -> ChapterState | None:
    """Print the list; return the chapter to continue."""
    states = chapter_states(workspace)
    if not states:
        console.print("This course has no chapters yet.")
        return None
    passed = sum(s.state == PASSED for s in states)
    nxt = to_continue(states)
    console.print(Text.assemble(("FastAPI sessions course", "bold"), f" · {passed} of {len(states)} chapters passed"))
    console.print(f"{bar(passed, len(states))} {round(100 * passed / len(states))}%")
    rows = []
    for s in states:
        checks = f"{s.passed}/{s.total} checks" if s.graded else f"–/{s.total} checks"
        if s.reset:
            checks = f"reset · was {checks}"  # the files graded then are in backups/, not in the folder
        if s.quiz:
            checks += f" · quiz {s.quiz['best']}/{s.quiz['total']}"
        state = Text(s.state if not s.broken else "broken", style=STYLES[s.state] if not s.broken else "magenta")
        rows.append(("▶" if nxt is s else " ", s.id, s.title, state, checks))
    if console.width >= WIDE:
        table = Table.grid(padding=(0, 1))
        for _ in range(5):
            table.add_column()
        for marker, chapter_id, title, state, checks in rows:
            table.add_row(Text(marker, style="bold cyan"), Text(chapter_id, style="bold"), title, state, checks)
        console.print(table)
    else:  # narrow: a chapter on two lines, each wrapped between words
        for marker, chapter_id, title, state, checks in rows:
            print_hanging(console, f"{marker} {chapter_id} ", title)
            print_hanging(console, "    ", f"{state.plain} · {checks}", style=str(state.style))
    for s in states:
        if s.broken:
            console.print(Text(f"{s.id}: {s.broken}", style="magenta"))
    if nxt is None:
        console.print(Text("Every chapter has passed. Well done!", style="bold green"))
    else:
        if nxt.state == NOT_STARTED:
            console.print(f"▶ Next: {nxt.id}. Read `course lesson {nxt.id}`, then `course start {nxt.id}`.")
        else:
            console.print(f"▶ Continue with {nxt.id}: `course watch {nxt.id}` (lesson: `course lesson {nxt.id}`).")
    return nxt
