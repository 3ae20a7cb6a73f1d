"""Chapter 7's behavioural checks: the get_session factory, its engine cache and the two-database app.

No `from __future__ import annotations` here: FastAPI must see the learner's aliases.
Real engines on real aiosqlite. asyncpg is not installed, so no PostgreSQL engine is ever created:
URL upgrading is observed by wrapping create_async_engine, which then gets an in-memory SQLite URL.

Behaviour decides; where it fails, the failure points at the statement to change: the learner function
that produced a wrong URL (`traced`), the statement that created an engine (`created`), the session call
of an endpoint that read the wrong database or was not awaited (`session_calls`).

PYTEST_DONT_REWRITE: these checks fail through `fail()`, never a bare `assert`, so pytest need not rewrite
(and recompile) this module on every job.
"""

import ast
import asyncio
import functools
import gc
import importlib.util
import inspect
import linecache
import re
import sys
import threading
import typing
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
import sqlalchemy.ext.asyncio
import sqlalchemy.ext.asyncio.engine
from fastapi import params
from fastapi.testclient import TestClient
from sqlalchemy import make_url, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from grader.testing import (CheckFailed, attribute_at, check, endpoint_function, fail, learner_relative, paused_at,
                            request, statement_in, where)

pytestmark = pytest.mark.usefixtures("unsynced_sqlite")  # no fsync: see grader.testing
REAL_CREATE = sqlalchemy.ext.asyncio.create_async_engine
THREADS = 4
RACE_WINDOW = 0.2
"""Seconds, at most, an engine's creation waits for the other threads in cache-thread-safe (see `Race`)."""
SEEN: list = []
"""Engines of the sessions opened so far: `run` disposes them before its event loop ends."""
_FILES: dict[str, str | None] = {}


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


async def open_session(dep, database=None):
    """Run a dependency up to its yield; return (generator, session)."""
    generator = dep()
    if not hasattr(generator, "__anext__"):
        file, line = returned_by(database, dep)
        fail(f"calling the dependency get_session(...) returned gave {type(generator).__name__}, not an async "
             "generator: return a function defined with `async def` that yields the session", file=file, line=line,
             diagnosis="not-async-generator")
    try:
        session = await generator.__anext__()
    except Exception as exc:  # noqa: BLE001 - explain it at the learner's line
        fail(f"running the dependency from get_session(...) raised {type(exc).__name__}: {exc}", cause=exc, obj=dep,
             diagnosis="dependency-error")
    if not isinstance(session, AsyncSession):
        fail(f"the dependency yielded {type(session).__name__}, not an AsyncSession", obj=dep, diagnosis="wrong-type")
    SEEN.append(session.bind)
    return generator, session


def returned_by(database, dep):
    """Where get_session returned `dep` (the `return` statement), else get_session's `def`."""
    if database is None:
        return where(dep)
    with traced() as calls:
        database.get_session()
    first = next((c for c in calls if c.name == "get_session" and c.returned_at), None)
    return (first.file, first.returned_at) if first else where(database.get_session)


async def engine_of(dep, database=None):
    generator, session = await open_session(dep, database)
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


def dispose_all():
    """Close the pooled connections of every engine in the process (the learner's caches included)."""
    SEEN.extend(o for o in gc.get_objects() if isinstance(o, AsyncEngine))
    run(lambda: asyncio.sleep(0))


def url_text(url):
    return url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)


def text_of(value):
    """A URL's text, for a str or a URL; None for anything else."""
    return url_text(value) if isinstance(value, (str, URL)) else None


def bound_url(value):
    """The URL text of the database an engine, a session factory or a session is bound to; else None."""
    bind = value
    if isinstance(value, (sqlalchemy.ext.asyncio.async_sessionmaker, sqlalchemy.orm.sessionmaker)):
        bind = value.kw.get("bind")
    elif isinstance(value, (AsyncSession, sqlalchemy.orm.Session)):
        bind = value.bind
    url = getattr(bind, "url", None)
    return url_text(url) if url is not None else None


# -- where a value came from -----------------------------------------------------------------------------------------

def learner_file(filename):
    if filename not in _FILES:
        _FILES[filename] = learner_relative(filename)
    return _FILES[filename]


def learner_lines(frame):
    """(file, line) of each learner frame from `frame` outwards, innermost first."""
    found = []
    while frame is not None:
        file = learner_file(frame.f_code.co_filename)
        if file is not None:
            found.append((file, frame.f_lineno))
        frame = frame.f_back
    return found


@dataclass
class Call:
    """One call of a learner function (not a generator or coroutine) while `traced` ran."""

    name: str
    file: str
    arguments: dict
    caller: tuple | None
    returned_at: int | None = None
    value: Any = None
    order: int = 0


_SUSPENDING = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


@contextmanager
def traced():
    """Every call of a learner function in this thread while the block runs, in call order: its arguments,
    the learner line that called it, the line it returned from and the value."""
    calls, running, returned = [], {}, [0]
    previous = sys.getprofile()

    def profile(frame, event, arg):
        if event not in ("call", "return"):
            return
        code = frame.f_code
        file = learner_file(code.co_filename)
        if file is None or code.co_flags & _SUSPENDING:
            return
        if event == "call":
            names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
            caller = learner_lines(frame.f_back)
            record = Call(code.co_name, file, {n: frame.f_locals.get(n) for n in names}, caller[0] if caller else None)
            calls.append(record)
            running[id(frame)] = record
        elif id(frame) in running:
            record = running.pop(id(frame))
            returned[0] += 1
            record.returned_at, record.value, record.order = frame.f_lineno, arg, returned[0]

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(previous)


