"""Hostile submissions: each one is stopped, reported as the learner's own failure, and harms nothing.

The submissions live in tests/hostile/chapter-2/ as variants (grader/variants.py): the reference
solution with the attack appended. They run in both sandboxes (bubblewrap where it is available),
on a runner of their own (some try to kill it), with a 2 s time limit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT
from coursekit import in_fork
from variants import source
from grader.sandbox.bwrap import BwrapRunner, unavailable
from grader.engine import grade
from grader.variants import disagreements, read_variant
from grader.sandbox.guard import Policy, sqlite_path
from grader.manifest import load_chapter, load_chapter_dir
from grader.submission import locate
from grader.sandbox.workerproc import Runner, Worker

HOSTILE = sorted((ROOT / "tests" / "hostile" / "chapter-2").glob("*.diff"))
SOLUTION = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Each hostile submission as a database.py of its own: {name: folder}."""
    base = tmp_path_factory.mktemp("hostile")
    folders = {}
    for path in HOSTILE:
        (base / path.stem).mkdir()
        (base / path.stem / "database.py").write_text(source(read_variant(path), "database.py"))
        folders[path.stem] = base / path.stem
    return folders
ESCAPES = [Path(f"/tmp/grade-hostile-escape{suffix}") for suffix in (".txt", ".db", ".fifo", ".node")]
VICTIM = Path("/tmp/grade-hostile-victim")
ESCAPEE = "grade-hostile-escapee"
"""The name a hostile submission gives the process it starts to outlive grading."""
NO_BWRAP = unavailable()
bwrap_only = pytest.mark.skipif(NO_BWRAP is not None, reason=f"no bubblewrap here: {NO_BWRAP}")
MODES = ["process", pytest.param("bwrap", marks=bwrap_only)]


@pytest.fixture(scope="module")
def chapter():
    return load_chapter("chapter-2").model_copy(update={"timeout": 2.0})


@pytest.fixture(scope="module")
def target_worker():
    """A worker the hostile submissions may attack (not the suite's shared one)."""
    with Worker() as worker:
        yield worker


@pytest.fixture(scope="module")
def runners(target_worker):
    """The runner of each sandbox mode: {"process": the target worker, "bwrap": a bubblewrap runner}."""
    with BwrapRunner() as bwrap:
        yield {"process": target_worker, "bwrap": bwrap}


