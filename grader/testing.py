"""What a chapter's behavioural tests (`checks/test_*.py`) use.

    from grader.testing import check, fail

    @check("get-session-is-generator")
    def test_generator(learner):
        database = learner.module("database")
        if not inspect.isgeneratorfunction(database.get_session):
            fail("get_session is not a generator", obj=database.get_session)

Tests run in a child process, inside a temporary copy of the submission (the current
directory), with the learner's folder first on `sys.path`. Where a failure points comes from
`grader.blame` (`where`, `crash_site`, `paused_at`) and `grader.routes` (`endpoint_of`), offered
here too.
"""

from __future__ import annotations

import errno
import importlib
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

from grader.blame import (attribute_at, course_code, crash_site, described, learner_frame, learner_relative,
                          learner_traceback, named_not_called, paused_at, statement_in, where)
from grader.clean import clip
from grader.sandbox.guard import Refused
from grader.routes import endpoint_function, endpoint_of

__all__ = ["Advice", "CheckFailed", "Learner", "about", "advised", "attribute_at", "check", "closed", "crash_site", "described",
           "endpoint_function", "endpoint_of", "fail", "is_closed", "learner", "learner_frame", "learner_relative",
           "learner_traceback", "named_not_called", "paused_at", "request", "serve", "statement_in",
           "stopped_by_grader", "unsynced_sqlite", "unsynced_sqlite_connections", "where"]


def check(check_id: str) -> pytest.MarkDecorator:
    """Mark a test as the implementation of the manifest's behavioural check `check_id`."""
    return pytest.mark.check(check_id)


