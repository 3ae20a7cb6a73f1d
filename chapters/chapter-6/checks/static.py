"""Chapter 6's static checks: the async engine, session factory and dependency (database.py), and
async endpoints that await every database call (main.py).

Each check fails only on positive evidence of a known mistake and points where the fix goes; the
behavioural checks decide whatever these do not recognise.
"""

import difflib

import libcst as cst

from grader.static import (
    all_of,
    argument,
    assignment,
    bindings,
    calls_to,
    check,
    defined_after,
    enclosing_function,
    endpoints,
    endpoints_owning_transactions,
    failed,
    find_mismatch,
    function,
    imported,
    is_async,
    is_generator,
    matches,
    module_functions,
    module_imports,
    own_method_calls,
    parameters,
    passed,
    refers_to,
    resolved,
    spelled,
    walk,
    yields,
    yields_inside,
)

SQLMODEL_ASYNC_SESSION = "sqlmodel.ext.asyncio.session.AsyncSession"
SQLALCHEMY_ASYNC_SESSION = "sqlalchemy.ext.asyncio.AsyncSession"
ASYNC_SESSION = (SQLMODEL_ASYNC_SESSION, SQLALCHEMY_ASYNC_SESSION)
SYNC_SESSION = ("sqlmodel.Session", "sqlalchemy.orm.Session")
CREATE_ASYNC_ENGINE = "sqlalchemy.ext.asyncio.create_async_engine"
CREATE_ENGINE = "sqlalchemy.create_engine"
ASYNC_ENGINE = ("sqlalchemy.ext.asyncio.AsyncEngine", "sqlalchemy.ext.asyncio.engine.AsyncEngine")
"""`AsyncEngine(create_engine(url))` wraps a synchronous engine made on an async driver: an async engine."""
ASYNC_SESSIONMAKER = "sqlalchemy.ext.asyncio.async_sessionmaker"
SESSIONMAKER = "sqlalchemy.orm.sessionmaker"
CONTEXT_MANAGER = ("contextlib.asynccontextmanager", "contextlib.contextmanager")
SESSION_DEP = tuple(f'typing.Annotated[{s}, fastapi.Depends(get_session, scope="function", **_), ...]'
                    for s in ASYNC_SESSION)
"""Other metadata after the Depends is FastAPI's business, not this chapter's."""
FACTORY_KEYWORDS = {
    # async_sessionmaker / sessionmaker
    "bind", "class_", "autoflush", "expire_on_commit", "info",
    # passed on to the session class (sqlalchemy.orm.Session, AsyncSession)
    "future", "autobegin", "twophase", "binds", "enable_baked_queries", "query_cls", "autocommit",
    "join_transaction_mode", "close_resets_only", "execution_options", "sync_session_class",
}
"""Every keyword a session factory accepts (tests/test_chapter6.py holds it to the installed SQLAlchemy)."""
AWAITED = {"commit", "refresh", "get", "exec", "execute", "delete", "rollback", "flush", "scalar", "scalars",
           "close", "merge", "stream", "get_one", "run_sync", "reset", "invalidate", "connection", "stream_scalars"}
"""AsyncSession methods that talk to the database: coroutines, to be awaited."""


@check("async-imports")
def async_imports(src):
    made = factory(src)
    legacy = made is not None and made[2] == SESSIONMAKER and _async_class(src, made[1])
    return all_of(
        passed() if _wrapped_engine(src) else
        imported(src, CREATE_ASYNC_ENGINE, also=["sqlalchemy.ext.asyncio.engine.create_async_engine"]),
        passed() if legacy else imported(src, ASYNC_SESSIONMAKER),
        imported(src, SQLMODEL_ASYNC_SESSION, also=[SQLALCHEMY_ASYNC_SESSION]),
    )


def _wrapped_engine(src):
    """The module's `engine` is made by calling AsyncEngine itself."""
    found = assignment(src, "engine")
    return found.ok and any(_calls(src, found.node, name) for name in ASYNC_ENGINE)


