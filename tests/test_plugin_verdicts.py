"""Whose fault a failure is, and the text the learner reads, through the real engine and sandbox.

The chapter here is made for the purpose: each check fails in one way (a bug in the check itself,
a crash in the learner's code, a library refusing the learner's object, a message full of noise),
so the report can be held to the rules: the course's bugs are `error`s at the check's line; the
learner's are `fail`s at their line; no temp folder or pydantic URL reaches the text; long text is
cut at a word; the hint follows the diagnosis.
"""

from __future__ import annotations

import textwrap

import pytest

from grader.clean import clip, relative_paths, without_noise
from grader.engine import grade
from grader.manifest import ContentError, load_chapter_dir
from grader.sandbox.plugin import MESSAGE_CAP
from grader.submission import locate
from variants import line_of

MANIFEST = '''
format_version = 1
title = "Whose fault"
files = ["app.py"]

[[checks]]
id = "course-bug"
title = "The check's own bug"
kind = "behaviour"
hints = ["a", "b", "c"]

[[checks]]
id = "learner-crash"
title = "The learner's code crashes"
kind = "behaviour"
hints = ["a", "b", "c"]

[[checks]]
id = "library-refuses"
title = "A library refuses the learner's object"
kind = "behaviour"
hints = ["a", "b", "c"]

[[checks]]
id = "noisy"
title = "A message with temp paths and pydantic's URL"
kind = "behaviour"
hints = ["a", "b", "c"]

[[checks]]
id = "noisy-output"
title = "Output with temp paths"
kind = "behaviour"
hints = ["a", "b", "c"]

[[checks]]
id = "long"
title = "A message too long to keep"
kind = "behaviour"
hints = ["a", "b", "c"]

[[checks]]
id = "diagnosed"
title = "A failure with a diagnosis that has its own hints"
kind = "behaviour"
hints = ["the general hint", "b", "c"]

[checks.hints_for]
known-mistake = ["the hint for the known mistake", "its second hint"]

[[checks]]
id = "undiagnosed"
title = "A failure with a diagnosis that has no hints of its own"
kind = "behaviour"
hints = ["the general hint", "b", "c"]

[checks.hints_for]
known-mistake = ["the hint for the known mistake"]
'''

CHECKS = textwrap.dedent('''
    import os

    from grader.testing import check, fail


    @pytest.fixture
    def app(learner):
        return learner.module("app")


    @check("course-bug")
    def test_course_bug(app):
        settings = {}
        return settings["timeout"]


    @check("learner-crash")
    def test_learner_crash(app):
        app.average([])


    @check("library-refuses")
    def test_library_refuses(app):
        app.make_session().get_bind()


    @check("noisy")
    def test_noisy(app):
        app.Hero.model_validate({"where": os.path.join(os.getcwd(), "app.py")})


    @check("noisy-output")
    def test_noisy_output(app):
        app.validate({"where": os.getcwd()})


    @check("long")
    def test_long(app):
        fail("word " * 1000, obj=app.average)


    @check("diagnosed")
    def test_diagnosed(app):
        fail("the known mistake", obj=app.average, diagnosis="known-mistake")


    @check("undiagnosed")
    def test_undiagnosed(app):
        fail("another mistake", obj=app.average, diagnosis="other-mistake")
''').replace("import os\n", "import os\n\nimport pytest\n", 1)

APP = textwrap.dedent('''
    import os

    from pydantic import BaseModel
    from sqlalchemy.orm import Session


    class Hero(BaseModel):
        name: str


    def average(numbers):
        return sum(numbers) / len(numbers)


    def make_session():
        return Session()


    def validate(data):
        print("running in", os.getcwd())
        return Hero.model_validate(data)
''')


@pytest.fixture(scope="module")
def chapter(tmp_path_factory):
    folder = tmp_path_factory.mktemp("content") / "chapters" / "chapter-9"
    (folder / "checks").mkdir(parents=True)
    (folder / "chapter.toml").write_text(MANIFEST)
    (folder / "checks" / "test_behaviour.py").write_text(CHECKS)
    return load_chapter_dir(folder)


@pytest.fixture(scope="module")
def report(chapter, worker, tmp_path_factory):
    folder = tmp_path_factory.mktemp("submission")
    (folder / "app.py").write_text(APP)
    return grade(chapter, locate(chapter, folder), worker=worker)


def check_of(report, check_id):
    return next(c for c in report.checks if c.id == check_id)


def test_a_bug_in_the_check_is_the_courses_error_at_the_checks_line(report):
    bug = check_of(report, "course-bug")
    line = line_of(CHECKS, 'return settings["timeout"]')
    assert bug.status == "error" and (bug.file, bug.line) == (None, None)
    assert bug.message == (f"the check itself failed at checks/test_behaviour.py:{line} (a bug in the course, not "
                           "in your code): KeyError: 'timeout'")
    assert report.status == "error" and report.exit_code == 2


def test_a_crash_in_the_learners_code_is_their_failure_at_their_line(report):
    crash = check_of(report, "learner-crash")
    assert crash.status == "fail" and (crash.file, crash.line) == ("app.py", line_of(APP, "return sum(numbers)"))
    assert crash.message == "your code raised ZeroDivisionError: division by zero"
    assert 'File "app.py"' in crash.output


