"""Chapter 4's static checks on spellings nobody wrote as a variant: every equivalent way to write the
transaction passes, and each known mistake is told where its fix goes. Every variant is graded through
the real engine in test_variants.py.
"""

from __future__ import annotations

import inspect
import textwrap

import pytest
import sqlalchemy.orm

from conftest import ROOT
from grader.manifest import load_chapter
from grader.static import Source
from grader.static.registry import load_static_checks
from variants import line_of, mistake, source

SOLUTION = (ROOT / "solutions" / "chapter-4" / "database.py").read_text()
MAIN = (ROOT / "solutions" / "chapter-4" / "main.py").read_text()
GET_SESSION = SOLUTION[SOLUTION.index("def get_session():"):SOLUTION.index("\n\n\n# scope=")]
GET_SESSION_CHECKS = ("get-session-closes", "get-session-commits", "get-session-reraises")


@pytest.fixture(scope="module")
def checks():
    return load_static_checks(load_chapter("chapter-4").checks_dir / "static.py", "_test_chapter_4_static")


def with_get_session(code: str) -> str:
    """The solution's database.py with get_session (and any helpers above it) replaced by `code`."""
    return SOLUTION.replace(GET_SESSION, textwrap.dedent(code).strip())


def run(checks, check_id: str, text: str, name: str = "database.py"):
    return checks[check_id](Source.from_text(text, name))


def test_the_settings_sessionmaker_accepts_are_the_installed_sqlalchemys(checks):
    written = checks["sessionlocal-defined"].__globals__["SESSIONMAKER_KEYWORDS"]
    maker = inspect.signature(sqlalchemy.orm.sessionmaker.__init__).parameters
    session = inspect.signature(sqlalchemy.orm.Session.__init__).parameters
    assert written == {n for n, p in {**maker, **session}.items() if n != "self" and p.kind is not p.VAR_KEYWORD}


# -- equivalent spellings pass ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [
    # the transaction in a @contextmanager helper that get_session enters
    """
    from contextlib import contextmanager
    @contextmanager
    def session_scope():
        db = SessionLocal()
        try:
            yield db
            db.commit()
        except Exception:
            db.rollback()
            raise
        finally:
            db.close()
    def get_session():
        with session_scope() as db:
            yield db
    """,
    # yield from a generator helper
    """
    def _transaction():
        db = SessionLocal()
        try:
            yield db
            db.commit()
        except Exception:
            db.rollback()
            raise
        finally:
            db.close()
    def get_session():
        yield from _transaction()
    """,
    # the commit made by a helper function
    """
    def finish(db):
        db.commit()
    def get_session():
        db = SessionLocal()
        try:
            yield db
            finish(db)
        except Exception:
            db.rollback()
            raise
        finally:
            db.close()
    """,
    # the same exception sent on with its traceback, or through a helper of the learner's
    """
    def get_session():
        db = SessionLocal()
        try:
            yield db
            db.commit()
        except Exception as exc:
            db.rollback()
            raise exc.with_traceback(exc.__traceback__)
        finally:
            db.close()
    """,
    """
    def passed_on(exc):
        return exc
    def get_session():
        db = SessionLocal()
        try:
            yield db
            db.commit()
        except Exception as exc:
            db.rollback()
            raise passed_on(exc)
        finally:
            db.close()
    """,
    # the commit through a name for the bound method
    """
    def get_session():
        db = SessionLocal()
        commit = db.commit
        try:
            yield db
            commit()
        except Exception:
            db.rollback()
            raise
        finally:
            db.close()
    """,
    # a harmless commit before the yield, next to the one that matters
    """
    def get_session():
        db = SessionLocal()
        db.commit()
        try:
            yield db
            db.commit()
        except Exception:
            db.rollback()
            raise
        finally:
            db.close()
    """,
])
def test_every_spelling_of_the_transaction_passes_the_get_db_checks(checks, code):
    text = with_get_session(code)
    for check_id in GET_SESSION_CHECKS:
        found = run(checks, check_id, text)
        assert found, (check_id, found.message)