def produced(calls, wrong, given=None):
    """(file, line) of the `return` that produced the URL text `wrong`: the innermost learner function that
    was handed the URL (`given` or `wrong`) and gave back `wrong`, else the innermost that gave it back."""
    made = sorted((c for c in calls if c.returned_at and text_of(c.value) == wrong), key=lambda c: c.order)
    handed = [c for c in made if any(text_of(v) in (given, wrong) for v in c.arguments.values())]
    best = (handed or made or [None])[0]
    return (best.file, best.returned_at) if best else None


def misbound(calls, url):
    """(file, line) of the `return` of a learner function that was handed `url` and gave back an engine or a
    session factory bound to another database."""
    for c in sorted((c for c in calls if c.returned_at), key=lambda c: c.order):
        bound = bound_url(c.value)
        if bound is not None and bound != url and any(text_of(v) == url for v in c.arguments.values()):
            return c.file, c.returned_at
    return None


def first_of(*places):
    return next((p for p in places if p and p[0]), (None, None))


# -- engines created -------------------------------------------------------------------------------------------------

@pytest.fixture
def created(monkeypatch, database):
    """Wrap create_async_engine wherever the learner can reach it; record the URL of each call, and in
    `stacks` the learner lines that led to it (innermost first).

    `created.redirect = True` hands every engine an in-memory SQLite URL instead (for URLs of
    databases that are not here); `created.race` holds each creation open while other threads catch up.
    """
    class Recorder(list):
        redirect = False
        race = None
        stacks: list

    calls = Recorder()
    calls.stacks = []

    def spy(url, *args, **kwargs):
        calls.append(url_text(url))
        calls.stacks.append(learner_lines(sys._getframe(1)))
        if calls.race is not None:
            calls.race.creating()
        if calls.redirect:
            return REAL_CREATE("sqlite+aiosqlite://")
        return REAL_CREATE(url, *args, **kwargs)

    for module in (sqlalchemy.ext.asyncio, sqlalchemy.ext.asyncio.engine):
        monkeypatch.setattr(module, "create_async_engine", spy)
    for name, value in list(vars(database).items()):
        if value is REAL_CREATE:
            monkeypatch.setattr(database, name, spy)
    return calls


def created_at(created, index=-1, outermost=False):
    """(file, line) of the learner statement that created engine `index`: the innermost learner frame, or the
    outermost (the statement of the function the check called)."""
    stack = created.stacks[index] if created.stacks else []
    return (stack[-1] if outermost else stack[0]) if stack else (None, None)


# -- the checks ------------------------------------------------------------------------------------------------------

@check("module-imports")
def test_module_imports(learner):
    for name in ("database", "models", "events", "main"):
        learner.module(name)


@check("unknown-name-error")
def test_unknown_name_error(database):
    known = sorted(database.DATABASES)
    try:
        dep = database.get_session("no-such-database")
    except ValueError as exc:
        missing = [name for name in known if name not in str(exc)]
        if "no-such-database" not in str(exc) or missing:
            fail(f"the ValueError says {str(exc)!r}; it must name the unknown database and the known ones "
                 f"({', '.join(known)})", cause=exc, obj=database.get_session, diagnosis="vague-error")
        return
    except Exception as exc:  # noqa: BLE001 - any other error is the wrong one
        fail(f"get_session(\"no-such-database\") raised {type(exc).__name__}: {exc}; raise a ValueError that names "
             "the known databases", cause=exc, obj=database.get_session, diagnosis="wrong-error")
    try:
        run(lambda: dep().__anext__())
    except Exception as exc:  # noqa: BLE001 - the name was resolved too late
        outer = learner_lines_of(exc)
        fail("get_session(\"no-such-database\") returned a dependency without complaint; the error "
             f"({type(exc).__name__}) came only when the dependency ran, on the first request. Resolve the name in get_session itself, "
             "before defining the dependency, so that a typo fails when main.py is imported",
             file=outer[0] if outer else None, line=outer[1] if outer else None, obj=database.get_session,
             diagnosis="late-error")
    fail("get_session(\"no-such-database\") and its dependency ran without an error: an unknown name must raise "
         "ValueError", obj=database.get_session, diagnosis="no-error")


