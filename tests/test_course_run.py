"""`course run`: the learner's app served from their workspace, to try by hand at /docs."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import NamedTuple

from coursekit import COURSE, ROOT, course, wait_until


def read_until(proc: subprocess.Popen, pattern: str, timeout: float = 60) -> tuple[re.Match[str], str]:
    """Read the process's output until `pattern` matches it; (the match, the output so far)."""
    output = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.2)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536).decode("utf-8", "replace")
            if not chunk:
                break
            output += chunk
            found = re.search(pattern, output)
            if found:
                return found, output
    raise AssertionError(f"no {pattern!r} within {timeout} s; output:\n{output}")


class Answer(NamedTuple):
    status: int
    body: bytes


def answer(url: str) -> Answer | None:
    """The server's answer, or None while nothing listens yet."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return Answer(response.status, response.read())
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            return None
        raise


def test_course_run_serves_the_docs_and_stops_cleanly_on_ctrl_c(tmp_path):
    workspace = tmp_path / "ws"
    course("start", "chapter-3", workspace=workspace)
    (workspace / "chapter-3" / "main.py").write_text((ROOT / "solutions" / "chapter-3" / "main.py").read_text())
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace), "NO_COLOR": "1"}
    proc = subprocess.Popen([*COURSE, "run", "chapter-3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, cwd=tmp_path, start_new_session=True)
    try:
        found, _ = read_until(proc, r"(http://127\.0\.0\.1:\d+)/docs")
        base = found.group(1)
        read_until(proc, r"Application startup complete")  # the lifespan ran; listening follows
        docs = wait_until(lambda: answer(f"{base}/docs"), timeout=30, what=f"{base}/docs to answer")
        assert docs.status == 200 and b"swagger" in docs.body.lower()
        with urllib.request.urlopen(f"{base}/heroes/", timeout=10) as response:  # the learner's own endpoint
            assert response.status == 200
        assert (workspace / "chapter-3" / "database.db").is_file()  # the app's data lives with its files

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        assert proc.wait(timeout=30) == 0
        rest = proc.stdout.read().decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
    assert "Stopped serving." in rest and "Traceback" not in rest and "KeyboardInterrupt" not in rest
    with socket.socket() as probe:  # nothing is left listening
        assert probe.connect_ex(("127.0.0.1", int(base.rsplit(":", 1)[1]))) != 0


def test_a_port_in_use_is_a_usage_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = course("run", "chapter-3", "--port", str(port), workspace=tmp_path / "ws")
    assert result.returncode == 2
    assert f"port {port} is in use on 127.0.0.1: leave out --port to get a free one" in result.stderr
