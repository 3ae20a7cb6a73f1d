"""Chapter 5 through the real engine: the learner's tests are graded by mutation.

Correct test files pass every check; each known mistake fails exactly the checks (and diagnoses)
its header declares; the starter fails through checks, never errors; the mutants still apply
to the pinned reference app.
"""

from __future__ import annotations

import filecmp

import pytest

from chapter_corpus import assert_content_complete, assert_solution_passes, assert_starter_fails_through_checks
from conftest import ROOT
from grader.manifest import load_chapter
from grader.mutation import apply, assemble, load_mutants
from variants import line_of, mistake, source

CHAPTER = ROOT / "chapters" / "chapter-5"
TESTS = "tests/test_heroes.py"


def by_id(report):
    return {c.id: c for c in report.checks}


def test_the_solution_passes_every_check(grade_path):
    assert_solution_passes(grade_path, "chapter-5")


def test_the_starter_fails_through_checks_not_errors(grade_path):
    assert_starter_fails_through_checks(grade_path, "chapter-5")


def test_the_starter_continues_from_the_chapter_4_solution():
    chapter = load_chapter("chapter-5")
    assert chapter.continues_from == "chapter-4"
    starter, solution = ROOT / "starter" / "chapter-5", ROOT / "solutions" / "chapter-4"
    app_files = sorted(p.name for p in solution.glob("*.py"))
    assert app_files == ["database.py", "main.py", "models.py"]
    for name in app_files:
        assert filecmp.cmp(starter / name, solution / name, shallow=False), name
    # The learner's file is the only addition, and the solution keeps the same app.
    extra = sorted(p.relative_to(starter).as_posix() for p in starter.rglob("*.py") if p.parent != starter)
    assert extra == [TESTS] and list(chapter.files) == [TESTS]
    for name in app_files:
        assert filecmp.cmp(ROOT / "solutions" / "chapter-5" / name, solution / name, shallow=False), name


def test_every_mutant_is_a_bug_in_an_endpoint():
    """The override replaces get_session whole: a bug inside get_session is invisible to the learner's tests, so
    every mutant changes main.py's endpoints, never database.py."""
    for path in (CHAPTER / "checks" / "mutants").glob("*.diff"):
        files = [line for line in path.read_text().splitlines() if line.startswith("+++ ")]
        assert files == ["+++ b/main.py"], path.name


def test_every_mutant_applies_to_the_pinned_app(tmp_path):
    mutants = load_mutants(CHAPTER / "checks" / "mutants")
    assert len(mutants) >= 5
    for mutant in mutants.values():
        folder = assemble(tmp_path / mutant.name, ROOT / "starter" / "chapter-5", ROOT / "solutions" / "chapter-5",
                          [TESTS])
        before = (folder / "main.py").read_text()
        apply(mutant, folder)  # raises if the patch no longer applies exactly as written
        assert (folder / "main.py").read_text() != before


def test_every_mutant_has_a_check_that_runs_it():
    """Each catches-* check waits for the tests to pass, and nothing else."""
    mutants = load_mutants(CHAPTER / "checks" / "mutants")
    checks = {c.id: c for c in load_chapter("chapter-5").checks}
    assert {f"catches-{m}" for m in mutants} == {c for c in checks if c.startswith("catches-")}
    assert all(checks[f"catches-{m}"].depends == ("tests-pass",) for m in mutants)
    source = (CHAPTER / "checks" / "test_behaviour.py").read_text()
    for mutant_id in mutants:
        assert f'@check("catches-{mutant_id}")' in source and f'catches("{mutant_id}", ' in source


def test_a_surviving_mutant_is_named_with_what_is_untested(graded):
    variant = mistake("chapter-5", "reads-nothing-back")
    survived = by_id(graded(variant))["catches-patch-not-saved"]
    assert survived.status == "fail" and survived.file == TESTS
    assert "never saves the change" in survived.message and "a later request" in survived.message
    assert survived.hint and "answer" in survived.hint
    # ... at the request after which the check belongs: the update test's PATCH.
    assert survived.line == line_of(source(variant, TESTS), "response = client.patch(")
    assert "test_update_changes_only_the_fields_sent comes closest: it sends `PATCH /heroes/1` here" \
        in survived.message