def learner_lines_of(exc):
    """The outermost learner frame of an exception's traceback: the statement of the function the check ran."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        file = learner_file(tb.tb_frame.f_code.co_filename)
        if file is not None:
            return file, tb.tb_lineno
        tb = tb.tb_next
    return found


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
        run(lambda: engine_of(dependency(database, name), database))
        if created == [expected]:
            continue
        got = created[0] if created else "no engine"
        with traced() as calls:
            run(lambda: engine_of(dependency(database, name), database))
        file, line = first_of(produced(calls, got, given), where(database.get_session))
        hint = " (the password became ***: use url.render_as_string(hide_password=False), not str(url))" \
            if "***" in got else ""
        fail(f"for the URL {given!r} the engine was created with {got!r}, expected {expected!r}{hint}: plain "
             "`sqlite` and `postgresql` URLs get the aiosqlite and asyncpg drivers; a URL naming its driver "
             "is kept", file=file, line=line, diagnosis="url-not-upgraded")


@check("same-url-shares-engine")
def test_same_url_shares_engine(monkeypatch, database, created):
    twin = add_database(monkeypatch, database, database.DATABASES["primary"]["url"],
                        database.DATABASES["primary"]["dev_url"])
    deps = [dependency(database), dependency(database), dependency(database, "primary"), dependency(database, twin)]
    engines = run(lambda: asyncio.gather(*(engine_of(d, database) for d in deps)))
    if len({id(e) for e in engines}) != 1:
        file, line = first_of(created_at(created), where(database.get_session))
        fail(f"four dependencies for the same database URL used {len({id(e) for e in engines})} different engines: "
             "this creates an engine for a URL that already has one. Cache one engine per resolved URL (a dict from "
             "URL to engine), and look it up before creating one", file=file, line=line,
             diagnosis="engine-not-shared")


@check("names-get-own-engines")
def test_names_get_own_engines(database):
    primary, analytics = dependency(database), dependency(database, "analytics")
    engines = run(lambda: asyncio.gather(engine_of(primary, database), engine_of(analytics, database)))
    if engines[0] is engines[1]:
        urls = [database.DATABASES[name]["url"] for name in ("primary", "analytics")]
        if urls[0] == urls[1]:
            file, line = first_of(config_entry(database, "analytics"), where(database.get_session))
            fail(f"`primary` and `analytics` got the same engine: DATABASES gives both the URL {urls[0]!r}; each "
                 "database needs its own", file=file, line=line, diagnosis="one-engine-for-all")
        with traced() as calls:
            run(lambda: engine_of(dependency(database, "analytics"), database))
        wanted = next((text_of(c.value) for c in calls if c.name == "database_url"), None)
        file, line = first_of(misbound(calls, wanted) if wanted else None, where(database.get_session))
        shared = statement_in(database.get_session, lambda node: isinstance(node, ast.Global))
        if shared is not None:
            names = ", ".join(f"`{n}`" for n in shared[2].names)
            fail(f"`primary` and `analytics` got the same engine: get_session keeps what it resolved in the module's "
                 f"global {names}, which each call overwrites, so every dependency reads the last one; keep it a "
                 "local that the inner dependency closes over", file=shared[0], line=shared[1],
                 diagnosis="one-engine-for-all")
        fail("`primary` and `analytics` got the same engine: key the cache by the database's URL, not by anything "
             "they share", file=file, line=line, diagnosis="one-engine-for-all")
    for name, engine in zip(("primary", "analytics"), engines):
        expected = make_url(database.DATABASES[name]["url"]).database
        if engine.url.database != expected:
            with traced() as calls:
                run(lambda: engine_of(dependency(database, *([] if name == "primary" else [name])), database))
            file, line = first_of(produced(calls, url_text(engine.url)), where(database.get_session))
            fail(f"the `{name}` session's engine opens {engine.url.database!r}, but DATABASES says {expected!r}",
                 file=file, line=line, diagnosis="wrong-database")


def config_entry(database, name):
    """(file, line) of `name`'s entry in the literal `DATABASES = {...}` of database.py, if it is one."""
    try:
        tree = ast.parse(Path(database.__file__).read_text())
    except (OSError, SyntaxError, TypeError):
        return None
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "DATABASES" and isinstance(node.value, ast.Dict):
            for key in node.value.keys:
                if isinstance(key, ast.Constant) and key.value == name:
                    return learner_file(database.__file__), key.lineno
    return None


@check("engines-lazy")
def test_engines_lazy(monkeypatch, learner, database, created):
    name = add_database(monkeypatch, database, f"sqlite:///lazy-{uuid.uuid4().hex[:8]}.db")
    dep = dependency(database, name)
    if created:
        file, line = first_of(created_at(created, 0, outermost=True), where(database.get_session))
        fail("get_session(name) created an engine straight away: create it the first time the dependency runs "
             "(an app may declare dependencies for databases it never uses)", file=file, line=line,
             diagnosis="engine-at-call")
    run(lambda: engine_of(dep, database))
    run(lambda: engine_of(dep, database))
    if len(created) != 1:
        file, line = first_of(created_at(created), where(database.get_session))
        fail(f"running the dependency twice created {len(created)} engines; create one on first use and reuse it",
             file=file, line=line, diagnosis="engine-not-shared")
    del created[:], created.stacks[:]
    imported_again(learner, created)
    if created:
        file, line = created_at(created, 0, outermost=True)
        fail(f"importing database.py created {len(created)} engine(s) ({', '.join(created)}): create each engine the "
             "first time a request needs it, not when the module loads", file=file, line=line,
             diagnosis="engine-at-import")


def imported_again(learner, created):
    """Run database.py again as a new module (the learner's own stays as it was), engines redirected."""
    spec = importlib.util.spec_from_file_location(f"_grader_database_{uuid.uuid4().hex[:8]}",
                                                  learner.path("database.py"))
    created.redirect = True
    try:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    except Exception:  # noqa: BLE001 - the module imported once (module-imports); what it creates is the question
        pass
    finally:
        created.redirect = False
    SEEN.clear()


@check("dev-url")
def test_dev_url(database):
    plain, dev = dependency(database), dependency(database, dev=True)
    engines = run(lambda: asyncio.gather(engine_of(plain, database), engine_of(dev, database)))
    expected = make_url(database.DATABASES["primary"]["dev_url"]).database
    if engines[1].url.database != expected or engines[0] is engines[1]:
        with traced() as calls:
            run(lambda: engine_of(dependency(database, dev=True), database))
        dropped = next((c.caller for c in calls[1:] if c.arguments.get("dev") is False and c.caller), None)
        file, line = first_of(dropped, dev_dropped(calls, url_text(engines[1].url)), where(database.get_session))
        if engines[1].url.database != expected:
            why = "this call leaves `dev` out, so the look-up gets the normal URL: pass it on, `dev=dev`" if dropped \
                else f"with dev=True use the entry's dev_url ({expected!r})"
            fail(f"get_session(dev=True) opened {engines[1].url.database!r}; {why}", file=file, line=line,
                 diagnosis="dev-ignored")
        fail("dev=True and dev=False share one engine: they are different URLs", file=file, line=line,
             diagnosis="dev-ignored")


