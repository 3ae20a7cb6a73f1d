"""The gradebook of `grade --batch` as a page: `report.html` (mailed, opened from disk) and the pages
`course serve --gradebook DIR` serves.

Read from what the gradebook folder holds: every `chapter-N.jsonl` (with the journal of a batch that
was killed before it finished), the `Not graded`/`Skipped`/`Not submissions` paragraphs of
`chapter-N-summary.txt`, and the steps of the chapter's lesson (to name the step each check belongs
to). One page per folder, one section per chapter graded into it:

- what to look at first: integrity flags, submissions the grader failed on (errors), uploads it
  could not use, students not graded;
- the score histogram and one pass-rate bar per check, labelled with the check's title and the
  lesson step it verifies, and per step how many students passed all of its checks;
- every student with score, status and the check that stopped them, each a click away from their
  report (further down the same page in report.html; `student_href` links elsewhere instead).

The pages are standalone: inline CSS and SVG, no script, nothing fetched. Every text a student
shaped (names, messages, output) is escaped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from course.atomic import write_atomic
from course.gradebook import REPORT_FILE, check_stats, journal_path, load_previous, umask
from course.serve.svg import Bin, histogram, rate_bar
from grader.content import FILES_CHECK, chapters_dir
from grader.render import check_text
from grader.render.text import SYMBOLS as TEXT_SYMBOLS
from grader.render.text import summary
from grader.report import CheckResult, Report
from grader.safetext import printable

BOOK_FILE = re.compile(r"^(chapter-(\d+))\.jsonl(\.partial)?$")
LEFTOVERS = ("Not graded:", "Skipped:", "Not submissions")
"""The summary's paragraphs about names that have no report (they are in no other file)."""
MAX_BINS_ONE_PER_SCORE = 20
"""Up to this many points, the histogram has one bar per whole score; beyond, ten equal bins."""
SYMBOLS = {status: symbol for status, (symbol, _style) in TEXT_SYMBOLS.items()}
"""The checklist's symbols (`grader.render.text`), without its colours."""
WORDS = {"pass": "passed", "fail": "failed", "skip": "skipped", "error": "error"}


class UnknownStudent(KeyError):
    """No chapter in the gradebook has a report for this student."""


@dataclass(frozen=True)
class CheckRate:
    id: str
    title: str
    task: int | None
    passed: int
    total: int
    stuck: int
    """Students this check stopped first (their first failed check)."""

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass(frozen=True)
class Step:
    number: int
    text: str
    """The step's instruction, from the lesson ("" if the lesson cannot be read)."""
    checks: tuple[str, ...]
    through: int
    """Students who passed every check of this step."""


@dataclass(frozen=True)
class Attention:
    student: str
    kind: str
    """`flagged`, `error` (the grader failed: re-run) or `unusable` (the upload could not be graded)."""
    text: str


@dataclass
class Book:
    """One chapter of the gradebook, as the page shows it."""

    chapter: str
    title: str
    reports: dict[str, Report]
    unfinished: bool
    """A batch has not finished (it runs, or was killed): its journal's reports are included."""
    steps_text: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.reports)

    @property
    def max_score(self) -> float:
        return max((r.max_score for r in self.reports.values()), default=0.0)

    @property
    def mean(self) -> float:
        return sum(r.score for r in self.reports.values()) / self.total if self.total else 0.0

    @property
    def all_passed(self) -> int:
        return sum(r.status == "pass" for r in self.reports.values())

    def bins(self) -> list[Bin]:
        return score_bins([r.score for r in self.reports.values()], self.max_score)

    def rates(self) -> list[CheckRate]:
        tasks: dict[str, int | None] = {}
        for report in self.reports.values():
            for check in report.checks:
                tasks.setdefault(check.id, check.task)
        return [CheckRate(i, title, tasks[i], passed, self.total, first)
                for i, title, passed, first in check_stats(self.reports)]

    def steps(self) -> list[Step]:
        by_step: dict[int, list[str]] = {}
        for rate in self.rates():
            if rate.task is not None:
                by_step.setdefault(rate.task, []).append(rate.id)
        steps = []
        for number, ids in sorted(by_step.items()):
            through = sum(all(c.status == "pass" for c in r.checks if c.id in ids) for r in self.reports.values())
            text = self.steps_text[number - 1] if number <= len(self.steps_text) else ""
            steps.append(Step(number, text, tuple(ids), through))
        return steps

    def hardest(self) -> Step | None:
        """The step fewest students got through (None if every student got through every step)."""
        steps = [s for s in self.steps() if s.through < self.total]
        return min(steps, key=lambda s: (s.through, s.number)) if steps else None

    def attention(self) -> list[Attention]:
        """Flags, then grader errors, then unusable uploads: each kind in student order."""
        found: dict[str, list[Attention]] = {"flagged": [], "error": [], "unusable": []}
        for student, report in self.reports.items():
            if report.integrity:
                where = report.flagged().removeprefix("flagged: ")
                found["flagged"].append(Attention(student, "flagged", f"graded {report.status} · {where}"))
            if report.status == "error":
                what = [check_text(c) for c in report.checks if c.status == "error"] + report.notes
                found["error"].append(Attention(student, "error", "\n".join(what)))
            elif _unusable(report):
                found["unusable"].append(Attention(student, "unusable", report.checks[0].message))
        return [a for kind in found.values() for a in kind]

    def first_problem(self, report: Report) -> CheckResult | None:
        return next((c for c in report.checks if c.status in ("fail", "error")), None)


