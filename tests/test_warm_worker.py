"""A warm worker is fast, not shared: each job's child starts clean.

The chapter here is made for the purpose: its one behavioural check reports what the child sees
(its process, folders, limits, whether the learner's module was already imported, whether the
audit hook is on), so two jobs on the same warm worker can be compared.
"""

from __future__ import annotations

import base64
import json
import resource
import textwrap
from pathlib import Path

import pytest

from grader.engine import grade
from grader.sandbox.limits import Limits
from grader.manifest import load_chapter_dir
from grader.submission import locate
from grader.sandbox.workerproc import Worker

OBSERVE = textwrap.dedent('''
    import base64, json, os, resource, sys, tempfile
    from pathlib import Path

    from grader.testing import check, fail

    OUTSIDE = Path(__file__).parent / "written-by-a-child.txt"


    @check("observe")
    def test_observe(learner):
        preloaded = "poplib" in sys.modules  # imported by nothing here: only a preload puts it there
        imported_before = "counter" in sys.modules
        counter = learner.module("counter")
        try:
            OUTSIDE.write_text("escaped")
            refused = False
        except PermissionError:
            refused = True
        limits = {name: resource.getrlimit(getattr(resource, "RLIMIT_" + name))[0]
                  for name in ("CPU", "AS", "FSIZE", "NOFILE")}
        seen = json.dumps({
            "preloaded": preloaded, "imported_before": imported_before, "loads": counter.LOADS,
            "module_file": counter.__file__,
            "pid": os.getpid(), "parent": os.getppid(), "cwd": os.getcwd(), "home": os.environ["HOME"],
            "tmp": tempfile.gettempdir(), "env": sorted(os.environ), "limits": limits, "refused": refused,
        })
        fail(base64.b64encode(seen.encode()).decode())  # encoded: the report shows no sandbox path as it is
''')
COUNTER = textwrap.dedent('''
    import builtins

    # Module state that would survive into the next job if jobs shared an interpreter.
    builtins.LOADS = getattr(builtins, "LOADS", 0) + 1
    LOADS = builtins.LOADS
''')


@pytest.fixture(scope="module")
def chapter(tmp_path_factory):
    root = tmp_path_factory.mktemp("content")
    folder = root / "chapters" / "chapter-9"
    (folder / "checks").mkdir(parents=True)
    (folder / "chapter.toml").write_text(textwrap.dedent('''
        format_version = 1
        title = "What a child sees"
        files = ["counter.py"]
        timeout = 2

        [[checks]]
        id = "observe"
        title = "The child reports what it sees"
        kind = "behaviour"
        hints = ["a", "b", "c"]
    '''))
    (folder / "checks" / "test_observe.py").write_text(OBSERVE)
    return load_chapter_dir(folder)


@pytest.fixture(scope="module")
def worker():
    with Worker() as w:
        yield w


def submission(chapter, folder: Path, source: str = COUNTER):
    folder.mkdir()
    (folder / "counter.py").write_text(source)
    return locate(chapter, folder)


def observe(chapter, sub, worker) -> dict:
    report = grade(chapter, sub, worker=worker)
    check = next(c for c in report.checks if c.id == "observe")
    assert check.status == "fail", check.message  # the check reports by failing on purpose
    return json.loads(base64.b64decode(check.message))


def test_every_job_gets_a_fresh_child_with_its_own_folders_limits_and_hook(chapter, worker, tmp_path):
    first = observe(chapter, submission(chapter, tmp_path / "one"), worker)
    second = observe(chapter, submission(chapter, tmp_path / "two"), worker)
    for seen in (first, second):
        # the learner's module was imported in this child, from its own copy, for the first time
        assert seen["imported_before"] is False and seen["loads"] == 1
        assert Path(seen["module_file"]).parent == Path(seen["cwd"])
        # a child forked from the warm worker, in its own sandbox: work/, home/, tmp/ side by side
        assert seen["parent"] == worker.proc.pid and seen["pid"] != worker.proc.pid
        sandbox = Path(seen["cwd"]).parent
        assert Path(seen["home"]) == sandbox / "home" and Path(seen["tmp"]) == sandbox / "tmp"
        assert set(seen["env"]) - {"PYTEST_VERSION", "PYTEST_CURRENT_TEST"} == {  # what pytest adds
            "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
        assert not sandbox.exists()  # removed after the grade
        limits = Limits(cpu_seconds=int(chapter.timeout) + 2)
        mb = 1024 * 1024
        expected = {"CPU": limits.cpu_seconds, "AS": limits.memory_mb * mb, "FSIZE": limits.file_mb * mb,
                    "NOFILE": limits.open_files}
        assert seen["limits"] == {name: _capped(name, value) for name, value in expected.items()}
        assert seen["refused"] is True  # the audit hook is on in every child
    assert first["pid"] != second["pid"] and first["cwd"] != second["cwd"] and first["tmp"] != second["tmp"]
    assert not (chapter.checks_dir / "written-by-a-child.txt").exists()
    # what the worker imported started no thread: forking a process with threads risks deadlocks
    assert len(list(Path(f"/proc/{worker.proc.pid}/task").iterdir())) == 1


def _capped(name: str, wanted: int) -> int:
    """The soft limit the child gets: `wanted`, unless this process's own hard limit is lower."""
    hard = resource.getrlimit(getattr(resource, f"RLIMIT_{name}"))[1]
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def test_a_job_past_its_time_limit_is_stopped_and_the_next_one_is_clean(chapter, worker, tmp_path):
    hang = submission(chapter, tmp_path / "hang", COUNTER + "\nwhile True:\n    pass\n")
    loop = hang.edited["counter.py"].read_text().splitlines().index("while True:") + 1
    report = grade(chapter, hang, worker=worker)
    check = next(c for c in report.checks if c.id == "observe")
    assert check.status == "fail" and check.diagnosis == "timeout" and "timed out" in check.message
    assert check.file == "counter.py" and check.line in (loop, loop + 1)
    assert worker.alive
    after = observe(chapter, submission(chapter, tmp_path / "after"), worker)
    assert after["imported_before"] is False and after["loads"] == 1


def test_a_job_can_name_modules_for_the_worker_to_preload(chapter, tmp_path):
    """`preload` (speed only) reaches a worker started before the chapter was known, as `grade`
    starts it: the worker imports the modules, and the children it forks from then on have them."""
    with Worker() as fresh:
        assert observe(chapter, submission(chapter, tmp_path / "one"), fresh)["preloaded"] is False
        preloading = chapter.model_copy(update={"preload": ("poplib",)})
        seen = observe(preloading, submission(chapter, tmp_path / "two"), fresh)
        assert seen["preloaded"] is True and seen["imported_before"] is False and seen["loads"] == 1
