"""Batch throughput: submissions per second for `grade chapter-N --batch` (run by hand, not a test).

    .venv/bin/python bench/batch_throughput.py [--chapter chapter-2] [--students 100] [--jobs 2]
                                                [--sandbox process|bwrap] [--rounds 1]

The class is the chapter's corpus and known mistakes (correct and wrong submissions, no
time-outs) repeated with small edits, so every student has distinct files; each run grades
everyone (`force`). Besides the rate, it prints the CPU time one submission costs, in this
process (the static stage, the report, the gradebook: one interpreter, however many jobs) and in
the workers with their forked children, and from those the rate N cores could reach with
`--jobs N`: N / (CPU per submission), but no more than this process can feed (1 / its share).
`bench/run.py` uses `make_class` and `throughput` too, and compares with one cold `grade`
process per submission (`naive_throughput`).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


TIMES_OUT = ("timeout", "timed-out", "hang", "sleep")
"""Words in a variant's name or expected diagnoses that mark a time-out, left out of the class."""


def make_class(folder: Path, students: int, chapter_id: str = "chapter-2") -> list[Path]:
    """`students` submissions of `chapter_id` in `folder`, each a little different: single files
    for a one-file chapter whose file is at the top, folders of the chapter's files otherwise."""
    from grader.manifest import load_chapter
    from grader.variants import read_variants

    files = load_chapter(chapter_id).files
    solution = {name: (ROOT / "solutions" / chapter_id / name).read_text() for name in files}
    variants = read_variants(ROOT / "tests" / "corpus" / chapter_id)
    variants += read_variants(ROOT / "chapters" / chapter_id / "mistakes")
    variants = [v for v in variants if not any(word in f"{v.name} {v.fails}" for word in TIMES_OUT)]
    sources = [v.apply(solution) for v in variants]
    folder.mkdir(parents=True, exist_ok=True)
    single = len(files) == 1 and "/" not in files[0]
    made = []
    for number in range(students):
        source = sources[number % len(sources)]
        if single:
            path = folder / f"student-{number:04d}.py"
            path.write_text(source[files[0]] + f"\n# student {number}\n")
        else:
            path = folder / f"student-{number:04d}"
            for name, text in source.items():
                (path / name).parent.mkdir(parents=True, exist_ok=True)
                (path / name).write_text(text + f"\n# student {number}\n")
        made.append(path)
    return made


@dataclass
class Run:
    rate: float
    """Submissions per second."""
    counts: dict[str, int]
    """How many passed, failed, errored."""
    parent_cpu: float
    """CPU seconds per submission in this process (its threads share one interpreter)."""
    workers_cpu: float
    """CPU seconds per submission in the workers and their forked children (their start-up not counted)."""
    startup_cpu: float
    """CPU seconds a worker takes to start (import its libraries), once per job slot."""

    def predicted(self, cores: int) -> float:
        """The rate `--jobs cores` could reach on `cores` idle cores, from the CPU one submission costs."""
        return min(cores / (self.parent_cpu + self.workers_cpu), 1 / self.parent_cpu)


def measure(students: int = 100, jobs: int = 2, sandbox: str = "process", chapter_id: str = "chapter-2") -> Run:
    """One batch run in this process (its workers started and stopped inside it)."""
    from course.batch import run_batch
    from grader.manifest import load_chapter

    chapter = load_chapter(chapter_id)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        make_class(folder, students, chapter_id)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = time.process_time()
        start = time.perf_counter()
        result = run_batch(chapter, folder, out=Path(tmp) / "gradebook", jobs=jobs, force=True, sandbox=sandbox)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers have been waited for
        shutil.rmtree(folder)
    statuses = [r.status for r in result.reports.values()]
    workers = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    startup = startup_cpu(chapter.preload)
    return Run(len(statuses) / elapsed, {s: statuses.count(s) for s in ("pass", "fail", "error")},
               cpu / len(statuses), max(0.0, workers - jobs * startup) / len(statuses), startup)


def startup_cpu(preload: tuple[str, ...]) -> float:
    """CPU seconds of a process that imports what a worker imports before its first job."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-I", "-B", "-c", "import sys\nfrom grader.sandbox.preload import preload\n"
                    "try:\n    preload(sys.argv[1:], index=True)\nexcept TypeError:  # before the index\n"
                    "    preload(sys.argv[1:])", *preload], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def throughput(students: int = 100, jobs: int = 2, sandbox: str = "process") -> tuple[float, dict[str, int]]:
    """(submissions per second, how many passed/failed/errored) for one chapter-2 batch run in this process."""
    run = measure(students, jobs, sandbox)
    return run.rate, run.counts


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
    parser.add_argument("--chapter", default="chapter-2")
    parser.add_argument("--rounds", type=int, default=1, help="runs to take the median of")
    args = parser.parse_args()
    runs = [measure(args.students, args.jobs, args.sandbox, args.chapter) for _ in range(args.rounds)]
    run = sorted(runs, key=lambda r: r.rate)[len(runs) // 2]
    counts = run.counts
    print(f"{args.chapter}, {args.students} submissions, --jobs {args.jobs}, --sandbox {args.sandbox}: "
          f"{statistics.median(r.rate for r in runs):.2f} submissions/s ({counts['pass']} pass, {counts['fail']} fail, "
          f"{counts['error']} error; runs: {', '.join(f'{r.rate:.2f}' for r in runs)})")
    print(f"CPU per submission: {run.parent_cpu * 1000:.0f} ms in the batch process, {run.workers_cpu * 1000:.0f} ms in "
          f"the workers and their children (and {run.startup_cpu:.2f} s per worker to start); on idle cores with --jobs N: "
          + ", ".join(f"N={n}: {run.predicted(n):.1f}/s" for n in (1, 2, 4, 8)))


if __name__ == "__main__":
    main()