def test_a_test_marked_skip_is_named_where_a_mutant_survives(grade_files):
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text()
    text = text.replace("def test_delete_hero(client):", "@pytest.mark.skip\ndef test_delete_hero(client):")
    survived = by_id(grade_files("chapter-5", {TESTS: text}))["catches-delete-nothing"]
    assert survived.status == "fail" and survived.diagnosis == "mutant-survived"
    assert survived.message.endswith(". test_delete_hero is marked skip; a skipped test checks nothing")


def test_failing_tests_are_reported_with_their_name_and_line(grade_files):
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text()
    text = text.replace("assert response.status_code == 404", "assert response.status_code == 410")
    line = text.splitlines().index("    assert response.status_code == 410") + 1
    check = by_id(grade_files("chapter-5", {TESTS: text}))["tests-pass"]
    assert check.status == "fail" and check.diagnosis == "tests-fail"
    assert (check.file, check.line) == (TESTS, line)
    assert "test_read_missing_hero_is_404" in check.message and "1 of your 6 tests" in check.message


def test_a_hanging_test_is_stopped_at_the_time_limit(grade_files):
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text()
    text = text.replace('    response = client.get("/heroes/999")',
                        '    while True:\n        pass\n    response = client.get("/heroes/999")')
    report = grade_files("chapter-5", {TESTS: text}, timeout=4)
    check = by_id(report)["tests-pass"]
    assert check.status == "fail" and check.diagnosis in {"timeout", "cpu"}
    assert report.status == "fail"


def test_tests_that_share_a_file_outside_their_folder_are_graded_one_run_after_another(grade_files):
    """Runs go two at a time, each writing only to its own folders: tests that log to a fixed file in the
    home folder would collide there, so they are refused side by side and every run is made again one
    after another. The verdict is the one a run at a time gives: the tests pass, and catch every mutant."""
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text()
    text = text.replace("import pytest\n", "from pathlib import Path\n\nimport pytest\n", 1)
    text = text.replace("    with TestClient(app) as client:\n",
                        '    log = Path.home() / "heroes-tests.log"\n'
                        '    log.write_text((log.read_text() if log.exists() else "") + "a test\\n")\n'
                        "    with TestClient(app) as client:\n")
    report = grade_files("chapter-5", {TESTS: text})
    assert report.status == "pass", [(c.id, c.status, c.message) for c in report.checks if c.status != "pass"]


def test_the_learners_own_app_files_are_not_what_is_tested(grade_files):
    """A learner who 'fixes' the app to make wrong tests pass still tests the reference app."""
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text()
    text = text.replace("assert response.status_code == 404", "assert response.status_code == 410")
    main = (ROOT / "solutions" / "chapter-4" / "main.py").read_text().replace("status_code=404", "status_code=410")
    report = grade_files("chapter-5", {TESTS: text, "main.py": main})
    assert by_id(report)["tests-pass"].status == "fail"


def test_the_quiz_hints_and_lesson_are_complete():
    assert_content_complete("chapter-5")


# -- the override: one session per request, committed and closed ------------------------------------------------
OVERRIDE = """    def get_test_session():
        # The override replaces get_session whole, its commit included: commit here too.
        with Session(engine) as session:
            yield session
            session.commit()

    app.dependency_overrides[get_session] = get_test_session
"""


@pytest.mark.parametrize("override, diagnosis, blamed", [
    ("    def get_test_session():\n        session = Session(engine)\n        yield session\n"
     "        session.commit()\n\n    app.dependency_overrides[get_session] = get_test_session\n", "session-not-closed",
     "session = Session(engine)"),
    ("    session = Session(engine)\n\n    def get_test_session():\n        yield session\n        session.commit()\n\n"
     "    app.dependency_overrides[get_session] = get_test_session\n", "shared-session", "yield session"),
])
def test_an_override_that_shares_or_leaks_its_sessions_is_blamed_where_it_does(override, diagnosis, blamed,
                                                                              grade_files):
    """Whatever its spelling, the override is judged by what its sessions do during the requests, at its own line,
    even when the tests pass."""
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text().replace(OVERRIDE, override)
    assert override in text
    checks = by_id(grade_files("chapter-5", {TESTS: text}))
    check = checks["session-per-request"]
    assert (check.status, check.diagnosis, check.line) == ("fail", diagnosis, line_of(text, blamed))
    assert checks["tests-pass"].status == "pass"


