"""`course watch`: driven in a real terminal (a private tmux server), through a pipe, and in-process."""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import signal
import sys

import pytest
from rich.console import Console

from coursekit import COURSE, SOLUTION_2, STARTER_2, Tmux, children, copy_content, course, wait_until

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

BROKEN_2 = SOLUTION_2.replace("    with Session(engine) as session:\n        yield session",
                              "    with Session(engine) as session:\n        pass\n    yield session")


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
