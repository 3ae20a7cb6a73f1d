"""The worker pool: concurrent grading on warm workers, and a killed or crashed worker is replaced."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

from conftest import ROOT
from coursekit import children, wait_until
from grader.manifest import load_chapter
from grader.pool import WorkerPool
from grader.submission import locate


def test_pool_grades_many_and_replaces_a_killed_worker():
    chapter = load_chapter("chapter-2")
    good = locate(chapter, ROOT / "solutions" / "chapter-2")
    bad = locate(chapter, ROOT / "starter" / "chapter-2")
    with WorkerPool(2) as pool:
        results = list(pool.map_unordered(lambda p, sub: p.grade(chapter, sub), [good, bad, good, bad]))
        assert sorted(r.status for _, r in results) == ["fail", "fail", "pass", "pass"]
        first = pool.worker()
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        replacement = pool.worker()
        assert replacement is not first and replacement.alive
        assert pool.grade(chapter, good).status == "pass"


def test_a_worker_that_dies_during_a_grade_is_the_graders_fault_and_is_replaced(tmp_path):
    """The submission being graded gets an error report (not a failure of its own), and the pool
    grades the next one on a new worker."""
    chapter = load_chapter("chapter-2")
    slow = tmp_path / "slow"
    slow.mkdir()
    solution = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()
    (slow / "database.py").write_text("import time\ntime.sleep(3)\n" + solution)
    good = locate(chapter, ROOT / "solutions" / "chapter-2")
    used = []

    def run(pool, submission):
        used.append(pool.worker())
        return pool.grade(chapter, submission)

    with WorkerPool(1) as pool, ThreadPoolExecutor(1) as background:
        assert [r.status for _, r in pool.map_unordered(run, [good])] == ["pass"]  # warm: the next job starts at once
        first = used[-1]
        grading = background.submit(lambda: list(pool.map_unordered(run, [locate(chapter, slow)])))
        wait_until(lambda: children(first.proc.pid), what="the worker's child", timeout=30)
        os.killpg(first.proc.pid, signal.SIGKILL)
        [(_, report)] = grading.result(timeout=60)
        assert report.status == "error" and report.exit_code == 2
        behavioural = [c for c in report.checks if c.kind == "behaviour"]
        assert all(c.status == "error" and "worker process" in c.message for c in behavioural)
        assert [r.status for _, r in pool.map_unordered(run, [good])] == ["pass"]
        assert used[-1] is not first and used[-1].alive
