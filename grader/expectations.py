"""What a known submission must do, declared in its own header, and whether a report agrees.

A submission file may start with comments such as::

    # mistake: Depends is given get_session() instead of get_session
    # fails: sessiondep-defined (depends-called), sessiondep-runtime (depends-called)

The listed checks must fail (with that diagnosis, when one is given) and no other check
may fail; a file without a `fails:` line must pass every check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.report import Report

_LINE = re.compile(r"^#\s*(mistake|fails)\s*:\s*(.*)$")
_ITEM = re.compile(r"^([a-z0-9][a-z0-9-]*)\s*(?:\(\s*([a-z0-9][a-z0-9-]*)\s*\))?$")


@dataclass
class Expectation:
    description: str = ""
    fails: dict[str, str | None] = field(default_factory=dict)
    """check id -> the diagnosis it must report (None: any)."""
    line: int | None = None
    """Where the `fails:` line is, for error messages."""
    errors: list[str] = field(default_factory=list)
    """Problems with the header itself."""


def read_expectation(text: str) -> Expectation:
    exp = Expectation()
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _LINE.match(raw.strip())
        if not match:
            continue
        key, value = match.groups()
        if key == "mistake":
            exp.description = value.strip()
            continue
        exp.line = number
        for item in filter(None, (part.strip() for part in value.split(","))):
            parsed = _ITEM.match(item)
            if parsed is None:
                exp.errors.append(f"cannot read {item!r}: write `check-id` or `check-id (diagnosis)`")
            else:
                exp.fails[parsed.group(1)] = parsed.group(2)
    return exp


def read_expectation_files(paths: list[Path]) -> Expectation:
    """The expectation of a submission made of several files: the first one that declares one."""
    for path in paths:
        exp = read_expectation(path.read_text(encoding="utf-8", errors="replace"))
        if exp.fails or exp.description or exp.errors:
            return exp
    return Expectation()


def disagreements(exp: Expectation, report: Report) -> list[str]:
    """Every way the report differs from the expectation (empty when they agree)."""
    problems = list(exp.errors)
    by_id = {c.id: c for c in report.checks}
    for check_id, diagnosis in exp.fails.items():
        check = by_id.get(check_id)
        if check is None:
            problems.append(f"declares check {check_id!r}, which the chapter does not have")
        elif check.status != "fail":
            problems.append(f"should fail {check_id!r} but it is {check.status}"
                            + (f": {check.message.splitlines()[0]}" if check.message else ""))
        elif diagnosis and check.diagnosis != diagnosis:
            problems.append(f"{check_id!r} failed with diagnosis {check.diagnosis!r}, not {diagnosis!r}: "
                            f"{check.message.splitlines()[0] if check.message else ''}")
    for check in report.checks:
        if check.status == "error":
            problems.append(f"{check.id!r} errored: {check.message.splitlines()[0] if check.message else ''}")
        elif check.status == "fail" and check.id not in exp.fails:
            problems.append(f"also fails {check.id!r} ({check.diagnosis}): "
                            f"{check.message.splitlines()[0] if check.message else ''}")
    return problems
