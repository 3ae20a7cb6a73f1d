"""What `course watch` shows: one screen, redrawn in place, that fits the terminal whatever its size.

Top to bottom: the chapter, notes, the passed checks folded to one line and the skipped ones to a
count, the other failures one line each, then the first failure (its location and message, its
hint or the hints asked for with h), and the footer: a progress bar with the summary, the
`Next: fix ...` line and the status line (which save was graded, the keys). When the screen is too
short, the parts above the first failure shrink first, then its message; the footer always shows.
Piped output gets every part in full, as a plain log.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.text import Text

from grader.render.text import SYMBOLS, location, summary
from grader.report import CheckResult, Report

MORE = "…"


@dataclass
class Checklist:
    """Everything the checklist view of one grade shows."""

    report: Report
    folder: Path
    """The learner's chapter folder: locations are shown in it."""
    notes: list[str] = field(default_factory=list)
    first_notes: list[str] = field(default_factory=list)
    """Shown right under the first failure (how to get a missing file back)."""
    hints: Text | None = None
    """The hints asked for with h (replaces the failure's first hint)."""
    passed: list[str] = field(default_factory=list)
    """What to do now that the chapter passed."""
    bar: str = ""


@dataclass
class Fit:
    """How much of the upper parts to show; `shrink` steps through them, least useful first."""

    notes: bool = True
    """Each note in full (else one line counting them)."""
    count_notes: bool = True
    """That line (else no word of the notes)."""
    others: bool = True
    """Each other failure on its own line (else one line counting them)."""
    counts: bool = True
    """Passed and skipped on lines of their own (else one line for both)."""
    header: bool = True
    message: int | None = None
    """Lines of the first failure's message to keep (None: all)."""

    STEPS = ("notes", "others", "counts", "header", "count_notes")

    def shrink(self) -> bool:
        """Take one step down; False when nothing is left to fold."""
        for step in self.STEPS:
            if getattr(self, step):
                setattr(self, step, False)
                return True
        return False


def wrap(text: str | Text, width: int, *, prefix: str = "", indent: int | None = None, style: str = "") -> list[Text]:
    """`prefix` + `text` as physical lines of at most `width` cells, continued `indent` cells in
    (default: under the text). Long words are broken, so the count of lines is the count of rows."""
    if isinstance(text, str):
        text = Text(text, style=style)
    pad = len(prefix) if indent is None else indent
    room = max(width - pad, 10)
    lines: list[Text] = []
    for paragraph in text.split("\n", allow_blank=True):
        plain = paragraph.plain
        start = 0
        for piece in textwrap.wrap(plain, room, break_long_words=True, break_on_hyphens=False,
                                   expand_tabs=False) or [""]:
            at = plain.find(piece, start)
            part = paragraph[at:at + len(piece)] if at >= 0 else Text(piece, style=paragraph.style)
            start = at + len(piece) if at >= 0 else start
            lead = " " * pad if lines else prefix
            lines.append(Text.assemble(lead, part) if lead else part)
    return lines


def _counts(report: Report, joined: bool, width: int) -> list[Text]:
    """The passed checks folded to one line, the skipped ones to a count (both on one line when `joined`)."""
    counts = report.counts()
    parts = []
    if counts["pass"]:
        parts.append(Text.assemble(" ", (SYMBOLS["pass"][0], f"bold {SYMBOLS['pass'][1]}"),
                                   f" {counts['pass']} {'check' if counts['pass'] == 1 else 'checks'} passed"))
    if counts["skip"]:
        why = "" if joined and parts else ": each waits for a check that has not passed"
        parts.append(Text.assemble(" ", (SYMBOLS["skip"][0], f"bold {SYMBOLS['skip'][1]}"),
                                   f" {counts['skip']} skipped{why}"))
    if joined and len(parts) == 2:
        parts = [Text.assemble(parts[0], " ·", parts[1])]
    return [line for part in parts for line in wrap(part, width, indent=3)]


def _title(check: CheckResult, width: int, *, one_line: bool, dim: bool = False) -> list[Text]:
    symbol, style = SYMBOLS[check.status]
    line = Text.assemble(" ", (symbol, f"bold {style}"), " ", (check.title, "dim" if dim else "bold"))
    if one_line:
        line.truncate(width, overflow="ellipsis")
        return [line]
    return wrap(line, width, indent=3)


