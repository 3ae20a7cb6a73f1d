"""Helpers for the instructor-tool tests: the `course` command, and the example chapter of docs/AUTHORING.md
read from the guide itself (its fenced blocks titled with a path)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "AUTHORING.md"
CHAPTER = "chapter-8"
COURSE = [sys.executable, "-c", "from course.cli import main; main()"]

_BLOCK = re.compile(r'^(?P<fence>`{3,})\w+ title="(?P<path>[^"]+)"\n(?P<body>.*?)\n(?P=fence)$', re.M | re.S)


def guide_files() -> dict[str, str]:
    """Path (relative to the content root) -> file content, for every titled block of the guide."""
    return {m.group("path"): m.group("body") + "\n" for m in _BLOCK.finditer(GUIDE.read_text(encoding="utf-8"))}


def guide_command(start: str) -> list[str]:
    """The first command line of the guide that starts with `start`, split like a shell would."""
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        if line.startswith(start):
            return shlex.split(line.split("  #")[0])
    raise AssertionError(f"the guide has no command starting with {start!r}")


def write_example(root: Path) -> Path:
    """Write the guide's chapter into the content root `root`, as the guide tells an author to."""
    for name, text in guide_files().items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run_course(args: list[str], content: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run `course ARGS` on the content root `content`, from `cwd`, without colours."""
    env = {**os.environ, "COURSE_CONTENT": str(content), "NO_COLOR": "1"}
    return subprocess.run([*COURSE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
