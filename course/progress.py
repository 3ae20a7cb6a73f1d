"""The learner's progress: one small JSON file in the workspace, updated under a lock, atomically.

    {"version": 1, "chapters": {"chapter-2": {
        "started_at": "...", "passed_at": "...", "reset_at": "...", "hints_shown": 2,
        "last_grade": {"status": "fail", "passed": 7, "total": 12, "failing": "closes-on-error",
                       "diagnosis": "close-without-finally", ...},
        "quiz": {"last": 4, "best": 5, "total": 5, "at": "..."}}}}
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from course.atomic import locked, write_atomic

FILE_NAME = "progress.json"
VERSION = 1

# The type each field must have; anything else (a hand edit gone wrong) is dropped on load.
_ENTRY_TYPES: dict[str, type | tuple[type, ...]] = {
    "started_at": str, "passed_at": str, "reset_at": str, "hints_shown": int, "last_grade": dict, "quiz": dict,
}
_GRADE_TYPES: dict[str, type | tuple[type, ...]] = {
    "status": str, "passed": int, "total": int, "failing": (str, type(None)), "diagnosis": (str, type(None)),
    "at": str, "submission_hash": str,
}
_QUIZ_TYPES: dict[str, type | tuple[type, ...]] = {"last": int, "best": int, "total": int, "at": str}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def empty() -> dict[str, Any]:
    return {"version": VERSION, "chapters": {}}


def _typed(data: dict[str, Any], types: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
    return {k: v for k, v in data.items()
            if k in types and isinstance(v, types[k]) and not (isinstance(v, bool) and types[k] is int)}


def _clean_entry(entry: dict[str, Any]) -> dict[str, Any]:
    entry = _typed(entry, _ENTRY_TYPES)
    if "last_grade" in entry:
        entry["last_grade"] = _typed(entry["last_grade"], _GRADE_TYPES)
        if not {"status", "passed", "total"} <= set(entry["last_grade"]):
            del entry["last_grade"]
    if "quiz" in entry:
        entry["quiz"] = _typed(entry["quiz"], _QUIZ_TYPES)
        if not {"last", "best", "total"} <= set(entry["quiz"]):
            del entry["quiz"]
    return entry


def _read(path: Path) -> dict[str, Any] | None:
    """The parsed file, or None when it is missing or not a progress file at all."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("chapters"), dict):
        return None
    return data


def load(workspace: Path) -> dict[str, Any]:
    """The progress data; a missing or corrupt file gives a fresh start (never a crash)."""
    return _cleaned(_read(workspace / FILE_NAME))


def _cleaned(data: dict[str, Any] | None) -> dict[str, Any]:
    if data is None:
        return empty()
    data["chapters"] = {k: _clean_entry(v) for k, v in data["chapters"].items() if isinstance(v, dict)}
    return data


def _set_aside(path: Path) -> None:
    """Keep an unreadable progress file next to the fresh one, so nothing is lost silently."""
    if path.exists():
        kept = path.with_name(f"{path.stem}.corrupt-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json")
        try:
            path.replace(kept)
        except OSError:
            return
        sys.stderr.write(f"note: {path} could not be read; kept it as {kept.name} and started a fresh one\n")


def update(workspace: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read, change and write the progress file under a lock, so concurrent runs lose nothing."""
    path = workspace / FILE_NAME
    with locked(workspace / f".{FILE_NAME}.lock"):
        data = _read(path)
        if data is None:
            _set_aside(path)
        data = _cleaned(data)
        change(data)
        write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


def chapter_entry(data: dict[str, Any], chapter_id: str) -> dict[str, Any]:
    return data["chapters"].setdefault(chapter_id, {})


def entry(workspace: Path, chapter_id: str) -> dict[str, Any]:
    """One chapter's progress, read without a lock (an empty dict if there is none)."""
    return load(workspace)["chapters"].get(chapter_id, {})


def record_grade(workspace: Path, report: Any) -> dict[str, Any]:
    """Remember the outcome of grading the workspace copy of a chapter."""
    counts = report.counts()
    first = next((c for c in report.checks if c.status in ("fail", "error")), None)
    failing, diagnosis = (first.id, first.diagnosis) if first is not None else (None, None)

    def change(data: dict[str, Any]) -> None:
        entry = chapter_entry(data, report.chapter)
        previous = entry.get("last_grade") or {}
        entry["last_grade"] = {
            "status": report.status, "passed": counts["pass"], "total": len(report.checks),
            "failing": failing, "diagnosis": diagnosis, "at": now(), "submission_hash": report.submission_hash,
        }
        entry.pop("reset_at", None)  # the files graded now are the ones after any reset
        if (failing, diagnosis) != (previous.get("failing"), previous.get("diagnosis")):
            entry.pop("hints_shown", None)  # a new first failure (or mistake) starts its hints from the first one
        if report.status == "pass":
            entry.setdefault("passed_at", now())

    return update(workspace, change)


def record_start(workspace: Path, chapter_id: str) -> None:
    """Remember when a chapter's files were first created (it counts as in progress from then on)."""
    update(workspace, lambda data: chapter_entry(data, chapter_id).setdefault("started_at", now()))


def record_reset(workspace: Path, chapter_id: str) -> None:
    """Remember that the chapter's files were put back to the starter, until the next grade: the last
    grade is of files now gone."""
    update(workspace, lambda data: chapter_entry(data, chapter_id).update(reset_at=now()))


def reveal_hint(workspace: Path, chapter_id: str, hint_counts: dict[str, int]) -> tuple[str | None, int]:
    """Reveal one more hint for the first failing check of the last grade: (its id, hints now shown).

    The checklist of a grade already shows a check's first hint, so the first call reveals the
    second; the count stops at the check's number of hints (`hint_counts`: for the diagnosed
    mistake, when it has hints of its own). (None, 0) when the last grade had no failing check.
    """
    result: tuple[str | None, int] = (None, 0)

    def change(data: dict[str, Any]) -> None:
        nonlocal result
        entry = chapter_entry(data, chapter_id)
        failing = (entry.get("last_grade") or {}).get("failing")
        if failing is None:
            return
        shown = min(max(entry.get("hints_shown", 1), 1) + 1, hint_counts.get(failing, 0))
        entry["hints_shown"] = shown
        result = (failing, shown)

    update(workspace, change)
    return result


def record_quiz(workspace: Path, chapter_id: str, score: int, total: int) -> dict[str, Any]:
    """Remember a quiz result: the last score and the best one."""

    def change(data: dict[str, Any]) -> None:
        entry = chapter_entry(data, chapter_id)
        before = entry.get("quiz") or {}
        best = before.get("best", 0) if before.get("total") == total else 0
        entry["quiz"] = {"last": score, "best": max(best, score), "total": total, "at": now()}

    return update(workspace, change)
