"""What the learner's tests do to the app while they run: a pytest plugin for `grader.mutation.run_tests`.

`Observer` watches one run of the learner's tests, without changing what the app or the tests see:

- every request a test sends through a `TestClient` (`Request`): the learner's line that sent it,
  the answer, the route that answered it, whether `get_session` was overridden, the sessions the
  app's endpoint used and any commit the learner's code made while the request ran;
- the sessions and engines the learner's code creates, and where (`SessionSeen`, `EngineSeen`);
- the writes that reach database.py's engine: the app's real database;
- the learner's lines that set or remove the override of `get_session`;
- the tests' reads of the app's source files (a test must send requests, not read the code);
- the overrides left in place when the tests end.

It keeps plain data only (strings, numbers and dataclasses of them): the run happens in a process
of its own (`run_tests` forks), so `snapshot()` sends what it saw back as JSON data there, and
`restore()` reads it into the caller's observer.
"""

from __future__ import annotations

import contextvars
import importlib
import inspect
import os
import sys
import weakref
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

APP_SOURCES = ("main.py", "database.py", "models.py")
WRITES = ("insert", "update", "delete", "replace")
BODY_LIMIT = 2000


@dataclass
class Site:
    """A line of the learner's test file."""

    file: str
    line: int


@dataclass
class Request:
    test: str
    """The node id of the test that sent it."""
    phase: str
    """`setup`, `call` or `teardown`: a fixture may send requests too."""
    index: int
    """Its place among the requests of its test (0 for the first)."""
    number: int
    """Its place among all the requests of the run (an `Observer.requests` index)."""
    method: str
    path: str
    query: str
    site: Site | None = None
    """The learner's line that sent it: in the test function itself when the stack goes through it."""
    status: int | None = None
    body: str = ""
    route: str | None = None
    """The name of the endpoint function whose route matched; None when no route matched."""
    route_path: str | None = None
    method_allowed: bool = True
    """False when a route matched the path but not the method (FastAPI answers 405)."""
    overridden: bool | None = None
    """Whether app.dependency_overrides replaced get_session when the request ran (None: no such app)."""
    override: Site | None = None
    """Where the function that replaced get_session is defined (None: not in the learner's file)."""
    sessions: list[int] = field(default_factory=list)
    """The sessions (`Observer.sessions` indexes) that began a transaction while the request ran."""
    unclosed: list[int] = field(default_factory=list)
    """Those of `sessions` still open when the response was complete."""
    commits: list[Site] = field(default_factory=list)
    """Commits the learner's own code made while the request ran (the endpoints' commits are not here)."""
    error: str = ""
    """The exception the app raised, as `Type: message`."""

    @property
    def shown(self) -> str:
        return f"{self.method} {self.path}" + (f"?{self.query}" if self.query else "")

    @property
    def name(self) -> str:
        return self.test.rsplit("::", 1)[-1]


@dataclass
class SessionSeen:
    created: Site | None
    """Where the learner's code created it (None: the app's or a library's code)."""
    in_request: int | None
    """The request it was created during (an `Observer.requests` index), None if outside any."""
    engine: int | None = None
    """Its engine (an `Observer.engines` index), once it began a transaction."""
    closed: bool = False
    requests: list[int] = field(default_factory=list)


@dataclass
class EngineSeen:
    created: Site | None
    real: bool
    """database.py's `engine`: the app's real database."""
    tests: list[str] = field(default_factory=list)
    """The tests whose requests used it, in order."""
    memory: bool = False
    """Its URL is an in-memory SQLite database."""
    pool: str = ""
    """The class name of its pool (`StaticPool` shares one connection, so one in-memory database)."""


@dataclass
class Write:
    statement: str
    request: int | None
    site: Site | None
    """The learner's line on the stack when the write happened (outside requests: their own code)."""


@dataclass
class Change:
    """The learner's code set or removed the override of get_session."""

    site: Site | None
    removed: bool
    before: int
    """How many requests had been sent before it."""
    test: str


_CURRENT: contextvars.ContextVar[int | None] = contextvars.ContextVar("chapter5_request", default=None)
_ACTIVE: list[Observer] = []
_HOOKED = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _ACTIVE:
        try:
            _ACTIVE[-1].opened(args)
        except Exception:  # noqa: BLE001 - watching must never break the learner's own `open`
            pass


