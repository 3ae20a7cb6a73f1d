"""Every performance figure of the course, measured side by side in one run, next to its target.

    .venv/bin/python bench/run.py [--rounds 9] [--saves 20] [--students 60]
    .venv/bin/python bench/run.py --chapters [--rounds 5] [--saves 6]   # every chapter, beside its limits

Medians of:

- the floor, `python -c "import fastapi, sqlmodel"`: the learner's own file imports both, so a
  cold `grade` cannot beat it;
- a cold `grade chapter-2 --solution` (target: at most 1.3 x the floor; the two alternate, so
  both see the same load);
- `course list`, `course hint chapter-2`, `course lesson chapter-2` (piped) and `grade --help`
  (target: under 150 ms each);
- `course watch chapter-2`, from saving the file to the checklist on screen (target: 250 ms);
- `grade chapter-2 --batch` with `--jobs 2` (target: 10 submissions/s), next to the naive way:
  one cold `grade --path` process per submission;
- one job on a warm worker (the forked child running chapter 2's behavioural checks), next to a
  plain `pytest` run of the same tests, its baseline.

The commands are the console scripts next to this Python (`.venv/bin/grade`, `.venv/bin/course`),
as learners run them. The machine is shared: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_throughput import naive_throughput, throughput  # noqa: E402
from watch_latency import latencies  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GRADE = [str(BIN / "grade")]
COURSE = [str(BIN / "course")]
FLOOR = [sys.executable, "-c", "import fastapi, sqlmodel"]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, {platform.system()}"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def wall(argv: list[str], ok: tuple[int, ...] = (0, 1), **kwargs: object) -> float:
    """Seconds `argv` took; it must exit with one of `ok` (a grade that finds failing checks exits 1)."""
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, **kwargs)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - start
    if result.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr.decode()[-2000:]}")
    return elapsed


def interleaved(commands: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Median of each command, running them in turn `rounds` times (so they share the load)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, run in commands.items():
            times[name].append(run())
    return {name: statistics.median(values) for name, values in times.items()}


def warm_job(rounds: int, chapter_id: str = "chapter-2") -> tuple[float, float]:
    """(median seconds of a warm grade of the chapter's solution, of its forked child's job alone)."""
    from grader.behave import Sandbox, build_job
    from grader.engine import grade
    from grader.manifest import load_chapter
    from grader.submission import locate
    from grader.sandbox.workerproc import Worker

    chapter = load_chapter(chapter_id)
    submission = locate(chapter, ROOT / "solutions" / chapter_id)
    specs = [c for c in chapter.checks if c.kind == "behaviour"]
    grades, jobs = [], []
    with Worker(chapter.preload) as worker:
        grade(chapter, submission, worker=worker)  # the worker imports its libraries
        for _ in range(rounds):
            start = time.perf_counter()
            assert grade(chapter, submission, worker=worker).status == "pass"
            grades.append(time.perf_counter() - start)
            box = Sandbox.create(submission)
            try:
                start = time.perf_counter()
                worker.run(build_job(chapter, box, specs))
                jobs.append(time.perf_counter() - start)
            finally:
                box.remove()
    return statistics.median(grades), statistics.median(jobs)


def plain_pytest(rounds: int) -> float:
    """Median seconds of `python -m pytest` on chapter 2's behavioural tests against the solution."""
    tests = ROOT / "chapters" / "chapter-2" / "checks" / "test_behaviour.py"
    with tempfile.TemporaryDirectory() as tmp:
        for path in (ROOT / "solutions" / "chapter-2").glob("*.py"):
            shutil.copy(path, tmp)
        argv = [sys.executable, "-m", "pytest", str(tests), "-p", "grader.testing", "-q", "-p", "no:cacheprovider",
                "--rootdir", str(tests.parent)]
        return statistics.median(wall(argv, ok=(0,), cwd=tmp) for _ in range(rounds))


JOB_LIMIT_MS = {"chapter-5": 600}
"""The warm child's job per chapter (issue 17): 600 ms for chapter 5's mutation run, 250 ms for the others."""