def escapees(name: str = ESCAPEE) -> list[int]:
    """Processes a hostile submission started under the name `name`."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == name.encode():
                found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.fixture
def bystanders():
    """Files outside the sandbox that hostile code goes after: none may appear or disappear; and no
    process it started may outlive the grade. (Tests in other xdist workers share these paths, so the
    victim is rewritten atomically and never removed.)"""
    for path in ESCAPES:
        path.unlink(missing_ok=True)
    for pid in escapees():  # left by an earlier test that failed: judge each test on its own
        os.kill(pid, signal.SIGKILL)
    VICTIM.mkdir(exist_ok=True)
    spare = VICTIM / f".keep-{os.getpid()}"
    spare.write_text("still here")
    spare.replace(VICTIM / "keep.txt")
    yield
    assert [p for p in ESCAPES if os.path.lexists(p)] == [], "a hostile submission wrote outside its sandbox"
    assert (VICTIM / "keep.txt").read_text() == "still here"
    assert escapees() == [], "a process started by a hostile submission outlived the grade"


def test_the_hostile_corpus_covers_the_issue():
    names = {p.stem for p in HOSTILE}
    assert {"fork_bomb", "memory_bomb", "infinite_loop", "long_sleep", "sys_exit_zero", "os_exit_zero",
            "forged_stdout", "forged_records_exit", "kill_the_worker", "write_outside", "output_flood",
            "record_bracket_bomb", "record_flood_unclosed", "sqlite_attach_bound", "sqlite_attach_concat",
            "sqlite_uri_dotdot", "mkfifo_outside", "mknod_outside", "fork_exec_escape", "pidfd_kill_worker"} <= names


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_hostile_submission_fails_cleanly(path, mode, hostile, chapter, runners, bystanders):
    expectation = read_variant(path)
    runner: Runner = runners[mode]
    report = grade(chapter, locate(chapter, hostile[path.stem]), worker=runner)
    assert disagreements(expectation, report) == []
    assert report.status == "fail" and report.exit_code == 1  # the learner's failure, never a grader error
    assert runner.alive
    assert len(report.model_dump_json()) < 100_000
    if "refused" in expectation.fails.values():
        assert any(note.endswith("the grader refused") for note in report.notes), report.notes


def test_a_refusal_names_what_was_refused(hostile, chapter, target_worker, bystanders):
    report = grade(chapter, locate(chapter, hostile["write_outside"]), worker=target_worker)
    check = next(c for c in report.checks if c.id == "module-imports")
    assert "/tmp/grade-hostile-escape.txt" in check.message and "outside its own folder" in check.message
    lines = (hostile["write_outside"] / "database.py").read_text().splitlines()
    assert check.file == "database.py" and check.line == lines.index('with open("/tmp/grade-hostile-escape.txt", '
                                                                     '"w") as handle:') + 1


def test_a_partial_line_on_the_record_pipe_does_not_corrupt_the_verdict(grade_files):
    text = SOLUTION + textwrap.dedent("""
        import os
        for fd in range(3, 64):
            try:
                os.write(fd, b'{"type": "result", "id": "broken')
            except OSError:
                pass
        """)
    report = grade_files("chapter-2", text)
    assert report.status == "pass", [(c.id, c.status, c.message) for c in report.checks]


def test_writing_inside_the_sandbox_is_allowed(grade_files):
    text = SOLUTION + textwrap.dedent("""
        import os, sqlite3, tempfile
        with open(os.path.expanduser("~/notes.txt"), "w") as handle:
            handle.write("home is writable")
        with tempfile.NamedTemporaryFile("w", delete=False) as handle:
            handle.write("so is TMPDIR")
        os.makedirs("cache/deeper", exist_ok=True)
        os.rename(handle.name, "cache/deeper/moved.txt")
        sqlite3.connect("other.db").execute("CREATE TABLE IF NOT EXISTS t (x)")
        sqlite3.connect(":memory:").execute("ATTACH DATABASE 'attached.db' AS a")
        """)
    report = grade_files("chapter-2", text)
    assert report.status == "pass", [(c.id, c.status, c.message) for c in report.checks]
    assert report.notes == []


# -- the policy on its own -----------------------------------------------------------------------

def test_policy_on_signals():
    policy = Policy("/tmp")
    assert policy.check("os.kill", (os.getpid(), signal.SIGTERM)) is None
    assert policy.check("os.kill", (0, signal.SIGTERM)) is None  # its own process group
    for pid in (-1, 1, os.getppid()):
        assert "another process" in policy.check("os.kill", (pid, signal.SIGKILL))
    assert policy.check("os.killpg", (os.getpgrp(), signal.SIGKILL)) is None
    assert "another process group" in policy.check("os.killpg", (1, signal.SIGKILL))


def test_policy_in_a_forked_process_is_about_that_process():
    """Chapter 5's runs are forked from the job after the hook is installed: in a run, "this process" is
    the run, and the job that forked it is another process."""
    policy = Policy("/tmp")
    job = os.getpid()
    answers = in_fork(lambda: [policy.check("os.kill", (job, signal.SIGKILL)) is not None,
                               policy.check("os.kill", (os.getpid(), signal.SIGTERM)) is None,
                               policy.check("os.pidfd_open", (job, 0)) is not None])
    assert answers == [True, True, True]


def test_policy_on_paths(tmp_path):
    box = tmp_path / "box"
    (box / "work").mkdir(parents=True)
    policy = Policy(str(box))
    assert policy.check("open", (str(box / "work" / "a.txt"), "w", os.O_WRONLY | os.O_CREAT)) is None
    assert policy.check("open", ("/etc/hostname", "r", os.O_RDONLY)) is None  # reading is allowed
    assert policy.check("open", ("/dev/null", "w", os.O_WRONLY)) is None
    assert "write to" in policy.check("open", (str(tmp_path / "out.txt"), "w", os.O_WRONLY | os.O_CREAT))
    assert "write to" in policy.check("open", (str(box / "work" / ".." / ".." / "x"), None, os.O_RDWR))
    (box / "work" / "link").symlink_to(tmp_path / "target.txt")
    assert "write to" in policy.check("open", (str(box / "work" / "link"), "a", os.O_WRONLY | os.O_APPEND))
    assert "open the folder" in policy.check("open", (str(tmp_path), None, os.O_RDONLY))  # no dir_fd escapes
    outside = os.open(tmp_path, os.O_RDONLY)
    try:
        assert "delete" in policy.check("os.remove", ("x.txt", outside))
    finally:
        os.close(outside)
    assert "link to" in policy.check("os.link", ("/etc/hostname", str(box / "work" / "h"), -1, -1))
    assert "move" in policy.check("os.rename", (str(box / "work" / "a"), "/tmp/a", -1, -1))
    assert "start another process" in policy.check("os.system", (b"true",))
    assert "call C code" in policy.check("ctypes.dlopen", ("libc.so.6",))
    assert policy.check("import", ("json", None, None, None, None)) is None


def test_policy_on_other_processes_files(tmp_path):
    """/proc/<pid> of another process leads to its open pipes and its memory: refused, reading included."""
    policy = Policy(str(tmp_path))
    for path in (f"/proc/{os.getppid()}/fd/0", f"/proc/{os.getppid()}/status", "/proc/1/environ"):
        assert "a file of another process" in policy.check("open", (path, "r", os.O_RDONLY)), path
    (tmp_path / "link").symlink_to(f"/proc/{os.getppid()}/fd")
    assert "a file of another process" in policy.check("open", (str(tmp_path / "link" / "0"), "r", os.O_RDONLY))
    (tmp_path / "pipe").symlink_to(f"/proc/{os.getppid()}/fd/0")
    assert "a file of another process" in policy.check("open", (str(tmp_path / "pipe"), "r", os.O_RDONLY))
    for path in ("/proc/self/status", f"/proc/{os.getpid()}/status", "/proc/thread-self/stat", "/proc/cpuinfo"):
        assert policy.check("open", (path, "r", os.O_RDONLY)) is None, path


def test_policy_keeping_to_a_runs_own_folders(tmp_path):
    """Runs side by side (chapter 5) write only to their own folders; a write elsewhere in the sandbox is
    refused and told, so that the runs are made again one after another."""
    own, other = tmp_path / "run0", tmp_path / "shared"
    own.mkdir()
    other.mkdir()
    policy = Policy(str(tmp_path))
    strayed: list[str] = []
    policy.own, policy.strayed = (str(own),), strayed.append
    write = os.O_WRONLY | os.O_CREAT
    assert policy.check("open", (str(own / "a.db"), "w", write)) is None
    assert policy.check("open", (str(other / "count.txt"), "r", os.O_RDONLY)) is None  # reading is allowed
    assert policy.check("open", (str(other), None, os.O_RDONLY | os.O_DIRECTORY)) is None  # its folders too
    assert "own run's folders" in policy.check("open", (str(other / "count.txt"), "w", write))
    assert "own run's folders" in policy.check("sqlite3.connect", (str(other / "x.db"),))
    assert policy.check("sqlite3.connect", (":memory:",)) is None
    assert "outside its own folder" in policy.check("open", ("/etc/x", "w", write))  # outside the sandbox: as ever
    assert strayed == [str(other / "count.txt"), str(other / "x.db")]


def test_sqlite_names():
    assert sqlite_path(":memory:") is None and sqlite_path("") is None
    assert sqlite_path("file:shared?mode=memory&cache=shared") is None
    assert sqlite_path("file:///etc/x.db?mode=rwc") == "/etc/x.db"
    assert sqlite_path("database.db") == "database.db"
    assert sqlite_path("file:..%2f..%2fx.db?mode=rwc") == "../../x.db"  # SQLite decodes it: so does the check


def test_policy_on_calls_without_an_audit_event_of_their_own(tmp_path):
    """The events the hook's replacements of mkfifo, mknod, the pidfd calls and fork_exec raise."""
    policy = Policy(str(tmp_path))
    assert policy.check("os.mkfifo", (str(tmp_path / "f"), 0o666, None)) is None
    assert "create a FIFO at /tmp/f" in policy.check("os.mkfifo", ("/tmp/f", 0o666, None))
    assert policy.check("os.mknod", (str(tmp_path / "n"), 0o600 | stat.S_IFREG, 0, None)) is None
    assert "create a file at" in policy.check("os.mknod", ("/tmp/n", 0o600, 0, None))
    assert "device file" in policy.check("os.mknod", (str(tmp_path / "d"), 0o600 | stat.S_IFCHR, 0, None))
    assert policy.check("os.pidfd_open", (os.getpid(), 0)) is None
    assert "signal another process" in policy.check("os.pidfd_open", (os.getppid(), 0))
    assert "signal another process" in policy.check("signal.pidfd_send_signal", (5, signal.SIGKILL))
    assert "start another process" in policy.check("_posixsubprocess.fork_exec", ([b"/bin/true"],))
    assert "import posix afresh" in policy.check("import", ("posix", None, [], [], []))
    assert policy.check("import", ("json", None, [], [], [])) is None