class CheckFailed(AssertionError):
    """A check failed for a reason worth telling the learner, at a place in their file."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 diagnosis: str | None = None, details: str = ""):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.diagnosis = diagnosis
        self.details = details


def fail(message: str, *, obj: Any = None, file: str | None = None, line: int | None = None,
         diagnosis: str | None = None, cause: BaseException | None = None) -> NoReturn:
    """Fail the current check; `obj` (a learner function or class) supplies file and line. With `cause`, the
    exception the message reports, its learner line (`crash_site`) comes first."""
    if cause is not None and file is None:
        file, line = crash_site(cause)
    if obj is not None and file is None:
        file, line = where(obj)
    raise CheckFailed(message, file=file, line=line, diagnosis=diagnosis,
                      details=learner_traceback(cause) if cause is not None and file else "")


# -- where things are in the learner's files ------------------------------------------------------------------------
@dataclass(frozen=True)
class Advice:
    """A sentence for a request's failure, added only when it fits.

    With `on` (exception types) and/or `matching` (a regular expression searched in `Type: message`),
    it fits a crash that matches. With neither, it fits a wrong answer: a status other than the
    one expected, never a crash. A plain string is an `Advice` with neither.
    """

    text: str
    on: type[BaseException] | tuple[type[BaseException], ...] = ()
    matching: str = ""

    def fits(self, exc: BaseException | None) -> bool:
        if exc is None or not (self.on or self.matching):
            return exc is None and not (self.on or self.matching)
        if self.on and not isinstance(exc, self.on):
            return False
        return not self.matching or re.search(self.matching, f"{type(exc).__name__}: {exc}") is not None


AdviceLike = str | Advice | Sequence[str | Advice]


def advised(message: str, advice: AdviceLike, exc: BaseException | None = None) -> str:
    """`message` followed by the sentences of `advice` that fit a crash with `exc` (None: a wrong answer)."""
    items = [advice] if isinstance(advice, (str, Advice)) else list(advice)
    fitting = [a.text for a in (a if isinstance(a, Advice) else Advice(a) for a in items if a) if a.fits(exc)]
    if not fitting:
        return message
    message = message.rstrip()
    return message + ("" if message.endswith((".", "!", "?", "…")) else ".") + " " + " ".join(fitting)


def request(client: Any, method: str, url: str, *, expect: int | None = None, diagnosis: str = "server-error",
            wrong_answer: str | None = None, advice: AdviceLike = (), **kwargs: Any) -> Any:
    """`client.request(method, url, **kwargs)` on a TestClient that re-raises server errors.

    A crash fails the check at the learner's innermost line (else at the endpoint that serves the
    URL) with `diagnosis`. With `expect`, any other status fails it at that endpoint with
    `wrong_answer` (default `status-NNN`). `advice` adds the sentences that fit (see `Advice`).
    """
    app = getattr(client, "app", None)
    try:
        with http_errors_raised() as raised:
            response = client.request(method, url, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the learner's app may raise anything
        file, line = crash_site(exc)
        if file is None and raised:  # the learner made an HTTPException and did not raise it (returned it?)
            _, file, line = raised[-1]
        if file is None and app is not None:
            file, line = endpoint_of(app, method, url)
        raise CheckFailed(advised(f"{method} {url} crashed with {described(exc)}", advice, exc), file=file,
                          line=line, diagnosis=diagnosis, details=learner_traceback(exc)) from None
    if expect is not None and response.status_code != expect:
        # The HTTPException the learner's code raised with this status is the statement to change; else the endpoint.
        file, line = next(((f, n) for status, f, n in reversed(raised) if status == response.status_code),
                          endpoint_of(app, method, url) if app is not None else (None, None))
        raise CheckFailed(advised(f"{method} {url} answered {response.status_code}, expected {expect}: "
                                  f"{clip(response.text, 300)}", advice), file=file, line=line,
                          diagnosis=wrong_answer or f"status-{response.status_code}")
    return response


@contextmanager
def serve(app: Any, *, advice: AdviceLike = (), diagnosis: str | None = None, **client_options: Any) -> Iterator[Any]:
    """Serve the learner's `app` with its lifespan, as uvicorn would: startup before the block, shutdown
    after it; the block gets a `TestClient` (give it to `request`).

        with serve(main.app) as client:
            request(client, "POST", "/heroes/", expect=200, json=HERO)

    A lifespan that raises fails the check: "the app failed to start: its lifespan raised ..." (diagnosis
    `startup-error`) or "... to stop ..." (`shutdown-error`), or `diagnosis`, with the `advice` that fits, at
    the learner's innermost line (else at the lifespan function). An exception the block raises wins over
    one the shutdown then raises. `client_options` go to `TestClient` (`raise_server_exceptions=False`, ...).
    In a fixture: ``with serve(main.app) as client: yield client``.
    """
    from fastapi.testclient import TestClient

    client = TestClient(app, **client_options)
    try:
        client.__enter__()
    except Exception as exc:  # noqa: BLE001 - the learner's lifespan may raise anything
        _lifespan_failed(app, "start", exc, advice, diagnosis or "startup-error")
    try:
        yield client
    except BaseException:
        try:
            client.__exit__(*sys.exc_info())
        except Exception:  # noqa: BLE001, S110 - the block's own exception is the one to report
            pass
        raise
    try:
        client.__exit__(None, None, None)
    except Exception as exc:  # noqa: BLE001 - the learner's lifespan may raise anything
        _lifespan_failed(app, "stop", exc, advice, diagnosis or "shutdown-error")


def _lifespan_failed(app: Any, when: str, exc: BaseException, advice: AdviceLike, diagnosis: str) -> NoReturn:
    file, line = crash_site(exc)
    if file is None:
        lifespan = getattr(getattr(app, "router", None), "lifespan_context", None)
        file, line = where(lifespan) if lifespan is not None else (None, None)
    raise CheckFailed(advised(f"the app failed to {when}: its lifespan raised {described(exc)}", advice, exc),
                      file=file, line=line, diagnosis=diagnosis,
                      details=learner_traceback(exc) if file else "") from None


@contextmanager
def http_errors_raised() -> Iterator[list[tuple[int, str, int]]]:
    """(status, file, line) of every HTTPException the learner's code creates within the block, in order:
    where a request's error status came from."""
    from starlette.exceptions import HTTPException

    raised: list[tuple[int, str, int]] = []
    original = HTTPException.__init__

    def init(self: Any, status_code: int, *args: Any, **kwargs: Any) -> None:
        frame, depth = sys._getframe(1), 0
        while frame is not None and depth < 3 and learner_relative(frame.f_code.co_filename) is None:
            frame, depth = frame.f_back, depth + 1  # FastAPI's HTTPException.__init__ calls Starlette's
        file = learner_relative(frame.f_code.co_filename) if frame is not None else None
        if file is not None:
            raised.append((status_code, file, frame.f_lineno))
        original(self, status_code, *args, **kwargs)

    HTTPException.__init__ = init  # type: ignore[method-assign]
    try:
        yield raised
    finally:
        HTTPException.__init__ = original  # type: ignore[method-assign]


