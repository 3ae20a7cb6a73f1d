"""`course watch`: driven in a real terminal (a private tmux server), through a pipe, and in-process."""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import re
import signal
import sys
import time

import pytest
from rich.console import Console

from coursekit import (COURSE, ROOT, SOLUTION_2, STARTER_2, Tmux, children, copy_content, course, grade,
                       wait_until)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

BROKEN_2 = SOLUTION_2.replace("    with Session(engine) as session:\n        yield session",
                              "    with Session(engine) as session:\n        pass\n    yield session")


SOLUTION_3 = (ROOT / "solutions" / "chapter-3" / "main.py").read_text()
BROKEN_3 = SOLUTION_3.replace("    session.delete(hero)\n    session.commit()\n", "    session.delete(hero)\n")
"""Chapter 3's solution that forgets to commit a delete: one behavioural check fails."""
assert BROKEN_3 != SOLUTION_3


def flat(screen: str) -> str:
    """The screen's words, one space apart (the watch wraps its own lines)."""
    return " ".join(screen.split())


def wait_for_words(tmux: Tmux, words: str, timeout: float = 90) -> str:
    return wait_until(lambda: flat(tmux.screen()) if words in flat(tmux.screen()) else None, timeout,
                      f"{words!r} on screen; screen now:\n{tmux.screen()}")


def save_number(screen: str) -> int:
    """The number of the save the screen says it shows."""
    found = re.search(r"Graded save (\d+) \(\d\d:\d\d:\d\d\)", screen)
    assert found, screen
    return int(found.group(1))


def last_line(screen: str) -> str:
    return screen.rstrip().splitlines()[-1]


def write(path, text):
    """Save like an editor does: the whole file at once."""
    path.write_text(text)


def stty_restored(tmux: Tmux) -> bool:
    settings = tmux.stty_file.read_text()
    return " icanon" in settings and " echo" in settings and "-icanon" not in settings


@pytest.fixture
def tmux(tmp_path):
    session = Tmux(tmp_path)
    try:
        yield session
    finally:
        session.kill()


@pytest.fixture
def small(tmp_path):
    """A terminal of 80 x 24."""
    session = Tmux(tmp_path, width=80, height=24)
    try:
        yield session
    finally:
        session.kill()