# -- kernel limits ------------------------------------------------------------------------------

NPROC_PROBE = """
import os, signal, sys, time
from grader.sandbox import limits
if os.getuid() == 0:  # RLIMIT_NPROC binds only other users: become nobody (modules are loaded already)
    os.setgid(65534)
    os.setuid(65534)
limits.apply({"cpu_seconds": 30, "memory_mb": 1024, "file_mb": 1, "open_files": 64, "processes": 5})
children = []
try:
    for _ in range(40):
        pid = os.fork()
        if pid == 0:
            time.sleep(10)
            os._exit(0)
        children.append(pid)
    print("unlimited", len(children))
except BlockingIOError:
    print("limited", len(children))
finally:
    for pid in children:
        os.kill(pid, signal.SIGKILL)
"""


def test_the_process_limit_stops_a_fork_bomb_for_other_users():
    """Where the kernel enforces RLIMIT_NPROC (any user but root), forks stop a few past the count."""
    result = subprocess.run([sys.executable, "-c", NPROC_PROBE], capture_output=True, text=True, timeout=60,
                            cwd=ROOT)
    verdict, count = result.stdout.split()
    assert verdict == "limited" and int(count) <= 5, result.stdout + result.stderr


# -- the bubblewrap sandbox ---------------------------------------------------------------------

