"""The course reads as one app: each chapter's starter is the previous chapter's solution, plus only the
new chapter's scaffolding, and each solution changes only the files its chapter edits."""

from __future__ import annotations

import pytest

from conftest import ROOT
from grader.content import tree_files
from grader.manifest import load_chapter

CHAPTERS = range(1, 8)


def files(kind: str, number: int) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in tree_files(ROOT / kind / f"chapter-{number}").items()}


@pytest.mark.parametrize("number", CHAPTERS)
def test_the_starter_and_the_solution_hold_the_same_files(number):
    assert sorted(files("starter", number)) == sorted(files("solutions", number))


@pytest.mark.parametrize("number", [n for n in CHAPTERS if n > 1])
def test_the_starter_is_the_previous_solution(number):
    assert load_chapter(f"chapter-{number}").continues_from == f"chapter-{number - 1}"
    starter, previous = files("starter", number), files("solutions", number - 1)
    app = {name for name in previous if "/" not in name}
    assert app <= set(starter), "every file of the previous app is carried over"
    for name in set(previous) & set(starter):
        assert starter[name] == previous[name], name


@pytest.mark.parametrize("number", CHAPTERS)
def test_the_starter_differs_from_the_solution_only_in_the_edited_files(number):
    chapter = load_chapter(f"chapter-{number}")
    starter, solution = files("starter", number), files("solutions", number)
    for name, text in starter.items():
        assert (text == solution[name]) != (name in chapter.files), name
