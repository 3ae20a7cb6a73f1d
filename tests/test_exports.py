"""Exports: Exercism results.json v3, Gradescope results.json and JUnit XML, each validated against
its published field list; the Gradescope autograder zip, run against a fake /autograder tree; the
GitHub Actions example."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from variants import mistake, source
from grader.render.exercism import OUTPUT_LIMIT, to_exercism
from grader.render.gradescope import to_gradescope
from grader.render.junit import to_junit
from grader.report import Report

SOLUTION = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()
HOSTILE = ROOT / "tests" / "hostile" / "chapter-2"
MISTAKE = source(mistake("chapter-2", "depends-called"), "database.py")

# Exercism test runner interface (exercism/docs: building/tooling/test-runners/interface.md)
EXERCISM_TOP = {"version", "status", "message", "tests"}
EXERCISM_TEST = {"name", "test_code", "status", "message", "output", "task_id"}
# Gradescope autograder specification (gradescope-autograders.readthedocs.io/en/latest/specs/)
GRADESCOPE_TOP = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
                  "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
GRADESCOPE_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
                   "tags", "visibility", "extra_data"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def valid_exercism(data: dict) -> None:
    assert set(data) <= EXERCISM_TOP and {"version", "status", "tests"} <= set(data)
    assert data["version"] == 3 and data["status"] in {"pass", "fail", "error"}
    if data["status"] == "error":
        assert isinstance(data["message"], str) and data["message"]
    else:
        assert data.get("message") is None
    for test in data["tests"]:
        assert set(test) <= EXERCISM_TEST and {"name", "status"} <= set(test)
        assert isinstance(test["name"], str) and test["status"] in {"pass", "fail", "error"}
        assert test.get("message") is None or isinstance(test["message"], str)
        assert len(test.get("output") or "") <= OUTPUT_LIMIT
        assert "task_id" not in test or isinstance(test["task_id"], int)


def valid_gradescope(data: dict) -> None:
    assert set(data) <= GRADESCOPE_TOP and isinstance(data["score"], (int, float))
    assert data.get("visibility", "visible") in VISIBILITY and data.get("stdout_visibility", "hidden") in VISIBILITY
    for test in data["tests"]:
        assert set(test) <= GRADESCOPE_TEST
        assert isinstance(test["name"], str) and isinstance(test["number"], str) and isinstance(test["output"], str)
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in {"passed", "failed"} and test["visibility"] in VISIBILITY
    if data["tests"]:
        assert data["score"] == sum(t["score"] for t in data["tests"])


def valid_junit(text: str, report: Report) -> ET.Element:
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests")) == len(report.checks)
    for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        assert sum(len(c.findall(tag)) for c in cases) == int(suite.get(attr)) == int(root.get(attr))
    for case, check in zip(cases, report.checks):
        assert case.get("classname") == f"{report.chapter}.{check.kind}" and case.get("name").startswith(check.id)
        float(case.get("time"))
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["checks_hash"] == report.checks_hash and props["submission_hash"] == report.submission_hash
    return root


@pytest.fixture(scope="module")
def reports(grade_files):
    printing = SOLUTION.replace("        yield session", "        print('é' * 2000, '\\x00\\x1b[31m')\n        yield session")
    return {
        "pass": grade_files("chapter-2", SOLUTION),
        "fail": grade_files("chapter-2", MISTAKE),
        "syntax": grade_files("chapter-2", SOLUTION.replace("def get_session():", "def get_session()")),
        "printing": grade_files("chapter-2", printing),
    }


@pytest.mark.parametrize("kind", ["pass", "fail", "syntax", "printing"])
def test_every_export_is_valid(reports, kind):
    report = reports[kind]
    valid_exercism(to_exercism(report))
    valid_gradescope(to_gradescope(report))
    valid_junit(to_junit(report), report)


def test_exercism_statuses_and_order(reports):
    assert to_exercism(reports["pass"])["status"] == "pass"
    failed = to_exercism(reports["fail"])
    assert failed["status"] == "fail" and failed["message"] is None
    assert [t["name"] for t in failed["tests"]] == [c.title for c in reports["fail"].checks]
    sessiondep = failed["tests"][[c.id for c in reports["fail"].checks].index("sessiondep-defined")]
    assert sessiondep["status"] == "fail" and sessiondep["message"].startswith("database.py:")
    assert "hint:" in sessiondep["message"]
    syntax = to_exercism(reports["syntax"])  # nothing could run: the error status, with the reason
    assert syntax["status"] == "error" and "expected ':'" in syntax["message"]
    assert all(t["status"] == "fail" for t in syntax["tests"][1:])  # skipped checks count as not achieved


def test_exercism_task_ids_are_the_lessons_steps(reports):
    """Each check's `task` from the manifest becomes its task_id; the engine's `files` check has none."""
    tests = to_exercism(reports["fail"])["tests"]
    by_id = {c.id: t for c, t in zip(reports["fail"].checks, tests, strict=True)}
    assert "task_id" not in by_id["files"] and "task_id" not in by_id["module-imports"]
    assert (by_id["imports"]["task_id"], by_id["yield-inside-with"]["task_id"], by_id["sessiondep-defined"]["task_id"]) \
        == (1, 2, 3)


def test_exercism_caps_output_at_500_characters(reports):
    tests = to_exercism(reports["printing"])["tests"]
    printed = [t for t in tests if t.get("output")]
    assert printed and all(len(t["output"]) <= OUTPUT_LIMIT for t in printed)
    assert printed[0]["output"].endswith("Output was truncated. Please limit to 500 chars")


def test_gradescope_scores(reports):
    data = to_gradescope(reports["fail"])
    assert data["score"] == reports["fail"].score == 8
    assert [t["number"] for t in data["tests"]] == [str(i) for i in range(1, 13)]
    assert {t["name"]: t["status"] for t in data["tests"]}[reports["fail"].checks[5].title] == "failed"
    assert data["extra_data"]["submission_hash"] == reports["fail"].submission_hash
    assert to_gradescope(reports["pass"])["score"] == 11


def test_junit_survives_control_characters(reports):
    assert any("\x00" in c.output for c in reports["printing"].checks)
    root = valid_junit(to_junit(reports["printing"]), reports["printing"])
    outputs = [out.text or "" for out in root.iter("system-out")]
    assert any("é" in text and "\ufffd" in text for text in outputs)
    failure = next(valid_junit(to_junit(reports["fail"]), reports["fail"]).iter("failure"))
    assert failure.get("type") == "depends-called" and "hint:" in failure.text


def test_grade_prints_each_format(tmp_path):
    (tmp_path / "database.py").write_text(MISTAKE)

    def grade_as(fmt: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from course.grade_cli import main; main()", "chapter-2",
                               "--path", str(tmp_path), "--format", fmt], capture_output=True, text=True, timeout=120)

    report = Report.model_validate_json(grade_as("json").stdout)
    for fmt in ("exercism", "gradescope", "junit"):
        result = grade_as(fmt)
        assert result.returncode == 1, result.stderr
        if fmt == "junit":
            valid_junit(result.stdout, report)
        else:
            (valid_exercism if fmt == "exercism" else valid_gradescope)(json.loads(result.stdout))


@pytest.mark.parametrize("variant", ["surrogate_text", "terminal_escapes"])
def test_odd_learner_text_never_breaks_a_report(tmp_path, variant):
    """A lone surrogate or an escape sequence in what the learner's code raises and prints: every format
    is still written, as valid UTF-8, and the checklist shows the control characters escaped."""
    from grader.variants import read_variant

    (tmp_path / "database.py").write_text(source(read_variant(HOSTILE / f"{variant}.diff"), "database.py"))

    def grade_as(fmt: str) -> str:
        result = subprocess.run([sys.executable, "-c", "from course.grade_cli import main; main()", "chapter-2",
                                 "--path", str(tmp_path), "--format", fmt], capture_output=True, timeout=120)
        assert result.returncode == 1 and b"Traceback" not in result.stderr, result.stderr
        return result.stdout.decode("utf-8")  # strict

    report = Report.model_validate_json(grade_as("json"))
    message = next(c.message for c in report.checks if c.id == "module-imports")
    assert ("odd text: \\xff" if variant == "surrogate_text" else "\x1b[2J") in message
    json.loads(grade_as("exercism")) and json.loads(grade_as("gradescope"))
    valid_junit(grade_as("junit"), report)
    text = grade_as("text")
    assert "\x1b" not in text and "\x07" not in text
    if variant == "terminal_escapes":
        assert "raised ValueError: \\x1b[2J\\x1b]0;pwned\\x07cleared" in text


# -- the Gradescope autograder ----------------------------------------------------------------

@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """The exported zip, unpacked where Gradescope puts it: ROOT/source."""
    from course.export import build_gradescope
    from grader.manifest import load_chapter

    base = tmp_path_factory.mktemp("export")
    archive = build_gradescope(load_chapter("chapter-2"), base / "autograder.zip")
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        zf.extractall(base / "source")
    for script in ("setup.sh", "run_autograder"):
        assert script in names and modes[script] & 0o111, script
        (base / "source" / script).chmod(0o755)
    return base, names


def test_the_zip_holds_the_scripts_and_the_course(autograder):
    _, names = autograder
    assert {"course/pyproject.toml", "course/grader/engine.py", "course/chapters/chapter-2/chapter.toml",
            "course/starter/chapter-2/main.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".db")) or "/." in n]
    setup = (autograder[0] / "source" / "setup.sh").read_text()
    assert 'pip" install --quiet --constraint "$root/source/constraints.txt" "$root/source/course"' in setup


def test_the_autograder_installs_the_versions_the_author_checked(autograder):
    """constraints.txt pins every library the course needs, its extras' and its dependencies' too, to the version
    installed where the course was exported; nothing of the dev extra, nor the course itself."""
    import fastapi
    import greenlet
    import sqlalchemy
    import starlette

    pins = dict(line.split("==") for line in (autograder[0] / "source" / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert {name: pins.get(name) for name in ("fastapi", "sqlalchemy", "starlette", "greenlet")} == {
        "fastapi": fastapi.__version__, "sqlalchemy": sqlalchemy.__version__, "starlette": starlette.__version__,
        "greenlet": greenlet.__version__}  # greenlet: through sqlalchemy[asyncio]; starlette: through fastapi
    assert "pytest-xdist" not in pins and "fastapi-sessions-course" not in pins


def test_setup_fails_clearly_when_no_python_is_new_enough(autograder, tmp_path):
    """An image whose python3 is too old even after apt-get installs one: the build stops, saying why."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text('#!/bin/sh\n[ "$1" = "--version" ] && echo "Python 3.8.10" && exit 0\nexit 1\n')
    (fake / "apt-get").write_text("#!/bin/sh\nexit 0\n")
    for tool in fake.iterdir():
        tool.chmod(0o755)
    result = subprocess.run(["bash", str(autograder[0] / "source" / "setup.sh")], capture_output=True, text=True,
                            env={"PATH": f"{fake}:/usr/bin:/bin", "AUTOGRADER_ROOT": str(tmp_path)}, timeout=60)
    assert result.returncode == 1
    assert "the course needs Python 3.10 or newer, with venv; this image has Python 3.8.10" in result.stderr
    assert not (tmp_path / "venv").exists()


