"""Chapter 6 through the real engine: async sessions on a real event loop with real aiosqlite.

The solution passes every check and the starter fails through checks, never errors (every variant
is graded in test_variants.py); here, what particular mistakes are told.
"""

from __future__ import annotations

import pytest

from chapter_corpus import (
    assert_content_complete,
    assert_continues,
    assert_solution_passes,
    assert_starter_fails_through_checks,
)
from conftest import ROOT
from grader.manifest import load_chapter
from variants import mistake, source



def by_id(report):
    return {c.id: c for c in report.checks}


def test_the_solution_passes_every_check(grade_path):
    assert_solution_passes(grade_path, "chapter-6")


def test_the_starter_fails_through_checks_not_errors(grade_path):
    assert_starter_fails_through_checks(grade_path, "chapter-6")


def test_the_starter_continues_from_the_chapter_5_solution():
    assert load_chapter("chapter-6").continues_from == "chapter-5"
    assert_continues("chapter-6")
    # The chapter-5 tests drive a synchronous override; they are left out of this starter on purpose.
    assert sorted(p.name for p in (ROOT / "starter" / "chapter-6").rglob("*.py")) == [
        "database.py", "main.py", "models.py"]


def test_the_quiz_hints_and_lesson_are_complete():
    assert_content_complete("chapter-6")


def test_expired_attributes_are_explained_with_the_real_error(graded):
    report = graded(mistake("chapter-6", "default-expire-on-commit"))
    check = by_id(report)["readable-after-commit"]
    assert "MissingGreenlet" in check.message and "expire_on_commit=False" in check.message
    assert check.file == "database.py"


def test_a_missing_await_names_the_call_and_line(graded):
    variant = mistake("chapter-6", "missing-await")
    line = source(variant, "main.py").splitlines().index("    hero = session.get(Hero, hero_id)") + 1
    check = by_id(graded(variant))["calls-awaited"]
    assert (check.file, check.line) == ("main.py", line) and "`session.get(Hero, hero_id)`" in check.message