def dev_dropped(calls, wrong):
    """Where dev=True got lost past the calls: a function given dev=True that returned the normal URL, or one
    given the dev URL that returned another database."""
    for c in sorted((c for c in calls if c.returned_at), key=lambda c: c.order):
        if c.arguments.get("dev") is True and text_of(c.value) == wrong:
            return c.file, c.returned_at
    dev_url = next((text_of(c.value) for c in calls if c.arguments.get("dev") is True and text_of(c.value)), None)
    return misbound(calls, dev_url) if dev_url else None


class Race:
    """cache-thread-safe's race window. An engine's creation waits until every other thread has caught up: it is
    creating an engine too, or waits on a lock of database.py's, or is done. A cache without a lock then lets every
    thread in; with one, the creation goes on as soon as the others queue behind it. RACE_WINDOW seconds at most,
    for the threads that wait on something the check cannot see."""

    def __init__(self, threads):
        self.threads = threads
        self.caught_up, self.blocked = set(), set()
        self.changed = threading.Condition()

    def _mark(self, marks, add):
        with self.changed:
            (marks.add if add else marks.discard)(threading.get_ident())
            self.changed.notify_all()

    def creating(self):
        self._mark(self.caught_up, True)
        with self.changed:
            self.changed.wait_for(lambda: len(self.caught_up | self.blocked) >= self.threads, RACE_WINDOW)

    def done(self):
        self._mark(self.caught_up, True)

    def waiting(self, lock, blocking, timeout):
        """Acquire `lock` as `lock.acquire(blocking, timeout)` would, counting the thread as caught up while it
        waits."""
        if not blocking:
            return lock.acquire(False)
        if lock.acquire(False):
            return True
        self._mark(self.blocked, True)
        try:
            return lock.acquire() if timeout is None or timeout < 0 else lock.acquire(True, timeout)
        finally:
            self._mark(self.blocked, False)


LOCKS = (type(threading.Lock()), type(threading.RLock()), threading.Semaphore, threading.Condition)


class Watched:
    """One of the learner's locks, with its waiters counted by a Race; it works as the lock it wraps."""

    def __init__(self, lock, race):
        self._lock, self._race = lock, race

    def acquire(self, blocking=True, timeout=-1):
        return self._race.waiting(self._lock, blocking, timeout)

    def release(self, *args):
        return self._lock.release(*args)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self._lock.release()

    def __getattr__(self, name):
        return getattr(self._lock, name)