def answers(chapter_id: str) -> set[bytes]:
    """Every file a learner edits, as the reference solutions of all chapters have it, except those the
    starter of `chapter_id` hands out anyway (a starter continues the previous chapter's solution; chapter
    5's pinned app is chapter 4's)."""
    from grader.content import chapter_ids
    from grader.manifest import load_chapter

    handed_out = {p.read_bytes() for p in (ROOT / "starter" / chapter_id).rglob("*") if p.is_file()}
    return {(ROOT / "solutions" / c / name).read_bytes() for c in chapter_ids(ROOT)
            for name in load_chapter(c).files} - handed_out


@pytest.mark.parametrize("chapter_id", ["chapter-2", "chapter-5"])
def test_the_zip_holds_the_graded_chapter_and_no_solution(tmp_path, chapter_id):
    """Only the graded chapter's manifest, checks and starter support files: no solutions/, no other chapter,
    no lesson, quiz or known mistakes, and no file that is a solution's answer (chapter 5's pinned app is
    chapter 4's solution, shipped as chapter 5's starter on purpose)."""
    from course.export import build_gradescope
    from grader.manifest import load_chapter

    chapter = load_chapter(chapter_id)
    with zipfile.ZipFile(build_gradescope(chapter, tmp_path / "ag.zip")) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    content = sorted(n.removeprefix("course/") for n in members
                     if n.startswith(("course/chapters/", "course/starter/", "course/solutions/")))
    starter = ROOT / "starter" / chapter_id
    support = sorted(f"starter/{chapter_id}/{p.relative_to(starter).as_posix()}" for p in starter.rglob("*.py")
                     if p.relative_to(starter).as_posix() not in chapter.files)
    checks = sorted(f"chapters/{chapter_id}/{p.relative_to(chapter.dir).as_posix()}"
                    for p in chapter.checks_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert content == sorted([f"chapters/{chapter_id}/chapter.toml", *checks, *support])
    assert [n for n, data in members.items() if data in answers(chapter_id)] == []
    pyproject = members["course/pyproject.toml"].decode()
    assert "solutions" not in pyproject and '"chapters" = "grader/_content/chapters"' in pyproject


def fake_autograder(base: Path, tmp_path: Path) -> Path:
    """A fake /autograder tree: the exported zip in source/, an empty submission/, and the venv setup.sh
    makes, with the zip's course on its path instead of pip-installed (and this suite's libraries for the
    rest), so the exported grader and content, and nothing of this checkout, grade the submission."""
    import sysconfig

    root = tmp_path / "autograder"
    shutil.copytree(base / "source", root / "source")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=60)
    (site,) = (root / "venv" / "lib").glob("python3*/site-packages")
    (site / "autograder.pth").write_text(f"{root / 'source' / 'course'}\n{sysconfig.get_paths()['purelib']}\n")
    (root / "submission").mkdir()
    return root


