"""`course check`, rule by rule: each rule passes on a clean chapter and reports a chapter that breaks it, at
`path:line`. Chapters are built in temp content roots: the guide's chapter 8, or a copy of chapter 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from authoring import CHAPTER, run_course, write_example
from conftest import ROOT
from course.content_check import GRADED, RULES, ChapterResult, Inspection, check_chapters
from grader.sandbox.pool import WorkerPool

CHECK_LINE = 17
"""The `id = "one-shared-database"` line of the guide's chapter.toml."""


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(2) as p:
        yield p


@pytest.fixture
def root(tmp_path) -> Path:
    """A content root holding only the guide's chapter 8 (clean)."""
    return write_example(tmp_path / "content")


@pytest.fixture
def chapter(root) -> Path:
    return root / "chapters" / CHAPTER


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def check(root: Path, pool, chapter_id: str = CHAPTER) -> ChapterResult:
    return check_chapters([chapter_id], root, pool=pool).chapters[0]


def problems(result: ChapterResult, rule: str) -> list[str]:
    """`path:line: message` of each problem the rule found."""
    found = next(r for r in result.rules if r.rule == rule)
    return [f"{p.where()}: {p.message}" for p in found.problems]


def structural(root: Path, rule: str, chapter_id: str = CHAPTER) -> list[str]:
    """The problems of a rule that needs no grading."""
    found = Inspection.of(root, chapter_id).results[rule]
    return [f"{p.where()}: {p.message}" for p in found.problems]


def only_problems_in(result: ChapterResult, *rules: str) -> None:
    noisy = {r.rule: [p.message for p in r.problems] for r in result.rules if r.problems and r.rule not in rules}
    assert noisy == {}


# -- clean chapters ---------------------------------------------------------------------------------------------
def test_the_guides_chapter_is_clean(root, chapter, pool):
    assert line_of(chapter / "chapter.toml", 'id = "one-shared-database"') == CHECK_LINE
    result = check(root, pool)
    assert result.status == "ok" and result.problems == 0
    assert [r.rule for r in result.rules] == list(RULES)
    assert all(r.status == "ok" for r in result.rules)


def test_chapter_2_the_worked_example_is_clean(tmp_path, pool):
    content = tmp_path / "content"
    for kind in ("chapters", "starter", "solutions"):
        shutil.copytree(ROOT / kind / "chapter-2", content / kind / "chapter-2")
    # Chapter 1 is not written yet; by definition its solution is the app chapter 2 starts from.
    shutil.copytree(ROOT / "starter" / "chapter-2", content / "solutions" / "chapter-1")
    result = check(content, pool, "chapter-2")
    assert result.problems == 0, [p for r in result.rules for p in r.problems]


# -- manifest ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("old, new, line_text, says", [
    ("format_version = 1", "format_version = 2", "format_version", "format_version is 2"),
    ('kind = "behaviour"', 'kind = "test"', 'kind = "test"',
     'check \'one-shared-database\': `kind` is "test"; write "static" or "behaviour"'),
    ('depends = ["memory-engine-defined"]', 'depends = ["nope"]', 'depends = ["nope"]', "depends on 'nope'"),
    ('id = "one-shared-database"', 'id = "One Shared"', 'id = "One Shared"',
     '`id` is "One Shared", which is not a check id: kebab-case'),
    ('files = ["database.py"]', 'files = []', "files = []", "`files` is empty: it needs at least 1 item(s)"),
    ('kind = "behaviour"', 'kind = "behaviour"\nfle = "database.py"', 'fle = ',
     "check 'one-shared-database': unknown key `fle`: did you mean `file`?"),
    ('title = "Every connection', 'file = "app.py"\ntitle = "Every connection', 'file = "app.py"',
     "not one of the chapter's files"),
])
def test_an_invalid_manifest_is_reported_at_its_line(chapter, root, old, new, line_text, says):
    manifest = chapter / "chapter.toml"
    edit(manifest, old, new)
    found = structural(root, "manifest")
    assert len(found) == 1 and says in found[0], found
    assert found[0].startswith(f"chapters/{CHAPTER}/chapter.toml:{line_of(manifest, line_text)}: invalid manifest")


def test_a_repeated_check_id_is_reported_where_it_is_repeated(chapter, root):
    manifest = chapter / "chapter.toml"
    edit(manifest, 'id = "one-shared-database"', 'id = "memory-engine-defined"')
    found = structural(root, "manifest")
    second = [n for n, line in enumerate(manifest.read_text().splitlines(), 1) if line.startswith("id = ")][1]
    assert found == [f"chapters/{CHAPTER}/chapter.toml:{second}: invalid manifest: check ids must be unique; "
                     "repeated: memory-engine-defined"]