def test_a_library_refusing_the_learners_object_is_their_failure_naming_the_object(report):
    refused = check_of(report, "library-refuses")
    assert refused.status == "fail"
    assert refused.message.startswith("your Session failed when used (`Session.get_bind()`): "
                                      "UnboundExecutionError: This session is not bound")
    assert "the check" not in refused.message


def test_a_library_refusing_the_learners_class_points_at_the_class(report):
    noisy = check_of(report, "noisy")
    assert noisy.status == "fail" and (noisy.file, noisy.line) == ("app.py", line_of(APP, "class Hero"))
    assert noisy.message.startswith("your Hero failed when used (`BaseModel.model_validate()`): ValidationError")


def test_no_temp_folder_and_no_pydantic_url_reach_the_learner(report):
    noisy, printed = check_of(report, "noisy"), check_of(report, "noisy-output")
    assert noisy.message.endswith("1 validation error for Hero: name: Field required (got {'where': 'app.py'})")
    assert printed.message.startswith("your code raised ValidationError") and printed.output == "running in .\n"
    for text in (noisy.message, noisy.output, printed.message, printed.output):
        assert "/tmp" not in text and "grade-" not in text and "errors.pydantic.dev" not in text


def test_a_long_message_is_cut_at_a_word_with_an_ellipsis(report):
    long = check_of(report, "long")
    assert len(long.message) <= MESSAGE_CAP and long.message.endswith("word…")


def test_the_hint_follows_the_diagnosis_and_falls_back_to_the_checks_own(report):
    assert check_of(report, "diagnosed").hint == "the hint for the known mistake"
    assert check_of(report, "undiagnosed").hint == "the general hint"


@pytest.mark.parametrize("table, problem", [
    ('known-mistake = "one hint"', "hints_for.known-mistake"),
    ("known-mistake = []", "one or more non-empty strings"),
    ('Not_A_Diagnosis = ["x"]', "is not a diagnosis"),
])
def test_hints_for_must_be_a_table_of_string_lists_by_diagnosis(tmp_path, table, problem):
    folder = tmp_path / "chapters" / "chapter-9"
    folder.mkdir(parents=True)
    (folder / "chapter.toml").write_text(MANIFEST.replace('known-mistake = ["the hint for the known mistake"]',
                                                          table))
    with pytest.raises(ContentError) as caught:
        load_chapter_dir(folder)
    assert problem in str(caught.value)


# -- the text itself ------------------------------------------------------------------------------------------------
def test_text_is_cut_at_a_line_or_a_word_with_an_ellipsis():
    assert clip("short", 10) == "short"
    assert clip("the first line\nthe second line", 20) == "the first line…"
    assert clip("one two three four", 12) == "one two…"
    assert clip("x" * 30, 10) == "x" * 9 + "…"


def test_library_pointers_to_their_documentation_are_cut():
    pydantic = "1 validation error for Hero\nname\n  Field required\n    For further information visit " \
               "https://errors.pydantic.dev/2.14/v/missing"
    sqlalchemy = "(sqlite3.IntegrityError) NOT NULL constraint failed: hero.name\n(Background on this error at: " \
                 "https://sqlalche.me/e/21/gkpj)"
    assert without_noise(pydantic) == "1 validation error for Hero\nname\n  Field required"
    assert without_noise(sqlalchemy) == "(sqlite3.IntegrityError) NOT NULL constraint failed: hero.name"


def test_an_installed_package_is_named_from_its_package_not_the_venv():
    text = ("ImportError: cannot import name 'sessionmaker' from 'sqlmodel' "
            "(/home/me/course/.venv/lib/python3.11/site-packages/sqlmodel/__init__.py)")
    assert without_noise(text) == "ImportError: cannot import name 'sessionmaker' from 'sqlmodel' (sqlmodel/__init__.py)"
    assert without_noise('File "/usr/lib/python3/dist-packages/fastapi/routing.py", line 9') == \
        'File "fastapi/routing.py", line 9'


def test_memory_addresses_are_cut_from_reprs():
    text = "'<Hero at 0x7f3a2c1d9e50>' is not a valid dict; got <generator object get_session at 0x7F00AB>"
    assert without_noise(text) == "'<Hero>' is not a valid dict; got <generator object get_session>"
    assert without_noise("id 0x10 at 0x20 stays") == "id 0x10 at 0x20 stays"  # only inside a repr's <...>


def test_the_sandbox_folder_becomes_relative_paths():
    work, box = "/tmp/grade-ab12/work", "/tmp/grade-ab12"
    assert relative_paths('File "/tmp/grade-ab12/work/main.py", line 3', work, box) == 'File "main.py", line 3'
    assert relative_paths("cwd is /tmp/grade-ab12/work", work, box) == "cwd is ."
    assert relative_paths("sqlite:////tmp/grade-ab12/work/database.db", work, box) == "sqlite:////…/database.db"
    assert relative_paths("HOME=/tmp/grade-ab12/home", work, box) == "HOME=…/home"
