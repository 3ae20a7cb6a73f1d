"""docs/AUTHORING.md is enough to write a chapter: scaffold chapter 8 as the guide says, see `course check` fail
with what is missing, fill the files in with the guide's own blocks, and see `course check` pass."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import grader.static
from authoring import CHAPTER, GUIDE, guide_command, guide_files, run_course, write_example

EXPECTED_FILES = {
    f"chapters/{CHAPTER}/chapter.toml", f"chapters/{CHAPTER}/lesson.md", f"chapters/{CHAPTER}/quiz.toml",
    f"chapters/{CHAPTER}/checks/static.py", f"chapters/{CHAPTER}/checks/test_behaviour.py",
    f"chapters/{CHAPTER}/mistakes/no-static-pool.diff", f"chapters/{CHAPTER}/mistakes/same-thread-only.diff",
    f"starter/{CHAPTER}/database.py", f"solutions/{CHAPTER}/database.py",
}



def test_the_guide_shows_every_file_of_its_chapter():
    assert set(guide_files()) == EXPECTED_FILES


def test_following_the_guide_gives_a_chapter_that_passes_course_check(tmp_path):
    content = tmp_path / "content"
    content.mkdir()
    new = guide_command("course new ")
    created = run_course(new[1:], content, tmp_path)
    assert created.returncode == 0, created.stderr
    assert f"chapters/{CHAPTER}/chapter.toml" in created.stdout

    before = run_course(["check", CHAPTER, "--format", "json"], content, tmp_path)
    assert before.returncode == 1, before.stderr
    rules = {r["rule"]: r for r in json.loads(before.stdout)["chapters"][0]["rules"]}
    messages = [f"{p['path']}:{p['line']}: {p['message']}" for r in rules.values() for p in r["problems"]]
    assert any("checks/static.py has no @check('first-step')" in m for m in messages), messages
    assert any("no test in checks/test_*.py is marked @check('it-works')" in m for m in messages)
    assert any(m.startswith(f"chapters/{CHAPTER}/lesson.md:3: still contains the template's placeholder: TODO(author)")
               for m in messages)
    assert any("no mistakes/ fixture" in m for m in messages)
    assert rules["solution"]["status"] == "skipped" and "first" in rules["solution"]["note"]

    write_example(content)
    after = run_course(["check", CHAPTER], content, tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr
    assert f"{CHAPTER}: ok" in after.stdout
    for rule in ("manifest", "implementations", "solution", "starter", "mistakes", "coverage"):
        assert re.search(rf"^{rule}\s.*\sok\s*$", after.stdout, re.M), after.stdout

    graded = run_course(["check", "--format", "json"], content, tmp_path)  # all chapters: here, just this one
    report = json.loads(graded.stdout)
    assert graded.returncode == 0 and report["status"] == "ok" and report["problems"] == 0
    assert [c["chapter"] for c in report["chapters"]] == [CHAPTER]


def test_the_lessons_examples_run(tmp_path):
    lesson = guide_files()[f"chapters/{CHAPTER}/lesson.md"]
    separate, shared = (subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                                       timeout=60) for code in re.findall(r"```python\n(.*?)\n```", lesson, re.S))
    assert shared.returncode == 0 and shared.stdout.strip() == "0", shared.stderr
    assert separate.returncode == 0 and "no such table: hero" in separate.stderr  # the other thread's error


def test_the_guide_documents_every_building_block():
    guide = GUIDE.read_text(encoding="utf-8")
    missing = [name for name in grader.static.__all__ if f"`{name}" not in guide]
    assert missing == []


def test_the_guide_documents_every_rule():
    from course.content_check import RULES

    guide = GUIDE.read_text(encoding="utf-8")
    assert all(f"| `{rule}` |" in guide for rule in RULES)
