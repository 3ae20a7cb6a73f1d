"""Save-to-result latency of `course watch`: from writing the file to the checklist on screen.

Runs `course watch chapter-2` in a pseudo-terminal on a temporary workspace, saves the
chapter's file N times (alternating a passing and a failing version), and times each save
until the checklist's summary line has been printed. `bench/run.py` uses `latencies` too.

    python bench/watch_latency.py [--saves 20]
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

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()
BROKEN = SOLUTION.replace("SessionDep = Annotated[Session, Depends(get_session)]",
                          "SessionDep = Annotated[Session, Depends(get_session())]")
SUMMARY = re.compile(r"(All \d+ checks passed|\d+/\d+ checks passed ·[^\n]*?) \((\d+\.\d) s\)")
COURSE = [sys.executable, "-c", "from course.cli import main; main()"]


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


def latencies(saves: int, course: list[str] = COURSE) -> tuple[float, list[float], list[float]]:
    """(seconds to the first checklist, seconds from each save to its checklist, each report's own
    grading time) for `saves` saves in one `course watch chapter-2` session."""
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        env = {**os.environ, "COURSE_WORKSPACE": str(workspace), "NO_COLOR": "1", "COLUMNS": "200"}
        leader, follower = pty.openpty()
        proc = subprocess.Popen([*course, "watch", "chapter-2"], stdin=follower, stdout=follower, stderr=follower,
                                env=env, cwd=tmp, start_new_session=True)
        os.close(follower)
        try:
            started = time.perf_counter()
            read_until(leader, re.compile(r"Watching[^\n]*q quit"))
            first = time.perf_counter() - started
            database = workspace / "chapter-2" / "database.py"
            totals, grades = [], []
            for n in range(saves):
                t0 = time.perf_counter()
                database.write_text(SOLUTION if n % 2 == 0 else BROKEN)
                found = read_until(leader, SUMMARY)
                totals.append(time.perf_counter() - t0)
                grades.append(float(found.group(2)))
            os.write(leader, b"q")
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(leader)
    return first, totals, grades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=20)
    args = parser.parse_args()
    first, totals, grades = latencies(args.saves)
    print(f"first checklist (cold worker) after {first:.2f} s")
    print(f"{args.saves} saves, save -> checklist printed: median {statistics.median(totals) * 1000:.0f} ms, "
          f"min {min(totals) * 1000:.0f} ms, max {max(totals) * 1000:.0f} ms")
    print(f"of which grading (the report's own duration, 0.1 s steps): median {statistics.median(grades):.1f} s")


if __name__ == "__main__":
    main()