@bwrap_only
def test_bwrap_mode_grades_like_the_default(hostile, chapter, bystanders):
    runner = BwrapRunner()
    assert grade(chapter, locate(chapter, ROOT / "solutions" / "chapter-2"), worker=runner).status == "pass"
    for name in ("write_outside", "kill_the_worker", "infinite_loop", "forged_records_unclosed"):
        report = grade(chapter, locate(chapter, hostile[name]), worker=runner)
        expectation = read_variant(ROOT / "tests" / "hostile" / "chapter-2" / f"{name}.diff")
        assert disagreements(expectation, report) == [], name


TAMPER = """
import errno, gc, os, socket
from grader.sandbox.guard import Policy

for thing in gc.get_objects():  # learner code can reach the harness: switch the audit hook off
    if isinstance(thing, Policy):
        thing.check = lambda event, args: None
tried = {}
for name, attempt in (
    ("content", lambda: open(CONTENT, "w").write("the next student's checks are mine")),
    ("network", lambda: socket.create_connection(("192.0.2.1", 80), timeout=1)),
):
    try:
        attempt()
        tried[name] = "done"
    except OSError as exc:
        tried[name] = errno.errorcode.get(exc.errno, str(exc))
raise RuntimeError("TRIED " + repr(tried))
"""


@bwrap_only
def test_bwrap_confines_code_that_switched_the_hook_off(tmp_path):
    """In-process code can disable the audit hook; bubblewrap still keeps files and network out of reach."""
    shutil.copytree(ROOT / "chapters" / "chapter-2", tmp_path / "chapters" / "chapter-2")
    shutil.copytree(ROOT / "starter" / "chapter-2", tmp_path / "starter" / "chapter-2")
    chapter = load_chapter_dir(tmp_path / "chapters" / "chapter-2")
    target = chapter.checks_dir / "test_pwned.py"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "database.py").write_text(SOLUTION + f"\nCONTENT = {str(target)!r}\n" + TAMPER)
    report = grade(chapter, locate(chapter, tmp_path / "sub"), worker=BwrapRunner())
    check = next(c for c in report.checks if c.id == "module-imports")
    assert "TRIED" in check.message, check.message
    tried = eval(check.message.split("TRIED ", 1)[1].split(" (line")[0])  # noqa: S307 - our own repr
    assert tried == {"content": "EROFS", "network": "ENETUNREACH"}
    assert not target.exists()
    assert report.status == "fail"


@bwrap_only
def test_bwrap_hides_other_submissions_and_the_host(chapter, tmp_path):
    """Inside the sandbox /tmp is private and empty but for the submission's own folder."""
    (tmp_path / "secret.txt").write_text("another student's work")
    probe = SOLUTION + textwrap.dedent(f"""
        import os
        seen = sorted(os.listdir("/tmp"))
        found = os.path.exists({str(tmp_path / 'secret.txt')!r})
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        raise RuntimeError("SEEN " + repr((seen, found, len(pids))))
        """)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "database.py").write_text(probe)
    report = grade(chapter, locate(chapter, tmp_path / "sub"), worker=BwrapRunner())
    message = next(c for c in report.checks if c.id == "module-imports").message
    seen, found, processes = eval(message.split("SEEN ", 1)[1].split(" (line")[0])  # noqa: S307
    # Only the submission's own sandbox, plus the grader's own install when it lives under /tmp
    # (a CI checkout), which bwrap binds read-only so the child can run at all.
    own = {Path(p).resolve().relative_to("/tmp").parts[0] for p in (sys.prefix, ROOT)
           if str(Path(p).resolve()).startswith("/tmp/")}
    others = [name for name in seen if name not in own]
    assert len(others) <= 2 and all(name.startswith(("grade-", "pytest-")) for name in others), seen
    assert found is False
    assert processes <= 3  # bwrap's init and the child: the grader's processes are out of sight
    assert json.loads(report.model_dump_json())["status"] == "fail"


