"""Chapter 2 through the real engine: correct equivalents pass every check; each known mistake
fails exactly the checks (and diagnoses) its header declares."""

from __future__ import annotations

import pytest

from conftest import CORPUS, ROOT
from grader.expectations import disagreements, read_expectation

# The chapter's own known mistakes, plus more variants kept with the tests.
SUBMISSIONS = sorted((ROOT / "chapters" / "chapter-2" / "mistakes").glob("*.py")) + sorted(
    (CORPUS / "chapter-2").glob("*.py"))


def test_the_corpus_is_large_and_mixed():
    correct = [p for p in SUBMISSIONS if not read_expectation(p.read_text()).fails]
    wrong = [p for p in SUBMISSIONS if read_expectation(p.read_text()).fails]
    assert len(SUBMISSIONS) >= 30 and len(correct) >= 12 and len(wrong) >= 18


@pytest.mark.parametrize("path", SUBMISSIONS, ids=[p.stem for p in SUBMISSIONS])
def test_submission_gets_the_declared_verdict(path, grade_path):
    expectation = read_expectation(path.read_text())
    report = grade_path("chapter-2", path)
    assert disagreements(expectation, report) == []
    assert report.status == ("fail" if expectation.fails else "pass")
    assert report.exit_code == (1 if expectation.fails else 0)
