"""Chapter 6 through the real engine: async sessions on a real event loop with real aiosqlite.

The solution passes every check and the starter fails through checks, never errors (every variant
is graded in test_variants.py); here, what particular mistakes are told.
"""

from __future__ import annotations

from chapter_corpus import (
    assert_content_complete,
    assert_continues,
    assert_solution_passes,
    assert_starter_fails_through_checks,
)
from conftest import ROOT
from grader.manifest import load_chapter
from grader.static.registry import load_static_checks
from grader.variants import read_variant
from variants import corpus, files_of, line_of, mistake, mistakes, source

CORPUS = ROOT / "tests" / "corpus" / "chapter-6"
STATIC = load_static_checks(ROOT / "chapters" / "chapter-6" / "checks" / "static.py", "_test_chapter_6_static")
FACTORY_KEYWORDS = STATIC["session-factory"].__globals__["FACTORY_KEYWORDS"]


def examined(name):
    return read_variant(CORPUS / "examined" / f"{name}.diff")


def corpus_variant(name):
    return read_variant(CORPUS / f"{name}.diff")


def by_id(report):
    return {c.id: c for c in report.checks}


def test_the_solution_passes_every_check(grade_path):
    assert_solution_passes(grade_path, "chapter-6")


def test_the_starter_fails_through_checks_not_errors(grade_path):
    assert_starter_fails_through_checks(grade_path, "chapter-6")


def test_the_starter_continues_from_the_chapter_5_solution():
    assert load_chapter("chapter-6").continues_from == "chapter-5"
    assert_continues("chapter-6")
    # The chapter-5 tests drive a synchronous override; they are left out of this starter on purpose.
    assert sorted(p.name for p in (ROOT / "starter" / "chapter-6").rglob("*.py")) == [
        "database.py", "main.py", "models.py"]


def test_the_quiz_hints_and_lesson_are_complete():
    assert_content_complete("chapter-6")


def test_expired_attributes_are_explained_with_the_real_error_at_the_factory(graded):
    """The app's own responses are built before get_session commits; a background task reads after it."""
    variant = mistake("chapter-6", "default-expire-on-commit")
    check = by_id(graded(variant))["readable-after-commit"]
    assert "background task" in check.message and "DetachedInstanceError" in check.message
    assert "expire_on_commit=False" in check.message
    assert (check.file, check.line) == ("database.py", line_of(source(variant, "database.py"), "async_session = "))


def test_a_missing_await_names_the_call_and_line(graded):
    variant = mistake("chapter-6", "missing-await")
    line = source(variant, "main.py").splitlines().index("    hero = session.get(Hero, hero_id)") + 1
    check = by_id(graded(variant))["calls-awaited"]
    assert (check.file, check.line) == ("main.py", line) and "`session.get(Hero, hero_id)`" in check.message


# -- where the first message points, and what it says -------------------------------------------------------------

def first_failure(report):
    return next(c for c in report.checks if c.status == "fail")


def test_no_message_prints_the_line_it_points_at(graded):
    """The report shows file:line; a message that says "line N" of its own line says it twice."""
    for variant in mistakes("chapter-6") + corpus("chapter-6"):
        for check in graded(variant).checks:
            if check.status == "fail" and check.line is not None:
                assert f"line {check.line})" not in check.message and f"line {check.line} " not in check.message, (
                    variant.name, check.id, check.message)


def test_a_misspelt_factory_keyword_is_named_with_its_right_spelling(graded):
    variant = mistake("chapter-6", "misspelt-keyword")
    check = by_id(graded(variant))["session-factory"]
    assert check.diagnosis == "unknown-keyword" and "`expire_on_comit=`" in check.message
    assert "did you mean `expire_on_commit`?" in check.message
    assert "expire_on_commit=True" not in check.message  # not "keeps the default": the keyword is there, misspelt
    assert check.hint.startswith("The factory hands every keyword on")


def test_the_factory_keywords_are_those_the_installed_sqlalchemy_accepts():
    import inspect

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from sqlalchemy.orm import Session

    accepted = {name for f in (async_sessionmaker.__init__, Session.__init__, AsyncSession.__init__)
                for name, p in inspect.signature(f).parameters.items()
                if name != "self" and p.kind is not p.VAR_KEYWORD}
    assert FACTORY_KEYWORDS == accepted


