"""Save-to-result latency of `course watch`: from writing the file to the checklist on screen.

Runs `course watch CHAPTER` in a pseudo-terminal on a temporary workspace, saves the chapter's
file N times (alternating a passing and a failing version), and times each save until the
checklist's summary line has been printed. Every save is new text (a comment numbers it), as a
learner's are: the grader reuses what it found in a file it has seen unchanged, which a
benchmark saving the same two texts in turn would measure instead. Then, the slip-and-fix case:
a failing save and, 0.3 s later (while it is being graded), the passing one; the screen must end
on the pass. `bench/run.py` uses `latencies` too.

    python bench/watch_latency.py [--chapter chapter-2] [--saves 20] [--pairs 6]
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
DONE = r"[^\x1b]*?q quit"
"""The rest of a screen whose status line shows the keys: a result, not the old one redrawn with
`Grading save N…` (each screen starts with an escape sequence that clears the terminal)."""
SUMMARY = re.compile(r"(All \d+ checks passed|\d+/\d+ checks passed ·[^\n]*?) \((\d+\.\d) s\)" + DONE)
PASSED = re.compile(r"All \d+ checks passed \((\d+\.\d) s\)" + DONE)
COURSE = [sys.executable, "-c", "from course.cli import main; main()"]


class Edit(NamedTuple):
    """A chapter's file, its passing version and a failing one."""

    name: str
    good: str
    bad: str


def edit(chapter: str) -> Edit:
    if chapter == "chapter-2":
        good = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()
        return Edit("database.py", good, good.replace("SessionDep = Annotated[Session, Depends(get_session)]",
                                                      "SessionDep = Annotated[Session, Depends(get_session())]"))
    if chapter == "chapter-3":
        good = (ROOT / "solutions" / "chapter-3" / "main.py").read_text()
        return Edit("main.py", good, good.replace("    session.delete(hero)\n    session.commit()\n",
                                                  "    session.delete(hero)\n"))
    return mistake_edit(chapter)


def mistake_edit(chapter: str) -> Edit:
    """The solution's file and the first known mistake (by name) that changes that file alone."""
    from grader.content import chapters_dir, solution_dir, tree_files
    from grader.manifest import load_chapter
    from grader.variants import read_variants

    solution = {name: path.read_text() for name, path in tree_files(solution_dir(chapter, ROOT)).items()}
    for variant in read_variants(chapters_dir(ROOT) / chapter / "mistakes"):
        files = variant.apply(solution)
        changed = [name for name in solution if files.get(name) != solution[name]]
        if len(changed) == 1 and changed[0] in load_chapter(chapter, ROOT).files and changed[0] in files:
            return Edit(changed[0], solution[changed[0]], files[changed[0]])
    raise SystemExit(f"{chapter}: no known mistake changes one of its files alone")


def numbered(text: str, n: int) -> str:
    """`text` as save number `n`: the same code, new text."""
    return text.rstrip("\n") + f"\n# save {n}\n"


def read_until(fd: int, pattern: re.Pattern[str], timeout: float = 60) -> re.Match[str]:
    buffer = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.05)[0]:
            buffer += os.read(fd, 65536).decode("utf-8", "replace")
            found = pattern.search(buffer)
            if found:
                return found
    raise TimeoutError(f"no {pattern.pattern!r} within {timeout} s; got:\n{buffer[-2000:]}")


def drain(fd: int, quiet: float = 1.0) -> None:
    """Read until the screen has been still for `quiet` seconds."""
    while select.select([fd], [], [], quiet)[0]:
        os.read(fd, 65536)


class Session:
    """`course watch CHAPTER` in a pseudo-terminal on a fresh workspace."""

    def __init__(self, chapter: str, course: list[str], tmp: str):
        self.file = Path(tmp) / "ws" / chapter / edit(chapter).name
        env = {**os.environ, "COURSE_WORKSPACE": str(Path(tmp) / "ws"), "NO_COLOR": "1", "COLUMNS": "200",
               "LINES": "60"}
        self.leader, follower = pty.openpty()
        self.proc = subprocess.Popen([*course, "watch", chapter], stdin=follower, stdout=follower, stderr=follower,
                                     env=env, cwd=tmp, start_new_session=True)
        os.close(follower)

    def close(self) -> None:
        try:
            os.write(self.leader, b"q")
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self.leader)


def latencies(saves: int, course: list[str] = COURSE, chapter: str = "chapter-2",
              ) -> tuple[float, list[float], list[float]]:
    """(seconds to the first checklist, seconds from each save to its checklist, each report's own
    grading time) for `saves` saves in one `course watch CHAPTER` session."""
    versions = edit(chapter)
    with tempfile.TemporaryDirectory() as tmp:
        session = Session(chapter, course, tmp)
        try:
            started = time.perf_counter()
            read_until(session.leader, re.compile(r"q quit"))
            first = time.perf_counter() - started
            drain(session.leader)
            totals, grades = [], []
            for n in range(saves):
                t0 = time.perf_counter()
                session.file.write_text(numbered(versions.good if n % 2 == 0 else versions.bad, n + 1))
                found = read_until(session.leader, SUMMARY)
                totals.append(time.perf_counter() - t0)
                grades.append(float(found.group(2)))
                drain(session.leader, 0.3)
        finally:
            session.close()
    return first, totals, grades


def slip_and_fix(pairs: int, course: list[str] = COURSE, chapter: str = "chapter-2", gap: float = 0.3,
                 timeout: float = 10) -> list[float | None]:
    """For each pair: save the failing version, then the passing one `gap` seconds later; the
    seconds from the second save to a passing checklist on screen (None: never, within `timeout`)."""
    versions = edit(chapter)
    results: list[float | None] = []
    with tempfile.TemporaryDirectory() as tmp:
        session = Session(chapter, course, tmp)
        try:
            read_until(session.leader, re.compile(r"q quit"))
            drain(session.leader)
            for n in range(pairs):
                session.file.write_text(numbered(versions.bad, 2 * n + 1))
                time.sleep(gap)
                drain_now = time.perf_counter()
                session.file.write_text(numbered(versions.good, 2 * n + 2))
                try:
                    read_until(session.leader, PASSED, timeout)
                    results.append(time.perf_counter() - drain_now)
                except TimeoutError:
                    results.append(None)
                drain(session.leader)
        finally:
            session.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", default="chapter-2")
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=6, help="slip-and-fix pairs (0: skip)")
    args = parser.parse_args()
    first, totals, grades = latencies(args.saves, chapter=args.chapter)
    print(f"{args.chapter}: first checklist (cold worker) after {first:.2f} s")
    print(f"{args.saves} saves, save -> checklist printed: median {statistics.median(totals) * 1000:.0f} ms, "
          f"min {min(totals) * 1000:.0f} ms, max {max(totals) * 1000:.0f} ms")
    print(f"of which grading (the report's own duration, 0.1 s steps): median {statistics.median(grades):.1f} s")
    if args.pairs:
        fixed = slip_and_fix(args.pairs, chapter=args.chapter)
        ended = [t for t in fixed if t is not None]
        print(f"slip and fix (a failing save, the passing one 0.3 s later): {len(ended)} of {len(fixed)} ended on "
              "the pass" + (f", median {statistics.median(ended) * 1000:.0f} ms after the second save" if ended else ""))


if __name__ == "__main__":
    main()
