"""`course check`'s chain rule (each starter is the previous chapter's solution, plus new files only) and
solution-diff rule (the solution differs from its starter only where the instructions say), on small chapter
trees in temp content roots."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from authoring import CHAPTER, write_example
from course.chain_rules import chain_rule, solution_diff_rule, units
from course.content_check import Inspection

APP = '''"""The heroes app."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/heroes/")
def read_heroes():
    return []
'''


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    return root


def found(findings, root: Path) -> list[str]:
    return [f"{f.path.relative_to(root).as_posix()}:{f.line}: {f.message}" for f in findings]


@pytest.fixture
def course(tmp_path) -> Path:
    """Chapters 1 and 2, where chapter 2's starter is chapter 1's solution plus a new file."""
    return write(tmp_path, {
        "chapters/chapter-1/chapter.toml": "", "chapters/chapter-2/chapter.toml": "",
        "solutions/chapter-1/main.py": APP, "solutions/chapter-1/README.txt": "one\ntwo\n",
        "starter/chapter-2/main.py": APP, "starter/chapter-2/README.txt": "one\ntwo\n",
        "starter/chapter-2/tests/test_app.py": "# Chapter 2: write your tests here\n",
    })


# -- chain ----------------------------------------------------------------------------------------------------------
def test_a_starter_that_is_the_previous_solution_plus_new_files_continues_it(course):
    assert chain_rule("chapter-2", "chapter-1", course) == []


def test_the_first_chapter_continues_nothing(course):
    assert chain_rule("chapter-1", None, course) == []


def test_continues_from_must_name_the_previous_chapter(course):
    assert found(chain_rule("chapter-2", None, course, continues_line=5), course) == [
        'chapters/chapter-2/chapter.toml:5: continues_from is not set: every chapter continues the one before it, '
        'so write `continues_from = "chapter-1"`']
    write(course, {"chapters/chapter-3/chapter.toml": "", "starter/chapter-3/main.py": APP})
    assert found(chain_rule("chapter-3", "chapter-1", course, continues_line=5), course) == [
        "chapters/chapter-3/chapter.toml:5: continues_from is 'chapter-1': every chapter continues the one before "
        'it, so write `continues_from = "chapter-2"`']


def test_the_previous_chapter_is_the_one_before_in_the_course(course):
    """Numbers may skip: chapter 4 of a course of chapters 1, 2 and 4 continues chapter 2."""
    write(course, {"chapters/chapter-4/chapter.toml": "", "solutions/chapter-2/main.py": APP,
                   "starter/chapter-4/main.py": APP})
    assert chain_rule("chapter-4", "chapter-2", course) == []
    assert len(chain_rule("chapter-4", "chapter-3", course)) == 1


def test_a_shared_file_that_differs_is_named_at_its_first_differing_line(course):
    write(course, {"starter/chapter-2/main.py": APP.replace("    return []", "    return ['x']")})
    assert found(chain_rule("chapter-2", "chapter-1", course), course) == [
        "starter/chapter-2/main.py:10: differs from solutions/chapter-1/main.py at line 10 (\"    return ['x']\" "
        "here, '    return []' there): chapter-2's starter is chapter-1's reference solution, so every file they "
        "share is the same, byte for byte"]


@pytest.mark.parametrize("starter, line, shown", [
    (APP + "# Chapter 2: start here\n", 11, "'# Chapter 2: start here' here, no line there"),
    (APP.removesuffix("\n"), 10, "'    return []' without a line ending here, '    return []' there"),
    (APP.replace("\n", "\r\n"), 1, "'\"\"\"The heroes app.\"\"\"\\r' here, '\"\"\"The heroes app.\"\"\"' there"),
])
def test_comments_and_line_endings_count(course, starter, line, shown):
    """Byte for byte: a comment the learner was not given, or a lost final newline, is a difference."""
    write(course, {"starter/chapter-2/main.py": starter})
    assert found(chain_rule("chapter-2", "chapter-1", course), course) == [
        f"starter/chapter-2/main.py:{line}: differs from solutions/chapter-1/main.py at line {line} ({shown}): "
        "chapter-2's starter is chapter-1's reference solution, so every file they share is the same, byte for byte"]


def test_course_check_runs_the_chain_rule(tmp_path):
    """The guide's chapter 8, then a chapter 9 whose starter drifts from chapter 8's solution."""
    root = write_example(tmp_path / "content")
    for kind in ("chapters", "starter", "solutions"):
        shutil.copytree(root / kind / CHAPTER, root / kind / "chapter-9")
    shutil.copytree(root / "solutions" / CHAPTER, root / "starter" / "chapter-9", dirs_exist_ok=True)
    manifest = root / "chapters" / "chapter-9" / "chapter.toml"
    manifest.write_text(manifest.read_text().replace('files = ["database.py"]',
                                                     'files = ["database.py"]\ncontinues_from = "chapter-8"'))
    assert Inspection.of(root, "chapter-9").results["chain"].problems == []
    (root / "starter" / "chapter-9" / "database.py").write_text("# drifted\n")
    chain = Inspection.of(root, "chapter-9").results["chain"]
    assert [f"{p.where()}: {p.message.split(' (')[0]}" for p in chain.problems] == [
        "starter/chapter-9/database.py:1: differs from solutions/chapter-8/database.py at line 1"]
    assert Inspection.of(root, CHAPTER).results["chain"].status == "ok"  # the first chapter of this course


# -- solution diff ------------------------------------------------------------------------------------------------
LESSON = """# Chapter 1

Some prose naming `read_hero` outside the steps.

## Instructions

1. Add `create_hero`, a POST endpoint, and import `select` for read_heroes.
2. Run `grade chapter-1`.

## After the steps

`read_hero` is named here too late.
"""

STARTER = '''"""The heroes app."""

