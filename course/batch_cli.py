"""`grade chapter-N --batch DIR`: the instructor's view of a batch (progress on stderr, summary on stdout).

Student ids are printable by construction (`course.batch.student_id`), so nothing a student named
a file reaches the terminal as a control sequence.
"""

from __future__ import annotations

from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from course.batch import BatchError, Entry, check_out, default_out, discover, run_batch
from course.gradebook import BatchResult, summary
from course.terminal import make_console
from grader.manifest import Chapter
from grader.report import Report
from grader.safetext import printable
from grader.sandbox.workerproc import Sandboxing


def batch_command(chapter: Chapter, folder: Path, *, out: Path | None, jobs: int | None, force: bool,
                  sandbox: Sandboxing) -> int:
    """Grade the batch and print its summary; the exit code (0 written, 2 usage error)."""
    err = make_console(stderr=True)
    out = out or default_out(folder)
    try:
        total = len(discover(folder, skip=out)[0])
        check_out(out, folder, chapter.id)
    except BatchError as exc:
        err.print(f"error: {exc}", markup=False, emoji=False)
        return 2
    try:
        if err.is_terminal:
            result = _with_bar(err, chapter, folder, out, total, jobs=jobs, force=force, sandbox=sandbox)
        else:
            result = _with_lines(err, chapter, folder, out, total, jobs=jobs, force=force, sandbox=sandbox)
    except BatchError as exc:  # the folder changed since it was checked above
        err.print(f"error: {exc}", markup=False, emoji=False)
        return 2
    except (KeyboardInterrupt, SystemExit):
        err.print(f"Stopped. The gradebook in {printable(str(out))} holds every student graded so far; run the "
                  "same command again to grade the rest.", markup=False, emoji=False)
        raise
    make_console().print(summary(result), markup=False, emoji=False, end="")
    err.print(f"Gradebook: {printable(str(result.out))}/{chapter.id}.csv, {chapter.id}.jsonl, "
              f"{chapter.id}-summary.txt, report.html (open it in a browser)", markup=False, emoji=False)
    return 0


def _with_bar(err, chapter: Chapter, folder: Path, out: Path, total: int, **options) -> BatchResult:
    bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=err, transient=True)
    task = bar.add_task(f"grading {chapter.id}", total=total)

    def progress(entry: Entry, report: Report, reused: bool) -> None:
        bar.update(task, advance=1, description=f"{entry.student[:24]:<24}")

    with bar:
        return run_batch(chapter, folder, out=out, progress=progress, **options)


def _with_lines(err, chapter: Chapter, folder: Path, out: Path, total: int, **options) -> BatchResult:
    done = 0

    def progress(entry: Entry, report: Report, reused: bool) -> None:
        nonlocal done
        done += 1
        how = "unchanged" if reused else f"{report.duration:.1f} s"
        err.print(f"[{done}/{total}] {entry.student}: {report.status} {report.score:g}/{report.max_score:g} "
                  f"({how})", markup=False, emoji=False)

    return run_batch(chapter, folder, out=out, progress=progress, **options)
