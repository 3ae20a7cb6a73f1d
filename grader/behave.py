"""The behavioural stage, parent side: prepare a sandbox, build the job, read the outcome."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.clean import clean
from grader.sandbox.cleanup import remove_tree
from grader.content import starter_dir
from grader.sandbox.limits import Limits
from grader.manifest import Chapter, CheckSpec
from grader.submission import Submission
from grader.sandbox.workerproc import signal_name


@dataclass
class Sandbox:
    """A private temp tree: `work/` (a copy of the submission), `home/`, `tmp/`."""

    root: Path

    @property
    def work(self) -> Path:
        return self.root / "work"

    @classmethod
    def create(cls, submission: Submission) -> Sandbox:
        root = Path(tempfile.mkdtemp(prefix="grade-"))
        box = cls(root)
        for sub in ("work", "home", "tmp"):
            (root / sub).mkdir()
        for name, src in submission.files.items():
            if src.is_file():
                dest = box.work / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
        (root / "pytest.ini").write_text("[pytest]\n")
        return box

    def remove(self) -> None:
        """Delete the sandbox, following no link learner code left in it (see `grader.sandbox.cleanup`)."""
        remove_tree(self.root)


def child_env(box: Sandbox) -> dict[str, str]:
    return {
        "PATH": os.defpath,
        "HOME": str(box.root / "home"),
        "TMPDIR": str(box.root / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


def build_job(chapter: Chapter, box: Sandbox, specs: list[CheckSpec], limits: Limits | None = None) -> dict[str, Any]:
    """The job a runner hands the child. `mounts` are the only course folders the checks read (the
    bubblewrap sandbox mounts nothing else of the course): the checks, and the chapter's starter,
    which chapter 5's checks test the learner's tests against."""
    behavioural = {s.id for s in specs}
    limits = limits or Limits(cpu_seconds=int(chapter.timeout) + 2)
    return {
        "key": secrets.token_hex(16),
        "sandbox": str(box.root),
        "workdir": str(box.work),
        "checks_dir": str(chapter.checks_dir),
        "mounts": [str(p) for p in (chapter.checks_dir, starter_dir(chapter.id, chapter.dir.parent.parent))
                   if p.is_dir()],
        "test_files": sorted(str(p) for p in chapter.checks_dir.glob("test_*.py")),
        "ini": str(box.root / "pytest.ini"),
        "tests": [{"id": s.id, "title": s.title, "depends": [d for d in s.depends if d in behavioural]}
                  for s in specs],
        "timeout": chapter.timeout,
        "preload": list(chapter.preload),
        "limits": limits.to_dict(),
        "env": child_env(box),
    }


def stuck_at(stack: str, workdir: str) -> tuple[str | None, int | None]:
    """The innermost learner frame of a faulthandler dump (most recent call first)."""
    prefix = workdir.rstrip("/") + "/"
    for match in re.finditer(r'File "([^"]+)", line (\d+)', stack):
        if match.group(1).startswith(prefix):
            return match.group(1)[len(prefix):], int(match.group(2))
    return None, None


def authentic(outcome: dict[str, Any], key: str) -> dict[str, Any]:
    """The outcome with only the records the grader's own harness wrote (those carrying the job's
    key) and the stack dump; anything learner code wrote to the record pipe is dropped."""
    records = [r for r in outcome.get("records", []) if r.get("type") == "stack" or r.get("key") == key]
    return {**outcome, "records": records}


def refusal_notes(outcome: dict[str, Any], limit: int = 5) -> list[str]:
    """One note per distinct thing the sandbox refused (see `grader.sandbox.guard`)."""
    reasons: list[str] = []
    for rec in outcome.get("records", []):
        reason = str(rec.get("reason", ""))
        if rec.get("type") == "refused" and reason and reason not in reasons:
            reasons.append(reason)
    notes = [f"your code tried to {reason}; the grader refused" for reason in reasons[:limit]]
    if len(reasons) > limit:
        notes.append(f"... and {len(reasons) - limit} more refused actions")
    return notes


def interpret(specs: list[CheckSpec], outcome: dict[str, Any], timeout: float,
              workdir: str = "") -> dict[str, dict[str, Any]]:
    """Each check's verdict from the child's records. A check with no record never passes."""
    results: dict[str, dict[str, Any]] = {}
    started: list[str] = []
    collect_errors: list[str] = []
    finished = False
    for rec in outcome.get("records", []):
        kind = rec.get("type")
        if kind == "start" and isinstance(rec.get("id"), str):
            started.append(rec["id"])
        elif kind == "result" and isinstance(rec.get("id"), str) and rec.get("status") in {"pass", "fail", "skip", "error"}:
            results.setdefault(rec["id"], rec)
        elif kind == "collect-error":
            collect_errors.append(str(rec.get("message", "")))
        elif kind == "done":
            finished = True
    running = next((cid for cid in reversed(started) if cid not in results), None)
    stopped = _why_stopped(outcome, timeout)
    if running is not None and stopped:
        message, diagnosis = stopped
        stack = next((r.get("text", "") for r in outcome.get("records", []) if r.get("type") == "stack"), "")
        file, line = stuck_at(stack, workdir)
        output = outcome.get("output", "")[-2000:]
        results[running] = {"status": "fail", "message": message, "diagnosis": diagnosis, "file": file,
                            "line": line, "output": clean(output, 2000, workdir, str(Path(workdir).parent) if workdir else "")}
    for spec in specs:
        if spec.id in results:
            continue
        if collect_errors:
            results[spec.id] = {"status": "error", "message": "the chapter's behavioural tests could not be loaded "
                                "(course content error):\n" + collect_errors[0]}
        elif stopped and running is not None:
            title = next((s.title for s in specs if s.id == running), running)
            results[spec.id] = {"status": "skip", "message": f"not run: the test process stopped during “{title}”"}
        elif stopped:
            message, diagnosis = stopped
            results[spec.id] = {"status": "fail", "message": message, "diagnosis": diagnosis}
        else:
            note = "" if finished else " (the test process ended early)"
            results[spec.id] = {"status": "error", "message": f"no result was reported for this check{note}"}
    return results


def _why_stopped(outcome: dict[str, Any], timeout: float) -> tuple[str, str] | None:
    """Why the child ended before reporting everything, in the learner's terms; None if it finished."""
    if outcome.get("timed_out"):
        return (f"timed out: still running after {timeout:g} s. Look for an infinite loop, a long sleep, "
                "or a call that waits forever", "timeout")
    sig = outcome.get("signal")
    if sig is not None:
        if sig == signal.SIGXCPU:
            return ("stopped: your code used more CPU time than the grader allows (an endless computation?)", "cpu")
        return (f"the test process was killed by {signal_name(sig)} while this check ran", "killed")
    code = outcome.get("exit_code")
    finished = any(r.get("type") == "done" for r in outcome.get("records", []))
    if not finished:
        return (f"your code ended the test process (exit status {code}) while this check ran: "
                "does your module call `sys.exit()` or `os._exit()`?", "process-exit")
    return None