from fastapi import FastAPI
from sqlmodel import Session

app = FastAPI()


@app.get("/heroes/")
def read_heroes():
    return []

# Chapter 1: write create_hero below.
'''

SOLUTION = '''"""The heroes app."""

from fastapi import FastAPI
from sqlmodel import Session, select

app = FastAPI()


@app.get("/heroes/")
def read_heroes():
    return list(select)

# Chapter 1: write create_hero below.
@app.post("/heroes/")
def create_hero():
    return {}
'''


def solution_diff(tmp_path: Path, solution: str, starter: str = STARTER, lesson: str = LESSON,
                  extra: dict[str, str] | None = None) -> list[str]:
    write(tmp_path, {"starter/chapter-1/main.py": starter, "solutions/chapter-1/main.py": solution, **(extra or {})})
    return found(solution_diff_rule("chapter-1", tmp_path, lesson), tmp_path)


def test_a_solution_that_changes_only_what_the_steps_name_passes(tmp_path):
    """create_hero is added, read_heroes changed and `select` imported: each is named in a step (in backticks
    or as a bare word); `Session`, on the same import line, did not change; the starter's comment stays."""
    assert solution_diff(tmp_path, SOLUTION) == []


def test_identical_files_and_new_named_files_pass(tmp_path):
    extra = {"starter/chapter-1/models.py": "X = 1\n", "solutions/chapter-1/models.py": "X = 1\n"}
    assert solution_diff(tmp_path, SOLUTION, extra=extra) == []


@pytest.mark.parametrize("change, expected", [
    (("def read_heroes():\n    return list(select)", "def read_heroes():\n    return list(select)\n\n\n"
      "def read_hero():\n    return None"),
     "solutions/chapter-1/main.py:14: the solution adds `read_hero` in main.py"),
    (("from fastapi import FastAPI\n", ""), "starter/chapter-1/main.py:3: the solution removes `FastAPI` in main.py"),
    (("app = FastAPI()", "app = FastAPI(title=\"Heroes\")"),
     "solutions/chapter-1/main.py:6: the solution changes `app` in main.py"),
    (("from sqlmodel import Session, select", "from sqlmodel import Session, select, col"),
     "solutions/chapter-1/main.py:4: the solution adds `col` in main.py"),
    (("from sqlmodel import Session, select", "from sqlmodel import select"),
     "starter/chapter-1/main.py:4: the solution removes `Session` in main.py"),
])
def test_a_definition_the_steps_do_not_name_is_reported(tmp_path, change, expected):
    """Named elsewhere in the lesson is not enough (`read_hero`): the steps must name it."""
    old, new = change
    assert old in SOLUTION
    assert solution_diff(tmp_path, SOLUTION.replace(old, new)) == [
        f"{expected}, but the lesson's ## Instructions never name it: name it in a step, or keep the starter's"]


@pytest.mark.parametrize("solution, expected", [
    (SOLUTION + "\n# Chapter 2: write get_session() next.\n",
     "solutions/chapter-1/main.py:18: the solution adds a comment outside any definition of main.py "
     "('# Chapter 2: write get_session() next.')"),
    (SOLUTION.replace('"""The heroes app."""', '"""The heroes app, finished."""'),
     "solutions/chapter-1/main.py:1: the solution adds the module docstring outside any definition of main.py "
     "('\"\"\"The heroes app, finished.\"\"\"')"),
    (SOLUTION + "\napp.title = 'Heroes'\n",
     "solutions/chapter-1/main.py:18: the solution adds a statement outside any definition of main.py "
     "(\"app.title = 'Heroes'\")"),
])
def test_a_difference_outside_any_definition_is_reported(tmp_path, solution, expected):
    found_ = solution_diff(tmp_path, solution)
    assert found_[-1] == f"{expected}: the learner's correct file would differ from it there; keep the starter's"


def test_a_placeholder_comment_the_solution_fills_in_may_go(tmp_path):
    """The starter's "write X below" comment gives way to X: a learner's correct file may drop it too."""
    assert solution_diff(tmp_path, SOLUTION.replace("# Chapter 1: write create_hero below.\n", "")) == []


def test_an_import_that_a_named_change_uses_goes_with_it(tmp_path):
    """`HTTPException` is new, and unnamed, but `create_hero` (named) uses it; `col` is used by nothing named."""
    solution = SOLUTION.replace("from fastapi import FastAPI", "from fastapi import FastAPI, HTTPException").replace(
        "    return {}", "    raise HTTPException(status_code=501)")
    assert solution_diff(tmp_path, solution) == []
    assert solution_diff(tmp_path, solution.replace("import FastAPI,", "import col, FastAPI,")) == [
        "solutions/chapter-1/main.py:3: the solution adds `col` in main.py, but the lesson's ## Instructions never "
        "name it: name it in a step, or keep the starter's"]


def test_a_statement_the_steps_quote_may_be_added(tmp_path):
    lesson = LESSON.replace("2. Run", "2. Add `app.include_router(router)` at the end.\n3. Run")
    assert solution_diff(tmp_path, SOLUTION + "app.include_router(router)\n", lesson=lesson) == []


def test_a_changed_file_that_is_not_python_must_be_named(tmp_path):
    extra = {"starter/chapter-1/notes.txt": "a\n", "solutions/chapter-1/notes.txt": "b\n"}
    assert solution_diff(tmp_path, SOLUTION, extra=extra) == [
        "solutions/chapter-1/notes.txt:None: the solution changes notes.txt, but the lesson's ## Instructions never "
        "name it"]
    assert solution_diff(tmp_path, SOLUTION, extra=extra, lesson=LESSON.replace("2. Run", "2. Edit notes.txt.\n3. "
                                                                                "Run")) == []


def test_without_instructions_every_difference_is_reported(tmp_path):
    assert len(solution_diff(tmp_path, SOLUTION, lesson="# Chapter 1\n\nNo steps.\n")) == 3


def test_units_are_top_level_definitions_with_the_comments_above_them():
    found_ = units('"""Doc."""\n# about x\nx = y = 1\nfrom a import (b,\n    c as d)\nimport e.f\n\n\n'
                   'def g():\n    h = 2\n# the end\n')
    assert [(u.names, u.line) for u in found_] == [
        ((), 1), (("x", "y"), 3), (("b",), 4), (("d",), 4), (("e",), 6), (("g",), 9), ((), 11)]
    assert found_[1].code == "# about x\nx = y = 1\n"
    assert [u.code for u in found_[2:5]] == ["from a import b", "from a import c as d", "import e.f"]


def test_course_check_runs_the_solution_diff_rule(tmp_path):
    root = write_example(tmp_path / "content")
    assert Inspection.of(root, CHAPTER).results["solution-diff"].problems == []
    solution = root / "solutions" / CHAPTER / "database.py"
    solution.write_text(solution.read_text() + "\n# Chapter 9: next, tests.\n")
    rule = Inspection.of(root, CHAPTER).results["solution-diff"]
    assert [p.where() for p in rule.problems] == [f"solutions/{CHAPTER}/database.py:15"]


MODELS = '''from sqlmodel import Field, SQLModel


class Hero(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
'''


@pytest.mark.parametrize("step, expected", [
    ("1. Make the hero's name unique: `Field(index=True, unique=True)`.", []),
    ("1. Give `Hero` a unique name.", []),
    ("1. Make it unique.", ["solutions/chapter-1/models.py:4: the solution changes `Hero.name` in models.py, but the "
                            "lesson's ## Instructions never name it: name it in a step, or keep the starter's"]),
])
def test_a_changed_class_is_named_by_its_name_or_by_each_member_that_changed(tmp_path, step, expected):
    extra = {"starter/chapter-1/models.py": MODELS,
             "solutions/chapter-1/models.py": MODELS.replace("Field(index=True)", "Field(index=True, unique=True)")}
    assert solution_diff(tmp_path, STARTER, lesson=f"## Instructions\n\n{step}\n", extra=extra) == expected
