"""Grade a learner's tests by mutation: run them against the reference app and against broken copies.

A chapter declares its mutants in `checks/mutants/`, one variant file each (see
:mod:`grader.variants`): a patch against the pinned reference app, with `# about:` saying what the
bug does ("a copy of the app where ...") and `# untested:` what a test must check to catch it. A
patch that no longer applies exactly is a course content error, so a change to the reference app
cannot silently disarm a mutant.

Good tests pass against the reference app and fail against every mutant. Each run of the learner's
tests happens in a process of its own, forked from this one once the heavy libraries are imported
(see :func:`run_tests`): the tests cannot patch the harness that judges them (the collector, this
module, the chapter's checks), since whatever they change dies with their run; what comes back is
plain data. Each run gets a fresh folder, its own working directory and fresh imports of the app's
modules (see :func:`fresh_imports`). A run against a mutant may stop at its first failing test
(`until_caught`): that failure is all its check needs. :func:`run_many` makes runs two at a time,
each with a temp folder of its own and writing only to its own folders, or else one after another.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import selectors
import shutil
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest

from grader.content import ContentError
from grader.sandbox import rewrites
from grader.variants import Variant, read_variants


MESSAGE_LINES = 2
"""Lines of an error kept in a test's message (pytest's assertion details go on and on)."""
RESULT_CAP = 1 << 20
"""The most a run's process may send back (its results are a few KB)."""
RECORDS_FD = 3
"""The grader child's record pipe (`grader.sandbox.child`): a run's process gets /dev/null in its place."""
AT_ONCE = 2
"""The most runs `run_many` makes side by side (on two cores or more): a learner's machine grades one job
at a time, and a batch grades two or more (each job's runs then share the cores with the other's)."""
RUN_FLAGS = tuple(arg for plugin in ("cacheprovider", "stepwise", "faulthandler", "terminal", "pastebin", "setuponly",
                                     "setupplan") for arg in ("-p", f"no:{plugin}"))
"""pytest's plugins a run does without: a cache, re-runs, crash dumps, the terminal report (the collector
keeps what the checks need), options nobody passes. A warm worker prepares pytest's configuration for
these flags once, before any fork (`grader.sandbox.child.prepare_config`)."""


class MutantError(ContentError):
    """A mutant cannot be built (its patch no longer applies): a course content error, so a check
    that meets one reports `error`, not the learner's failure."""


def load_mutants(folder: Path) -> dict[str, Variant]:
    """The mutants in `folder` (one variant file each), by name; each must say what it leaves `untested`."""
    try:
        mutants = {v.name: v for v in read_variants(folder)}
    except ContentError as exc:
        raise MutantError(f"cannot load the mutants: {exc.message}", exc.path, exc.line) from None
    if not mutants:
        raise MutantError("no mutant: add at least one `*.diff` variant", folder)
    for mutant in mutants.values():
        if not mutant.untested:
            raise MutantError("a mutant needs an `# untested:` line: what a test must check to catch it",
                              mutant.path, 1)
    return mutants


def apply(mutant: Variant, folder: Path) -> None:
    """Apply the mutant's patch to the app files in `folder`, checking it applies exactly as written."""
    names = {p.name for p in mutant.patches}
    base = {name: (folder / name).read_text(encoding="utf-8") for name in names if (folder / name).is_file()}
    try:
        files = mutant.apply(base)
    except ContentError as exc:
        raise MutantError(f"mutant {mutant.name!r}: {exc.message}", exc.path, exc.line) from None
    for name in names:
        target = folder / name
        if name in files:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[name], encoding="utf-8")
        else:
            target.unlink(missing_ok=True)


