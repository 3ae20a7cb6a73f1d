"""The `grade` command as learners run it: workspace, exit codes, the JSON contract."""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from variants import mistake, source

GRADE = [sys.executable, "-c", "from course.grade_cli import main; main()"]
CHECK_FIELDS = {"id", "title", "status", "message", "file", "line"}


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([*GRADE, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def workspace(tmp_path):
    return tmp_path / "ws"


def test_solution_passes_with_exit_0_from_any_directory(tmp_path):
    result = run("chapter-2", "--solution", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All 12 checks passed" in result.stdout
    assert "Traceback" not in result.stderr


def test_first_grade_creates_the_workspace_and_says_what_to_edit(tmp_path, workspace):
    result = run("chapter-2", cwd=tmp_path, env={"COURSE_WORKSPACE": str(workspace)})
    assert result.returncode == 1
    folder = workspace / "chapter-2"
    assert (folder / "database.py").read_text() == (ROOT / "starter" / "chapter-2" / "database.py").read_text()
    assert str(folder / "database.py") in result.stderr
    # the failing check names the file and line an editor can jump to
    assert "ws/chapter-2/database.py:1:" in result.stdout  # relative to where grade ran
    assert ("Next: fix “Session, Annotated and Depends are imported” (step 1 of the lesson's instructions) — stuck? "
            "run `course hint chapter-2`") in " ".join(result.stdout.split())
    progress = json.loads((workspace / "progress.json").read_text())
    assert progress["chapters"]["chapter-2"]["last_grade"]["status"] == "fail"


def test_an_edited_file_is_never_overwritten(tmp_path, workspace):
    folder = workspace / "chapter-2"
    folder.mkdir(parents=True)
    mine = (ROOT / "solutions" / "chapter-2" / "database.py").read_text() + "# my edits\n"
    (folder / "database.py").write_text(mine)
    result = run("2", "--workspace", str(workspace), cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert (folder / "database.py").read_text() == mine
    assert (folder / "models.py").is_file()  # missing support files are still created
    progress = json.loads((workspace / "progress.json").read_text())
    assert "passed_at" in progress["chapters"]["chapter-2"]


def test_json_contract(tmp_path):
    result = run("chapter-2", "--path", str(ROOT / "chapters" / "chapter-2" / "mistakes" / "depends-called.diff"),
                 "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["status"] == "fail" and report["chapter"] == "chapter-2"
    ids = [c["id"] for c in report["checks"]]
    manifest_ids = ["files"] + [line.split('"')[1] for line in
                                (ROOT / "chapters" / "chapter-2" / "chapter.toml").read_text().splitlines()
                                if line.startswith("id = ")]
    assert ids == manifest_ids
    for check in report["checks"]:
        assert CHECK_FIELDS <= set(check)
        assert check["status"] in {"pass", "fail", "skip", "error"}
    failed = next(c for c in report["checks"] if c["id"] == "sessiondep-defined")
    assert failed["status"] == "fail" and failed["file"] == "database.py" and isinstance(failed["line"], int)
    assert failed["task"] == 3 and report["checks"][0]["task"] is None  # the lesson's step; none for `files`
    for key in ("score", "max_score", "grader_version", "checks_hash", "submission_hash"):
        assert key in report
    assert report["submission"].endswith("depends-called.diff")  # a variant is graded as the patched solution


def test_a_variant_is_shown_by_its_file_names_not_a_temp_copy(tmp_path):
    result = run("chapter-2", "--path", str(ROOT / "chapters" / "chapter-2" / "mistakes" / "depends-called.diff"),
                 cwd=tmp_path)
    assert result.returncode == 1
    assert "grade-copy" not in result.stdout and "database.py:" in result.stdout


def test_a_printed_fake_report_does_not_reach_the_json(tmp_path):
    fake = tmp_path / "database.py"
    fake.write_text('print(\'{"status": "pass", "chapter": "chapter-2", "checks": []}\')\nimport os\nos._exit(0)\n')
    result = run("chapter-2", "--path", str(fake), "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    assert json.loads(result.stdout)["status"] == "fail"


@pytest.mark.parametrize("args, says", [
    (["chapter-9"], "there is no chapter"),
    (["chapter-2", "--path", "/nonexistent/file.py"], "does not exist"),
    (["chapter-2", "--path", "x.py", "--solution"], "either --path or --solution"),
    (["chapter-2", "--format", "yaml"], "yaml"),
])
def test_usage_errors_exit_2(tmp_path, args, says):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_manifest_is_a_content_error_exit_2(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(ROOT / "chapters" / "chapter-2", content / "chapters" / "chapter-2")
    manifest = content / "chapters" / "chapter-2" / "chapter.toml"
    manifest.write_text(manifest.read_text().replace('depends = ["get-session-defined"]', 'depends = ["nope"]', 1))
    result = run("chapter-2", "--path", str(ROOT / "solutions" / "chapter-2"), cwd=tmp_path,
                 env={"COURSE_CONTENT": str(content)})
    assert result.returncode == 2
    assert "depends on 'nope'" in result.stderr


def test_help_has_an_example(tmp_path):
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0 and "grade chapter-2" in result.stdout


def test_a_single_file_submission_is_located_by_its_own_name(tmp_path):
    mine = tmp_path / "my_attempt.py"
    mine.write_text(source(mistake("chapter-2", "depends-called"), "database.py"))
    result = run("chapter-2", "--path", str(mine), cwd=tmp_path)
    assert result.returncode == 1
    assert "my_attempt.py:24:" in result.stdout and "database.py:24" not in result.stdout


def test_the_readme_describes_every_field_of_the_json_report():
    """Every field `grade --format json` writes, of the report and of each check, is in the README's tables."""
    from conftest import ROOT
    from grader.report import CheckResult, Report

    readme = (ROOT / "README.md").read_text()
    section = readme.split("**JSON output**", 1)[1].split("\n## ", 1)[0]
    described = set(re.findall(r"^\| (`[^|]+`) \|", section, re.M))
    names = {name for cell in described for name in re.findall(r"`([a-z_]+)`", cell)}
    assert set(Report.model_fields) - names == set()
    assert set(CheckResult.model_fields) - names == set()
