"""A batch's gradebook: its files, written atomically, and the journal that keeps each report
the moment it is graded.

    chapter-N.csv            student, one column per check worth points (the points earned), score,
                             max_score, percent, status, one column per check worth none (its status:
                             `files` and any check with points = 0), then the stamps (submission
                             hash, checks hash, grader version), and the integrity flags (where the
                             code reaches into the grader; empty if none)
    chapter-N.jsonl          one full report per student (with the student id)
    chapter-N-summary.txt    how many students passed each check, where most got stuck, and who
                             could not be graded, was skipped or was not reached
    report.html              the whole folder's gradebook as a page, charts and every student's report
                             (`course.serve.gradebook`): one file to mail; rewritten by each batch once
                             the others are written
    chapter-N.jsonl.partial  the journal: one line per student graded so far in this run, handed to
                             the operating system as each one finishes (so a killed process loses
                             none of them); removed once the files are written

If the batch is killed before it writes the files, the journal still holds every report it
finished, and the next run takes them from there instead of grading those students again.

Every file is created with the permissions the umask gives (like any file the user creates), so a
gradebook in a shared folder can be read by those the folder is shared with.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from course.atomic import write_atomic
from grader.manifest import FILES_CHECK, Chapter
from grader.report import Report


REPORT_FILE = "report.html"


@dataclass
class BatchResult:
    chapter: Chapter
    reports: dict[str, Report]
    """student -> report, in student order."""
    graded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    """Names in DIR that are not submissions."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Names in DIR that look like submissions but were not graded -> why."""
    pending: list[str] = field(default_factory=list)
    """Students not graded because the batch stopped first (interrupted, killed)."""
    out: Path | None = None


def names(out: Path, chapter_id: str) -> tuple[Path, Path, Path]:
    """The gradebook's three files in `out`: CSV, JSON lines, summary."""
    return out / f"{chapter_id}.csv", out / f"{chapter_id}.jsonl", out / f"{chapter_id}-summary.txt"


def journal_path(out: Path, chapter_id: str) -> Path:
    return out / f"{chapter_id}.jsonl.partial"


def report_line(student: str, report: Report) -> str:
    return json.dumps({"student": student, **report.model_dump(mode="json")}) + "\n"


def load_previous(out: Path, chapter_id: str) -> dict[str, Report]:
    """The reports of earlier runs: the last gradebook, then the journal of a run that did not finish."""
    previous: dict[str, Report] = {}
    for path in (names(out, chapter_id)[1], journal_path(out, chapter_id)):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                data = json.loads(line)
                previous[str(data.pop("student"))] = Report.model_validate(data)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # an unreadable line (a half-written last one, say) is simply graded again
    return previous


class Journal:
    """Appends each report to the journal as it comes, flushed at once (not synced: that would cost
    every student a disk round-trip, and what the kernel holds survives the process being killed)."""

    def __init__(self, out: Path, chapter_id: str):
        self.path = journal_path(out, chapter_id)
        self._file: IO[str] | None = None

    def record(self, student: str, report: Report) -> None:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the whole run
        self._file.write(report_line(student, report))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        """The gradebook holds everything now: the journal is no longer needed."""
        self.close()
        self.path.unlink(missing_ok=True)


def write_gradebook(result: BatchResult, out: Path) -> None:
    csv_path, jsonl_path, summary_path = names(out, result.chapter.id)
    lines = "".join(report_line(student, report) for student, report in result.reports.items())
    for path, text in ((csv_path, gradebook_csv(result)), (jsonl_path, lines), (summary_path, summary(result))):
        write_atomic(path, text)
        os.chmod(path, 0o666 & ~umask())  # write_atomic's temp file is private; the gradebook is an ordinary file


def umask() -> int:
    """The process's umask, read without changing it (Linux), else set and put back at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv(result: BatchResult) -> str:
    """Points columns (the checks worth points), the totals, then status columns (the checks worth none)."""
    scored = [c.id for c in result.chapter.checks if c.points]
    unscored = [FILES_CHECK, *(c.id for c in result.chapter.checks if not c.points)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *scored, "score", "max_score", "percent", "status", *unscored,
                     "submission_hash", "checks_hash", "grader_version", "integrity"])
    for student, report in result.reports.items():
        points = {c.id: float(c.score) for c in report.checks}
        statuses = {c.id: c.status for c in report.checks}
        percent = 100 * report.score / report.max_score if report.max_score else 0.0
        writer.writerow([_cell(v) for v in (
            student, *(points.get(i, "") for i in scored), float(report.score), float(report.max_score),
            float(round(percent, 1)), report.status, *(statuses.get(i, "") for i in unscored),
            report.submission_hash, report.checks_hash, report.grader_version,
            report.flagged().removeprefix("flagged: "))])
    return buffer.getvalue()


def check_stats(reports: Mapping[str, Report]) -> list[tuple[str, str, int, int]]:
    """Per check, in order: (id, title, students who passed it, students it stopped first)."""
    passed: dict[str, int] = {}
    first: dict[str, int] = {}
    titles: dict[str, str] = {}
    for report in reports.values():
        stopped = next((c.id for c in report.checks if c.status in ("fail", "error")), None)
        if stopped:
            first[stopped] = first.get(stopped, 0) + 1
        for c in report.checks:
            titles.setdefault(c.id, c.title)
            passed[c.id] = passed.get(c.id, 0) + (c.status == "pass")
    return [(i, titles[i], passed.get(i, 0), first.get(i, 0)) for i in titles]


def summary(result: BatchResult) -> str:
    reports = result.reports
    total = len(reports)
    chapter = result.chapter
    lines = [f"{chapter.id} · {chapter.title}"]
    if not total:
        lines.append("No submissions were graded." if result.pending else "No submissions were found.")
    else:
        all_passed = sum(r.status == "pass" for r in reports.values())
        max_score = max(r.max_score for r in reports.values())
        mean = sum(r.score for r in reports.values()) / total
        lines += [
            f"{total} submissions ({len(result.graded)} graded now, {len(result.reused)} unchanged since the last "
            f"run); {all_passed} passed every check; mean score {mean:.1f}/{max_score:g}",
            "",
            f"{'check':<32} {'passed':>9} {'stuck here':>11}",
        ]
        stats = check_stats(result.reports)
        for check_id, _title, passed, first in stats:
            lines.append(f"{check_id:<32} {f'{passed}/{total}':>9} {first:>11}")
        worst = max(stats, key=lambda s: s[3])
        if worst[3]:
            lines += ["", f"Most students who did not pass were stopped first by “{worst[1]}” ({worst[0]}): "
                          f"{worst[3]} of {total - all_passed}."]
    flagged = {s: r for s, r in reports.items() if r.integrity}
    if flagged:
        lines += ["", "Flagged (graded as usual, but the code reaches into the grader: look at it):"]
        lines += [f"  {s}: graded {r.status} · {r.flagged()}" for s, r in flagged.items()]
    broken = [s for s, r in reports.items() if r.status == "error"]
    if broken:
        lines += ["", f"Could not be graded cleanly (a grader or course problem, re-run to retry): {', '.join(broken)}"]
    if result.pending:
        lines += ["", f"Not graded: the batch stopped before {len(result.pending)} students; run it again to grade "
                      f"them (the others are kept): {', '.join(result.pending)}"]
    if result.skipped:
        lines += ["", "Skipped:"] + [f"  {name}: {why}" for name, why in result.skipped.items()]
    if result.ignored:
        lines += ["", f"Not submissions (ignored): {', '.join(result.ignored)}"]
    return "\n".join(lines) + "\n"