def autograde_in(root: Path) -> dict:
    """Run the exported run_autograder (its own default python: the venv) and read results.json."""
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOGRADER_PYTHON", "COURSE_CONTENT")}
    result = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root,
                            env={**env, "AUTOGRADER_ROOT": str(root)}, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    valid_gradescope(data)
    return data


def run_autograder(base: Path, tmp_path: Path, files: dict[str, str | Path]) -> dict:
    """Grade a submission ({name: text, or a Path to link to}) with the exported autograder."""
    root = fake_autograder(base, tmp_path)
    for name, text in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, Path):
            (root / "submission" / name).symlink_to(text)
        else:
            (root / "submission" / name).write_text(text)
    return autograde_in(root)


@pytest.mark.parametrize("files, score", [
    ({"database.py": SOLUTION}, 11),
    ({"database.py": MISTAKE}, 8),
    ({"my-repo/chapter-2/database.py": SOLUTION, "my-repo/README.md": "mine"}, 11),  # a GitHub submission
    ({"notes.txt": "I forgot the code"}, 0),
])
def test_run_autograder_writes_results(autograder, tmp_path, files, score):
    data = run_autograder(autograder[0], tmp_path, files)
    assert data["score"] == score
    if score == 0:
        assert "database.py is missing" in data["tests"][0]["output"]