def test_sessions_without_exec_are_blamed_on_the_factory_or_the_import_that_chose_them(graded):
    """main.py's `session.exec` crash is explained where the fix goes: the factory's class_, or the import of
    SQLAlchemy's AsyncSession used as class_."""
    no_class = mistake("chapter-6", "no-exec")
    check = first_failure(graded(no_class))
    assert (check.id, check.diagnosis, check.file) == ("session-factory", "no-exec", "database.py")
    assert check.line == line_of(source(no_class, "database.py"), "async_session = async_sessionmaker(")
    assert "main.py calls `session.exec(...)`" in check.message
    imported = examined("bad_sqlalchemy_asyncsession")
    check = first_failure(graded(imported))
    assert (check.id, check.diagnosis) == ("session-factory", "no-exec")
    assert check.line == line_of(source(imported, "database.py"), "from sqlalchemy.ext.asyncio import AsyncSession")


def test_sqlalchemys_session_passes_when_main_never_calls_exec(graded):
    assert graded(corpus_variant("ok_sqlalchemy_session_and_refresh")).status == "pass"


def test_await_on_a_method_of_the_coroutine_is_explained_as_a_misplaced_await(graded):
    report = graded(mistake("chapter-6", "await-placement"))
    check = by_id(report)["calls-awaited"]
    assert check.diagnosis == "await-placement" and "applies to" not in check.message
    assert "`.all()`, which is called on the coroutine" in check.message
    assert "must apply to the `exec` call alone" in check.message
    assert "(await session.exec" not in check.message  # the literal fix waits for the hints
    assert check.hint.startswith("`await` applies to the whole expression")


def test_every_unawaited_call_is_listed_with_its_line(grade_files):
    files = files_of(mistake("chapter-6", "missing-await"))
    files["main.py"] = files["main.py"].replace("    await session.delete(hero)", "    session.delete(hero)")
    check = by_id(grade_files("chapter-6", files))["calls-awaited"]
    delete = line_of(files["main.py"], "    session.delete(hero)")
    assert check.line == line_of(files["main.py"], "    hero = session.get(Hero, hero_id)")
    assert f"also: `session.delete(hero)` (line {delete})" in check.message


def test_every_plain_def_endpoint_is_listed(graded):
    check = by_id(graded(corpus_variant("bad_starter")))["endpoints-async"]
    assert check.message.count("(line ") == 4 and "`delete_hero`" in check.message


def test_a_decorated_get_session_is_told_to_drop_the_decorator(graded):
    variant = mistake("chapter-6", "context-manager-decorator")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis) == ("get-session-async", "context-manager-decorator")
    assert check.line == line_of(source(variant, "database.py"), "@asynccontextmanager\nasync def get_session")
    assert "write `async def" not in check.message  # it has async def and yield already


def test_a_commit_in_finally_is_named_at_the_commit(graded):
    variant = mistake("chapter-6", "commit-in-finally")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis) == ("get-session-commits", "commit-in-finally")
    assert check.line == line_of(source(variant, "database.py"), "await session.commit()", after="finally:")
    assert check.hint.startswith("A `finally:` block runs on every way out")


def test_a_get_session_that_never_commits_is_named_at_its_yield_and_the_crud_check_waits(graded):
    variant = mistake("chapter-6", "no-commit")
    checks = by_id(graded(variant))
    at = line_of(source(variant, "database.py"), "            yield session")
    for check_id in ("get-session-commits", "commits-on-success"):
        assert (checks[check_id].status, checks[check_id].diagnosis) == ("fail", "no-commit")
        assert (checks[check_id].file, checks[check_id].line) == ("database.py", at)
    assert checks["crud-works"].status == "skip"  # not blamed on the endpoints, which only flush


def test_an_unawaited_commit_is_named_at_the_commit(graded):
    variant = mistake("chapter-6", "commit-not-awaited")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis) == ("get-session-commits", "not-awaited")
    assert check.line == line_of(source(variant, "database.py"), "session.commit()")


