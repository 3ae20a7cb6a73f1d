"""The course reads as one app: each chapter's starter continues the previous chapter's solution."""

from __future__ import annotations

import pytest

from conftest import ROOT
from grader.manifest import load_chapter

CHAPTERS = range(1, 5)


@pytest.mark.parametrize("number", CHAPTERS)
def test_every_chapter_has_a_starter_and_a_solution(number):
    for kind in ("starter", "solutions"):
        folder = ROOT / kind / f"chapter-{number}"
        assert sorted(p.name for p in folder.glob("*.py")) == ["database.py", "main.py", "models.py"], folder


@pytest.mark.parametrize("number", [n for n in CHAPTERS if n > 1])
def test_the_starter_is_the_previous_solution(number):
    starter = ROOT / "starter" / f"chapter-{number}"
    previous = ROOT / "solutions" / f"chapter-{number - 1}"
    assert load_chapter(f"chapter-{number}").continues_from == f"chapter-{number - 1}"
    shared = [p.name for p in starter.glob("*.py") if (previous / p.name).is_file()]
    assert shared
    for name in shared:
        assert (starter / name).read_bytes() == (previous / name).read_bytes(), name


@pytest.mark.parametrize("number", CHAPTERS)
def test_the_starter_differs_from_the_solution_only_in_the_edited_files(number):
    chapter = load_chapter(f"chapter-{number}")
    starter = ROOT / "starter" / chapter.id
    solution = ROOT / "solutions" / chapter.id
    for path in starter.glob("*.py"):
        same = path.read_bytes() == (solution / path.name).read_bytes()
        assert same != (path.name in chapter.files), path.name
