"""The worker pool: concurrent grading on warm workers, and a killed worker is replaced."""

from __future__ import annotations

import os
import signal

from conftest import ROOT
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
