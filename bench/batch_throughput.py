"""Batch throughput: submissions per second for `grade chapter-2 --batch` (run by hand, not a test).

    .venv/bin/python bench/batch_throughput.py [--students 100] [--jobs 2] [--sandbox process|bwrap]

The class is the chapter-2 corpus (correct and wrong submissions, no time-outs) repeated with
small edits, so every student has distinct files; each run grades everyone (`force`).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from course.batch import run_batch
from grader.manifest import load_chapter

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sandbox", choices=["process", "bwrap"], default="process")
    args = parser.parse_args()
    sources = sorted((ROOT / "tests" / "corpus" / "chapter-2").glob("*.py"))
    sources += sorted((ROOT / "chapters" / "chapter-2" / "mistakes").glob("*.py"))
    chapter = load_chapter("chapter-2")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        for number in range(args.students):
            source = sources[number % len(sources)]
            (folder / f"student-{number:04d}.py").write_text(source.read_text() + f"\n# student {number}\n")
        start = time.perf_counter()
        result = run_batch(chapter, folder, out=Path(tmp) / "gradebook", jobs=args.jobs, force=True,
                           sandbox=args.sandbox)
        elapsed = time.perf_counter() - start
        shutil.rmtree(folder)
    statuses = [r.status for r in result.reports.values()]
    print(f"{len(statuses)} submissions, --jobs {args.jobs}, --sandbox {args.sandbox}: {elapsed:.1f} s, "
          f"{len(statuses) / elapsed:.2f} submissions/s "
          f"({statuses.count('pass')} pass, {statuses.count('fail')} fail, {statuses.count('error')} error)")


if __name__ == "__main__":
    main()