def _failure(view: Checklist, check: CheckResult, width: int, message_lines: int | None) -> tuple[list[Text], list[Text]]:
    """The first failure: (its title and message, which may be cut; its notes and hints, which may not)."""
    where = location(check, view.folder)
    body = check.message or ""
    if where:
        body = f"{where}: {body}" if body else where
    message = wrap(body, width, prefix="     ") if body else []
    if message_lines is not None and len(message) > max(message_lines, 2):
        message = message[:max(message_lines, 2) - 1] + [Text("     " + MORE, style="dim")]
    tail: list[Text] = []
    for note in view.first_notes:
        tail += wrap(note, width, prefix="     ", style="yellow")
    if view.hints is not None:
        tail += [line for part in view.hints.split("\n") for line in wrap(part, width, indent=_hanging(part.plain))]
    elif check.hint:
        tail += wrap(f"hint: {check.hint}", width, prefix="     ", style="cyan")
    return _title(check, width, one_line=False) + message, tail


def _hanging(line: str) -> int:
    """Where a line's continuation starts: under its text, after any indent and `1. ` numbering."""
    found = re.match(r"\s*(?:\d+\.\s+)?", line)
    return found.end() if found else 0


def footer(view: Checklist, status: str, width: int) -> list[Text]:
    """The bar and summary, the `Next: fix` line, what to do after a pass, and the status line."""
    report = view.report
    lines: list[Text] = []
    for line in view.passed:
        lines += wrap(line, width, style="bold green" if not lines else "")
    head, *rest = summary(report).split("\n")
    lines += wrap(Text.assemble(view.bar + " " if view.bar else "", head), width)
    for part in rest:
        lines += wrap(part, width)
    return lines + wrap(status, width, style="dim")


def checklist(view: Checklist, status: str, width: int, height: int | None) -> list[Text]:
    """The checklist screen as physical lines: all of it, or (with a `height`) what fits, bottom kept."""
    fit = Fit()
    while True:
        lines = _checklist(view, status, width, fit)
        if height is None or len(lines) <= height:
            return lines
        if not fit.shrink():
            break
    # Still too tall: cut the first failure's message to what is left, down to its first line and `…`.
    fit.message = 2
    short = len(_checklist(view, status, width, fit))
    fit.message = 2 + height - short
    return _checklist(view, status, width, fit)[-height:]


def _checklist(view: Checklist, status: str, width: int, fit: Fit) -> list[Text]:
    report = view.report
    lines: list[Text] = []
    if fit.header:
        lines += wrap(Text.assemble((report.chapter, "bold"), " · ", report.title), width)
    if fit.notes:
        for note in [*view.notes, *(f"note: {note}" for note in report.notes)]:
            lines += wrap(note, width, style="yellow")
    elif fit.count_notes and (view.notes or report.notes):
        count = len(view.notes) + len(report.notes)
        lines += wrap(f"({count} {'note' if count == 1 else 'notes'} hidden: make the window taller to read "
                      f"{'it' if count == 1 else 'them'})", width, style="yellow")
    lines += _counts(report, not fit.counts, width)
    failures = [c for c in report.checks if c.status in ("fail", "error")]
    if failures:
        first, others = failures[0], failures[1:]
        if fit.others:
            for check in others:
                lines += _title(check, width, one_line=True, dim=True)
        elif others:
            lines += wrap(f" ✗ {len(others)} more {'check' if len(others) == 1 else 'checks'} failed", width,
                          indent=3, style="dim")
        head, tail = _failure(view, first, width, fit.message)
        lines += head + tail
    return lines + footer(view, status, width)


def panel(content: Text, status: str, width: int, height: int | None) -> list[Text]:
    """Another view (the chapter list) above the status line: its end kept when too tall."""
    lines = [line for part in content.split("\n") for line in wrap(part, width)] + wrap(status, width, style="dim")
    return lines if height is None or len(lines) <= height else lines[-height:]


def draw(console: Console, lines: list[Text], *, in_place: bool) -> None:
    """Show `lines`: over the previous screen on a terminal (in one write, with no newline after the
    last line, so a screen as tall as the terminal does not scroll), appended when piped."""
    with console.capture() as captured:
        console.print(Text("\n").join(lines), no_wrap=True, overflow="crop", end="" if in_place else "\n")
    text = captured.get()
    console.file.write(("\x1b[H\x1b[2J" + text) if in_place else text)
    console.file.flush()