def test_a_dependency_cycle_is_reported_at_a_depends_line(chapter, root):
    manifest = chapter / "chapter.toml"
    edit(manifest, 'kind = "static"\n', 'kind = "static"\ndepends = ["memory-engine-defined"]\n')
    found = structural(root, "manifest")
    assert len(found) == 1 and "dependency cycle: memory-engine-defined -> memory-engine-defined" in found[0]
    assert found[0].startswith(f"chapters/{CHAPTER}/chapter.toml:{line_of(manifest, 'depends')}:")


def test_broken_toml_is_reported_with_its_line(chapter, root):
    edit(chapter / "chapter.toml", 'kind = "static"', 'kind = "static')
    found = structural(root, "manifest")
    line = line_of(chapter / "chapter.toml", 'kind = "static')
    assert len(found) == 1 and found[0].startswith(f"chapters/{CHAPTER}/chapter.toml:{line}: invalid TOML")


def test_broken_toml_stops_grading_with_its_line_too(chapter, root):
    """Loading a manifest, a quiz or mutants outside `course check` names the line as well."""
    from grader.content import ContentError
    from grader.manifest import load_chapter
    from grader.quiz import load_quiz

    edit(chapter / "quiz.toml", 'answer = "', 'answer = ')
    with pytest.raises(ContentError) as quiz_error:
        load_quiz(chapter / "quiz.toml")
    assert quiz_error.value.line == line_of(chapter / "quiz.toml", "answer = ")
    edit(chapter / "chapter.toml", 'kind = "static"', 'kind = "static')
    with pytest.raises(ContentError) as manifest_error:
        load_chapter(CHAPTER, root)
    line = line_of(chapter / "chapter.toml", 'kind = "static')
    assert str(manifest_error.value).startswith(f"{chapter / 'chapter.toml'}:{line}: invalid TOML")


def test_every_check_needs_three_hints(chapter, root):
    manifest = chapter / "chapter.toml"
    edit(manifest, '    "Return `create_engine(', '    # "Return `create_engine(')
    found = structural(root, "manifest")
    hints_line = [n for n, line in enumerate(manifest.read_text().splitlines(), 1) if line.startswith("hints")][1]
    assert found == [f"chapters/{CHAPTER}/chapter.toml:{hints_line}: check 'one-shared-database' has 2 hint(s); "
                     "give at least 3, from a gentle nudge to the explicit answer"]


def test_without_a_loadable_manifest_the_rules_that_need_it_are_skipped(chapter, root, pool):
    (chapter / "chapter.toml").unlink()
    result = check(root, pool)
    assert problems(result, "manifest") == [f"chapters/{CHAPTER}/chapter.toml: there is no chapter.toml: every "
                                            "chapter starts with its manifest"]
    skipped = {r.rule: r.note for r in result.rules if r.status == "skipped"}
    assert set(skipped) == {"requires", "files", "continuity", "chain", "implementations", "lesson", "solution-diff",
                            *GRADED}
    assert all(note == "needs a chapter.toml that loads" for note in skipped.values())


# -- files ----------------------------------------------------------------------------------------------------------
def test_an_edited_file_missing_from_the_solution(chapter, root):
    (root / "solutions" / CHAPTER / "database.py").unlink()
    assert structural(root, "files") == [
        f"chapters/{CHAPTER}/chapter.toml:4: database.py is one of the chapter's `files`, but "
        f"solutions/{CHAPTER}/database.py does not exist"]


def test_support_files_of_the_solution_are_the_starters(root):
    (root / "solutions" / CHAPTER / "models.py").write_text("X = 1\n")
    found = structural(root, "files")
    assert len(found) == 1 and found[0].startswith(f"solutions/{CHAPTER}/models.py: support file models.py is not "
                                                   f"in starter/{CHAPTER}/")
    (root / "starter" / CHAPTER / "models.py").write_text("# the same code, other comments\nX = 1\n")
    assert structural(root, "files") == []
    (root / "starter" / CHAPTER / "models.py").write_text("X = 1\nY = 2\n")
    found = structural(root, "files")
    assert len(found) == 1 and found[0].startswith(f"solutions/{CHAPTER}/models.py:1: support file models.py "
                                                   f"differs from starter/{CHAPTER}/models.py")


