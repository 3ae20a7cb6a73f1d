"""Batch grading: a class of mixed submissions (correct, wrong, hostile, unusable) graded with two
workers, checked against what each one must get; the gradebook; re-runs; safe unzipping."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from course.batch import (MAX_BYTES, MAX_FILES, BatchError, Entry, Rejected, discover, prepare, run_batch,
                          unpack)
from grader.engine import grade
from grader.manifest import load_chapter, load_chapter_dir
from grader.submission import locate
from grader.variants import Variant, disagreements, read_variant
from variants import corpus, mistake, mistakes, source

HOSTILE = ROOT / "tests" / "hostile" / "chapter-2"
KNOWN = mistakes("chapter-2") + corpus("chapter-2", "")
HOSTILE_IN_CLASS = ["fork_bomb", "memory_bomb", "infinite_loop", "long_sleep", "sys_exit_zero", "os_exit_zero",
                    "forged_stdout", "forged_records_exit", "forged_records_unclosed", "kill_the_worker",
                    "write_outside", "output_flood"]
UNUSABLE = Variant(path=Path("unusable"), about="an upload that is no submission", fails={"files": "bad-submission"})
GRADE = [sys.executable, "-c", "from course.grade_cli import main; main()"]


def chapter2(timeout: float = 2.0):
    return load_chapter("chapter-2").model_copy(update={"timeout": timeout})


def zip_folder(zip_path: Path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)


def add_student(folder: Path, student: str, text: str, form: str) -> None:
    """Put a submission in the class folder as a .py file, a folder, or a zip (with a top folder)."""
    if form == "py":
        (folder / f"{student}.py").write_text(text)
    elif form == "folder":
        (folder / student).mkdir()
        (folder / student / "database.py").write_text(text)
    else:
        zip_folder(folder / f"{student}.zip", {f"{student}/database.py": text, "__MACOSX/._database.py": "junk"})


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """55 students: the 41 known submissions in three forms, 12 hostile ones, 2 unusable uploads."""
    folder = tmp_path_factory.mktemp("class")
    expected: dict[str, Variant] = {}
    for number, variant in enumerate(KNOWN):
        student = f"s{number:02d}-{variant.name}"
        add_student(folder, student, source(variant, "database.py"), ("py", "folder", "zip")[number % 3])
        expected[student] = variant
    for number, name in enumerate(HOSTILE_IN_CLASS):
        student = f"h{number:02d}-{name}"
        variant = read_variant(HOSTILE / f"{name}.diff")
        add_student(folder, student, source(variant, "database.py"), ("py", "folder", "zip")[number % 3])
        expected[student] = variant
    zip_folder(folder / "x-traversal.zip", {"../../outside.py": "x = 1\n"})
    (folder / "x-symlink").mkdir()
    (folder / "x-symlink" / "database.py").symlink_to("/etc/hostname")
    expected["x-traversal"] = expected["x-symlink"] = UNUSABLE
    (folder / "README.txt").write_text("not a submission")
    assert len(expected) >= 50
    return folder, expected


@pytest.fixture(scope="module")
def graded(classroom, tmp_path_factory):
    folder, expected = classroom
    out = tmp_path_factory.mktemp("gradebook")
    return run_batch(chapter2(), folder, out=out, jobs=2), out


def test_every_student_gets_the_expected_verdict(classroom, graded):
    _, expected = classroom
    result, _ = graded
    assert sorted(result.reports) == sorted(expected)
    wrong = {s: disagreements(expected[s], r) for s, r in result.reports.items() if disagreements(expected[s], r)}
    assert wrong == {}
    for student, report in result.reports.items():
        assert report.status == ("pass" if expected[student].expects_pass else "fail"), student
    assert result.ignored == ["README.txt"]
    assert "unsafe path" in result.reports["x-traversal"].checks[0].message
    assert "symbolic link" in result.reports["x-symlink"].checks[0].message


def test_the_gradebook_files(classroom, graded):
    _, expected = classroom
    result, out = graded
    chapter = chapter2()
    rows = list(csv.DictReader(io.StringIO((out / "chapter-2.csv").read_text())))
    assert list(rows[0]) == ["student", "files", *(c.id for c in chapter.checks), "score", "max_score", "percent",
                             "status", "submission_hash", "checks_hash", "grader_version"]
    assert [r["student"] for r in rows] == sorted(expected)
    for row in rows:
        report = result.reports[row["student"]]
        assert float(row["score"]) == report.score and float(row["max_score"]) == report.max_score == 11
        assert float(row["percent"]) == round(100 * report.score / 11, 1)
        assert row["status"] == report.status and row["files"] == report.checks[0].status
        assert sum(float(row[c.id]) for c in chapter.checks) == report.score
    lines = (out / "chapter-2.jsonl").read_text().splitlines()
    assert [json.loads(line)["student"] for line in lines] == sorted(expected)
    assert all(json.loads(line)["checks"] for line in lines)
    summary = (out / "chapter-2-summary.txt").read_text()
    passed_all = sum(not e.fails for e in expected.values())
    assert f"{len(expected)} submissions" in summary and f"{passed_all} passed every check" in summary
    imports_row = next(line for line in summary.splitlines() if line.startswith("module-imports "))
    passed = sum(r.checks[[c.id for c in r.checks].index("module-imports")].status == "pass"
                 for r in result.reports.values())
    assert f"{passed}/{len(expected)}" in imports_row
    assert "stopped first by" in summary and "README.txt" in summary
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files behind


def test_a_rerun_regrades_only_what_changed(classroom, graded, tmp_path):
    folder, _ = classroom
    result, out = graded
    copy = tmp_path / "class"
    shutil.copytree(folder, copy, symlinks=True)
    shutil.copytree(out, tmp_path / "gradebook")
    again = run_batch(chapter2(), copy, out=tmp_path / "gradebook", jobs=2)
    assert sorted(again.graded) == ["x-symlink", "x-traversal"]  # unusable uploads are re-checked, cheaply
    assert {s: r.submission_hash for s, r in again.reports.items()} == {
        s: r.submission_hash for s, r in result.reports.items()}
    changed = next(s for s in again.reports if s.endswith("ok_reference"))
    path = copy / f"{changed}.py" if (copy / f"{changed}.py").exists() else copy / changed / "database.py"
    path.write_text(path.read_text() + "\n# edited after the deadline\n")
    third = run_batch(chapter2(), copy, out=tmp_path / "gradebook", jobs=2)
    assert sorted(third.graded) == sorted([changed, "x-symlink", "x-traversal"])


def test_force_regrades_everything(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    shutil.copy(ROOT / "solutions" / "chapter-2" / "database.py", folder / "ann.py")
    shutil.copy(ROOT / "starter" / "chapter-2" / "database.py", folder / "ben.py")
    first = run_batch(chapter2(), folder, jobs=1)
    assert first.out == tmp_path / "small-gradebook" and sorted(first.graded) == ["ann", "ben"]
    assert run_batch(chapter2(), folder, jobs=1).graded == []
    assert sorted(run_batch(chapter2(), folder, jobs=1, force=True).graded) == ["ann", "ben"]


def test_changed_checks_regrade_everyone(tmp_path):
    for part in ("chapters", "starter"):
        shutil.copytree(ROOT / part / "chapter-2", tmp_path / part / "chapter-2")
    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copy(ROOT / "solutions" / "chapter-2" / "database.py", folder / "ann.py")
    chapter = load_chapter_dir(tmp_path / "chapters" / "chapter-2").model_copy(update={"timeout": 2.0})
    assert run_batch(chapter, folder, jobs=1).graded == ["ann"]
    assert run_batch(chapter, folder, jobs=1).graded == []
    static = chapter.checks_dir / "static.py"
    static.write_text(static.read_text() + "\n# a fix to the course's checks\n")
    assert run_batch(chapter, folder, jobs=1).graded == ["ann"]


def test_local_and_batch_results_carry_the_same_stamps(classroom, graded):
    folder, _ = classroom
    result, _ = graded
    chapter = chapter2()
    for student in (f"s{n:02d}-{KNOWN[n].name}" for n in range(3)):  # a .py file, a folder and a zip
        entry = next(e for e in discover(folder)[0] if e.student == student)
        local = grade(chapter, prepare(chapter, entry, folder.parent))
        assert (local.submission_hash, local.checks_hash, local.grader_version) == (
            result.reports[student].submission_hash, result.reports[student].checks_hash,
            result.reports[student].grader_version)
        assert local.score == result.reports[student].score


def test_points_from_the_manifest_flow_into_the_gradebook(tmp_path):
    chapter = chapter2()
    weighted = chapter.model_copy(update={"checks": tuple(
        c.model_copy(update={"points": 3}) if c.id == "per-request-sessions" else c for c in chapter.checks)})
    folder = tmp_path / "w"
    folder.mkdir()
    shutil.copy(ROOT / "solutions" / "chapter-2" / "database.py", folder / "ann.py")
    (folder / "ben.py").write_text(source(mistake("chapter-2", "cached-session"), "database.py"))
    result = run_batch(weighted, folder, jobs=1)
    assert (result.reports["ann"].score, result.reports["ann"].max_score) == (13, 13)
    assert result.reports["ben"].score == 13 - 3 - 1  # per-request-sessions (3) and yield-inside-with (1)
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO((result.out / "chapter-2.csv").read_text()))}
    assert rows["ann"]["per-request-sessions"] == "3" and rows["ben"]["per-request-sessions"] == "0"


# -- the pieces ---------------------------------------------------------------------------------

def test_discover_names_students_and_refuses_ambiguity(tmp_path):
    (tmp_path / "ann.py").write_text("")
    (tmp_path / "ben").mkdir()
    zip_folder(tmp_path / "cat.zip", {"database.py": ""})
    (tmp_path / ".DS_Store").write_text("")
    (tmp_path / "notes.md").write_text("")
    entries, ignored = discover(tmp_path)
    assert [e.student for e in entries] == ["ann", "ben", "cat"] and ignored == ["notes.md"]
    (tmp_path / "ann").mkdir()
    with pytest.raises(BatchError, match="both student 'ann'"):
        discover(tmp_path)
    with pytest.raises(BatchError, match="not a folder"):
        discover(tmp_path / "ann.py")


@pytest.mark.parametrize("files, problem", [
    ({"../evil.py": "x"}, "unsafe path"),
    ({"/etc/evil.py": "x"}, "unsafe path"),
    ({"a\\..\\..\\evil.py": "x"}, "unsafe path"),
    ({f"f{i}.py": "" for i in range(MAX_FILES + 1)}, f"more than {MAX_FILES} files"),
    ({"big.py": "0" * (MAX_BYTES + 1)}, "unpacks to more than"),
])
def test_unsafe_zips_are_rejected(tmp_path, files, problem):
    zip_folder(tmp_path / "s.zip", files)
    (tmp_path / "out").mkdir()
    with pytest.raises(Rejected, match=problem):
        unpack(tmp_path / "s.zip", tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()


def test_zip_symlinks_and_corrupt_zips_are_rejected(tmp_path):
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        info = zipfile.ZipInfo("database.py")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    (tmp_path / "out").mkdir()
    with pytest.raises(Rejected, match="symbolic link"):
        unpack(tmp_path / "link.zip", tmp_path / "out")
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(Rejected, match="not a readable zip"):
        unpack(tmp_path / "bad.zip", tmp_path / "out")


def test_a_zip_with_one_top_folder_is_looked_through(tmp_path):
    zip_folder(tmp_path / "s.zip", {"mine/database.py": "x = 1\n", "mine/extra/notes.txt": "", "__MACOSX/junk": ""})
    (tmp_path / "out").mkdir()
    assert unpack(tmp_path / "s.zip", tmp_path / "out") == tmp_path / "out" / "mine"


def test_oversized_files_in_a_folder_are_rejected(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "database.py").write_text("#" * 2_000_000)
    with pytest.raises(Rejected, match="larger than"):
        prepare(chapter2(), Entry("ann", tmp_path / "ann"), tmp_path)


# -- the command --------------------------------------------------------------------------------

def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*GRADE, *args], cwd=cwd, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "NO_COLOR": "1"})


def test_the_batch_command(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copy(ROOT / "solutions" / "chapter-2" / "database.py", folder / "ann.py")
    shutil.copytree(ROOT / "starter" / "chapter-2", folder / "ben")
    zip_folder(folder / "cat.zip", {"database.py": source(mistake("chapter-2", "depends-called"), "database.py")})
    result = run("chapter-2", "--batch", "subs", "--jobs", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 submissions (3 graded now, 0 unchanged" in result.stdout and "1 passed every check" in result.stdout
    assert "[3/3]" in result.stderr and "Traceback" not in result.stderr
    assert {p.name for p in (tmp_path / "subs-gradebook").iterdir()} == {
        "chapter-2.csv", "chapter-2.jsonl", "chapter-2-summary.txt"}
    again = run("chapter-2", "--batch", "subs", cwd=tmp_path)
    assert "0 graded now, 3 unchanged" in again.stdout and again.stderr.count("(unchanged)") == 3


@pytest.mark.parametrize("args, message", [
    (["--batch", "subs", "--path", "x.py"], "leave out --path"),
    (["--batch", "subs", "--format", "json"], "--format is for one submission"),
    (["--jobs", "2"], "go with --batch"),
    (["--batch", "missing"], "not a folder of submissions"),
])
def test_batch_usage_errors(tmp_path, args, message):
    (tmp_path / "subs").mkdir()
    result = run("chapter-2", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
