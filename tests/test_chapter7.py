"""Chapter 7 through the real engine: many databases behind one get_session factory.

The solution passes every check and the starter fails through checks, never errors (every variant
is graded in test_variants.py); here, what particular mistakes are told. No PostgreSQL engine is ever made.
"""

from __future__ import annotations

import pytest

from chapter_corpus import (
    assert_content_complete,
    assert_continues,
    assert_solution_passes,
    assert_starter_fails_through_checks,
)
from conftest import ROOT
from grader.manifest import load_chapter
from variants import mistake, source



def by_id(report):
    return {c.id: c for c in report.checks}


def test_the_solution_passes_every_check(grade_path):
    assert_solution_passes(grade_path, "chapter-7")


def test_the_starter_fails_through_checks_not_errors(grade_path):
    assert_starter_fails_through_checks(grade_path, "chapter-7")


def test_the_starter_continues_from_the_chapter_6_solution():
    assert load_chapter("chapter-7").continues_from == "chapter-6"
    assert_continues("chapter-7")
    # events.py is new in this chapter (the analytics model), so only the starter and solution have it.
    assert sorted(p.name for p in (ROOT / "starter" / "chapter-7").glob("*.py")) == [
        "database.py", "events.py", "main.py", "models.py"]
    assert (ROOT / "starter" / "chapter-7" / "events.py").read_bytes() == (
        ROOT / "solutions" / "chapter-7" / "events.py").read_bytes()


def test_the_quiz_hints_and_lesson_are_complete():
    assert_content_complete("chapter-7")


def test_a_hidden_password_is_called_out(graded):
    check = by_id(graded(mistake("chapter-7", "str-url-hides-password")))["url-upgrade"]
    assert "***" in check.message and "hide_password=False" in check.message
    assert "s3cret" in check.message  # the expected URL keeps the password


def test_the_race_is_reported_with_the_number_of_engines(graded):
    check = by_id(graded(mistake("chapter-7", "no-lock")))["cache-thread-safe"]
    assert "4 threads" in check.message and "4 engines" in check.message


def solution_with(database):
    files = {p.name: p.read_text() for p in (ROOT / "solutions" / "chapter-7").glob("*.py")}
    return {**files, "database.py": database}


@pytest.mark.parametrize("guarded", [
    # Module-level locks of other kinds: the race window closes as soon as the other threads wait on them.
    ("_lock = threading.Lock()", "_lock = threading.Semaphore()"),
    ("_lock = threading.Lock()", "_lock = threading.Condition()"),
    # A lock the check cannot see (inside a dict): the window runs its full length, and the cache holds.
    ("_lock = threading.Lock()", "_guard = {\"lock\": threading.Lock()}"),
], ids=["semaphore", "condition", "hidden-lock"])
def test_a_cache_guarded_another_way_is_thread_safe(grade_files, guarded):
    text = SOLUTION.replace(*guarded)
    if "_guard" in text:
        text = text.replace("with _lock:", "with _guard[\"lock\"]:")
    assert by_id(grade_files("chapter-7", solution_with(text)))["cache-thread-safe"].status == "pass"


def test_a_lock_taken_after_the_cache_was_checked_lets_the_race_in(grade_files):
    """The threads that found the cache empty queue on the lock, then each creates its engine in turn."""
    text = SOLUTION.replace(LOCKED + "        if url not in _factories:\n", "    if url not in _factories:\n        with _lock:\n")
    text = text.replace("        return _factories[url]\n", "    return _factories[url]\n", 1)
    check = by_id(grade_files("chapter-7", solution_with(text)))["cache-thread-safe"]
    assert (check.status, check.diagnosis) == ("fail", "race") and "4 engines" in check.message


def test_a_dependency_whose_opening_the_static_check_cannot_read_is_left_to_the_behavioural_checks():
    """It used to fail as `not-opened`; with no positive evidence of a known mistake, it passes now (the
    behavioural checks run the dependency and see that it yields no session)."""
    from grader.static import Source
    from grader.static.registry import load_static_checks

    text = (ROOT / "solutions" / "chapter-7" / "database.py").read_text()
    text = text.replace("        async with session_factory(url)() as session:\n            try:\n                yield session",
                        "        session = None\n        if True:\n            try:\n                yield session")
    assert "session = None" in text
    chapter = load_chapter("chapter-7")
    checks = load_static_checks(chapter.checks_dir / "static.py", "_test_chapter_7_static")
    finding = checks["returns-dependency"](Source.from_text(text, "database.py"))
    assert finding.ok


# -- static checks: equivalent spellings pass, known mistakes are named where the fix goes -------------------------

SOLUTION = (ROOT / "solutions" / "chapter-7" / "database.py").read_text()
MAIN = (ROOT / "solutions" / "chapter-7" / "main.py").read_text()
LOCKED = "    with _lock:  # two threads asking at once must not create two engines\n"


def static(check_id, text, name="database.py"):
    from grader.static import Source
    from grader.static.registry import load_static_checks

    checks = load_static_checks(load_chapter("chapter-7").checks_dir / "static.py", "_test_chapter_7_static")
    return checks[check_id](Source.from_text(text, name))


