"""Exercism's test runner interface: `results.json`, version 3.

Top-level `status` is `pass`, `fail`, or `error` when nothing could run (the files are missing
or do not parse, or every check errored); `message` says why for `error` only. `tests` follow
the chapter's order, each with `name`, `status` (pass/fail/error; a skipped check is a `fail`
whose message names its prerequisite), `message` and the learner's `output` capped at 500
characters, and `task_id`: the numbered step of the lesson's instructions the check verifies
(the manifest's `task`), left out for a check that names none (such as the engine's `files`).
"""

from __future__ import annotations

from typing import Any

from grader.manifest import FILES_CHECK
from grader.render import check_text
from grader.report import CheckResult, Report

VERSION = 3
OUTPUT_LIMIT = 500
TRUNCATED = "\nOutput was truncated. Please limit to 500 chars"


def to_exercism(report: Report) -> dict[str, Any]:
    ran = any(c.status in ("pass", "fail") for c in report.checks if c.id != FILES_CHECK)
    status = "pass" if report.status == "pass" else "fail" if ran else "error"
    message = None
    if status == "error":
        first = next((c for c in report.checks if c.status in ("fail", "error")), None)
        message = check_text(first) if first else "no check could run"
    return {"version": VERSION, "status": status, "message": message,
            "tests": [_test(c) for c in report.checks]}


def _test(check: CheckResult) -> dict[str, Any]:
    test: dict[str, Any] = {
        "name": check.title,
        "status": {"pass": "pass", "fail": "fail", "skip": "fail", "error": "error"}[check.status],
        "message": (check_text(check) or None) if check.status != "pass" else None,
    }
    if check.output:
        test["output"] = cap_output(check.output)
    if check.task is not None:
        test["task_id"] = check.task
    return test


def cap_output(text: str) -> str:
    if len(text) <= OUTPUT_LIMIT:
        return text
    return text[: OUTPUT_LIMIT - len(TRUNCATED)] + TRUNCATED
