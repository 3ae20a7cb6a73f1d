"""Helpers for the `course` command tests: run the CLIs as learners do, copy the content, drive tmux."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COURSE = [sys.executable, "-c", "from course.cli import main; main()"]
GRADE = [sys.executable, "-c", "from course.grade_cli import main; main()"]
SOLUTION_2 = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()
STARTER_2 = (ROOT / "starter" / "chapter-2" / "database.py").read_text()


def run(command: list[str], *args: str, workspace: Path | None, env: dict[str, str] | None = None,
        input: str | None = None, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("COURSE_WORKSPACE", None)
    if workspace is not None:
        full_env["COURSE_WORKSPACE"] = str(workspace)
    return subprocess.run([*command, *args], cwd=(cwd or workspace.parent) if workspace else cwd, env=full_env,
                          input=input, capture_output=True, text=True, timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL)


def course(*args: str, workspace: Path | None, **kwargs) -> subprocess.CompletedProcess:
    return run(COURSE, *args, workspace=workspace, **kwargs)


def grade(*args: str, workspace: Path | None, **kwargs) -> subprocess.CompletedProcess:
    return run(GRADE, *args, workspace=workspace, **kwargs)


def copy_content(dest: Path, clones: tuple[str, ...] = ()) -> Path:
    """A content root holding chapter 2, plus copies of it under other ids (e.g. "chapter-3")."""
    for chapter_id in ("chapter-2", *clones):
        for part in ("chapters", "starter", "solutions"):
            shutil.copytree(ROOT / part / "chapter-2", dest / part / chapter_id,
                            ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def wait_until(condition: Callable[[], object], timeout: float = 90, what: str = "condition") -> object:
    """Poll `condition` until it returns something true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


class Tmux:
    """A private tmux server (its own socket) running one command in a real terminal."""

    def __init__(self, tmp_path: Path, width: int = 110, height: int = 60):
        self.socket = f"course-test-{uuid.uuid4().hex[:10]}"
        self.tmp = tmp_path
        self.width, self.height = width, height
        self.stty_file = tmp_path / "stty-after.txt"

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check,
                              timeout=30)

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        """Run argv in the pane; afterwards print its exit status and save the terminal's settings."""
        script = self.tmp / "pane.sh"
        exports = "".join(f"export {k}={_quote(v)}\n" for k, v in env.items())
        # The trap keeps this shell alive after a Ctrl-C meant for the command (and is reset for it).
        # COLUMNS/LINES from the test's environment would override the terminal's real size.
        script.write_text(f"trap 'echo' INT\nunset COLUMNS LINES\n{exports}cd {_quote(str(cwd))}\n{' '.join(_quote(a) for a in argv)}\n"
                          f'echo "[exit $?]"\nstty -a > {_quote(str(self.stty_file))}\nsleep 600\n')
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", str(self.width), "-y",
                  str(self.height), f"sh {_quote(str(script))}")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", "main", check=False).stdout

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def wait_for(self, text: str, timeout: float = 90) -> str:
        return wait_until(lambda: self.screen() if text in self.screen() else None, timeout,
                          f"{text!r} on screen; screen now:\n{self.screen()}")  # type: ignore[return-value]

    def pane_pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", "main", "#{pane_pid}").stdout.strip())

    def kill(self) -> None:
        self.tmux("kill-server", check=False)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def in_fork(call: Callable[[], object]) -> object:
    """What `call()` returns (pickled back), made in a forked copy of this process: for what must not
    outlast the test here (an audit hook, a CPU affinity). An exception there is raised here."""
    import pickle

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            try:
                data = pickle.dumps(call())
            except BaseException as exc:  # noqa: BLE001 - sent back to the test
                data = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as source:
        data = source.read()
    os.waitpid(pid, 0)
    result = pickle.loads(data)
    if isinstance(result, RuntimeError):
        raise result
    return result
