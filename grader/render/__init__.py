"""Renderers: turn a Report into text for people or data for machines."""

from __future__ import annotations

from typing import Literal

from grader.report import CheckResult, Report

DataFormat = Literal["json", "exercism", "gradescope", "junit"]


def check_text(check: CheckResult) -> str:
    """A check's verdict as plain text: `file:line: message`, then the hint (exports use this)."""
    where = f"{check.file}:{check.line}" if check.file and check.line else check.file or ""
    if check.file and check.message.startswith(check.file):
        where = ""  # the message names its place already (a syntax error, a missing file)
    text = f"{where}: {check.message}" if where and check.message else check.message or where
    if check.hint:
        text += ("\n" if text else "") + f"hint: {check.hint}"
    return text


def render_data(report: Report, fmt: DataFormat) -> str:
    """The report as text in a machine format (ends with a newline)."""
    import json

    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "exercism":
        from grader.render.exercism import to_exercism

        return json.dumps(to_exercism(report), indent=2) + "\n"
    if fmt == "gradescope":
        from grader.render.gradescope import to_gradescope

        return json.dumps(to_gradescope(report), indent=2) + "\n"
    if fmt == "junit":
        from grader.render.junit import to_junit

        return to_junit(report)
    raise ValueError(f"unknown format {fmt!r}")
