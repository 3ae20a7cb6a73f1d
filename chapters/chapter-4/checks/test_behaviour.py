"""Chapter 4's behavioural checks: drive get_session the way FastAPI does, then through real apps.

No `from __future__ import annotations` here: FastAPI must see the real SessionDep annotation.
"""

import ast
import inspect
import typing

import pytest
import sqlalchemy.orm
import sqlmodel
from fastapi import FastAPI, HTTPException
from fastapi.params import Depends
from fastapi.testclient import TestClient
from sqlalchemy import delete, text
from sqlmodel import Session, select

from grader.testing import (Advice, attribute_at, check, described, endpoint_function, endpoint_of, fail, is_closed,
                            named_not_called, paused_at, request, statement_in)


@pytest.fixture(scope="module")
def database(learner):
    return learner.module("database")


@pytest.fixture(scope="module")
def main(learner, database):
    return learner.module("main")


@pytest.fixture(scope="module")
def hero_model(learner, database):
    models = learner.module("models")
    database.create_db_and_tables()
    return models.Hero


@pytest.fixture
def heroes(database, hero_model):
    """The hero table, emptied before the test; `heroes()` lists the names saved in it."""
    empty(database, hero_model)

    def saved():
        with Session(database.engine) as session:
            return sorted(h.name for h in session.exec(select(hero_model)))

    yield saved
    # A session the learner's code left open (even one nothing refers to any more) would keep its
    # transaction, and a write lock on the file, until garbage collection: close them all now.
    sqlalchemy.orm.close_all_sessions()


def empty(database, hero_model):
    with Session(database.engine) as session:
        session.execute(delete(hero_model))
        session.commit()


def start(database):
    """Start get_session() as FastAPI does: (generator, the session it yields)."""
    get_session = database.get_session
    if not inspect.isgeneratorfunction(get_session):
        fail("get_session is not a generator function: hand the session over with `yield session`", obj=get_session,
             diagnosis="return-not-yield")
    generator = get_session()
    try:
        session = next(generator)
    except StopIteration:
        fail("get_session() finished without yielding a session", obj=get_session, diagnosis="no-yield")
    except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything
        if isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc):
            file, line = attribute_at(database, "SessionLocal")
            fail(f"making the session failed with {described(exc)}: SessionLocal hands every setting it was given "
                 "on to each session it makes, and a session has no such setting", file=file, line=line,
                 diagnosis="unknown-argument")
        autocommit = "autocommit" in str(exc)
        advice = ". SQLAlchemy 2 only accepts False, the default: remove the `autocommit` argument"
        fail(f"get_session() raised {type(exc).__name__} before yielding: {exc}" + (advice if autocommit else ""),
             cause=exc, obj=get_session, diagnosis="autocommit-true" if autocommit else "raised-before-yield")
    return generator, session


def release(session, closed):
    """Close a session the learner's code left open, so its transaction does not lock the file."""
    if not is_closed(session, closed):
        sqlalchemy.orm.Session.close(session)


def dependency_of(database):
    """(dependency function, scope) that SessionDep declares, or (None, None)."""
    metadata = typing.get_args(getattr(database, "SessionDep", None))[1:]
    found = next((m for m in metadata if isinstance(m, Depends)), None)
    return (found.dependency, getattr(found, "scope", None)) if found else (None, None)


@check("modules-import")
def test_modules_import(database, main):
    assert database is not None and main is not None


@check("get-session-yields-session")
def test_get_session_yields_session(database, closed):
    generator, session = start(database)
    try:
        if isinstance(session, sqlalchemy.orm.sessionmaker):
            file, line = paused_at(generator, otherwise=database.get_session)
            fail("get_session() yielded the session factory itself, not a session: the endpoints need one session, made "
                 "by calling the factory", file=file, line=line, diagnosis="factory-yielded")
        if not isinstance(session, sqlmodel.Session):
            fail(f"get_session() yielded a {type(session).__module__}.{type(session).__qualname__}, not a SQLModel "
                 "Session: pass `class_=Session` (from sqlmodel) to sessionmaker", obj=database.get_session,
                 diagnosis="wrong-type")
        if session.get_bind() is not database.engine:
            factory = getattr(database, "SessionLocal", None)
            if isinstance(factory, sqlalchemy.orm.sessionmaker) and factory.kw.get("bind") is not database.engine:
                file, line = attribute_at(database, "SessionLocal")
                fail("the session is not bound to the module's `engine`: SessionLocal's sessions talk to another "
                     "engine; create it with `bind=engine`", file=file, line=line, diagnosis="wrong-engine")
            fail("the session is not bound to the module's `engine`: make it with `SessionLocal()`, bound to `engine`",
                 obj=database.get_session, diagnosis="wrong-engine")
        if is_closed(session, closed):
            fail("the session was already closed when get_session yielded it", obj=database.get_session,
                 diagnosis="closed-before-yield")
        session.execute(text("select 1"))
    finally:
        finish(generator, session, closed)


