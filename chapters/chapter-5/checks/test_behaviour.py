"""Chapter 5's behavioural checks: run the learner's tests against the reference app and its mutants.

The app under test is the pinned reference app (this chapter's starter files, the chapter-3
solution), never the learner's copy: the learner's file is `tests/test_heroes.py` alone. Each run
happens in a fresh folder of its own (see grader.mutation), so each has its own database.db.
"""

import importlib
import inspect
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import event

from grader.content import starter_dir
from grader.mutation import TestRun, assemble, fresh_imports, load_mutants, run_tests
from grader.testing import check, fail

CHAPTER = Path(__file__).resolve().parent.parent
TESTS = "tests/test_heroes.py"
MUTANTS = load_mutants(CHAPTER / "checks" / "mutants")
WRITES = ("insert", "update", "delete", "replace")


@dataclass
class ReferenceRun:
    run: TestRun
    writes: list[str] = field(default_factory=list)
    """Statements that changed data through the app's real engine (database.py's `engine`)."""
    rows_on_disk: int = 0
    left_over: dict = field(default_factory=dict)
    """app.dependency_overrides after the learner's tests finished: {key name: (function name, file, line)}."""


@pytest.fixture(scope="module")
def app_dir():
    """The reference app: this chapter's starter (identical to the chapter-3 solution)."""
    return starter_dir(CHAPTER.name, CHAPTER.parent.parent)


def build(tmp_path_factory, app_dir, mutant=None):
    folder = tmp_path_factory.mktemp(mutant.name if mutant else "reference")
    return assemble(folder, app_dir, Path.cwd(), [TESTS], mutant)


def located(fn, folder):
    try:
        path = Path(inspect.getsourcefile(fn) or "").resolve()
        return path.relative_to(folder).as_posix(), inspect.getsourcelines(fn)[1]
    except (TypeError, OSError, ValueError):
        return None, None


@pytest.fixture(scope="module")
def reference(app_dir, tmp_path_factory):
    folder = build(tmp_path_factory, app_dir)
    result = ReferenceRun(TestRun())
    with fresh_imports(folder):
        database = importlib.import_module("database")

        @event.listens_for(database.engine, "before_cursor_execute")
        def record(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().lower().startswith(WRITES):
                result.writes.append(" ".join(statement.split()))

        def left_behind():
            """In the tests' own process, once they are done: their writes and the overrides left set."""
            main = sys.modules.get("main")
            overrides = dict(getattr(getattr(main, "app", None), "dependency_overrides", {}))
            return {"writes": result.writes,
                    "left_over": {getattr(key, "__name__", repr(key)): (getattr(fn, "__name__", repr(fn)),
                                                                        *located(fn, folder))
                                  for key, fn in overrides.items()}}

        result.run = run_tests(folder, [TESTS], isolate=False, after=left_behind)
        seen = result.run.observed or {}
        result.writes = list(seen.get("writes", []))
        result.left_over = {key: tuple(value) for key, value in seen.get("left_over", {}).items()}
        database.engine.dispose()
    result.rows_on_disk = rows_in(folder / "database.db")
    return result


def rows_in(path):
    if not path.is_file():
        return 0
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("select name from sqlite_master where type = 'table'")]
        return sum(db.execute(f'select count(*) from "{name}"').fetchone()[0] for name in tables)


@check("tests-pass")
def test_tests_pass(reference):
    run = reference.run
    if run.all_passed:
        return
    if run.exited is not None:  # the tests ended their own process (their run is apart from the checks)
        first = run.failures[0] if run.failures else None
        fail(f"your tests ended their own process (exit status {run.exited}) before pytest finished"
             + (f", in {first.name}" if first else "") + ": a test must not call `os._exit()`",
             file=(first.file if first else None) or TESTS, line=first.line if first else None,
             diagnosis="process-exit")
    if run.collect_errors or run.crashed:
        first = (run.collect_errors or [None])[0]
        fail(f"pytest could not load {TESTS}:\n{run.describe()}", file=TESTS, line=first.line if first else None,
             diagnosis="collect-error")
    if not run.ran and run.inert():
        fail(f"none of your tests ran: {'; '.join(run.inert())}", file=TESTS, diagnosis="no-tests")
    if not run.ran:
        fail(f"pytest found no tests to run in {TESTS}: name each test function `test_...` (at the top level of "
             "the file, not inside a class or another function)", file=TESTS, diagnosis="no-tests")
    first = run.failures[0]
    fail(f"{len(run.failures)} of your {len(run.ran)} tests fail against the reference app (the chapter-3 solution, "
         f"which is correct), so the tests are wrong, not the app:\n{run.describe()}",
         file=first.file or TESTS, line=first.line, diagnosis="tests-fail")


@check("real-database-untouched")
def test_real_database_untouched(reference):
    if reference.writes or reference.rows_on_disk:
        shown = reference.writes[0] if reference.writes else f"{reference.rows_on_disk} rows"
        fail("your tests changed the app's real database, database.db "
             f"({len(reference.writes)} writes through database.py's engine, first: `{shown[:120]}`): the override "
             "must be in place before the first request, and the session it yields must come from your in-memory "
             "test engine, not from database.py's `engine`", file=TESTS, diagnosis="real-database")


@check("override-cleared")
def test_override_cleared(reference):
    if reference.left_over:
        key, (name, file, line) = next(iter(reference.left_over.items()))
        fail(f"after your tests finished, `app.dependency_overrides` still replaced `{key}` with `{name}`: any code "
             "that uses the app afterwards (another test file, for one) would silently get your test database; "
             "clear the override in the fixture, after its `yield`: `app.dependency_overrides.clear()`",
             file=file or TESTS, line=line, diagnosis="override-not-cleared")


def catches(mutant_id, app_dir, tmp_path_factory):
    """The learner's tests must fail against the mutant `mutant_id` (checks/mutants/MUTANT_ID.diff)."""
    mutant = MUTANTS[mutant_id]
    run = run_tests(build(tmp_path_factory, app_dir, mutant), [TESTS])
    if not run.caught:
        inert = "".join(f". {why}" for why in run.inert())
        fail(f"your tests all passed against a copy of the app where {mutant.about}. So no test checks "
             f"{mutant.untested}{inert}", file=TESTS, diagnosis="mutant-survived")


@check("catches-no-commit")
def test_catches_no_commit(app_dir, tmp_path_factory):
    catches("no-commit", app_dir, tmp_path_factory)


@check("catches-missing-200")
def test_catches_missing_200(app_dir, tmp_path_factory):
    catches("missing-200", app_dir, tmp_path_factory)


@check("catches-patch-overwrites")
def test_catches_patch_overwrites(app_dir, tmp_path_factory):
    catches("patch-overwrites", app_dir, tmp_path_factory)


@check("catches-no-limit-bound")
def test_catches_no_limit_bound(app_dir, tmp_path_factory):
    catches("no-limit-bound", app_dir, tmp_path_factory)


@check("catches-delete-nothing")
def test_catches_delete_nothing(app_dir, tmp_path_factory):
    catches("delete-nothing", app_dir, tmp_path_factory)