@check("async-engine")
def async_engine(src):
    found = assignment(src, "engine")
    if not found.ok:
        return found
    wrapped = argument(found.node, "sync_engine", 0) if _wrapped_engine(src) else None
    value = wrapped or matches(src, found.node, f"{CREATE_ASYNC_ENGINE}(...)").node  # through a helper's return
    if wrapped is None and _calls(src, value, CREATE_ENGINE):
        return failed(f"`engine` is made by `{src.code(value.func)}`, which gives a blocking engine: async sessions "
                      f"need an engine from `{spelled(src, CREATE_ASYNC_ENGINE)}`", line=src.line(value),
                      diagnosis="sync-engine", node=value)
    if not (_calls(src, value, CREATE_ASYNC_ENGINE) or wrapped is not None and _calls(src, value, CREATE_ENGINE)):
        return passed("engine is made in a way the behavioural checks judge", node=value, line=found.line)
    url = argument(value, "url", 0)
    text, line = _source_of(src, url)
    if text is not None and "sqlite" in text and "+aiosqlite" not in text:
        return failed(f"the database URL `{text}` names no async driver, so SQLAlchemy picks the blocking `pysqlite` "
                      "one, which an async engine refuses: name aiosqlite after `sqlite+`",
                      line=line or src.line(value), diagnosis="sync-driver", node=value)
    return passed("engine is an async engine", node=value, line=found.line)


def _source_of(src, node):
    """(code, line) of `node`, or of the module-level value a name is bound to (with that binding's line)."""
    if node is None:
        return None, None
    if isinstance(node, cst.Name):
        bound = bindings(src).get(node.value, [])
        if bound and bound[-1][1] is not None:
            statement, value = bound[-1]
            return src.code(value), src.line(statement)
        return None, None
    return src.code(node), src.line(node)


def factory(src):
    """(name, call, maker) of the session factory: a module-level `name = async_sessionmaker(...)` (or
    `sessionmaker(...)`, or a helper's call that returns one: `call` is then the helper's), else one assigned
    inside get_session; None if there is none. An async_sessionmaker comes first."""
    makers = (ASYNC_SESSIONMAKER, SESSIONMAKER)
    found = [(name, call, m) for name, bound in bindings(src).items() for _, value in bound if value is not None
             for m in makers for call in [matches(src, value, f"{m}(...)").node] if _calls(src, call, m)]
    if not found:
        fn = module_functions(src).get("get_session")
        for node in walk(fn.body, into_nested=False) if fn is not None else ():
            if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
                found += [(node.targets[0].target.value, node.value, m) for m in makers if _calls(src, node.value, m)]
    found.sort(key=lambda f: f[2] != ASYNC_SESSIONMAKER)
    return found[0] if found else None


def _calls(src, node, maker):
    return isinstance(node, cst.Call) and refers_to(src, node.func, maker)


def _async_class(src, call):
    """The factory's `class_=` names an AsyncSession."""
    given = argument(call, "class_")
    return given is not None and any(refers_to(src, given, s) for s in ASYNC_SESSION)


@check("session-factory")
def session_factory(src):
    found = factory(src)
    if found is None:
        engine = assignment(src, "engine")
        return failed(f"database.py makes no session factory: get_session needs one to open a session for each "
                      f"request (made with `{spelled(src, ASYNC_SESSIONMAKER)}`, below the engine)",
                      line=engine.line if engine.ok else None, diagnosis="no-factory")
    name, call, maker = found
    line = src.line(call)
    if maker == SESSIONMAKER and not _async_class(src, call):
        return failed(f"`{name}` is a `{spelled(src, SESSIONMAKER)}` without an async `class_`, so it makes "
                      "synchronous sessions, which cannot use the async engine and would block the event loop",
                      line=line, diagnosis="sync-sessionmaker", node=call)
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value not in FACTORY_KEYWORDS:
            close = difflib.get_close_matches(arg.keyword.value, sorted(FACTORY_KEYWORDS), n=1, cutoff=0.6)
            meant = f" (did you mean `{close[0]}`?)" if close else ""
            return failed(f"`{name}` is given `{arg.keyword.value}=`, which no session accepts{meant}: every "
                          "session the factory makes fails with TypeError", line=src.line(arg),
                          diagnosis="unknown-keyword", node=arg)
    unpacked = any(arg.star for arg in call.args)  # `**options`: what it holds is for the behavioural checks
    bind = argument(call, "bind", 0)
    if bind is None and not unpacked:
        return failed(f"`{name}` is given no engine, so its sessions do not know which database to use",
                      line=line, diagnosis="wrong-engine", node=call)
    if bind is not None and not _parameter(src, bind) and find_mismatch(src, bind, "engine") is not None:
        return failed(f"`{name}` makes its sessions on `{src.code(bind)}`, not on the module's `engine` (the one "
                      "the lifespan creates the tables on)", line=src.line(bind), diagnosis="wrong-engine", node=bind)
    expire = argument(call, "expire_on_commit")
    if (expire is None and not unpacked) or (expire is not None and src.code(expire) != "False"):
        return failed(f"`{name}` keeps the default `expire_on_commit=True`: a commit expires every attribute, and "
                      "whatever reads an object after get_session has committed (a background task, a test) needs "
                      "a database trip that cannot happen there (MissingGreenlet, or DetachedInstanceError once the "
                      "session is closed)", line=line, diagnosis="expire-on-commit", node=call)
    no_exec = _sessions_have_exec(src, name, call)
    return no_exec if no_exec is not None else passed(f"`{name}` makes async sessions", node=call, line=line)