def finish(generator, session, closed):
    """Close get_session and the session; a failure of either is for the other checks to report (it must not hide
    the reason this check failed)."""
    try:
        generator.close()
    except Exception:  # noqa: BLE001, S110 - the learner's exit code may raise anything
        pass
    if isinstance(session, sqlalchemy.orm.Session):
        release(session, closed)


@check("commits-on-success")
def test_commits_on_success(database, hero_model, heroes, closed):
    generator, session = start(database)
    session.add(hero_model(name="Saved", secret_name="s"))
    try:
        next(generator)
    except StopIteration:
        pass
    except Exception as exc:  # noqa: BLE001 - the learner's code after the yield may raise anything
        release(session, closed)
        fail(f"the endpoint succeeded, but get_session's code after the yield raised {described(exc)}, so the client "
             "gets a 500 for a request that worked", cause=exc, obj=database.get_session, diagnosis="raised-after-yield")
    else:
        file, line = paused_at(generator, otherwise=database.get_session)
        generator.close()
        release(session, closed)
        fail("get_session yielded a second time: a dependency yields exactly once", file=file, line=line,
             diagnosis="yields-twice")
    was_closed = is_closed(session, closed)
    release(session, closed)
    if heroes() != ["Saved"]:
        named = named_not_called(database.get_session, "commit")
        if named is not None:
            fail("the endpoint finished without an error, but its new hero was not saved: this line only names the "
                 "`commit` method, it does not call it; add the parentheses: `.commit()`", file=named[0],
                 line=named[1], diagnosis="not-committed")
        fail("the endpoint finished without an error, but its new hero was not saved: call `session.commit()` right "
             "after `yield session`", obj=database.get_session, diagnosis="not-committed")
    if not was_closed:
        fail("the session was still open after get_session finished: close it in `finally:`", obj=database.get_session,
             diagnosis="not-closed")


class EndpointFailed(Exception):
    """What the grader throws into get_session, as FastAPI does when an endpoint raises."""


@check("rolls-back-on-error")
def test_rolls_back_on_error(database, hero_model, heroes, closed):
    generator, session = start(database)
    session.add(hero_model(name="Half-done", secret_name="h"))
    session.flush()
    outcome = "propagated"
    other = None
    try:
        generator.throw(EndpointFailed("the endpoint raised"))
    except EndpointFailed:
        pass
    except StopIteration:
        outcome = "swallowed"
    except Exception as exc:  # noqa: BLE001 - the learner's get_session may raise anything
        outcome, other = "replaced", exc
    else:
        outcome = "yielded"
        second_yield = paused_at(generator, otherwise=database.get_session)
        generator.close()
    was_closed = is_closed(session, closed)
    release(session, closed)
    saved = heroes()
    if saved:
        fail("the endpoint raised, yet its hero was saved: never commit in `finally:` (or `except`); roll back "
             "instead", obj=database.get_session, diagnosis="committed-on-error")
    if outcome == "swallowed":
        fail("get_session caught the endpoint's exception and finished normally: re-raise it with `raise` after the "
             "rollback, so FastAPI can answer with the error", obj=database.get_session, diagnosis="swallowed-error")
    if outcome == "replaced":
        fail(f"get_session replaced the endpoint's exception with another one ({described(other)}), so the client gets "
             "that one instead of the endpoint's; send the caught exception on with a bare `raise`",
             obj=database.get_session, cause=other, diagnosis="replaced-error")
    if outcome == "yielded":
        file, line = second_yield
        fail("get_session yielded again after the endpoint failed: a dependency yields exactly once",
             file=file, line=line, diagnosis="yields-twice")
    if not was_closed:
        fail("the session stayed open after the endpoint raised: code below the yield does not run then; "
             "close the session in `finally:`", obj=database.get_session, diagnosis="not-closed")


def probe_app(database, hero_model):
    """An app whose endpoints use the learner's SessionDep: one 404s, one fails halfway, one clashes."""
    app = FastAPI()

    @app.get("/missing")
    def missing(session: database.SessionDep):
        raise HTTPException(status_code=404, detail="Hero not found")

    @app.post("/halfway")
    def halfway(session: database.SessionDep):
        session.add(hero_model(name="Half-done", secret_name="h"))
        session.flush()
        raise RuntimeError("the endpoint failed halfway")

    @app.post("/clash")
    def clash(session: database.SessionDep):
        session.add(hero_model(id=1, name="Clash", secret_name="c"))  # id 1 exists: the commit must fail
        return {"saved": True}

    return app


def not_get_session(database, status):
    """Fail at SessionDep when it does not depend on get_session: the answer then says nothing about get_session."""
    dependency, _scope = dependency_of(database)
    if dependency is database.get_session:
        return
    named = next((name for name, value in vars(database).items() if value is dependency and not name.startswith("_")),
                 getattr(dependency, "__name__", type(dependency).__name__))
    file, line = attribute_at(database, "SessionDep")
    fail(f"the client got {status}, and get_session was never used: SessionDep depends on `{named}`, not on get_session",
         file=file, line=line, diagnosis="not-get-session")


