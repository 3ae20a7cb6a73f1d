"""Progress: one human-readable JSON file, atomic under concurrent writers, rebuilt when corrupt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

from coursekit import ROOT, SOLUTION_2, copy_content, course, grade
from course import progress


def fake_report(chapter="chapter-2", statuses=("pass", "fail", "skip"), ids=("files", "imports", "other"),
                diagnosis=None):
    checks = [SimpleNamespace(id=i, status=s, diagnosis=diagnosis if s == "fail" else None)
              for i, s in zip(ids, statuses)]
    counts = {k: sum(c.status == k for c in checks) for k in ("pass", "fail", "skip", "error")}
    status = "pass" if all(s == "pass" for s in statuses) else "fail"
    return SimpleNamespace(chapter=chapter, checks=checks, status=status, submission_hash="sha256:x",
                           counts=lambda: counts)


HINTS = {"files": 3, "imports": 3, "other": 3}


def test_hints_advance_and_restart_when_the_first_failing_check_changes(tmp_path):
    progress.record_grade(tmp_path, fake_report(statuses=("pass", "fail", "skip")))
    assert progress.reveal_hint(tmp_path, "chapter-2", HINTS) == ("imports", 2)  # the checklist showed hint 1
    assert progress.reveal_hint(tmp_path, "chapter-2", HINTS) == ("imports", 3)
    assert progress.reveal_hint(tmp_path, "chapter-2", HINTS) == ("imports", 3)  # stops at the last
    progress.record_grade(tmp_path, fake_report(statuses=("pass", "fail", "pass")))  # same first failure
    assert progress.entry(tmp_path, "chapter-2")["hints_shown"] == 3
    progress.record_grade(tmp_path, fake_report(statuses=("pass", "pass", "fail")))  # a new first failure
    assert "hints_shown" not in progress.entry(tmp_path, "chapter-2")
    assert progress.reveal_hint(tmp_path, "chapter-2", HINTS) == ("other", 2)
    progress.record_grade(tmp_path, fake_report(statuses=("pass", "pass", "pass")))
    assert progress.reveal_hint(tmp_path, "chapter-2", HINTS) == (None, 0)
    assert "passed_at" in progress.entry(tmp_path, "chapter-2")


def test_hints_restart_when_the_same_check_fails_with_another_diagnosis(tmp_path):
    progress.record_grade(tmp_path, fake_report(diagnosis="depends-called"))
    assert progress.entry(tmp_path, "chapter-2")["last_grade"]["diagnosis"] == "depends-called"
    assert progress.reveal_hint(tmp_path, "chapter-2", HINTS) == ("imports", 2)
    progress.record_grade(tmp_path, fake_report(diagnosis="depends-called"))  # the same mistake: keep going
    assert progress.reveal_hint(tmp_path, "chapter-2", HINTS) == ("imports", 3)
    progress.record_grade(tmp_path, fake_report(diagnosis="missing"))  # the same check, another mistake
    assert progress.entry(tmp_path, "chapter-2")["last_grade"]["diagnosis"] == "missing"
    assert progress.reveal_hint(tmp_path, "chapter-2", HINTS) == ("imports", 2)


def test_quiz_keeps_last_and_best(tmp_path):
    progress.record_quiz(tmp_path, "chapter-2", 4, 5)
    progress.record_quiz(tmp_path, "chapter-2", 2, 5)
    assert {k: v for k, v in progress.entry(tmp_path, "chapter-2")["quiz"].items() if k != "at"} == \
        {"last": 2, "best": 4, "total": 5}
    progress.record_quiz(tmp_path, "chapter-2", 1, 6)  # the quiz changed: an old best no longer counts
    assert progress.entry(tmp_path, "chapter-2")["quiz"]["best"] == 1


def test_the_file_is_small_sorted_indented_json(tmp_path):
    progress.record_quiz(tmp_path, "chapter-2", 4, 5)
    text = (tmp_path / "progress.json").read_text()
    assert text.startswith("{\n  \"chapters\"") and text.endswith("}\n")
    assert not list(tmp_path.glob(".progress.json.*.tmp"))  # no temp file left behind


def test_a_corrupt_file_is_set_aside_and_rebuilt(tmp_path, capsys):
    (tmp_path / "progress.json").write_text('{"chapters": {"chapter-2": {"last_grade": ')
    assert progress.load(tmp_path) == progress.empty()
    progress.record_quiz(tmp_path, "chapter-2", 3, 5)
    assert json.loads((tmp_path / "progress.json").read_text())["chapters"]["chapter-2"]["quiz"]["last"] == 3
    kept = list(tmp_path.glob("progress.corrupt-*.json"))
    assert len(kept) == 1 and kept[0].read_text().startswith('{"chapters"')
    assert "could not be read" in capsys.readouterr().err


def test_fields_of_the_wrong_type_are_dropped_not_crashed_on(tmp_path):
    (tmp_path / "progress.json").write_text(json.dumps({"version": 1, "chapters": {
        "chapter-2": {"last_grade": "yesterday", "hints_shown": "two", "passed_at": 5, "quiz": {"last": 1}},
        "chapter-3": {"last_grade": {"status": "fail", "passed": True, "total": 12}},
        "chapter-4": [],
    }}))
    data = progress.load(tmp_path)
    assert data["chapters"] == {"chapter-2": {}, "chapter-3": {}}


def test_the_commands_survive_a_corrupt_progress_file(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "progress.json").write_text("not json at all")
    for args in (["list"], ["hint", "chapter-2"], ["solution", "chapter-2"]):
        result = course(*args, workspace=workspace)
        assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    result = grade("chapter-2", workspace=workspace)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert json.loads((workspace / "progress.json").read_text())["chapters"]["chapter-2"]["last_grade"]
    assert (next(workspace.glob("progress.corrupt-*.json"))).read_text() == "not json at all"


COUNTER = """
import sys
from pathlib import Path
from course import progress

def bump(data):
    entry = progress.chapter_entry(data, "chapter-2")
    entry["hints_shown"] = entry.get("hints_shown", 0) + 1

for _ in range(int(sys.argv[2])):
    progress.update(Path(sys.argv[1]), bump)
"""


def test_concurrent_updates_from_two_processes_lose_nothing(tmp_path):
    runs = [subprocess.Popen([sys.executable, "-c", COUNTER, str(tmp_path), "60"], cwd=ROOT) for _ in range(2)]
    assert [p.wait(timeout=120) for p in runs] == [0, 0]
    assert progress.entry(tmp_path, "chapter-2")["hints_shown"] == 120


def test_two_concurrent_grades_both_land_in_progress(tmp_path):
    content = copy_content(tmp_path / "content", clones=("chapter-3",))
    workspace = tmp_path / "ws"
    for chapter_id in ("chapter-2", "chapter-3"):
        (workspace / chapter_id).mkdir(parents=True)
        (workspace / chapter_id / "database.py").write_text(SOLUTION_2)
    env = {"COURSE_WORKSPACE": str(workspace), "COURSE_CONTENT": str(content), "NO_COLOR": "1"}
    runs = [subprocess.Popen([sys.executable, "-c", "from course.grade_cli import main; main()", chapter_id],
                             cwd=tmp_path, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
            for chapter_id in ("chapter-2", "chapter-3")]
    codes = [p.wait(timeout=180) for p in runs]
    assert codes == [0, 0], [p.stderr.read() for p in runs]
    chapters = json.loads((workspace / "progress.json").read_text())["chapters"]
    for chapter_id in ("chapter-2", "chapter-3"):
        assert chapters[chapter_id]["last_grade"]["status"] == "pass"
        assert "passed_at" in chapters[chapter_id]