def _parameter(src, node):
    """`node` is a parameter of the function it is in (a helper's `bind`): what it holds, behaviour tells."""
    fn = enclosing_function(src, node)
    return isinstance(node, cst.Name) and fn is not None and node.value in {p.name.value for p in parameters(fn)}


def _sessions_have_exec(src, name, call):
    """A failure when main.py calls `.exec(...)` on sessions that have no `exec` (SQLAlchemy's AsyncSession);
    None otherwise."""
    given = argument(call, "class_")
    if (given is None and any(arg.star for arg in call.args)) or (
            given is not None and not refers_to(src, given, SQLALCHEMY_ASYNC_SESSION)):
        return None
    main = src.sibling("main.py")
    uses = [n for n in walk(main.module) if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute)
            and n.func.attr.value == "exec"] if main is not None else []
    if not uses:
        return None
    where = f"main.py calls `{main.code(uses[0].func)}(...)` (line {main.line(uses[0])})"
    if given is None:
        return failed(f"`{name}` makes SQLAlchemy's AsyncSession, which has no `exec`, and {where}: `exec` comes "
                      f"with SQLModel's AsyncSession, given to the factory as `class_`", line=src.line(call),
                      diagnosis="no-exec", node=call)
    imports = [node for bound, qualified, node in module_imports(src)
               if bound == src.code(given)]
    line = src.line(imports[-1]) if imports else src.line(given)
    return failed(f"`{src.code(given)}` is imported from `sqlalchemy.ext.asyncio`: that AsyncSession has no `exec`, "
                  f"and {where}; SQLModel's AsyncSession, which adds it, lives in `sqlmodel.ext.asyncio.session`",
                  line=line, diagnosis="no-exec", node=given)


@check("get-session-async")
def get_session_async(src):
    found = function(src, "get_session")
    if not found.ok:
        return found
    fn = found.node
    for decorator in fn.decorators:
        target = decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator
        if any(refers_to(src, target, d) for d in CONTEXT_MANAGER):
            return failed(f"`@{src.code(decorator.decorator)}` turns get_session into a function that returns a "
                          "context manager, and FastAPI would hand that object to the endpoints instead of a session: "
                          "FastAPI runs a generator dependency itself, undecorated", line=src.line(decorator),
                          diagnosis="context-manager-decorator", node=decorator)
    return all_of(is_async(src, fn).otherwise(
        "`get_session` is a plain `def`: an async session is opened, used and closed with `await`, which only an "
        "`async def` can do", diagnosis="not-async"), is_generator(src, fn))


@check("yield-inside-async-with")
def yield_inside_async_with(src):
    fn = function(src, "get_session").node
    found = factory(src)
    module_level = found is not None and found[0] in bindings(src)
    opener = (f"{found[0]}()",) if module_level else tuple(f"{s}(engine, ...)" for s in ASYNC_SESSION)
    result = yields_inside(src, fn, opener)
    if result.ok:
        outer = next((w for w in src.ancestors(result.node) if isinstance(w, cst.With)), None)
        if outer is not None and outer.asynchronous is None:
            return failed("the session is opened with a plain `with`: an async session is entered and closed with "
                          "`async with`, which awaits the close", line=src.line(outer), diagnosis="sync-with",
                          node=outer)
    return result


# -- rolling back --------------------------------------------------------------------------------------------------