# -- continuity --------------------------------------------------------------------------------------------------
def test_continuity_compares_the_starter_with_the_previous_solution(chapter, root):
    manifest = chapter / "chapter.toml"
    edit(manifest, 'files = ["database.py"]', 'files = ["database.py"]\ncontinues_from = "chapter-7"')
    found = structural(root, "continuity")
    assert found == [f"chapters/{CHAPTER}/chapter.toml:5: continues_from = 'chapter-7', but solutions/chapter-7/ "
                     "does not exist"]

    previous = root / "solutions" / "chapter-7"
    previous.mkdir(parents=True)
    starter = (root / "starter" / CHAPTER / "database.py").read_text()
    (previous / "database.py").write_text(starter.replace("# Chapter 8: write get_memory_engine() below.\n", ""))
    (previous / "main.py").write_text("app = None\n")  # only in chapter 7: not compared
    assert structural(root, "continuity") == []  # same code; the starter only adds a comment

    (previous / "database.py").write_text(starter.replace('"sqlite:///database.db"', '"sqlite:///heroes.db"'))
    assert structural(root, "continuity") == [
        f"starter/{CHAPTER}/database.py:5: differs from solutions/chapter-7/database.py: this chapter continues "
        "chapter-7, so the files they share must hold the same code, comments aside (and marked stubs)"]


STUB = '''

def get_memory_engine():
    """Chapter 8: an in-memory engine every thread shares."""
    raise NotImplementedError("write it: see the lesson")
'''


def test_a_continuing_starter_may_hand_out_a_skeleton_in_the_files_the_learner_edits(chapter, root):
    edit(chapter / "chapter.toml", 'files = ["database.py"]', 'files = ["database.py"]\ncontinues_from = "chapter-7"')
    previous = root / "solutions" / "chapter-7"
    shutil.copytree(root / "solutions" / CHAPTER, previous)  # chapter 7 already had get_memory_engine
    (previous / "models.py").write_text("class Hero:\n    def save(self):\n        return 1\n")
    starter = root / "starter" / CHAPTER
    (starter / "database.py").write_text((previous / "database.py").read_text().split("\n\ndef ")[0] + STUB)
    assert structural(root, "continuity") == []  # a stub in place of the learner's function
    (previous / "database.py").write_text((starter / "database.py").read_text().split("\n\ndef ")[0] + "\n")
    assert structural(root, "continuity") == []  # a new function, handed out as a stub
    (starter / "database.py").write_text("import threading\n" + (starter / "database.py").read_text())
    assert structural(root, "continuity") == []  # with a new import line its stubs need
    (starter / "database.py").write_text((starter / "database.py").read_text() + "\n\nX = 1\n")
    assert len(structural(root, "continuity")) == 1  # anything else is still a difference

    # a support file (not in `files`) may not be stubbed: the learner never edits it
    (starter / "database.py").write_text((previous / "database.py").read_text())
    (starter / "models.py").write_text("class Hero:\n    def save(self):\n        raise NotImplementedError\n")
    assert structural(root, "continuity") == [
        f"starter/{CHAPTER}/models.py:3: differs from solutions/chapter-7/models.py: this chapter continues "
        "chapter-7, so the files they share must hold the same code, comments aside"]


def test_continuity_is_ok_without_continues_from(root):
    rule = Inspection.of(root, CHAPTER).results["continuity"]
    assert rule.status == "ok" and rule.note == "continues_from is not set"


# -- implementations -----------------------------------------------------------------------------------------------
def test_a_check_without_implementation(chapter, root):
    static = chapter / "checks" / "static.py"
    edit(static, '@check("memory-engine-defined")', '@check("memory-engine")')
    found = structural(root, "implementations")
    manifest_line = line_of(chapter / "chapter.toml", 'id = "memory-engine-defined"')
    assert found == [
        f"chapters/{CHAPTER}/chapter.toml:{manifest_line}: check 'memory-engine-defined' has no implementation: "
        "checks/static.py has no @check('memory-engine-defined')",
        f"chapters/{CHAPTER}/checks/static.py:{line_of(static, '@check')}: @check('memory-engine') implements no "
        "check of chapter.toml: add a [[checks]] entry for it, or remove it",
    ]


def test_a_behavioural_check_without_a_marked_test(chapter, root):
    edit(chapter / "checks" / "test_behaviour.py", '@check("one-shared-database")\n', "")
    found = structural(root, "implementations")
    assert len(found) == 1 and "no test in checks/test_*.py is marked @check('one-shared-database')" in found[0]


def test_a_check_implemented_as_the_wrong_kind(chapter, root):
    edit(chapter / "chapter.toml", 'kind = "static"', 'kind = "behaviour"')
    found = structural(root, "implementations")
    assert len(found) == 1 and "has kind = 'behaviour', but " in found[0]
    assert f"chapters/{CHAPTER}/checks/static.py:6 implements it as a static check" in found[0]


def test_a_check_implemented_twice(chapter, root):
    static = chapter / "checks" / "static.py"
    static.write_text(static.read_text() + '\n\n@check("memory-engine-defined")\ndef again(src):\n'
                      '    return called(src, "sqlmodel.create_engine")\n')
    found = structural(root, "implementations")
    second = [n for n, line in enumerate(static.read_text().splitlines(), 1) if line.startswith("@check")][1]
    assert found == [f"chapters/{CHAPTER}/checks/static.py:{second}: check 'memory-engine-defined' has 2 "
                     f"implementations (chapters/{CHAPTER}/checks/static.py:6, chapters/{CHAPTER}/checks/static.py:"
                     f"{second}); keep exactly one"]


