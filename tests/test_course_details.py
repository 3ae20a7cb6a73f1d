"""The small things that each cost a learner a minute (issue 13, item 6)."""

from __future__ import annotations

import codecs
import io
import json
import re
import shutil

import pytest
from rich.console import Console

from coursekit import ROOT, SOLUTION_2, STARTER_2, copy_content, course, grade
from test_course_commands import in_terminal

SOLUTION_3 = (ROOT / "solutions" / "chapter-3" / "main.py").read_text()
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


@pytest.fixture
def workspace(tmp_path):
    return tmp_path / "ws"


# --- a chapter named another way ------------------------------------------------------------------

@pytest.mark.parametrize("typed, meant", [
    ("chapter2", "chapter-2"), ("ch2", "chapter-2"), ("Chapter 3", "chapter-3"), ("chapter_3", "chapter-3"),
    ("chpater-2", "chapter-2"),
])
def test_a_chapter_spelled_another_way_gets_a_did_you_mean(workspace, typed, meant):
    for result in (grade(typed, workspace=workspace), course("lesson", typed, workspace=workspace)):
        assert result.returncode == 2
        assert f"there is no chapter {typed!r}; did you mean {meant}? the chapters are:" in result.stderr
    assert not workspace.exists()


@pytest.mark.parametrize("typed", ["chapter-9", "banana"])
def test_no_guess_when_nothing_is_close(typed):
    from course.chapters import UnknownChapter, known_id

    with pytest.raises(UnknownChapter) as raised:
        known_id(typed)
    assert "did you mean" not in str(raised.value)


# --- grade with no chapter ------------------------------------------------------------------------

def test_grade_with_no_chapter_grades_the_one_to_continue(tmp_path):
    content = copy_content(tmp_path / "content", clones=("chapter-3",))
    workspace = tmp_path / "ws"
    env = {"COURSE_CONTENT": str(content)}
    first = grade(workspace=workspace, env=env)  # a fresh workspace: the first chapter
    assert first.returncode == 1 and "chapter-2: the chapter to continue" in first.stderr
    assert "chapter-2 · " in first.stdout

    (workspace / "chapter-2" / "database.py").write_text(SOLUTION_2)
    assert grade(workspace=workspace, env=env).returncode == 0  # chapter-2 passes: chapter-3 is next
    third = grade("--format", "json", workspace=workspace, env=env)
    assert json.loads(third.stdout)["chapter"] == "chapter-3" and "to continue" not in third.stderr

    (workspace / "chapter-3" / "database.py").write_text(SOLUTION_2)
    assert grade(workspace=workspace, env=env).returncode == 0
    done = grade(workspace=workspace, env=env)
    assert done.returncode == 2 and "every chapter has passed" in done.stderr and "grade chapter-2" in done.stderr


# --- Ctrl-C in the quiz ---------------------------------------------------------------------------

@needs_tmux
def test_ctrl_c_in_the_quiz_stops_it_like_ctrl_d(tmp_path, workspace):
    screen = in_terminal(tmp_path, ["quiz", "chapter-2"], env={"COURSE_WORKSPACE": str(workspace), "NO_COLOR": "1"},
                         keys=[("Your answer", "b", "Enter"), ("Question 2 of 6", "C-c")])
    assert "Quiz stopped before the end; no score recorded." in screen and "[exit 1]" in screen
    assert "interrupted" not in screen and "Traceback" not in screen
    assert not (workspace / "progress.json").exists()


# --- a terminal that cannot show Unicode ----------------------------------------------------------

def test_an_ascii_terminal_gets_plain_text_and_the_real_exit_status(workspace):
    env = {"PYTHONIOENCODING": "ascii"}
    graded = grade("2", workspace=workspace, env=env)
    assert graded.returncode == 1  # the starter fails checks: 1, not a crash
    assert "Traceback" not in graded.stderr and "UnicodeEncodeError" not in graded.stderr
    assert " + Your files are there, are valid Python" in graded.stdout
    assert re.search(r" x .+\n", graded.stdout) and 'Next: fix "' in graded.stdout
    listed = course("list", workspace=workspace, env=env)
    assert listed.returncode == 0 and "> Continue with chapter-2" in listed.stdout
    hint = course("hint", "2", workspace=workspace, env=env)
    assert hint.returncode == 0 and "Traceback" not in hint.stderr


# --- a byte order mark ----------------------------------------------------------------------------

def statuses(result) -> list[tuple[str, str]]:
    return [(c["id"], c["status"]) for c in json.loads(result.stdout)["checks"]]