def test_the_default_scope_is_named_at_depends_and_proven_by_a_failing_commit(graded):
    variant = mistake("chapter-6", "default-scope")
    checks = by_id(graded(variant))
    at = line_of(source(variant, "database.py"), "SessionDep = ")
    assert (checks["sessiondep-defined"].diagnosis, checks["sessiondep-defined"].line) == ("default-scope", at)
    proof = checks["failed-commit-is-error"]
    assert (proof.status, proof.diagnosis, proof.line) == ("fail", "commit-after-response", at)
    assert "already received 200" in proof.message


def test_an_endpoint_that_still_commits_is_told_to_flush(graded):
    variant = mistake("chapter-6", "endpoint-still-commits")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis, check.file) == ("endpoints-leave-commit", "commit-in-endpoint", "main.py")
    assert check.line == line_of(source(variant, "main.py"), "    await session.commit()")
    assert "`create_hero`" in check.message and "`await session.flush()`" in check.message


def test_closing_the_session_counts_as_the_rollback(graded):
    """The lesson accepts a get_session without `except` (closing rolls back) and a `session.begin()` block."""
    for name in ("ok_close_rolls_back", "ok_session_begin_block"):
        assert graded(corpus_variant(name)).status == "pass", name
    assert graded(examined("ok_no_explicit_rollback")).status == "pass"


def test_a_rollback_through_an_awaited_helper_counts_and_an_unawaited_one_is_named(graded):
    assert graded(examined("ok_rollback_if_in_transaction")).status == "pass"
    variant = corpus_variant("bad_helper_rollback_not_awaited")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis) == ("rollback-on-error", "not-awaited") and "`discard(session)`" in check.message


def test_a_lock_across_the_yield_is_pointed_at_where_the_second_request_waits(graded):
    variant = mistake("chapter-6", "lock-around-session")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis) == ("concurrent-sessions", "not-concurrent")
    assert check.line == line_of(source(variant, "database.py"), "    async with session_lock, async_session()")


def test_a_synchronous_query_inside_async_def_fails_at_the_query(graded):
    """Whichever session makes it: a Session on an engine of main.py's, or on one database.py exports."""
    for variant, needle, function in ((mistake("chapter-6", "blocking-call"), "hero = session.get(", "read_hero"),
                                      (corpus_variant("bad_sync_engine_in_endpoint"), "session.flush()",
                                       "create_hero")):
        check = first_failure(graded(variant))
        assert (check.id, check.diagnosis, check.file) == ("crud-works", "blocking-call", "main.py")
        assert check.line == line_of(source(variant, "main.py"), needle) and f"`async def {function}`" in check.message


def test_a_write_that_never_reaches_the_database_is_blamed_on_the_endpoint_that_wrote(graded):
    """The row is read back from the database file, so the PATCH whose answer looked right is named (get_session
    commits, as commits-on-success has shown: the endpoint made its change on a session of its own)."""
    variant = mistake("chapter-6", "endpoint-own-session")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis) == ("crud-works", "not-saved")
    assert check.line == line_of(source(variant, "main.py"), "async def update_hero(")
    assert "the database still has age=48" in check.message


def test_a_lifespan_that_fails_at_startup_is_explained_at_the_failing_line(graded):
    variant = mistake("chapter-6", "create-all-sync")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis, check.file) == ("crud-works", "startup-error", "database.py")
    assert check.line == line_of(source(variant, "database.py"), "SQLModel.metadata.create_all(engine)")
    assert "`run_sync`" in check.message and "Is every session call awaited" not in check.message


def test_the_lessons_equivalent_spellings_pass(graded):
    """The examiners' variants the lesson left open, decided in its text: each is correct code."""
    for name in ("ok_engine_connect_commit", "ok_factory_per_request", "ok_lifespan_no_dispose",
                 "ok_orm_sessionmaker", "ok_rollback_if_in_transaction", "ok_no_explicit_rollback"):
        assert graded(examined(name)).status == "pass", name


SESSION_SCOPE = '''@asynccontextmanager
async def session_scope():
    async with async_session() as session:
{body}

async def get_session() -> AsyncIterator[AsyncSession]:
    async with session_scope() as session:
        yield session
'''
GET_SESSION = (ROOT / "solutions" / "chapter-6" / "database.py").read_text().split("async def get_session")[1]
GET_SESSION = "async def get_session" + GET_SESSION.split("\n\n\n")[0] + "\n"


