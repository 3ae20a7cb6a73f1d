"""Chapter 6's behavioural checks: the learner's async dependency on a real event loop, real aiosqlite.

No `from __future__ import annotations` here: FastAPI must see the real SessionDep annotation.
Nothing is mocked: sessions are observed by wrapping AsyncSession.close, and writes are read back from the database.

PYTEST_DONT_REWRITE: these checks fail through `fail()`, never a bare `assert`, so pytest need not rewrite
(and recompile) this module on every job.
"""

import asyncio
import inspect
import sqlite3
import sys
import typing
import uuid
from contextlib import ExitStack, contextmanager

import httpx2 as httpx
import pytest
import sqlalchemy.ext.asyncio
from fastapi import BackgroundTasks, Depends, FastAPI
from fastapi.params import Depends as DependsParam
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import sessionmaker
from sqlmodel import SQLModel

from grader.testing import (Advice, CheckFailed, advised, attribute_at, check, described, endpoint_function, fail,
                            learner_relative, paused_at, request, where)

pytestmark = pytest.mark.usefixtures("unsynced_sqlite")  # no fsync: see grader.testing
CONCURRENT = 5
HOLD = 0.5
"""Seconds each concurrent probe request keeps its session, at most, waiting for all of them to be inside the
endpoint at once (they leave as soon as they are): long enough for the others to arrive, if nothing holds them back."""


@pytest.fixture(scope="module")
def database(learner):
    return learner.module("database")


@pytest.fixture(scope="module")
def models(learner):
    return learner.module("models")


@pytest.fixture
def observed(monkeypatch):
    """[(event, session)] for every AsyncSession closed (awaited) while the test runs."""
    events = []
    close = AsyncSession.close

    async def closing(self):
        events.append(("close", self))
        return await close(self)

    monkeypatch.setattr(AsyncSession, "close", closing)
    return events


def closed(events, session):
    return any(kind == "close" and s is session for kind, s in events)


def run(database, make_coroutine):
    """Run a coroutine on a fresh event loop. At the end, every session still open is closed (a session the learner's
    code left open keeps its write lock on the file, and the next check would find the database locked), and the
    engine's pooled connections too."""
    async def body():
        try:
            return await make_coroutine()
        finally:
            close_all = getattr(sqlalchemy.ext.asyncio, "close_all_sessions", None)  # SQLAlchemy 2.0.23 and later
            if close_all is not None:
                await close_all()
            if isinstance(getattr(database, "engine", None), AsyncEngine):
                await database.engine.dispose()
    return asyncio.run(body())


async def create_tables(database):
    async with database.engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)


def client(app, raise_errors=True):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def first_session(database):
    get_session = database.get_session
    if not inspect.isasyncgenfunction(get_session) and inspect.isasyncgenfunction(inspect.unwrap(get_session)):
        fail("get_session is decorated (`@asynccontextmanager`?), so it returns a context manager, and FastAPI would "
             "hand that object to the endpoints instead of a session: FastAPI runs the async generator itself",
             obj=get_session, diagnosis="context-manager-decorator")
    if not inspect.isasyncgenfunction(get_session):
        kind = "a coroutine function" if inspect.iscoroutinefunction(get_session) else "a plain function"
        fail(f"get_session is {kind}, not an async generator: write `async def get_session():` and `yield` the "
             "session", obj=get_session, diagnosis="not-async-generator")
    generator = get_session()
    try:
        session = await generator.__anext__()
    except StopAsyncIteration:
        fail("get_session() finished without yielding anything", obj=get_session)
    if not isinstance(session, AsyncSession):
        fail(f"get_session() yielded {type(session).__module__}.{type(session).__qualname__}, not an AsyncSession",
             obj=get_session, diagnosis="wrong-type")
    return generator, session


@check("module-imports")
def test_module_imports(learner):
    for name in ("database", "models", "main"):
        learner.module(name)


@check("yields-async-session")
def test_yields_async_session(database, observed):
    async def body():
        generator, session = await first_session(database)
        if session.bind is not database.engine:
            await generator.aclose()
            fail("the session is not bound to the module's `engine`: the factory must be given `engine`",
                 obj=database.get_session, diagnosis="wrong-engine")
        if closed(observed, session):
            fail("the session was already closed when get_session yielded it: yield inside the `async with` block",
                 obj=database.get_session, diagnosis="closed-before-yield")
        await session.execute(text("select 1"))
        try:
            await generator.__anext__()
        except StopAsyncIteration:
            pass
        else:
            file, line = paused_at(generator, otherwise=database.get_session)
            await generator.aclose()
            fail("get_session yielded a second time: a dependency yields exactly once", file=file, line=line,
                 diagnosis="yields-twice")
        if not closed(observed, session):
            fail("the session was still open after get_session finished: open it in an `async with` block, which "
                 "closes it on every way out",
                 obj=database.get_session, diagnosis="not-closed")
    run(database, body)


