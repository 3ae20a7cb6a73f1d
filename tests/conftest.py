"""Shared fixtures: a warm worker (the real engine, just faster), chapter loading, grading helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.engine import grade
from grader.manifest import Chapter, load_chapter
from grader.report import Report
from grader.submission import locate
from grader.sandbox.workerproc import Worker

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
AUTHORED = Path(__file__).resolve().parent / "authored"
"""Content roots of chapters written from docs/AUTHORING.md alone (their checks are not this suite's tests)."""
collect_ignore_glob = ["authored/*"]


@pytest.fixture(scope="session")
def worker():
    with Worker() as w:
        yield w


@pytest.fixture(scope="session")
def grade_files(worker, tmp_path_factory):
    """Grade a submission given as {file name: source} (or one source for a one-file chapter)."""

    def run(chapter: Chapter | str, files: dict[str, str] | str, **changes) -> Report:
        chapter = load_chapter(chapter) if isinstance(chapter, str) else chapter
        if changes:
            chapter = chapter.model_copy(update=changes)
        if isinstance(files, str):
            files = {chapter.files[0]: files}
        folder = tmp_path_factory.mktemp("submission")
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        return grade(chapter, locate(chapter, folder), worker=worker)

    return run


@pytest.fixture(scope="session")
def grade_path(worker):
    def run(chapter: Chapter | str, path: Path) -> Report:
        chapter = load_chapter(chapter) if isinstance(chapter, str) else chapter
        return grade(chapter, locate(chapter, path), worker=worker)

    return run


@pytest.fixture(scope="session")
def graded(grade_files):
    """The report of a variant (tests/variants.py), graded once per test session."""
    from variants import chapter_of, files_of

    reports: dict[Path, Report] = {}

    def get(variant) -> Report:
        if variant.path not in reports:
            reports[variant.path] = grade_files(chapter_of(variant), files_of(variant))
        return reports[variant.path]

    return get