def assemble(dest: Path, app: Path, learner: Path, files: Iterable[str], mutant: Variant | None = None) -> Path:
    """Fill `dest` with the app's files, then the learner's `files` on top, then the mutant's edits."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db")
    shutil.copytree(app, dest, ignore=ignore, dirs_exist_ok=True)
    for name in files:
        source = learner / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest / name)
    if mutant is not None:
        apply(mutant, dest)
    return dest


# -- fresh imports ------------------------------------------------------------------------

def _inside(module: ModuleType, folder: Path) -> bool:
    places = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    for place in places:
        if place:
            try:
                Path(place).resolve().relative_to(folder)
                return True
            except ValueError:
                pass
    return False


def _top_level_names(folder: Path) -> set[str]:
    return {p.stem if p.suffix == ".py" else p.name for p in folder.iterdir()
            if (p.suffix == ".py" and p.is_file()) or (p.is_dir() and p.name.isidentifier())}


@contextmanager
def fresh_imports(folder: Path) -> Iterator[Path]:
    """Run the block with `folder` as working directory and first on `sys.path`, importing its modules afresh.

    Modules of the same names imported before are set aside and restored afterwards; the
    folder's own modules, and the SQLModel tables they defined, are forgotten on the way out,
    so the next folder's `models.py` can define its tables again.
    """
    folder = Path(folder).resolve()
    from sqlmodel import SQLModel

    names = _top_level_names(folder)
    stashed = {n: sys.modules.pop(n) for n in list(sys.modules) if n.split(".")[0] in names}
    before = set(sys.modules)
    tables = set(SQLModel.metadata.tables)
    saved_path = list(sys.path)
    cwd = os.getcwd()
    sys.path.insert(0, str(folder))
    os.chdir(folder)
    importlib.invalidate_caches()
    try:
        with warnings.catch_warnings():
            # A second `class Hero(SQLModel, table=True)` replaces the first in SQLAlchemy's registry.
            warnings.filterwarnings("ignore", message=".*declarative base already contains a class")
            yield folder
    finally:
        os.chdir(cwd)
        sys.path[:] = saved_path
        for name in list(sys.modules):
            module = sys.modules[name]
            if name.split(".")[0] in names or (name not in before and _inside(module, folder)):
                del sys.modules[name]
        sys.modules.update(stashed)
        for key in set(SQLModel.metadata.tables) - tables:
            SQLModel.metadata.remove(SQLModel.metadata.tables[key])
        importlib.invalidate_caches()


# -- running the learner's tests -------------------------------------------------------------

@dataclass
class TestResult:
    """One test of the learner's, as it ran."""

    nodeid: str
    outcome: str = "passed"
    """passed, failed or skipped."""
    message: str = ""
    file: str | None = None
    """Relative to the run's folder (so: the learner's file name)."""
    line: int | None = None
    marked: Literal["skip", "xfail", "skipped"] | None = None
    """`skip` or `xfail` when the learner's marker skipped the test or expects it to fail (`@pytest.mark.skip`,
    `skipif`, `xfail`), `skipped` when it skipped itself (`pytest.skip()`): such a test catches nothing."""

    @property
    def name(self) -> str:
        return self.nodeid.rsplit("::", 1)[-1]

    @property
    def inert(self) -> str | None:
        """Why this test checks nothing (None when it does)."""
        if self.marked == "xfail":
            return f"{self.name} is marked xfail; its failure counts as expected, so it catches nothing"
        if self.marked == "skip":
            return f"{self.name} is marked skip; a skipped test checks nothing"
        if self.marked == "skipped":
            return f"{self.name} skips itself (pytest.skip); a skipped test checks nothing"
        return None


@dataclass
class TestRun:
    """What happened when the learner's tests ran once."""

    tests: list[TestResult] = field(default_factory=list)
    collect_errors: list[TestResult] = field(default_factory=list)
    crashed: str = ""
    """A problem that stopped pytest itself (for example a usage error), or the run's process."""
    observed: Any = None
    """What `run_tests(after=...)` returned in the run's process, after the tests (plain data)."""
    exited: int | None = None
    """The exit status, when the tests ended their own process (`os._exit`) before pytest finished."""
    strayed: str = ""
    """A path outside its own folders that the run tried to write to, when runs were made side by side
    (`run_many`): refused there, so the run is made again alone."""

    @property
    def failures(self) -> list[TestResult]:
        return [t for t in self.tests if t.outcome == "failed"]

    @property
    def ran(self) -> list[TestResult]:
        return [t for t in self.tests if t.outcome != "skipped"]

    @property
    def all_passed(self) -> bool:
        """Tests ran, and none failed or errored."""
        return bool(self.ran) and not self.failures and not self.collect_errors and not self.crashed

    @property
    def caught(self) -> bool:
        """Something went wrong: what a run against a mutant should do."""
        return bool(self.failures or self.collect_errors or self.crashed)

    def inert(self) -> list[str]:
        """One sentence per test marked skip or xfail (or skipped): those never catch a mutant."""
        return [why for t in self.tests if (why := t.inert)]

    def describe(self, limit: int = 3, *, shown: tuple[str | None, int | None] | None = None) -> str:
        """The failures, one short paragraph each (tests that failed the same way, at the same place, share one).
        `shown` is the place the report already points at (file, line): it is not repeated."""
        groups: dict[tuple[str, str], list[str]] = {}
        for t in [*self.collect_errors, *self.failures]:
            at = "" if shown is not None and (t.file, t.line) == shown else _at(t)
            groups.setdefault((at, t.message), []).append(t.name)
        parts = [f"{_names(names)}{at}: {message}" for (at, message), names in list(groups.items())[:limit]]
        if len(groups) > limit:
            parts.append(f"... and {sum(len(names) for names in list(groups.values())[limit:])} more")
        if self.crashed:
            parts.append(self.crashed)
        return "\n".join(parts)


