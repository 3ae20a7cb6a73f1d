"""Chapter 7's behavioural checks: the get_session factory, its engine cache and the two-database endpoint.

No `from __future__ import annotations` here: FastAPI must see the learner's aliases.
Real engines on real aiosqlite. asyncpg is not installed, so no PostgreSQL engine is ever created:
URL upgrading is observed by wrapping create_async_engine, which then gets an in-memory SQLite URL.
"""

import asyncio
import threading
import time
import uuid

import pytest
import sqlalchemy.ext.asyncio
import sqlalchemy.ext.asyncio.engine
from fastapi.testclient import TestClient
from sqlalchemy import func, make_url, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import SQLModel

from grader.testing import CheckFailed, check, endpoint_function, fail, request

REAL_CREATE = sqlalchemy.ext.asyncio.create_async_engine
THREADS = 4
SEEN: list = []
"""Engines of the sessions opened so far: `run` disposes them before its event loop ends."""


@pytest.fixture(scope="module")
def database(learner):
    return learner.module("database")


@pytest.fixture(scope="module")
def models(learner):
    return learner.module("models")


def add_database(monkeypatch, database, url, dev_url=None):
    """A new entry in the learner's DATABASES, for the length of one test; returns its name."""
    name = f"grader-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(database.DATABASES, name, {"url": url, "dev_url": dev_url or url})
    return name


def dependency(database, *args, **kwargs):
    try:
        return database.get_session(*args, **kwargs)
    except ValueError as exc:
        fail(f"get_session({', '.join(map(repr, args))}) raised ValueError: {exc}. The grader adds entries to "
             "DATABASES while it runs: look names up in DATABASES each time get_session is called",
             obj=database.get_session, diagnosis="config-not-read")


async def open_session(dep):
    """Run a dependency up to its yield; return (generator, session)."""
    generator = dep()
    if not hasattr(generator, "__anext__"):
        fail(f"the dependency returned by get_session(...) is {type(generator).__name__}, not an async generator: "
             "define it with `async def` and `yield` the session", obj=dep, diagnosis="not-async-generator")
    try:
        session = await generator.__anext__()
    except Exception as exc:  # noqa: BLE001 - explain it at the learner's line
        fail(f"running the dependency from get_session(...) raised {type(exc).__name__}: {exc}", cause=exc, obj=dep,
             diagnosis="dependency-error")
    if not isinstance(session, AsyncSession):
        fail(f"the dependency yielded {type(session).__name__}, not an AsyncSession", obj=dep, diagnosis="wrong-type")
    SEEN.append(session.bind)
    return generator, session


async def engine_of(dep):
    generator, session = await open_session(dep)
    engine = session.bind
    await generator.aclose()
    return engine


def run(make_coroutine):
    """Run on a fresh event loop; dispose the engines it used, so no connection outlives its loop."""
    async def body():
        try:
            return await make_coroutine()
        finally:
            await dispose_seen()
    return asyncio.run(body())


async def dispose_seen():
    engines = {id(e): e for e in SEEN if isinstance(e, AsyncEngine)}
    SEEN.clear()
    for engine in engines.values():
        await engine.dispose()


def url_text(url):
    return url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)


@pytest.fixture
def created(monkeypatch, database):
    """Wrap create_async_engine wherever the learner can reach it; record the URL of each call.

    `created.redirect = True` hands every engine an in-memory SQLite URL instead (for URLs of
    databases that are not here); `created.delay` slows creation down to open a race window.
    """
    class Recorder(list):
        redirect = False
        delay = 0.0

    calls = Recorder()

    def spy(url, *args, **kwargs):
        calls.append(url_text(url))
        if calls.delay:
            time.sleep(calls.delay)
        if calls.redirect:
            return REAL_CREATE("sqlite+aiosqlite://")
        return REAL_CREATE(url, *args, **kwargs)

    for module in (sqlalchemy.ext.asyncio, sqlalchemy.ext.asyncio.engine):
        monkeypatch.setattr(module, "create_async_engine", spy)
    for name, value in list(vars(database).items()):
        if value is REAL_CREATE:
            monkeypatch.setattr(database, name, spy)
    return calls


@check("module-imports")
def test_module_imports(learner):
    for name in ("database", "models", "events", "main"):
        learner.module(name)


