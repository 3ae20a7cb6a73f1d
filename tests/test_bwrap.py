"""`--sandbox bwrap` keeps its promises even for code that switched the audit hook off.

Each probe is the chapter-2 solution plus code that first switches the hook off (as determined code
can, in its own interpreter), then looks around and reports what it saw by raising
`RuntimeError("SEEN " + repr(value))`, which the module-imports check shows in its message.
"""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from grader.sandbox import bwrap
from grader.sandbox.bwrap import BwrapRunner, unavailable
from grader.content import content_root
from grader.engine import grade
from grader.sandbox.limits import Limits
from grader.manifest import Chapter, load_chapter
from grader.submission import locate

NO_BWRAP = unavailable()
pytestmark = pytest.mark.skipif(NO_BWRAP is not None, reason=f"no bubblewrap here: {NO_BWRAP}")
SOLUTION = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()
HOOK_OFF = textwrap.dedent("""
    import gc
    from grader.sandbox.guard import Policy

    for thing in gc.get_objects():
        if isinstance(thing, Policy):
            thing.check = lambda event, args: None
""")


@pytest.fixture(scope="module")
def chapter() -> Chapter:
    return load_chapter("chapter-2").model_copy(update={"timeout": 2.0})


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A folder outside /tmp (which the sandbox replaces with its own), removed afterwards."""
    try:
        folder = Path(tempfile.mkdtemp(prefix="grade-test-", dir="/var/tmp"))
    except OSError as exc:
        pytest.skip(f"/var/tmp is not writable here: {exc}")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def probe(chapter: Chapter, folder: Path, code: str, limits: Limits | None = None) -> Any:
    """Grade the solution plus HOOK_OFF plus `code` from `folder` in bubblewrap; what `code` saw."""
    folder.mkdir(exist_ok=True)
    (folder / "database.py").write_text(SOLUTION + HOOK_OFF + textwrap.dedent(code))
    report = grade(chapter, locate(chapter, folder), worker=BwrapRunner(), limits=limits)
    message = next(c for c in report.checks if c.id == "module-imports").message
    assert "SEEN " in message, message
    return ast.literal_eval(message.split("SEEN ", 1)[1].rsplit(" (line", 1)[0])


def test_each_sandbox_sees_only_its_own_copy_wherever_tmpdir_points(chapter, outside_tmp, monkeypatch):
    classmate = outside_tmp / "grade-classmate" / "work" / "database.py"
    classmate.parent.mkdir(parents=True)
    classmate.write_text("a classmate's submission")
    monkeypatch.setattr(tempfile, "tempdir", str(outside_tmp))  # where the grader makes its sandboxes
    own, listing, seen = probe(chapter, outside_tmp / "submission", f"""
        import os
        own = os.path.dirname(os.getcwd())
        raise RuntimeError("SEEN " + repr((os.path.basename(own), sorted(os.listdir(os.path.dirname(own))),
                                            os.path.exists({str(classmate)!r}))))
    """)
    assert listing == [own] and seen is False


def test_the_sandbox_holds_only_what_the_chapters_checks_need(chapter, outside_tmp):
    """No solutions, no other chapter, no original submission, no gradebook, nothing else of the host."""
    (outside_tmp / "gradebook.csv").write_text("student,score\n")
    root = content_root()
    hidden = {
        "solutions": str(root / "solutions"),
        "another chapter": str(root / "chapters" / "chapter-3"),
        "this chapter's known mistakes": str(chapter.dir / "mistakes"),
        "the original submission": str(outside_tmp / "submission" / "database.py"),
        "a gradebook": str(outside_tmp / "gradebook.csv"),
        "the rest of the grader's folder": str(ROOT / "README.md"),
        "the host's /etc": "/etc/passwd",
        "host sockets": "/run",
    }
    needed = {"the checks": str(chapter.checks_dir / "test_behaviour.py"),
              "the starter": str(root / "starter" / chapter.id / "database.py")}
    seen = probe(chapter, outside_tmp / "submission", f"""
        import os
        raise RuntimeError("SEEN " + repr({{name: os.path.exists(path) for name, path in {hidden | needed!r}.items()}}))
    """)
    assert {name for name, there in seen.items() if there} == set(needed)


def test_no_host_unix_socket_is_reachable(chapter, outside_tmp):
    path = outside_tmp / "host.sock"
    with socket.socket(socket.AF_UNIX) as host:
        host.bind(str(path))
        host.listen()
        seen = probe(chapter, outside_tmp / "submission", f"""
            import errno, socket
            try:
                socket.socket(socket.AF_UNIX).connect({str(path)!r})
                result = "connected"
            except OSError as exc:
                result = errno.errorcode.get(exc.errno, str(exc))
            raise RuntimeError("SEEN " + repr(result))
        """)
    assert seen == "ENOENT"


def test_writing_to_the_sandboxs_memory_file_systems_is_capped(chapter, tmp_path):
    """/tmp and /dev/shm are memory, outside the address-space limit: each is capped at the file-size
    limit; the rest of the sandbox's own file system is read-only."""
    seen = probe(chapter, tmp_path / "submission", """
        import os
        written = {}
        for folder in ("/tmp", "/dev/shm", "/dev", "/"):
            written[folder] = 0
            try:
                for n in range(40):
                    with open(os.path.join(folder, f"filler-{n}"), "wb") as handle:
                        handle.write(b"x" * 1024 * 1024)
                    written[folder] += 1
            except OSError:
                pass
        raise RuntimeError("SEEN " + repr(written))
    """, limits=Limits(cpu_seconds=4, file_mb=8))
    assert seen["/tmp"] <= 8 and seen["/dev/shm"] <= 8 and seen["/dev"] == 0 and seen["/"] == 0, seen


