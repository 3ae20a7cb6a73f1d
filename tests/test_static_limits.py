"""The static stage runs in the grader's own process, so it reads only what it can afford: a graded
file too large, nested too deeply or not a regular file fails the files check, at once, as the
learner's own failure (never a grader error or a crash)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from conftest import ROOT
from grader.engine import grade
from grader.manifest import load_chapter
from grader.report import Report
from grader.static.source import MAX_FILE_BYTES, MAX_NESTING
from grader.submission import locate

SOLUTION = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()
SOLUTION_LINES = len(SOLUTION.splitlines())


def files_check(report: Report):
    check = report.checks[0]
    assert check.id == "files"
    return check


def assert_fails_cleanly(report: Report) -> None:
    assert report.status == "fail" and report.exit_code == 1
    assert all(c.status == "skip" for c in report.checks[1:]), [(c.id, c.status) for c in report.checks]


def test_a_file_too_large_to_read_fails_the_files_check_quickly(grade_files):
    filler = "".join(f"value_{n} = {n}  # padding\n" for n in range(MAX_FILE_BYTES // 20))
    started = time.monotonic()
    report = grade_files("chapter-2", SOLUTION + filler)
    assert time.monotonic() - started < 10
    check = files_check(report)
    assert_fails_cleanly(report)
    assert check.file == "database.py" and "KB" in check.message  # the file is named once, by its location
    assert f"{MAX_FILE_BYTES // 1024} KB" in check.message and check.diagnosis == "bad-file"


@pytest.mark.parametrize("expression", [
    pytest.param("f(" * 150 + ")" * 150, id="calls"),
    pytest.param("[" * 150 + "]" * 150, id="lists"),
    pytest.param("+".join(["1"] * 3000), id="operators"),
    pytest.param("a" + ".b" * 3000, id="attributes"),
])
def test_code_nested_too_deeply_fails_the_files_check_at_its_line(grade_files, expression):
    report = grade_files("chapter-2", SOLUTION + "\n\nx = " + expression + "\n")
    check = files_check(report)
    assert_fails_cleanly(report)
    assert check.line == SOLUTION_LINES + 3 and check.file == "database.py"
    assert "nested" in check.message and f"{MAX_NESTING} levels" in check.message


def test_nesting_within_the_limit_is_graded_as_usual(grade_files):
    report = grade_files("chapter-2", SOLUTION + "\n\ndef f(*args):\n    return args\n\n\nx = " + "f(" * (MAX_NESTING - 10) + ")" * (MAX_NESTING - 10)
                         + "\n")
    assert files_check(report).status == "pass"


def test_a_graded_file_that_is_a_fifo_fails_at_once(worker, tmp_path):
    """A FIFO never delivers an end of file: reading it would hang the grader (and a whole batch)."""
    chapter = load_chapter("chapter-2")
    os.mkfifo(tmp_path / "database.py")
    reports: list[Report] = []
    grading = threading.Thread(target=lambda: reports.append(grade(chapter, locate(chapter, tmp_path), worker=worker)),
                               daemon=True)
    grading.start()
    grading.join(timeout=30)
    assert not grading.is_alive(), "grading a FIFO hung"
    check = files_check(reports[0])
    assert_fails_cleanly(reports[0])
    assert "not a regular file" in check.message
