"""Chapter 6's static checks: the async engine, session factory and dependency (database.py), and
async endpoints that await every database call (main.py)."""

import libcst as cst

from grader.static import (
    all_of,
    argument,
    assignment,
    bindings,
    calls_to,
    check,
    defined_after,
    endpoints,
    failed,
    find_mismatch,
    function,
    imported,
    is_async,
    is_generator,
    parameters,
    passed,
    refers_to,
    walk,
    yields_inside,
)

ASYNC_SESSION = ("sqlmodel.ext.asyncio.session.AsyncSession", "sqlalchemy.ext.asyncio.AsyncSession")
CREATE_ASYNC_ENGINE = "sqlalchemy.ext.asyncio.create_async_engine"
ASYNC_SESSIONMAKER = "sqlalchemy.ext.asyncio.async_sessionmaker"
SESSION_DEP = tuple(f"typing.Annotated[{s}, fastapi.Depends(get_session)]" for s in ASYNC_SESSION)
# Session methods that talk to the database: on an AsyncSession they are coroutines.
AWAITED = {"commit", "refresh", "get", "exec", "execute", "delete", "rollback", "flush", "scalar", "scalars",
           "close", "merge", "stream"}


@check("async-imports")
def async_imports(src):
    return all_of(
        imported(src, CREATE_ASYNC_ENGINE, also=["sqlalchemy.ext.asyncio.engine.create_async_engine"]),
        imported(src, ASYNC_SESSIONMAKER),
        imported(src, ASYNC_SESSION[0], also=[ASYNC_SESSION[1]]),
    )


@check("async-engine")
def async_engine(src):
    found = assignment(src, "engine")
    if not found.ok:
        return found
    value = found.node
    if not (isinstance(value, cst.Call) and refers_to(src, value.func, CREATE_ASYNC_ENGINE)):
        return failed(f"`engine` (line {found.line}) is `{src.code(value)}`; make it "
                      "`create_async_engine(sqlite_url)`, the engine for async sessions",
                      line=found.line, diagnosis="sync-engine", node=value)
    url = value.args[0].value if value.args else None
    text = _source_of(src, url)
    if text is not None and "sqlite" in text and "+aiosqlite" not in text:
        return failed(f"the database URL `{text}` has no async driver: write `sqlite+aiosqlite:///...`, otherwise "
                      "create_async_engine refuses the blocking `pysqlite` driver", line=found.line,
                      diagnosis="sync-driver", node=value)
    return passed("engine is an async engine", node=value, line=found.line)


def _source_of(src, node):
    """The code of `node`, or of the module-level value a name is bound to."""
    if node is None:
        return None
    if isinstance(node, cst.Name):
        bound = bindings(src).get(node.value, [])
        return src.code(bound[-1][1]) if bound and bound[-1][1] is not None else None
    return src.code(node)


def factory(src, makers=(ASYNC_SESSIONMAKER,)):
    """(name, call) of the module-level `... = async_sessionmaker(...)` (or another of `makers`), or None."""
    for name, bound in bindings(src).items():
        for _, value in bound:
            if isinstance(value, cst.Call) and any(refers_to(src, value.func, m) for m in makers):
                return name, value
    return None


@check("session-factory")
def session_factory(src):
    found = factory(src)
    if found is None:
        sync = calls_to(src, "sqlalchemy.orm.sessionmaker")
        if sync:
            return failed(f"line {src.line(sync[0])} makes a `sessionmaker`, which makes blocking sessions; use "
                          "`async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)`",
                          line=src.line(sync[0]), diagnosis="sync-sessionmaker", node=sync[0])
        return failed("no session factory: add `async_session = async_sessionmaker(engine, class_=AsyncSession, "
                      "expire_on_commit=False)` below the engine", diagnosis="no-factory")
    name, call = found
    bind = argument(call, "bind", 0)
    if bind is None or find_mismatch(src, bind, "engine") is not None:
        return failed(f"`{name}` on line {src.line(call)} must make sessions on the module's `engine`: pass it first, "
                      f"`async_sessionmaker(engine, ...)`", line=src.line(call), diagnosis="wrong-engine", node=call)
    expire = argument(call, "expire_on_commit")
    if expire is None or src.code(expire) != "False":
        return failed(f"`{name}` on line {src.line(call)} keeps the default `expire_on_commit=True`: after a commit "
                      "every attribute is expired, and reading one for the response would need a database trip "
                      "that cannot be awaited there (MissingGreenlet); pass `expire_on_commit=False`",
                      line=src.line(call), diagnosis="expire-on-commit", node=call)
    return passed(f"`{name}` makes async sessions", node=call, line=src.line(call))


@check("get-session-async")
def get_session_async(src):
    found = function(src, "get_session")
    if not found.ok:
        return found
    fn = found.node
    return all_of(is_async(src, fn).otherwise(
        "`get_session` is defined with `def`: an async session is opened, used and closed with `await`, which "
        "only an `async def` can do; write `async def get_session():`"), is_generator(src, fn))