@pytest.mark.parametrize("text", [SOLUTION_2, STARTER_2])
def test_a_file_saved_with_a_bom_grades_like_the_same_file_without(tmp_path, workspace, text):
    plain, marked = tmp_path / "plain.py", tmp_path / "marked.py"
    plain.write_text(text)
    marked.write_bytes(codecs.BOM_UTF8 + text.encode())
    without = grade("chapter-2", "--path", str(plain), "--format", "json", workspace=None, cwd=tmp_path)
    with_bom = grade("chapter-2", "--path", str(marked), "--format", "json", workspace=None, cwd=tmp_path)
    assert statuses(with_bom) == statuses(without) and with_bom.returncode == without.returncode

    course("start", "chapter-2", workspace=workspace)  # the workspace copy, in text: locations point at it
    (workspace / "chapter-2" / "database.py").write_bytes(codecs.BOM_UTF8 + text.encode())
    shown = grade("chapter-2", workspace=workspace)
    assert "grade-copy-" not in shown.stdout and "U+FEFF" not in shown.stdout
    assert shown.returncode == without.returncode


def test_the_watch_snapshot_drops_a_bom(tmp_path):
    from course.snapshot import take
    from grader.manifest import load_chapter

    folder, into = tmp_path / "chapter-2", tmp_path / "copy"
    folder.mkdir()
    into.mkdir()
    (folder / "database.py").write_bytes(codecs.BOM_UTF8 + SOLUTION_2.encode())
    snapshot = take(load_chapter("chapter-2"), folder, into)
    assert snapshot.submission.edited["database.py"].read_text() == SOLUTION_2
    assert set(snapshot.missing) == {"main.py", "models.py"}  # support files: the starter's are used


# --- the lesson's code at a narrow width ----------------------------------------------------------

@pytest.mark.parametrize("chapter", ["chapter-1", "chapter-4", "chapter-7"])
def test_the_lesson_never_wraps_inside_a_code_block(chapter):
    from course.lesson import show_lesson
    from grader.outline import load_outline

    outline = load_outline(chapter)
    console = Console(file=io.StringIO(), width=50, force_terminal=True, color_system="256")
    show_lesson(console, outline, pager=False)
    shown = {line.rstrip() for line in re.sub(r"\x1b\[[0-9;]*m", "", console.file.getvalue()).splitlines()}
    code = [line.rstrip() for block in re.findall(r"```[^\n]*\n(.*?)```", outline.lesson_path.read_text(), re.S)
            for line in block.splitlines() if line.strip()]
    assert any(len(line) > 50 for line in code)  # the width matters for this lesson
    assert [line for line in code if line not in shown] == []  # every code line whole, as in the lesson


def test_the_pager_scrolls_long_lines_sideways(monkeypatch):
    import subprocess

    from course.terminal import page

    seen = {}
    monkeypatch.delenv("LESS", raising=False)
    monkeypatch.setenv("PAGER", "less")
    monkeypatch.setattr(subprocess, "run", lambda command, env, **kw: seen.update(command=command, env=env))
    page(Console(file=io.StringIO()), "text")
    assert seen["command"] == ["less"] and "S" in seen["env"]["LESS"]


# --- a missing file, and a reset ------------------------------------------------------------------

def test_a_deleted_file_is_put_back_and_the_note_says_where_the_earlier_one_is(workspace):
    course("start", "chapter-3", workspace=workspace)
    main = workspace / "chapter-3" / "main.py"
    main.write_text(SOLUTION_3)
    course("reset", "chapter-3", "--yes", workspace=workspace)
    backup = next((workspace / "backups").iterdir())
    main.unlink()
    result = grade("chapter-3", workspace=workspace)
    note = " ".join(result.stderr.split())
    assert f"main.py was missing from {main.parent}: put the starter's copy back; your version from before the " \
           f"last reset is in {backup}." in note
    assert (backup / "main.py").read_text() == SOLUTION_3


def test_course_list_says_a_chapter_was_reset_until_it_is_graded_again(workspace):
    course("start", "chapter-3", workspace=workspace)
    grade("chapter-3", workspace=workspace)  # the starter: 9 of 13
    (workspace / "chapter-3" / "main.py").write_text(SOLUTION_3.replace("session.commit()", "pass", 1))  # 7 of 13
    grade("chapter-3", workspace=workspace)
    listed = course("list", workspace=workspace).stdout
    assert "in progress 7/13 checks" in listed
    course("reset", "chapter-3", "--yes", workspace=workspace)
    listed = course("list", workspace=workspace).stdout
    assert "reset · was 7/13 checks" in listed and "in progress 7/13 checks" not in listed
    grade("chapter-3", workspace=workspace)
    assert "in progress 9/13 checks" in course("list", workspace=workspace).stdout