def test_static_checks_that_cannot_be_imported(chapter, root):
    edit(chapter / "checks" / "static.py", "from grader.static import called, check",
         "from grader.static import called, check, no_such_block")
    found = structural(root, "implementations")
    assert len(found) == 1 and found[0].startswith(f"chapters/{CHAPTER}/checks/static.py:3: checks/static.py "
                                                   "cannot be imported: ImportError")


def test_checks_files_with_a_syntax_error(chapter, root):
    edit(chapter / "checks" / "test_behaviour.py", "def test_one_shared_database(learner):",
         "def test_one_shared_database(learner)")
    line = line_of(chapter / "checks" / "test_behaviour.py", "def test_one_shared_database")
    assert structural(root, "implementations") == [
        f"chapters/{CHAPTER}/checks/test_behaviour.py:{line}: test_behaviour.py has a syntax error: expected ':'"]


def test_without_implementations_the_graded_rules_are_skipped(chapter, root, pool):
    (chapter / "checks" / "static.py").unlink()
    result = check(root, pool)
    assert problems(result, "implementations") == [
        f"chapters/{CHAPTER}/chapter.toml:7: check 'memory-engine-defined' has no implementation: checks/static.py "
        "does not exist"]
    for rule in GRADED:
        found = next(r for r in result.rules if r.rule == rule)
        assert found.status == "skipped" and found.note == f"fix “{RULES['implementations']}” first"


# -- lesson, quiz, placeholders -----------------------------------------------------------------------------------
def test_the_lesson_must_name_the_edited_files(chapter, root):
    lesson = chapter / "lesson.md"
    lesson.write_text(lesson.read_text().replace("database.py", "the database module"))
    assert structural(root, "lesson") == [f"chapters/{CHAPTER}/lesson.md: the lesson never names database.py, a file "
                                          "the learner edits: tell them which file to open"]
    lesson.unlink()
    assert structural(root, "lesson") == [f"chapters/{CHAPTER}/lesson.md: there is no lesson.md"]


def test_a_checks_task_must_be_a_step_of_the_instructions(chapter, root):
    manifest = chapter / "chapter.toml"
    edit(manifest, 'id = "one-shared-database"\n', 'id = "one-shared-database"\ntask = 3\n')
    assert structural(root, "lesson") == []
    edit(manifest, "task = 3", "task = 4")
    assert structural(root, "lesson") == [f"chapters/{CHAPTER}/chapter.toml:{CHECK_LINE}: check "
                                          "'one-shared-database' has task = 4, but the lesson's ## Instructions has "
                                          "3 numbered step(s)"]
    edit(chapter / "lesson.md", "## Instructions", "## What to do")  # one problem: the section, not the step
    assert structural(root, "lesson") == [f"chapters/{CHAPTER}/lesson.md: the lesson has no `## Instructions` "
                                          "section: end it with the numbered steps the checks verify, under a "
                                          "`## Instructions` heading"]


@pytest.mark.parametrize("old, new, line_text, says", [
    ('answer = "b"', 'answer = "e"', 'answer = "e"', "answer 'e' is not one of the 4 choices"),
    ('answer = "b"', 'answer = "b"\nanswer2 = "c"', "answer2", "unknown key `answer2`: did you mean `answer`?"),
    ('    "It stops SQLite from writing a `database.db` file next to the tests",',
     '    "It keeps a pool of fresh connections, so that each test gets an empty database",', "[[questions]]",
     "two choices have the same text"),
    ('explanation = "An in-memory', 'explanation = ""\nwhy = "An in-memory', 'explanation = ""', "`explanation` is empty"),
])
def test_an_invalid_quiz_is_reported_at_its_line(chapter, root, old, new, line_text, says):
    quiz = chapter / "quiz.toml"
    edit(quiz, old, new)
    found = [f for f in structural(root, "quiz") if says in f]
    assert found and found[0].startswith(f"chapters/{CHAPTER}/quiz.toml:{line_of(quiz, line_text)}: question 1: ")


def test_a_missing_quiz(chapter, root):
    (chapter / "quiz.toml").unlink()
    assert structural(root, "quiz") == [f"chapters/{CHAPTER}/quiz.toml: there is no quiz.toml: every chapter has a "
                                        "practice quiz"]