def _rollbacks(src, block, depth=2):
    """[(call in `block`, the `.rollback()` call it makes)]: direct calls, and calls of module-level helpers
    that roll back (followed `depth` deep)."""
    found = []
    helpers = module_functions(src)
    for call in (n for n in walk(block) if isinstance(n, cst.Call)):
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "rollback":
            found.append((call, call))
        elif depth and isinstance(call.func, cst.Name) and call.func.value in helpers:
            found += [(call, inner) for _, inner in _rollbacks(src, helpers[call.func.value].body, depth - 1)]
    return found


SCHEDULERS = {"create_task", "ensure_future"}
"""Calls that run the coroutine they are handed as a task of the event loop."""


def _awaited(src, call):
    """`await call`, or the coroutine handed to a call that is awaited (`await asyncio.gather(call)`) or that
    schedules it as a task (`asyncio.create_task(call)`, `task_group.create_task(call)`)."""
    parent = src.parent(call)
    if isinstance(parent, cst.Arg):
        receiver = src.parent(parent)
        if not isinstance(receiver, cst.Call):
            return False
        name = receiver.func.attr if isinstance(receiver.func, cst.Attribute) else receiver.func
        return isinstance(src.parent(receiver), cst.Await) or (isinstance(name, cst.Name) and name.value in SCHEDULERS)
    return isinstance(parent, cst.Await)


def _unawaited(src, outer, inner):
    """The call of a rollback chain that should be awaited and is not, or None."""
    if not _awaited(src, inner):
        return inner
    helper = module_functions(src).get(outer.func.value) if isinstance(outer.func, cst.Name) else None
    if helper is not None and helper.asynchronous is not None and not _awaited(src, outer):
        return outer
    return None


@check("rollback-on-error")
def rollback_on_error(src):
    fn = function(src, "get_session").node
    if any(_begin_block(src, f) is not None for f in (fn, *_helpers_called(src, fn))):
        return passed("an `async with ....begin():` block rolls back when the endpoint raises")
    tries = [t for body in (fn, *_helpers_called(src, fn)) for t in walk(body.body, into_nested=False)
             if isinstance(t, (cst.Try, cst.TryStar))]
    for try_ in tries:
        blocks = [(h, h.body) for h in try_.handlers] + ([(None, try_.finalbody)] if try_.finalbody else [])
        for handler, block in blocks:
            chain = _rollbacks(src, block)
            if not chain:
                continue
            missing = _unawaited(src, *chain[0])
            if missing is not None:
                return failed(f"`{src.code(missing)}` is not awaited: it only makes a coroutine, so nothing is "
                              "rolled back", line=src.line(missing), diagnosis="not-awaited", node=missing)
            if handler is not None and not any(isinstance(n, cst.Raise) for n in walk(handler.body)):
                return failed("this `except` block rolls back but does not raise again: the endpoint's error stops "
                              "here, and FastAPI cannot answer that the request failed", line=src.line(handler),
                              diagnosis="swallows-error", node=handler)
            return passed("rolls back and re-raises", node=handler or try_, line=src.line(handler or try_))
    inner = [(h, y) for h in _helpers_called(src, fn) for y in yields(src, h)]  # a session_scope() helper's
    owner, points = (inner[0][0], [inner[0][1]]) if inner else (fn, yields(src, fn))
    at = points[0] if points else fn
    if points and any((isinstance(a, cst.With) and a.asynchronous is not None)
                      or (isinstance(a, (cst.Try, cst.TryStar)) and a.finalbody is not None and _inside(src, at, a.body))
                      for a in src.ancestors(at)):
        return passed("no explicit rollback: closing the session (the `async with`, or `finally:`) rolls back what "
                      "was not committed; the behavioural checks judge it", node=at, line=src.line(at))
    return failed(f"when the endpoint raises, its exception arrives in {owner.name.value} at this `yield`, and "
                  "nothing there catches it to roll back the unfinished work before letting it go on", line=src.line(at),
                  diagnosis="no-rollback", node=at)


def _helpers_called(src, fn):
    """The module-level functions `fn` calls (a `session_scope()` helper that holds the try/rollback)."""
    functions = module_functions(src)
    return [functions[n.func.value] for n in walk(fn.body, into_nested=False)
            if isinstance(n, cst.Call) and isinstance(n.func, cst.Name) and n.func.value in functions
            and functions[n.func.value] is not fn]


def _depends_call(src, node):
    """The `Depends(...)` call in `node`, also behind a module-level alias (`_dep = Depends(get_session)`)."""
    for n in walk(node):
        n = resolved(src, n) if isinstance(n, cst.Name) else n
        if isinstance(n, cst.Call) and refers_to(src, n.func, "fastapi.Depends"):
            return n
    return None


