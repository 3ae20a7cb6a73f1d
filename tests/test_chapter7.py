"""Chapter 7 through the real engine: many databases behind one get_session factory.

The solution passes every check and the starter fails through checks, never errors (every variant
is graded in test_variants.py); here, what particular mistakes are told. No PostgreSQL engine is ever made.
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
    assert_solution_passes(grade_path, "chapter-7")


def test_the_starter_fails_through_checks_not_errors(grade_path):
    assert_starter_fails_through_checks(grade_path, "chapter-7")


def test_the_starter_continues_from_the_chapter_6_solution():
    assert load_chapter("chapter-7").continues_from == "chapter-6"
    assert_continues("chapter-7")
    # events.py is new in this chapter (the analytics model), so only the starter and solution have it.
    assert sorted(p.name for p in (ROOT / "starter" / "chapter-7").glob("*.py")) == [
        "database.py", "events.py", "main.py", "models.py"]
    assert (ROOT / "starter" / "chapter-7" / "events.py").read_bytes() == (
        ROOT / "solutions" / "chapter-7" / "events.py").read_bytes()


def test_the_quiz_hints_and_lesson_are_complete():
    assert_content_complete("chapter-7")


def test_a_hidden_password_is_called_out(graded):
    check = by_id(graded(mistake("chapter-7", "str-url-hides-password")))["url-upgrade"]
    assert "***" in check.message and "hide_password=False" in check.message
    assert "s3cret" in check.message  # the expected URL keeps the password


def test_the_race_is_reported_with_the_number_of_engines(graded):
    check = by_id(graded(mistake("chapter-7", "no-lock")))["cache-thread-safe"]
    assert "4 threads" in check.message and "4 engines" in check.message


def test_a_dependency_whose_opening_the_static_check_cannot_read_is_left_to_the_behavioural_checks():
    """It used to fail as `not-opened`; with no positive evidence of a known mistake, it passes now (the
    behavioural checks run the dependency and see that it yields no session)."""
    from grader.static import Source
    from grader.static.registry import load_static_checks

    text = (ROOT / "solutions" / "chapter-7" / "database.py").read_text()
    text = text.replace("        async with session_factory(url)() as session:\n            try:\n                yield session",
                        "        session = None\n        if True:\n            try:\n                yield session")
    assert "session = None" in text
    chapter = load_chapter("chapter-7")
    checks = load_static_checks(chapter.checks_dir / "static.py", "_test_chapter_7_static")
    finding = checks["returns-dependency"](Source.from_text(text, "database.py"))
    assert finding.ok