PROBE = SOLUTION + textwrap.dedent("""

    import os
    import grader.content

    root = grader.content.content_root()
    print("content root:", root)
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.relpath(os.path.join(folder, name), root)
            if not path.startswith(("course", "grader")) and "__pycache__" not in path:
                print("content:", path)
""")


def test_no_solution_is_reachable_from_a_submission(autograder, tmp_path):
    """A submission run by the exported autograder finds no solution in the content the grader uses, and a
    link to a solution (on this very machine) is refused, not graded."""
    data = run_autograder(autograder[0], tmp_path / "probe", {"database.py": PROBE})
    printed = "\n".join(t["output"] for t in data["tests"])
    root = tmp_path / "probe" / "autograder"
    assert f"content root: {root / 'source' / 'course'}" in printed
    seen = sorted({line.removeprefix("content: ") for line in printed.splitlines() if line.startswith("content: ")})
    assert seen == ["README.md", "chapters/chapter-2/chapter.toml", "chapters/chapter-2/checks/static.py",
                    "chapters/chapter-2/checks/test_behaviour.py", "pyproject.toml", "starter/chapter-2/main.py",
                    "starter/chapter-2/models.py"]
    assert [p for p in root.rglob("*") if p.is_file() and p.read_bytes() in answers("chapter-2")] == []
    linked = run_autograder(autograder[0], tmp_path / "link",
                            {"database.py": ROOT / "solutions" / "chapter-2" / "database.py"})
    assert linked["score"] == 0 and "database.py is a symbolic link" in linked["tests"][0]["output"]