def _scope_problem(src, depends):
    """Why the scope `depends` gives get_session is wrong, as a failed finding; None if it is `"function"`."""
    scope, line = argument(depends, "scope"), src.line(depends)
    if scope is None and len([a for a in depends.args if a.keyword is None and not a.star]) > 1:
        return failed(f"`{src.code(depends)}` passes a second argument by position, but `Depends` takes `scope` by "
                      "name only (Python refuses the call): write `scope=\"function\"`", line=line,
                      diagnosis="wrong-scope", node=depends)
    if scope is None and not any(a.star for a in depends.args):
        return failed(f"`{src.code(depends)}` uses the default scope: FastAPI then runs get_session's code after the "
                      "`yield` (the commit) once the response is sent, so a commit that fails still answers 200; "
                      "keep `scope=\"function\"` from chapter 4", line=line, diagnosis="default-scope", node=depends)
    if scope is not None and isinstance(scope, cst.SimpleString) and scope.evaluated_value != "function":
        return failed(f"`scope={src.code(scope)}` runs get_session's commit after the response is sent, so a commit "
                      "that fails still answers 200: keep `scope=\"function\"`", line=src.line(scope),
                      diagnosis="wrong-scope", node=scope)
    return None


@check("sessiondep-defined")
def sessiondep_defined(src):
    shape = assignment(src, "SessionDep", SESSION_DEP)
    node = shape.node
    first = node.slice[0].slice if isinstance(node, cst.Subscript) and node.slice else None
    if shape.diagnosis == "pattern-mismatch" and isinstance(first, cst.Index) \
            and any(refers_to(src, first.value, s) for s in SYNC_SESSION):
        shape = shape.otherwise(f"`SessionDep` still announces `{src.code(first.value)}`, the synchronous session, "
                                "but get_session now yields an `AsyncSession`: the alias is the type every "
                                "endpoint's session parameter is given", diagnosis="sync-session-type")
    elif shape.diagnosis == "pattern-mismatch" and node is not None:
        depends = _depends_call(src, node)
        given = argument(depends, "dependency", 0) if depends is not None else None
        if given is not None and not isinstance(given, cst.Call) and refers_to(src, given, "get_session"):
            scope = argument(depends, "scope")
            problem = _scope_problem(src, depends)
            if problem is not None:
                shape = problem
            elif scope is not None and not isinstance(scope, cst.SimpleString):  # a name, say: behaviour judges it
                shape = passed("`SessionDep` depends on get_session with a scope the behavioural checks judge",
                               node=node, line=src.line(node))
    return all_of(shape, defined_after(src, "SessionDep", "get_session")) if shape.ok else shape


# -- committing ----------------------------------------------------------------------------------------------------

def _inside(src, node, block):
    return node is block or any(a is block for a in src.ancestors(node))


def _begin_block(src, fn):
    """An `async with ....begin():` around `fn`'s yield: it commits and rolls back by itself."""
    found = yields(src, fn)
    for a in src.ancestors(found[0]) if found else ():
        if isinstance(a, cst.With) and any(isinstance(i.item, cst.Call) and isinstance(i.item.func, cst.Attribute)
                                           and i.item.func.attr.value == "begin" for i in a.items):
            return a
    return None


def _misplaced(src, fn, call, at):
    """Why `call`, a commit in `fn` (whose yield is `at`), is in the wrong place, as a failed finding; None when it
    runs once the endpoint has succeeded."""
    code, line = src.code(call), src.line(call)
    if line < src.line(at):
        return failed(f"`{code}` runs before the yield, before the endpoint has done anything: the commit belongs "
                      "right after the `yield`", line=line, diagnosis="commit-before-yield", node=call)
    for try_ in (a for a in src.ancestors(at) if isinstance(a, (cst.Try, cst.TryStar)) and _inside(src, at, a.body)):
        if try_.finalbody is not None and _inside(src, call, try_.finalbody):
            return failed(f"`{code}` in `finally:` runs when the endpoint raised too: the failed request's half-done "
                          "work is saved; commit inside `try:`, right after the `yield`", line=line,
                          diagnosis="commit-in-finally", node=call)
        if any(_inside(src, call, h) for h in try_.handlers):
            return failed(f"`{code}` is in an `except` block: it saves the work of an endpoint that failed; roll "
                          "back there instead", line=line, diagnosis="commit-on-error", node=call)
    return None


