"""`grade chapter-N --batch DIR`: the instructor's view of a batch (progress on stderr, summary on stdout)."""

from __future__ import annotations

from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from course.batch import BatchError, Entry, default_out, discover, run_batch, summary
from course.terminal import make_console
from grader.manifest import Chapter
from grader.report import Report
from grader.workerproc import Sandboxing


def batch_command(chapter: Chapter, folder: Path, *, out: Path | None, jobs: int | None, force: bool,
                  sandbox: Sandboxing) -> int:
    """Grade the batch and print its summary; the exit code (0 written, 2 usage error)."""
    err = make_console(stderr=True)
    out = out or default_out(folder)
    try:
        total = len(discover(folder, skip=out)[0])
    except BatchError as exc:
        err.print(f"error: {exc}", markup=False)
        return 2
    if err.is_terminal:
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       console=err, transient=True)
        task = bar.add_task(f"grading {chapter.id}", total=total)

        def progress(entry: Entry, report: Report, reused: bool) -> None:
            bar.update(task, advance=1, description=f"{entry.student[:24]:<24}")

        with bar:
            result = run_batch(chapter, folder, out=out, jobs=jobs, force=force, sandbox=sandbox, progress=progress)
    else:
        done = 0

        def progress(entry: Entry, report: Report, reused: bool) -> None:
            nonlocal done
            done += 1
            how = "unchanged" if reused else f"{report.duration:.1f} s"
            err.print(f"[{done}/{total}] {entry.student}: {report.status} {report.score:g}/{report.max_score:g} "
                      f"({how})", markup=False)

        result = run_batch(chapter, folder, out=out, jobs=jobs, force=force, sandbox=sandbox, progress=progress)
    make_console().print(summary(result), markup=False, end="")
    err.print(f"Gradebook: {result.out}/{chapter.id}.csv, {chapter.id}.jsonl, {chapter.id}-summary.txt",
              markup=False)
    return 0