def test_the_chapter_5_autograder_grades_with_its_pinned_app(tmp_path):
    """Chapter 5 grades the learner's tests against its starter app (shipped) and mutants: full marks for
    the reference tests, from the zip alone."""
    from course.export import build_gradescope
    from grader.manifest import load_chapter

    chapter = load_chapter("chapter-5")
    base = tmp_path / "export"
    with zipfile.ZipFile(build_gradescope(chapter, tmp_path / "ag.zip")) as zf:
        zf.extractall(base / "source")
    tests = (ROOT / "solutions" / "chapter-5" / "tests" / "test_heroes.py").read_text()
    data = run_autograder(base, tmp_path, {"tests/test_heroes.py": tests})
    assert data["score"] == sum(c.points for c in chapter.checks), data["output"]


def nest(folder: Path, depth: int) -> None:
    """`depth` folders `d` one inside the other in `folder`, made one level at a time (os.makedirs and
    shutil.rmtree recurse once per level, and Python stops at about a thousand)."""
    fd = os.open(folder, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)


def unnest(folder: Path) -> None:
    """Remove what `nest` made, one level at a time."""
    while (folder / "d" / "d").is_dir():
        os.rename(folder / "d" / "d", folder / "inner")
        os.rmdir(folder / "d")
        os.rename(folder / "inner", folder / "d")
    os.rmdir(folder / "d")


def test_a_submission_of_any_depth_is_searched_in_bounded_time(autograder, tmp_path):
    root = fake_autograder(autograder[0], tmp_path)
    nest(root / "submission", 1100)
    try:
        data = autograde_in(root)
    finally:
        unnest(root / "submission")
    assert data["score"] == 0 and "database.py is missing" in data["tests"][0]["output"]


def test_course_export_command(tmp_path):
    def export(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from course.cli import main; main()", "export", "gradescope",
                               *args], capture_output=True, text=True, timeout=60, cwd=cwd)

    result = export("chapter-2", "--out", str(tmp_path / "ag.zip"))
    assert result.returncode == 0, result.stderr
    assert zipfile.ZipFile(tmp_path / "ag.zip").testzip() is None
    (tmp_path / "exports").mkdir()
    into = export("chapter-2", "--out", "exports")  # a folder: the zip goes inside, under its default name
    assert into.returncode == 0 and (tmp_path / "exports" / "gradescope-chapter-2.zip").is_file(), into.stderr
    unwritable = export("chapter-2", "--out", "/proc/ag.zip")
    assert unwritable.returncode == 2 and "cannot write /proc/ag.zip" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr
    bad = export("chapter-99")
    assert bad.returncode == 2 and "no chapter" in bad.stderr


def test_the_default_export_is_ignored_by_git():
    """`course export gradescope chapter-N` run at the top of the checkout leaves nothing git would commit."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "gradescope-chapter-2.zip"], cwd=ROOT, timeout=30)
    assert ignored.returncode == 0


# -- the GitHub Actions example -----------------------------------------------------------------

def test_the_workflow_example_runs_what_it_documents(tmp_path):
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((ROOT / "examples" / "github-classroom" / "grade.yml").read_text())
    steps = workflow["jobs"]["grade"]["steps"]
    grader = next(s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-command-grader"))
    commands = [grader["with"]["command"]] + [line for s in steps if "run" in s for line in s["run"].splitlines()
                                              if line.strip().startswith("grade ")]
    (tmp_path / "chapter-2").mkdir()
    (tmp_path / "chapter-2" / "database.py").write_text(SOLUTION)
    bin_dir = Path(sys.executable).parent
    for command in commands:
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert any("grade-report.xml" in s.get("run", "") for s in steps)