@pytest.mark.parametrize("override, blamed", [
    ("    app.dependency_overrides[get_session] = lambda: Session(engine)\n", "lambda: Session(engine)"),
    ("    def get_test_session():\n        return Session(engine)\n\n"
     "    app.dependency_overrides[get_session] = get_test_session\n", "return Session(engine)"),
    ("    def get_test_session():\n        with Session(engine) as session:\n            yield session\n\n"
     "    app.dependency_overrides[get_session] = get_test_session\n", "yield session"),
    ("    session = Session(engine)\n\n    def get_test_session():\n        yield session\n\n"
     "    app.dependency_overrides[get_session] = get_test_session\n", "yield session"),
])
def test_an_override_that_never_commits_fails_the_tests_and_is_blamed_where_it_hands_out_its_session(
        override, blamed, grade_files):
    """The app's get_session commits; the override replaces it whole: without a commit of its own, what the
    endpoints wrote is lost (or never sent), the read-backs fail, and the failure is explained at the override."""
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text().replace(OVERRIDE, override)
    assert override in text
    check = by_id(grade_files("chapter-5", {TESTS: text}))["tests-pass"]
    assert (check.status, check.diagnosis, check.line) == ("fail", "override-no-commit", line_of(text, blamed))
    assert "replaces it whole" in check.message and "commit" in check.hint


@pytest.mark.parametrize("override", [
    "    def get_test_session():\n        session = Session(engine)\n        try:\n            yield session\n"
    "            session.commit()\n        finally:\n            session.close()\n\n"
    "    app.dependency_overrides[get_session] = get_test_session\n",
    "    app.dependency_overrides[get_session] = functools.partial(sessions_on, engine)\n",
    "    async def get_test_session():\n        with Session(engine) as session:\n            yield session\n"
    "            session.commit()\n\n    app.dependency_overrides[get_session] = get_test_session\n",
    "    def get_test_session():\n        with Session(engine) as session, session.begin():\n            yield session\n\n"
    "    app.dependency_overrides[get_session] = get_test_session\n",
])
def test_an_override_that_opens_commits_and_closes_a_session_per_request_passes_in_any_spelling(override,
                                                                                               grade_files):
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text().replace(OVERRIDE, override)
    assert override in text
    text = text.replace("import pytest\n", "import functools\n\nimport pytest\n").replace(
        "\n\n@pytest.fixture\ndef engine():", "\n\ndef sessions_on(engine):\n    with Session(engine) as session:\n"
        "        yield session\n        session.commit()\n\n\n@pytest.fixture\ndef engine():")
    report = grade_files("chapter-5", {TESTS: text})
    assert [(c.id, c.message) for c in report.checks if c.status != "pass"] == []


# -- pointing: where the fix goes --------------------------------------------------------------------------------
def test_a_request_to_a_path_no_route_matches_is_named_with_the_route_it_resembles(graded):
    variant = mistake("chapter-5", "missing-hero-path-typo")
    check = by_id(graded(variant))["catches-missing-200"]
    line = line_of(source(variant, TESTS), 'client.get("/hero/999")')
    assert (check.diagnosis, check.line) == ("no-such-route", line)
    assert "`GET /hero/999` of test_read_missing_hero_is_404 matches no route of the app (the closest is " \
           "`/heroes/{hero_id}`)" in check.message
    assert check.hint.startswith("A path that matches no route is answered 404 by FastAPI's router")


