"""Chapters 1, 3 and 4 through the real engine: the solution passes every check, the starter fails
through checks (not errors), correct equivalents pass, and each known mistake fails exactly the checks
(and diagnoses) its header declares.

A submission is a `.py` file (one-file chapters) or a folder. Folders under `chapters/*/mistakes/`
hold every file the learner edits; folders under `tests/corpus/` hold only the files that differ
from the chapter's solution, and the rest is taken from the solution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import CORPUS, ROOT
from grader.expectations import Expectation, disagreements, read_expectation_files
from grader.manifest import load_chapter
from grader.quiz import load_quiz

CHAPTERS = ("chapter-1", "chapter-3", "chapter-4")


@dataclass(frozen=True)
class Variant:
    chapter: str
    path: Path
    shipped: bool
    """A known mistake shipped with the chapter (complete), or a corpus entry (completed from the solution)."""

    @property
    def id(self) -> str:
        return f"{self.chapter}/{'mistakes' if self.shipped else 'corpus'}/{self.path.stem}"

    @property
    def sources(self) -> list[Path]:
        return sorted(self.path.glob("*.py")) if self.path.is_dir() else [self.path]

    @property
    def expectation(self) -> Expectation:
        return read_expectation_files(self.sources)

    def files(self) -> dict[str, str]:
        """The whole submission: the variant's files over the solution's edited files."""
        chapter = load_chapter(self.chapter)
        base = {name: (ROOT / "solutions" / self.chapter / name).read_text() for name in chapter.files}
        if self.path.is_file():
            return {**base, chapter.files[0]: self.path.read_text()}
        return {**base, **{p.name: p.read_text() for p in self.sources}}


def variants(chapter: str) -> list[Variant]:
    found = []
    for root, shipped in ((ROOT / "chapters" / chapter / "mistakes", True), (CORPUS / chapter, False)):
        for path in sorted(root.iterdir()):
            if path.is_dir() or path.suffix == ".py":
                found.append(Variant(chapter, path, shipped))
    return found


VARIANTS = [v for chapter in CHAPTERS for v in variants(chapter)]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_has_enough_known_submissions(chapter):
    found = variants(chapter)
    mistakes = [v for v in found if v.shipped]
    correct = [v for v in found if not v.expectation.fails]
    wrong = [v for v in found if v.expectation.fails]
    assert len(mistakes) >= 4 and all(v.expectation.fails and v.expectation.description for v in mistakes)
    assert len(found) >= 12 and len(correct) >= 4 and len(wrong) >= 8


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_check_is_failed_by_some_known_submission(chapter):
    declared = {check for v in variants(chapter) for check in v.expectation.fails}
    assert {c.id for c in load_chapter(chapter).checks} - declared == set()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_multi_file_mistakes_hold_every_edited_file(chapter):
    edited = set(load_chapter(chapter).files)
    for variant in variants(chapter):
        if variant.shipped and len(edited) > 1:
            assert {p.name for p in variant.sources} == edited, variant.id


@pytest.fixture(scope="session")
def graded(grade_path, grade_files):
    """The report of a variant, graded once per test session."""
    reports = {}

    def get(variant: Variant):
        if variant.id not in reports:
            reports[variant.id] = (grade_path(variant.chapter, variant.path) if variant.shipped
                                   else grade_files(variant.chapter, variant.files()))
        return reports[variant.id]

    return get


def mistake(chapter: str, name: str) -> Variant:
    return Variant(chapter, ROOT / "chapters" / chapter / "mistakes" / name, shipped=True)


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_submission_gets_the_declared_verdict(variant, graded):
    expectation = variant.expectation
    report = graded(variant)
    assert disagreements(expectation, report) == []
    assert report.status == ("fail" if expectation.fails else "pass")
    assert report.exit_code == (1 if expectation.fails else 0)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_solution_passes_every_check(chapter, grade_path):
    report = grade_path(chapter, ROOT / "solutions" / chapter)
    assert [(c.id, c.status, c.message) for c in report.checks if c.status != "pass"] == []
    assert report.exit_code == 0


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_starter_fails_through_checks(chapter, grade_path):
    report = grade_path(chapter, ROOT / "starter" / chapter)
    statuses = {c.status for c in report.checks}
    assert "error" not in statuses and "fail" in statuses
    assert report.status == "fail" and report.exit_code == 1
    for check in report.checks:
        if check.status == "fail":
            assert check.message and check.file, check.id


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_check_has_progressive_hints(chapter):
    for check in load_chapter(chapter).checks:
        assert len(check.hints) >= 3 and len(set(check.hints)) == len(check.hints), check.id


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_quiz_explains_and_moves_the_right_answer(chapter):
    quiz = load_quiz(ROOT / "chapters" / chapter / "quiz.toml")
    assert len(quiz.questions) >= 4
    assert all(q.explanation.strip() for q in quiz.questions)
    assert len({q.answer for q in quiz.questions}) >= 3


# -- messages point at the learner's line ------------------------------------------------------
def check_of(report, check_id):
    return next(c for c in report.checks if c.id == check_id)


def line_of(text: str, needle: str, after: str = "") -> int:
    start = text.index(after) if after else 0
    return text[:text.index(needle, start)].count("\n") + 1


def test_a_leftover_with_block_is_named_with_its_endpoint_and_line(graded):
    variant = mistake("chapter-3", "still-opens-session.py")
    check = check_of(graded(variant), "no-own-session")
    assert check.file == "main.py" and "`update_hero`" in check.message
    assert check.line == line_of(variant.path.read_text(), "with Session(engine)")


def test_a_crash_inside_an_endpoint_points_at_the_crashing_line(graded):
    variant = mistake("chapter-3", "patch-without-exclude-unset.py")
    check = check_of(graded(variant), "patch-updates-given-fields")
    assert "IntegrityError" in check.message and "exclude_unset" in check.message
    text = variant.path.read_text()
    assert (check.file, check.line) == ("main.py", line_of(text, "session.commit()", after="def update_hero"))


def test_close_outside_finally_names_the_close_line(graded):
    variant = mistake("chapter-4", "close-outside-finally")
    check = check_of(graded(variant), "get-db-closes")
    assert (check.file, check.line) == ("database.py", line_of((variant.path / "database.py").read_text(), "db.close()"))
    assert "finally" in check.message


def test_the_default_scope_mistake_explains_the_silent_200(graded):
    check = check_of(graded(mistake("chapter-4", "default-scope")), "failed-commit-is-error")
    assert "200" in check.message and 'scope="function"' in check.message
    assert check.file == "database.py" and check.line is not None


def test_the_deprecated_startup_event_is_named_with_its_line(graded):
    variant = mistake("chapter-1", "startup-event")
    check = check_of(graded(variant), "app-uses-lifespan")
    text = (variant.path / "main.py").read_text()
    assert (check.file, check.line) == ("main.py", line_of(text, "@app.on_event", after="app = FastAPI"))