def _names(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def _at(t: TestResult) -> str:
    return f" ({t.file}:{t.line})" if t.file and t.line else f" ({t.file})" if t.file else ""


def _short(text: str, folder: Path) -> str:
    """The first lines of an error, with pytest's `E   ` margins and the run's temp folder taken out."""
    text = text.replace(str(folder) + os.sep, "")
    lines = [line.removeprefix("E ").strip() for line in text.strip().splitlines() if line.strip()]
    out = "\n".join(lines[:MESSAGE_LINES])
    return out + ("\n..." if len(lines) > MESSAGE_LINES else "")


class _Collector:
    """A pytest plugin that keeps each test's outcome, and where in the learner's file it failed."""

    def __init__(self, folder: Path, paths: Iterable[str], progress_fd: int | None = None):
        self.folder = folder
        self.paths = {Path(p).as_posix() for p in paths}
        self.run = TestRun()
        self.by_id: dict[str, TestResult] = {}
        self.progress_fd = progress_fd
        """Where to say which test starts (one JSON line each), so that a run whose process ends
        in the middle of a test can name it."""
        self.current: str | None = None

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        self.current = nodeid
        if self.progress_fd is not None:
            line = {"running": nodeid, "file": location[0], "line": location[1] + 1 if location[1] is not None else None}
            _write_all(self.progress_fd, json.dumps(line).encode() + b"\n")

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        self.current = None

    def exiting(self, real_exit: Any) -> Any:
        """`os._exit` for the run's process: a test that calls it is named at that line, then the process ends."""
        def _exit(status: int) -> None:
            frame = sys._getframe(1)
            while frame is not None and self._relative(frame.f_code.co_filename) not in self.paths:
                frame = frame.f_back
            if self.current is not None and frame is not None and self.progress_fd is not None:
                line = {"running": self.current, "file": self._relative(frame.f_code.co_filename),
                        "line": frame.f_lineno}
                _write_all(self.progress_fd, json.dumps(line).encode() + b"\n")
            real_exit(status)
        return _exit

    def _relative(self, filename: str) -> str | None:
        path = Path(filename)
        if not path.is_absolute():  # e.g. "<string>", or code SQLAlchemy generates
            return None
        try:
            return path.resolve().relative_to(self.folder).as_posix()
        except ValueError:
            return None

    def _innermost(self, tb) -> tuple[str | None, int | None]:
        """The innermost frame in the test files (else in the folder): where the learner should look."""
        in_tests: tuple[str | None, int | None] = (None, None)
        in_folder = in_tests
        for frame, lineno in traceback.walk_tb(tb):
            rel = self._relative(frame.f_code.co_filename)
            if rel in self.paths:
                in_tests = (rel, lineno)
            elif rel is not None:
                in_folder = (rel, lineno)
        return in_tests if in_tests[0] else in_folder

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            text = report.longreprtext
            file = self._relative(str(self.folder / str(report.fspath)))
            # The traceback's last line in the learner's file: `tests/test_x.py:6: in <module>`.
            lines = re.findall(rf"(?:^|[\s/]){re.escape(file)}:(\d+):", text, re.MULTILINE) if file else []
            self.run.collect_errors.append(TestResult(
                nodeid=report.nodeid or "collection", outcome="failed", file=file,
                line=int(lines[-1]) if lines else None,
                message="could not be collected: " + _short(text.strip().splitlines()[-1] if text.strip() else "",
                                                            self.folder)))

    def pytest_runtest_makereport(self, item, call) -> None:
        result = self.by_id.setdefault(item.nodeid, TestResult(item.nodeid))
        if call.excinfo is None or result.message or call.excinfo.errisinstance(
                (pytest.skip.Exception, pytest.xfail.Exception)):
            return
        phase = "" if call.when == "call" else f"(in {call.when}) "
        if call.excinfo.errisinstance(pytest.FixtureLookupError):
            result.message, result.file, result.line = self._missing_fixture(item, call.excinfo.value)
            result.message = phase + result.message
            return
        result.message = phase + _short(call.excinfo.exconly(), self.folder)
        result.file, result.line = self._innermost(call.excinfo.tb)

    def _missing_fixture(self, item, error) -> tuple[str, str | None, int | None]:
        """A test asked for a fixture nobody defined: say so, at the plain function of that name if there
        is one (a forgotten `@pytest.fixture`), else at the test."""
        name = getattr(error, "argname", None) or "?"
        function = getattr(getattr(item, "module", None), name, None)
        if inspect.isfunction(function):
            file = self._relative(inspect.getsourcefile(function) or "")
            if file:
                return (f"the fixture `{name}` is not defined: `def {name}` is a plain function; did you forget "
                        "`@pytest.fixture` above it?", file, function.__code__.co_firstlineno)
        path, line, _ = item.location
        return (f"the fixture `{name}` is not defined (a fixture is a function decorated with `@pytest.fixture`)",
                Path(path).as_posix(), line + 1 if line is not None else None)

    def pytest_collection_finish(self, session) -> None:
        """From here on, pytest's own report of a failure is a plain Python traceback: what this plugin
        keeps comes from the exception itself (above), and pytest's default report parses the source
        file of every frame (SQLAlchemy's too: a second or more on a deep traceback). Collection
        errors, which are read from that report, are done by now."""
        session.config.option.tbstyle = "native"

    def pytest_runtest_logreport(self, report) -> None:
        result = self.by_id.setdefault(report.nodeid, TestResult(report.nodeid))
        if hasattr(report, "wasxfail"):  # xfailed (reported as skipped) or xpassed
            result.marked = "xfail"
        elif report.skipped and result.marked is None:
            result.marked = "skip" if {"skip", "skipif"} & set(report.keywords) else "skipped"
        if report.failed:
            result.outcome = "failed"
        elif report.skipped and result.outcome == "passed":
            result.outcome = "skipped"

    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        if nodeid in self.by_id:
            self.run.tests.append(self.by_id[nodeid])


def run_tests(folder: Path, paths: Iterable[str], *, isolate: bool = True,
              plugins: Iterable[object] = (), after: Callable[[], Any] | None = None,
              until_caught: bool = False) -> TestRun:
    """Run the pytest files `paths` (relative to `folder`) in a process of their own, forked from this one.

    With `until_caught` the run stops at the first failure (pytest's `-x`): against a mutant, one
    failing test is all a check needs (`TestRun.caught`); the tests after it would prove nothing more.
    With `isolate` the run happens inside :func:`fresh_imports` of `folder`; pass False when the
    caller has entered it already (to prepare the app's modules first: the run's process inherits
    them). `plugins` are more pytest plugins for the run, to watch it (they run in the run's process).
    `after`, if given, is called in the run's process once the tests are done; what it returns (JSON
    data: what the tests left behind, what a plugin saw) comes back as `TestRun.observed`.
    """
    run = Run(Path(folder), list(paths), list(plugins), after, until_caught)
    _make([run], 1, isolate=isolate)
    assert run.result is not None
    return run.result


@dataclass
class Run:
    """One run of the learner's tests for :func:`run_many`: its folder and `run_tests`'s options; `result`
    once it has run."""

    folder: Path
    paths: list[str]
    plugins: list[object] = field(default_factory=list)
    after: Callable[[], Any] | None = None
    until_caught: bool = False
    result: TestRun | None = None


def run_many(plans: list[Callable[[], Run]], at_once: int | None = None) -> list[Run | Exception]:
    """Make a run from each plan (which fills a new folder and says how to watch the run: an exception
    it raises takes the run's place in the list), then make up to `at_once` of them side by side.

    Runs side by side must not see each other: each gets a temp folder of its own (as every run does),
    and may write only there and in its own folder (`grader.sandbox.guard.keep_to`). A run that tries
    to write elsewhere (a fixed file in the shared temp folder, say) is refused, and then every run
    is made again from its plan, one after another, as `run_tests` makes them: the verdict never
    depends on which ran beside which. By default two at once, where this process may use two cores.
    """
    if at_once is None:
        at_once = side_by_side()
    runs = _planned(plans)
    ready = [r for r in runs if isinstance(r, Run)]
    if at_once > 1 and len(ready) > 1:
        _make(ready, at_once, own=True)
        if not any(r.result is not None and r.result.strayed for r in ready):
            return runs
        runs = _planned(plans)
        ready = [r for r in runs if isinstance(r, Run)]
    _make(ready, 1)
    return runs


def side_by_side() -> int:
    """How many runs `run_many` makes at once by default: two, where the job may use two cores or more."""
    return min(AT_ONCE, len(_cores()))


def _planned(plans: list[Callable[[], Run]]) -> list[Run | Exception]:
    runs: list[Run | Exception] = []
    for plan in plans:
        try:
            runs.append(plan())
        except Exception as exc:  # noqa: BLE001 - the caller reports it where that run's result belongs
            runs.append(exc)
    return runs


def _make(runs: list[Run], at_once: int, own: bool = False, isolate: bool = True) -> None:
    """Make `runs`, up to `at_once` at a time, each on a core of its own (with `own`, each keeping to its
    own folders); read their pipes as they write, each up to `RESULT_CAP`."""
    waiting = list(runs)
    rewrites.share(run.folder / path for run in runs for path in run.paths)
    cores = _cores()
    live: dict[int, tuple[Run, int, bytearray, int | None]] = {}
    with selectors.DefaultSelector() as selector:
        while waiting or live:
            while waiting and len(live) < at_once:
                core = next((c for c in cores if c not in {v[3] for v in live.values()}), None)
                try:
                    pid, fd = _start(waiting[0], isolate, own, core)
                except OSError:
                    if not live:
                        raise
                    at_once = len(live)  # no room for another process now: go on with fewer
                    break
                live[fd] = (waiting.pop(0), pid, bytearray(), core)
                selector.register(fd, selectors.EVENT_READ)
            for key, _ in selector.select():
                run, pid, data, _ = live[key.fd]
                chunk = os.read(key.fd, 1 << 16)
                if chunk:
                    data += chunk[:RESULT_CAP + 1 - len(data)]  # one byte past the cap marks a run that sent too much
                    continue
                selector.unregister(key.fd)
                os.close(key.fd)
                del live[key.fd]
                run.result = _ended(pid, bytes(data) if len(data) <= RESULT_CAP else b"")


def _cores() -> list[int]:
    """The cores runs may use: the job's (`grader.sandbox.limits.pin`), the one it runs on first."""
    from grader.sandbox import limits

    here = limits.usable_cores()
    return sorted(limits.CORES or here, key=lambda core: core not in here)


def _start(run: Run, isolate: bool = True, own: bool = False, core: int | None = None) -> tuple[int, int]:
    """Fork the run's process; (its pid, the read end of its result pipe). With `own`, the run keeps to
    its own folders (see `run_many`)."""
    folder = run.folder.resolve()
    temp = folder.with_name(folder.name + ".tmp")
    temp.mkdir(exist_ok=True)
    read_end, write_end = os.pipe()
    try:
        pid = _fork()
    except BaseException:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # the run's process: never returns
        os.close(read_end)
        if core is not None and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(0, {core})
            except OSError:
                pass  # it runs where the job does
        _run_and_exit(folder, run.paths, isolate, run.plugins, run.after, write_end, run.until_caught,
                      temp, own)
    os.close(write_end)
    return pid, read_end


def _ended(pid: int, data: bytes) -> TestRun:
    _, status = os.waitpid(pid, 0)
    return _decoded(data, status)


def _fork() -> int:
    """`os.fork()`, from the one place the child's audit hook lets the harness fork (`grader.sandbox.guard`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    return os.fork()


def _run_and_exit(folder: Path, paths: list[str], isolate: bool, plugins: Iterable[object],
                  after: Callable[[], Any] | None, result_fd: int, until_caught: bool = False,
                  temp: Path | None = None, own: bool = False) -> None:
    """In the run's process: run the tests, send the result as one JSON document, exit. `temp` is the
    run's own temp folder; with `own` it may write nowhere else but `folder`."""
    payload = b""
    strayed: list[str] = []
    try:
        # It stays in the child's process group, which the worker kills as a whole at the time limit.
        if result_fd != RECORDS_FD:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, RECORDS_FD)  # the chapter's records are out of the tests' reach
            os.close(devnull)
        if temp is not None:
            os.environ["TMPDIR"] = str(temp)
            tempfile.tempdir = None
        if own:
            from grader.sandbox import guard

            def stray(path: str) -> None:
                if not strayed:  # said at once, on a line of its own: the run may yet end its own process
                    _write_all(result_fd, b"\n" + json.dumps({"strayed": path}).encode() + b"\n")
                strayed.append(path)

            guard.keep_to([folder, *([temp] if temp is not None else [])], stray)
        run = _run_here(folder, paths, isolate, result_fd, plugins, until_caught)
        run.observed = after() if after is not None else None
        payload = b"\n" + json.dumps(asdict(run)).encode() + b"\n"
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the run's process only exits
        payload = b"\n" + json.dumps(asdict(TestRun(crashed=f"the test run failed: {type(exc).__name__}: {exc}"))).encode()
    finally:
        try:
            _write_all(result_fd, payload)
        finally:
            os._exit(0)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _decoded(data: bytes, status: int) -> TestRun:
    """The run the process sent back (its last line); one that sent none ended the process itself,
    in the test that started last."""
    running: dict[str, Any] = {}
    strayed = ""
    for line in data.split(b"\n"):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        if "running" in value:
            running = value
            continue
        if "strayed" in value and "tests" not in value:
            strayed = strayed or str(value["strayed"])
            continue
        try:
            return TestRun(tests=[TestResult(**t) for t in value["tests"]],
                           collect_errors=[TestResult(**t) for t in value["collect_errors"]],
                           crashed=str(value["crashed"]), observed=value.get("observed"), strayed=strayed)
        except (KeyError, TypeError):
            continue
    if os.WIFSIGNALED(status):
        how, exited = f"killed by signal {os.WTERMSIG(status)}", None
    else:
        exited = os.waitstatus_to_exitcode(status)
        how = f"exit status {exited}: os._exit?"
    run = TestRun(crashed=f"the tests' process ended ({how}) before pytest finished", exited=exited, strayed=strayed)
    if isinstance(running.get("running"), str):
        file, line = running.get("file"), running.get("line")
        run.tests.append(TestResult(str(running["running"]), "failed", f"ended the tests' process ({how})",
                                    file if isinstance(file, str) else None, line if isinstance(line, int) else None))
        run.crashed = ""
    return run