def test_a_changed_answer_the_test_did_not_check_is_named(graded):
    variant = mistake("chapter-5", "limit-checks-length")
    check = by_id(graded(variant))["catches-no-limit-bound"]
    assert check.diagnosis == "answer-unchecked"
    assert "`GET /heroes/?limit=101` of test_limit_is_at_most_100 answered 200 there instead of 422" in check.message
    assert check.message.endswith("Check that a limit above 100 is refused with 422")


@pytest.mark.parametrize("name, check_id, diagnosis, needle", [
    ("client-returned", "tests-pass", "override-removed-early", "    app.dependency_overrides.clear()\n    return"),
    ("override-cleared-too-early", "real-database-untouched", "override-removed-early",
     "    app.dependency_overrides.clear()\n    with"),
    ("no-create-all", "tests-pass", "no-tables", "    engine = create_engine("),
    ("module-scope-engine", "tests-pass", "shared-database", '@pytest.fixture(scope="module")'),
    ("override-on-real-engine", "real-database-untouched", "real-engine", "with Session(app_engine) as session:\n"),
    ("reads-the-source", "tests-pass", "reads-source", 'Path("main.py").read_text()'),
    ("imports-a-missing-model", "tests-pass", "collect-error", "from models import Hero, HeroRead"),
    ("override-never-commits", "tests-pass", "override-no-commit", "            yield session\n"),
    ("override-not-cleared", "override-cleared", "override-not-cleared",
     "    app.dependency_overrides[get_session] = get_test_session"),
])
def test_a_failure_of_the_tests_is_blamed_on_the_line_that_causes_it(name, check_id, diagnosis, needle, graded):
    """Not the first test that happened to fail, nor the file: the fixture line whose fix makes the tests pass."""
    variant = mistake("chapter-5", name)
    check = by_id(graded(variant))[check_id]
    assert (check.status, check.diagnosis) == ("fail", diagnosis)
    assert (check.file, check.line) == (TESTS, line_of(source(variant, TESTS), needle))
    assert "FixtureRequest" not in check.message and "/tmp/" not in check.message


def test_an_undecorated_fixture_is_named_as_such(grade_files):
    text = (ROOT / "solutions" / "chapter-5" / TESTS).read_text().replace("@pytest.fixture\ndef client", "def client")
    check = by_id(grade_files("chapter-5", {TESTS: text}))["tests-pass"]
    assert "the fixture `client` is not defined: `def client` is a plain function; did you forget " \
           "`@pytest.fixture` above it?" in check.message
    assert "FixtureLookupError" not in check.message and check.message.count("is not defined") == 1


# -- the static checks: equivalent spellings, and locations said once --------------------------------------------
def static_check(check_id, text):
    from grader.static import Source
    from grader.static.registry import load_static_checks

    checks = load_static_checks(CHAPTER / "checks" / "static.py", "_test_chapter_5_static")
    return checks[check_id](Source.from_text(text, TESTS))


SOLUTION = (ROOT / "solutions" / "chapter-5" / TESTS).read_text()


@pytest.mark.parametrize("old, new", [
    ("from sqlalchemy.pool import StaticPool", "from sqlmodel.pool import StaticPool"),
    ("from sqlalchemy.pool import StaticPool", "from sqlmodel import StaticPool"),
    ('"sqlite://", connect_args', '"sqlite:///:memory:", connect_args'),
])
def test_the_test_engine_is_recognised_in_every_spelling(old, new):
    assert static_check("test-engine", SOLUTION.replace(old, new)).ok


def test_a_pool_that_is_not_static_is_named_without_contradiction():
    text = SOLUTION.replace("from sqlalchemy.pool import StaticPool", "from sqlalchemy.pool import QueuePool")
    finding = static_check("test-engine", text.replace("poolclass=StaticPool", "poolclass=QueuePool"))
    assert not finding.ok and finding.diagnosis == "no-static-pool"
    assert "`poolclass=QueuePool`" in finding.message and "StaticPool`" not in finding.message.split(", not")[0]


