"""The worker pool: concurrent grading on warm workers, and a killed or crashed worker is replaced."""

from __future__ import annotations

import os
import signal
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import ROOT
from coursekit import children, wait_until
from grader.manifest import load_chapter
from grader.sandbox.pool import WorkerPool
from grader.submission import locate

SOLUTION = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()


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


def test_a_worker_killed_during_a_grade_fails_that_submission_and_is_replaced(tmp_path):
    """While a job runs, only the code under test acts on the worker: a worker killed then is the
    submission's failure (not the grader's error), its child dies with it, and the pool grades the
    next submission on a new worker. (This used to be an error report: no one but learner code, or
    someone outside the grader, kills a worker in mid-job.)"""
    chapter = load_chapter("chapter-2")
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "database.py").write_text("import time\ntime.sleep(30)\n" + SOLUTION)
    good = locate(chapter, ROOT / "solutions" / "chapter-2")
    used = []

    def run(pool, submission):
        used.append(pool.worker())
        return pool.grade(chapter, submission)

    with WorkerPool(1) as pool, ThreadPoolExecutor(1) as background:
        assert [r.status for _, r in pool.map_unordered(run, [good])] == ["pass"]  # warm: the next job starts at once
        first = used[-1]
        grading = background.submit(lambda: list(pool.map_unordered(run, [locate(chapter, slow)])))
        [child] = wait_until(lambda: children(first.proc.pid), what="the worker's child", timeout=30)
        os.killpg(first.proc.pid, signal.SIGKILL)
        [(_, report)] = grading.result(timeout=60)
        assert report.status == "fail" and report.exit_code == 1
        behavioural = [c for c in report.checks if c.kind == "behaviour"]
        assert behavioural[0].status == "fail" and behavioural[0].diagnosis == "killed"
        assert behavioural[0].message.startswith("the grader's worker process was killed by SIGKILL while your code ran")
        assert all(c.status == "skip" for c in behavioural[1:])
        wait_until(lambda: not Path(f"/proc/{child}").exists(), what="the child to die with its worker", timeout=5)
        assert [r.status for _, r in pool.map_unordered(run, [good])] == ["pass"]
        assert used[-1] is not first and used[-1].alive


def test_a_submission_that_kills_its_worker_fails_and_the_pool_goes_on(tmp_path):
    """Even with the audit hook switched off, killing the worker costs only the submission's own grade."""
    chapter = load_chapter("chapter-2")
    killer = tmp_path / "killer"
    killer.mkdir()
    (killer / "database.py").write_text(SOLUTION + textwrap.dedent("""
        import gc, os, signal
        from grader.sandbox.guard import Policy

        for thing in gc.get_objects():
            if isinstance(thing, Policy):
                thing.check = lambda event, args: None
        os.kill(os.getppid(), signal.SIGKILL)
    """))
    good = locate(chapter, ROOT / "solutions" / "chapter-2")
    with WorkerPool(1) as pool:
        results = [report for _, report in pool.map_unordered(lambda p, sub: p.grade(chapter, sub),
                                                              [good, locate(chapter, killer), good])]
    assert sorted(r.status for r in results) == ["fail", "pass", "pass"]
    [killed] = [r for r in results if r.status == "fail"]
    assert killed.exit_code == 1 and next(c for c in killed.checks if c.status == "fail").diagnosis == "killed"


def test_a_submission_that_garbles_its_workers_answer_fails_and_the_pool_goes_on(tmp_path):
    """With the hook off, code can write to the worker's own pipes (through /proc): what it writes
    there is that submission's failure alone, never a crash of the grader or the next one's grade."""
    chapter = load_chapter("chapter-2").model_copy(update={"timeout": 2.0})
    garbler = tmp_path / "garbler"
    garbler.mkdir()
    (garbler / "database.py").write_text(SOLUTION + textwrap.dedent("""
        import gc, os
        from grader.sandbox.guard import Policy

        for thing in gc.get_objects():
            if isinstance(thing, Policy):
                thing.check = lambda event, args: None
        for fd in os.listdir(f"/proc/{os.getppid()}/fd"):
            try:
                with open(f"/proc/{os.getppid()}/fd/{fd}", "wb") as pipe:
                    pipe.write(b"[" * 200_000 + b"\\n")
            except OSError:
                pass
    """))
    good = locate(chapter, ROOT / "solutions" / "chapter-2")
    with WorkerPool(1) as pool:
        results = [report for _, report in pool.map_unordered(lambda p, sub: p.grade(chapter, sub),
                                                              [locate(chapter, garbler), good])]
    assert sorted(r.status for r in results) == ["fail", "pass"]


def test_the_parent_side_of_grading_runs_one_thread_at_a_time_and_overlaps_the_jobs(monkeypatch):
    """Two workers, four feeding threads: the static stages (here, a stand-in) never run at once, and
    one runs while another submission's job does."""
    import threading
    import time

    import grader.sandbox.pool as pool_module

    events, inside, most = [], 0, 0
    lock = threading.Lock()

    def stage(label: str) -> None:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)
        with lock:
            inside -= 1
            events.append(label)

    def fake_grade(chapter, submission, worker):
        stage("static")
        worker.run({"timeout": 1})
        stage("report")
        return submission

    def fake_run(self, job):
        events.append("job starts")
        time.sleep(0.1)
        events.append("job ends")
        return {}

    monkeypatch.setattr(pool_module, "grade", fake_grade)
    monkeypatch.setattr(WorkerPool, "run", fake_run)
    with WorkerPool(2) as pool:
        assert sorted(r for _, r in pool.map_unordered(lambda p, n: p.grade(None, n), range(8))) == list(range(8))
    assert most == 1
    first_job = events.index("job starts")
    assert "static" in events[first_job:events.index("job ends")]


def test_each_workers_jobs_get_a_core_of_their_own(monkeypatch):
    """With two workers or more, a job names the one core its child keeps to (`limits.pin`), a different
    one per worker while there are cores enough; a single worker leaves its child the choice."""
    import grader.sandbox.pool as pool_module

    class Recorder:
        alive = True

        def __init__(self):
            self.jobs = []

        def run(self, job):
            self.jobs.append(job)
            return {}

        def close(self):
            pass

    monkeypatch.setattr(pool_module, "runner", lambda sandbox, preload: Recorder())
    monkeypatch.setattr(pool_module.limits, "usable_cores", lambda: [2, 5])
    with WorkerPool(3) as pool:
        for _ in range(3):
            pool.run({"key": "k"})  # each slot once: the free slots are taken in turn
        cores = [job["cores"] for worker in pool._slots for job in worker.jobs]
    assert sorted(map(tuple, cores)) == [(2,), (2,), (5,)]
    with WorkerPool(1) as pool:
        pool.run({"key": "k"})
        assert "cores" not in pool._slots[0].jobs[0]
