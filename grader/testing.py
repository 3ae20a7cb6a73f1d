"""What a chapter's behavioural tests (`checks/test_*.py`) use.

    from grader.testing import check, fail

    @check("get-session-is-generator")
    def test_generator(learner):
        database = learner.module("database")
        if not inspect.isgeneratorfunction(database.get_session):
            fail("get_session is not a generator", obj=database.get_session)

Tests run in a child process, inside a temporary copy of the submission (the current
directory), with the learner's folder first on `sys.path`.
"""

from __future__ import annotations

import errno
import importlib
import inspect
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

from grader.guard import Refused


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
         diagnosis: str | None = None) -> NoReturn:
    """Fail the current check; `obj` (a learner function or class) supplies file and line."""
    if obj is not None and file is None:
        file, line = where(obj)
    raise CheckFailed(message, file=file, line=line, diagnosis=diagnosis)


def where(obj: Any) -> tuple[str | None, int | None]:
    """(file name relative to the submission, line) where a learner object is defined."""
    try:
        path = Path(inspect.getsourcefile(obj) or "")
        line = inspect.getsourcelines(obj)[1]
    except (TypeError, OSError):
        return None, None
    return learner_relative(path), line


def learner_relative(path: Path | str) -> str | None:
    """`path` relative to the submission folder, or None if it is not the learner's file."""
    if str(path).startswith("<"):  # code compiled from a string: `<string>`, `<sqlalchemy generated ...>`
        return None
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return None


def learner_frame(tb) -> tuple[str | None, int | None]:
    """The innermost traceback frame in the learner's files."""
    found: tuple[str | None, int | None] = (None, None)
    for frame, lineno in traceback.walk_tb(tb):
        rel = learner_relative(frame.f_code.co_filename)
        if rel is not None:
            found = (rel, lineno)
    return found


def learner_traceback(exc: BaseException, limit: int = 4000) -> str:
    """The traceback trimmed to frames in the learner's files."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if learner_relative(f.filename) is not None]
    for f in frames:
        f.filename = learner_relative(f.filename) or f.filename
    text = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(exc), exc))
    return text[:limit]


def request(client: Any, method: str, url: str, *, diagnosis: str = "server-error", advice: str = "",
            **kwargs: Any) -> Any:
    """`client.request(method, url, **kwargs)` on a TestClient that re-raises server errors; an
    exception from the learner's app fails the check at the learner's line, with `advice` appended."""
    try:
        return client.request(method, url, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the learner's app may raise anything
        file, line = learner_frame(exc.__traceback__)
        at = f" ({file}, line {line})" if file else ""
        raise CheckFailed(f"{method} {url} crashed with {type(exc).__name__}: {str(exc)[:400]}{at}"
                          + (f". {advice}" if advice else ""), file=file, line=line, diagnosis=diagnosis,
                          details=learner_traceback(exc)) from None


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
        file, line = learner_frame(exc.__traceback__)
        if isinstance(exc, SyntaxError) and exc.filename:
            file, line = learner_relative(exc.filename), exc.lineno
        at = f" (line {line})" if line else ""
        if isinstance(exc, SystemExit):
            return CheckFailed(f"importing {name}.py called `sys.exit({exc.code!r})`{at}: a module must not exit "
                               "when it is imported", file=file, line=line, diagnosis="exit-at-import")
        if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] == name:
            return CheckFailed(f"there is no {name}.py in the submission", diagnosis="missing-module")
        stopped = stopped_by_grader(exc)
        if stopped:
            what, diagnosis = stopped
            return CheckFailed(f"importing {name}.py {what}{at}", file=file, line=line, diagnosis=diagnosis,
                               details=learner_traceback(exc))
        return CheckFailed(f"importing {name}.py raised {type(exc).__name__}: {exc}{at}",
                           file=file, line=line, diagnosis="import-error", details=learner_traceback(exc))


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
