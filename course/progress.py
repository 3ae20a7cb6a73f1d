"""The learner's progress: one small JSON file in the workspace, updated under a lock, atomically."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from course.atomic import locked, write_atomic

FILE_NAME = "progress.json"
VERSION = 1


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def empty() -> dict[str, Any]:
    return {"version": VERSION, "chapters": {}}


def load(workspace: Path) -> dict[str, Any]:
    """The progress data; a missing or corrupt file gives a fresh start (never a crash)."""
    path = workspace / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty()
    if not isinstance(data, dict) or not isinstance(data.get("chapters"), dict):
        return empty()
    data["chapters"] = {k: v for k, v in data["chapters"].items() if isinstance(v, dict)}
    return data


def update(workspace: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read, change and write the progress file under a lock, so concurrent runs lose nothing."""
    with locked(workspace / f".{FILE_NAME}.lock"):
        data = load(workspace)
        change(data)
        write_atomic(workspace / FILE_NAME, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


def chapter_entry(data: dict[str, Any], chapter_id: str) -> dict[str, Any]:
    return data["chapters"].setdefault(chapter_id, {})


def record_grade(workspace: Path, report: Any) -> dict[str, Any]:
    """Remember the outcome of grading the workspace copy of a chapter."""
    counts = report.counts()
    failing = next((c.id for c in report.checks if c.status in ("fail", "error")), None)

    def change(data: dict[str, Any]) -> None:
        entry = chapter_entry(data, report.chapter)
        previous_failing = (entry.get("last_grade") or {}).get("failing")
        entry["last_grade"] = {
            "status": report.status, "passed": counts["pass"], "total": len(report.checks),
            "failing": failing, "at": now(), "submission_hash": report.submission_hash,
        }
        if failing != previous_failing:
            entry.pop("hints_shown", None)  # a new first failure starts its hints from the first one
        if report.status == "pass":
            entry.setdefault("passed_at", now())

    return update(workspace, change)