@check("unknown-name-error")
def test_unknown_name_error(database):
    known = sorted(database.DATABASES)
    try:
        dep = database.get_session("no-such-database")
        run(lambda: dep().__anext__())  # the name may be looked up on the first run
    except ValueError as exc:
        missing = [name for name in known if name not in str(exc)]
        if "no-such-database" not in str(exc) or missing:
            fail(f"the ValueError says {str(exc)!r}; it must name the unknown database and the known ones "
                 f"({', '.join(known)})", cause=exc, obj=database.get_session, diagnosis="vague-error")
        return
    except Exception as exc:  # noqa: BLE001 - any other error is the wrong one
        fail(f"get_session(\"no-such-database\") raised {type(exc).__name__}: {exc}; raise a ValueError that names "
             "the known databases", cause=exc, obj=database.get_session, diagnosis="wrong-error")
    fail("get_session(\"no-such-database\") and its dependency ran without an error: an unknown name must raise "
         "ValueError", obj=database.get_session, diagnosis="no-error")


@check("same-url-shares-engine")
def test_same_url_shares_engine(monkeypatch, database):
    twin = add_database(monkeypatch, database, database.DATABASES["primary"]["url"],
                        database.DATABASES["primary"]["dev_url"])
    deps = [dependency(database), dependency(database), dependency(database, "primary"), dependency(database, twin)]
    engines = run(lambda: asyncio.gather(*(engine_of(d) for d in deps)))
    if len({id(e) for e in engines}) != 1:
        fail(f"four dependencies for the same database URL used {len({id(e) for e in engines})} different engines: "
             "cache one engine per resolved URL (a dict from URL to engine), and look it up before creating one",
             obj=database.get_session, diagnosis="engine-not-shared")


@check("names-get-own-engines")
def test_names_get_own_engines(database):
    primary, analytics = dependency(database), dependency(database, "analytics")
    engines = run(lambda: asyncio.gather(engine_of(primary), engine_of(analytics)))
    if engines[0] is engines[1]:
        urls = [database.DATABASES[name]["url"] for name in ("primary", "analytics")]
        why = (f"DATABASES gives both the URL {urls[0]!r}: each database needs its own" if urls[0] == urls[1] else
               "key the cache by the database's URL, not by anything they share")
        fail(f"`primary` and `analytics` got the same engine: {why}", obj=database.get_session,
             diagnosis="one-engine-for-all")
    for name, engine in zip(("primary", "analytics"), engines):
        expected = make_url(database.DATABASES[name]["url"]).database
        if engine.url.database != expected:
            fail(f"the `{name}` session's engine opens {engine.url.database!r}, but DATABASES says {expected!r}",
                 obj=database.get_session, diagnosis="wrong-database")


@check("engines-lazy")
def test_engines_lazy(monkeypatch, database, created):
    name = add_database(monkeypatch, database, f"sqlite:///lazy-{uuid.uuid4().hex[:8]}.db")
    dep = dependency(database, name)
    if created:
        fail("get_session(name) created an engine straight away: create it the first time the dependency runs "
             "(an app may declare dependencies for databases it never uses)", obj=database.get_session,
             diagnosis="engine-at-call")
    run(lambda: engine_of(dep))
    run(lambda: engine_of(dep))
    if len(created) != 1:
        fail(f"running the dependency twice created {len(created)} engines; create one on first use and reuse it",
             obj=database.get_session, diagnosis="engine-not-shared")


@check("dev-url")
def test_dev_url(database):
    plain, dev = dependency(database), dependency(database, dev=True)
    engines = run(lambda: asyncio.gather(engine_of(plain), engine_of(dev)))
    expected = make_url(database.DATABASES["primary"]["dev_url"]).database
    if engines[1].url.database != expected:
        fail(f"get_session(dev=True) opened {engines[1].url.database!r}; with dev=True use the entry's dev_url "
             f"({expected!r})", obj=database.get_session, diagnosis="dev-ignored")
    if engines[0] is engines[1]:
        fail("dev=True and dev=False share one engine: they are different URLs", obj=database.get_session,
             diagnosis="dev-ignored")


UPGRADES = {
    "postgresql://hero:s3cret@db.example:5432/heroes": "postgresql+asyncpg://hero:s3cret@db.example:5432/heroes",
    "postgresql+psycopg://hero:s3cret@db.example/heroes": "postgresql+psycopg://hero:s3cret@db.example/heroes",
    "sqlite:///upgrade.db": "sqlite+aiosqlite:///upgrade.db",
    "sqlite+aiosqlite:///kept.db": "sqlite+aiosqlite:///kept.db",
}


