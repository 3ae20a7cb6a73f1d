"""What the chapter page's checklist shows of a live grade: plain data for the template."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from course import hints
from course.listing import bar
from course.serve.live import LiveChapter
from grader.outline import ChapterOutline
from grader.report import CheckResult

SYMBOLS = {"pass": "✓", "fail": "✗", "skip": "–", "error": "!"}
WORDS = {"pass": "passed", "fail": "failed", "skip": "skipped", "error": "broke (the course's fault)"}


@dataclass
class Item:
    check: CheckResult
    symbol: str
    word: str
    where: str | None = None
    """`database.py:12`"""
    href: str | None = None
    """A link that opens the file at the line in VS Code."""


@dataclass
class View:
    chapter_id: str
    status: str
    """waiting | pass | fail | error"""
    which: str = ""
    grading: str | None = None
    failed: str | None = None
    summary: str = ""
    bar: str = ""
    items: list[Item] = field(default_factory=list)
    first: Item | None = None
    hints: list[str] = field(default_factory=list)
    """The hints revealed for the first failure (the first one at least)."""
    more_hints: bool = False
    notes: list[str] = field(default_factory=list)


def vscode_link(path: Path, line: int | None, column: int | None) -> str:
    where = quote(str(path.resolve()))
    return f"vscode://file{where}" + (f":{line}" if line else "") + (f":{column}" if line and column else "")


def item(check: CheckResult, folder: Path) -> Item:
    found = Item(check, SYMBOLS[check.status], WORDS[check.status])
    if check.file:
        found.where = check.file + (f":{check.line}" if check.line else "")
        found.href = vscode_link(folder / check.file, check.line, check.column)
    return found


def view(live: LiveChapter) -> View:
    """The checklist of the chapter's latest grade (and whether a newer one is under way)."""
    shown = View(live.chapter.id, "waiting", grading=live.grading, failed=live.failed)
    grade = live.grade
    if grade is None:
        return shown
    report = grade.report
    counts = report.counts()
    shown.status = report.status
    shown.which = grade.which
    shown.notes = grade.notes
    shown.items = [item(check, live.folder) for check in report.checks]
    shown.bar = bar(counts["pass"], len(report.checks), 20)
    parts = [f"{counts['pass']} of {len(report.checks)} checks passed"]
    parts += [f"{counts[k]} {w}" for k, w in (("fail", "failed"), ("skip", "skipped"), ("error", "errored")) if counts[k]]
    shown.summary = " · ".join(parts)
    shown.first = next((i for i in shown.items if i.check.status in ("fail", "error")), None)
    if shown.first is not None and shown.first.check.status == "fail":
        try:
            found = hints.revealed(live.workspace, ChapterOutline.of(live.chapter))
        except hints.NoHint:
            found = None
        if found is not None and found.check_id == shown.first.check.id:
            shown.hints = list(found.hints[:found.shown])
            shown.more_hints = found.shown < len(found.hints)
        elif shown.first.check.hint:
            shown.hints = [shown.first.check.hint]
    return shown