@pytest.mark.parametrize("code", [
    # the older tutorials' get_db, as a helper that get_session hands on
    """
    def get_db():
        session = SessionLocal()
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()
    def get_session():
        yield from get_db()
    """,
    # a get_session written twice, the last one right: Python keeps the last
    "def get_session():\n    with Session(engine) as session:\n        yield session\n\n\n" + GET_SESSION,
])
def test_a_get_db_that_get_session_uses_or_an_earlier_draft_is_no_mistake(checks, code):
    found = run(checks, "get-session-defined", with_get_session(code))
    assert found, found.message


@pytest.mark.parametrize("old, new", [
    ("sessionmaker(autoflush=False, bind=engine, class_=Session)",
     "sessionmaker(class_=Session)\nSessionLocal.configure(bind=engine)"),
    ("sessionmaker(autoflush=False, bind=engine, class_=Session)",
     "sessionmaker(**SETTINGS)"),
    ("sessionmaker(autoflush=False, bind=engine, class_=Session)",
     "sessionmaker(engine, class_=Session, expire_on_commit=False)"),
])
def test_every_spelling_of_the_factory_passes(checks, old, new):
    text = SOLUTION.replace(old, new).replace("SessionLocal = ", "SETTINGS = {'bind': engine}\nSessionLocal = ", 1)
    found = run(checks, "sessionlocal-defined", text)
    assert found, found.message


# -- mistakes are told where the fix goes -----------------------------------------------------------------------------
def test_a_misspelt_setting_is_named_on_its_own_line_with_the_spelling_meant(checks):
    text = SOLUTION.replace("sessionmaker(autoflush=False, bind=engine, class_=Session)",
                            "sessionmaker(\n    bind=engine,\n    class_=Session,\n    expire_on_comit=False,\n)")
    found = run(checks, "sessionlocal-defined", text)
    assert (found.diagnosis, found.line) == ("unknown-argument", line_of(text, "expire_on_comit"))
    assert "`expire_on_commit`" in found.message


def test_sqlalchemys_session_is_blamed_on_its_import_or_on_the_argument(checks):
    imported = SOLUTION.replace("from sqlalchemy.orm import sessionmaker\nfrom sqlmodel import Session,",
                                "from sqlalchemy.orm import Session, sessionmaker\nfrom sqlmodel import")
    found = run(checks, "sessionlocal-defined", imported)
    assert (found.diagnosis, found.line) == ("wrong-session-class", line_of(imported, "from sqlalchemy.orm"))
    spelt = SOLUTION.replace("class_=Session)", "class_=sqlalchemy.orm.Session)").replace(
        "from typing", "import sqlalchemy.orm\nfrom typing")
    found = run(checks, "sessionlocal-defined", spelt)
    assert (found.diagnosis, found.line) == ("wrong-session-class", line_of(spelt, "SessionLocal = "))


@pytest.mark.parametrize("old, new, check_id, diagnosis, at", [
    ("        session.commit()\n", "        session.Commit()\n", "get-session-commits", "misspelt-commit",
     "session.Commit()"),
    ("        session.close()\n", "        session.closse()\n", "get-session-closes", "misspelt-close",
     "session.closse()"),
    ("    except Exception:\n        session.rollback()\n        raise\n",
     "    except Exception as exc:\n        session.rollback()\n        raise HTTPException(status_code=500) from exc\n",
     "get-session-reraises", "replaced-error", "raise HTTPException"),
    ("    try:\n        yield session\n", "    yield session\n    try:\n", "get-session-closes", "yield-outside-try",
     "yield session"),
    ("    session = SessionLocal()\n", "    session: Session = SessionLocal\n", "get-session-closes",
     "factory-not-called", "session: Session"),
])
def test_a_mistake_in_get_db_is_told_on_its_line(checks, old, new, check_id, diagnosis, at):
    text = SOLUTION.replace(old, new).replace("from fastapi import Depends", "from fastapi import Depends, HTTPException")
    found = run(checks, check_id, text)
    assert (found.diagnosis, found.line) == (diagnosis, line_of(text, at)), found.message
    assert f"(line {found.line})" not in found.message


