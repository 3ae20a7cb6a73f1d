"""The "Run your app" button: `course run CHAPTER` in a process of its own, on a free port, until
stopped (or until `course serve` stops)."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from course.run import APP, HOST
from course.workspace import chapter_folder

COURSE = [sys.executable, "-c", "from course.cli import main; main()"]


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def docs(self) -> str:
        return f"http://{HOST}:{self.port}/docs"


def runnable(workspace: Path, chapter_id: str) -> bool:
    """The chapter has an app for `course run` to serve (`main:app` in its folder)."""
    return (chapter_folder(workspace, chapter_id) / f"{APP.split(':')[0]}.py").is_file()


class Apps:
    def __init__(self, workspace: Path):
        self.workspace = workspace
        self._lock = threading.Lock()
        self._running: dict[str, Running] = {}

    def get(self, chapter_id: str) -> Running | None:
        with self._lock:
            found = self._running.get(chapter_id)
            if found is not None and found.process.poll() is not None:
                del self._running[chapter_id]  # it stopped (an error in the app's file, or Ctrl-C elsewhere)
                return None
            return found

    def start(self, chapter_id: str) -> Running:
        from course.serve.server import free_port

        found = self.get(chapter_id)
        if found is not None:
            return found
        port = free_port()
        process = subprocess.Popen([*COURSE, "run", chapter_id, "--port", str(port), "--workspace", str(self.workspace)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with self._lock:
            self._running[chapter_id] = Running(process, port)
            return self._running[chapter_id]

    def stop(self, chapter_id: str) -> None:
        with self._lock:
            found = self._running.pop(chapter_id, None)
        if found is not None:
            _end(found.process)

    def close(self) -> None:
        with self._lock:
            running, self._running = list(self._running.values()), {}
        for found in running:
            _end(found.process)


def _end(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
