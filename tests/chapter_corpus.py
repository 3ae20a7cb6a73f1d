"""Shared by the chapter test modules: the content every chapter needs (chain, quiz, hints), the
solution passing and the starter failing through checks. Variants are in tests/variants.py."""

from __future__ import annotations

import filecmp
from pathlib import Path

from conftest import ROOT
from grader.manifest import load_chapter
from grader.quiz import load_quiz


def assert_continues(chapter_id: str) -> None:
    """Every starter file that the continued solution also has is byte-identical to it."""
    chapter = load_chapter(chapter_id)
    starter = ROOT / "starter" / chapter_id
    previous = ROOT / "solutions" / str(chapter.continues_from)
    shared = [p.relative_to(starter) for p in starter.rglob("*.py") if (previous / p.relative_to(starter)).is_file()]
    assert shared, f"{chapter_id}'s starter shares no file with {chapter.continues_from}'s solution"
    for name in shared:
        assert filecmp.cmp(starter / name, previous / name, shallow=False), f"{name} differs"


def assert_content_complete(chapter_id: str) -> None:
    chapter = load_chapter(chapter_id)
    quiz = load_quiz(chapter.quiz_path)
    assert len(quiz.questions) >= 4 and len({q.answer for q in quiz.questions}) >= 3
    assert all(q.explanation for q in quiz.questions)
    assert all(len(c.hints) >= 3 for c in chapter.checks)
    assert chapter.lesson_path.read_text().count("```python") >= 2


def assert_solution_passes(grade_path, chapter_id: str) -> None:
    report = grade_path(chapter_id, ROOT / "solutions" / chapter_id)
    assert [c.id for c in report.checks if c.status != "pass"] == []


def assert_starter_fails_through_checks(grade_path, chapter_id: str) -> None:
    report = grade_path(chapter_id, ROOT / "starter" / chapter_id)
    assert report.status == "fail" and "error" not in {c.status for c in report.checks}
    assert {c.id: c.status for c in report.checks}["files"] == "pass"
