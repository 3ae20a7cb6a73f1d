"""Chapters 1, 3 and 4 through the real engine: `course check`'s rules hold (tests/chapter_corpus.py: the
solution passes every check, the starter fails through checks, the content is complete), and particular
mistakes are told at the right line. Every variant is graded in test_variants.py.
"""

from __future__ import annotations

import pytest

from chapter_corpus import assert_content_complete, assert_solution_passes, assert_starter_fails_through_checks
from conftest import ROOT
from variants import line_of, mistake, source

CHAPTERS = ("chapter-1", "chapter-3", "chapter-4")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_solution_passes_every_check(chapter, grade_path):
    assert_solution_passes(grade_path, chapter)
    assert grade_path(chapter, ROOT / "solutions" / chapter).exit_code == 0


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_starter_fails_through_checks(chapter, grade_path):
    assert_starter_fails_through_checks(grade_path, chapter)
    report = grade_path(chapter, ROOT / "starter" / chapter)
    assert report.status == "fail" and report.exit_code == 1
    for check in report.checks:
        if check.status == "fail":
            assert check.message and check.file, check.id


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_content_is_complete_by_course_checks_rules(chapter):
    """Hints (at least three, none twice), the quiz (the rule of course/quiz_rules.py), the lesson, placeholders:
    everything `course check` reads without grading."""
    assert_content_complete(chapter)


# -- messages point at the learner's line ------------------------------------------------------
def check_of(report, check_id):
    return next(c for c in report.checks if c.id == check_id)


def test_a_leftover_with_block_is_named_with_its_endpoint_and_line(graded):
    variant = mistake("chapter-3", "still-opens-session")
    check = check_of(graded(variant), "no-own-session")
    assert check.file == "main.py" and "`update_hero`" in check.message
    assert check.line == line_of(source(variant, "main.py"), "with Session(engine)")


def test_a_crash_inside_an_endpoint_points_at_the_statement_that_caused_it(graded):
    """The NOT NULL crash happens at the commit, but the fix goes in the `model_dump` that copied every field."""
    variant = mistake("chapter-3", "patch-without-exclude-unset")
    check = check_of(graded(variant), "patch-updates-given-fields")
    assert "IntegrityError" in check.message and "dump only the fields it sent" in check.message
    text = source(variant, "main.py")
    assert (check.file, check.line) == ("main.py", line_of(text, "hero.model_dump()", after="def update_hero"))


def test_close_outside_finally_names_the_close_line(graded):
    variant = mistake("chapter-4", "close-outside-finally")
    check = check_of(graded(variant), "get-session-closes")
    assert (check.file, check.line) == ("database.py", line_of(source(variant, "database.py"), "session.close()"))
    assert "finally" in check.message


def test_the_default_scope_mistake_explains_the_silent_200(graded):
    check = check_of(graded(mistake("chapter-4", "default-scope")), "failed-commit-is-error")
    assert "200" in check.message and 'scope="function"' in check.message
    assert check.file == "database.py" and check.line is not None


def test_the_deprecated_startup_event_is_named_with_its_line(graded):
    variant = mistake("chapter-1", "startup-event")
    check = check_of(graded(variant), "lifespan-defined")  # where the lifespan goes; app-uses-lifespan waits for it
    text = source(variant, "main.py")
    assert (check.file, check.line) == ("main.py", line_of(text, "@app.on_event", after="app = FastAPI"))