def line_of(text, needle):
    return text[:text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("text", [
    SOLUTION.replace(LOCKED, "    _lock.acquire()\n    try:\n").replace(
        "        return _factories[url]\n", "        return _factories[url]\n    finally:\n        _lock.release()\n", 1),
    SOLUTION.replace("_lock = threading.Lock()", "_lock = threading.RLock()"),
], ids=["acquire-release", "rlock"])
def test_a_lock_held_another_way_is_held(text):
    assert static("engine-cache-locked", text).ok


@pytest.mark.parametrize("lock", ["    with threading.Lock():\n", "    lock = threading.Lock()\n    with lock:\n"],
                         ids=["inline", "local"])
def test_a_lock_made_on_every_call_is_named_at_its_with(lock):
    text = SOLUTION.replace(LOCKED, lock)
    found = static("engine-cache-locked", text)
    assert (found.ok, found.diagnosis) == (False, "lock-per-call")
    assert found.line == line_of(text, "    with ") and "every call" in found.message


@pytest.mark.parametrize("decorator", ["@functools.cache", "@functools.lru_cache(maxsize=None)"])
def test_a_memoized_factory_is_no_lock(decorator):
    text = SOLUTION.replace("import threading", "import functools\nimport threading").replace(
        "def session_factory(", f"{decorator}\ndef session_factory(").replace(LOCKED, "    if True:\n")
    found = static("engine-cache-locked", text)
    assert (found.ok, found.diagnosis, found.line) == (False, "lru-cache", line_of(text, decorator))


@pytest.mark.parametrize("extra, at", [
    ("for _name in DATABASES:\n    _engines[_name] = create_async_engine(database_url(_name))\n", "    _engines[_name]"),
    ("ENGINES = {n: create_async_engine(database_url(n)) for n in DATABASES}\n", "ENGINES ="),
    ("session_factory(database_url())\n", "session_factory(database_url())\n"),
    ("def _warm():\n    return create_async_engine('sqlite+aiosqlite://')\n\n\nWARM = _warm()\n", "WARM ="),
], ids=["loop", "comprehension", "cache-helper", "own-helper"])
def test_an_engine_made_at_import_by_any_means_is_named_where_it_runs(extra, at):
    text = SOLUTION + "\n\n" + extra
    found = static("engine-cache-locked", text)
    assert (found.ok, found.diagnosis) == (False, "engine-at-import")
    assert found.line == line_of(text, at)


ANALYTICS = '    "analytics": {"url": "sqlite:///analytics.db", "dev_url": "sqlite:///analytics-dev.db"},\n'


@pytest.mark.parametrize("fill", [
    'DATABASES["analytics"] = {"url": "sqlite:///analytics.db", "dev_url": "sqlite:///analytics-dev.db"}\n',
    'DATABASES.update(analytics={"url": "sqlite:///analytics.db", "dev_url": "sqlite:///analytics-dev.db"})\n',
    'DATABASES |= {"analytics": {"url": "sqlite:///analytics.db", "dev_url": "sqlite:///analytics-dev.db"}}\n',
], ids=["item", "update", "or-assign"])
def test_a_config_filled_in_after_its_literal_is_left_to_the_behavioural_checks(fill):
    text = SOLUTION.replace(ANALYTICS, "").replace('DEFAULT_DATABASE = "primary"\n', fill + 'DEFAULT_DATABASE = "primary"\n')
    assert static("config-defined", text).ok


def test_a_config_missing_an_entry_is_named_at_the_literal():
    text = SOLUTION.replace(ANALYTICS, "")
    found = static("config-defined", text)
    assert (found.ok, found.diagnosis, found.line) == (False, "config-shape", line_of(text, "DATABASES = {"))
    assert "'analytics'" in found.message


PRIMARY_DEPENDS = 'Depends(get_session(), scope="function")'
ANALYTICS_DEPENDS = 'Depends(get_session("analytics"), scope="function")'


def test_the_aliases_accept_every_spelling_of_the_same_dependency():
    for old, new in [(PRIMARY_DEPENDS, 'Depends(dependency=get_session(), scope="function")'),
                     (PRIMARY_DEPENDS, 'Depends(get_session(database="primary"), scope="function")'),
                     (PRIMARY_DEPENDS, 'Depends(get_session(), use_cache=True, scope="function")'),
                     (f"PrimarySessionDep = Annotated[AsyncSession, {PRIMARY_DEPENDS}]",
                      'primary = get_session("primary")\nPrimarySessionDep = Annotated[AsyncSession, '
                      'Depends(primary, scope="function")]')]:
        assert old in SOLUTION
        assert static("aliases-defined", SOLUTION.replace(old, new)).ok, new


def test_an_alias_without_scope_is_left_to_the_behavioural_check():
    """scope="function" is judged by commit-before-response (a failed commit must reach the client); the static
    check does not fail what it cannot prove wrong."""
    text = SOLUTION.replace(PRIMARY_DEPENDS, "Depends(get_session())")
    assert text != SOLUTION and static("aliases-defined", text).ok


def test_an_uncalled_factory_in_both_aliases_is_one_sentence():
    text = SOLUTION.replace(PRIMARY_DEPENDS, 'Depends(get_session, scope="function")').replace(
        ANALYTICS_DEPENDS, 'Depends(dependency=get_session, scope="function")')
    assert PRIMARY_DEPENDS not in text and ANALYTICS_DEPENDS not in text
    found = static("aliases-defined", text)
    assert found.diagnosis == "factory-not-called" and found.message.count("passes") + found.message.count("pass ") == 1
    assert "`PrimarySessionDep` and `AnalyticsSessionDep`" in found.message and "fastapi." not in found.message


def test_get_session_returning_a_session_factory_is_named_at_the_return():
    text = SOLUTION.replace("    return session_dependency\n", "    return async_sessionmaker(create_async_engine(url))\n")
    found = static("returns-dependency", text)
    assert (found.diagnosis, found.line) == ("returns-factory", line_of(text, "    return async_sessionmaker("))


def test_stats_may_spell_a_session_out_in_place_but_not_leave_one_out():
    inline = MAIN.replace("analytics: AnalyticsSessionDep)", 'analytics: AsyncSession = Depends(get_session("analytics")))')
    inline = inline.replace("from database import", "from fastapi import Depends\nfrom sqlmodel.ext.asyncio.session import "
                                                   "AsyncSession\nfrom database import get_session,")
    assert static("stats-endpoint", inline, "main.py").ok
    one = MAIN.replace("primary: PrimarySessionDep, analytics: AnalyticsSessionDep", "primary: PrimarySessionDep, limit: int = 3")
    found = static("stats-endpoint", one, "main.py")
    assert found.diagnosis == "one-database" and "AnalyticsSessionDep" in found.message


def test_no_static_message_repeats_its_line():
    for name in ("no-lock", "lock-per-call", "returns-factory", "eager-engine"):
        for check in graded_static(name):
            assert f"line {check.line}" not in check.message and f"(line {check.line})" not in check.message


def graded_static(name):
    from grader.static import Source
    from grader.static.registry import load_static_checks

    checks = load_static_checks(load_chapter("chapter-7").checks_dir / "static.py", "_test_chapter_7_static")
    text = source(mistake("chapter-7", name), "database.py")
    return [f for f in (c(Source.from_text(text, "database.py")) for k, c in checks.items() if k != "stats-endpoint")
            if not f.ok]


# -- behavioural checks: what the first message says, and where ---------------------------------------------------

def test_an_unawaited_query_is_named_as_the_learner_wrote_it(graded):
    check = by_id(graded(mistake("chapter-7", "stats-not-awaited")))["stats-reads-both"]
    assert check.diagnosis == "not-awaited" and "`analytics.exec(...)` is not awaited" in check.message
    assert "await analytics.exec(...)" in check.message


def test_a_missing_lifespan_call_is_blamed_on_the_lifespan(graded):
    check = by_id(graded(mistake("chapter-7", "tables-not-created")))["stats-reads-both"]
    assert (check.diagnosis, check.file) == ("tables-missing", "main.py") and "never calls" in check.message


def test_a_name_resolved_late_is_reported_in_the_dependency(graded):
    variant = mistake("chapter-7", "name-resolved-late")
    check = by_id(graded(variant))["unknown-name-error"]
    text = source(variant, "database.py")
    assert check.diagnosis == "late-error" and check.line == line_of(text, "        async with session_factory(database_url(")


# -- the transaction: each dependency owns its own, as in chapter 6 ------------------------------------------------

def test_a_missing_commit_is_named_at_the_yield(graded):
    variant = mistake("chapter-7", "no-commit")
    check = by_id(graded(variant))["commits-after-yield"]
    assert check.diagnosis == "no-commit" and "await session.commit()" in check.message
    assert check.line == line_of(source(variant, "database.py"), "                yield session")


def test_aliases_without_scope_are_named_together_at_the_first(graded):
    variant = mistake("chapter-7", "scope-missing")
    check = by_id(graded(variant))["commit-before-response"]
    assert check.diagnosis == "commit-after-response" and 'scope="function"' in check.message
    assert "`PrimarySessionDep` and `AnalyticsSessionDep`" in check.message
    assert check.line == line_of(source(variant, "database.py"), "PrimarySessionDep = ")


def test_a_commit_that_runs_on_an_error_is_named_at_the_commit(graded):
    variant = mistake("chapter-7", "commit-in-finally")
    check = by_id(graded(variant))["rolls-back-on-error"]
    assert check.diagnosis == "committed-on-error"
    assert check.line == line_of(source(variant, "database.py"), "                await session.commit()")


def test_every_endpoint_that_commits_is_listed():
    text = MAIN.replace("    await session.flush()\n    return db_hero", "    await session.commit()\n    return db_hero")
    assert text.count("await session.commit()") == 2
    found = static("endpoints-leave-commit", text, "main.py")
    assert (found.ok, found.diagnosis) == (False, "commit-in-endpoint")
    assert found.line == line_of(text, "    await session.commit()")
    assert "create_hero" in found.message and "update_hero" in found.message and "await session.flush()" in found.message