def test_a_quiz_too_short_or_with_the_right_answer_always_in_one_place(chapter, root):
    """The quiz rule's whole-quiz problems, as `course check` reports them (each part: tests/test_quiz_rules.py)."""
    quiz = chapter / "quiz.toml"
    text = quiz.read_text()
    quiz.write_text(text[:text.index("[[questions]]", 10)])  # the first question only
    assert structural(root, "quiz") == [
        f"chapters/{CHAPTER}/quiz.toml: the quiz has 1 question; write at least 6, one per idea of the lesson a "
        "learner could get wrong",
        f"chapters/{CHAPTER}/quiz.toml:{line_of(quiz, 'answer = ')}: 'b' is the right answer in 1 of 1 question "
        "(1); at most half may share a letter, or a learner scores by always answering 'b': move the right choice "
        "in some of them"]


def test_a_lesson_needs_examples_and_one_instructions_section(chapter, root):
    lesson = chapter / "lesson.md"
    text = lesson.read_text()
    first = text.index("```python")
    lesson.write_text(text[:first] + text[text.index("```\n", first) + 4:])  # one example left
    edit(chapter / "chapter.toml", 'kind = "static"', 'kind = "static"\ntask = 2')
    edit(chapter / "chapter.toml", 'kind = "behaviour"', 'kind = "behaviour"\ntask = 3')
    assert structural(root, "lesson") == [f"chapters/{CHAPTER}/lesson.md: the lesson has 1 ```python example(s); "
                                          "show at least 2, each runnable on its own"]
    edit(lesson, "## Instructions", "## What to do")
    assert structural(root, "lesson") == [  # one problem, not one per check with a task
        f"chapters/{CHAPTER}/lesson.md: the lesson has 1 ```python example(s); show at least 2, each runnable on its "
        "own",
        f"chapters/{CHAPTER}/lesson.md: the lesson has no `## Instructions` section: end it with the numbered steps "
        "the checks verify, under a `## Instructions` heading"]


def test_a_hint_given_twice(chapter, root):
    manifest = chapter / "chapter.toml"
    edit(manifest, '    "Define `def get_memory_engine():`', '    "Tests need their own engine: write a function called '
         '`get_memory_engine` that builds and returns it.",\n    "Define `def get_memory_engine():`')
    found = structural(root, "manifest")
    assert found == [f"chapters/{CHAPTER}/chapter.toml:{line_of(manifest, 'hints = [')}: check 'memory-engine-defined' "
                     "gives the hint 'Tests need their own engine: write a function called `get_memory_engine` that "
                     "builds and returns it.' twice: each hint says more than the one before"]


def test_template_placeholders_left_behind(chapter, root):
    edit(chapter / "lesson.md", "## Instructions", "## Instructions\n\nTODO(author): say why it matters")
    line = line_of(chapter / "lesson.md", "TODO(author)")
    assert structural(root, "placeholders") == [f"chapters/{CHAPTER}/lesson.md:{line}: still contains the template's "
                                                "placeholder: TODO(author): say why it matters"]


# -- graded rules --------------------------------------------------------------------------------------------------
def test_a_solution_that_fails_a_check(root, pool):
    solution = root / "solutions" / CHAPTER / "database.py"
    edit(solution, ", poolclass=StaticPool)", ")")
    result = check(root, pool)
    assert problems(result, "solution") == [
        f"solutions/{CHAPTER}/database.py:{line_of(solution, 'def get_memory_engine')}: the solution fails “Every "
        "connection of the engine, in any thread, sees the same database” (one-shared-database): a second "
        "connection saw an empty database: each connection to `sqlite://` gets its own database unless the engine "
        "uses `poolclass=StaticPool`"]


def test_a_starter_that_already_passes(root, pool):
    shutil.copy(root / "solutions" / CHAPTER / "database.py", root / "starter" / CHAPTER / "database.py")
    result = check(root, pool)
    assert problems(result, "starter") == [f"starter/{CHAPTER}: the starter passes every check: the learner would "
                                           "have nothing to do"]
    assert problems(result, "coverage")  # and nothing fails memory-engine-defined any more


def test_a_starter_that_fails_through_a_grader_error(chapter, root, pool):
    # A check that crashes on code without get_memory_engine: a course bug the starter exposes.
    edit(chapter / "checks" / "static.py", "    found = called(", "    function(src, 'get_memory_engine').node.name\n"
                                                                  "    found = called(")
    edit(chapter / "checks" / "static.py", "import called, check", "import called, check, function")
    result = check(root, pool)
    found = problems(result, "starter")
    static = chapter / "checks" / "static.py"
    assert len(found) == 1 and found[0].startswith(
        f"chapters/{CHAPTER}/checks/static.py:{line_of(static, '.node.name')}: “get_memory_engine() is a function of "
        "database.py that calls create_engine” (memory-engine-defined) errors on the starter: the grader crashed on "
        "this check (AttributeError")
    assert problems(result, "solution") == []