@check("get-session-commits")
def get_session_commits(src):
    fn = function(src, "get_session").node
    inner = [h for h in _helpers_called(src, fn) if yields(src, h)]  # a session_scope() helper's yield
    owner = inner[0] if inner else fn
    points = yields(src, owner)
    if not points or _begin_block(src, owner) is not None:
        return passed("get_session's transaction is left to the behavioural checks" if not points
                      else "an `async with ....begin():` block commits when the endpoint succeeds")
    at = points[0]
    reached = [owner, *(h for h in _helpers_called(src, owner) if h is not owner)]
    commits = [(f, c) for f in reached for c in own_method_calls(f.body, "commit")]
    if not commits:
        if any(isinstance(n, cst.Attribute) and n.attr.value == "commit" for f in (fn, *reached)
               for n in walk(f.body, into_nested=False)):
            return passed("get_session commits in a way this check does not read; the behavioural checks judge it")
        return failed(f"{owner.name.value} never commits: when the endpoint succeeds, the `async with` closes the "
                      "session and everything the endpoint did is thrown away; `await session.commit()` belongs "
                      f"right after `{src.code(at)}`", line=src.line(at), diagnosis="no-commit", node=at)
    for f, call in commits:
        if not _awaited(src, call):
            return failed(f"`{src.code(call)}` is not awaited: on an AsyncSession it only makes a coroutine, so "
                          "nothing is saved", line=src.line(call), diagnosis="not-awaited", node=call)
    placed = [_misplaced(src, owner, call, at) if f is owner else None for f, call in commits]
    always_wrong = [p for p in placed if p is not None and p.diagnosis in {"commit-in-finally", "commit-on-error"}]
    if always_wrong:
        return always_wrong[0]
    if all(p is not None for p in placed):
        return placed[0]
    return passed("get_session commits after the yield")


# -- main.py -------------------------------------------------------------------------------------------------------

@check("endpoints-async")
def endpoints_async(src):
    found = endpoints(src)
    if not found:
        return failed("main.py has no path operations (`@app.get(...)` and friends)", diagnosis="no-endpoints")
    plain = [e for e in found if e.node.asynchronous is None]
    if not plain:
        return passed("every endpoint is async")
    first, others = plain[0], plain[1:]
    also = "; also plain: " + ", ".join(f"{e.label} (line {src.line(e.node)})" for e in others) if others else ""
    return failed(f"{first.label} is a plain `def`, so it cannot `await` the async session's calls{also}",
                  line=src.line(first.node), diagnosis="sync-endpoint", node=first.node)


SESSION_ANNOTATIONS = ("database.SessionDep", *ASYNC_SESSION,
                       *(f"typing.Annotated[{s}, ...]" for s in ASYNC_SESSION))


def session_names(src, fn):
    """The parameters of `fn` that receive the async session: annotated `SessionDep` or `AsyncSession`, or given
    `Depends(get_session)`; else a parameter named `session`."""
    names = set()
    for param in parameters(fn):
        hint = param.annotation.annotation if param.annotation is not None else None
        if hint is not None and any(find_mismatch(src, hint, a) is None for a in SESSION_ANNOTATIONS) or (
                param.default is not None and find_mismatch(src, param.default,
                                                            "fastapi.Depends(database.get_session)") is None):
            names.add(param.name.value)
    return names or {p.name.value for p in parameters(fn) if p.name.value == "session" and p.annotation is None}


def _synchronous_names(fn):
    """Names `fn` binds with a plain `with ... as name:` (a synchronous session is not the async one)."""
    return {item.asname.name.value for w in walk(fn.body, into_nested=False)
            if isinstance(w, cst.With) and w.asynchronous is None
            for item in w.items if item.asname is not None and isinstance(item.asname.name, cst.Name)}


def _late_await(src, call):
    """`await session.exec(...).all()`: the call is the receiver of a method call that is awaited."""
    attribute = src.parent(call)
    outer = src.parent(attribute) if isinstance(attribute, cst.Attribute) else None
    return isinstance(outer, cst.Call) and outer.func is attribute and isinstance(src.parent(outer), cst.Await)