async def saved_names(database, models, name):
    """The heroes called `name` that the database holds, read through a session of the grader's own."""
    async with AsyncSession(database.engine) as check_session:
        return (await check_session.execute(select(models.Hero).where(models.Hero.name == name))).all()


@check("commits-on-success")
def test_commits_on_success(database, models):
    name = f"kept-{uuid.uuid4().hex}"

    async def body():
        await create_tables(database)
        generator, session = await first_session(database)
        session.add(models.Hero(name=name, secret_name="k"))  # what an endpoint does; then it returns
        at = paused_at(generator, otherwise=database.get_session)
        try:
            await generator.__anext__()
        except StopAsyncIteration:
            pass
        else:
            await generator.aclose()  # yielding twice is yields-async-session's finding
        return at, await saved_names(database, models, name)

    (file, line), rows = run(database, body)
    if not rows:
        fail("the endpoint succeeded, but the hero it added is not in the database: get_session must "
             "`await session.commit()` after the `yield`, before the `async with` closes the session",
             file=file, line=line, diagnosis="no-commit")


@check("rolls-back-on-error")
def test_rolls_back_on_error(database, models, observed):
    class EndpointFailed(Exception):
        pass

    name = f"half-done-{uuid.uuid4().hex}"

    async def body():
        await create_tables(database)
        generator, session = await first_session(database)
        session.add(models.Hero(name=name, secret_name="x"))
        await session.flush()
        try:
            await generator.athrow(EndpointFailed("the endpoint raised"))
        except EndpointFailed:
            pass
        except StopAsyncIteration:
            fail("get_session caught the endpoint's exception and carried on: re-raise it after rolling back "
                 "(`raise`)", obj=database.get_session, diagnosis="swallowed-error")
        else:
            file, line = paused_at(generator, otherwise=database.get_session)
            await generator.aclose()
            fail("get_session yielded again after the endpoint failed", file=file, line=line,
                 diagnosis="yields-twice")
        return await saved_names(database, models, name), closed(observed, session)

    rows, was_closed = run(database, body)
    if rows:
        fail("the endpoint raised, yet the hero it had flushed was saved: get_session must not commit when the "
             "endpoint fails (never in `finally:` or `except`); roll back instead", obj=database.get_session,
             diagnosis="committed-on-error")
    if not was_closed:
        fail("the session was not closed after the endpoint raised: keep the try/except inside the `async with` "
             "block, which closes it on every way out", obj=database.get_session, diagnosis="not-closed")


@check("concurrent-sessions")
def test_concurrent_sessions(database, observed):
    app = FastAPI()
    seen, inside = [], []
    peak = [0]
    everyone = asyncio.Event()  # set when all the requests are inside the endpoint together

    @app.get("/probe")
    async def probe(session: database.SessionDep):
        seen.append(session)
        inside.append(session)
        peak[0] = max(peak[0], len(inside))
        if len(inside) == CONCURRENT:
            everyone.set()
        await session.execute(text("select 1"))
        try:
            await asyncio.wait_for(everyone.wait(), HOLD)
        except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
            pass  # the others did not come in meanwhile: something holds them back
        inside.remove(session)
        return {"open": not closed(observed, session)}

    async def body():
        async with client(app, raise_errors=False) as http:
            responses = await asyncio.gather(*(http.get("/probe") for _ in range(CONCURRENT)))
        # On the same event loop: a lock the module made is bound to the loop that first waited on it.
        waits_at = await where_second_waits(database) if peak[0] < 2 else None
        return responses, waits_at, [s for s in seen if not closed(observed, s)]  # before `run` closes them all

    responses, waits_at, still_open = run(database, body)
    distinct = len({id(s) for s in seen})
    if distinct < len(seen):
        fail(f"{len(seen)} concurrent requests received only {distinct} distinct session(s): create the session "
             "inside get_session, once per call", obj=database.get_session, diagnosis="shared-session")
    bad = [r for r in responses if r.status_code != 200]
    if bad:
        fail(f"{len(bad)} of {CONCURRENT} concurrent requests failed (status {bad[0].status_code}: "
             f"{bad[0].text[:200]})", obj=database.get_session, diagnosis="not-concurrent")
    if peak[0] < 2:
        file, line = waits_at
        fail(f"{CONCURRENT} requests sent at once were served one after another: while one request holds its "
             "session, get_session makes the next one wait here; each request needs only its own session",
             file=file, line=line, diagnosis="not-concurrent")
    if not all(r.json()["open"] for r in responses):
        fail("an endpoint received a session that was already closed", obj=database.get_session,
             diagnosis="closed-before-yield")
    if still_open:
        fail(f"{len(still_open)} of {CONCURRENT} sessions were still open after their responses: let "
             "`async with` close each one", obj=database.get_session, diagnosis="not-closed")


