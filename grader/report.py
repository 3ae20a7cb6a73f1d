"""The one result object every renderer and exporter reads."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from grader.safetext import valid_unicode

CheckStatus = Literal["pass", "fail", "skip", "error"]
ReportStatus = Literal["pass", "fail", "error"]

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

Text = Annotated[str, AfterValidator(valid_unicode)]
"""Text a submission may have shaped (a message, its output, a path): always encodable as UTF-8."""


class CheckResult(BaseModel):
    """The verdict on one check.

    `fail` and `skip` are the submission's doing; `error` means the grader or the course
    content broke on this check (not the learner's fault).
    """

    id: str
    title: str
    kind: Literal["files", "static", "behaviour"]
    status: CheckStatus
    message: Text = ""
    file: Text | None = None
    line: int | None = None
    column: int | None = None
    diagnosis: str | None = None
    """A known mistake this failure matches (e.g. `depends-called`), for fixtures and analytics."""
    hint: str | None = None
    points: float = 1
    score: float = 0
    task: int | None = None
    """The numbered step of the lesson's instructions this check verifies, if the manifest says."""
    duration: float = 0
    output: Text = ""
    """Captured output of the learner's code during this check (capped)."""


class IntegrityFlag(BaseModel):
    """A place where the submission reaches into the grader's harness (it never changes the verdict)."""

    file: Text | None = None
    line: int | None = None
    what: Text

    def shown(self, single_file: bool = False) -> str:
        """`line 31 reads the test harness's frames` (with the file when it is not the only one)."""
        if self.line is None:
            return f"{self.what}" if not self.file else f"{self.file} {self.what}"
        where = f"line {self.line}" if single_file or not self.file else f"{self.file} line {self.line}"
        return f"{where} {self.what}"


class Report(BaseModel):
    chapter: str
    title: str
    status: ReportStatus
    checks: list[CheckResult]
    score: float
    max_score: float
    submission: Text
    """Where the graded files came from (a folder or a file)."""
    duration: float = 0
    grader_version: str
    checks_hash: str
    submission_hash: str
    notes: list[Text] = Field(default_factory=list)
    """Things about the run itself, e.g. a timeout or a process that died."""
    integrity: list[IntegrityFlag] = Field(default_factory=list)
    """Where the submission reaches into the harness (frames, gc, the record pipe, patched libraries):
    for an instructor to look at; the verdict stands as graded."""

    @property
    def exit_code(self) -> int:
        return {"pass": EXIT_PASS, "fail": EXIT_FAIL, "error": EXIT_ERROR}[self.status]

    def flagged(self) -> str:
        """`flagged: line 31 reads the test harness's frames; ...`, or "" when nothing was flagged."""
        if not self.integrity:
            return ""
        single = len({f.file for f in self.integrity if f.file}) <= 1
        return "flagged: " + "; ".join(f.shown(single) for f in self.integrity)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "skip": 0, "error": 0}
        for c in self.checks:
            out[c.status] += 1
        return out


def overall_status(checks: list[CheckResult]) -> ReportStatus:
    """`error` when the grader broke on some check, else `pass` only if every check passed."""
    if any(c.status == "error" for c in checks):
        return "error"
    if all(c.status == "pass" for c in checks):
        return "pass"
    return "fail"
