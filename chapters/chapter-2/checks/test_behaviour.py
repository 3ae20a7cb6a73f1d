"""Chapter 2's behavioural checks: drive the learner's get_session and a real FastAPI app.

No `from __future__ import annotations` here: FastAPI must see the real SessionDep annotation.
"""

import ast
import inspect
import sys
import textwrap
import typing
from contextlib import contextmanager, suppress

import pytest
import sqlmodel
from fastapi import FastAPI
from fastapi.params import Depends
from fastapi.testclient import TestClient
from sqlalchemy import text

from grader.testing import Advice, about, check, fail, is_closed, paused_at, where


@pytest.fixture(scope="module")
def database(learner):
    return learner.module("database")


def first_session(database):
    """Start get_session() and return (generator, yielded session, where that session was made), failing
    clearly on the way."""
    get_session = database.get_session
    if inspect.isasyncgenfunction(get_session):
        fail("get_session is an `async def`: the synchronous `Session` belongs in a plain `def` generator",
             obj=get_session, diagnosis="async-def")
    if not inspect.isgeneratorfunction(get_session):
        unwrapped = inspect.unwrap(get_session)
        if unwrapped is not get_session and inspect.isgeneratorfunction(unwrapped):
            file, line = where(unwrapped)
            line, decorator = decorator_of(unwrapped) or (line, "the decorator")
            fail(f"{decorator} makes get_session something other than a generator function: FastAPI needs the "
                 "generator function itself, to run it up to its `yield` before the endpoint and finish it after the "
                 "request; remove the decorator", file=file, line=line, diagnosis="decorated")
        fail("get_session is not a generator function: it must `yield` the session, not return it",
             obj=get_session, diagnosis="return-not-yield")
    generator = get_session()
    try:
        session = next(generator)
    except StopIteration:
        fail("get_session() finished without yielding anything", obj=get_session)
    origin = made_at(generator, session, get_session)
    if not isinstance(session, sqlmodel.Session):
        with suppress(Exception):  # failing anyway: whatever the learner's code does on close is beside the point
            generator.close()
        fail(f"get_session() yields what this line makes, a {type(session).__module__}.{type(session).__qualname__}: "
             "the endpoints need a sqlmodel `Session`", file=origin[0], line=origin[1], diagnosis="wrong-type")
    return generator, session, origin


def function_tree(code) -> tuple[ast.AST | None, int]:
    """The parsed source of a learner function's code object, and the file line of its first line."""
    try:
        lines, start = inspect.getsourcelines(code)
        return ast.parse(textwrap.dedent("".join(lines))).body[0], start
    except (OSError, TypeError, SyntaxError, IndexError):
        return None, 0


def decorator_of(fn) -> tuple[int, str] | None:
    """The line and the text (`@contextmanager`) of the first decorator above a learner function, if it has one."""
    tree, start = function_tree(fn.__code__)
    decorators = getattr(tree, "decorator_list", [])
    return (start + decorators[0].lineno - 1, f"`@{ast.unparse(decorators[0])}`") if decorators else None


def own_nodes(tree: ast.AST):
    """The nodes of a function's body, not those of functions or classes nested in it."""
    stack = list(getattr(tree, "body", []))
    while stack:
        node = stack.pop(0)
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def made_at(generator, value, otherwise) -> tuple[str | None, int | None]:
    """(file, line) of the statement of the paused `generator` that made the `value` it yielded: the
    `with ... as name:` or `name = ...` binding the local that holds it (the last one above the yield), else
    the yield itself. A `yield from` is followed into the learner's generator it delegates to. Call it while the
    generator is paused."""
    while inspect.isgenerator(getattr(generator, "gi_yieldfrom", None)) and \
            paused_at(generator.gi_yieldfrom)[0] is not None:
        generator = generator.gi_yieldfrom
    file, paused = paused_at(generator, otherwise=otherwise)
    frame = generator.gi_frame
    names = {name for name, local in frame.f_locals.items() if local is value} if frame is not None else set()
    tree, start = function_tree(frame.f_code) if names and file is not None else (None, 0)
    bound = []
    for node in own_nodes(tree) if tree is not None else ():
        if isinstance(node, (ast.With, ast.AsyncWith)):
            bound += [item.context_expr.lineno for item in node.items
                      if isinstance(item.optional_vars, ast.Name) and item.optional_vars.id in names]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
            targets = getattr(node, "targets", None) or [node.target]
            if any(isinstance(t, ast.Name) and t.id in names for t in targets) and node.value is not None:
                bound.append(node.value.lineno)
    lines = sorted(start + n - 1 for n in bound)
    above = [n for n in lines if paused is None or n <= paused]
    return file, (above or lines or [paused])[-1]


def assigned_at(module, name: str) -> tuple[str | None, int | None]:
    """(file, line) of the last module-level statement of a learner module that assigns `name`."""
    file, _ = where(module)
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return file, None
    lines = [node.lineno for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
             and any(isinstance(t, ast.Name) and t.id == name for t in getattr(node, "targets", None) or [node.target])]
    return file, lines[-1] if lines else None


