"""The static stage reports a finding where it is: in the check's file, or in the sibling file it names."""

from __future__ import annotations

from grader.static import Source, failed, passed
from grader.staticstage import _run_one

MAIN = Source.from_text("from database import lifespan\n", "main.py")


def test_a_failure_is_reported_in_the_checks_file_by_default():
    result = _run_one(lambda src: failed("no lifespan", line=1, diagnosis="missing"), MAIN, "main.py")
    assert (result["status"], result["file"], result["line"]) == ("fail", "main.py", 1)


def test_a_failure_found_in_a_sibling_file_is_reported_there():
    result = _run_one(lambda src: failed("after the yield", line=22, file="database.py"), MAIN, "main.py")
    assert (result["status"], result["file"], result["line"]) == ("fail", "database.py", 22)


def test_a_pass_keeps_the_checks_file():
    assert _run_one(lambda src: passed("ok"), MAIN, "main.py")["status"] == "pass"