@pytest.mark.parametrize("check_id, old, new", [
    ("test-engine", '"sqlite://", connect_args', '"sqlite:///test.db", connect_args'),
    ("test-engine", ", poolclass=StaticPool", ""),
    ("override-set", "app.dependency_overrides[get_session]", "app.dependency_overrides[get_session()]"),
    ("client-fixture", "@pytest.fixture\ndef client", "def client"),
])
def test_a_static_failure_does_not_repeat_its_line(check_id, old, new):
    finding = static_check(check_id, SOLUTION.replace(old, new))
    assert not finding.ok and finding.line and f"line {finding.line}" not in finding.message


def test_an_override_set_with_monkeypatch_counts():
    text = SOLUTION.replace("def client(engine):", "def client(engine, monkeypatch):").replace(
        "    app.dependency_overrides[get_session] = get_test_session\n",
        "    monkeypatch.setitem(app.dependency_overrides, get_session, get_test_session)\n").replace(
        "    app.dependency_overrides.clear()\n", "")
    assert static_check("override-set", text).ok


@pytest.mark.parametrize("holder, ok", [
    ("client.app.dependency_overrides", True),  # the TestClient's app is main.py's app: behaviour judges it
    ("FastAPI().dependency_overrides", False),
    ("other.dependency_overrides", False),
])
def test_the_override_is_refused_only_on_an_app_known_to_be_another(holder, ok):
    """A static check fails the app only on positive evidence: a FastAPI() of the tests' own (here or through a name)."""
    text = SOLUTION.replace("from fastapi.testclient import TestClient\n",
                            "from fastapi import FastAPI\nfrom fastapi.testclient import TestClient\n").replace(
        "    app.dependency_overrides[get_session] = get_test_session\n    with TestClient(app) as client:\n",
        f"    other = FastAPI()\n    with TestClient(app) as client:\n"
        f"        {holder}[get_session] = get_test_session\n")
    assert holder in text
    finding = static_check("override-set", text)
    assert (finding.ok, finding.diagnosis) == (ok, None if ok else "wrong-app")


def test_fixtures_the_file_does_not_define_are_named_at_the_first_test_that_asks_for_one():
    """The grader runs tests/test_heroes.py alone: fixtures in a conftest.py are missing, and the message says so."""
    text = "def test_create_hero(client):\n    assert client.get('/heroes/').status_code == 200\n"
    finding = static_check("test-engine", text)
    assert (finding.ok, finding.line) == (False, 1)
    assert "asks for the fixture `client`, which this file does not define" in finding.message
    assert "conftest.py is not graded" in finding.message


ENGINE_CALL = '''    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )'''


def test_engine_options_in_a_dict_are_left_to_the_behavioural_checks():
    text = SOLUTION.replace(ENGINE_CALL, '    options = {"connect_args": {"check_same_thread": False}}\n'
                                         '    engine = create_engine("sqlite://", **options)')
    assert text != SOLUTION and static_check("test-engine", text).ok  # no positive evidence of a missing StaticPool


def test_an_override_set_through_a_name_for_the_apps_overrides_is_set():
    old = "    app.dependency_overrides[get_session] = get_test_session\n"
    text = SOLUTION.replace(old, "    overrides = app.dependency_overrides\n    overrides[get_session] = get_test_session\n")
    assert text != SOLUTION and static_check("override-set", text).ok
    wrong = text.replace("overrides[get_session] = ", "overrides[get_session()] = ")
    assert static_check("override-set", wrong).diagnosis == "called-not-passed"


def test_an_override_that_stores_a_called_generator_is_named_at_the_call():
    old = "    app.dependency_overrides[get_session] = get_test_session\n"
    text = SOLUTION.replace(old, "    app.dependency_overrides[get_session] = get_test_session()\n")
    found = static_check("override-set", text)
    assert (found.ok, found.diagnosis) == (False, "value-called")
    assert found.line == text.splitlines().index(old.replace("session\n", "session()")) + 1


def test_an_override_made_by_a_factory_is_stored_as_returned():
    old = "    app.dependency_overrides[get_session] = get_test_session\n"
    text = SOLUTION.replace(old, "    def make():\n        return get_test_session\n\n"
                                 "    app.dependency_overrides[get_session] = make()\n")
    assert static_check("override-set", text).ok