@check("yield-inside-async-with")
def yield_inside_async_with(src):
    fn = function(src, "get_session").node
    found = factory(src, (ASYNC_SESSIONMAKER, "sqlalchemy.orm.sessionmaker"))
    opener = (f"{found[0]}()",) if found else tuple(f"{s}(engine, ...)" for s in ASYNC_SESSION)
    result = yields_inside(src, fn, opener)
    if result.ok:
        outer = next((w for w in src.ancestors(result.node) if isinstance(w, cst.With)), None)
        if outer is not None and outer.asynchronous is None:
            return failed(f"line {src.line(outer)} opens the session with a plain `with`; an async session is opened "
                          "and closed with `async with`", line=src.line(outer), diagnosis="sync-with", node=outer)
    return result


@check("rollback-on-error")
def rollback_on_error(src):
    fn = function(src, "get_session").node
    handlers = [h for t in walk(fn.body, into_nested=False) if isinstance(t, cst.Try) for h in t.handlers]
    for handler in handlers:
        rollbacks = [c for c in walk(handler.body) if isinstance(c, cst.Call) and isinstance(c.func, cst.Attribute)
                     and c.func.attr.value == "rollback"]
        if not rollbacks:
            continue
        call = rollbacks[0]
        if not isinstance(src.parent(call), cst.Await):
            return failed(f"`{src.code(call)}` on line {src.line(call)} is not awaited, so it never runs: "
                          f"write `await {src.code(call)}`", line=src.line(call), diagnosis="not-awaited", node=call)
        if not any(isinstance(n, cst.Raise) for n in walk(handler.body)):
            return failed(f"the except block on line {src.line(handler)} rolls back but does not re-raise: the "
                          "endpoint's error would be swallowed and the client told all went well; end it with `raise`",
                          line=src.line(handler), diagnosis="swallows-error", node=handler)
        return passed("rolls back and re-raises", node=handler, line=src.line(handler))
    return failed("get_session never rolls back: put the `yield` in `try:` and add `except Exception: await "
                  "session.rollback()` followed by `raise`", line=src.line(fn), diagnosis="no-rollback", node=fn)


@check("sessiondep-defined")
def sessiondep_defined(src):
    shape = assignment(src, "SessionDep", SESSION_DEP)
    if shape.diagnosis == "pattern-mismatch" and shape.node is not None and "Session" in src.code(shape.node) \
            and "AsyncSession" not in src.code(shape.node):
        shape = shape.otherwise("{message}. The dependency now yields an `AsyncSession`, so annotate with "
                                "`AsyncSession`", diagnosis="sync-session-type")
    return all_of(shape, defined_after(src, "SessionDep", "get_session"))


# -- main.py ------------------------------------------------------------------------------

@check("endpoints-async")
def endpoints_async(src):
    found = endpoints(src)
    if not found:
        return failed("main.py has no path operations (`@app.get(...)` and friends)", diagnosis="no-endpoints")
    for endpoint in found:
        fn = endpoint.node
        if fn.asynchronous is None:
            return failed(f"{endpoint.label} (line {src.line(fn)}) is a plain `def`: with an async session it must be "
                          f"`async def {fn.name.value}(...)` so it can `await` the session",
                          line=src.line(fn), diagnosis="sync-endpoint", node=fn)
    return passed("every endpoint is async")


def session_names(src, fn):
    names = {p.name.value for p in parameters(fn)
             if p.annotation is not None and refers_to(src, p.annotation.annotation, "database.SessionDep")}
    return names or {"session"}


@check("calls-awaited")
def calls_awaited(src):
    for fn in (endpoint.node for endpoint in endpoints(src)):
        names = session_names(src, fn)
        for call in (n for n in walk(fn.body) if isinstance(n, cst.Call)):
            func = call.func
            if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in names):
                continue
            awaited = isinstance(src.parent(call), cst.Await)
            method = func.attr.value
            if method in AWAITED and not awaited:
                return failed(f"`{src.code(call)}` on line {src.line(call)} (in `{fn.name.value}`) is not awaited: on "
                              "an AsyncSession it only creates a coroutine, and nothing happens until you "
                              f"`await {src.code(call)}`", line=src.line(call), diagnosis="not-awaited", node=call)
            if method == "add" and awaited:
                return failed(f"line {src.line(call)} awaits `{src.code(call)}`, but `add` only records the object "
                              "in the session (no I/O) and is a plain method: drop the `await`",
                              line=src.line(call), diagnosis="awaited-add", node=call)
    for call in calls_to(src, "database.create_db_and_tables"):
        if not isinstance(src.parent(call), cst.Await):
            return failed(f"`{src.code(call)}` on line {src.line(call)} is not awaited: create_db_and_tables is now "
                          "a coroutine function; write `await create_db_and_tables()` in the lifespan",
                          line=src.line(call), diagnosis="not-awaited", node=call)
    return passed("every database call is awaited")
