"""The pytest plugin inside the child: selects the chapter's tests, reports each check's verdict.

Records are JSON lines written to a pipe the worker reads (never stdout), through `emit`:
``start`` before a check runs (so a hang or crash is pinned to it), ``result`` after,
``collect-error`` if the chapter's tests cannot load, ``done`` at the end.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from grader.blame import course_code, crash_site, described, learner_traceback, where
from grader.clean import clean
from grader.content import ContentError
from grader.testing import CheckFailed, stopped_by_grader

OUTPUT_CAP = 4000
MESSAGE_CAP = 2000


def explain(exc: BaseException, checks_dir: str) -> dict[str, Any]:
    """Turn an exception raised while a check ran into a verdict and a message, by whose code raised it.

    A frame of the learner's in the traceback makes it theirs (at their innermost line). Otherwise the
    innermost frame decides: the chapter's checks or the grader is the course's bug (`error`, at the
    check's file and line), except a plain `assert` of the check, which fails it with its message; a
    library the check called on the learner's objects is the learner's failure, naming the call.
    """
    if isinstance(exc, ContentError):
        return {"status": "error", "message": f"the course content is broken, not your code: {exc}"}
    if isinstance(exc, CheckFailed):
        return {"message": exc.message, "file": exc.file, "line": exc.line, "diagnosis": exc.diagnosis,
                "output": exc.details}
    if isinstance(exc, pytest.fail.Exception):
        return {"message": str(exc) or "the check failed"}
    file, line = crash_site(exc)
    if isinstance(exc, SystemExit):
        return {"message": f"your code called `sys.exit({exc.code!r})`; the check could not finish",
                "file": file, "line": line, "diagnosis": "sys-exit"}
    stopped = stopped_by_grader(exc)
    if stopped:
        what, diagnosis = stopped
        return {"message": f"your code {what}", "file": file, "line": line, "diagnosis": diagnosis}
    if file:
        return {"message": f"your code raised {described(exc)}", "file": file, "line": line,
                "output": learner_traceback(exc)}
    frames = list(traceback.walk_tb(exc.__traceback__))
    ours = [i for i, (frame, _) in enumerate(frames) if course_code(frame.f_code.co_filename, checks_dir)]
    if ours and ours[-1] == len(frames) - 1:
        innermost, lineno = frames[-1]
        if isinstance(exc, AssertionError) and _within(innermost.f_code.co_filename, checks_dir):
            text = str(exc)
            message = text.split("\nassert ")[0] if not text.startswith("assert ") else "assertion failed: " + text
            return {"message": message or "assertion failed"}
        at = f"{_course_path(innermost.f_code.co_filename, checks_dir)}:{lineno}"
        return {"status": "error", "message": f"the check itself failed at {at} (a bug in the course, not in your "
                f"code): {described(exc)}"}
    called = frames[ours[-1] + 1][0] if ours else (frames[-1][0] if frames else None)
    return _library_failure(called, exc)


def _library_failure(called: FrameType | None, exc: BaseException) -> dict[str, Any]:
    """What failed when a check handed the learner's object to a library: the call, and the object (by its
    class, at the class when it is the learner's)."""
    if called is None:
        return {"message": f"what your code provided failed when used: {described(exc)}"}
    code = called.f_code
    name = getattr(code, "co_qualname", code.co_name)
    owner = called.f_locals.get("self", called.f_locals.get("cls"))
    if owner is None:
        return {"message": f"`{name}()` failed on what your code provided: {described(exc)}"}
    kind = owner if isinstance(owner, type) else type(owner)
    file, line = where(kind)
    return {"message": f"your {kind.__name__} failed when used (`{name}()`): {described(exc)}", "file": file,
            "line": line}


def _within(filename: str, folder: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, ValueError):
        return False


def _course_path(filename: str, checks_dir: str) -> str:
    """A course file as its authors know it: `checks/test_behaviour.py`, `grader/testing.py`."""
    path = Path(filename).resolve()
    for base in (Path(checks_dir).resolve().parent, Path(__file__).resolve().parents[2]):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return path.name


class GraderPlugin:
    def __init__(self, job: dict[str, Any], emit: Callable[[dict[str, Any]], None]):
        self.emit = emit
        """Sends one record to the parent (`grader.sandbox.child.emit`, which stamps it with the job's key)."""
        self.checks_dir: str = job["checks_dir"]
        self.folders = (job["workdir"], job["sandbox"])
        """The sandbox's copy of the submission, and the sandbox: never shown in a record (see `clean`)."""
        self.tests: list[dict[str, Any]] = job["tests"]
        self.titles = {t["id"]: t["title"] for t in self.tests}
        self.outcome: dict[str, str] = {}
        self.by_node: dict[str, str] = {}
        self.current: dict[str, Any] = {}

    # -- collection ---------------------------------------------------------------------
    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "check(id): the manifest check this test implements")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.emit({"type": "collect-error", "message": str(report.longrepr)[-MESSAGE_CAP:]})

    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list) -> None:
        by_id: dict[str, list] = {}
        for item in items:
            marker = item.get_closest_marker("check")
            if marker and marker.args:
                by_id.setdefault(marker.args[0], []).append(item)
        selected = []
        for test in self.tests:
            found = by_id.get(test["id"], [])
            if len(found) == 1:
                selected.append(found[0])
                self.by_node[found[0].nodeid] = test["id"]
            else:
                problem = "no test is marked" if not found else f"{len(found)} tests are marked"
                self.emit({"type": "result", "id": test["id"], "status": "error",
                           "message": f"{problem} @check({test['id']!r}) in the chapter's tests (course content error)"})
        deselected = [i for i in items if i not in selected]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = selected

    # -- running ------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: tuple) -> None:
        check_id = self.by_node.get(nodeid)
        if check_id:
            self.current = {"id": check_id, "status": "pass", "start": time.perf_counter(), "output": ""}
            self.emit({"type": "start", "id": check_id})

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        check_id = self.by_node.get(item.nodeid)
        test = next((t for t in self.tests if t["id"] == check_id), None)
        for dep in (test or {}).get("depends", []):
            if self.outcome.get(dep) != "pass":
                pytest.skip(f"skipped: needs “{self.titles.get(dep, dep)}” to pass first")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        result = yield
        report = result.get_result()
        if report.failed and call.excinfo is not None and not self.current.get("explained"):
            explained = explain(call.excinfo.value, self.checks_dir)
            self.current["verdict"] = explained.pop("status", "fail")
            self.current.update({k: v for k, v in explained.items() if v})
            self.current["explained"] = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self.current:
            return
        if report.failed:
            self.current["status"] = self.current.get("verdict", "fail")
            if report.when != "call" and not self.current.get("explained"):
                self.current["message"] = f"the check's {report.when} failed: {str(report.longrepr)[-MESSAGE_CAP:]}"
        elif report.skipped and self.current["status"] == "pass":
            self.current["status"] = "skip"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.current["message"] = reason.removeprefix("Skipped: ")
        captured = "".join(text for _, text in report.sections if "stdout" in _ or "stderr" in _)
        if captured:
            self.current["output"] = captured

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple) -> None:
        if not self.current:
            return
        rec = self.current
        self.current = {}
        self.outcome[rec["id"]] = rec["status"]
        self.emit({
            "type": "result", "id": rec["id"], "status": rec["status"],
            "message": clean(str(rec.get("message", "")), MESSAGE_CAP, *self.folders), "file": rec.get("file"),
            "line": rec.get("line"), "diagnosis": rec.get("diagnosis"),
            "duration": round(time.perf_counter() - rec["start"], 4),
            "output": clean(str(rec.get("output", "")), OUTPUT_CAP, *self.folders),
        })

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.emit({"type": "done"})