def test_a_rollback_in_a_session_scope_helper_is_a_rollback():
    from grader.static import Source

    solution = (ROOT / "solutions" / "chapter-6" / "database.py").read_text()
    body = "        try:\n            yield session\n        except Exception:\n            await session.rollback()\n" \
           "            raise\n"
    text = "from contextlib import asynccontextmanager\n" + solution.replace(GET_SESSION, SESSION_SCOPE.format(body=body))
    assert STATIC["rollback-on-error"](Source.from_text(text, "database.py")).ok


def test_a_session_scope_helper_is_judged_at_its_own_yield():
    """Closing rolls back: a helper whose `async with` closes the session needs no `except`; one that closes it
    only on success is named at its yield."""
    from grader.static import Source

    solution = (ROOT / "solutions" / "chapter-6" / "database.py").read_text()
    closes = ("from contextlib import asynccontextmanager\n"
              + solution.replace(GET_SESSION, SESSION_SCOPE.format(body="        yield session\n")))
    assert STATIC["rollback-on-error"](Source.from_text(closes, "database.py")).ok
    unguarded = closes.replace("    async with async_session() as session:\n        yield session\n",
                               "    session = async_session()\n    yield session\n    await session.close()\n")
    assert unguarded != closes
    found = STATIC["rollback-on-error"](Source.from_text(unguarded, "database.py"))
    assert (found.ok, found.diagnosis) == (False, "no-rollback")
    assert found.line == unguarded.splitlines().index("    yield session") + 1 and "session_scope" in found.message


def test_create_db_and_tables_left_synchronous_is_not_blamed_on_the_lifespan():
    """Only an `async def` create_db_and_tables must be awaited; a plain one is database.py's problem."""
    import libcst as cst

    from grader.static import Source

    database = (ROOT / "solutions" / "chapter-6" / "database.py").read_text()
    main = (ROOT / "solutions" / "chapter-6" / "main.py").read_text()
    plain = database.replace("async def create_db_and_tables", "def create_db_and_tables")
    unawaited = main.replace("await create_db_and_tables()", "create_db_and_tables()")
    assert plain != database and unawaited != main

    def grade_main(database_text):
        siblings: dict = {}
        siblings["database.py"] = Source("database.py", database_text, cst.parse_module(database_text), siblings)
        return STATIC["calls-awaited"](Source("main.py", unawaited, cst.parse_module(unawaited), siblings))

    assert grade_main(plain).ok
    assert grade_main(database).diagnosis == "lifespan-not-awaited"


def test_a_scope_given_by_name_is_left_to_the_failing_commit(grade_files):
    """`scope=SCOPE` is not read statically: the behavioural check decides, and names the alias's line."""
    files = files_of(mistake("chapter-6", "default-scope"))
    for value, verdict in (('"function"', "pass"), ('"request"', "fail")):
        changed = dict(files, **{"database.py": files["database.py"].replace(
            "SessionDep = Annotated[AsyncSession, Depends(get_session)]",
            f"SCOPE = {value}\nSessionDep = Annotated[AsyncSession, Depends(get_session, scope=SCOPE)]")})
        assert changed != files
        checks = by_id(grade_files("chapter-6", changed))
        assert checks["sessiondep-defined"].status == "pass", value
        assert checks["failed-commit-is-error"].status == verdict, value


def test_the_checks_databases_skip_fsync_only_while_the_job_runs(tmp_path):
    """Chapters 3, 6 and 7 grade with `unsynced_sqlite` (grader.testing): every SQLite connection, sync or
    aiosqlite, is opened with `PRAGMA synchronous = OFF`, and only inside the block."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import create_engine, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from grader.testing import unsynced_sqlite_connections

    def synchronous():
        engine = create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
        with engine.connect() as connection:
            value = connection.execute(text("PRAGMA synchronous")).scalar()
        engine.dispose()
        return value

    async def asynchronous():
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'async.db'}")
        async with engine.connect() as connection:
            value = (await connection.execute(text("PRAGMA synchronous"))).scalar()
        await engine.dispose()
        return value

    def in_a_loop_of_its_own():  # a thread: an earlier test of this process may have left a loop marked running
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, asynchronous()).result()

    with unsynced_sqlite_connections():
        assert (synchronous(), in_a_loop_of_its_own()) == (0, 0)  # OFF
    assert (synchronous(), in_a_loop_of_its_own()) == (2, 2)  # FULL, SQLite's default
