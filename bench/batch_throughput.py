"""Batch throughput: submissions per second for `grade chapter-2 --batch` (run by hand, not a test).

    .venv/bin/python bench/batch_throughput.py [--students 100] [--jobs 2] [--sandbox process|bwrap]

The class is the chapter-2 corpus (correct and wrong submissions, no time-outs) repeated with
small edits, so every student has distinct files; each run grades everyone (`force`).
`bench/run.py` uses `make_class` and `throughput` too, and compares with one cold `grade`
process per submission (`naive_throughput`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_class(folder: Path, students: int) -> list[Path]:
    """`students` single-file chapter-2 submissions in `folder`, each a little different."""
    from grader.variants import read_variants

    solution = {"database.py": (ROOT / "solutions" / "chapter-2" / "database.py").read_text()}
    variants = read_variants(ROOT / "tests" / "corpus" / "chapter-2")
    variants += read_variants(ROOT / "chapters" / "chapter-2" / "mistakes")
    sources = [v.apply(solution)["database.py"] for v in variants]
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for number in range(students):
        source = sources[number % len(sources)]
        path = folder / f"student-{number:04d}.py"
        path.write_text(source + f"\n# student {number}\n")
        made.append(path)
    return made


def throughput(students: int = 100, jobs: int = 2, sandbox: str = "process") -> tuple[float, dict[str, int]]:
    """(submissions per second, how many passed/failed/errored) for one batch run in this process."""
    from course.batch import run_batch
    from grader.manifest import load_chapter

    chapter = load_chapter("chapter-2")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        make_class(folder, students)
        start = time.perf_counter()
        result = run_batch(chapter, folder, out=Path(tmp) / "gradebook", jobs=jobs, force=True, sandbox=sandbox)
        elapsed = time.perf_counter() - start
        shutil.rmtree(folder)
    statuses = [r.status for r in result.reports.values()]
    return len(statuses) / elapsed, {s: statuses.count(s) for s in ("pass", "fail", "error")}


def naive_throughput(grade: list[str], students: int = 10) -> float:
    """Submissions per second for one cold `grade chapter-2 --path FILE` process after another."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_class(Path(tmp) / "class", students)
        start = time.perf_counter()
        for path in paths:
            subprocess.run([*grade, "chapter-2", "--path", str(path), "--format", "json"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp, check=False)
        return students / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sandbox", choices=["process", "bwrap"], default="process")
    args = parser.parse_args()
    rate, counts = throughput(args.students, args.jobs, args.sandbox)
    print(f"{args.students} submissions, --jobs {args.jobs}, --sandbox {args.sandbox}: {rate:.2f} submissions/s "
          f"({counts['pass']} pass, {counts['fail']} fail, {counts['error']} error)")


if __name__ == "__main__":
    main()
