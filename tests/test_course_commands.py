"""The learner's `course` commands, run as learners run them (subprocesses, and a real terminal)."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

from coursekit import COURSE, GRADE, ROOT, SOLUTION_2, STARTER_2, Tmux, copy_content, course, grade, run

COMMANDS = ["list", "lesson", "start", "hint", "watch", "run", "reset", "solution", "quiz"]
QUIZ_KEY = "b,d,a,c,b,c"
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


@pytest.fixture
def workspace(tmp_path):
    return tmp_path / "ws"


@pytest.fixture
def graded(workspace):
    """A workspace whose chapter 2 is the starter, graded once (2 of 12 checks pass)."""
    course("start", "chapter-2", workspace=workspace)
    grade("chapter-2", workspace=workspace)
    return workspace


def passed_workspace(workspace, text=SOLUTION_2):
    """A workspace whose chapter 2 was graded and passed (through the real grader)."""
    folder = workspace / "chapter-2"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "database.py").write_text(text)
    result = grade("chapter-2", workspace=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def in_terminal(tmp_path, argv, env=None, width=100, keys=(), wait="[exit", command=COURSE):
    """Run `course ...` (or `command ...`) in a real terminal; the screen (with escape codes) once it printed `wait`."""
    session = Tmux(tmp_path, width=width, height=50)
    try:
        full_env = {"PYTHONPATH": os.pathsep.join(sys.path), "TERM": "xterm-256color", **(env or {})}
        session.start([*command, *argv], full_env, cwd=tmp_path)
        for key in keys:
            session.wait_for(key[0])
            session.send(*key[1:])
        session.wait_for(wait)
        return session.tmux("capture-pane", "-p", "-e", "-J", "-S", "-", "-t", "main").stdout
    finally:
        session.kill()


# --- help and usage -------------------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(tmp_path, command):
    result = course(command, "--help", workspace=tmp_path / "ws")
    assert result.returncode == 0
    assert "Example" in result.stdout and f"course {command}" in result.stdout


def test_the_workspace_rule_is_in_the_help(tmp_path):
    result = course("--help", workspace=None, cwd=tmp_path)
    assert "COURSE_WORKSPACE" in result.stdout and "~/fastapi-sessions-course" in result.stdout
    assert all(name in result.stdout for name in COMMANDS)


@pytest.mark.parametrize("command", ["lesson", "start", "hint", "watch", "run", "reset", "solution", "quiz"])
def test_an_unknown_chapter_is_a_usage_error(workspace, command):
    result = course(command, "chapter-99", workspace=workspace)
    assert result.returncode == 2
    from grader.manifest import chapter_ids

    assert f"there is no chapter 'chapter-99'; the chapters are: {', '.join(chapter_ids())}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workspace / "chapter-99").exists()


def test_a_missing_chapter_argument_is_a_usage_error(workspace):
    result = course("hint", workspace=workspace)
    assert result.returncode == 2 and "Missing argument" in result.stderr


def test_the_learner_commands_stay_light(graded):
    """No FastAPI, SQLModel or libcst on the paths learners run all the time."""
    workspace = graded
    probe = ("import atexit, os, sys\n"
             "def heavy():\n"
             "    print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & "
             "{'fastapi', 'sqlmodel', 'sqlalchemy', 'libcst', 'starlette'}), file=sys.stderr, flush=True)\n"
             "atexit.register(heavy)\n"
             "real_exit = os._exit\n"
             "os._exit = lambda code: (heavy(), real_exit(code))  # `grade` ends without the interpreter's teardown\n"
             "from {module} import main\nsys.argv = {argv!r}\nmain()\n")
    for module, argv in (("course.cli", ["course", "list"]), ("course.cli", ["course", "hint", "2"]),
                         ("course.cli", ["course", "lesson", "2"]), ("course.grade_cli", ["grade", "--help"])):
        result = run([sys.executable, "-c", probe.replace("{module}", module).replace("{argv!r}", repr(argv))],
                     workspace=workspace)
        assert "HEAVY []" in result.stderr, (argv, result.stderr)


def test_list_hint_and_lesson_run_without_typer_or_pydantic(graded):
    """Their plain forms skip the CLI framework (typer builds pydantic validators per parameter)."""
    probe = ("import sys\nfrom course.cli import main\nsys.argv = {argv!r}\n"
             "try:\n    main()\nfinally:\n"
             "    loaded = {m.split('.')[0] for m in sys.modules}\n"
             "    print('LOADED', sorted(loaded & {'typer', 'pydantic'}), file=sys.stderr)\n")
    for argv in (["course", "list"], ["course", "hint", "2", "--workspace", str(graded)],
                 ["course", "lesson", "chapter-2", "--no-pager"]):
        result = run([sys.executable, "-c", probe.replace("{argv!r}", repr(argv))], workspace=graded)
        assert result.returncode == 0 and "LOADED []" in result.stderr, (argv, result.stderr)


@pytest.mark.parametrize("argv, handled", [
    (["list"], True), (["list", "--workspace", "w"], True), (["hint", "2"], True),
    (["hint", "--workspace", "w", "chapter-2"], True), (["lesson", "2", "--no-pager"], True),
    (["lesson", "2", "--pager"], True),
    (["list", "--workspace=w"], False), (["list", "--workspace"], False), (["list", "extra"], False),
    (["hint"], False), (["hint", "2", "3"], False), (["hint", "2", "--no-pager"], False),
    (["lesson", "2", "-h"], False),
    (["lesson", "--", "2"], False), (["start", "2"], False), (["--help"], False), ([], False),
])
def test_only_the_plain_forms_skip_typer(argv, handled):
    from course.cli import quick

    assert (quick(argv) is not None) == handled


def test_the_plain_forms_and_typer_say_the_same(graded):
    """`--workspace=DIR` goes through typer, `--workspace DIR` does not: the same output either way."""
    for _ in range(3):  # reveal every hint, so the next ones are all the same
        course("hint", "2", workspace=graded)
    for argv in (["list"], ["hint", "2"]):
        quick = course(*argv, "--workspace", str(graded), workspace=None, cwd=graded.parent)
        typed = course(*argv, f"--workspace={graded}", workspace=None, cwd=graded.parent)
        assert quick.returncode == typed.returncode == 0 and quick.stdout == typed.stdout, argv
    quick = course("lesson", "9", workspace=graded)
    typed = course("lesson", "--no-pager", "--", "9", workspace=graded)
    assert quick.returncode == typed.returncode == 2 and quick.stderr == typed.stderr
    assert "no chapter '9'" in quick.stderr


# --- list -----------------------------------------------------------------------------------------

def test_list_shows_states_checks_and_the_chapter_to_continue(tmp_path, workspace):
    content = copy_content(tmp_path / "content", clones=("chapter-3", "chapter-4"))
    env = {"COURSE_CONTENT": str(content)}
    fresh = course("list", workspace=workspace, env=env)
    assert fresh.returncode == 0
    assert "0 of 3 chapters passed" in fresh.stdout
    assert "▶ chapter-2 Write the session generator not started –/12 checks" in fresh.stdout

    (workspace / "chapter-2").mkdir(parents=True)
    (workspace / "chapter-2" / "database.py").write_text(SOLUTION_2)
    grade("chapter-2", workspace=workspace, env=env)
    grade("chapter-4", workspace=workspace, env=env)  # the starter: 2 of 12
    course("quiz", "chapter-2", "--answers", QUIZ_KEY, workspace=workspace, env=env)
    result = course("list", workspace=workspace, env=env)
    lines = result.stdout.splitlines()
    assert "1 of 3 chapters passed" in lines[0]
    assert lines[1].count("█") == 8 and lines[1].endswith("33%")  # a third of the 24-wide bar
    assert "  chapter-2 Write the session generator passed      12/12 checks · quiz 6/6" in result.stdout
    assert "  chapter-3 Write the session generator not started –/12 checks" in result.stdout
    assert "▶ chapter-4 Write the session generator in progress 2/12 checks" in result.stdout
    assert "Continue with chapter-4: `course watch chapter-4`" in result.stdout


def test_list_names_a_broken_chapter_instead_of_crashing(tmp_path, workspace):
    content = copy_content(tmp_path / "content", clones=("chapter-3",))
    (content / "chapters" / "chapter-3" / "chapter.toml").write_text("title = 1\n")
    result = course("list", workspace=workspace, env={"COURSE_CONTENT": str(content)})
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "chapter-3" in result.stdout and "broken" in result.stdout and "invalid manifest" in result.stdout


# --- lesson ---------------------------------------------------------------------------------------

def test_lesson_piped_is_the_markdown_source(workspace):
    result = course("lesson", "chapter-2", workspace=workspace)
    assert result.returncode == 0
    assert result.stdout == (ROOT / "chapters" / "chapter-2" / "lesson.md").read_text()


@needs_tmux
def test_lesson_in_a_terminal_is_rendered_and_paged(tmp_path):
    paged = tmp_path / "paged.txt"
    pager = tmp_path / "pager.sh"
    pager.write_text(f"#!/bin/sh\ncat > {paged}\n")
    pager.chmod(0o755)
    in_terminal(tmp_path, ["lesson", "chapter-2"], env={"PAGER": str(pager)})
    text = paged.read_text()
    assert "Write the session generator" in text and "# Chapter 2" not in text  # rendered, not the source
    assert "\x1b[" in text  # styled for the terminal
    screen = in_terminal(tmp_path, ["lesson", "chapter-2", "--no-pager"], env={"PAGER": "false", "NO_COLOR": "1"})
    assert "Handing over a session" in screen and "\x1b[1m" not in screen


# --- hint -----------------------------------------------------------------------------------------

def test_hint_before_any_grade_says_what_to_do(workspace):
    result = course("hint", "chapter-2", workspace=workspace)
    assert result.returncode == 1
    assert "no grade of chapter-2 yet" in result.stdout and "grade chapter-2" in result.stdout


def test_hints_are_progressive_for_the_first_failing_check(graded):
    workspace = graded
    first = course("hint", "chapter-2", workspace=workspace)
    assert first.returncode == 0
    assert "Hint 2 of 3 for “Session, Annotated and Depends are imported” (imports)" in first.stdout
    assert "1. Three names are needed" in first.stdout and "2. `Session` already has a home" in first.stdout
    assert "  3. " not in first.stdout and "again for hint 3" in first.stdout
    second = course("hint", "chapter-2", workspace=workspace)
    assert "Hint 3 of 3" in second.stdout and "3. Write `from typing import Annotated`" in second.stdout
    assert "That is the last hint" in second.stdout
    third = course("hint", "chapter-2", workspace=workspace)
    assert "Hint 3 of 3" in third.stdout

    (workspace / "chapter-2" / "database.py").write_text(SOLUTION_2.replace("(get_session)]", "(get_session, use_cache=False)]"))
    stale = course("hint", "chapter-2", workspace=workspace)
    assert "Your files changed since that grade" in stale.stdout
    grade("chapter-2", workspace=workspace)  # a new first failure: its hints start again
    moved = course("hint", "chapter-2", workspace=workspace)
    assert "Hint 2 of 3 for “SessionDep = Annotated[Session, Depends(get_session)], below get_session”" \
        in moved.stdout
    assert "changed since" not in moved.stdout


def test_hint_after_a_pass_says_none_is_needed(workspace):
    passed_workspace(workspace)
    result = course("hint", "chapter-2", workspace=workspace)
    assert result.returncode == 0 and "no hint needed" in result.stdout


def test_hint_for_a_syntax_error_points_at_the_files_check(workspace):
    passed_workspace(workspace)
    (workspace / "chapter-2" / "database.py").write_text("def get_session(\n")
    grade("chapter-2", workspace=workspace)
    result = course("hint", "chapter-2", workspace=workspace)
    assert ("Hint 2 of 3 for “Your files are there, are valid Python, and every name they use is defined” (files)"
            in result.stdout)
    assert "python database.py" in result.stdout


# --- reset ----------------------------------------------------------------------------------------

def test_reset_without_a_terminal_or_yes_refuses_and_changes_nothing(workspace):
    course("start", "chapter-2", workspace=workspace)
    mine = workspace / "chapter-2" / "database.py"
    mine.write_text("# mine\n")
    result = course("reset", "chapter-2", workspace=workspace)
    assert result.returncode == 2 and "--yes" in result.stderr
    assert mine.read_text() == "# mine\n" and not (workspace / "backups").exists()


def test_reset_yes_backs_up_then_restores_the_starter(workspace):
    course("start", "chapter-2", workspace=workspace)
    folder = workspace / "chapter-2"
    (folder / "database.py").write_text("# mine\n")
    (folder / "main.py").write_text((folder / "main.py").read_text() + "# also mine\n")
    (folder / "notes.txt").write_text("not a chapter file\n")
    result = course("reset", "chapter-2", "--yes", workspace=workspace)
    assert result.returncode == 0, result.stderr
    backups = list((workspace / "backups").iterdir())
    assert len(backups) == 1 and backups[0].name.startswith("chapter-2-")
    assert f"Backed up your files to {backups[0]}" in result.stdout
    assert (backups[0] / "database.py").read_text() == "# mine\n"
    assert (backups[0] / "main.py").read_text().endswith("# also mine\n")
    assert (folder / "database.py").read_text() == STARTER_2
    assert (folder / "main.py").read_text() == (ROOT / "starter" / "chapter-2" / "main.py").read_text()
    assert (folder / "notes.txt").read_text() == "not a chapter file\n"  # not the course's: left alone

    (folder / "database.py").write_text("# second try\n")
    course("reset", "chapter-2", "--yes", workspace=workspace)
    assert len(list((workspace / "backups").iterdir())) == 2  # a new folder: the first backup is kept
    again = course("reset", "chapter-2", "--yes", workspace=workspace)
    assert "nothing to reset" in again.stdout and len(list((workspace / "backups").iterdir())) == 2


def test_reset_of_a_chapter_never_started(workspace):
    result = course("reset", "chapter-2", "--yes", workspace=workspace)
    assert result.returncode == 1 and "course start chapter-2" in result.stdout


@needs_tmux
def test_reset_asks_in_a_terminal(tmp_path, workspace):
    course("start", "chapter-2", workspace=workspace)
    mine = workspace / "chapter-2" / "database.py"
    mine.write_text("# mine\n")
    env = {"COURSE_WORKSPACE": str(workspace)}
    screen = in_terminal(tmp_path, ["reset", "chapter-2"], env=env, keys=[("Reset? [y/N]", "n", "Enter")])
    assert "Nothing changed." in screen and "[exit 1]" in screen and mine.read_text() == "# mine\n"
    screen = in_terminal(tmp_path, ["reset", "chapter-2"], env=env, keys=[("Reset? [y/N]", "y", "Enter")])
    assert "Backed up your files" in screen and "[exit 0]" in screen and mine.read_text() == STARTER_2


# --- solution -------------------------------------------------------------------------------------

def test_solution_is_refused_before_a_pass(graded):
    workspace = graded
    result = course("solution", "chapter-2", workspace=workspace)
    assert result.returncode == 1
    assert "opens once your own version has passed" in result.stdout
    assert "passed 2 of 12 checks" in result.stdout and "course hint chapter-2" in result.stdout
    assert "def get_session" not in result.stdout


def test_solution_after_a_pass_shows_the_code_and_a_diff(workspace):
    folder = passed_workspace(workspace, SOLUTION_2.replace("    with Session(engine) as session:",
                                                            "    # my own comment\n    with Session(engine) as s:")
                              .replace("yield session", "yield s"))
    result = course("solution", "chapter-2", workspace=workspace)
    assert result.returncode == 0, result.stderr
    assert "Reference solution: database.py" in result.stdout
    assert SOLUTION_2.strip() in result.stdout
    assert "--- yours/database.py" in result.stdout and "+++ solution/database.py" in result.stdout
    assert "-    # my own comment" in result.stdout and "+        yield session" in result.stdout
    assert "\x1b[" not in result.stdout

    (folder / "database.py").write_text(SOLUTION_2)
    same = course("solution", "chapter-2", workspace=workspace)
    assert "Your database.py is exactly the reference solution." in same.stdout


# --- quiz -----------------------------------------------------------------------------------------

def test_quiz_answers_marks_and_records(workspace):
    result = course("quiz", "chapter-2", "--answers", "b,d,b,c,b,c", workspace=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("✓ Right.") == 5 and result.stdout.count("✗ Not quite.") == 1
    assert "The answer is a) It calls `get_session` once" in result.stdout
    assert "Score: 5/6" in result.stdout
    course("quiz", "chapter-2", "--answers", "A, B, C, D, A, B", workspace=workspace)  # case and spaces are fine
    quiz = json.loads((workspace / "progress.json").read_text())["chapters"]["chapter-2"]["quiz"]
    assert (quiz["last"], quiz["best"], quiz["total"]) == (0, 5, 6)


@pytest.mark.parametrize("answers, says", [
    ("b,a", "the quiz has 6 questions, and --answers gave 2 answers"),
    ("b,a,c,d,z,c", "answer 5 is 'z'"),
    ("b,a,,d,c,c", "answer 3 is ''"),
])
def test_quiz_bad_answers_are_usage_errors(workspace, answers, says):
    result = course("quiz", "chapter-2", "--answers", answers, workspace=workspace)
    assert result.returncode == 2 and says in result.stderr
    assert not (workspace / "progress.json").exists()


def test_quiz_interactive_reasks_and_explains(workspace):
    result = course("quiz", "chapter-2", workspace=workspace, input="x\nb\nab\nd\na\nc\nb\na\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Please type one letter, from a to d.") == 2
    assert "Question 6 of 6" in result.stdout and "Score: 5/6" in result.stdout
    assert "Python runs a module from top to bottom" in result.stdout  # the explanation after each answer
    assert json.loads((workspace / "progress.json").read_text())["chapters"]["chapter-2"]["quiz"]["last"] == 5


def test_quiz_stopped_early_records_nothing(workspace):
    result = course("quiz", "chapter-2", workspace=workspace, input="b\n")
    assert result.returncode == 1 and "no score recorded" in result.stdout
    assert not (workspace / "progress.json").exists()


# --- terminal manners -----------------------------------------------------------------------------

@needs_tmux
def test_no_color_in_a_terminal_is_plain_and_colour_is_used_otherwise(tmp_path, graded):
    workspace = graded
    env = {"COURSE_WORKSPACE": str(workspace)}
    coloured = in_terminal(tmp_path, ["hint", "chapter-2"], env=env)
    assert "\x1b[" in coloured
    plain = in_terminal(tmp_path, ["hint", "chapter-2"], env={**env, "NO_COLOR": "1"})
    assert "Hint 3 of 3" in plain and "\x1b[" not in plain
    coloured = in_terminal(tmp_path, ["chapter-2"], env=env, command=GRADE)
    assert "\x1b[" in coloured
    plain = in_terminal(tmp_path, ["chapter-2"], env={**env, "NO_COLOR": "1"}, command=GRADE)
    assert "12 checks" in plain and "\x1b[" not in plain


@needs_tmux
def test_a_narrow_terminal_wraps_cleanly(tmp_path, graded):
    workspace = graded
    env = {"COURSE_WORKSPACE": str(workspace), "NO_COLOR": "1"}
    course("hint", "chapter-2", workspace=workspace)  # from now on every call shows hint 3 of 3: comparable
    for argv in (["hint", "chapter-2"], ["list"], ["quiz", "2", "--answers", QUIZ_KEY]):
        screen = in_terminal(tmp_path, argv, env=env, width=40)
        lines = [line.rstrip() for line in screen.splitlines()]
        assert all(len(line) <= 40 for line in lines), "\n".join(lines)  # -J joins lines tmux had to wrap
        words = " ".join(lines).split()
        assert words[-2:] == ["[exit", "0]"]
        piped = course(*argv, workspace=workspace).stdout  # unwrapped: one line per paragraph
        if argv == ["list"]:  # narrow: two lines per chapter instead of the table, every word intact
            assert set(piped.split()) <= set(words[:-2])
        else:
            assert words[:-2] == piped.split()  # wrapped between words only, nothing cut or lost


def test_the_outline_of_every_chapter_matches_its_validated_manifest():
    from grader.content import chapter_ids
    from grader.manifest import load_chapter
    from grader.outline import ChapterOutline, load_outline

    for chapter_id in chapter_ids():
        assert load_outline(chapter_id) == ChapterOutline.of(load_chapter(chapter_id))


@pytest.mark.parametrize("argv, starts", [
    (["chapter-2"], True), (["2", "--solution"], True), (["2", "--path", "x.py", "--format", "json"], True),
    ([], True), (["--help"], False), (["2", "-h"], False), (["2", "--batch", "subs"], False),
    (["2", "--batch=subs"], False), (["2", "--sandbox", "bwrap"], False), (["2", "--sandbox=bwrap"], False),
])
def test_grade_starts_its_worker_first_only_when_it_will_grade_on_one(argv, starts):
    from course.grade_cli import prestart

    worker = prestart(argv)
    try:
        assert (worker is not None) == starts
    finally:
        if worker is not None:
            worker.close()


HINTS_FOR_DEPENDS_CALLED = '''depends-called = [
    "Depends wants the function, and you gave it what the function returns.",
    "Write `Depends(get_session)`: no parentheses after get_session.",
]
'''


def test_hints_follow_the_diagnosed_mistake_then_fall_back_to_the_checks_own(tmp_path, workspace):
    from variants import mistake, source

    content = copy_content(tmp_path / "content")
    manifest = content / "chapters" / "chapter-2" / "chapter.toml"
    text = manifest.read_text()
    start = text.index("depends-called = [", text.index('id = "sessiondep-defined"'))  # the chapter's own, replaced
    end = text.index("]\n", start) + 2
    manifest.write_text(text[:start] + HINTS_FOR_DEPENDS_CALLED + text[end:])
    env = {"COURSE_CONTENT": str(content)}
    folder = workspace / "chapter-2"
    folder.mkdir(parents=True)
    (folder / "database.py").write_text(source(mistake("chapter-2", "depends-called"), "database.py"))

    checklist = grade("chapter-2", workspace=workspace, env=env)
    assert "hint: Depends wants the function, and you gave it what the function returns." in checklist.stdout
    diagnosed = course("hint", "chapter-2", workspace=workspace, env=env)
    assert "Hint 2 of 2 for “SessionDep = Annotated[Session, Depends(get_session)], below get_session”" \
        in diagnosed.stdout
    assert "2. Write `Depends(get_session)`: no parentheses" in diagnosed.stdout

    other_mistake = SOLUTION_2.replace("(get_session)]", "(get_session, use_cache=False)]")  # no hints of its own
    (folder / "database.py").write_text(other_mistake)
    grade("chapter-2", workspace=workspace, env=env)
    general = course("hint", "chapter-2", workspace=workspace, env=env)
    assert "Hint 2 of 3 for “SessionDep = Annotated[Session, Depends(get_session)], below get_session”" \
        in general.stdout
    assert "2. Give `Depends` the function itself" in general.stdout