@check("cache-thread-safe")
def test_cache_thread_safe(monkeypatch, database, created):
    name = add_database(monkeypatch, database, f"sqlite:///race-{uuid.uuid4().hex[:8]}.db")
    dep = dependency(database, name)
    created.race = race = Race(THREADS)  # a cache without a lock now lets every thread in
    for attribute, value in list(vars(database).items()):
        if isinstance(value, LOCKS):
            monkeypatch.setattr(database, attribute, Watched(value, race))
    start = threading.Barrier(THREADS)
    engines, errors = [], []

    def worker():
        try:
            start.wait(5)
            engines.append(asyncio.run(engine_of(dep)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            race.done()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    run(lambda: asyncio.sleep(0))  # dispose the engines the threads used
    if errors:
        raise errors[0]
    if len(created) != 1 or len({id(e) for e in engines}) != 1:
        file, line = first_of(created_at(created), where(database.get_session))
        fail(f"{THREADS} threads asking at once for a new database created {len(created)} engines: check and fill "
             "the cache inside `with _lock:` (a threading.Lock), so only the first thread creates the engine",
             file=file, line=line, diagnosis="race")


# -- the transaction: the dependency owns it ------------------------------------------------------------------------

def scratch_database(monkeypatch, database, events):
    """A new SQLite file, with the event table, added to DATABASES; returns (its name, a function that lists
    the event names it holds, read past the learner's code)."""
    path = Path(f"txn-{uuid.uuid4().hex[:8]}.db").resolve()
    name = add_database(monkeypatch, database, f"sqlite:///{path.name}")
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        events.Event.__table__.create(engine)
    finally:
        engine.dispose()

    def names():
        engine = sqlalchemy.create_engine(f"sqlite:///{path}")
        try:
            with engine.connect() as connection:
                return [row.name for row in connection.execute(select(events.Event.__table__))]
        finally:
            engine.dispose()
    return name, names


@check("commits-after-yield")
def test_commits_after_yield(monkeypatch, learner, database):
    events = learner.module("events")
    name, names = scratch_database(monkeypatch, database, events)
    dep = dependency(database, name)

    async def endpoint_done():
        generator, session = await open_session(dep, database)
        session.add(events.Event(name="kept"))
        await session.flush()  # what the endpoints do: flush, never commit
        paused = paused_at(generator, dep)
        try:
            await generator.__anext__()
        except StopAsyncIteration:
            return paused
        fail("the dependency yielded a second time: yield the session once, inside `async with`", file=paused[0],
             line=paused[1], diagnosis="yields-twice")

    file, line = run(endpoint_done)
    if "kept" not in names():
        fail("an endpoint added a row and flushed it, and after the dependency finished the row was not in the "
             "database: the endpoints only flush, so the dependency must commit once the endpoint is done. Write "
             "`await session.commit()` right after the `yield`", file=file, line=line, diagnosis="no-commit")


@check("rolls-back-on-error")
def test_rolls_back_on_error(monkeypatch, learner, database, session_calls):
    events = learner.module("events")
    name, names = scratch_database(monkeypatch, database, events)
    dep = dependency(database, name)
    error = RuntimeError("the endpoint failed halfway")

    async def endpoint_failed():
        generator, session = await open_session(dep, database)
        session.add(events.Event(name="lost"))
        await session.flush()
        paused = paused_at(generator, dep)
        try:
            await generator.athrow(error)
        except RuntimeError as exc:
            return paused, exc is error
        except StopAsyncIteration:
            return paused, False
        return paused, False

    (file, line), raised = run(endpoint_failed)
    if "lost" in names():
        commit = next((c for c in session_calls if c.method == "commit"), None)
        fail("an endpoint added a row and then raised an error, and the row was saved: the dependency committed "
             "although the endpoint failed. Commit only after the `yield` returns normally; on an error, "
             "`await session.rollback()` and `raise`", file=commit.file if commit else file,
             line=commit.line if commit else line, diagnosis="committed-on-error")
    if not raised:
        handler = statement_in(dep, lambda node: isinstance(node, ast.ExceptHandler))
        fail("an endpoint raised an error, and the dependency did not let it through: FastAPI must see the error "
             "to answer 500. After `await session.rollback()`, write `raise`",
             file=handler[0] if handler else file, line=handler[1] if handler else line, diagnosis="swallowed-error")


@check("readable-after-commit")
def test_readable_after_commit(monkeypatch, learner, database):
    """An object the endpoint saved can still be read once the dependency has committed and closed its session
    (a background task, say, runs then): the session factory keeps values on commit, as in chapter 6."""
    events = learner.module("events")
    name, _names = scratch_database(monkeypatch, database, events)
    dep = dependency(database, name)

    async def endpoint_done():
        generator, session = await open_session(dep, database)
        event = events.Event(name="page-view")
        session.add(event)
        await session.flush()
        try:
            await generator.__anext__()
        except StopAsyncIteration:
            pass
        return event

    event = run(endpoint_done)
    try:
        event.name
    except Exception as exc:  # noqa: BLE001 - the failure mode is the lesson
        file, line = maker_line(database)
        fail(f"an object saved through the dependency could not be read once it had committed and closed the "
             f"session ({type(exc).__name__}): the sessions expire every attribute on commit, and the read would "
             "need a database trip that cannot happen there (a background task would fail the same way). Make the "
             "session factory with `expire_on_commit=False`", file=file, line=line, diagnosis="expire-on-commit")


ALIAS_TABLES = {"PrimarySessionDep": ("primary", "models", "Hero"), "AnalyticsSessionDep": ("analytics", "events", "Event")}
CLASH_ID = 990_001


def declared_scope(alias):
    """The `scope` of the Depends an alias declares ("request" when none is given), or None if it has none."""
    found = next((m for m in typing.get_args(alias)[1:] if isinstance(m, params.Depends)), None)
    return (getattr(found, "scope", None) or "request") if found is not None else None


@check("commit-before-response")
def test_commit_before_response(learner, database):
    """Each alias's commit runs before the response: a commit that fails answers 500, not 200."""
    from fastapi import FastAPI

    late = []
    for alias, (name, module, model_name) in ALIAS_TABLES.items():
        model = getattr(learner.module(module), model_name)
        path = sqlite_file(database, name)
        if path is None or not hasattr(database, alias):
            continue
        engine = sqlalchemy.create_engine(f"sqlite:///{path}")
        table = model.__table__
        try:
            table.create(engine, checkfirst=True)
            with engine.begin() as connection:  # the row the endpoint's insert will clash with
                connection.execute(table.delete().where(table.c.id == CLASH_ID))
                connection.execute(table.insert(), [{"id": CLASH_ID, "name": "Original", "secret_name": "o"}
                                                    if model_name == "Hero" else {"id": CLASH_ID, "name": "original"}])
            app = FastAPI()
            session_alias = getattr(database, alias)

            @app.post("/clash")
            async def clash(session: session_alias):
                session.add(model(id=CLASH_ID, name="Clash", secret_name="c") if model_name == "Hero"
                            else model(id=CLASH_ID, name="clash"))
                return {"saved": True}  # no flush: the INSERT fails in the dependency's commit

            with TestClient(app, raise_server_exceptions=False) as client:
                status = client.post("/clash").status_code
            dispose_all()
        finally:
            with engine.begin() as connection:
                connection.execute(table.delete().where(table.c.id == CLASH_ID))
            engine.dispose()
        if status < 500:
            late.append((alias, status))
    if not late:
        return
    unscoped = [(alias, status) for alias, status in late if declared_scope(getattr(database, alias)) != "function"]
    if unscoped:
        file, line = attribute_at(database, unscoped[0][0])
        names = " and ".join(f"`{alias}`" for alias, _ in unscoped)
        fail(f"a commit failed, but the client had already received {unscoped[0][1]}: {names} "
             f"{'declare' if len(unscoped) > 1 else 'declares'} `Depends(...)` without `scope=\"function\"`, so "
             "FastAPI runs the dependency's commit after sending the response. Add `scope=\"function\"` to the "
             "Depends", file=file, line=line, diagnosis="commit-after-response")
    dep = next(m for m in typing.get_args(getattr(database, late[0][0]))[1:] if isinstance(m, params.Depends)).dependency
    handler = statement_in(dep, lambda node: isinstance(node, ast.ExceptHandler))
    file, line = handler[:2] if handler else where(dep)
    fail(f"a commit failed, but the client got {late[0][1]}: the dependency caught the error and did not raise it "
         "again. After `await session.rollback()`, write `raise`", file=file, line=line, diagnosis="swallowed-error")


# -- the app, started on fresh databases -----------------------------------------------------------------------------

def fresh_databases(database):
    """Close every engine's connections, then delete the SQLite files DATABASES names in the submission
    folder: the app starts as it would on a new machine."""
    dispose_all()
    here = Path.cwd().resolve()
    for entry in list(database.DATABASES.values()):
        for key in ("url", "dev_url"):
            try:
                url = make_url(entry[key])
            except Exception:  # noqa: BLE001 - the other checks judge the config
                continue
            if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
                continue
            path = Path(url.database).resolve()
            for file in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
                if file.is_relative_to(here) and file.is_file():
                    file.unlink()


_STARTS: dict = {}
"""What the app's first start, on fresh databases, left: the tables of each database and the calls of
create_db_and_tables its lifespan made. The checks that serve requests share it (creating tables in new
files is the slow part), so only the first of them deletes the files."""


@contextmanager
def app_running(main, database, needs):
    """The learner's app as a TestClient, its lifespan run; the first time, on fresh databases. Fails at the
    lifespan if it raises, and where the tables should have been made if a table of `needs` ({database: table})
    was missing after the first start. Yields (client, the tables of each database after the first start)."""
    first = id(main.app) not in _STARTS
    if first:
        fresh_databases(database)
    try:
        with counted(main, database, "create_db_and_tables") as calls, TestClient(main.app) as client:
            if first:
                _STARTS[id(main.app)] = ({name: tables(database, name) for name in ("primary", "analytics")},
                                         None if calls is None else list(calls))
            found, made = _STARTS[id(main.app)]
            missing = [f"the {name} database has no `{table}` table" for name, table in needs.items()
                       if table not in found[name]]
            if missing:
                no_tables(main, database, missing, made)
            yield client, found
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - the app's lifespan raised
        fail(f"starting or stopping the app (its lifespan) raised {type(exc).__name__}: {str(exc)[:400]}",
             cause=exc, diagnosis="lifespan-error")


def no_tables(main, database, missing, calls):
    lifespan = getattr(main, "lifespan", None)
    if calls == [] and lifespan is not None:
        fail(f"after the app started on fresh databases, {' and '.join(missing)}: the lifespan never calls "
             "`create_db_and_tables()`; await it before the `yield`", obj=lifespan, diagnosis="tables-missing")
    fail(f"after the app started on fresh databases, {' and '.join(missing)}: `create_db_and_tables()` must create "
         "the tables in every database of DATABASES (the grader does not create them for you)",
         obj=getattr(database, "create_db_and_tables", None) or lifespan or main.app, diagnosis="tables-missing")


def sqlite_file(database, name):
    """The file of the SQLite database `name` of DATABASES (its `url`), or None if it is not a file."""
    try:
        url = make_url(database.DATABASES[name]["url"])
    except Exception:  # noqa: BLE001 - the other checks judge the config
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


def named(database, name):
    return dependency(database, *([] if name == "primary" else [name]))


@contextmanager
def direct(database, name):
    """A plain connection to the database `name`, past the learner's code: a synchronous engine on its SQLite
    file (no event loop to share with the app), else a session from the learner's own dependency."""
    path = sqlite_file(database, name)
    if path is not None:
        engine = sqlalchemy.create_engine(f"sqlite:///{path}")
        try:
            with engine.begin() as connection:
                yield connection
        finally:
            engine.dispose()
        return

    class Through:
        def execute(self, statement, *args):
            async def go():
                generator, session = await open_session(named(database, name), database)
                result = await session.execute(statement, *args)
                rows = result.all() if result.returns_rows else None
                await session.commit()
                await generator.aclose()
                return rows
            return run(go)
    yield Through()


def tables(database, name):
    path = sqlite_file(database, name)
    if path is None:
        return run(lambda: tables_in(named(database, name), database))
    if not path.exists():
        return set()
    with direct(database, name) as connection:
        return set(sqlalchemy.inspect(connection).get_table_names())


async def tables_in(dep, database):
    generator, session = await open_session(dep, database)
    connection = await session.connection()
    names = await connection.run_sync(lambda c: set(sqlalchemy.inspect(c).get_table_names()))
    await generator.aclose()
    return names


@contextmanager
def counted(main, database, name):
    """Count the calls of database.`name` made through main.py or database.py while the block runs (None:
    there is no such function)."""
    original = getattr(database, name, None)
    if not callable(original):
        yield None
        return
    calls = []
    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)  # where() still finds the learner's def through it
        async def counting(*args, **kwargs):
            calls.append(args)
            return await original(*args, **kwargs)
    else:
        @functools.wraps(original)
        def counting(*args, **kwargs):
            calls.append(args)
            return original(*args, **kwargs)
    places = [(module, key) for module in (main, database) for key, value in list(vars(module).items())
              if value is original]
    for module, key in places:
        setattr(module, key, counting)
    try:
        yield calls
    finally:
        for module, key in places:
            setattr(module, key, original)


def factory_as_dependency(main, database, routes):
    """Fail at the parameter of an endpoint whose Depends gets `get_session` itself, not what it returns."""
    for method, path in routes:
        endpoint = endpoint_function(main.app, method, path)
        if endpoint is None:
            continue
        try:
            hints = typing.get_type_hints(endpoint, include_extras=True)
        except Exception:  # noqa: BLE001 - FastAPI would have failed at import
            continue
        signature = inspect.signature(endpoint)
        for name, parameter in signature.parameters.items():
            marks = list(getattr(hints.get(name), "__metadata__", ())) + [parameter.default]
            if any(isinstance(m, params.Depends) and m.dependency is database.get_session for m in marks):
                file, line = parameter_at(endpoint, name)
                fail(f"{method} {path} (`{endpoint.__name__}`) takes `{name}` from `Depends(get_session)`: the factory "
                     "itself, so FastAPI reads `database` and `dev` from the query string and hands the endpoint a "
                     "function, not a session. Use `PrimarySessionDep`, whose Depends gets the dependency that "
                     "`get_session()` returns", file=file, line=line, diagnosis="factory-not-called")


def parameter_at(fn, name):
    file, line = where(fn)
    try:
        lines, start = inspect.getsourcelines(fn)
        tree = ast.parse("".join(lines).lstrip() if lines[0][:1].isspace() else "".join(lines))
    except (OSError, TypeError, SyntaxError):
        return file, line
    node = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None)
    args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs] if node else []
    found = next((a.lineno for a in args if a.arg == name), None)
    return (file, start + found - 1) if found else (file, line)