@pytest.mark.parametrize("checks_file, before", [
    ("static.py", "    found = called("),
    ("test_behaviour.py", "    with engine.begin() as connection:"),
])
def test_a_check_that_crashes_everywhere_is_one_problem_at_its_own_line(chapter, root, pool, checks_file, before):
    path = chapter / "checks" / checks_file
    edit(path, before, '    {}["boom"]\n' + before)
    result = check(root, pool)
    crashes = [p for r in result.rules for p in r.problems]
    assert len(crashes) == 1, crashes  # not once per submission, nor the skips and misses it causes
    assert crashes[0].where() == f"chapters/{CHAPTER}/checks/{checks_file}:{line_of(path, 'boom')}"
    assert "errors on the solution" in crashes[0].message and "KeyError: 'boom'" in crashes[0].message


def test_a_starter_that_is_not_valid_python(root, pool):
    (root / "starter" / CHAPTER / "database.py").write_text("def get_memory_engine(:\n")
    found = problems(check(root, pool), "starter")
    assert found == [f"starter/{CHAPTER}/database.py:1: the starter fails “Your files are there, are valid Python, and "
                     "every name they use is defined” (files): the learner would start from a broken file: "
                     "SyntaxError: invalid syntax"]


def test_a_chapter_without_mistakes(chapter, root, pool):
    shutil.rmtree(chapter / "mistakes")
    result = check(root, pool)
    assert problems(result, "mistakes") == [f"chapters/{CHAPTER}/mistakes: no mistakes/ fixture: add at least one "
                                            "known-wrong submission, a patch against the solution whose header says "
                                            "`# about: ...`, `# fails: check-id (diagnosis)` and `# fault: file:line`"]
    assert problems(result, "coverage") == [f"chapters/{CHAPTER}/chapter.toml:{CHECK_LINE}: nothing fails check "
                                            "'one-shared-database': neither the starter nor a mistakes/ fixture "
                                            "does; add a fixture with the mistake this check is there to catch"]


def test_a_mistake_the_checks_no_longer_catch(chapter, root, pool):
    # The check stops looking at threads: the same-thread-only mistake now passes.
    edit(chapter / "checks" / "test_behaviour.py", "    if isinstance(seen[0], Exception):", "    if False:")
    result = check(root, pool)
    assert problems(result, "mistakes") == [
        f"chapters/{CHAPTER}/mistakes/same-thread-only.diff:2: should fail 'one-shared-database' but it is pass"]
    only_problems_in(result, "mistakes")


def test_a_mistake_with_another_diagnosis_or_an_extra_failure(chapter, root, pool):
    fixture = chapter / "mistakes" / "no-static-pool.diff"
    edit(fixture, "(not-shared)", "(same-thread-only)")
    other = chapter / "mistakes" / "same-thread-only.diff"
    edit(other, "# fails: one-shared-database (same-thread-only)", "# fails: memory-engine-defined")
    found = problems(check(root, pool), "mistakes")
    assert found[0].startswith(f"chapters/{CHAPTER}/mistakes/no-static-pool.diff:2: 'one-shared-database' failed "
                               "with diagnosis 'not-shared', not 'same-thread-only'")
    assert found[1] == f"chapters/{CHAPTER}/mistakes/same-thread-only.diff:2: should fail 'memory-engine-defined' but it is pass"
    assert found[2].startswith(f"chapters/{CHAPTER}/mistakes/same-thread-only.diff:2: also fails 'one-shared-database' "
                               "(same-thread-only)")


def test_a_first_message_outside_the_fault(chapter, root, pool):
    edit(chapter / "mistakes" / "no-static-pool.diff", "# fault: database.py:11-13", "# fault: database.py:1-2")
    result = check(root, pool)
    assert problems(result, "mistakes") == [
        f"chapters/{CHAPTER}/mistakes/no-static-pool.diff:3: the first failed check, 'one-shared-database', points "
        "at database.py:11, outside the fault (database.py:1-2)"]


def test_a_variant_that_no_longer_applies_is_named_at_its_hunk(chapter, root, pool):
    edit(root / "solutions" / CHAPTER / "database.py", '"""An in-memory SQLite engine', '"""A memory SQLite engine')
    found = problems(check(root, pool), "mistakes")
    assert found[0] == (f"chapters/{CHAPTER}/mistakes/no-static-pool.diff:6: no longer applies to database.py: line 12 "
                        'is `"""A memory SQLite engine: one database, shared by every connection and thread."""`, '
                        'the patch expects `"""An in-memory SQLite engine: one database, shared by every connection '
                        'and thread."""`; remake the variant against the current files')


