"""The `course watch` screen as text, at 80 x 24 and 120 x 40: what a learner sees on chapter 3's
starter (four checks fail), then after pressing h, then with the fix half done.

Runs the watch in a private tmux server on a temporary workspace and writes each screen
(`tmux capture-pane`) to docs/watch-screens/. Run by hand:

    python bench/watch_screens.py
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "watch-screens"
SIZES = [(80, 24), (120, 40)]


class Pane:
    def __init__(self, width: int, height: int, workspace: Path):
        """The watch, run from the top of a checkout whose workspace/ is `workspace`."""
        self.socket = f"watch-screens-{uuid.uuid4().hex[:8]}"
        command = (f"cd {shlex.quote(str(workspace.parent))} && unset COLUMNS LINES && "
                   f"COURSE_WORKSPACE={shlex.quote(str(workspace))} TERM=xterm-256color "
                   f"{shlex.quote(sys.executable)} -c 'from course.cli import main; main()' watch chapter-3; sleep 600")
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), command)

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True).stdout

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.tmux("capture-pane", "-p", "-t", "main")
            if text in " ".join(screen.split()):
                time.sleep(0.3)  # let the last write land
                return self.tmux("capture-pane", "-p", "-t", "main")
            time.sleep(0.1)
        raise TimeoutError(f"{text!r} not on screen")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    solution = (ROOT / "solutions" / "chapter-3" / "main.py").read_text()
    starter = (ROOT / "starter" / "chapter-3" / "main.py").read_text()
    half = starter.replace("from database import ", "from database import SessionDep, ", 1)
    for width, height in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            workspace = Path(tmp) / "fastapi-sessions-course" / "workspace"
            workspace.parent.mkdir()
            pane = Pane(width, height, workspace)
            try:
                shots = {"starter": pane.wait_for("q quit")}
                pane.tmux("send-keys", "-t", "main", "h")
                shots["hint"] = pane.wait_for("Hint 2 of")
                (workspace / "chapter-3" / "main.py").write_text(half)
                shots["half-done"] = pane.wait_for("Graded save 1")
                (workspace / "chapter-3" / "main.py").write_text(solution)
                shots["passed"] = pane.wait_for("All 11 checks passed")
            finally:
                pane.kill()
        for name, screen in shots.items():
            path = OUT / f"{width}x{height}-{name}.txt"
            path.write_text(screen)
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    os.environ.pop("COURSE_WORKSPACE", None)
    main()
