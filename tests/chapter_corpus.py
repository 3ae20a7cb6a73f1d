"""Shared by the chapter test modules: `course check`'s own rules (course/content_check.py) on one chapter of
the course, so the tests demand exactly what the command does. The structural rules (manifest, files,
continuity, implementations, lesson, quiz, placeholders) and the graded ones for the solution and the
starter; every variant is graded in tests/test_variants.py."""

from __future__ import annotations

from conftest import ROOT
from course.content_check import GRADED, Inspection, Job, crash_problems, solution_rule, starter_rule


def _problems(problems) -> list[str]:
    return [f"{p.where()}: {p.message}" for p in problems]


def assert_continues(chapter_id: str) -> None:
    """The starter continues the solution its manifest names (`continuity`: the same code in every file they
    share, marked stubs aside)."""
    result = Inspection.of(ROOT, chapter_id).results["continuity"]
    assert result.note == "", result.note  # continues_from is set
    assert _problems(result.problems) == []


def assert_content_complete(chapter_id: str) -> None:
    """Every rule of `course check` that needs no grading holds: hints, quiz, lesson, files, placeholders..."""
    results = Inspection.of(ROOT, chapter_id).results
    found = {rule: _problems(r.problems) for rule, r in results.items() if rule not in GRADED and r.problems}
    assert found == {}


def assert_solution_passes(grade_path, chapter_id: str) -> None:
    """`course check`'s `solution` rule: the solution passes every check."""
    ins = Inspection.of(ROOT, chapter_id)
    report = grade_path(chapter_id, ROOT / "solutions" / chapter_id)
    job = Job(chapter_id, "solution", ROOT / "solutions" / chapter_id)
    assert _problems(crash_problems(ins, [(job, report)])["solution"] + solution_rule(ins, report)) == []


def assert_starter_fails_through_checks(grade_path, chapter_id: str) -> None:
    """`course check`'s `starter` rule: the starter fails, through checks (no error, valid Python)."""
    ins = Inspection.of(ROOT, chapter_id)
    report = grade_path(chapter_id, ROOT / "starter" / chapter_id)
    job = Job(chapter_id, "starter", ROOT / "starter" / chapter_id)
    assert _problems(crash_problems(ins, [(job, report)])["starter"] + starter_rule(ins, report)) == []