def test_mistake_headers_are_checked(chapter, root):
    mistakes = chapter / "mistakes"
    fixture = mistakes / "no-static-pool.diff"
    edit(fixture, "# about: no StaticPool, so every connection opens its own empty in-memory database\n", "")
    other = mistakes / "same-thread-only.diff"
    edit(other, "# fails: one-shared-database (same-thread-only)", "# fails: one-shared-database (Same Thread), nope")
    undeclared = fixture.read_text().replace("# fails: one-shared-database (not-shared)\n# fault: database.py:11-13\n",
                                             "# about: nothing declared\n# faults: database.py:11-13\n")
    (mistakes / "undeclared.diff").write_text(undeclared)
    (mistakes / "unlisted.diff").write_text("# about: nothing declared\n" + undeclared.split("\n", 2)[2])
    (mistakes / "old-style.py").write_text("# mistake: a whole file\n# fails: one-shared-database\nx = 1\n")
    found = Inspection.of(root, CHAPTER).results["mistakes"].problems
    assert [f"{p.where()}: {p.message}" for p in found] == [
        f"chapters/{CHAPTER}/mistakes/old-style.py: is not a variant: a known mistake is a patch against the solution, "
        "`mistakes/NAME.diff` (docs/AUTHORING.md, “Mistake fixtures”)",
        f"chapters/{CHAPTER}/mistakes/no-static-pool.diff:1: no `# about:` line saying what this variant changes",
        f"chapters/{CHAPTER}/mistakes/same-thread-only.diff:2: cannot read 'one-shared-database (Same Thread)' in "
        "`# fails:`: write `check-id` or `check-id (diagnosis)`",
        f"chapters/{CHAPTER}/mistakes/undeclared.diff:2: unknown header field `faults`: did you mean `fault`?",
        f"chapters/{CHAPTER}/mistakes/unlisted.diff:1: has no `# fails:` line: a mistake declares the checks it "
        "fails, e.g. `# fails: check-id (diagnosis)`",
        f"chapters/{CHAPTER}/mistakes/unlisted.diff:1: has no `# fault:` line saying where the fix goes, e.g. "
        "`# fault: main.py:12-14`",
        # same-thread-only.diff can no longer be read, so nothing declares the diagnosis chapter.toml has hints for
        f"chapters/{CHAPTER}/chapter.toml:{line_of(chapter / 'chapter.toml', 'same-thread-only = [')}: check "
        "'one-shared-database' has hints for the diagnosis 'same-thread-only', which no mistakes/ fixture declares: "
        "add one whose header says `# fails: one-shared-database (same-thread-only)`",
    ]


def test_an_empty_fails_line_is_reported_as_empty_not_missing(chapter, root):
    fixture = chapter / "mistakes" / "no-static-pool.diff"
    edit(fixture, "# fails: one-shared-database (not-shared)", "# fails: ")
    found = [p for p in structural(root, "mistakes") if "no-static-pool" in p]
    assert found == [f"chapters/{CHAPTER}/mistakes/no-static-pool.diff:2: the `# fails:` line names no check (remove "
                     "it if the variant must pass)"]


def test_hints_for_a_diagnosis_no_mistake_declares_are_refused_at_their_line(chapter, root):
    manifest = chapter / "chapter.toml"
    edit(manifest, "same-thread-only = [", "one-thread-only = [")
    assert structural(root, "mistakes") == [
        f"chapters/{CHAPTER}/chapter.toml:{line_of(manifest, 'one-thread-only = [')}: check 'one-shared-database' "
        "has hints for the diagnosis 'one-thread-only', which no mistakes/ fixture declares: add one whose header "
        "says `# fails: one-shared-database (one-thread-only)`"]


def test_coverage_needs_a_failure_for_every_check(chapter, root, pool):
    for fixture in (chapter / "mistakes").iterdir():
        fixture.unlink()
    (chapter / "mistakes" / "no-call.diff").write_text(
        "# about: get_memory_engine returns the app's engine instead of building one\n"
        "# fails: memory-engine-defined (not-called)\n"
        "# fault: database.py:13\n"
        "--- a/database.py\n+++ b/database.py\n@@ -12,2 +12,2 @@\n"
        '     """An in-memory SQLite engine: one database, shared by every connection and thread."""\n'
        '-    return create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)\n'
        "+    return engine\n")
    result = check(root, pool)
    assert problems(result, "coverage") == [f"chapters/{CHAPTER}/chapter.toml:{CHECK_LINE}: nothing fails check "
                                            "'one-shared-database': neither the starter nor a mistakes/ fixture "
                                            "does; add a fixture with the mistake this check is there to catch"]
    assert [p for p in problems(result, "mistakes") if "same-thread-only" not in p] == []  # its hints' fixture is gone
    only_problems_in(result, "coverage", "mistakes")


def test_a_variant_may_change_several_files(chapter, root, pool):
    edit(chapter / "chapter.toml", 'files = ["database.py"]', 'files = ["database.py", "main.py"]')
    for kind in ("starter", "solutions"):
        (root / kind / CHAPTER / "main.py").write_text("from database import engine\n")
    edit(chapter / "mistakes" / "no-static-pool.diff", "--- a/database.py",
         "--- a/main.py\n+++ b/main.py\n@@ -1 +1,2 @@\n from database import engine\n+ENGINE = engine\n--- a/database.py")
    result = check(root, pool)
    assert problems(result, "mistakes") == [] and problems(result, "coverage") == []