def _await_problems(src, fn):
    """(call, diagnosis, message) for each session call of `fn` awaited wrongly, in source order."""
    names = session_names(src, fn) - _synchronous_names(fn)
    where = f"in `{fn.name.value}`"
    for call in (n for n in walk(fn.body, into_nested=False) if isinstance(n, cst.Call)):
        func = call.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in names):
            continue
        method, code = func.attr.value, src.code(call)
        if method in AWAITED and not _awaited(src, call) and _late_await(src, call):
            outer = src.code(src.parent(src.parent(call)))
            yield call, "await-placement", (
                f"`await {outer}` {where} awaits the result of `.{src.parent(call).attr.value}()`, which is called on "
                f"the coroutine `{code}` returns, before anything is awaited: the `await` must apply to the "
                f"`{method}` call alone")
        elif method in AWAITED and not _awaited(src, call):
            yield call, "not-awaited", (f"`{code}` {where} is not awaited: on an AsyncSession it only makes a "
                                        "coroutine, and nothing reaches the database until it is awaited")
        elif method == "add" and _awaited(src, call):
            yield call, "awaited-add", (f"`{code}` {where} is awaited, but `add` is a plain method: it only "
                                        "records the object in the session (no I/O) and returns None, which "
                                        "cannot be awaited")


def _async_in_database(src, name):
    """Whether database.py defines `name` with `async def` (True when it cannot tell: no database.py here)."""
    database = src.sibling("database.py")
    fn = module_functions(database).get(name) if database is not None else None
    return fn is None or fn.asynchronous is not None


@check("calls-awaited")
def calls_awaited(src):
    functions = {id(e.node): e.node for e in endpoints(src)}
    functions.update({id(f): f for f in module_functions(src).values() if f.asynchronous is not None})
    problems = [p for fn in sorted(functions.values(), key=src.line) for p in _await_problems(src, fn)]
    for target, why in (("database.create_db_and_tables", "it is a coroutine function now"),
                        ("database.engine.dispose", "on the async engine it is a coroutine function")):
        if target == "database.create_db_and_tables" and not _async_in_database(src, "create_db_and_tables"):
            continue  # still a plain def in database.py: the problem (and the fix) is there
        for call in calls_to(src, target):
            if not _awaited(src, call):
                problems.append((call, "lifespan-not-awaited", f"`{src.code(call)}` is not awaited: {why}, so the "
                                 "call only makes a coroutine and nothing runs"))
    if not problems:
        return passed("every database call is awaited")
    problems.sort(key=lambda p: src.line(p[0]))
    (call, diagnosis, message), others = problems[0], problems[1:]
    also = "; also: " + ", ".join(f"`{src.code(c)}` (line {src.line(c)})" for c, _, _ in others) if others else ""
    return failed(message + also, line=src.line(call), diagnosis=diagnosis, node=call)


@check("endpoints-leave-commit")
def endpoints_leave_commit(src):
    found = endpoints(src)
    if not found:
        return failed("main.py has no path operations (`@app.get(...)` and friends)", diagnosis="no-endpoints")
    owning = endpoints_owning_transactions(src, found, flush="await session.flush()", owner=(
        "get_session owns the transaction, committing once the endpoint has succeeded and rolling back if it fails"))
    if owning is not None:
        return owning
    inline = _inline_scope(src, found)
    return inline if inline is not None else passed("the endpoints leave the transaction to get_session")


def _inline_scope(src, found):
    """A failure at the first `Depends(get_session)` an endpoint's parameter gives itself without
    `scope="function"` (SessionDep's scope does not reach it); None if there is none."""
    for endpoint in found:
        for param in parameters(endpoint.node):
            for where in (param.annotation.annotation if param.annotation is not None else None, param.default):
                depends = _depends_call(src, where) if where is not None else None
                given = argument(depends, "dependency", 0) if depends is not None else None
                if given is None or isinstance(given, cst.Call) or not refers_to(src, given, "database.get_session"):
                    continue
                problem = _scope_problem(src, depends)
                if problem is not None:
                    return failed(f"{endpoint.label} gets its session from `{src.code(depends)}` instead of "
                                  "SessionDep, without `scope=\"function\"`: FastAPI then runs get_session's commit "
                                  "after this endpoint's response is sent, so a commit that fails still answers 200; "
                                  "use `SessionDep`, or give this `Depends` `scope=\"function\"`",
                                  line=src.line(depends), diagnosis=problem.diagnosis, node=depends)
    return None
