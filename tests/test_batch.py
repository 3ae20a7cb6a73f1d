"""Batch grading: a class of mixed submissions (correct, wrong, every hostile one, every crafted upload,
odd names) graded with two workers, checked against what each one must get; the gradebook; re-runs;
safe unzipping; a bad --out refused up front; and whatever fails or is killed, a gradebook that
loses nothing already graded."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from coursekit import children, wait_until
from course.batch import (HIDDEN, MAX_BYTES, MAX_FILES, BatchError, Entry, Rejected, discover, prepare,
                          run_batch, unpack)
from crafted import CRAFTED, ESCAPE_NAME, escape_student, hidden_student, non_utf8_student
from grader.sandbox.bwrap import unavailable
from grader.engine import grade
from grader.manifest import load_chapter, load_chapter_dir
from grader.sandbox.pool import WorkerPool
from grader.submission import locate
from grader.variants import Variant, disagreements, read_variant
from variants import corpus, mistake, mistakes, source

HOSTILE = ROOT / "tests" / "hostile" / "chapter-2"
KNOWN = mistakes("chapter-2") + corpus("chapter-2", "")
HOSTILE_IN_CLASS = sorted(p.stem for p in HOSTILE.glob("*.diff"))
"""Every hostile submission: a class must survive all of them at once."""
UNUSABLE = Variant(path=Path("unusable"), about="an upload that is no submission", fails={"files": "bad-submission"})
ODD_NAME = Variant(path=Path("odd-name"), about="the reference solution, under an odd folder name")
NO_BWRAP = unavailable()
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


def copy_entry(source: str, dest: str) -> None:
    """Copy one file of a class folder (a FIFO is made anew: reading it would block)."""
    if stat.S_ISFIFO(os.lstat(source).st_mode):
        os.mkfifo(dest)
    else:
        shutil.copy2(source, dest)


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
    for name, crafted in CRAFTED.items():
        crafted.build(folder, f"c-{name}")
        expected[f"c-{name}"] = UNUSABLE
    expected[non_utf8_student(folder)] = expected[escape_student(folder)] = ODD_NAME
    hidden_student(folder)
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
    for name, crafted in CRAFTED.items():
        assert crafted.message in result.reports[f"c-{name}"].checks[0].message, name
    assert result.skipped == {".ghost": HIDDEN}
    assert result.pending == []


def test_the_gradebook_files(classroom, graded):
    _, expected = classroom
    result, out = graded
    chapter = chapter2()
    rows = list(csv.DictReader(io.StringIO((out / "chapter-2.csv").read_text())))
    # the points of each check, the totals, the status of the checks worth no points (`files`), stamps, flags
    assert list(rows[0]) == ["student", *(c.id for c in chapter.checks), "score", "max_score", "percent",
                             "status", "files", "submission_hash", "checks_hash", "grader_version", "integrity"]
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
    assert ".ghost: a hidden name" in summary
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files behind
    assert sorted(p.name for p in out.iterdir()) == ["chapter-2-summary.txt", "chapter-2.csv", "chapter-2.jsonl",
                                                     "report.html"]


def test_the_gradebook_files_follow_the_umask(graded, tmp_path):
    """Like any file the user creates: readable by the group and others unless the umask says otherwise."""
    from course.gradebook import write_gradebook

    result, _ = graded
    for mask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        before = os.umask(mask)
        try:
            write_gradebook(result, tmp_path / f"umask-{mask:03o}")
        finally:
            os.umask(before)
        modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / f"umask-{mask:03o}").iterdir()}
        assert set(modes.values()) == {mode}, modes


def test_the_gradebook_holds_only_printable_text(graded):
    """Odd names and odd output end up escaped, never as raw control characters or unencodable text."""
    result, out = graded
    for path in out.iterdir():
        text = path.read_bytes().decode("utf-8")  # strict: no surrogates made it to disk
        assert "\x1b" not in text and "\x07" not in text, path.name
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO((out / "chapter-2.csv").read_text()))}
    assert rows["caf\\xe9"]["status"] == "pass" and rows["evil\\x1b[2J\\x1b]0;pwned\\x07"]["status"] == "pass"
    surrogate = next(r for s, r in result.reports.items() if s.endswith("surrogate_text"))
    assert "odd text: \\xff" in surrogate.checks[[c.id for c in surrogate.checks].index("module-imports")].message


def test_a_rerun_regrades_only_what_changed(classroom, graded, tmp_path):
    folder, _ = classroom
    result, out = graded
    copy = tmp_path / "class"
    shutil.copytree(folder, copy, symlinks=True, copy_function=copy_entry)
    shutil.copytree(out, tmp_path / "gradebook")
    again = run_batch(chapter2(), copy, out=tmp_path / "gradebook", jobs=2)
    unusable = sorted(s for s, r in result.reports.items() if r.checks[0].diagnosis == "bad-submission")
    assert sorted(again.graded) == unusable  # unusable uploads are re-checked, cheaply
    assert {s: r.submission_hash for s, r in again.reports.items()} == {
        s: r.submission_hash for s, r in result.reports.items()}
    changed = next(s for s in sorted(again.reports) if s.startswith("s") and (copy / f"{s}.py").exists())
    path = copy / f"{changed}.py"  # a student who uploaded one file
    path.write_text(path.read_text() + "\n# edited after the deadline\n")
    third = run_batch(chapter2(), copy, out=tmp_path / "gradebook", jobs=2)
    assert sorted(third.graded) == sorted([changed, *unusable])


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
    entries, ignored, skipped = discover(tmp_path)
    assert [e.student for e in entries] == ["ann", "ben", "cat"] and ignored == ["notes.md"] and skipped == {}
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


@pytest.mark.parametrize("name", list(CRAFTED))
def test_a_crafted_upload_is_rejected_with_its_reason(tmp_path, name):
    folder = tmp_path / "class"
    folder.mkdir()
    CRAFTED[name].build(folder, "bob")
    (entry,) = discover(folder)[0]
    (tmp_path / "staging").mkdir()
    with pytest.raises(Rejected, match=re.escape(CRAFTED[name].message)) as caught:
        prepare(chapter2(), entry, tmp_path / "staging")
    assert str(tmp_path) not in str(caught.value)  # the student's report shows no grader paths
    assert not (tmp_path / "outside.py").exists()


def test_odd_names_become_printable_student_ids_and_hidden_ones_are_listed(tmp_path):
    odd = [non_utf8_student(tmp_path), escape_student(tmp_path)]
    hidden = hidden_student(tmp_path)
    (tmp_path / f"notes{ESCAPE_NAME}.txt").write_text("")
    entries, ignored, skipped = discover(tmp_path)
    assert [e.student for e in entries] == sorted(odd) and all(e.student.isprintable() for e in entries)
    assert skipped == {hidden: HIDDEN} and ignored == ["notesevil\\x1b[2J\\x1b]0;pwned\\x07.txt"]


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
        "chapter-2.csv", "chapter-2.jsonl", "chapter-2-summary.txt", "report.html"}
    assert "report.html (open it in a browser)" in result.stderr
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


def run_bytes(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*GRADE, *args], cwd=cwd, capture_output=True, timeout=180,
                          env={**os.environ, "NO_COLOR": "1"})


def test_the_batch_command_prints_no_control_characters(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    odd = [escape_student(folder), non_utf8_student(folder)]
    hidden_student(folder)
    for name in ("terminal_escapes", "surrogate_text"):
        (folder / f"{name}.py").write_text(source(read_variant(HOSTILE / f"{name}.diff"), "database.py"))
    (folder / f"notes{ESCAPE_NAME}.txt").write_text("")
    odd.append("[bold]ann:smile:")  # shown as spelled: no markup, no emoji codes
    shutil.copy(ROOT / "solutions" / "chapter-2" / "database.py", folder / f"{odd[-1]}.py")
    CRAFTED["zip-corrupt-deflate"].build(folder, "zed")
    result = run_bytes("chapter-2", "--batch", "subs", "--jobs", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out, err = result.stdout.decode("utf-8"), result.stderr.decode("utf-8")  # strict: valid UTF-8
    assert not [c for c in out + err if not c.isprintable() and c not in "\n"]
    assert "6 submissions (6 graded now" in out and ".ghost: a hidden name" in out
    assert all(f"{student}: pass" in err for student in odd) and "zed: fail" in err


def test_the_progress_bar_on_a_terminal_shows_names_as_spelled(tmp_path):
    """With stderr on a terminal the batch draws a progress bar: odd names in it are escaped too."""
    import pty

    folder = tmp_path / "subs"
    folder.mkdir()
    escape_student(folder)
    shutil.copy(ROOT / "solutions" / "chapter-2" / "database.py", folder / "[bold]ann:smile:.py")
    leader, follower = pty.openpty()
    process = subprocess.Popen([*GRADE, "chapter-2", "--batch", "subs"], cwd=tmp_path, stderr=follower,
                               stdout=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1", "TERM": "xterm"})
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        shown += chunk
    stdout, _ = process.communicate(timeout=120)
    os.close(leader)
    assert process.returncode == 0, shown
    assert b"2 submissions (2 graded now" in stdout and b"Traceback" not in shown
    assert b"\x1b]0;" not in shown and b"\x07" not in shown  # the bar's own escapes are cursor moves only


@pytest.mark.parametrize("out, message", [
    ("taken.txt", "is a file"),
    ("taken.txt/gradebook", "cannot write the gradebook"),
    ("subs", "is the folder of submissions"),
    ("subs/ann", "is inside a submission"),
    ("subs/ann/gradebook", "is inside a submission"),
    ("busy", "chapter-2.csv is not a file"),
    ("/proc/gradebook", "cannot write the gradebook"),
])
def test_a_bad_out_is_refused_before_anything_is_graded(tmp_path, out, message):
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / "chapter-2" / "database.py", tmp_path / "subs" / "ann")
    (tmp_path / "taken.txt").write_text("keep")
    (tmp_path / "busy" / "chapter-2.csv").mkdir(parents=True)
    result = run("chapter-2", "--batch", "subs", "--out", out, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "[1/1]" not in result.stderr  # nothing was graded
    assert (tmp_path / "taken.txt").read_text() == "keep"
    assert sorted(os.listdir(tmp_path / "subs")) == ["ann"] and os.listdir(tmp_path / "subs" / "ann") == ["database.py"]


@pytest.mark.skipif(bool(NO_BWRAP), reason=f"bubblewrap is not usable here: {NO_BWRAP}")
def test_a_hostile_class_in_bubblewrap_ends_with_a_complete_gradebook(tmp_path):
    """Every crafted upload and every hostile submission, graded with --sandbox bwrap: one row each, each the
    student's own failure (never the grader's error), and the gradebook complete."""
    folder = tmp_path / "class"
    folder.mkdir()
    for name, crafted in CRAFTED.items():
        crafted.build(folder, f"c-{name}")
    for name in HOSTILE_IN_CLASS:
        (folder / f"h-{name}.py").write_text(source(read_variant(HOSTILE / f"{name}.diff"), "database.py"))
    odd = [non_utf8_student(folder), escape_student(folder)]
    hidden_student(folder)
    result = run_batch(chapter2(), folder, jobs=2, sandbox="bwrap")
    students = sorted([*(f"c-{n}" for n in CRAFTED), *(f"h-{n}" for n in HOSTILE_IN_CLASS), *odd])
    assert sorted(result.reports) == students and result.pending == [] and list(result.skipped) == [".ghost"]
    assert {s: r.status for s, r in result.reports.items() if r.status != ("pass" if s in odd else "fail")} == {}
    for name, crafted in CRAFTED.items():
        assert crafted.message in result.reports[f"c-{name}"].checks[0].message, name
    rows = list(csv.DictReader(io.StringIO((result.out / "chapter-2.csv").read_text())))
    assert [r["student"] for r in rows] == students


# -- whatever happens, the gradebook ------------------------------------------------------------

def small_class(folder: Path, students: list[str]) -> Path:
    folder.mkdir()
    for student in students:
        shutil.copy(ROOT / "solutions" / "chapter-2" / "database.py", folder / f"{student}.py")
    return folder


def kill_while_running(worker, code: str) -> None:
    """Kill `worker` once its child runs a submission whose database.py holds `code` (other students'
    jobs may run on it before: the pool prepares the next submission while one runs)."""

    def running() -> bool:
        for child in children(worker.proc.pid):
            try:
                if code in Path(f"/proc/{child}/cwd/database.py").read_text():
                    return True
            except OSError:
                continue
        return False

    wait_until(running, what="the submission's code running", timeout=60)
    worker.kill()


def test_whatever_fails_in_one_grade_is_that_students_row(tmp_path, monkeypatch):
    """An upload that cannot be read, an exception in the grader and a killed worker each end as that
    student's error (to re-run), and the others are graded."""
    import course.batch as batch

    folder = small_class(tmp_path / "class", ["ann", "bob", "cat", "dan", "eve"])
    (folder / "dan.py").write_text((folder / "dan.py").read_text() + "\nimport time\ntime.sleep(1.5)\n")
    real_locate, real_grade = batch.locate, WorkerPool.grade

    def locate_(chapter, path):
        if path.name == "bob.py":
            raise OSError(5, "Input/output error")
        return real_locate(chapter, path)

    def grade_(pool, chapter, submission):
        if submission.origin.name == "cat.py":
            raise RuntimeError("a bug in the grader")
        if submission.origin.name == "dan.py":  # killed while it runs dan's code (who takes his time)
            threading.Thread(target=kill_while_running, args=(pool.worker(), "time.sleep(1.5)")).start()
        return real_grade(pool, chapter, submission)

    monkeypatch.setattr(batch, "locate", locate_)
    monkeypatch.setattr(WorkerPool, "grade", grade_)
    result = run_batch(chapter2(), folder, jobs=1)
    assert {s: r.status for s, r in result.reports.items()} == {
        "ann": "pass", "bob": "error", "cat": "error", "dan": "fail", "eve": "pass"}
    assert result.reports["bob"].checks[0].message == ("the grader could not read this submission: "
                                                       "OSError: Input/output error")
    assert result.reports["cat"].checks[0].message == ("the grader failed on this submission: "
                                                       "RuntimeError: a bug in the grader")
    # A worker killed while a submission's code runs is that submission's failure (nothing else acts on it then).
    assert next(c.diagnosis for c in result.reports["dan"].checks if c.status == "fail") == "killed"
    rows = list(csv.DictReader(io.StringIO((result.out / "chapter-2.csv").read_text())))
    assert [r["student"] for r in rows] == ["ann", "bob", "cat", "dan", "eve"]
    assert "Could not be graded cleanly (a grader or course problem, re-run to retry): bob, cat\n" in (
        result.out / "chapter-2-summary.txt").read_text()


