"""Grade a whole class: `grade chapter-N --batch DIR` and its gradebook.

DIR holds one submission per student: a folder, a single `.py` file, or a `.zip`; the student id
is the name without its extension. Every submission is graded by the same engine learners run,
on a pool of warm workers; one that hangs, crashes or misbehaves is stopped and reported, and
the batch goes on. The gradebook (written atomically, by default to `DIR-gradebook/` next to
DIR) holds, per chapter:

    chapter-N.csv          student, one column per check (the points earned; the status for a
                           check worth no points), score, max_score, percent, status, then the
                           stamps (submission hash, checks hash, grader version)
    chapter-N.jsonl        one full report per student (with the student id)
    chapter-N-summary.txt  how many students passed each check, and where most got stuck

A re-run reuses a student's previous report when their files, the chapter's checks and the
grader version are unchanged (`force` re-grades everyone).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from course.atomic import write_atomic
from grader import __version__
from grader.engine import unable_to_grade
from grader.manifest import FILES_CHECK, Chapter
from grader.pool import WorkerPool
from grader.report import Report
from grader.submission import Submission, SubmissionError, checks_fingerprint, locate
from grader.workerproc import Sandboxing

MAX_FILES = 200
"""Files one zip may hold."""
MAX_BYTES = 20 * 1024 * 1024
"""Bytes one zip may unpack to, all files together."""
MAX_SOURCE_BYTES = 1024 * 1024
"""Bytes one graded or support file may have (a course exercise is a few kilobytes)."""


class BatchError(Exception):
    """DIR cannot be graded as a batch (a usage error: exit code 2)."""


class Rejected(Exception):
    """This student's submission cannot be graded (it is reported as failed, with the reason)."""


@dataclass(frozen=True)
class Entry:
    student: str
    path: Path


@dataclass
class BatchResult:
    chapter: Chapter
    reports: dict[str, Report]
    """student -> report, in student order."""
    graded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    """Names in DIR that are not submissions."""
    out: Path | None = None


Progress = Callable[[Entry, Report, bool], None]
"""Called once per student as they finish: (entry, report, reused)."""


def default_out(folder: Path) -> Path:
    folder = folder.resolve()
    return folder.parent / f"{folder.name}-gradebook"


def discover(folder: Path, skip: Path | None = None) -> tuple[list[Entry], list[str]]:
    """The submissions in `folder` (sorted by student) and the names that are not submissions."""
    if not folder.is_dir():
        raise BatchError(f"{folder} is not a folder of submissions")
    entries: dict[str, Entry] = {}
    ignored: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == "__pycache__" or (skip and path.resolve() == skip.resolve()):
            continue
        if path.is_dir() or (path.is_file() and path.suffix in (".py", ".zip")):
            student = path.name if path.is_dir() else path.stem
            if student in entries:
                raise BatchError(f"{entries[student].path.name} and {path.name} are both student {student!r}; "
                                 "keep one submission per student")
            entries[student] = Entry(student, path)
        else:
            ignored.append(path.name)
    return [entries[s] for s in sorted(entries)], ignored