@contextmanager
def about(what: str, *, obj: Any = None, file: str | None = None, line: int | None = None,
          diagnosis: str | None = None, advice: AdviceLike = ()) -> Iterator[None]:
    """Name the learner's object the block uses, for a library that fails on it.

        with about("the session get_session yielded", obj=database.get_session):
            session.execute(text("select 1"))

    An exception raised inside a library (no frame of the learner's, nor of the course's code
    innermost) fails the check as `{what} could not be used: Type: message`, at `obj` (or `file`
    and `line`), with the `advice` that fits. Anything else passes through: a crash in the
    learner's code stays theirs, at their line; a bug in the check stays the course's.
    """
    try:
        yield
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        frames = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(exc.__traceback__)]
        block = next((f for f in frames if Path(f).resolve() != Path(__file__).resolve()), frames[-1])
        checks = Path(block).resolve().parent  # the block is in a check: its folder is the chapter's checks
        if learner_frame(exc.__traceback__)[0] is not None or course_code(frames[-1], checks):
            raise
        if obj is not None and file is None:
            file, line = where(obj)
        raise CheckFailed(advised(f"{what} could not be used: {described(exc)}", advice, exc), file=file,
                          line=line, diagnosis=diagnosis) from None


class Learner:
    """The submission under test: its modules, imported fresh in this process."""

    def __init__(self, root: Path):
        self.root = root
        self._failures: dict[str, CheckFailed] = {}

    def path(self, name: str) -> Path:
        return self.root / name

    def module(self, name: str) -> ModuleType:
        """Import the learner's module `name` (once per grade); explain any failure."""
        if name in self._failures:
            raise self._failures[name]
        if name in sys.modules and learner_relative(getattr(sys.modules[name], "__file__", "") or "") is not None:
            return sys.modules[name]
        try:
            return importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - learner code may raise anything, even SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            failure = self._explain_import(name, exc)
            self._failures[name] = failure
            raise failure from None

    def _explain_import(self, name: str, exc: BaseException) -> CheckFailed:
        file, line = crash_site(exc)
        if isinstance(exc, SyntaxError) and exc.filename:
            file, line = learner_relative(exc.filename), exc.lineno
        if isinstance(exc, SystemExit):
            return CheckFailed(f"importing {name}.py called `sys.exit({exc.code!r})`: a module must not exit "
                               "when it is imported", file=file, line=line, diagnosis="exit-at-import")
        if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] == name:
            return CheckFailed(f"there is no {name}.py in the submission", diagnosis="missing-module")
        stopped = stopped_by_grader(exc)
        if stopped:
            what, diagnosis = stopped
            return CheckFailed(f"importing {name}.py {what}", file=file, line=line, diagnosis=diagnosis,
                               details=learner_traceback(exc))
        return CheckFailed(f"importing {name}.py raised {described(exc, 1000)}", file=file, line=line,
                           diagnosis="import-error", details=learner_traceback(exc))


def stopped_by_grader(exc: BaseException) -> tuple[str, str] | None:
    """(what happened, diagnosis) when the exception comes from the grader's limits or sandbox."""
    if isinstance(exc, Refused):
        return f"was stopped: {exc}", "refused"
    if isinstance(exc, MemoryError):
        return "ran out of memory (the grader sets the limit)", "memory"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "wrote more than the grader allows (output or file size limit)", "file-size"
    return None


@pytest.fixture(scope="session")
def learner() -> Learner:
    """The learner's submission (the current directory of the test process)."""
    return Learner(Path.cwd())


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every SQLAlchemy (and so SQLModel) session closed while the test runs, by a `with` block or
    a call to close(), in order: observe whether the learner's code really closed a session."""
    import sqlalchemy.orm

    sessions: list[Any] = []
    original = sqlalchemy.orm.Session.close

    def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        sessions.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sqlalchemy.orm.Session, "close", close)
    return sessions


def is_closed(session: Any, closed: list[Any]) -> bool:
    """Whether `session` (itself, not an equal one) is among the `closed` fixture's sessions."""
    return any(s is session for s in closed)


@contextmanager
def unsynced_sqlite_connections() -> Iterator[None]:
    """Every SQLite connection a SQLAlchemy pool opens in the block skips fsync (`PRAGMA synchronous = OFF`).

    A check's databases live only as long as its job, so waiting for the disk to confirm each commit buys
    nothing, and on a busy disk each commit waits tens of milliseconds. What each connection reads, and the
    locks it takes, are as before: only the durability after a crash of the machine changes."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    def unsynced(dbapi_connection: Any, _record: Any) -> None:
        if "sqlite" not in type(dbapi_connection).__module__:
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA synchronous = OFF")
        finally:
            cursor.close()

    event.listen(Pool, "connect", unsynced)
    try:
        yield
    finally:
        event.remove(Pool, "connect", unsynced)


@pytest.fixture(scope="session")
def unsynced_sqlite() -> Iterator[None]:
    """`unsynced_sqlite_connections` for a whole job: `pytestmark = pytest.mark.usefixtures("unsynced_sqlite")`."""
    with unsynced_sqlite_connections():
        yield
