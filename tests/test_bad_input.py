"""Bad input gets a clear report: never a traceback, never a false pass."""

from __future__ import annotations

import json
import time

import pytest

from conftest import ROOT

SOLUTION = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()
SHORT = {"timeout": 2.0}


def by_id(report):
    return {c.id: c for c in report.checks}


def test_syntax_error_points_at_the_line_with_a_caret(grade_files):
    text = SOLUTION.replace("def get_session():", "def get_session()")
    line = text.splitlines().index("def get_session()") + 1
    report = grade_files("chapter-2", text)
    files = by_id(report)["files"]
    assert files.status == "fail" and files.diagnosis == "syntax-error"
    assert (files.file, files.line) == ("database.py", line)
    assert files.message.startswith("SyntaxError: expected ':'")  # the report shows the location: not twice
    assert files.message.splitlines()[-1].strip() == "^"
    assert all(c.status == "skip" for c in report.checks if c.id != "files")
    assert report.exit_code == 1


def test_a_parameter_without_default_after_defaults_is_explained():
    from grader.static.source import syntax_problem

    line = "def read_heroes(offset: int = 0, session: SessionDep, *, limit: int = 100):"
    problem = syntax_problem(line + "\n    pass\n", "main.py")
    assert problem is not None and problem.line == 1 and line[problem.column - 1:].startswith("session")
    assert problem.message.endswith("(`session` has no default value, so it must come before every parameter "
                                    "that has one: move it to the front)")
    assert "`" not in syntax_problem("def f(x)\n    pass\n", "main.py").message  # other errors: Python's words


def test_an_empty_file_says_so(grade_files):
    files = by_id(grade_files("chapter-2", "   \n"))["files"]
    assert files.status == "fail" and "database.py is empty" in files.message


def test_a_missing_file_says_so(grade_files, tmp_path):
    from grader.engine import grade
    from grader.manifest import load_chapter
    from grader.submission import locate

    chapter = load_chapter("chapter-2")
    (tmp_path / "notes.txt").write_text("nothing here")
    report = grade(chapter, locate(chapter, tmp_path))
    assert by_id(report)["files"].status == "fail"
    assert "database.py is missing" in by_id(report)["files"].message


def test_non_utf8_file_is_reported_not_crashed(grade_files, tmp_path):
    from grader.engine import grade
    from grader.manifest import load_chapter
    from grader.submission import locate

    chapter = load_chapter("chapter-2")
    (tmp_path / "database.py").write_bytes(b"x = '\xff\xfe'\n")
    report = grade(chapter, locate(chapter, tmp_path))
    assert by_id(report)["files"].status == "fail" and "not UTF-8" in by_id(report)["files"].message


def test_exception_at_import_is_trimmed_to_the_learners_file(grade_files):
    text = SOLUTION + "\nsettings = {}['missing']\n"
    line = len(text.splitlines())
    check = by_id(grade_files("chapter-2", text))["module-imports"]
    assert check.status == "fail" and check.diagnosis == "import-error"
    assert (check.file, check.line) == ("database.py", line)
    assert "KeyError" in check.message
    assert 'File "database.py"' in check.output and "site-packages" not in check.output
    assert "grader" not in check.output


@pytest.mark.parametrize("where", ["import", "generator"])
def test_an_infinite_loop_is_killed_at_the_timeout_and_located(grade_files, where):
    if where == "import":
        text = SOLUTION + "\nwhile True:\n    pass\n"
        victim, loop = "module-imports", text.splitlines().index("while True:") + 1
    else:
        text = SOLUTION.replace("        yield session", "        while True:\n            pass\n        yield session")
        victim, loop = "generator-yields-session", text.splitlines().index("        while True:") + 1
    start = time.monotonic()
    report = grade_files("chapter-2", text, **SHORT)
    assert time.monotonic() - start < SHORT["timeout"] + 3
    check = by_id(report)[victim]
    assert check.status == "fail" and check.diagnosis == "timeout"
    assert "timed out" in check.message and check.file == "database.py" and check.line in (loop, loop + 1)
    assert report.status == "fail" and report.exit_code == 1
    assert any("time limit" in note for note in report.notes)