def _unusable(report: Report) -> bool:
    first = report.checks[0] if report.checks else None
    return first is not None and first.id == FILES_CHECK and first.diagnosis == "bad-submission"


def score_bins(scores: list[float], max_score: float) -> list[Bin]:
    """One bin per whole score 0..max (when scores are whole and max is at most
    MAX_BINS_ONE_PER_SCORE), else ten equal bins over 0..max, the last one closed."""
    whole = float(max_score).is_integer() and all(float(s).is_integer() for s in scores)
    if whole and max_score <= MAX_BINS_ONE_PER_SCORE:
        return [Bin(str(n), sum(s == n for s in scores)) for n in range(int(max_score) + 1)]
    width = (max_score or 1) / 10
    bins = []
    for n in range(10):
        low, high = n * width, (n + 1) * width
        count = sum(low <= s < high or (n == 9 and s == high) for s in scores)
        bins.append(Bin(f"{round(low, 1):g}–{round(high, 1):g}", count))
    return bins


def instruction_steps(lesson: str) -> list[str]:
    """The numbered steps of a lesson's `## Instructions` section: each one's first sentence."""
    section = re.search(r"^## Instructions[ \t]*$(.*?)(?=^## |\Z)", lesson, re.M | re.S)
    if not section:
        return []
    items = re.split(r"^\d+\. ", section.group(1), flags=re.M)[1:]
    return [re.split(r"(?<=[.!?])\s", " ".join(item.split("\n\n")[0].split()), maxsplit=1)[0] for item in items]


def _lesson_steps(chapter_id: str) -> list[str]:
    try:
        return instruction_steps((chapters_dir() / chapter_id / "lesson.md").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return []  # a chapter this course does not have: the page shows step numbers only


def _leftovers(folder: Path, chapter_id: str) -> list[str]:
    try:
        text = (folder / f"{chapter_id}-summary.txt").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [p.strip("\n") for p in text.split("\n\n") if p.startswith(LEFTOVERS)]


def load_books(folder: Path) -> list[Book]:
    """Every chapter graded into `folder`, by chapter number."""
    try:
        found = [m for p in folder.iterdir() if (m := BOOK_FILE.match(p.name))]
    except OSError:
        return []
    chapters = sorted({(int(m.group(2)), m.group(1)) for m in found})
    books = []
    for _, chapter_id in chapters:
        reports = dict(sorted(load_previous(folder, chapter_id).items()))
        title = next((r.title for r in reports.values()), "")
        books.append(Book(chapter_id, title, reports, journal_path(folder, chapter_id).exists(),
                          _lesson_steps(chapter_id), _leftovers(folder, chapter_id)))
    return books


def _code(text: str) -> Markup:
    """Escaped text with `backticked` spans as <code>."""
    return Markup(re.sub(r"`([^`\n]+)`", r"<code>\1</code>", str(escape(printable(text)))))


def _brief(message: str, limit: int = 160) -> str:
    """A message's first line, cut at a word near `limit` (an unclosed `code span` loses its backtick)."""
    line = message.splitlines()[0] if message else ""
    if len(line) > limit:
        line = line[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
        if line.count("`") % 2:
            line = "".join(line.rsplit("`", 1))
    return line


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["code"] = _code
    env.filters["clean"] = printable
    env.filters["brief"] = _brief
    env.globals.update(symbols=SYMBOLS, words=WORDS, histogram=histogram, rate_bar=rate_bar,
                       check_text=check_text, summary=lambda r: summary(r).plain, step_of=_step_label)
    return env


def _step_label(task: int | None) -> str:
    return f"step {task}" if task is not None else "all steps"


def render_report(gradebook_dir: Path, *, student_href: Callable[[str], str] | None = None) -> str:
    """The whole gradebook as one page. Students link to `student_href(student)`, or (without it) to
    their reports further down the same page, which are then included."""
    books = load_books(gradebook_dir)
    links: dict[tuple[str, str], str] = {}
    for book in books:
        for number, student in enumerate(book.reports):
            links[book.chapter, student] = student_href(student) if student_href else f"#{book.chapter}-s{number}"
    return _environment().get_template("gradebook.html").render(
        books=books, links=links, standalone=student_href is None, folder=gradebook_dir.name)


def render_student(gradebook_dir: Path, student: str) -> str:
    """One student's reports (one per chapter graded into the folder) as a page; UnknownStudent if none."""
    books = [b for b in load_books(gradebook_dir) if student in b.reports]
    if not books:
        raise UnknownStudent(student)
    return _environment().get_template("student.html").render(books=books, student=student,
                                                               folder=gradebook_dir.name)


def write_report(gradebook_dir: Path) -> Path:
    """Write `report.html` into the gradebook folder (atomically, with the umask's permissions)."""
    path = gradebook_dir / REPORT_FILE
    write_atomic(path, render_report(gradebook_dir))
    os.chmod(path, 0o666 & ~umask())
    return path


__all__ = ["REPORT_FILE", "Book", "CheckRate", "Step", "UnknownStudent", "load_books", "render_report",
           "render_student", "score_bins", "write_report"]