@contextmanager
def lines_run(code):
    """The (code, line) pairs that the frames of `code`'s file (a learner function's, and the helpers it calls in
    that file) run inside the block, in order."""
    run = []

    def local(frame, event, arg):
        if event == "line":
            run.append((frame.f_code, frame.f_lineno))
        return local

    def outer(frame, event, arg):
        return local if frame.f_code.co_filename == code.co_filename else None

    before = sys.gettrace()
    sys.settrace(outer)
    try:
        yield run
    finally:
        sys.settrace(before)


def caught_at(run) -> int | None:
    """Of the lines a generator ran after an exception was thrown into it, the `except` that caught it (the last
    handler it reached), else the first line it ran (a `return` in `finally:`, a suppressing `with`)."""
    handlers = set()
    for code in {code for code, _ in run}:
        tree, start = function_tree(code)
        handlers |= {start + n.lineno - 1 for n in own_nodes(tree) if isinstance(n, ast.ExceptHandler)} \
            if tree is not None else set()
    reached = [line for _, line in run if line in handlers]
    return reached[-1] if reached else (run[0][1] if run else None)


@check("module-imports")
def test_module_imports(database):
    assert database is not None


@check("generator-yields-session")
def test_generator_yields_session(database, closed):
    generator, session, (file, line) = first_session(database)
    try:
        with about("the session get_session yielded", file=file, line=line, diagnosis="wrong-engine",
                   advice=Advice("Give it the module's `engine`", matching="not bound")):
            bind = session.get_bind()
        if bind is not database.engine:
            fail("the session is not bound to the module's `engine`, so it works on another database than the "
                 "app's", file=file, line=line, diagnosis="wrong-engine")
        if is_closed(session, closed):
            file, line = paused_at(generator, otherwise=database.get_session)
            fail("the session was already closed when get_session yielded it: the yield must be inside the "
                 "`with` block", file=file, line=line, diagnosis="closed-before-yield")
        session.execute(text("select 1"))
    finally:
        generator.close()


@check("closes-when-done")
def test_closes_when_done(database, closed):
    generator, session, (file, line) = first_session(database)
    try:
        next(generator)
    except StopIteration:
        pass
    else:
        file, line = paused_at(generator, otherwise=database.get_session)
        generator.close()
        fail("get_session yielded a second time: a dependency must yield exactly once, so FastAPI can finish it "
             "after the request", file=file, line=line, diagnosis="yields-twice")
    if not is_closed(session, closed):
        fail("the session made here was still open after get_session finished: nothing closes it when the "
             "request is over", file=file, line=line, diagnosis="not-closed")


@check("closes-on-error")
def test_closes_on_error(database, closed):
    generator, session, (file, line) = first_session(database)
    code = generator.gi_code

    class EndpointFailed(Exception):
        pass

    with lines_run(code) as run:
        try:
            generator.throw(EndpointFailed("the endpoint raised"))
        except EndpointFailed:
            outcome = "raised"
        except StopIteration:
            outcome = "swallowed"
        else:
            outcome = "yielded"
    if outcome == "swallowed":
        fail("get_session caught the endpoint's exception here and carried on: FastAPI never learns that the "
             "request failed; let the exception travel on (re-raise it)", file=file,
             line=caught_at(run) or line, diagnosis="swallowed-error")
    if outcome == "yielded":
        file, line = paused_at(generator, otherwise=database.get_session)
        generator.close()
        fail("get_session yielded again after the endpoint failed", file=file, line=line, diagnosis="yields-twice")
    if not is_closed(session, closed):
        if not closed_after_success(database, closed):
            fail("the session made here stayed open when the endpoint raised, as it does when the request succeeds: "
                 "nothing closes it", file=file, line=line, diagnosis="not-closed")
        fail("the session made here stayed open when the endpoint raised: code after a bare `yield` does not run "
             "then", file=file, line=line, diagnosis="close-without-finally")


def closed_after_success(database, closed) -> bool:
    """Does a get_session() run to its end, as after a request that succeeded, close its session?"""
    generator, session, _origin = first_session(database)
    with suppress(Exception):  # failing anyway: only whether the session ends up closed matters here
        next(generator)
        generator.close()
    return is_closed(session, closed)


@check("sessiondep-runtime")
def test_sessiondep_runtime(database):
    dep = database.SessionDep
    file, line = assigned_at(database, "SessionDep")
    if typing.get_origin(dep) is not typing.Annotated:
        fail(f"SessionDep is {dep!r}, not an `Annotated[...]` type", file=file, line=line, diagnosis="not-annotated")
    base, *metadata = typing.get_args(dep)
    if base is not sqlmodel.Session:
        fail(f"SessionDep annotates {base!r}; it must be sqlmodel's `Session`", file=file, line=line,
             diagnosis="wrong-type")
    depends = [m for m in metadata if isinstance(m, Depends)]
    if not depends:
        fail("SessionDep carries no `Depends(...)`", file=file, line=line, diagnosis="no-depends")
    dependency = depends[0].dependency
    if inspect.isgenerator(dependency):
        fail("SessionDep holds a generator made by calling get_session(); give Depends the function itself",
             file=file, line=line, diagnosis="depends-called")
    if dependency is not database.get_session:
        fail(f"SessionDep depends on `{getattr(dependency, '__qualname__', dependency)}` defined at line "
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