def test_each_report_is_journaled_the_moment_it_is_graded(tmp_path):
    folder = small_class(tmp_path / "class", ["ann", "bob", "cat"])
    journal = tmp_path / "class-gradebook" / "chapter-2.jsonl.partial"
    seen, finished = [], []

    def progress(entry, report, reused):
        finished.append(entry.student)
        seen.append([json.loads(line)["student"] for line in journal.read_text().splitlines()])

    run_batch(chapter2(), folder, jobs=1, progress=progress)
    assert sorted(finished) == ["ann", "bob", "cat"]
    assert seen == [finished[:1], finished[:2], finished[:3]]  # in the order they finish
    assert not journal.exists()  # the gradebook holds them all now


def start_batch(tmp_path: Path, students: list[str]) -> tuple[subprocess.Popen, list[str]]:
    """A batch in its own process, returned once it has graded two students (and the lines so far)."""
    small_class(tmp_path / "subs", students)
    (tmp_path / "tmp").mkdir()  # what a killed batch cannot clean up stays here
    process = subprocess.Popen([*GRADE, "chapter-2", "--batch", "subs", "--jobs", "1"], cwd=tmp_path,
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               env={**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp_path / "tmp")})
    lines = []
    assert process.stderr is not None
    while not lines or not lines[-1].startswith("[2/"):
        line = process.stderr.readline()
        assert line, "".join(lines)
        lines.append(line)
    return process, lines


