"""Chapter 2's behavioural checks: drive the learner's get_session and a real FastAPI app.

No `from __future__ import annotations` here: FastAPI must see the real SessionDep annotation.
"""

import inspect
import typing

import pytest
import sqlmodel
from fastapi import FastAPI
from fastapi.params import Depends
from fastapi.testclient import TestClient
from sqlalchemy import text

from grader.testing import Advice, about, check, fail, is_closed, paused_at


@pytest.fixture(scope="module")
def database(learner):
    return learner.module("database")


def first_session(database, closed):
    """Start get_session() and return (generator, yielded session), failing clearly on the way."""
    get_session = database.get_session
    if not inspect.isgeneratorfunction(get_session):
        fail("get_session is not a generator function: it must `yield` the session, not return it",
             obj=get_session, diagnosis="return-not-yield")
    generator = get_session()
    try:
        session = next(generator)
    except StopIteration:
        fail("get_session() finished without yielding anything", obj=get_session)
    if not isinstance(session, sqlmodel.Session):
        fail(f"get_session() yielded {type(session).__module__}.{type(session).__qualname__}, "
             "not a sqlmodel Session", obj=get_session, diagnosis="wrong-type")
    return generator, session


@check("module-imports")
def test_module_imports(database):
    assert database is not None


@check("generator-yields-session")
def test_generator_yields_session(database, closed):
    generator, session = first_session(database, closed)
    try:
        with about("the session get_session yielded", obj=database.get_session, diagnosis="wrong-engine",
                   advice=Advice("Create it with `Session(engine)`", matching="not bound")):
            bind = session.get_bind()
        if bind is not database.engine:
            fail("the session is not bound to the module's `engine`: create it with `Session(engine)`",
                 obj=database.get_session, diagnosis="wrong-engine")
        if is_closed(session, closed):
            fail("the session was already closed when get_session yielded it: the yield must be inside the "
                 "`with` block", obj=database.get_session, diagnosis="closed-before-yield")
        session.execute(text("select 1"))
    finally:
        generator.close()


@check("closes-when-done")
def test_closes_when_done(database, closed):
    generator, session = first_session(database, closed)
    try:
        next(generator)
    except StopIteration:
        pass
    else:
        file, line = paused_at(generator, otherwise=database.get_session)
        generator.close()
        fail("get_session yielded a second time: a dependency must yield exactly once",
             file=file, line=line, diagnosis="yields-twice")
    if not is_closed(session, closed):
        fail("the session was still open after get_session finished: open it with "
             "`with Session(engine) as session:` so the block closes it", obj=database.get_session,
             diagnosis="not-closed")


@check("closes-on-error")
def test_closes_on_error(database, closed):
    generator, session = first_session(database, closed)

    class EndpointFailed(Exception):
        pass

    try:
        generator.throw(EndpointFailed("the endpoint raised"))
    except EndpointFailed:
        pass
    except StopIteration:
        fail("get_session caught the endpoint's exception and carried on: let it propagate so FastAPI can "
             "answer with an error", obj=database.get_session, diagnosis="swallowed-error")
    else:
        file, line = paused_at(generator, otherwise=database.get_session)
        generator.close()
        fail("get_session yielded again after the endpoint failed", file=file, line=line, diagnosis="yields-twice")
    if not is_closed(session, closed):
        fail("the session stayed open when the endpoint raised: code after a bare `yield` does not run then; "
             "use `with Session(engine) as session:` (or try/finally)", obj=database.get_session,
             diagnosis="close-without-finally")


@check("sessiondep-runtime")
def test_sessiondep_runtime(database):
    dep = database.SessionDep
    if typing.get_origin(dep) is not typing.Annotated:
        fail(f"SessionDep is {dep!r}, not an `Annotated[...]` type", diagnosis="not-annotated")
    base, *metadata = typing.get_args(dep)
    if base is not sqlmodel.Session:
        fail(f"SessionDep annotates {base!r}; it must be sqlmodel's `Session`", diagnosis="wrong-type")
    depends = [m for m in metadata if isinstance(m, Depends)]
    if not depends:
        fail("SessionDep carries no `Depends(...)`", diagnosis="no-depends")
    dependency = depends[0].dependency
    if inspect.isgenerator(dependency):
        fail("SessionDep holds a generator made by calling get_session(); give Depends the function itself",
             obj=database.get_session, diagnosis="depends-called")
    if dependency is not database.get_session:
        fail(f"SessionDep depends on {getattr(dependency, '__qualname__', dependency)!r} defined at line "
             f"{inspect.getsourcelines(dependency)[1] if inspect.isfunction(dependency) else '?'}, but "
             "`get_session` now names another function: is get_session defined twice?",
             obj=database.get_session, diagnosis="wrong-dependency")


@check("per-request-sessions")
def test_per_request_sessions(database, closed):
    app = FastAPI()
    seen = []

    @app.get("/probe")
    def probe(session: database.SessionDep):
        seen.append(session)
        open_now = not is_closed(session, closed)
        session.execute(text("select 1"))
        return {"open": open_now}

    with TestClient(app) as client:
        first = client.get("/probe")
        second = client.get("/probe")
    for response in (first, second):
        if response.status_code != 200:
            fail(f"a request to an endpoint using SessionDep failed with status {response.status_code}: "
                 f"{response.text[:300]}")
    if len(seen) != 2 or seen[0] is seen[1]:
        fail("both requests received the same session object: create the session inside get_session, "
             "once per call", obj=database.get_session, diagnosis="shared-session")
    if not all(response.json()["open"] for response in (first, second)):
        fail("the endpoint received a session that was already closed", obj=database.get_session,
             diagnosis="closed-before-yield")
    if not all(is_closed(s, closed) for s in seen):
        fail("a request's session was still open after its response", obj=database.get_session,
             diagnosis="not-closed")