def test_a_test_process_that_never_starts_is_the_graders_problem(tmp_path, target_worker):
    """Learner code runs only after the harness's first record, so no record at all is never the learner's fault."""
    for part in ("chapters", "starter"):
        shutil.copytree(ROOT / part / "chapter-2", tmp_path / part / "chapter-2")
    (tmp_path / "chapters" / "chapter-2" / "checks" / "conftest.py").write_text("import os\nos._exit(3)\n")
    chapter = load_chapter_dir(tmp_path / "chapters" / "chapter-2")
    report = grade(chapter, locate(chapter, ROOT / "solutions" / "chapter-2"), worker=target_worker)
    behavioural = [c for c in report.checks if c.kind == "behaviour"]
    assert all(c.status == "error" and "not your code's fault" in c.message for c in behavioural)
    assert report.status == "error" and report.exit_code == 2


def test_asking_for_bwrap_where_there_is_none_is_a_usage_error(tmp_path):
    result = subprocess.run([sys.executable, "-c", "from course.grade_cli import main; main()", "chapter-2",
                             "--solution", "--sandbox", "bwrap"], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env={**os.environ, "PATH": str(tmp_path)})
    assert result.returncode == 2 and "bubblewrap is not installed" in result.stderr


@bwrap_only
def test_grade_with_the_bwrap_sandbox(tmp_path):
    result = subprocess.run([sys.executable, "-c", "from course.grade_cli import main; main()", "chapter-2",
                             "--solution", "--sandbox", "bwrap"], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0 and "All 12 checks passed" in result.stdout, result.stdout + result.stderr


def test_a_refusal_inside_a_check_fails_that_check(grade_files):
    text = SOLUTION.replace("import Annotated", "import Annotated\nimport os").replace(
        "        yield session", "        os.system('echo hi')\n        yield session")
    check = next(c for c in grade_files("chapter-2", text).checks if c.id == "generator-yields-session")
    assert check.status == "fail" and check.diagnosis == "refused"
    assert check.message.startswith("your code was stopped: the grader does not let submissions start another "
                                    "process (os.system)") and check.file == "database.py"


HOOK_OFF = """
import gc
from grader.sandbox.guard import Policy

for thing in gc.get_objects():  # learner code can reach the harness: switch the audit hook off
    if isinstance(thing, Policy):
        thing.check = lambda event, args: None
"""
DAEMON = """
import os, subprocess

errpipe_read, errpipe_write = os.pipe()
subprocess._fork_exec(  # a session of its own, out of reach of the process-group kill
    [b"NAME", b"30"], [b"/bin/sleep"], True, (errpipe_write,), None, None,
    -1, -1, -1, -1, -1, -1, errpipe_read, errpipe_write, True, True, -1, None, None, -1, -1, None, False)
if os.fork() == 0:  # and one more, forked twice over, its parent gone at once
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["NAME", "30"])
    os._exit(0)
"""


@pytest.mark.parametrize("mode", MODES)
def test_no_process_outlives_the_grade_even_with_the_hook_off(mode, chapter, runners, tmp_path):
    """Started in sessions of their own (setsid), orphaned, with the audit hook switched off: the
    worker adopts and kills them (bubblewrap: they die with the sandbox's PID namespace)."""
    name = f"{ESCAPEE}-{mode}-{os.getpid()}"
    (tmp_path / "database.py").write_text(SOLUTION + HOOK_OFF + DAEMON.replace("NAME", name))
    try:
        report = grade(chapter, locate(chapter, tmp_path), worker=runners[mode])
        assert report.status == "pass"  # nothing refused: the hook is off
        assert runners[mode].alive
        assert [(pid, Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:4]) for pid in escapees(name)] == []
    finally:
        for pid in escapees(name):
            os.kill(pid, signal.SIGKILL)