@dataclass
class SessionCall:
    """A call the learner's code made on an AsyncSession: where, which method, on which database, of which
    tables, and the coroutine it returned."""

    file: str
    line: int
    method: str
    database: str | None
    tables: set = field(default_factory=set)
    coroutine: Any = None

    def awaited(self):
        return not (inspect.iscoroutine(self.coroutine)
                    and inspect.getcoroutinestate(self.coroutine) == inspect.CORO_CREATED)


SESSION_METHODS = ("exec", "execute", "scalar", "scalars", "get", "delete", "commit", "refresh", "flush")


@pytest.fixture
def session_calls(monkeypatch):
    """Every call of an AsyncSession method made directly by the learner's code while the test runs."""
    from sqlmodel.ext.asyncio.session import AsyncSession as SQLModelAsyncSession

    seen = []
    for cls in (AsyncSession, SQLModelAsyncSession):
        for method in SESSION_METHODS:
            if method in vars(cls):
                monkeypatch.setattr(cls, method, _recording(vars(cls)[method], method, seen))
    yield seen
    for call in seen:
        if not call.awaited():
            call.coroutine.close()


def _recording(original, method, seen):
    def wrapper(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        frame = sys._getframe(1)
        file = learner_file(frame.f_code.co_filename)
        if file is not None:
            url = getattr(getattr(self, "bind", None), "url", None)
            seen.append(SessionCall(file, frame.f_lineno, method, url.database if url is not None else None,
                                    tables_of(args[0]) if args else set(), result))
        return result
    return wrapper


def tables_of(statement):
    table = getattr(statement, "__table__", None)
    if table is not None:
        return {table.name}
    try:
        return {getattr(f, "name", None) for f in statement.get_final_froms()} - {None}
    except AttributeError:
        return set()


def explained(failure, database, seen):
    """A request's crash, explained where the code can be fixed: a session call that was never awaited, or
    a session factory that expires objects on commit. Else the failure as it was."""
    lost = next((c for c in seen if not c.awaited()), None)
    if lost is not None:
        call = called_as(lost)
        return CheckFailed(f"`{call}` is not awaited: on an AsyncSession it returns a coroutine, not a result, so what "
                           f"follows fails ({failure.message.split(' crashed with ')[-1][:200]}); write "
                           f"`await {call}`", file=lost.file, line=lost.line, diagnosis="not-awaited")
    if "MissingGreenlet" in failure.message or "greenlet_spawn" in failure.message:
        generator, session = run(lambda: open_and_keep(dependency(database), database))
        if session.sync_session.expire_on_commit:
            file, line = maker_line(database)
            return CheckFailed("the sessions get_session yields expire every object on commit (`expire_on_commit` "
                               "is True by default), so FastAPI reading the saved hero for the response needs a "
                               "database trip that nothing can await there (MissingGreenlet): make the session "
                               "factory with `expire_on_commit=False`", file=file, line=line,
                               diagnosis="expire-on-commit")
    return failure


def called_as(call):
    """How the learner's line spells a session call: `primary.exec(...)`."""
    text = linecache.getline(str(Path.cwd() / call.file), call.line)
    found = re.search(rf"([A-Za-z_][\w.]*)\.{call.method}\(", text)
    return f"{found.group(1) if found else 'session'}.{call.method}(...)"


async def open_and_keep(dep, database):
    generator, session = await open_session(dep, database)
    await generator.aclose()
    return generator, session


MAKERS = ("sqlalchemy.ext.asyncio.async_sessionmaker", "sqlalchemy.orm.sessionmaker",
          "sqlalchemy.ext.asyncio.AsyncSession", "sqlmodel.ext.asyncio.session.AsyncSession")


def maker_line(database):
    """(file, line) of the session factory (or session) database.py makes without expire_on_commit=False."""
    from grader.static import Source, argument, calls_to  # libcst: imported only to explain this failure

    path = Path(database.__file__)
    try:
        src = Source.from_text(path.read_text(), path.name)
    except (OSError, SyntaxError):
        return where(database.get_session)
    for call in calls_to(src, MAKERS):
        value = argument(call, "expire_on_commit")
        if value is None or src.code(value) != "False":
            return learner_file(str(path)), src.line(call)
    return where(database.get_session)


def served(client, database, seen, method, path, **kwargs):
    """One request; a crash is explained (`explained`), a status other than 200 fails at the endpoint."""
    try:
        return request(client, method, path, expect=200, diagnosis="endpoint-error", wrong_answer="endpoint-error",
                       **kwargs)
    except CheckFailed as failure:
        if failure.diagnosis != "endpoint-error" or " crashed with " not in failure.message:
            raise
        raise explained(failure, database, seen) from None


STATS_ROUTES = [("GET", "/stats")]
HERO_ROUTES = [("POST", "/heroes/"), ("GET", "/heroes/"), ("GET", "/heroes/{hero_id}"),
               ("PATCH", "/heroes/{hero_id}"), ("DELETE", "/heroes/{hero_id}")]


def rows_of(database, name, model):
    with direct(database, name) as connection:
        return [dict(r._mapping) for r in connection.execute(select(model.__table__))]


@check("stats-reads-both")
def test_stats_reads_both(learner, database, models, session_calls):
    main = learner.module("main")
    factory_as_dependency(main, database, STATS_ROUTES)
    hero, event = models.Hero.__table__, learner.module("events").Event.__table__
    with app_running(main, database, {"primary": "hero", "analytics": "event"}) as (client, found):
        # Heroes live in primary and events in analytics; a decoy of each in the other database, if it has the table.
        with direct(database, "primary") as connection:
            connection.execute(hero.insert(), [{"name": "Deadpond", "secret_name": "Dive"},
                                               {"name": "Rusty-Man", "secret_name": "Tommy"}])
            if "event" in found["primary"]:
                connection.execute(event.insert(), [{"name": "decoy"}])
        with direct(database, "analytics") as connection:
            connection.execute(event.insert(), [{"name": f"view-{n}"} for n in range(3)])
            if "hero" in found["analytics"]:
                connection.execute(hero.insert(), [{"name": "Decoy", "secret_name": "Nobody"}])
        expected = {"heroes": len(rows_of(database, "primary", models.Hero)),
                    "events": len(rows_of(database, "analytics", learner.module("events").Event))}
        body = served(client, database, session_calls, "GET", "/stats").json()
    if body == expected:
        return
    homes = {"hero": make_url(database.DATABASES["primary"]["url"]).database,
             "event": make_url(database.DATABASES["analytics"]["url"]).database}
    astray = next((c for c in session_calls for t in c.tables if t in homes and c.database != homes[t]), None)
    if astray is not None:
        table = next(t for t in astray.tables if t in homes)
        fail(f"GET /stats returned {body}: this counts the `{table}` table with a session on {astray.database!r}, "
             f"but {table} rows live in {homes[table]!r}: count heroes with the PrimarySessionDep session and events "
             "with the AnalyticsSessionDep one", file=astray.file, line=astray.line, diagnosis="wrong-database")
    fail(f"GET /stats returned {body}; the databases hold {expected['heroes']} heroes (primary) and "
         f"{expected['events']} events (analytics): return "
         "`{\"heroes\": ..., \"events\": ...}`, counting heroes with the PrimarySessionDep session and events with "
         "the AnalyticsSessionDep one", obj=endpoint_function(main.app, "GET", "/stats"), diagnosis="wrong-database")


@check("heroes-in-primary")
def test_heroes_in_primary(learner, database, models, session_calls):
    main = learner.module("main")
    factory_as_dependency(main, database, HERO_ROUTES)
    one = "/heroes/{hero_id}"
    with app_running(main, database, {"primary": "hero"}) as (client, found):
        kept = served(client, database, session_calls, "POST", "/heroes/", json={"name": "Kept", "secret_name": "k"})
        gone = served(client, database, session_calls, "POST", "/heroes/", json={"name": "Gone", "secret_name": "g"})
        kept, gone = kept.json(), gone.json()
        read = served(client, database, session_calls, "GET", f"/heroes/{kept['id']}").json()
        if read.get("name") != "Kept":
            fail(f"GET /heroes/{kept['id']} returned {read}, not the hero POST created", diagnosis="endpoint-error",
                 obj=endpoint_function(main.app, "GET", one))
        listed = served(client, database, session_calls, "GET", "/heroes/").json()
        if {kept["id"], gone["id"]} - {h.get("id") for h in listed}:
            fail("GET /heroes/ does not list the heroes POST created", diagnosis="endpoint-error",
                 obj=endpoint_function(main.app, "GET", "/heroes/"))
        served(client, database, session_calls, "PATCH", f"/heroes/{kept['id']}", json={"age": 30})
        served(client, database, session_calls, "DELETE", f"/heroes/{gone['id']}")
        primary = {h["name"]: h["age"] for h in rows_of(database, "primary", models.Hero)}
        analytics = {h["name"] for h in rows_of(database, "analytics", models.Hero)} if "hero" in found["analytics"] \
            else set()
    if "Kept" not in primary:
        fail("a hero created with POST /heroes/ is not in the primary database"
             + (" (it went to analytics)" if "Kept" in analytics else "")
             + ": the heroes endpoints take `session: PrimarySessionDep`",
             obj=endpoint_function(main.app, "POST", "/heroes/"), diagnosis="wrong-database")
    if primary["Kept"] != 30:
        fail("PATCH /heroes/{id} did not change the hero in the primary database: it takes `session: "
             "PrimarySessionDep`", obj=endpoint_function(main.app, "PATCH", one), diagnosis="wrong-database")
    if "Gone" in primary:
        fail("DELETE /heroes/{id} left the hero in the primary database: it takes `session: PrimarySessionDep`",
             obj=endpoint_function(main.app, "DELETE", one), diagnosis="wrong-database")