async def where_second_waits(database):
    """(file, line) where a second get_session waits while the first one's session is handed out: the statement
    that makes requests queue (a lock taken around the yield); get_session's `def` if it does not wait."""
    first, second = database.get_session(), database.get_session()
    await first.__anext__()
    pending = asyncio.ensure_future(second.__anext__())
    await asyncio.sleep(0.05)
    waiting = not pending.done()
    file, line = paused_at(second, otherwise=database.get_session) if waiting else where(database.get_session)
    pending.cancel()
    await asyncio.gather(pending, return_exceptions=True)
    await first.aclose()
    await second.aclose()
    return file, line


@check("failing-endpoint-no-row")
def test_failing_endpoint_leaves_no_row(database, models):
    app = FastAPI()
    name = f"ghost-{uuid.uuid4().hex}"

    @app.post("/fails")
    async def fails(session: database.SessionDep):
        session.add(models.Hero(name=name, secret_name="nobody"))
        await session.flush()
        raise RuntimeError("the endpoint failed after writing")

    async def body():
        await create_tables(database)
        async with client(app, raise_errors=False) as http:
            response = await http.post("/fails")
        async with AsyncSession(database.engine) as check_session:
            rows = (await check_session.execute(select(models.Hero).where(models.Hero.name == name))).all()
        return response, rows

    response, rows = run(database, body)
    if response.status_code != 500:
        fail(f"an endpoint that raised answered {response.status_code} instead of 500: get_session must re-raise",
             obj=database.get_session, diagnosis="swallowed-error")
    if rows:
        fail("a request that failed still saved its hero: get_session must roll back when the endpoint raises, "
             "and never commit on the way out", obj=database.get_session, diagnosis="row-left-behind")


def declared_scope(database):
    """The `scope` SessionDep's `Depends(...)` gives (None: the default), and whether it depends on get_session."""
    metadata = typing.get_args(getattr(database, "SessionDep", None))[1:]
    found = next((m for m in metadata if isinstance(m, DependsParam)), None)
    return (getattr(found, "scope", None), found.dependency is database.get_session) if found else (None, False)


@check("failed-commit-is-error")
def test_failed_commit_is_error(database, models):
    scope, ours = declared_scope(database)
    probe = typing.Annotated[AsyncSession, Depends(database.get_session, scope=scope)]
    app = FastAPI()
    taken = {}

    @app.post("/clash")
    async def clash(session: probe):
        # The id is taken: nothing fails until get_session commits, after this endpoint has returned.
        session.add(models.Hero(id=taken["id"], name="Clash", secret_name="c"))
        return {"saved": True}

    async def body():
        await create_tables(database)
        async with AsyncSession(database.engine, expire_on_commit=False) as own:
            hero = models.Hero(name=f"original-{uuid.uuid4().hex}", secret_name="o")
            own.add(hero)
            await own.commit()
            taken["id"] = hero.id
        async with client(app, raise_errors=False) as http:
            return await http.post("/clash")

    response = run(database, body)
    if response.status_code < 500:
        if ours and scope != "function":
            file, line = attribute_at(database, "SessionDep")
            fail(f"the commit failed, but the client had already received {response.status_code}: without "
                 "`scope=\"function\"`, FastAPI runs get_session's commit after sending the response", file=file,
                 line=line, diagnosis="commit-after-response")
        fail(f"the commit failed, but the client got {response.status_code}: get_session caught the error and did "
             "not re-raise it", obj=database.get_session, diagnosis="swallowed-error")


