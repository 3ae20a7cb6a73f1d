"""Shared by the chapter test modules: find a chapter's graded variants, read what each must do,
and check the content every chapter needs (chain, quiz, hints)."""

from __future__ import annotations

import filecmp
from pathlib import Path

from conftest import CORPUS, ROOT
from grader.expectations import Expectation, disagreements, read_expectation, read_expectation_files
from grader.manifest import load_chapter
from grader.quiz import load_quiz


def submissions(chapter_id: str) -> list[Path]:
    """The chapter's known mistakes, then the corpus kept with the tests (files or folders)."""
    found = []
    for base in (ROOT / "chapters" / chapter_id / "mistakes", CORPUS / chapter_id):
        found += sorted(p for p in base.iterdir() if p.suffix == ".py" or p.is_dir())
    return found


def expectation(path: Path) -> Expectation:
    if path.is_dir():
        return read_expectation_files(sorted(p for p in path.rglob("*.py")))
    return read_expectation(path.read_text())


def assert_mixed(chapter_id: str, correct: int = 4, wrong: int = 12) -> None:
    """At least 4 known mistakes, and enough correct and wrong variants in all."""
    found = [expectation(p) for p in submissions(chapter_id)]
    assert len(list((ROOT / "chapters" / chapter_id / "mistakes").iterdir())) >= 4
    assert sum(not e.fails for e in found) >= correct and sum(bool(e.fails) for e in found) >= wrong


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


def assert_declared_verdict(grade_path, chapter_id: str, path: Path) -> None:
    """The submission fails exactly the checks (and diagnoses) its header declares, or passes everything."""
    expected = expectation(path)
    report = grade_path(chapter_id, path)
    assert disagreements(expected, report) == []
    assert report.status == ("fail" if expected.fails else "pass")
    assert report.exit_code == (1 if expected.fails else 0)


def assert_solution_passes(grade_path, chapter_id: str) -> None:
    report = grade_path(chapter_id, ROOT / "solutions" / chapter_id)
    assert [c.id for c in report.checks if c.status != "pass"] == []


def assert_starter_fails_through_checks(grade_path, chapter_id: str) -> None:
    report = grade_path(chapter_id, ROOT / "starter" / chapter_id)
    assert report.status == "fail" and "error" not in {c.status for c in report.checks}
    assert {c.id: c.status for c in report.checks}["files"] == "pass"
