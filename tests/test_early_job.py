"""`grade(..., early=[...])` (what `course watch` and `course serve` use): the behavioural checks
expected to run start in the worker before the static stage, which runs meanwhile. The report is
the one a grade without `early` gives, whether the static stage then lets exactly them run or not."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import ROOT
from grader import engine
from grader.engine import grade, planned
from grader.manifest import load_chapter
from grader.report import Report
from grader.submission import locate
from variants import files_of, mistake

SOLUTION_3 = (ROOT / "solutions" / "chapter-3" / "main.py").read_text()
CASES = {
    "chapter-3 solution": ("chapter-3", {"main.py": SOLUTION_3}),
    "chapter-3, a behavioural check fails": ("chapter-3", files_of(mistake("chapter-3", "delete-without-commit"))),
    "chapter-3, an undefined name": ("chapter-3", {"main.py": SOLUTION_3.replace("session.commit()", "sesion.commit()", 1)}),
    "chapter-3, a syntax error": ("chapter-3", {"main.py": SOLUTION_3.replace("def ", "def def ", 1)}),
    "chapter-4, a static check a behavioural one needs fails": ("chapter-4", files_of(mistake("chapter-4", "named-get-db"))),
}


def comparable(report: Report) -> dict[str, Any]:
    """The report without its timings."""
    data = report.model_dump(mode="json")
    data.pop("duration")
    for check in data["checks"]:
        check.pop("duration")
    return data


@pytest.fixture
def graded_both(worker, tmp_path, monkeypatch):
    """Grade files without `early`, then expecting every behavioural check (or `expect`), on the same
    warm worker; record each job started."""
    started: list[tuple[bool, list[str]]] = []
    start = engine._Job.start.__func__

    def spy(cls, chapter, submission, specs, worker, limits, remove=engine.Sandbox.remove, *, background=False):
        started.append((background, [s.id for s in specs]))
        return start(cls, chapter, submission, specs, worker, limits, remove, background=background)

    monkeypatch.setattr(engine._Job, "start", classmethod(spy))

    def run(chapter_id: str, files: dict[str, str], expect: list[str] | None = None,
            ) -> tuple[Report, Report, list[tuple[bool, list[str]]]]:
        chapter = load_chapter(chapter_id)
        for name, text in files.items():
            (tmp_path / name).write_text(text)
        submission = locate(chapter, tmp_path)
        plain = grade(chapter, submission, worker=worker)
        started.clear()
        every = [c.id for c in chapter.ordered_checks() if c.kind == "behaviour"]
        early = grade(chapter, submission, worker=worker, early=every if expect is None else expect)
        return plain, early, list(started)

    yield run
    engine.settle(worker)  # the session's worker takes other tests' jobs next


@pytest.mark.parametrize("case", CASES)
def test_an_early_start_gives_the_same_report(graded_both, case):
    chapter_id, files = CASES[case]
    plain, early, _jobs = graded_both(chapter_id, files)
    assert comparable(early) == comparable(plain)


def test_the_checks_start_before_the_static_stage_when_the_files_compile(graded_both):
    plain, _early, jobs = graded_both("chapter-3", {"main.py": SOLUTION_3})
    behavioural = [c.id for c in load_chapter("chapter-3").ordered_checks() if c.kind == "behaviour"]
    assert jobs == [(True, behavioural)]  # one job, in the background: the one the static stage then allowed
    assert plain.status == "pass" and planned(load_chapter("chapter-3"), plain) == behavioural

    _plain, _early, jobs = graded_both("chapter-3", CASES["chapter-3, a syntax error"][1])
    assert jobs == []  # nothing to start: the files do not compile, and no behavioural check runs


def test_an_early_job_the_static_stage_holds_back_is_dropped_and_the_allowed_one_run(graded_both, worker):
    chapter = load_chapter("chapter-4")
    plain, _early, jobs = graded_both("chapter-4", CASES["chapter-4, a static check a behavioural one needs fails"][1])
    ran = [c.id for c in plain.checks if c.kind == "behaviour" and c.status != "skip"]
    assert ran == ["modules-import", "app-persists"]
    assert [background for background, _ in jobs] == [True, False] and jobs[1][1] == ran
    assert planned(chapter, plain) == ran

    plain, early, jobs = graded_both("chapter-4", CASES["chapter-4, a static check a behavioural one needs fails"][1],
                                     expect=ran)
    assert jobs == [(True, ran)] and comparable(early) == comparable(plain)  # expected right: one early job

    _plain, _early, jobs = graded_both("chapter-3", CASES["chapter-3, an undefined name"][1])
    assert len(jobs) == 1  # started early, dropped: the undefined name holds every behavioural check back
    left = engine._UNFINISHED[id(worker)]  # its outcome is not needed: the report did not wait for it
    chapter = load_chapter("chapter-3")
    assert grade(chapter, locate(chapter, ROOT / "solutions" / "chapter-3"), worker=worker).status == "pass"
    assert id(worker) not in engine._UNFINISHED and not left.box.root.exists()  # the next job waited for it


def test_the_watch_grades_early_and_removes_every_sandbox_by_the_time_it_closes(tmp_path, monkeypatch):
    import tempfile

    from course.watch import SnapshotGrader

    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    chapter = load_chapter("chapter-3")
    folder = tmp_path / "chapter-3"
    folder.mkdir()
    (folder / "main.py").write_text(SOLUTION_3)
    grader = SnapshotGrader(chapter.preload)
    try:
        behavioural = [c.id for c in chapter.ordered_checks() if c.kind == "behaviour"]
        first = grader.grade(chapter, folder)
        assert first is not None and first.report.status == "pass" and grader.early == []
        (folder / "main.py").write_text(SOLUTION_3 + "# saved again\n")
        assert grader.grade(chapter, folder) is not None
        assert grader.early == behavioural  # the same checks ran twice in a row: expected from now on
        (folder / "main.py").write_text(CASES["chapter-3, an undefined name"][1]["main.py"])
        third = grader.grade(chapter, folder)
        assert third is not None and third.report.checks[0].status == "fail" and grader.early == []
    finally:
        grader.close()
    assert list(private.iterdir()) == []