@check("readable-after-commit")
def test_readable_after_commit(database, models):
    app = FastAPI()
    read = []

    def welcome(hero):
        """A background task: it runs after the response is sent, once get_session has committed and closed."""
        try:
            read.append(hero.name)
        except Exception as exc:  # noqa: BLE001 - the failure mode is the lesson
            read.append(exc)

    @app.post("/welcome", response_model=models.HeroPublic)
    async def create_and_welcome(session: database.SessionDep, background: BackgroundTasks):
        hero = models.Hero(name="Deadpond", secret_name="Dive Wilson")
        session.add(hero)
        await session.flush()
        background.add_task(welcome, hero)
        return hero

    async def body():
        await create_tables(database)
        async with client(app, raise_errors=False) as http:
            return await http.post("/welcome")

    response = run(database, body)
    if response.status_code != 200:
        fail(f"an endpoint that adds a hero and flushes answered {response.status_code}: {response.text[:200]}",
             obj=database.get_session, diagnosis="endpoint-error")
    if read and isinstance(read[0], Exception):
        file, line = factory_at(database)
        fail(f"a background task read `hero.name` after get_session had committed, and got {cause(read[0])}. "
             "Sessions from your factory expire every attribute on commit, so the read needs a database trip "
             "that cannot happen there: make the factory with `expire_on_commit=False`",
             file=file, line=line, diagnosis="expire-on-commit")


def factory_at(database):
    """(file, line) of the module-level session factory's assignment; get_session's `def` if there is none."""
    names = [n for n, v in vars(database).items() if isinstance(v, (async_sessionmaker, sessionmaker))]
    return attribute_at(database, names[0]) if names else where(database.get_session)


def cause(exc):
    """The exception in a line; SQLAlchemy's MissingGreenlet hides inside FastAPI's validation error."""
    text = str(exc)
    if "MissingGreenlet" in text:
        return "MissingGreenlet (greenlet_spawn has not been called; can't call await_() here)"
    lines = text.strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:500]}" if lines else type(exc).__name__


CRASH_ADVICE = (
    Advice("A session call was not awaited: on an AsyncSession every call but `add` is awaited",
           matching="coroutine"),
    Advice("Reading an object after commit needs `expire_on_commit=False` on the session factory",
           matching="MissingGreenlet|greenlet_spawn|get_attribute_error"),
    Advice("`session.exec` belongs to SQLModel's AsyncSession: make the factory with `class_=AsyncSession` "
           "from `sqlmodel.ext.asyncio.session`", matching="has no attribute 'exec'"),
)
"""What a crash of the CRUD endpoints most likely means, by what it says."""

STARTUP_ADVICE = (
    Advice("`create_all` needs a synchronous connection: with the async engine it runs through `run_sync` on a "
           "connection from `engine.begin()`", matching="_run_ddl_visitor"),
    Advice("With the async engine, create_db_and_tables is a coroutine function: the lifespan awaits it",
           matching="coroutine"),
)
"""What a crash while the app starts (its lifespan) most likely means."""