class Observer:
    """A pytest plugin: pass it to `run_tests(..., plugins=[observer])`, then read its lists."""

    def __init__(self, folder: Path, tests: Iterable[str]):
        self.folder = Path(folder).resolve()
        self.tests = {Path(t).as_posix() for t in tests}
        self.requests: list[Request] = []
        self.sessions: list[SessionSeen] = []
        self.engines: list[EngineSeen] = []
        self.writes: list[Write] = []
        self.changes: list[Change] = []
        self.source_reads: list[tuple[Site, str, str]] = []
        """(the learner's line, the app file it opened, the test)."""
        self.left_over: dict[str, tuple[str, str | None, int | None]] = {}
        """app.dependency_overrides after the tests: {key name: (function name, file, line)}."""
        self.routes: list[tuple[tuple[str, ...], str, str]] = []
        """The app's routes: (methods, path, endpoint function name)."""
        self._test = ""
        self._phase = ""
        self._test_code: Any = None
        self._session_ids: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._engine_ids: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._files: dict[str, str | None] = {}
        self._places: dict[tuple[Any, Any], tuple[str | None, int | None]] = {}
        """Where each function (by its code) is defined: see `_defined_at`."""
        self._undo: list[Any] = []
        self._key: Any = None
        self._real: Any = None
        self._app: Any = None

    # -- where in the learner's code ---------------------------------------------------------------------------
    def _learner_file(self, filename: str) -> str | None:
        if filename not in self._files:
            rel = None
            if filename.endswith(".py") and not filename.startswith("<"):
                try:
                    rel = Path(filename).resolve().relative_to(self.folder).as_posix()
                except ValueError:
                    rel = None
            self._files[filename] = rel if rel in self.tests or (rel or "").startswith("tests/") else None
        return self._files[filename]

    def site(self, *, in_test: bool = False, frame: Any = None) -> Site | None:
        """The innermost learner line on this thread's stack; with `in_test`, the test function's own line
        when the stack goes through it."""
        frame = frame or sys._getframe(1)
        innermost = None
        while frame is not None:
            rel = self._learner_file(frame.f_code.co_filename)
            if rel is not None:
                here = Site(rel, frame.f_lineno)
                if not in_test:
                    return here
                innermost = innermost or here
                if frame.f_code is self._test_code:
                    return here
            frame = frame.f_back
        return innermost

    # -- pytest hooks ------------------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: Any) -> None:
        global _HOOKED
        if not _HOOKED:
            sys.addaudithook(_audit)
            _HOOKED = True
        _ACTIVE.append(self)
        self._patch()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: Any, exitstatus: Any) -> None:
        overrides = getattr(self._app, "dependency_overrides", None)
        for key, fn in dict(overrides or {}).items():
            self.left_over[getattr(key, "__name__", repr(key))] = (getattr(fn, "__name__", repr(fn)),
                                                                   *self._defined_at(fn))
        self.close()

    def snapshot(self) -> dict[str, Any]:
        """What the observer saw, as JSON data (called in the run's process, as `run_tests`'s `after`)."""
        return {"requests": [asdict(r) for r in self.requests], "sessions": [asdict(x) for x in self.sessions],
                "engines": [asdict(e) for e in self.engines], "writes": [asdict(w) for w in self.writes],
                "changes": [asdict(c) for c in self.changes],
                "source_reads": [[asdict(site), file, test] for site, file, test in self.source_reads],
                "left_over": self.left_over, "routes": self.routes}

    def restore(self, data: dict[str, Any]) -> None:
        """Read back a `snapshot()` sent by the run's process (nothing if it sent none)."""
        def site(value: Any) -> Site | None:
            return Site(**value) if isinstance(value, dict) else None

        def request(d: dict[str, Any]) -> Request:
            return Request(**{**d, "site": site(d.get("site")), "override": site(d.get("override")),
                              "commits": [site(c) for c in d.get("commits", [])]})

        self.requests = [request(d) for d in data.get("requests", [])]
        self.sessions = [SessionSeen(**{**d, "created": site(d.get("created"))}) for d in data.get("sessions", [])]
        self.engines = [EngineSeen(**{**d, "created": site(d.get("created"))}) for d in data.get("engines", [])]
        self.writes = [Write(**{**d, "site": site(d.get("site"))}) for d in data.get("writes", [])]
        self.changes = [Change(**{**d, "site": site(d.get("site"))}) for d in data.get("changes", [])]
        self.source_reads = [(Site(**s), f, t) for s, f, t in data.get("source_reads", [])]
        self.left_over = {k: tuple(v) for k, v in data.get("left_over", {}).items()}
        self.routes = [(tuple(m), path, name) for m, path, name in data.get("routes", [])]

    def close(self) -> None:
        """Stop watching (again: harmless); the run's caller calls it too, in case pytest itself broke."""
        self._unpatch()
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self._real is not None:
            self._real.dispose()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> None:
        self._test = item.nodeid
        function = getattr(item, "obj", None)
        function = getattr(function, "__func__", function)
        self._test_code = getattr(inspect.unwrap(function), "__code__", None) if callable(function) else None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: Any) -> None:
        self._phase = "setup"

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: Any) -> None:
        self._phase = "call"

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: Any, nextitem: Any) -> None:
        self._phase = "teardown"

    # -- instruments -------------------------------------------------------------------------------------------
    def _patch(self) -> None:
        import sqlalchemy.orm
        from sqlalchemy import event
        from sqlalchemy.engine.interfaces import Dialect
        from starlette.testclient import _TestClientTransport

        database = importlib.import_module("database")
        main = importlib.import_module("main")
        self._key, self._real, self._app = database.get_session, database.engine, main.app
        self.routes = [(tuple(sorted(getattr(r, "methods", ()) or ())), r.path, getattr(r.endpoint, "__name__", ""))
                       for r in main.app.routes if getattr(getattr(r, "endpoint", None), "__module__", "") == "main"]
        observer = self

        def patch(owner: Any, name: str, make: Any) -> None:
            original = owner.__dict__[name]
            setattr(owner, name, make(original))
            self._undo.append(lambda: setattr(owner, name, original))

        def listen(target: Any, name: str, fn: Any) -> None:
            event.listen(target, name, fn)
            self._undo.append(lambda: event.remove(target, name, fn))

        # Every create_engine() ends with its dialect's engine_created hook: watched there, not by wrapping
        # Engine.__init__, whose signature create_engine reads to know which options it accepts (`echo=`).
        patch(Dialect, "engine_created", lambda original: classmethod(lambda cls, engine: (
            original.__func__(cls, engine), observer._engine(engine, created=observer.site()))[0]))
        patch(sqlalchemy.orm.Session, "__init__", lambda original: lambda session, *a, **k: (
            original(session, *a, **k), observer._session(session, created=observer.site()))[0])

        def closing(original: Any) -> Any:
            def close(session: Any, *args: Any, **kwargs: Any) -> Any:
                seen = observer._session_ids.get(session)
                if seen is not None:
                    observer.sessions[seen].closed = True
                return original(session, *args, **kwargs)
            return close

        patch(sqlalchemy.orm.Session, "close", closing)
        patch(_TestClientTransport, "handle_request", self._handle_request)
        listen(sqlalchemy.orm.Session, "after_begin", self._began)
        listen(sqlalchemy.orm.Session, "before_commit", self._committing)
        listen(self._real, "before_cursor_execute", self._executing)
        app = self._app
        original = app.dependency_overrides
        app.dependency_overrides = _Overrides(self, original)
        self._undo.append(lambda: setattr(app, "dependency_overrides", dict(app.dependency_overrides))
                          if isinstance(app.dependency_overrides, _Overrides) else None)

    def _unpatch(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _engine(self, engine: Any, created: Site | None = None) -> int:
        index = self._engine_ids.get(engine)
        if index is None:
            index = self._engine_ids[engine] = len(self.engines)
            url = getattr(engine, "url", None)
            memory = getattr(url, "drivername", "").startswith("sqlite") and getattr(url, "database", None) in (
                None, "", ":memory:")
            self.engines.append(EngineSeen(created, real=engine is self._real, memory=bool(memory),
                                           pool=type(getattr(engine, "pool", None)).__name__))
        return index

    def _session(self, session: Any, created: Site | None = None) -> int:
        index = self._session_ids.get(session)
        if index is None:
            index = self._session_ids[session] = len(self.sessions)
            self.sessions.append(SessionSeen(created, _CURRENT.get()))
        return index

    def _began(self, session: Any, transaction: Any, connection: Any) -> None:
        current = _CURRENT.get()
        if current is None:
            return
        index = self._session(session)
        seen = self.sessions[index]
        seen.engine = self._engine(connection.engine)
        if current not in seen.requests:
            seen.requests.append(current)
        request = self.requests[current]
        if index not in request.sessions:
            request.sessions.append(index)
        tests = self.engines[seen.engine].tests
        if request.test not in tests:
            tests.append(request.test)

    def _committing(self, session: Any) -> None:
        current = _CURRENT.get()
        if current is not None:
            site = self.site()
            if site is not None:
                self.requests[current].commits.append(site)

    def _executing(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().lower().startswith(WRITES):
            self.writes.append(Write(" ".join(statement.split()), _CURRENT.get(), self.site()))

    def _handle_request(self, original: Any) -> Any:
        observer = self

        def handle_request(transport: Any, request: Any) -> Any:
            record = observer._request(transport.app, request)
            index = len(observer.requests)
            observer.requests.append(record)
            app = transport.app

            async def watched(scope: Any, receive: Any, send: Any) -> None:
                token = _CURRENT.set(index)
                try:
                    await app(scope, receive, send)
                except BaseException as exc:
                    record.error = f"{type(exc).__name__}: {exc}"[:BODY_LIMIT]
                    raise
                finally:
                    _CURRENT.reset(token)

            transport.app = watched
            try:
                response = original(transport, request)
            finally:
                transport.app = app
            response.read()  # the app has finished, its dependencies' clean-up included
            record.status = response.status_code
            record.body = response.text[:BODY_LIMIT]
            record.unclosed = [s for s in record.sessions if not observer.sessions[s].closed]
            return response

        return handle_request

    def _request(self, app: Any, request: Any) -> Request:
        from starlette.routing import Match

        index = sum(r.test == self._test for r in self.requests)
        record = Request(self._test, self._phase, index, len(self.requests), request.method, request.url.path,
                         request.url.query.decode("ascii", "replace"), site=self.site(in_test=True))
        scope = {"type": "http", "path": request.url.path, "method": request.method, "root_path": ""}
        for route in getattr(getattr(app, "router", None), "routes", []):
            try:
                match, _ = route.matches(scope)
            except Exception:  # noqa: BLE001 - a route we cannot ask: not one of the app's own
                continue
            if match is Match.FULL or (match is Match.PARTIAL and record.route is None):
                record.route = getattr(getattr(route, "endpoint", None), "__name__", None)
                record.route_path = getattr(route, "path", None)
                record.method_allowed = match is Match.FULL
                if match is Match.FULL:
                    break
        overrides = getattr(app, "dependency_overrides", None)
        if isinstance(overrides, dict):
            replacement = overrides.get(self._key)
            record.overridden = replacement is not None
            if replacement is not None:
                file, line = self._defined_at(replacement)
                record.override = Site(file, line) if file and line else None
        return record

    def _defined_at(self, fn: Any) -> tuple[str | None, int | None]:
        fn = getattr(fn, "func", fn)  # functools.partial
        try:  # the file comes from `fn`'s code, the line from the code `fn` wraps (if any)
            code = (getattr(fn, "__code__", None), getattr(inspect.unwrap(fn), "__code__", None))
        except ValueError:  # a cycle of __wrapped__
            code = None
        if code is not None and code[1] is None:
            code = None  # not a function (a callable object, say): asked each time, as before
        if code is not None and code in self._places:
            return self._places[code]  # each request asks again, mostly about the same override
        try:
            file = self._learner_file(inspect.getsourcefile(fn) or "")
            place = (file, inspect.getsourcelines(fn)[1]) if file else (None, None)
        except (TypeError, OSError):
            place = (None, None)
        if code is not None:
            self._places[code] = place
        return place

    def changed(self, key: Any, removed: bool) -> None:
        if key is self._key:
            self.changes.append(Change(self.site(in_test=True), removed, len(self.requests), self._test))

    def opened(self, args: tuple[Any, ...]) -> None:
        path, mode = args[0], args[1] if len(args) > 1 else "r"
        if not isinstance(path, (str, bytes, os.PathLike)) or (isinstance(mode, str) and any(c in mode for c in
                                                                                              "wax+")):
            return
        try:
            rel = Path(os.fsdecode(path)).resolve().relative_to(self.folder).as_posix()
        except (ValueError, OSError):
            return
        if rel not in APP_SOURCES:
            return
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename.startswith("<frozen importlib"):
                return  # an import reads the file: that is running it, not reading it
            if self._learner_file(frame.f_code.co_filename) is not None:
                self.source_reads.append((Site(self._learner_file(frame.f_code.co_filename) or "", frame.f_lineno),
                                          rel, self._test))
                return
            frame = frame.f_back


class _Overrides(dict):
    """app.dependency_overrides, telling the observer where the learner sets or removes get_session's override."""

    def __init__(self, observer: Observer, items: dict):
        super().__init__(items)
        self._observer = observer

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._observer.changed(key, removed=False)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._observer.changed(key, removed=True)

    def pop(self, key: Any, *default: Any) -> Any:
        present = key in self
        value = super().pop(key, *default)
        if present:
            self._observer.changed(key, removed=True)
        return value

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self._observer.changed(key, removed=True)
        return key, value

    def clear(self) -> None:
        keys = list(self)
        super().clear()
        for key in keys:
            self._observer.changed(key, removed=True)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]
