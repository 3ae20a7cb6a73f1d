"""The pytest plugin inside the child: selects the chapter's tests, reports each check's verdict.

Records are JSON lines written to a pipe the worker reads (never stdout), through `emit`:
``start`` before a check runs (so a hang or crash is pinned to it), ``result`` after,
``collect-error`` if the chapter's tests cannot load, ``done`` at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from grader.content import ContentError
from grader.testing import CheckFailed, learner_frame, learner_traceback, stopped_by_grader

OUTPUT_CAP = 4000
MESSAGE_CAP = 2000


def explain(exc: BaseException) -> dict[str, Any]:
    """Turn an exception raised while a check ran into a message for the learner."""
    if isinstance(exc, ContentError):
        return {"message": f"the course content is broken, not your code: {exc}", "content_error": True}
    if isinstance(exc, CheckFailed):
        return {"message": exc.message, "file": exc.file, "line": exc.line, "diagnosis": exc.diagnosis,
                "output": exc.details}
    file, line = learner_frame(exc.__traceback__)
    at = f" at {file}:{line}" if file else ""
    if isinstance(exc, AssertionError):
        text = str(exc)
        message = text.split("\nassert ")[0] if not text.startswith("assert ") else "assertion failed: " + text
        return {"message": message or "assertion failed", "file": file, "line": line}
    if isinstance(exc, SystemExit):
        return {"message": f"your code called `sys.exit({exc.code!r})`{at}; the check could not finish",
                "file": file, "line": line, "diagnosis": "sys-exit"}
    stopped = stopped_by_grader(exc)
    if stopped:
        what, diagnosis = stopped
        return {"message": f"your code {what}{at}", "file": file, "line": line, "diagnosis": diagnosis}
    origin = "your code" if file else "the check"
    return {"message": f"{origin} raised {type(exc).__name__}: {exc}{at}", "file": file, "line": line,
            "output": learner_traceback(exc) if file else ""}


class GraderPlugin:
    def __init__(self, job: dict[str, Any], emit: Callable[[dict[str, Any]], None]):
        self.emit = emit
        """Sends one record to the parent (`grader.child.emit`, which stamps it with the job's key)."""
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
            self.current.update({k: v for k, v in explain(call.excinfo.value).items() if v})
            self.current["explained"] = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self.current:
            return
        if report.failed:
            self.current["status"] = "error" if self.current.get("content_error") else "fail"
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
            "message": str(rec.get("message", ""))[:MESSAGE_CAP], "file": rec.get("file"), "line": rec.get("line"),
            "diagnosis": rec.get("diagnosis"), "duration": round(time.perf_counter() - rec["start"], 4),
            "output": str(rec.get("output", ""))[:OUTPUT_CAP],
        })

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.emit({"type": "done"})
