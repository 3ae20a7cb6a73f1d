"""A chapter written from docs/AUTHORING.md alone (tests/authored/batches: "several operations, one
transaction: batches and savepoints", continuing a frozen copy of chapter 3's solution): its sessions, loops,
savepoints and lifespan are checked with the library's blocks and `serve`, no raw libcst, and `course check`
finds it clean: the guide and the library are enough for such a chapter."""

from __future__ import annotations

import shutil

import pytest

from conftest import AUTHORED
from course.content_check import RULES, check_chapters
from grader.sandbox.pool import WorkerPool

BATCHES = AUTHORED / "batches"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("content") / "batches"
    shutil.copytree(BATCHES, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_authored_chapter_is_clean(root):
    with WorkerPool(2) as pool:
        run = check_chapters(["chapter-8"], root, pool=pool)
    chapter = run.chapters[0]
    assert {r.rule: [p.message for p in r.problems] for r in chapter.rules if r.problems} == {}
    assert [r.rule for r in chapter.rules if r.status == "ok"] == list(RULES)


def test_its_checks_use_the_library_not_raw_libcst():
    checks = BATCHES / "chapters" / "chapter-8" / "checks"
    static, behaviour = (checks / "static.py").read_text(), (checks / "test_behaviour.py").read_text()
    assert "libcst" not in static and "cst." not in static
    assert "serve(main.app)" in behaviour  # the app runs with its lifespan
    imported = next(line for line in static.splitlines() if line.startswith("from grader.static import "))
    assert {"outside_loop", "in_loop", "method_calls", "endpoint", "parameter"} <= set(
        imported.removeprefix("from grader.static import ").replace(",", " ").split())