def _run_here(folder: Path, paths: list[str], isolate: bool, progress_fd: int | None = None,
              plugins: Iterable[object] = (), until_caught: bool = False) -> TestRun:
    """Run the tests in this process (the run's own)."""
    collector = _Collector(folder, paths, progress_fd)
    args = [
        *paths, "-c", os.devnull, "--rootdir", str(folder), "--confcutdir", str(folder), "--import-mode=importlib",
        *RUN_FLAGS, "-W", "ignore::DeprecationWarning", *(["-x"] if until_caught else []),
    ]
    real_exit = os._exit
    os._exit = collector.exiting(real_exit)  # this process is the run's own: nothing else sees the change
    with fresh_imports(folder) if isolate else nullcontext():
        try:
            code = pytest.main(args, plugins=[collector, *plugins])
        except Exception as exc:  # noqa: BLE001 - pytest itself broke on the learner's file
            collector.run.crashed = f"pytest could not run the tests: {type(exc).__name__}: {exc}"
            return collector.run
        finally:
            os._exit = real_exit
    stopped = {pytest.ExitCode.INTERRUPTED: "the tests stopped the run early (pytest.exit?)",
               pytest.ExitCode.INTERNAL_ERROR: "pytest itself failed (did the test file raise SystemExit?)",
               pytest.ExitCode.USAGE_ERROR: "pytest could not start"}
    if code in stopped and not collector.run.collect_errors:
        collector.run.crashed = f"{stopped[code]} (pytest exit status {int(code)})"
    return collector.run
