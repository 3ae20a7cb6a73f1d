"""The ready editor: the VS Code grade task's problem matcher finds every failed check of real
`grade` output at its file and line."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from coursekit import GRADE, ROOT, course, grade

TASKS = json.loads((ROOT / ".vscode" / "tasks.json").read_text())
GRADE_TASK = next(task for task in TASKS["tasks"] if task.get("group", {}).get("isDefault"))
PATTERN = GRADE_TASK["problemMatcher"]["pattern"]


def in_a_terminal(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    """What `argv` prints in a pseudo-terminal, as in VS Code's task terminal."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env, cwd=cwd)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([leader], [], [], 0.2)[0]:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: the command ended
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
    finally:
        proc.wait(timeout=30)
        os.close(leader)
    return output.decode("utf-8", "replace").replace("\r\n", "\n")


def task_grade(workspace: Path, cwd: Path) -> str:
    """`grade` as the task runs it (no arguments, its environment, in a terminal), in a checkout at `cwd`."""
    env = {**os.environ, **GRADE_TASK["options"]["env"], "COURSE_WORKSPACE": str(workspace)}
    return in_a_terminal([*GRADE, *GRADE_TASK.get("args", [])], env, cwd)


def problems(output: str, cwd: Path) -> list[tuple[Path, int, int | None, str]]:
    """What the Problems panel shows: (file, line, column, message) for each line the matcher takes."""
    regexp = re.compile(PATTERN["regexp"])
    found = []
    for line in output.splitlines():
        match = regexp.match(line)
        if match:
            column = match.group(PATTERN["column"])
            found.append(((cwd / match.group(PATTERN["file"])).resolve(), int(match.group(PATTERN["line"])),
                          int(column) if column else None, match.group(PATTERN["message"])))
    return found


def expected(chapter: str, workspace: Path) -> list[tuple[Path, int, int | None, str]]:
    """Every failed check of the same submission that has a line, from `grade --format json`."""
    report = json.loads(grade(chapter, "--format", "json", workspace=workspace).stdout)
    folder = (workspace / chapter).resolve()
    return [(folder / c["file"], c["line"], c.get("column"), c["message"].splitlines()[0])
            for c in report["checks"] if c["status"] in ("fail", "error") and c.get("line")]


@pytest.mark.parametrize("chapter, broken", [
    ("chapter-3", None),  # the starter: four checks fail, each at a line of main.py
    ("chapter-2", None),
    ("chapter-1", ("database.py", "engine = create_engine(\n")),  # a syntax error: line and column
])
def test_the_grade_tasks_problem_matcher_finds_each_failed_check_at_its_line(tmp_path, chapter, broken):
    checkout = tmp_path / "checkout"  # the task runs at the top of the checkout; the workspace is in it
    checkout.mkdir()
    workspace = checkout / "workspace"
    course("start", chapter, workspace=workspace)
    if broken:
        (workspace / chapter / broken[0]).write_text(broken[1])
    output = task_grade(workspace, checkout)  # no chapter named: the one to continue
    assert f"{chapter} · " in output
    shown = problems(output, checkout)
    wanted = expected(chapter, workspace)
    assert wanted, "the submission fails checks that have a line"
    assert [(f, line, col) for f, line, col, _ in shown] == [(f, line, col) for f, line, col, _ in wanted]
    for (_, _, _, message), (_, _, _, first_line) in zip(shown, wanted):
        assert message.startswith(first_line[:60])
    if broken:
        assert shown[0][2] is not None  # a syntax error's column reaches the editor


def test_the_editor_tasks_run_the_installed_commands():
    commands = {task["label"]: [task["command"], *task.get("args", [])] for task in TASKS["tasks"]}
    assert commands == {
        "grade (the chapter to continue)": ["${workspaceFolder}/.venv/bin/grade"],
        "course watch (re-grade on every save)": ["${workspaceFolder}/.venv/bin/course", "watch"],
        "course run (try the app at /docs)": ["${workspaceFolder}/.venv/bin/course", "run"],
    }