@contextmanager
def blocking_queries():
    """[(file, line, function)] of the learner's statement behind each query a synchronous engine runs on a
    running event loop while the block runs: a blocking call inside `async def`, whichever session made it."""
    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if conn.dialect.is_async:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a worker thread (a plain `def` endpoint): the loop is free
            return
        frame = sys._getframe(1)
        while frame is not None and learner_relative(frame.f_code.co_filename) is None:
            frame = frame.f_back
        if frame is not None:
            seen.append((learner_relative(frame.f_code.co_filename), frame.f_lineno, frame.f_code.co_name))

    event.listen(Engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", before)


def stored(database, models, hero_id):
    """The hero's row as the database file has it (None: no such row), read past the app; `...` when the
    engine's database is not a file the check can read."""
    engine = getattr(database, "engine", None)
    try:
        path = make_url(str(engine.url)).database if engine is not None else None
    except Exception:  # noqa: BLE001 - an engine the check cannot read past
        return ...
    if not path or path == ":memory:":
        return ...
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            connection.row_factory = sqlite3.Row
            row = connection.execute(f'select * from "{models.Hero.__tablename__}" where id = ?', (hero_id,)).fetchone()
    except sqlite3.Error:
        return ...
    return dict(row) if row is not None else None


@check("crud-works")
def test_crud_works(learner):
    main, database, models = learner.module("main"), learner.module("database"), learner.module("models")
    with ExitStack() as stack:
        try:
            http = stack.enter_context(TestClient(main.app))
        except Exception as exc:  # noqa: BLE001 - the learner's lifespan may raise anything
            fail(advised(f"starting the app (its lifespan) raised {described(exc)}", STARTUP_ADVICE, exc), cause=exc,
                 obj=main.app.router.lifespan_context, diagnosis="startup-error")
        Crud(http, main.app, stack.enter_context(blocking_queries()), lambda i: stored(database, models, i)).run()


ONE = "/heroes/{hero_id}"


class Crud:
    """POST, GET, PATCH, GET the list, DELETE, GET: each answer checked, each write read back from the database
    (get_session commits, as commits-on-success has shown: a write that is missing is blamed on the endpoint that
    made it), and no query on a synchronous engine in between."""

    def __init__(self, http, app, blocked, row):
        self.http, self.app, self.blocked, self.row = http, app, blocked, row

    def endpoint(self, method, route=ONE):
        return endpoint_function(self.app, method, route)

    def call(self, method, path, expected=200, **kwargs):
        try:
            response = request(self.http, method, path, expect=expected, diagnosis="endpoint-error",
                               wrong_answer="wrong-answer", advice=CRASH_ADVICE, **kwargs)
        except CheckFailed:
            self.no_blocking(method, path)
            raise
        self.no_blocking(method, path)
        return response

    def no_blocking(self, method, path):
        if self.blocked:
            file, line, name = self.blocked[0]
            fail(f"{method} {path} ran a query on a synchronous engine inside `async def {name}`: that query blocks "
                 "the event loop, and every other request waits until it ends; the async session the dependency "
                 "gives, awaited, does not", file=file, line=line, diagnosis="blocking-call")

    def saved(self, method, path, hero_id, fields, route=ONE):
        """Fail at the endpoint that wrote when the database does not hold what it answered."""
        row = self.row(hero_id)
        if row is ... or (row is not None and all(row.get(k) == v for k, v in fields.items())):
            return
        seen = self.call("GET", f"/heroes/{hero_id}", expected=None)
        if seen.status_code == 200 and all(seen.json().get(k) == v for k, v in fields.items()):
            return  # the app reads its writes back from a database this check does not see
        if row is None:
            found = f"hero {hero_id} is not in the database"
        else:
            found = "the database still has " + ", ".join(f"{k}={row.get(k)!r}" for k, v in fields.items()
                                                           if row.get(k) != v)
        answered = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        fail(f"{method} {path} answered with {answered}, but {found}: get_session commits what the endpoint "
             "left in the session, and this change was not there (a call not awaited, or made on another session?)",
             obj=self.endpoint(method, route), diagnosis="not-saved")

    def run(self):
        hero = self.call("POST", "/heroes/", json={"name": "Rusty-Man", "secret_name": "Tommy Sharp", "age": 48}).json()
        self.saved("POST", "/heroes/", hero["id"], {"name": "Rusty-Man", "age": 48}, "/heroes/")
        path = f"/heroes/{hero['id']}"
        if self.call("GET", path).json() != hero:
            fail(f"GET {path} did not return the hero that POST created", obj=self.endpoint("GET"),
                 diagnosis="wrong-answer")
        patched = self.call("PATCH", path, json={"age": 49}).json()
        if patched != {**hero, "age": 49}:
            fail(f"PATCH {path} with {{\"age\": 49}} returned {patched}", obj=self.endpoint("PATCH"),
                 diagnosis="wrong-answer")
        self.saved("PATCH", path, hero["id"], {"age": 49})
        if hero["id"] not in [h["id"] for h in self.call("GET", "/heroes/").json()]:
            fail("GET /heroes/ does not list the hero just created", obj=self.endpoint("GET", "/heroes/"),
                 diagnosis="wrong-answer")
        self.call("DELETE", path)
        if self.row(hero["id"]) not in (None, ...):
            fail(f"DELETE {path} answered 200, but the hero is still in the database: the deletion never reached "
                 "the session get_session commits (is `session.delete(...)` awaited?)",
                 obj=self.endpoint("DELETE"), diagnosis="not-saved")
        if self.call("GET", path, expected=None).status_code != 404:
            fail(f"after DELETE {path} answered 200, GET {path} still finds the hero: the deletion never reached "
                 "the database", obj=self.endpoint("DELETE"), diagnosis="wrong-answer")
