"""Shared fixtures: a warm worker (the real engine, just faster), chapter loading, grading helpers."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
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
SLOW = ("tests/browser/", "tests/test_course_watch.py", "tests/test_course_run.py", "tests/test_editor.py", "bwrap")
"""End-to-end tests that drive a real terminal, browser, server or bubblewrap sandbox (seconds each): marked
`slow`, so `pytest -n auto -m "not slow"` is the quick set to run while working."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(part in item.nodeid for part in SLOW):
            item.add_marker(pytest.mark.slow)


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


def shared_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder every xdist worker of this run shares (the run's base temp; a worker's own is below it)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def graded(grade_files, tmp_path_factory):
    """The report of a variant (tests/variants.py), graded once per test run: the report is kept on disk
    where every xdist worker finds it, so an aggregate test (a chapter's pointing rate) reads the reports
    the per-variant tests of other workers made instead of grading them again. A report is kept by what
    was graded (the chapter and the files), so variants of the same files (one submission in two
    examiners' sets, say) share it: each is still held to what it declares."""
    from variants import chapter_of, files_of

    cache = shared_folder(tmp_path_factory, "graded")
    reports: dict[str, Report] = {}

    def get(variant) -> Report:
        files = files_of(variant)
        key = hashlib.sha256(json.dumps([chapter_of(variant), files], sort_keys=True).encode()).hexdigest()
        if key in reports:
            return reports[key]
        kept = cache / f"{key}.json"
        with open(cache / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another worker grading it now: wait for its report
            if kept.is_file():
                report = Report.model_validate_json(kept.read_text())
            else:
                report = grade_files(chapter_of(variant), files)
                partial = kept.with_suffix(".part")
                partial.write_text(report.model_dump_json())
                os.replace(partial, kept)
        reports[key] = report
        return report

    return get
