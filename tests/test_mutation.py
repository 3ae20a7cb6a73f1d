"""grader.mutation: mutants as variants that must apply exactly, fresh imports per run, each run of the learner's
tests in a process of its own (what they patch dies with it)."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from grader.mutation import MutantError, Run, apply, assemble, fresh_imports, load_mutants, run_many, run_tests
from coursekit import in_fork
from grader.variants import read_variant

APP = """\
from sqlmodel import Field, SQLModel


class Thing(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str


def double(x):
    return x * 2
"""

TESTS = """\
from app import Thing, double


def test_double():
    assert double(2) == 4


def test_thing_has_a_table():
    assert Thing.__tablename__ == "thing"
"""


def make(folder, app=APP, tests=TESTS):
    (folder / "tests").mkdir(parents=True)
    (folder / "app.py").write_text(app)
    (folder / "tests" / "test_app.py").write_text(tests)
    return folder


MUTANT = """\
# about: double adds
# untested: double
--- a/app.py
+++ b/app.py
@@ -9,2 +9,2 @@
 def double(x):
-    return x * 2
+    return x + 3
"""


def mutant(folder, text=MUTANT):
    path = folder / "plus.diff"
    path.write_text(text)
    return read_variant(path)


def test_apply_patches_the_file(tmp_path):
    make(tmp_path / "app")
    apply(mutant(tmp_path), tmp_path / "app")
    assert "return x + 3" in (tmp_path / "app" / "app.py").read_text()


@pytest.mark.parametrize(("change", "problem"), [
    (("    return x * 2\n", "    return x * 3\n"), "line 10 is `return x \\* 3`, the patch expects `return x \\* 2`"),
    (("def double(x):\n", "\ndef double(x):\n"), "line 9 is ``, the patch expects `def double"),
    (("", ""), "changes app.py, which the base does not have"),
])
def test_a_mutant_that_no_longer_applies_is_refused(tmp_path, change, problem):
    app = APP.replace(*change) if change[0] else None
    make(tmp_path / "app", app=app or APP)
    if app is None:
        (tmp_path / "app" / "app.py").unlink()
    with pytest.raises(MutantError, match=problem):
        apply(mutant(tmp_path), tmp_path / "app")


def test_load_mutants_reads_a_folder_of_variants(tmp_path):
    folder = tmp_path / "mutants"
    folder.mkdir()
    (folder / "plus.diff").write_text(MUTANT)
    assert load_mutants(folder)["plus"].untested == "double"
    (folder / "plus.diff").write_text(MUTANT.replace("# untested: double\n", ""))
    with pytest.raises(MutantError, match="needs an `# untested:` line"):
        load_mutants(folder)
    (folder / "plus.diff").write_text(MUTANT.replace("@@ -9,2 +9,2 @@", "@@ -9,3 +9,2 @@"))
    with pytest.raises(MutantError, match="cannot load the mutants: the hunk ends early"):
        load_mutants(folder)
    (folder / "plus.diff").unlink()
    with pytest.raises(MutantError, match="no mutant"):
        load_mutants(folder)


def test_assemble_puts_the_learners_files_over_the_app_then_mutates(tmp_path):
    app = make(tmp_path / "app")
    learner = tmp_path / "learner"
    (learner / "tests").mkdir(parents=True)
    (learner / "tests" / "test_app.py").write_text("# mine\n")
    (learner / "app.py").write_text("# the learner's copy of the app is not used\n")
    dest = assemble(tmp_path / "run", app, learner, ["tests/test_app.py"], mutant(tmp_path))
    assert (dest / "tests" / "test_app.py").read_text() == "# mine\n"
    assert "x + 3" in (dest / "app.py").read_text()
    assert "x * 2" in (app / "app.py").read_text()


def test_fresh_imports_forgets_the_folders_modules_and_tables(tmp_path):
    from sqlmodel import SQLModel

    first, second = make(tmp_path / "one"), make(tmp_path / "two", app=APP.replace("x * 2", "x * 3"))
    cwd, path = os.getcwd(), list(sys.path)
    for folder, expected in ((first, 4), (second, 6)):
        with fresh_imports(folder):
            import app  # noqa: PLC0415 - the point is a fresh import each time

            assert app.double(2) == expected and os.getcwd() == str(folder.resolve())
        assert "app" not in sys.modules and "thing" not in SQLModel.metadata.tables
    assert (os.getcwd(), sys.path) == (cwd, path)


def test_fresh_imports_sets_aside_and_restores_a_module_of_the_same_name(tmp_path):
    make(tmp_path)
    sentinel = type(sys)("app")
    sys.modules["app"] = sentinel
    try:
        with fresh_imports(tmp_path):
            import app  # noqa: PLC0415

            assert app is not sentinel and app.double(1) == 2
        assert sys.modules["app"] is sentinel
    finally:
        del sys.modules["app"]


def test_run_tests_passes_and_runs_again_with_fresh_modules(tmp_path):
    first = run_tests(make(tmp_path / "one"), ["tests/test_app.py"])
    assert first.all_passed and [t.name for t in first.tests] == ["test_double", "test_thing_has_a_table"]
    mutated = make(tmp_path / "two")
    apply(mutant(tmp_path), mutated)
    second = run_tests(mutated, ["tests/test_app.py"])
    assert second.caught and not second.all_passed
    failure = second.failures[0]
    assert failure.name == "test_double" and (failure.file, failure.line) == ("tests/test_app.py", 5)
    assert failure.message.startswith("AssertionError: assert 5 == 4")
    assert "test_double (tests/test_app.py:5)" in second.describe()


def test_a_run_until_caught_stops_at_the_first_failure(tmp_path):
    """Against a mutant one failing test settles it: the tests after it do not run."""
    tests = "def test_a():\n    assert 1 == 2\n\n\ndef test_b():\n    pass\n"
    stopped = run_tests(make(tmp_path / "one", tests=tests), ["tests/test_app.py"], until_caught=True)
    assert stopped.caught and not stopped.crashed
    assert [(t.name, t.outcome) for t in stopped.tests] == [("test_a", "failed")]
    whole = run_tests(make(tmp_path / "two", tests=tests), ["tests/test_app.py"])
    assert [(t.name, t.outcome) for t in whole.tests] == [("test_a", "failed"), ("test_b", "passed")]


def test_run_tests_reports_collection_errors_without_temp_paths(tmp_path):
    folder = make(tmp_path, tests="from app import missing\n\ndef test_x():\n    pass\n")
    run = run_tests(folder, ["tests/test_app.py"])
    assert run.caught and not run.all_passed and not run.tests
    assert "cannot import name 'missing'" in run.describe() and str(tmp_path) not in run.describe()


def test_run_tests_with_nothing_to_run_does_not_pass(tmp_path):
    run = run_tests(make(tmp_path, tests="import pytest\n\n@pytest.mark.skip\ndef test_x():\n    pass\n"),
                    ["tests/test_app.py"])
    assert not run.all_passed and not run.caught and not run.ran


INERT = """\
import sys

import pytest

from app import double


@pytest.mark.skip(reason="later")
def test_skipped():
    assert double(2) == 4


@pytest.mark.skipif(sys.version_info > (3,), reason="always")
def test_skipped_if():
    assert double(2) == 4


@pytest.mark.skipif(sys.version_info < (3,), reason="never")
def test_runs():
    assert double(2) == 4


@pytest.mark.xfail
def test_expected_to_fail():
    assert double(2) == 5


def test_skips_itself():
    pytest.skip("not now")
"""


def test_tests_marked_skip_or_xfail_are_named_as_checking_nothing(tmp_path):
    run = run_tests(make(tmp_path, tests=INERT), ["tests/test_app.py"])
    assert run.inert() == [
        "test_skipped is marked skip; a skipped test checks nothing",
        "test_skipped_if is marked skip; a skipped test checks nothing",
        "test_expected_to_fail is marked xfail; its failure counts as expected, so it catches nothing",
        "test_skips_itself skips itself (pytest.skip); a skipped test checks nothing",
    ]
    assert [t.name for t in run.ran] == ["test_runs"] and run.all_passed


def test_run_tests_counts_a_fixture_error_as_a_failure(tmp_path):
    tests = "import pytest\n\n@pytest.fixture\ndef broken():\n    raise RuntimeError('boom')\n\n" \
            "def test_x(broken):\n    pass\n"
    run = run_tests(make(tmp_path, tests=tests), ["tests/test_app.py"])
    assert run.caught and "(in setup) RuntimeError: boom" in run.failures[0].message
    assert run.failures[0].line == 5


def test_a_run_the_tests_stop_early_does_not_pass(tmp_path):
    tests = "import pytest\n\ndef test_a():\n    pass\n\ndef test_b():\n    pytest.exit('bye')\n\n" \
            "def test_c():\n    assert False\n"
    run = run_tests(make(tmp_path, tests=tests), ["tests/test_app.py"])
    assert not run.all_passed and run.caught and "stopped the run early" in run.describe()


def test_a_test_file_that_exits_at_import_does_not_pass(tmp_path):
    run = run_tests(make(tmp_path, tests="import sys\nsys.exit(0)\n\ndef test_a():\n    pass\n"),
                    ["tests/test_app.py"])
    assert not run.all_passed and run.caught


PATCHES_THE_HARNESS = """\
import grader.mutation

grader.mutation.TestRun.caught = property(lambda run: True)
grader.mutation.run_tests = None


def test_a():
    pass
"""


def test_what_the_tests_patch_dies_with_their_run(tmp_path):
    import grader.mutation

    run = run_tests(make(tmp_path / "one", tests=PATCHES_THE_HARNESS), ["tests/test_app.py"])
    assert run.all_passed and not run.caught
    assert grader.mutation.run_tests is run_tests and not grader.mutation.TestRun().caught
    assert run_tests(make(tmp_path / "two"), ["tests/test_app.py"]).all_passed


def test_a_run_whose_process_ends_early_does_not_pass(tmp_path):
    tests = "import os\n\ndef test_a():\n    os._exit(0)\n"
    run = run_tests(make(tmp_path, tests=tests), ["tests/test_app.py"])
    assert not run.all_passed and run.caught and run.exited == 0
    assert [(t.name, t.file, t.line) for t in run.failures] == [("test_a", "tests/test_app.py", 4)]  # the call
    assert run.failures[0].message == "ended the tests' process (exit status 0: os._exit?)"


def test_the_tests_cannot_write_to_the_record_pipe(tmp_path):
    """In the grader's child, descriptor 3 is the record pipe: a run's process has /dev/null there."""
    tests = "import os\n\ndef test_a():\n    assert os.path.realpath('/proc/self/fd/3') == '/dev/null'\n"
    assert run_tests(make(tmp_path, tests=tests), ["tests/test_app.py"]).all_passed


def test_after_reports_what_the_run_left_behind(tmp_path):
    tests = "import app\n\ndef test_a():\n    app.seen = ['touched']\n"
    folder = make(tmp_path, tests=tests)
    with fresh_imports(folder):
        import app  # noqa: F401 - prepared here, inherited by the run's process

        run = run_tests(folder, ["tests/test_app.py"], isolate=False, after=lambda: sys.modules["app"].seen)
        assert run.observed == ["touched"] and not hasattr(sys.modules["app"], "seen")


def test_a_mutant_that_no_longer_applies_is_a_content_error_not_the_learners_failure(tmp_path, worker):
    """A check that meets a broken mutant reports `error` (the course is at fault), never `fail`."""
    from authoring import CHAPTER, write_example
    from grader.engine import grade
    from grader.manifest import load_chapter
    from grader.submission import locate

    root = write_example(tmp_path / "content")
    (root / "chapters" / CHAPTER / "checks" / "test_behaviour.py").write_text(textwrap.dedent("""\
        from pathlib import Path

        from grader.mutation import apply
        from grader.variants import read_variant
        from grader.testing import check


        @check("one-shared-database")
        def test_one_shared_database(learner, tmp_path):
            (tmp_path / "gone.diff").write_text(
                "# about: b\\n--- a/database.py\\n+++ b/database.py\\n@@ -1 +1 @@\\n-no such text\\n+\\n")
            apply(read_variant(tmp_path / "gone.diff"), Path.cwd())
        """))
    chapter = load_chapter(CHAPTER, root)
    report = grade(chapter, locate(chapter, root / "solutions" / CHAPTER), worker=worker)
    result = next(c for c in report.checks if c.id == "one-shared-database")
    assert (result.status, report.status) == ("error", "error")
    assert result.message.startswith("the course content is broken, not your code: ")
    assert "mutant 'gone': no longer applies to database.py" in result.message


def test_a_collection_error_points_at_its_line_in_the_learners_file(tmp_path):
    folder = make(tmp_path, tests="import pytest\n\nfrom app import missing\n\ndef test_x():\n    pass\n")
    error = run_tests(folder, ["tests/test_app.py"]).collect_errors[0]
    assert (error.file, error.line) == ("tests/test_app.py", 3)


def test_a_fixture_without_its_decorator_is_named_where_it_is_defined(tmp_path):
    tests = "import pytest\n\n\ndef thing():\n    return 2\n\n\ndef test_x(thing):\n    pass\n\n\n" \
            "def test_y(nothing):\n    pass\n"
    first, second = run_tests(make(tmp_path, tests=tests), ["tests/test_app.py"]).failures
    assert first.message == ("(in setup) the fixture `thing` is not defined: `def thing` is a plain function; "
                             "did you forget `@pytest.fixture` above it?")
    assert (first.file, first.line) == ("tests/test_app.py", 4)
    assert second.message.startswith("(in setup) the fixture `nothing` is not defined")
    assert (second.file, second.line) == ("tests/test_app.py", 12)
    assert "FixtureRequest" not in first.message + second.message


def test_more_plugins_watch_the_run(tmp_path):
    class Names:
        def __init__(self):
            self.seen = []

        def pytest_runtest_logstart(self, nodeid, location):
            self.seen.append(nodeid.rsplit("::", 1)[-1])

    names = Names()  # it watches in the run's own process: what it saw comes back through `after`
    run = run_tests(make(tmp_path), ["tests/test_app.py"], plugins=[names], after=lambda: names.seen)
    assert run.all_passed and run.observed == ["test_double", "test_thing_has_a_table"]
    assert names.seen == []  # this process's copy saw nothing: the tests ran elsewhere


def test_tests_that_fail_the_same_way_are_described_once(tmp_path):
    tests = "import pytest\n\n\ndef thing():\n    return 2\n\n\n" + "".join(
        f"def test_{n}(thing):\n    pass\n\n\n" for n in "abcd") + "def test_e():\n    assert 1 == 2\n"
    described = run_tests(make(tmp_path, tests=tests), ["tests/test_app.py"]).describe()
    assert described.splitlines()[0] == ("test_a, test_b and 2 more (tests/test_app.py:4): (in setup) the fixture "
                                         "`thing` is not defined: `def thing` is a plain function; did you forget "
                                         "`@pytest.fixture` above it?")
    assert described.splitlines()[1].startswith("test_e (tests/test_app.py:25): AssertionError")


def test_a_description_does_not_repeat_the_place_the_report_points_at(tmp_path):
    run = run_tests(make(tmp_path, tests="def test_a():\n    assert 1 == 2\n\n\ndef test_b():\n    assert 3 == 4\n"),
                    ["tests/test_app.py"])
    lines = run.describe(shown=("tests/test_app.py", 2)).splitlines()
    assert lines[0].startswith("test_a: AssertionError") and lines[1].startswith("test_b (tests/test_app.py:6): ")


# -- runs side by side -----------------------------------------------------------------------------

SHARED = """\
import os
import tempfile
from pathlib import Path

from app import double

SHARED = Path(os.environ["SHARED"]) / "count.txt"


def test_double_and_count():
    before = int(SHARED.read_text()) if SHARED.exists() else 0
    SHARED.write_text(str(before + 1))  # a fixed file outside the run's folders, which every run shares
    assert double(2) == 4
"""

OWN_TEMP = """\
import tempfile
from pathlib import Path

from app import double


def test_double(tmp_path):
    assert double(2) == 4
    Path(tempfile.gettempdir(), "mine.txt").write_text("one run's")  # the same name in every run
    assert Path(tmp_path).is_relative_to(tempfile.gettempdir())


def test_temp_is_own():
    assert Path(tempfile.gettempdir(), "mine.txt").read_text() == "one run's"
"""


def plans(tmp_path, tests, mutated=(1,), count=4):
    """`count` plans of runs of `tests`, against the mutant where the index is in `mutated`."""
    def plan(index):
        def make():
            folder = make_app(tmp_path / f"run{index}-{len(list(tmp_path.glob(f'run{index}-*')))}", tests)
            if index in mutated:
                apply(mutant(tmp_path), folder)
            return Run(folder, ["tests/test_app.py"])
        return make
    return [plan(i) for i in range(count)]


def make_app(folder, tests):
    folder.mkdir(parents=True)
    return make(folder / "app", tests=tests)


def in_guarded_child(sandbox, call):
    """`call()`'s result, as made in a forked process with the grader's audit hook installed on `sandbox`."""
    from grader.sandbox import guard

    def guarded():
        guard.install(str(sandbox), lambda event, reason: None)
        return call()

    return in_fork(guarded)


def outcomes(runs):
    return [[(t.name, t.outcome) for t in run.result.tests] for run in runs]


def test_runs_side_by_side_give_what_runs_one_after_another_give(tmp_path):
    side = in_guarded_child(tmp_path, lambda: run_many(plans(tmp_path / "side", TESTS), at_once=2))
    alone = in_guarded_child(tmp_path, lambda: run_many(plans(tmp_path / "alone", TESTS), at_once=1))
    assert outcomes(side) == outcomes(alone)
    assert [r.result.caught for r in side] == [False, True, False, False]
    assert not any(r.result.strayed for r in side)


def test_runs_side_by_side_each_have_a_temp_folder_of_their_own(tmp_path):
    side = in_guarded_child(tmp_path, lambda: run_many(plans(tmp_path, OWN_TEMP, mutated=()), at_once=2))
    assert all(r.result.all_passed and not r.result.strayed for r in side), [r.result for r in side]


def test_a_run_that_writes_outside_its_folders_makes_every_run_again_alone(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("SHARED", str(shared))
    runs = in_guarded_child(tmp_path, lambda: run_many(plans(tmp_path / "runs", SHARED), at_once=2))
    # Side by side each write to the shared file was refused; made again one after another, the runs
    # count 1, 2, 3, 4 in the file, as they always did.
    assert (shared / "count.txt").read_text() == "4"
    assert [r.result.caught for r in runs] == [False, True, False, False]
    assert not any(r.result.strayed for r in runs)
    assert all(r.folder.parent.name.endswith("-1") for r in runs)  # each made again from its plan, in a new folder


def test_a_plan_that_fails_has_its_error_in_its_place(tmp_path):
    def broken():
        raise MutantError("the patch does not apply", tmp_path)

    runs = run_many([*plans(tmp_path, TESTS, mutated=(), count=1), broken], at_once=2)
    assert runs[0].result.all_passed and isinstance(runs[1], MutantError)


def test_the_runs_rewrite_the_learners_test_files_once_each_under_its_own_name(tmp_path):
    """The job's process rewrites the test files before it forks the runs (`rewrites.share`): no run
    rewrites them again, and each run's code carries its own file's name, so a failure is placed there."""
    from grader.sandbox import rewrites

    def call():
        rewrites._REWRITTEN.clear()  # (this test process may have shared these files already: the fork's copy is new)
        rewritten = []
        pytests_own = rewrites._PYTEST_REWRITE

        def recording(fn, config):
            rewritten.append(str(fn))
            return pytests_own(fn, config)

        rewrites._PYTEST_REWRITE = recording

        def planned(make):
            def plan():
                run = make()
                run.after = lambda: {"rewritten": list(rewritten)}
                return run
            return plan

        runs = run_many([planned(p) for p in plans(tmp_path / "runs", TESTS)], at_once=2)
        return [(r.folder, r.result) for r in runs], rewritten

    runs, rewritten = in_guarded_child(tmp_path, call)
    assert [Path(name).relative_to(runs[0][0]) for name in rewritten] == [Path("tests/test_app.py")]
    for _, result in runs:
        assert result.observed["rewritten"] == rewritten  # nothing more in the run's own process
    caught = runs[1][1].failures[0]
    assert (caught.name, caught.file, caught.line) == ("test_double", "tests/test_app.py", 5)
    assert [result.caught for _, result in runs] == [False, True, False, False]


def test_a_shared_rewrite_is_the_code_pytest_compiles_for_that_file(tmp_path):
    from grader.sandbox import rewrites

    for name in ("first", "second"):
        make(tmp_path / name)
    rewrites.share([tmp_path / "first" / "tests" / "test_app.py"])
    second = tmp_path / "second" / "tests" / "test_app.py"
    assert same_code(rewrites._rewrite_test(second, None)[1], rewrites._PYTEST_REWRITE(second, None)[1])


def same_code(a, b) -> bool:
    """Two code objects alike in everything compiled into them, nested code included."""
    names = ("co_code", "co_names", "co_varnames", "co_freevars", "co_cellvars", "co_filename", "co_name",
             "co_qualname", "co_firstlineno", "co_linetable", "co_exceptiontable", "co_flags", "co_argcount")
    if any(getattr(a, n) != getattr(b, n) for n in names) or len(a.co_consts) != len(b.co_consts):
        return False
    return all(same_code(x, y) if hasattr(x, "co_code") else (type(x), x) == (type(y), y)
               for x, y in zip(a.co_consts, b.co_consts))