def test_the_time_limit_cannot_be_stretched(chapter, tmp_path):
    """The child's own stack-dump timer can be cancelled; the grader's deadline still holds, and the
    report states the real limit."""
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "database.py").write_text(SOLUTION + textwrap.dedent("""
        import faulthandler
        import time

        faulthandler.cancel_dump_traceback_later()
        while True:
            time.sleep(0.05)
    """))
    report = grade(chapter, locate(chapter, folder), worker=BwrapRunner())
    check = next(c for c in report.checks if c.id == "module-imports")
    assert check.diagnosis == "timeout" and "still running after 2 s" in check.message
    assert "the behavioural checks were stopped at the 2 s time limit" in report.notes
    assert report.duration < 15  # start-up, then 2 s (the cold start's own allowance is 20 s)


def test_an_installed_graders_bundled_solutions_are_laid_over(tmp_path, monkeypatch):
    """An installed grader keeps the course content inside its package, which is mounted: an empty
    file system covers it, with only the folders the checks need mounted back on top."""
    content = tmp_path / "prefix" / "lib" / "grader" / "_content"
    for folder, name in (("chapters/chapter-2/checks", "test_behaviour.py"), ("starter/chapter-2", "database.py"),
                         ("solutions/chapter-2", "database.py"), ("chapters/chapter-3/checks", "test_behaviour.py")):
        (content / folder).mkdir(parents=True)
        (content / folder / name).write_text("# content\n")
    (tmp_path / "box" / "work").mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    monkeypatch.setattr(bwrap, "_content_root", lambda: str(content))
    job = {"limits": Limits().to_dict(), "checks_dir": str(content / "chapters/chapter-2/checks"),
           "mounts": [str(content / "chapters/chapter-2/checks"), str(content / "starter/chapter-2")],
           "sandbox": str(tmp_path / "box"), "workdir": str(tmp_path / "box" / "work")}
    argv = bwrap.command(job)
    look = "cd " + shlex.quote(str(content)) + " && find . -type f | sort"
    result = subprocess.run([*argv[:argv.index("--") + 1], "/bin/sh", "-c", look], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.split() == ["./chapters/chapter-2/checks/test_behaviour.py", "./starter/chapter-2/database.py"], \
        result.stderr
