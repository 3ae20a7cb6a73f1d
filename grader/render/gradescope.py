"""Gradescope's autograder `results.json`: score, execution time, output and one test per check
(name, number, score, max_score, status passed/failed, output, visibility)."""

from __future__ import annotations

from typing import Any, Literal

from grader.render import check_text
from grader.report import CheckResult, Report

Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]


def to_gradescope(report: Report, visibility: Visibility = "visible") -> dict[str, Any]:
    lines = [f"{report.chapter} · {report.title}: {report.score:g}/{report.max_score:g} points"]
    if report.status == "error":
        lines.append("Some checks could not run because of a problem in the grader or the course, "
                     "not in the submission.")
    lines += [f"note: {note}" for note in report.notes]
    if report.integrity:
        lines.append(report.flagged())
    return {
        "score": report.score,
        "execution_time": round(report.duration, 3),
        "output": "\n".join(lines),
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "extra_data": {"chapter": report.chapter, "status": report.status, "grader_version": report.grader_version,
                       "checks_hash": report.checks_hash, "submission_hash": report.submission_hash,
                       "integrity": [f.model_dump(mode="json") for f in report.integrity]},
        "tests": [_test(number, c, visibility) for number, c in enumerate(report.checks, start=1)],
    }


def _test(number: int, check: CheckResult, visibility: Visibility) -> dict[str, Any]:
    output = check_text(check) if check.status != "pass" else ""
    if check.output:
        output += ("\n\n" if output else "") + "Your code printed:\n" + check.output
    return {
        "name": check.title,
        "number": str(number),
        "score": check.score,
        "max_score": check.points,
        "status": "passed" if check.status == "pass" else "failed",
        "output": output,
        "visibility": visibility,
    }