def chapters(rounds: int, saves: int) -> None:
    """Per chapter, side by side: the cold `grade --solution`, the warm child's job and watch's save to
    checklist, each beside its limit (cold <= floor + job + 120 ms; watch <= job + 80 ms)."""
    from grader.content import chapter_ids

    print(f"load average before: {load()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "COURSE_WORKSPACE": str(Path(tmp) / "ws")}
        for chapter in chapter_ids(ROOT):
            cold = interleaved({"floor": lambda: wall(FLOOR, ok=(0,), env=env, cwd=tmp),
                                "grade": lambda: wall([*GRADE, chapter, "--solution"], ok=(0,), env=env, cwd=tmp)},
                               rounds)
            _, job = warm_job(rounds, chapter)
            _, totals, _ = latencies(saves, COURSE, chapter)
            watch = statistics.median(totals)
            limit_job = JOB_LIMIT_MS.get(chapter, 250)
            ms = 1000
            rows.append((chapter, cold["floor"] * ms, cold["grade"] * ms, (cold["floor"] + job) * ms + 120,
                         job * ms, limit_job, watch * ms, job * ms + 80))
            print(f"  {chapter} measured", flush=True)
    print(f"\n{'chapter':<10} {'floor':>6} {'cold':>6} {'limit':>6}   {'job':>6} {'limit':>6}   {'watch':>6} {'limit':>6}")
    for chapter, floor, cold, cold_limit, job, job_limit, watch, watch_limit in rows:
        print(f"{chapter:<10} {floor:>6.0f} {cold:>6.0f} {cold_limit:>6.0f}   {job:>6.0f} {job_limit:>6.0f}   "
              f"{watch:>6.0f} {watch_limit:>6.0f}")
    print(f"(ms, medians; cold limit = floor + job + 120, watch limit = job + 80)\nload average after: {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="runs of each command (default 9)")
    parser.add_argument("--saves", type=int, default=20, help="saves in the watch session (default 20)")
    parser.add_argument("--students", type=int, default=60, help="submissions per batch run (default 60)")
    parser.add_argument("--chapters", action="store_true",
                        help="instead: every chapter's cold grade, warm job and watch latency beside their limits")
    args = parser.parse_args()
    if args.chapters:
        print(f"machine: {machine()}")
        chapters(args.rounds, args.saves)
        return

    print(f"machine: {machine()}")
    print(f"load average before: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "COURSE_WORKSPACE": str(Path(tmp) / "ws")}
        wall([*GRADE, "chapter-2"], env=env, cwd=tmp)  # a failing grade, so `course hint` has a hint to show

        def run(argv: list[str]) -> Callable[[], float]:
            return lambda: wall(argv, ok=(0,), env=env, cwd=tmp)

        cli = interleaved({
            "floor": run(FLOOR),
            "grade": run([*GRADE, "chapter-2", "--solution"]),
            "list": run([*COURSE, "list"]),
            "hint": run([*COURSE, "hint", "chapter-2"]),
            "lesson": run([*COURSE, "lesson", "chapter-2"]),
            "help": run([*GRADE, "--help"]),
        }, args.rounds)
    first, saves, _ = latencies(args.saves, COURSE)
    watch = statistics.median(saves)
    rates = [throughput(args.students, jobs=2)[0] for _ in range(3)]
    batch = statistics.median(rates)
    naive = naive_throughput(GRADE, students=min(args.students, 8))
    warm_grade, job = warm_job(args.rounds)
    pytest_run = plain_pytest(max(3, args.rounds // 2))
    after = load()

    floor, ms = cli["floor"], 1000
    rows = [
        ("floor: python -c 'import fastapi, sqlmodel'", f"{floor * ms:.0f} ms", "", ""),
        ("grade chapter-2 --solution (cold)", f"{cli['grade'] * ms:.0f} ms",
         f"<= 1.3 x floor = {1.3 * floor * ms:.0f} ms", f"{cli['grade'] / floor:.2f} x floor"),
        ("course list", f"{cli['list'] * ms:.0f} ms", "< 150 ms", ""),
        ("course hint chapter-2", f"{cli['hint'] * ms:.0f} ms", "< 150 ms", ""),
        ("course lesson chapter-2 (piped)", f"{cli['lesson'] * ms:.0f} ms", "< 150 ms", ""),
        ("grade --help", f"{cli['help'] * ms:.0f} ms", "< 150 ms", ""),
        ("course watch: save -> checklist", f"{watch * ms:.0f} ms", "<= 250 ms",
         f"first checklist {first:.2f} s"),
        ("batch --jobs 2, chapter 2", f"{batch:.1f} /s", ">= 10 /s",
         f"naive, a cold grade each: {naive:.1f} /s"),
        ("warm worker: one grade (static + child)", f"{warm_grade * ms:.0f} ms", "", ""),
        ("warm worker: the child's job (6 checks)", f"{job * ms:.0f} ms",
         f"plain pytest, same tests: {pytest_run * ms:.0f} ms", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    for name, value, target, note in rows:
        print(f"{name:<{width}}  {value:>9}  {target:<34} {note}")
    print(f"\nload average after: {after}")


if __name__ == "__main__":
    main()