def test_every_endpoint_that_commits_is_listed_with_its_line_even_through_a_helper(checks):
    text = MAIN.replace("    session.flush()  # send the INSERT/UPDATE now; get_session commits once the endpoint is done\n",
                        "    save(session)\n").replace(
        "app = FastAPI(lifespan=lifespan)\n", "app = FastAPI(lifespan=lifespan)\n\n\ndef save(session):\n"
        "    session.commit()\n")
    text = text.replace('    session.delete(hero)\n', '    session.delete(hero)\n    session.commit()\n')
    found = run(checks, "endpoints-leave-commit", text, "main.py")
    assert (found.diagnosis, found.line) == ("commit-in-endpoint", line_of(text, "    session.commit()"))
    assert found.message.count("`save`") == 2 and "`delete_hero`" in found.message
    assert f"(line {line_of(text, 'session.commit()', after='def delete_hero')})" in found.message


def test_the_transaction_is_read_in_the_helper_that_get_db_enters(checks):
    text = with_get_session("""
    from contextlib import contextmanager
    @contextmanager
    def session_scope():
        db = SessionLocal()
        try:
            yield db
        except Exception:
            db.rollback()
        finally:
            db.commit()
            db.close()
    def get_session():
        with session_scope() as db:
            yield db
    """)
    commits, reraises = run(checks, "get-session-commits", text), run(checks, "get-session-reraises", text)
    assert (commits.diagnosis, commits.line) == ("commit-in-finally", line_of(text, "db.commit()"))
    assert (reraises.diagnosis, reraises.line) == ("swallowed-error", line_of(text, "except Exception"))


# -- behavioural checks point where the fix goes ----------------------------------------------------------------------
def by_id(report):
    return {c.id: c for c in report.checks}


def test_a_commit_after_the_response_and_a_session_dep_without_get_session_are_blamed_on_session_dep(graded):
    for name, check_id, diagnosis in (("default-scope", "failed-commit-is-error", "commit-after-response"),
                                      ("depends-on-sessionlocal", "errors-reach-client", "not-get-session")):
        variant = mistake("chapter-4", name)
        check = by_id(graded(variant))[check_id]
        assert (check.diagnosis, check.file, check.line) == (
            diagnosis, "database.py", line_of(source(variant, "database.py"), "SessionDep = ")), name


def test_a_session_on_another_engine_is_blamed_on_the_factory_that_binds_it(graded):
    variant = mistake("chapter-4", "bound-to-a-second-engine")
    check = by_id(graded(variant))["get-session-yields-session"]
    assert (check.diagnosis, check.file, check.line) == (
        "wrong-engine", "database.py", line_of(source(variant, "database.py"), "SessionLocal = "))


def test_an_exception_raised_in_place_of_the_endpoints_is_told_at_its_raise(graded):
    variant = mistake("chapter-4", "raises-a-new-error")
    check = by_id(graded(variant))["rolls-back-on-error"]
    assert (check.diagnosis, check.line) == ("replaced-error", line_of(source(variant, "database.py"), "raise Runtime"))
    assert "RuntimeError: database error" in check.message and "bare `raise`" in check.message


SESSION_DEP = 'SessionDep = Annotated[Session, Depends(get_session, scope="function")]'


@pytest.mark.parametrize("new", [
    'SessionDep = Annotated[Session, Depends(get_session, scope="function"), "the request\'s session"]',
    '_dependency = Depends(dependency=get_session, scope="function")\nSessionDep = Annotated[Session, _dependency]',
])
def test_every_spelling_of_session_dep_passes(checks, new):
    found = run(checks, "sessiondep-scope", SOLUTION.replace(SESSION_DEP, new))
    assert found, found.message


@pytest.mark.parametrize("new, diagnosis, at", [
    ('_dependency = Depends(get_session)\nSessionDep = Annotated[Session, _dependency]', "default-scope", "_dependency ="),
    ('SessionDep = Annotated[Session, Depends(get_session, "function")]', "wrong-scope", "SessionDep ="),
    ('SessionDep = Annotated[Session, Depends(SessionLocal, scope="function")]', "not-get-session", "SessionDep ="),
])
def test_a_session_dep_mistake_is_told_where_the_depends_is(checks, new, diagnosis, at):
    text = SOLUTION.replace(SESSION_DEP, new)
    found = run(checks, "sessiondep-scope", text)
    assert (found.diagnosis, found.line) == (diagnosis, line_of(text, at)), found.message