def unpack(archive: Path, dest: Path) -> Path:
    """Extract a student's zip into `dest` safely and return the folder holding the submission.

    Refused (raising Rejected): paths that are absolute or climb out with `..`, symbolic links,
    more than MAX_FILES files or MAX_BYTES bytes (counted while extracting, not trusted from the
    header), encrypted or corrupt archives. One top folder is looked through; `__MACOSX/` is ignored.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.filename.replace("\\", "/").startswith("__MACOSX/")]
            if sum(not m.is_dir() for m in members) > MAX_FILES:
                raise Rejected(f"{archive.name} holds more than {MAX_FILES} files")
            budget = MAX_BYTES
            for member in members:
                target = _member_path(member, dest)
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(target, "wb") as out:
                    while chunk := src.read(65536):
                        budget -= len(chunk)
                        if budget < 0:
                            raise Rejected(f"{archive.name} unpacks to more than {MAX_BYTES // (1024 * 1024)} MB")
                        out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise Rejected(f"{archive.name} is not a readable zip file ({exc})") from None
    except RuntimeError as exc:  # encrypted members
        raise Rejected(f"{archive.name} cannot be unpacked: {exc}") from None
    inside = [p for p in dest.iterdir() if not p.name.startswith(".")]
    if len(inside) == 1 and inside[0].is_dir():
        return inside[0]
    return dest


def _member_path(member: zipfile.ZipInfo, dest: Path) -> Path:
    name = member.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or ".." in parts or ":" in parts[0]:
        raise Rejected(f"the zip holds an unsafe path: {member.filename!r}")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise Rejected(f"the zip holds a symbolic link: {member.filename!r}")
    return dest.joinpath(*parts)


def prepare(chapter: Chapter, entry: Entry, staging: Path) -> Submission:
    """The submission of one student, ready for the engine (raises Rejected if it cannot be)."""
    path = entry.path
    if path.suffix == ".zip" and path.is_file():
        folder = Path(tempfile.mkdtemp(prefix=f"{entry.student[:40]}-", dir=staging))
        submission = _locate(chapter, unpack(path, folder))
        submission = replace(submission, origin=path.resolve())
    else:
        submission = _locate(chapter, path)
    for name, file in submission.files.items():
        if file.is_symlink() and file.resolve() != file:
            raise Rejected(f"{name} is a symbolic link; submit the file itself")
        if file.is_file() and file.stat().st_size > MAX_SOURCE_BYTES:
            raise Rejected(f"{name} is larger than {MAX_SOURCE_BYTES // 1024} KB")
    return submission


def _locate(chapter: Chapter, path: Path) -> Submission:
    try:
        return locate(chapter, path)
    except SubmissionError as exc:
        raise Rejected(str(exc)) from None


def grade_entry(pool: WorkerPool, chapter: Chapter, entry: Entry, staging: Path) -> Report:
    """Grade one student; whatever happens, a report comes back (the batch never stops)."""
    placeholder = Submission(origin=entry.path.resolve(), folder=entry.path.parent.resolve(), edited={},
                             files={entry.path.name: entry.path} if entry.path.is_file() else {})
    try:
        submission = prepare(chapter, entry, staging)
    except Rejected as exc:
        return unable_to_grade(chapter, placeholder, str(exc))
    try:
        return pool.grade(chapter, submission)
    except Exception as exc:  # noqa: BLE001 - one submission must not stop the batch
        return unable_to_grade(chapter, submission, f"the grader failed on this submission: "
                               f"{type(exc).__name__}: {exc}", grader_fault=True)


def load_previous(path: Path) -> dict[str, Report]:
    """The reports of an earlier run (empty if there is none or it cannot be read)."""
    previous: dict[str, Report] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return previous
    for line in lines:
        try:
            data = json.loads(line)
            previous[str(data.pop("student"))] = Report.model_validate(data)
        except (ValueError, KeyError, TypeError):
            continue  # an unreadable line is simply graded again
    return previous


def still_valid(report: Report | None, chapter: Chapter, submission_hash: str, checks_hash: str) -> bool:
    """Does an earlier report judge exactly these files with exactly these checks?"""
    return (report is not None and report.status != "error" and report.chapter == chapter.id
            and report.submission_hash == submission_hash and report.checks_hash == checks_hash
            and report.grader_version == __version__)


def run_batch(chapter: Chapter, folder: Path, *, out: Path | None = None, jobs: int | None = None,
              force: bool = False, sandbox: Sandboxing = "process", progress: Progress | None = None) -> BatchResult:
    """Grade every submission in `folder` and write the gradebook to `out`."""
    out = (out or default_out(folder)).resolve()
    entries, ignored = discover(folder, skip=out)
    previous = {} if force else load_previous(out / f"{chapter.id}.jsonl")
    checks_hash = checks_fingerprint(chapter)
    result = BatchResult(chapter=chapter, reports={}, ignored=ignored, out=out)
    staging = Path(tempfile.mkdtemp(prefix="grade-batch-"))
    try:
        to_grade: list[Entry] = []
        for entry in entries:
            kept = previous.get(entry.student)
            try:
                current = prepare(chapter, entry, staging).fingerprint() if kept else None
            except Rejected:
                current = None
            if kept is not None and current is not None and still_valid(kept, chapter, current, checks_hash):
                result.reports[entry.student] = kept
                result.reused.append(entry.student)
                if progress:
                    progress(entry, kept, True)
            else:
                to_grade.append(entry)
        with WorkerPool(jobs or os.cpu_count() or 1, chapter.preload, sandbox=sandbox) as pool:
            graded = pool.map_unordered(lambda p, e: grade_entry(p, chapter, e, staging), to_grade)
            for entry, report in graded:
                result.reports[entry.student] = report
                result.graded.append(entry.student)
                if progress:
                    progress(entry, report, False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        result.reports = dict(sorted(result.reports.items()))
        write_gradebook(result, out)
    return result


# -- the gradebook ----------------------------------------------------------------------------

def write_gradebook(result: BatchResult, out: Path) -> None:
    chapter = result.chapter.id
    write_atomic(out / f"{chapter}.csv", gradebook_csv(result))
    write_atomic(out / f"{chapter}.jsonl", "".join(
        json.dumps({"student": student, **report.model_dump(mode="json")}) + "\n"
        for student, report in result.reports.items()))
    write_atomic(out / f"{chapter}-summary.txt", summary(result))


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv(result: BatchResult) -> str:
    check_ids = [FILES_CHECK, *(c.id for c in result.chapter.checks)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *check_ids, "score", "max_score", "percent", "status",
                     "submission_hash", "checks_hash", "grader_version"])
    for student, report in result.reports.items():
        # a check worth points shows the points earned; one worth none (like `files`) its status
        cells = {c.id: float(c.score) if c.points else c.status for c in report.checks}
        percent = 100 * report.score / report.max_score if report.max_score else 0.0
        writer.writerow([_cell(v) for v in (
            student, *(cells.get(i, "") for i in check_ids), float(report.score), float(report.max_score),
            float(round(percent, 1)), report.status, report.submission_hash, report.checks_hash,
            report.grader_version)])
    return buffer.getvalue()


def check_stats(result: BatchResult) -> list[tuple[str, str, int, int]]:
    """Per check, in order: (id, title, students who passed it, students it stopped first)."""
    passed: dict[str, int] = {}
    first: dict[str, int] = {}
    titles: dict[str, str] = {}
    for report in result.reports.values():
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
    if not total:
        return f"{chapter.id} · {chapter.title}\nNo submissions were found.\n"
    all_passed = sum(r.status == "pass" for r in reports.values())
    max_score = max(r.max_score for r in reports.values())
    mean = sum(r.score for r in reports.values()) / total
    lines = [
        f"{chapter.id} · {chapter.title}",
        f"{total} submissions ({len(result.graded)} graded now, {len(result.reused)} unchanged since the last run); "
        f"{all_passed} passed every check; mean score {mean:.1f}/{max_score:g}",
        "",
        f"{'check':<32} {'passed':>9} {'stuck here':>11}",
    ]
    stats = check_stats(result)
    for check_id, _title, passed, first in stats:
        lines.append(f"{check_id:<32} {f'{passed}/{total}':>9} {first:>11}")
    worst = max(stats, key=lambda s: s[3])
    if worst[3]:
        lines += ["", f"Most students who did not pass were stopped first by “{worst[1]}” ({worst[0]}): "
                      f"{worst[3]} of {total - all_passed}."]
    broken = [s for s, r in reports.items() if r.status == "error"]
    if broken:
        lines += ["", f"Could not be graded cleanly (a grader or course problem, re-run to retry): {', '.join(broken)}"]
    if result.ignored:
        lines += ["", f"Not submissions (ignored): {', '.join(result.ignored)}"]
    return "\n".join(lines) + "\n"