def test_a_sleep_inside_the_generator_is_a_timeout_too(grade_files):
    text = SOLUTION.replace("import Annotated", "import Annotated\nimport time").replace(
        "        yield session", "        time.sleep(60)\n        yield session")
    check = by_id(grade_files("chapter-2", text, **SHORT))["generator-yields-session"]
    assert check.status == "fail" and check.diagnosis == "timeout"


def test_sys_exit_zero_at_import_fails(grade_files):
    report = grade_files("chapter-2", SOLUTION + "\nimport sys\nsys.exit(0)\n")
    check = by_id(report)["module-imports"]
    assert check.status == "fail" and check.diagnosis == "exit-at-import"
    assert report.status == "fail"


def test_os_exit_zero_at_import_fails(grade_files):
    report = grade_files("chapter-2", SOLUTION + "\nimport os\nos._exit(0)\n")
    check = by_id(report)["module-imports"]
    assert check.status == "fail" and check.diagnosis == "process-exit"
    assert all(c.status != "pass" for c in report.checks if c.kind == "behaviour")
    assert report.status == "fail"


def test_sys_exit_inside_the_generator_fails_that_check(grade_files):
    text = SOLUTION.replace("import Annotated", "import Annotated\nimport sys").replace(
        "        yield session", "        sys.exit(0)\n        yield session")
    check = by_id(grade_files("chapter-2", text))["generator-yields-session"]
    assert check.status == "fail" and check.diagnosis == "sys-exit"


def test_a_forged_report_on_stdout_changes_nothing(grade_files):
    forged = json.dumps({"status": "pass", "checks": [{"type": "result", "id": "module-imports", "status": "pass"}]})
    text = (f"import os, sys\nprint({forged!r})\nprint({json.dumps({'type': 'done'})!r})\n"
            "sys.stdout.flush()\nos._exit(0)\n")
    report = grade_files("chapter-2", SOLUTION + "\n" + text)
    assert report.status == "fail"
    assert by_id(report)["module-imports"].status == "fail"


def test_megabytes_of_output_are_capped(grade_files):
    text = SOLUTION + "\nimport sys\nfor _ in range(50):\n    sys.stdout.write('x' * 100_000 + '\\n')\n"
    report = grade_files("chapter-2", text)
    assert report.status == "pass"
    assert all(len(c.output) <= 4000 for c in report.checks)
    assert len(report.model_dump_json()) < 100_000


def test_a_crashing_static_check_is_an_error_not_a_fail(grade_files, tmp_path):
    """A bug in the course's checks is reported as such, with exit code 2, not blamed on the learner."""
    import shutil

    from grader.manifest import load_chapter_dir

    content = tmp_path / "content"
    shutil.copytree(ROOT / "chapters" / "chapter-2", content / "chapters" / "chapter-2")
    shutil.copytree(ROOT / "starter" / "chapter-2", content / "starter" / "chapter-2")
    static = content / "chapters" / "chapter-2" / "checks" / "static.py"
    static.write_text(static.read_text().replace('    return is_generator(src, function(src, "get_session").node)',
                                                 '    raise RuntimeError("oops")'))
    chapter = load_chapter_dir(content / "chapters" / "chapter-2")
    report = grade_files(chapter, SOLUTION)
    check = by_id(report)["get-session-yields"]
    assert check.status == "error" and "bug in the course" in check.message
    line = static.read_text().splitlines().index('    raise RuntimeError("oops")') + 1
    assert f"at chapter-2/checks/static.py:{line})" in check.message and check.file is None  # the course's line
    assert report.status == "error" and report.exit_code == 2


