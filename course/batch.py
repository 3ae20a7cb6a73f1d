"""Grade a whole class: `grade chapter-N --batch DIR` and its gradebook (`course.gradebook`).

DIR holds one submission per student: a folder, a single `.py` file, or a `.zip` (unpacked by
`course.unzip`); the student id is the name without its extension, with any control character
or undecodable byte written as an escape (`\\x1b`, `\\xe9`), so it is safe in a terminal and in
every file. Every submission is graded by the same engine learners run, on a pool of warm
workers. Whatever one submission is or does, it ends as that student's row: a hostile or broken
upload fails with the reason, a grader failure is an error to re-run, and the batch goes on.
Names that look like submissions but are not graded (hidden ones) are listed as skipped, with
the reason; other names are listed as not submissions.

The gradebook (by default `DIR-gradebook/` next to DIR) is checked to be writable before anything
is graded, journaled as each student finishes, and written atomically at the end (its page,
report.html, last: `course.serve.gradebook`), also when the
batch is interrupted (Ctrl-C, SIGTERM, SIGHUP) or one grade raises. A re-run reuses a student's
earlier report when their files, the chapter's checks and the grader version are unchanged
(`force` re-grades everyone), including the reports a killed run left in its journal.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from course.gradebook import (REPORT_FILE, BatchResult, Journal, journal_path, load_previous, names,
                             write_gradebook)
from course.unzip import MAX_BYTES, MAX_FILES, Rejected, unpack
from grader import __version__
from grader.engine import unable_to_grade
from grader.manifest import Chapter
from grader.sandbox.pool import WorkerPool
from grader.report import Report
from grader.safetext import printable
from grader.submission import Submission, SubmissionError, checks_fingerprint, locate
from grader.sandbox.workerproc import Sandboxing

__all__ = ["MAX_BYTES", "MAX_FILES", "MAX_SOURCE_BYTES", "BatchError", "BatchResult", "Entry", "Rejected",
           "check_out", "default_out", "discover", "grade_entry", "prepare", "run_batch", "student_id", "unpack",
           "vet"]

MAX_SOURCE_BYTES = 1024 * 1024
"""Bytes one graded or support file may have (a course exercise is a few kilobytes)."""
GRADEBOOK_FILE = re.compile(r"^(chapter-\d+(\.csv|\.jsonl|-summary\.txt|\.jsonl\.partial)|report\.html)$")
HIDDEN = "a hidden name (it starts with a dot): rename it without the dot to grade it"


class BatchError(Exception):
    """DIR cannot be graded as a batch, or the gradebook cannot be written (a usage error: exit code 2)."""


@dataclass(frozen=True)
class Entry:
    student: str
    """The student id: the name without extension, printable."""
    path: Path


Progress = Callable[[Entry, Report, bool], None]
"""Called once per student as they finish: (entry, report, reused)."""


def student_id(name: str) -> str:
    """A file name as a student id: control characters and undecodable bytes escaped."""
    return printable(name, multiline=False)


def default_out(folder: Path) -> Path:
    folder = folder.absolute()
    return folder.parent / f"{folder.name}-gradebook"


def _kind(path: Path) -> str | None:
    """`folder`, `py` or `zip` for what can be a submission (a link counts by its name), else None."""
    if path.suffix in (".py", ".zip") and (path.is_symlink() or path.is_file()):
        return path.suffix[1:]
    if path.is_symlink() or path.is_dir():
        return "folder"
    return None


def discover(folder: Path, skip: Path | None = None) -> tuple[list[Entry], list[str], dict[str, str]]:
    """The submissions in `folder` (sorted by student), the names that are not submissions, and the
    ones that look like submissions but are skipped (-> why). `skip` (the gradebook folder) is left out."""
    if not folder.is_dir():
        raise BatchError(f"{printable(str(folder), multiline=False)} is not a folder of submissions")
    entries: dict[str, Entry] = {}
    ignored: list[str] = []
    skipped: dict[str, str] = {}
    skip = Path(os.path.realpath(skip)) if skip else None
    try:
        paths = sorted(folder.iterdir())
    except OSError as exc:
        raise BatchError(f"cannot read {printable(str(folder), multiline=False)}: {exc.strerror}") from None
    for path in paths:
        if path.name == "__pycache__" or (skip and not path.is_symlink() and Path(os.path.realpath(path)) == skip):
            continue
        kind = _kind(path)
        if path.name.startswith("."):
            if kind:
                skipped[student_id(path.name)] = HIDDEN
            continue
        if kind is None:
            ignored.append(student_id(path.name))
            continue
        student = student_id(path.name if kind == "folder" else path.stem)
        if student in entries:
            raise BatchError(f"{student_id(entries[student].path.name)} and {student_id(path.name)} are both student "
                             f"{student!r}; keep one submission per student")
        entries[student] = Entry(student, path)
    return [entries[s] for s in sorted(entries)], ignored, skipped


def check_out(out: Path, folder: Path, chapter_id: str) -> Path:
    """The gradebook folder, made and proved writable; BatchError (before anything is graded) if it cannot be."""
    shown = printable(str(out), multiline=False)
    try:
        real, base = Path(os.path.realpath(out)), Path(os.path.realpath(folder))
        if real == base:
            raise BatchError(f"--out {shown} is the folder of submissions: give the gradebook a folder of its own")
        if base in real.parents and (real.parent != base or not _gradebook_only(real)):
            raise BatchError(f"--out {shown} is inside a submission in {printable(str(folder), multiline=False)}: "
                             "give the gradebook a folder of its own")
        if real.exists() and not real.is_dir():
            raise BatchError(f"--out {shown} is a file: give a folder for the gradebook")
        real.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=real):
            pass
        for path in (*names(real, chapter_id), journal_path(real, chapter_id), real / REPORT_FILE):
            if path.exists() and not path.is_file():
                raise BatchError(f"{printable(str(path), multiline=False)} is not a file: move it out of the way")
    except OSError as exc:
        raise BatchError(f"cannot write the gradebook to {shown}: {exc.strerror or exc}") from None
    except ValueError as exc:  # an embedded NUL, say
        raise BatchError(f"cannot write the gradebook to {shown}: {exc}") from None
    return real


def _gradebook_only(folder: Path) -> bool:
    """Is `folder` absent, or does it hold nothing but gradebook files (and hidden ones)?"""
    if not folder.is_dir():
        return True
    return all(GRADEBOOK_FILE.match(p.name) or p.name.startswith(".") for p in folder.iterdir())


def prepare(chapter: Chapter, entry: Entry, staging: Path) -> Submission:
    """The submission of one student, ready for the engine (raises Rejected if it cannot be). A zip is
    unpacked into `staging`."""
    path = entry.path
    if path.is_symlink():
        what = "folder" if _kind(path) == "folder" else "file"
        raise Rejected(f"{student_id(path.name)} is a symbolic link: submit the {what} itself")
    if path.suffix == ".zip" and path.is_file():
        root = Path(tempfile.mkdtemp(prefix="student-", dir=staging))
        submission = replace(_locate(chapter, unpack(path, root)), origin=path.absolute())
    else:
        submission = _locate(chapter, path)
        root = path if path.is_dir() else path.parent
    vet(submission, root)
    return submission


def vet(submission: Submission, root: Path) -> None:
    """Refuse (Rejected) a learner's file the grader must not read: one reached through a symbolic
    link, anything but a regular file (a folder, a FIFO), or one too large. `root` is where the
    learner's own files are; the starter's support files are the course's own."""
    for name, file in submission.files.items():
        inside = os.path.relpath(file, root)
        if inside == os.pardir or inside.startswith(os.pardir + os.sep):
            continue
        try:
            info = file.lstat()
        except FileNotFoundError:
            continue  # a missing graded file fails the `files` check
        except OSError as exc:
            raise Rejected(f"{name} cannot be read ({exc.strerror})") from None
        if stat.S_ISLNK(info.st_mode) or os.path.realpath(file) != os.path.join(os.path.realpath(root), inside):
            raise Rejected(f"{name} is a symbolic link (or inside one): submit the file itself")
        if stat.S_ISDIR(info.st_mode):
            raise Rejected(f"{name} is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise Rejected(f"{name} is not a regular file")
        if info.st_size > MAX_SOURCE_BYTES:
            raise Rejected(f"{name} is larger than {MAX_SOURCE_BYTES // 1024} KB")


def _locate(chapter: Chapter, path: Path) -> Submission:
    try:
        return locate(chapter, path)
    except SubmissionError as exc:
        raise Rejected(str(exc)) from None


def _placeholder(entry: Entry) -> Submission:
    """What stands for a submission that could not be read: its path, no files."""
    path = entry.path.absolute()
    return Submission(origin=path, folder=path.parent, edited={}, files={})


def _why(exc: BaseException) -> str:
    """An exception in a few words, without the grader's own paths."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _own_folder(entry: Entry, staging: Path) -> Iterator[Path]:
    """Where `prepare` unpacks this student's zip, removed afterwards; nothing is made for a folder or a
    `.py` file, which are graded where they are (`prepare` writes only for a zip)."""
    if entry.path.suffix != ".zip":
        yield staging
        return
    with tempfile.TemporaryDirectory(dir=staging, ignore_cleanup_errors=True) as own:
        yield Path(own)


def grade_entry(pool: WorkerPool, chapter: Chapter, entry: Entry, staging: Path) -> Report:
    """Grade one student; whatever happens, a report comes back (the batch never stops)."""
    try:
        with _own_folder(entry, staging) as own:
            try:
                submission = prepare(chapter, entry, own)
            except Rejected as exc:
                return unable_to_grade(chapter, _placeholder(entry), str(exc))
            except Exception as exc:  # noqa: BLE001 - reading the upload failed: re-run to retry
                return unable_to_grade(chapter, _placeholder(entry), "the grader could not read this submission: "
                                       f"{_why(exc)}", grader_fault=True)
            try:
                return pool.grade(chapter, submission)
            except Exception as exc:  # noqa: BLE001 - one submission must not stop the batch
                return unable_to_grade(chapter, submission, f"the grader failed on this submission: {_why(exc)}",
                                       grader_fault=True)
    except Exception as exc:  # noqa: BLE001 - even the clean-up of this student's copy failing
        return unable_to_grade(chapter, _placeholder(entry), f"the grader failed on this submission: {_why(exc)}",
                               grader_fault=True)


def still_valid(report: Report | None, chapter: Chapter, submission_hash: str, checks_hash: str) -> bool:
    """Does an earlier report judge exactly these files with exactly these checks?"""
    return (report is not None and report.status != "error" and report.chapter == chapter.id
            and report.submission_hash == submission_hash and report.checks_hash == checks_hash
            and report.grader_version == __version__)


def _unchanged(chapter: Chapter, entry: Entry, staging: Path, kept: Report, checks_hash: str) -> bool:
    """Does the earlier report `kept` still hold for this student's files?"""
    try:
        with _own_folder(entry, staging) as own:
            current = prepare(chapter, entry, own).fingerprint()
    except Exception:  # noqa: BLE001 - anything unreadable is simply graded (and reported) again
        return False
    return still_valid(kept, chapter, current, checks_hash)


@contextlib.contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the batch as Ctrl-C does: through the code that writes the gradebook."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_batch(chapter: Chapter, folder: Path, *, out: Path | None = None, jobs: int | None = None,
              force: bool = False, sandbox: Sandboxing = "process", progress: Progress | None = None) -> BatchResult:
    """Grade every submission in `folder` and write the gradebook to `out` (BatchError, before anything
    is graded, if `folder` or `out` cannot be used)."""
    out = out or default_out(folder)
    entries, ignored, skipped = discover(folder, skip=out)
    out = check_out(out, folder, chapter.id)
    import grader.staticstage  # noqa: F401 - now, not in two of the pool's threads at once (importlib can fail)

    previous = {} if force else load_previous(out, chapter.id)
    checks_hash = checks_fingerprint(chapter)
    result = BatchResult(chapter=chapter, reports={}, ignored=ignored, skipped=skipped, out=out,
                         pending=[e.student for e in entries])
    journal = Journal(out, chapter.id)

    def finish(entry: Entry, report: Report, reused: bool) -> None:
        result.reports[entry.student] = report
        result.pending.remove(entry.student)
        (result.reused if reused else result.graded).append(entry.student)
        if not reused:
            journal.record(entry.student, report)
        if progress:
            with contextlib.suppress(OSError):  # a closed terminal does not stop the grading
                progress(entry, report, reused)

    with tempfile.TemporaryDirectory(prefix="grade-batch-", ignore_cleanup_errors=True) as tmp, _signals_stop():
        staging = Path(tmp)
        try:
            to_grade = []
            for entry in entries:
                kept = previous.get(entry.student)
                if kept is not None and _unchanged(chapter, entry, staging, kept, checks_hash):
                    finish(entry, kept, reused=True)
                else:
                    to_grade.append(entry)
            if to_grade:
                size = min(jobs or os.cpu_count() or 1, len(to_grade))
                with WorkerPool(size, chapter.preload, sandbox=sandbox) as pool:
                    for entry, report in pool.map_unordered(lambda p, e: grade_entry(p, chapter, e, staging), to_grade):
                        finish(entry, report, reused=False)
        finally:
            result.reports = dict(sorted(result.reports.items()))
            write_gradebook(result, out)
            journal.discard()
            from course.serve.gradebook import write_report  # here: Jinja2 only for a batch, not for `vet`

            write_report(out)
    return result
