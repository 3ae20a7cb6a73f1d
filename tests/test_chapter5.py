"""Chapter 5 through the real engine: the learner's tests are graded by mutation.

Correct test files pass every check; each known mistake fails exactly the checks (and diagnoses)
its header declares; the starter fails through checks, never errors; the mutants still apply
to the pinned reference app.
"""

from __future__ import annotations

import filecmp

import pytest

from chapter_corpus import assert_content_complete, assert_solution_passes, assert_starter_fails_through_checks
from conftest import ROOT
from grader.manifest import load_chapter
from grader.mutation import apply, assemble, load_mutants
from variants import mistake

CHAPTER = ROOT / "chapters" / "chapter-5"
TESTS = "tests/test_heroes.py"


def by_id(report):
    return {c.id: c for c in report.checks}


def test_the_solution_passes_every_check(grade_path):
    assert_solution_passes(grade_path, "chapter-5")


def test_the_starter_fails_through_checks_not_errors(grade_path):
    assert_starter_fails_through_checks(grade_path, "chapter-5")


def test_the_starter_continues_from_the_chapter_3_solution():
    chapter = load_chapter("chapter-5")
    assert chapter.continues_from == "chapter-3"
    starter, solution = ROOT / "starter" / "chapter-5", ROOT / "solutions" / "chapter-3"
    app_files = sorted(p.name for p in solution.glob("*.py"))
    assert app_files == ["database.py", "main.py", "models.py"]
    for name in app_files:
        assert filecmp.cmp(starter / name, solution / name, shallow=False), name
    # The learner's file is the only addition, and the solution keeps the same app.
    extra = sorted(p.relative_to(starter).as_posix() for p in starter.rglob("*.py") if p.parent != starter)
    assert extra == [TESTS] and list(chapter.files) == [TESTS]
    for name in app_files:
        assert filecmp.cmp(ROOT / "solutions" / "chapter-5" / name, solution / name, shallow=False), name


def test_every_mutant_applies_to_the_pinned_app(tmp_path):
    mutants = load_mutants(CHAPTER / "checks" / "mutants")
    assert len(mutants) >= 5
    for mutant in mutants.values():
        folder = assemble(tmp_path / mutant.name, ROOT / "starter" / "chapter-5", ROOT / "solutions" / "chapter-5",
                          [TESTS])
        before = (folder / "main.py").read_text()
        apply(mutant, folder)  # raises if the patch no longer applies exactly as written
        assert (folder / "main.py").read_text() != before


def test_every_mutant_has_a_check_that_runs_it():
    mutants = load_mutants(CHAPTER / "checks" / "mutants")
    checks = {c.id: c for c in load_chapter("chapter-5").checks}
    assert {f"catches-{m}" for m in mutants} == {c for c in checks if c.startswith("catches-")}
    assert all(checks[f"catches-{m}"].depends == ("tests-pass",) for m in mutants)
    source = (CHAPTER / "checks" / "test_behaviour.py").read_text()
    for mutant_id in mutants:
        assert f'@check("catches-{mutant_id}")' in source and f'catches("{mutant_id}", ' in source


def test_a_surviving_mutant_is_named_with_what_is_untested(graded):
    report = graded(mistake("chapter-5", "shared-session"))
    survived = by_id(report)["catches-no-commit"]
    assert survived.status == "fail" and survived.file == TESTS
    assert "never commit" in survived.message and "a later request" in survived.message
    assert survived.hint and "response" in survived.hint


def test_a_test_marked_skip_is_named_where_a_mutant_survives(grade_files):
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text()
    text = text.replace("def test_delete_hero(client):", "@pytest.mark.skip\ndef test_delete_hero(client):")
    survived = by_id(grade_files("chapter-5", {TESTS: text}))["catches-delete-nothing"]
    assert survived.status == "fail" and survived.diagnosis == "mutant-survived"
    assert survived.message.endswith(". test_delete_hero is marked skip; a skipped test checks nothing")


def test_failing_tests_are_reported_with_their_name_and_line(grade_files):
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text()
    text = text.replace("assert response.status_code == 404", "assert response.status_code == 410")
    line = text.splitlines().index("    assert response.status_code == 410") + 1
    check = by_id(grade_files("chapter-5", {TESTS: text}))["tests-pass"]
    assert check.status == "fail" and check.diagnosis == "tests-fail"
    assert (check.file, check.line) == (TESTS, line)
    assert "test_read_missing_hero_is_404" in check.message and "1 of your 6 tests" in check.message


def test_a_hanging_test_is_stopped_at_the_time_limit(grade_files):
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text()
    text = text.replace('    response = client.get("/heroes/999")',
                        '    while True:\n        pass\n    response = client.get("/heroes/999")')
    report = grade_files("chapter-5", {TESTS: text}, timeout=4)
    check = by_id(report)["tests-pass"]
    assert check.status == "fail" and check.diagnosis in {"timeout", "cpu"}
    assert report.status == "fail"


def test_the_learners_own_app_files_are_not_what_is_tested(grade_files):
    """A learner who 'fixes' the app to make wrong tests pass still tests the reference app."""
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text()
    text = text.replace("assert response.status_code == 404", "assert response.status_code == 410")
    main = (ROOT / "solutions" / "chapter-3" / "main.py").read_text().replace("status_code=404", "status_code=410")
    report = grade_files("chapter-5", {TESTS: text, "main.py": main})
    assert by_id(report)["tests-pass"].status == "fail"


def test_the_quiz_hints_and_lesson_are_complete():
    assert_content_complete("chapter-5")