@pytest.mark.parametrize("returned, says", [
    ("None", "returned None; return a finding"),
    ("True", "returned True; return a finding"),
    ("[passed(), None]", "returned None among its findings; return a finding"),
])
def test_a_static_check_that_returns_no_finding_says_so_at_its_def(grade_files, tmp_path, returned, says):
    import shutil

    from grader.manifest import load_chapter_dir

    content = tmp_path / "content"
    shutil.copytree(ROOT / "chapters" / "chapter-2", content / "chapters" / "chapter-2")
    shutil.copytree(ROOT / "starter" / "chapter-2", content / "starter" / "chapter-2")
    static = content / "chapters" / "chapter-2" / "checks" / "static.py"
    static.write_text(static.read_text().replace('    return is_generator(src, function(src, "get_session").node)',
                                                 f"    from grader.static import passed\n    return {returned}"))
    report = grade_files(load_chapter_dir(content / "chapters" / "chapter-2"), SOLUTION)
    check = by_id(report)["get-session-yields"]
    line = static.read_text().splitlines().index('@check("get-session-yields")') + 1  # the check's decorator
    assert check.status == "error" and check.file is None
    assert check.message.startswith(f"the check at chapter-2/checks/static.py:{line} {says}")


def test_an_undefined_name_fails_the_first_check_and_every_other_check_waits(grade_files):
    text = SOLUTION.replace("with Session(engine) as session:", "with Sesion(engine) as session:").replace(
        "from fastapi import Depends\n", "")
    line = text.splitlines().index("    with Sesion(engine) as session:") + 1
    report = grade_files("chapter-2", text)
    files = by_id(report)["files"]
    assert (files.status, files.diagnosis, files.line, files.column) == ("fail", "undefined-name", line, 10)
    assert files.message.splitlines() == [
        "`Sesion` is not defined: did you mean `Session`?",
        f"`Depends` (line {text.splitlines().index('SessionDep = Annotated[Session, Depends(get_session)]') + 1}) is "
        "used but never imported: add `from fastapi import Depends` to the imports",
    ]
    others = [c for c in report.checks if c.id != "files"]
    assert all(c.status == "skip" and "`Sesion` and `Depends` are defined" in c.message for c in others)
    assert report.exit_code == 1


def test_a_missing_file_is_named_once_in_the_checklist(tmp_path):
    from rich.console import Console

    from grader.engine import grade
    from grader.manifest import load_chapter
    from grader.render.text import render
    from grader.submission import locate

    chapter = load_chapter("chapter-2")
    (tmp_path / "notes.txt").write_text("nothing here")
    console = Console(record=True, width=200)
    render(grade(chapter, locate(chapter, tmp_path)), console, folder=tmp_path)
    lines = console.export_text().splitlines()
    failed = next(i for i, line in enumerate(lines) if "✗" in line)
    assert lines[failed + 1].strip() == "database.py is missing"  # no path printed before the same name


def test_static_points_can_wait_for_the_module_to_import(grade_files):
    """`static_points_need`: code that cannot run earns no points for its shape, however right it looks."""
    broken = "raise SystemExit(0)\n" + SOLUTION
    plain = grade_files("chapter-2", broken)
    static = [c for c in plain.checks if c.kind == "static"]
    assert all(c.status == "pass" and c.score == c.points for c in static)  # by default, shape scores

    gated = grade_files("chapter-2", broken, static_points_need="module-imports")
    assert by_id(gated)["module-imports"].status == "fail"
    assert all(c.status == "pass" and c.score == 0 for c in gated.checks if c.kind == "static")
    assert gated.score == 0 and gated.max_score == plain.max_score
    assert any("earn their points once “database.py runs without errors when imported” passes" in n
               for n in gated.notes)

    right = grade_files("chapter-2", SOLUTION, static_points_need="module-imports")
    assert right.score == right.max_score and not right.notes


def test_static_points_need_names_a_behavioural_check():
    from pydantic import ValidationError

    from grader.manifest import load_chapter

    chapter = load_chapter("chapter-2")
    data = {**chapter.model_dump(exclude={"dir"}), "static_points_need": "imports"}  # a static check
    with pytest.raises(ValidationError, match="static_points_need names 'imports', which is not a behavioural"):
        type(chapter)(dir=chapter.dir, **data)