# -- several chapters, the command line ----------------------------------------------------------------------------
def test_several_chapters_share_one_pool(root, pool):
    shutil.copytree(root / "chapters" / CHAPTER, root / "chapters" / "chapter-9")
    for kind in ("starter", "solutions"):
        shutil.copytree(root / kind / CHAPTER, root / kind / "chapter-9")
    (root / "chapters" / "chapter-9" / "quiz.toml").unlink()
    run = check_chapters([CHAPTER, "chapter-9"], root, pool=pool)
    # chapter 9 has no quiz, and (the `chain` rule) neither continues chapter 8 nor starts from its solution
    assert [(c.chapter, c.status, c.problems) for c in run.chapters] == [(CHAPTER, "ok", 0), ("chapter-9", "problem", 3)]
    assert [r.rule for r in run.chapters[1].rules if r.problems] == ["chain", "quiz"]
    assert run.status == "problem" and run.problems == 3



def test_the_command_reports_problems_at_path_line_and_exits_1(chapter, root, tmp_path):
    edit(chapter / "checks" / "test_behaviour.py", "    if isinstance(seen[0], Exception):", "    if False:")
    result = run_course(["check"], root, tmp_path)
    assert result.returncode == 1, result.stderr
    assert (f"content/chapters/{CHAPTER}/mistakes/same-thread-only.diff:2: should fail 'one-shared-database' but it "
            "is pass") in result.stdout
    assert f"{CHAPTER}: 1 problem" in result.stdout

    as_json = run_course(["check", "8", "--format", "json"], root, tmp_path)
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and report["format"] == 1 and report["status"] == "problem"
    assert set(report) == {"format", "status", "root", "problems", "duration", "chapters"}
    rules = report["chapters"][0]["rules"]
    assert [r["rule"] for r in rules] == list(RULES)
    assert all(set(r) == {"rule", "title", "status", "note", "problems"} for r in rules)
    bad = next(r for r in rules if r["rule"] == "mistakes")
    assert bad["problems"] == [{"path": f"chapters/{CHAPTER}/mistakes/same-thread-only.diff", "line": 2,
                                "message": "should fail 'one-shared-database' but it is pass"}]


@pytest.mark.parametrize("args, says", [
    (["check", "chapter-5"], "there is no chapter 'chapter-5'; the chapters are: chapter-8"),
    (["check", "five"], "'five' is not a chapter name"),
    (["check", "--format", "yaml"], "yaml"),
    (["check", "--jobs", "0"], "--jobs"),
])
def test_usage_errors_exit_2(root, tmp_path, args, says):
    result = run_course(args, root, tmp_path)
    assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("chapter_arg, says", [
    ("chapter-99", "there is no chapter 'chapter-99'; the chapters are: chapter-8"),
    ("five", "'five' is not a chapter name: write chapter-N (e.g. chapter-8)"),
])
def test_a_usage_error_in_json_is_json(root, tmp_path, chapter_arg, says):
    result = run_course(["check", chapter_arg, "--format", "json"], root, tmp_path)
    assert result.returncode == 2
    assert json.loads(result.stdout) == {"format": 1, "status": "error", "root": str(root), "message": says}


def test_the_longest_grades_go_first_and_workers_follow_the_cores(root, monkeypatch):
    """Jobs are handed out by the chapters' time limits, the solution first: no long grade is left for the end."""
    from course import content_check
    from grader.content import ContentError

    shutil.copytree(root / "chapters" / CHAPTER, root / "chapters" / "chapter-9")
    for kind in ("starter", "solutions"):
        shutil.copytree(root / kind / CHAPTER, root / kind / "chapter-9")
    edit(root / "chapters" / "chapter-9" / "chapter.toml", "format_version = 1", "format_version = 1\ntimeout = 30")

    class Recorder:
        size = 1
        handed: list = []

        def map_unordered(self, fn, items):
            self.handed.extend(items)
            return ((job, ContentError("not graded here: only the order matters")) for job in items)

    check_chapters([CHAPTER, "chapter-9"], root, pool=Recorder())
    assert [(job.chapter, job.role) for job in Recorder.handed[:2]] == [("chapter-9", "solution"),
                                                                          ("chapter-9", "mistake")]
    assert Recorder.handed[-1].role == "starter" and Recorder.handed[-1].chapter == CHAPTER
    monkeypatch.setattr(content_check.os, "cpu_count", lambda: 1)
    assert content_check.default_jobs() == 2
    monkeypatch.setattr(content_check.os, "cpu_count", lambda: 64)
    assert content_check.default_jobs() == 8
