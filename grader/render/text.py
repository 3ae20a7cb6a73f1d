"""The learner's checklist: rich text, plain when piped or when NO_COLOR is set. Text the submission
shaped (messages, notes) is printed with its control characters escaped (`grader.safetext`)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from grader.report import CheckResult, Report
from grader.safetext import printable

SYMBOLS = {"pass": ("✓", "green"), "fail": ("✗", "red"), "skip": ("–", "yellow"), "error": ("!", "magenta")}


def shown_path(path: Path) -> str:
    """`path` relative to the current directory, unless that climbs out of it."""
    try:
        shown = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if shown.startswith("..") else shown


def location(check: CheckResult, folder: Path | None, files: dict[str, Path] | None = None) -> str | None:
    """`path:line[:col]` an editor can jump to (relative to the current directory when shorter).

    `files` maps a chapter file name to the file actually graded (e.g. `--path mine.py`)."""
    if not check.file:
        return None
    if files and check.file in files:
        path = files[check.file]
    else:
        path = (folder / check.file) if folder else Path(check.file)
    if not check.line and not path.exists():
        return None  # a missing file: nothing to jump to, and the message names it
    shown = shown_path(path)
    if check.line:
        shown += f":{check.line}"
        if check.column:
            shown += f":{check.column}"
    return shown


def render(report: Report, console: Console, *, folder: Path | None = None, files: dict[str, Path] | None = None,
           hint_command: str | None = None) -> None:
    console.print(Text.assemble((report.chapter, "bold"), " · ", report.title))
    for check in report.checks:
        symbol, style = SYMBOLS[check.status]
        title = _wrap(console, check.title, indent=3)
        console.print(Text.assemble(" ", (symbol, f"bold {style}"), " ", title), soft_wrap=True)
        if check.status == "pass":
            continue
        where = location(check, folder, files)
        body = check.message or ""
        if where and check.status in ("fail", "error"):
            body = f"{where}: {body}" if body else where
        if body:
            _indented(console, printable(body), check.status)
        if check.hint:
            _indented(console, f"hint: {check.hint}", "hint")
    for note in report.notes:
        console.print(Text(f"note: {printable(note)}", style="yellow"), soft_wrap=True)
    if report.integrity:
        console.print(Text(printable(report.flagged()), style="bold yellow"), soft_wrap=True)
    console.print(summary(report, hint_command), soft_wrap=not console.is_terminal)


def _wrap(console: Console, text: str, indent: int) -> str:
    """Wrap to a terminal's width with a hanging indent; leave piped output unwrapped."""
    if not console.is_terminal:
        return text.replace("\n", "\n" + " " * indent)
    width = max(console.width - indent, 20)
    lines = []
    for paragraph in text.splitlines() or [""]:
        lines.extend(textwrap.wrap(paragraph, width, break_long_words=False, break_on_hyphens=False,
                                   drop_whitespace=True) or [""])
    return ("\n" + " " * indent).join(lines)


def _indented(console: Console, text: str, kind: str) -> None:
    """Print under a check, five spaces in."""
    style = {"skip": "dim", "hint": "cyan"}.get(kind, "")
    console.print(Text("     " + _wrap(console, text, indent=5), style=style), soft_wrap=True)


def summary(report: Report, hint_command: str | None = None) -> Text:
    counts = report.counts()
    total = len(report.checks)
    parts = [f"{counts['pass']}/{total} checks passed"]
    parts += [f"{counts[k]} {word}" for k, word in (("fail", "failed"), ("skip", "skipped"), ("error", "errored"))
              if counts[k]]
    line = " · ".join(parts) + f" ({report.duration:.1f} s)"
    if report.status == "pass":
        return Text(f"All {total} checks passed ({report.duration:.1f} s). Well done!", style="bold green")
    first = next((c for c in report.checks if c.status in ("fail", "error")), None)
    text = Text(line, style="bold red" if report.status == "fail" else "bold magenta")
    if first is not None and report.status == "fail":
        text.append(f"\nNext: fix “{first.title}”", style="bold")
        if first.task is not None:
            text.append(f" (step {first.task} of the lesson's instructions)")
        if hint_command:
            text.append(f" — stuck? run `{escape(hint_command)}`")
    if report.status == "error":
        text.append("\nSome checks could not run because of a problem in the grader or the course, "
                    "not in your code.")
    return text