@check("errors-reach-client")
def test_errors_reach_client(database, hero_model, heroes):
    with TestClient(probe_app(database, hero_model), raise_server_exceptions=False) as client:
        missing = client.get("/missing")
        halfway = client.post("/halfway")
    sqlalchemy.orm.close_all_sessions()
    if missing.status_code != 404:
        not_get_session(database, missing.status_code)
        fail(f"an endpoint raised HTTPException(404), but the client got {missing.status_code}: get_session did not let "
             "the endpoint's exception through as it was (it must neither swallow it nor raise another)",
             obj=database.get_session, diagnosis="swallowed-error")
    if heroes():
        fail("an endpoint added a hero and then crashed, yet the hero was saved: roll back on error, and commit "
             "only after the yield", obj=database.get_session, diagnosis="committed-on-error")
    if halfway.status_code != 500:
        fail(f"an endpoint crashed, but the client got {halfway.status_code} instead of 500: get_session swallowed the "
             "error", obj=database.get_session, diagnosis="swallowed-error")


@check("failed-commit-is-error")
def test_failed_commit_is_error(database, hero_model, heroes):
    with Session(database.engine) as session:
        session.add(hero_model(id=1, name="Original", secret_name="o"))
        session.commit()
    with TestClient(probe_app(database, hero_model), raise_server_exceptions=False) as client:
        response = client.post("/clash")
    sqlalchemy.orm.close_all_sessions()
    if response.status_code < 500:
        not_get_session(database, response.status_code)
        if dependency_of(database)[1] != "function":
            file, line = attribute_at(database, "SessionDep")
            fail(f"the commit failed, but the client had already received {response.status_code}: without "
                 "`scope=\"function\"`, FastAPI runs get_session's commit after sending the response", file=file, line=line,
                 diagnosis="commit-after-response")
        fail(f"the commit failed, but the client got {response.status_code}: get_session caught the error and did not "
             "re-raise it", obj=database.get_session, diagnosis="swallowed-error")
    if heroes() != ["Original"]:
        fail("after the failed commit the hero table changed", obj=database.get_session, diagnosis="committed-on-error")


def lost_in_endpoint(app, url, answer):
    """Fail at the PATCH endpoint's `refresh` (else its def): its own answer already lacks the change."""
    endpoint = endpoint_function(app, "PATCH", url)
    refresh = statement_in(endpoint, lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                           and n.func.attr == "refresh") if endpoint is not None else None
    told = f"PATCH answered 200 with age {answer.get('age')!r}, not the 31 it was sent: the endpoint lost the change " \
           "before it returned"
    if refresh is not None:
        fail(f"{told}. `refresh` reloads the row from the database and throws away the changes not yet sent to it: "
             "call `session.flush()` right before the refresh", file=refresh[0], line=refresh[1],
             diagnosis="change-lost")
    file, line = endpoint_of(app, "PATCH", url)
    fail(told, file=file, line=line, diagnosis="change-lost")


@check("app-persists")
def test_app_persists(main, database, hero_model, heroes):
    advice = Advice("If the endpoint no longer commits, it must `session.flush()` before `session.refresh(...)`",
                    matching="is not persistent within this Session")
    with TestClient(main.app) as client:
        def send(method, url, **kwargs):
            return request(client, method, url, expect=200, advice=advice, **kwargs).json()

        def stored(what):
            with Session(database.engine) as session:
                return [(h.name, h.age) for h in session.exec(select(hero_model))], what

        created = send("POST", "/heroes/", json={"name": "Kept", "secret_name": "k", "age": 30})
        rows, what = stored("POST /heroes/")
        if rows != [("Kept", 30)]:
            not_get_session(database, "200 but nothing was saved")
            fail(f"{what} answered 200 with {created!r}, but the database holds {rows}: the change was never "
                 "committed; get_session must commit after the yield", obj=database.get_session, diagnosis="not-persisted")
        updated = send("PATCH", f"/heroes/{created['id']}", json={"age": 31})
        rows, what = stored("PATCH")
        if rows != [("Kept", 31)]:
            if updated.get("age") != 31:
                lost_in_endpoint(main.app, f"/heroes/{created['id']}", updated)
            fail(f"{what} answered 200, but the database holds {rows}", obj=database.get_session,
                 diagnosis="not-persisted")
        send("GET", f"/heroes/{created['id']}")
        send("GET", "/heroes/")
        send("DELETE", f"/heroes/{created['id']}")
        rows, what = stored("DELETE")
        if rows:
            fail(f"{what} answered 200, but the database still holds {rows}", obj=database.get_session,
                 diagnosis="not-persisted")