@check("url-upgrade")
def test_url_upgrade(monkeypatch, database, created):
    created.redirect = True
    for given, expected in UPGRADES.items():
        name = add_database(monkeypatch, database, given)
        del created[:]
        run(lambda: engine_of(dependency(database, name)))
        if created != [expected]:
            got = created[0] if created else "no engine"
            hint = " (the password became ***: use url.render_as_string(hide_password=False), not str(url))" \
                if "***" in got else ""
            fail(f"for the URL {given!r} the engine was created with {got!r}, expected {expected!r}{hint}: plain "
                 "`sqlite` and `postgresql` URLs get the aiosqlite and asyncpg drivers; a URL naming its driver "
                 "is kept", obj=database.get_session, diagnosis="url-not-upgraded")


@check("cache-thread-safe")
def test_cache_thread_safe(monkeypatch, database, created):
    name = add_database(monkeypatch, database, f"sqlite:///race-{uuid.uuid4().hex[:8]}.db")
    dep = dependency(database, name)
    created.delay = 0.2  # creating an engine now takes a while: a cache without a lock lets every thread in
    start = threading.Barrier(THREADS)
    engines, errors = [], []

    def worker():
        try:
            start.wait(5)
            engines.append(asyncio.run(engine_of(dep)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    run(lambda: asyncio.sleep(0))  # dispose the engines the threads used
    if errors:
        raise errors[0]
    if len(created) != 1 or len({id(e) for e in engines}) != 1:
        fail(f"{THREADS} threads asking at once for a new database created {len(created)} engines: check and fill "
             "the cache inside `with _lock:` (a threading.Lock), so only the first thread creates the engine",
             obj=database.get_session, diagnosis="race")


async def fill(dep, *rows):
    """Create the tables on the dependency's database, add `rows`, commit."""
    generator, session = await open_session(dep)
    async with session.bind.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    session.add_all(rows)
    await session.commit()
    await generator.aclose()


async def count(dep, model):
    generator, session = await open_session(dep)
    total = (await session.execute(select(func.count()).select_from(model))).scalar_one()
    await generator.aclose()
    return total


def one_request(app, method, path, **kwargs):
    """One request through the learner's app, its lifespan included; a status other than 200 fails at the
    endpoint."""
    try:
        with TestClient(app) as client:
            return request(client, method, path, expect=200, diagnosis="endpoint-error", **kwargs)
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - the app's lifespan raised
        fail(f"starting or stopping the app (its lifespan) raised {type(exc).__name__}: {str(exc)[:400]}",
             cause=exc, diagnosis="lifespan-error")


@check("stats-reads-both")
def test_stats_reads_both(learner, database, models):
    main = learner.module("main")
    primary, analytics = dependency(database), dependency(database, "analytics")
    hero, event = models.Hero, learner.module("events").Event

    async def prepare():
        # Heroes live in primary and events in analytics; one decoy of each in the other database.
        await fill(primary, hero(name="Deadpond", secret_name="Dive"), hero(name="Rusty-Man", secret_name="Tommy"),
                   event(name="decoy"))
        await fill(analytics, *(event(name=f"view-{n}") for n in range(3)), hero(name="Decoy", secret_name="Nobody"))
        return await count(primary, hero), await count(analytics, event)

    heroes, events = run(prepare)
    response = one_request(main.app, "GET", "/stats", wrong_answer="stats-error")
    body = response.json()
    if body != {"heroes": heroes, "events": events}:
        fail(f"GET /stats returned {body}; the databases hold {heroes} heroes (primary) and {events} events "
             "(analytics): count heroes with the PrimarySessionDep session and events with the AnalyticsSessionDep "
             "one", obj=endpoint_function(main.app, "GET", "/stats"), diagnosis="wrong-database")


@check("heroes-in-primary")
def test_heroes_in_primary(learner, database, models):
    main = learner.module("main")
    name = f"hero-{uuid.uuid4().hex[:8]}"
    one_request(main.app, "POST", "/heroes/", wrong_answer="endpoint-error", json={"name": name, "secret_name": "x"})

    async def where_is_it():
        found = {}
        for label, dep in (("primary", dependency(database)), ("analytics", dependency(database, "analytics"))):
            generator, session = await open_session(dep)
            found[label] = (await session.execute(select(models.Hero).where(models.Hero.name == name))).first()
            await generator.aclose()
        return found

    found = run(where_is_it)
    if not found["primary"]:
        fail("a hero created with POST /heroes/ is not in the primary database"
             + (" (it went to analytics)" if found["analytics"] else "")
             + ": the heroes endpoints take `session: PrimarySessionDep`",
             obj=endpoint_function(main.app, "POST", "/heroes/"), diagnosis="wrong-database")