def start_watch(tmux, tmp_path, content, *args):
    workspace = tmp_path / "ws"
    env = {"COURSE_WORKSPACE": str(workspace), "COURSE_CONTENT": str(content), "TERM": "xterm-256color",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    tmux.start([*COURSE, "watch", *args], env, cwd=tmp_path)
    return workspace


def test_watch_regrades_on_save_with_one_warm_worker_and_keys(tmux, tmp_path):
    content = copy_content(tmp_path / "content", clones=("chapter-3",))
    workspace = start_watch(tmux, tmp_path, content, "chapter-2")
    database = workspace / "chapter-2" / "database.py"

    screen = " ".join(tmux.wait_for("Watching").split())  # the footer wraps when the folder's path is long
    assert "2/12 checks passed" in screen and "Created database.py" in screen
    assert "h hint" in screen and "q quit" in screen and "n next chapter" not in screen
    watch_pid = wait_until(lambda: children(tmux.pane_pid()), what="the watch process")[0]
    worker_pid = wait_until(lambda: children(watch_pid), what="the warm worker")[0]

    tmux.send("h")
    screen = tmux.wait_for("Hint 2 of 3")
    assert "Press h again for hint 3" in screen

    write(database, SOLUTION_2)
    screen = " ".join(tmux.wait_for("All 12 checks passed").split())
    assert "chapter-2 passed. Press n to go on to chapter-3." in screen
    assert "n next chapter" in screen
    assert children(watch_pid) == [worker_pid]  # the same warm worker graded again

    write(database, BROKEN_2)
    tmux.wait_for("✗ The yield sits inside")
    assert children(watch_pid) == [worker_pid]

    os.killpg(worker_pid, signal.SIGKILL)  # a dead worker is replaced at the next grade
    write(database, SOLUTION_2)
    tmux.wait_for("All 12 checks passed")
    new_worker = wait_until(lambda: [p for p in children(watch_pid) if p != worker_pid], what="a new worker")[0]

    progress = json.loads((workspace / "progress.json").read_text())
    assert progress["chapters"]["chapter-2"]["last_grade"]["status"] == "pass"
    assert "passed_at" in progress["chapters"]["chapter-2"]

    tmux.send("l")
    tmux.wait_for("1 of 2 chapters passed")

    tmux.send("n")
    screen = tmux.wait_for("chapter-3 · Write the session generator")
    assert (workspace / "chapter-3" / "database.py").read_text() == STARTER_2
    tmux.wait_for("Watching")
    write(workspace / "chapter-3" / "database.py", SOLUTION_2)  # the new chapter's folder is watched now
    tmux.wait_for("chapter-3 passed. That was the last chapter")

    tmux.send("q")
    screen = tmux.wait_for("[exit 0]")
    assert "Traceback" not in screen
    wait_until(tmux.stty_file.exists, what="the terminal settings")
    assert stty_restored(tmux)
    wait_until(lambda: not os.path.exists(f"/proc/{new_worker}"), what="the worker to stop", timeout=30)


def test_a_save_made_during_a_grade_is_graded_next_and_the_screen_says_which(small, tmp_path):
    """Slip and fix: a failing save, then the fix 0.3 s later, while the first is being graded
    (chapter 3 grades in about a second). The screen must end on the fix, and stay there."""
    workspace = start_watch(small, tmp_path, ROOT, "chapter-3")
    main = workspace / "chapter-3" / "main.py"
    small.wait_for("Watching")
    for _ in range(2):
        write(main, BROKEN_3)
        time.sleep(0.3)
        write(main, SOLUTION_3)
        save_number(wait_for_words(small, "All 13 checks passed"))
        time.sleep(2)  # nothing left to grade: the screen stays on the pass
        assert "All 13 checks passed" in flat(small.screen())
        assert json.loads((workspace / "progress.json").read_text())["chapters"]["chapter-3"]["last_grade"][
            "status"] == "pass"
        write(main, BROKEN_3)
        wait_for_words(small, "1 failed")


def test_deleting_a_file_while_watching_is_noticed_and_says_how_to_get_it_back(small, tmp_path):
    workspace = start_watch(small, tmp_path, ROOT, "chapter-3")
    folder = workspace / "chapter-3"
    small.wait_for("Watching")
    write(folder / "main.py", SOLUTION_3)
    wait_for_words(small, "All 13 checks passed")

    (folder / "models.py").unlink()  # a support file: graded with the starter's copy, and the screen says so
    screen = wait_for_words(small, "models.py is not in")
    assert "so it was graded with the starter's copy. `grade chapter-3` puts that copy back." in screen
    before = save_number(screen)

    (folder / "main.py").unlink()  # the graded file
    screen = wait_for_words(small, "main.py is missing")
    assert "`grade chapter-3` puts the starter's main.py back." in screen
    assert save_number(screen) == before + 1

    result = grade("chapter-3", workspace=workspace)  # puts both back; the watch grades the starter now
    assert "main.py, models.py were missing from" in flat(result.stderr)
    assert (folder / "main.py").read_text() == (ROOT / "starter" / "chapter-3" / "main.py").read_text()
    wait_for_words(small, "Next: fix “main.py imports the session dependency (`SessionDep`) from database”")


def test_an_80x24_screen_shows_the_first_failure_its_hint_and_the_footer(small, tmp_path):
    start_watch(small, tmp_path, ROOT, "chapter-3")  # the starter: four checks fail
    screen = small.wait_for("Watching")
    words = flat(screen)
    assert "✓ 9 checks passed" in words
    first = "main.py imports the session dependency (`SessionDep`) from database"
    assert f"✗ {first} ws/chapter-3/main.py:7: `SessionDep` is not imported" in words
    assert "hint: The endpoints live in main.py" in words
    assert words.index(f"✗ {first}") > words.index("✗ Every endpoint takes the session dependency")  # first fail last
    assert f"Next: fix “{first}”" in words
    assert last_line(screen).endswith("q quit") or "q quit" in screen.rstrip().splitlines()[-2]
    assert len(screen.rstrip("\n").splitlines()) <= 24

    small.send("h")
    words = wait_for_words(small, "Hint 2 of 3")
    assert "Add `SessionDep` to the existing" in words and f"Next: fix “{first}”" in words
    assert words.endswith("q quit")

    small.send("l")
    words = wait_for_words(small, "FastAPI sessions course")
    assert words.endswith("h hint · l back to the checklist · q quit")  # the footer is back under the list
    small.send("l")
    words = wait_for_words(small, f"Next: fix “{first}”")
    assert "FastAPI sessions course" not in words

    small.tmux("resize-window", "-t", "main", "-x", "60", "-y", "16")
    def redrawn() -> str | None:
        screen = small.tmux("capture-pane", "-p", "-t", "main").stdout.rstrip("\n")  # rows as they are
        lines = screen.splitlines()
        anew = re.search(r"\n  2\. Add `SessionDep`[^\n]*\n     \S", screen)  # not reflowed: wrapped under their text
        return screen if anew and len(lines) <= 16 and max(map(len, lines)) <= 60 else None

    screen = wait_until(redrawn, what="the screen redrawn for 60 x 16")
    words = flat(screen)
    assert "Hint 2 of 3" in words and f"Next: fix “{first}”" in words and words.endswith("q quit")


def test_a_120x40_screen_shows_every_failure_and_the_first_one_in_full(tmp_path):
    big = Tmux(tmp_path, width=120, height=40)
    try:
        start_watch(big, tmp_path, ROOT, "chapter-3")
        screen = big.wait_for("Watching")
    finally:
        big.kill()
    lines = screen.rstrip("\n").splitlines()
    titles = [line for line in lines if line.startswith(" ✗ ")]
    assert len(titles) == 4 and titles[-1] == " ✗ main.py imports the session dependency (`SessionDep`) from database"
    assert "(overriding get_session changes the database they see)" in titles[2]  # room for whole titles
    assert lines[lines.index(titles[-1]) + 1].startswith("     ws/chapter-3/main.py:7: `SessionDep` is not imported")
    assert " ✓ 9 checks passed" in lines and max(map(len, lines)) <= 120 and len(lines) <= 40


def test_ctrl_c_stops_cleanly_and_restores_the_terminal(tmux, tmp_path):
    content = copy_content(tmp_path / "content")
    start_watch(tmux, tmp_path, content)  # no chapter named: the one to continue, chapter-2
    tmux.wait_for("Watching")
    assert "chapter-2 · " in tmux.screen()
    tmux.send("C-c")
    screen = tmux.wait_for("[exit 130]")
    assert "Stopped watching." in screen and "Traceback" not in screen
    wait_until(tmux.stty_file.exists, what="the terminal settings")
    assert stty_restored(tmux)


def test_manual_mode_regrades_on_enter_from_a_pipe(tmp_path):
    workspace = tmp_path / "ws"
    course("start", "chapter-2", workspace=workspace)
    (workspace / "chapter-2" / "database.py").write_text(SOLUTION_2)
    result = course("watch", "2", "--manual", workspace=workspace, input="\nh\nq\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("All 12 checks passed") == 2  # the first grade, then Enter
    assert "no hint needed" in result.stdout
    assert "Press Enter to re-grade" in result.stdout
    assert "\x1b[" not in result.stdout  # piped: no escape codes, no screen clearing


def test_a_watcher_that_cannot_start_says_so_and_suggests_manual(tmp_path, monkeypatch):
    import watchfiles

    from course.watch import Watch
    from grader.manifest import load_chapter

    def broken(*args, **kwargs):
        raise OSError("inotify watch limit reached")
        yield  # pragma: no cover

    monkeypatch.setattr(watchfiles, "watch", broken)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    code = Watch(console, tmp_path / "ws", load_chapter("chapter-2"), manual=False).run()
    assert code == 1
    text = out.getvalue()
    assert "Cannot watch" in text and "inotify watch limit reached" in text
    assert "course watch chapter-2 --manual" in text


@pytest.mark.parametrize("name, wanted", [
    ("database.py", True), ("models.py", True), ("helpers.py", True), ("sub/pkg.py", True),
    ("database.db", False), (".database.py.swp", False), ("database.py~", False), ("4913", False),
    ("#database.py#", False), (".#database.py", False), ("__pycache__/database.cpython-311.pyc", False),
    ("database.py.tmp", False), ("notes.txt", False),
])
def test_the_watcher_ignores_editor_and_workspace_files(tmp_path, name, wanted):
    from course.watch import FileWatcher

    folder = tmp_path / "ws" / "chapter-2"
    folder.mkdir(parents=True)
    watcher = FileWatcher(folder, {"database.py", "main.py", "models.py"}, queue.Queue())
    assert watcher.wanted(None, str(folder / name)) is wanted
    assert watcher.wanted(None, str(tmp_path / "ws" / "progress.json")) is False