def reported(lines: list[str]) -> list[str]:
    """The students a batch's progress lines (`[1/6] ann: pass 10/10 (0.3 s)`) report as graded."""
    return [m.group(1) for m in (re.match(r"\[\d+/\d+\] (\S+): ", line) for line in lines) if m]


def test_a_killed_batch_loses_nothing_already_graded(tmp_path):
    students = ["ann", "bob", "cat", "dan", "eve", "fay"]
    process, lines = start_batch(tmp_path, students)
    process.kill()
    process.wait(timeout=30)
    journal = tmp_path / "subs-gradebook" / "chapter-2.jsonl.partial"
    kept = [json.loads(line)["student"] for line in journal.read_text().splitlines()]
    assert set(reported(lines)) <= set(kept) and len(kept) >= 2
    again = run_batch(chapter2(), tmp_path / "subs", jobs=2)
    assert sorted(again.reused) == sorted(kept) and sorted(again.graded) == [s for s in students if s not in kept]
    assert list(again.reports) == students and not journal.exists()


def test_a_terminated_batch_writes_its_gradebook(tmp_path):
    students = ["ann", "bob", "cat", "dan", "eve", "fay"]
    process, lines = start_batch(tmp_path, students)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert process.stderr is not None and "Stopped. The gradebook" in process.stderr.read()
    out = tmp_path / "subs-gradebook"
    rows = [r["student"] for r in csv.DictReader(io.StringIO((out / "chapter-2.csv").read_text()))]
    assert set(reported(lines)) <= set(rows) and rows == sorted(rows)
    summary = (out / "chapter-2-summary.txt").read_text()
    if len(rows) < len(students):
        assert f"Not graded: the batch stopped before {len(students) - len(rows)} students" in summary
    assert not (out / "chapter-2.jsonl.partial").exists()
