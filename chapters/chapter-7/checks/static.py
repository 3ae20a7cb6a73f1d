"""Chapter 7's static checks: the database config, the get_session factory, the engine cache and the
aliases (database.py), and an endpoint that reads from both databases (main.py).

They fail only on positive evidence of a known mistake; shapes they do not recognise (a dependency
built by a helper, a callable object, a lock taken another way) are left to the behavioural checks.
"""

import ast

import libcst as cst

from grader.static import (
    all_of,
    assignment,
    calls_to,
    check,
    defined_after,
    endpoints,
    endpoints_owning_transactions,
    failed,
    find_mismatch,
    function,
    held,
    module_functions,
    mutated_names,
    passed,
    refers_to,
    spelled,
    walk,
    yields_inside,
)

ASYNC_SESSION = ("sqlmodel.ext.asyncio.session.AsyncSession", "sqlalchemy.ext.asyncio.AsyncSession")
CREATE_ASYNC_ENGINE = "sqlalchemy.ext.asyncio.create_async_engine"
LOCKS = ("threading.Lock", "threading.RLock")
NEW_LOCK = ("threading.Lock()", "threading.RLock()")
MAKERS = ("sqlalchemy.ext.asyncio.async_sessionmaker", "sqlalchemy.orm.sessionmaker")
MEMOIZERS = ("functools.lru_cache", "functools.cache")
ALIASES = {
    "PrimarySessionDep": ("get_session()", 'get_session("primary")'),
    "AnalyticsSessionDep": ('get_session("analytics")',),
}


@check("config-defined")
def config_defined(src):
    found = assignment(src, "DATABASES")
    if not found.ok:
        single = _single_url(src) if found.diagnosis == "missing" else None
        if single is not None:
            name = src.code(single.targets[0].target)
            return failed(f"database.py has no `DATABASES` yet: replace the single URL (`{name}`) with a dict"
                          " that names each database, `DATABASES = {\"primary\": {\"url\": ..., \"dev_url\": "
                          "...}, \"analytics\": {...}}`", line=src.line(single), diagnosis="missing", node=single)
        return found.otherwise("{message}: describe the databases in a dict, `DATABASES = {{\"primary\": {{\"url\": "
                               "..., \"dev_url\": ...}}, \"analytics\": {{...}}}}`")
    if not isinstance(found.node, cst.Dict):
        return found  # built another way (from a TOML file, say): the behavioural checks judge it
    try:
        config = ast.literal_eval(src.code(found.node))
    except (ValueError, SyntaxError):
        return found
    if "DATABASES" in mutated_names(src):
        return found  # entries added after the literal: the behavioural checks judge the result
    missing = [name for name in ("primary", "analytics") if name not in config]
    if missing:
        return failed(f"DATABASES has no {' and no '.join(repr(m) for m in missing)} entry",
                      line=found.line, diagnosis="config-shape", node=found.node)
    for name, entry in config.items():
        if not isinstance(entry, dict) or not {"url", "dev_url"} <= set(entry):
            return failed(f"DATABASES[{name!r}] must be a dict with a \"url\" and a \"dev_url\"",
                          line=found.line, diagnosis="config-shape", node=found.node)
    return found


def _single_url(src):
    """The starter's module-level URL (`sqlite_url = "sqlite+aiosqlite:///..."`), if it is still there."""
    for node in walk(src.module, into_nested=False):
        if isinstance(node, cst.Assign) and "://" in src.code(node.value):
            return node
    return None


@check("get-session-signature")
def get_session_signature(src):
    found = function(src, "get_session")
    if not found.ok:
        return found
    fn = found.node
    params = fn.params
    database = params.params[0] if params.params else None
    dev = next((p for p in params.kwonly_params if p.name.value == "dev"), None)
    problems = []
    if database is None or database.name.value != "database" or database.default is None \
            or src.code(database.default) != "None":
        problems.append("a first parameter `database=None`")
    if dev is None or dev.default is None or src.code(dev.default) != "False":
        problems.append("a keyword-only `dev=False` (after a `*`)")
    if problems:
        return failed(f"`get_session` needs {' and '.join(problems)}: "
                      "`def get_session(database: str | None = None, *, dev: bool = False):`",
                      line=src.line(fn), diagnosis="wrong-signature", node=fn)
    if fn.asynchronous is not None:
        return failed("`get_session` is `async def`, but it is called while the module loads, in "
                      "`Depends(get_session(...))`: make it a plain `def` that returns the dependency",
                      line=src.line(fn), diagnosis="async-factory", node=fn)
    return passed("get_session(database=None, *, dev=False)", node=fn, line=src.line(fn))


@check("returns-dependency")
def returns_dependency(src):
    fn = function(src, "get_session").node
    own = list(walk(fn.body, into_nested=False))
    own_yields = [n for n in own if isinstance(n, cst.Yield)]
    if own_yields:
        return failed("`get_session` yields itself: now it is a factory; it must *return* an async generator "
                      "function defined inside it, which FastAPI then calls per request",
                      line=src.line(own_yields[0]), diagnosis="factory-yields", node=own_yields[0])
    nested = {n.name.value: n for n in walk(fn.body) if isinstance(n, cst.FunctionDef)}
    returns = [n for n in own if isinstance(n, cst.Return) and n.value is not None]
    for ret in returns:
        value = ret.value.expression if isinstance(ret.value, cst.Await) else ret.value
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in nested:
            name = value.func.value
            return failed(f"`get_session` returns `{src.code(value)}`, a call: FastAPI needs the function itself, "
                          f"to call it once per request: `return {name}`", line=src.line(ret),
                          diagnosis="returns-other", node=ret)
    for ret in returns:
        if _makes_factory(src, ret.value):
            return failed(f"`get_session` returns `{src.code(ret.value)}`, a session factory: FastAPI would call it "
                          "per request and hand the endpoint a session that nothing closes. Return a dependency "
                          "instead: an `async def` that opens the session with `async with` and yields it",
                          line=src.line(ret), diagnosis="returns-factory", node=ret)
    inner = next((nested[r.value.value] for r in returns
                  if isinstance(r.value, cst.Name) and r.value.value in nested), None)
    if inner is None or inner.asynchronous is None:
        return passed("get_session returns a dependency (the behavioural checks run it)", node=fn, line=src.line(fn))
    name = inner.name.value
    opened = yields_inside(src, inner, ("_(...)",))
    if opened.diagnosis == "not-opened":  # the block can only show the opener as `_()`: say what it is
        return opened.otherwise(f"`{name}` never opens a session: write `async with session_factory(url)() as "
                                "session:` and yield the session inside the block")
    if not opened.ok:
        return opened
    outer = next((w for w in src.ancestors(opened.node) if isinstance(w, cst.With)), None) \
        if opened.node is not None else None
    if outer is not None and outer.asynchronous is None:
        return failed("this opens the session with a plain `with`; use `async with`",
                      line=src.line(outer), diagnosis="sync-with", node=outer)
    return passed(f"get_session returns `{name}`", node=inner, line=src.line(inner))


def _makes_factory(src, value):
    """`value` is a session factory: `async_sessionmaker(...)`, or a call of a module-level helper that makes
    one and defines no function (a helper that defines the dependency is fine)."""
    if isinstance(value, cst.Call) and any(refers_to(src, value.func, m) for m in MAKERS):
        return True
    helper = module_functions(src).get(value.func.value) \
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) else None
    if helper is None or any(isinstance(n, cst.FunctionDef) for n in walk(helper.body)):
        return False
    return bool(calls_to(src, MAKERS, within=helper))


# -- the engine cache -----------------------------------------------------------------------------

@check("engine-cache-locked")
def engine_cache_locked(src):
    engines = calls_to(src, CREATE_ASYNC_ENGINE)
    if not engines:
        return failed("database.py never calls `create_async_engine(...)`", diagnosis="no-engine")
    eager = _at_import(src)
    if eager is not None:
        return eager
    locks = tuple(sorted({name for target in LOCKS for call in calls_to(src, target)
                          for name in _bound_names(src, call)}))
    for call in engines:
        if locks and held(src, call, locks):
            continue
        shown = f"`{src.code(call)}`"
        owner = _function_of(src, call)
        fresh = held(src, call, NEW_LOCK)
        if fresh:
            item = _lock_item(src, fresh.node)
            made = f"`{src.code(item)}`, a lock made" if isinstance(item, cst.Name) else f"a new `{src.code(item)}`"
            return failed(f"this `with` takes {made} on every call: each "
                          "thread gets its own lock, so none ever waits for another and two can still create two "
                          "engines. Make the lock once, at module level (`_lock = threading.Lock()`), and take that "
                          "one", line=fresh.line, diagnosis="lock-per-call", node=fresh.node)
        if owner is not None and _per_request(src, owner):
            return failed(f"{shown} runs in `{owner.name.value}`, on every request: each request builds a new "
                          f"engine with its own pool. Ask the cache for the session factory instead "
                          f"({_cache_hint(src)}), which creates the engine once per URL",
                          line=src.line(call), diagnosis="engine-per-request", node=call)
        memo = _memoized(src, owner)
        if memo is not None:
            return failed(f"`{owner.name.value}` relies on `@{src.code(memo.decorator)}`, which is no lock: two "
                          "threads that miss the cache at the same moment both run it and create two engines. Keep a "
                          "dict and do the look-up and the creation inside `with _lock:`",
                          line=src.line(memo), diagnosis="lru-cache", node=memo)
        if not locks:
            return failed(f"nothing locks the engine cache: two threads can both miss it and both run {shown}. Make "
                          "one `_lock = threading.Lock()` at module level and create engines inside `with _lock:`",
                          line=src.line(call), diagnosis="no-lock", node=call)
        return failed(f"{shown} runs outside `with {locks[0]}:`: two threads could both miss the cache and create "
                      "two engines for one URL; do the look-up and the creation inside the lock",
                      line=src.line(call), diagnosis="engine-outside-lock", node=call)
    return passed("engines are created under a lock", node=engines[0], line=src.line(engines[0]))


def _at_import(src):
    """A failed finding for an engine created while the module is imported: by module-level code (a
    statement, a loop, a helper it calls) or by `get_session`, which the aliases call at import."""
    functions = module_functions(src)
    start = [n for n in walk(src.module, into_nested=False)
             if isinstance(n, cst.SimpleStatementLine | cst.BaseCompoundStatement)
             and not isinstance(n, cst.FunctionDef | cst.ClassDef)
             and not any(isinstance(a, cst.FunctionDef | cst.ClassDef) for a in src.ancestors(n))]
    queue = [(stmt, [stmt]) for stmt in start if src.parent(stmt) is src.module]
    seen = set()
    while queue:
        root, path = queue.pop(0)
        for node in walk(root, into_nested=False):
            if not isinstance(node, cst.Call):
                continue
            if refers_to(src, node.func, CREATE_ASYNC_ENGINE):
                return _eager(src, node, path)
            helper = functions.get(node.func.value) if isinstance(node.func, cst.Name) else None
            if helper is not None and id(helper) not in seen:
                seen.add(id(helper))
                queue.append((helper.body, [*path, node]))
    return None


def _eager(src, call, path):
    """Where to point for an engine made at import: the statement of get_session that makes it, else the
    module-level statement that leads to it."""
    getter = module_functions(src).get("get_session")
    if getter is not None:
        inside = [c for c in path[1:] + [call] if _function_of(src, c) is getter]
        if inside:
            return failed(f"`get_session` creates an engine as soon as it is called (`{src.code(inside[0])}`), and "
                          "the aliases call it when main.py is imported: create the engine the first time the "
                          "dependency runs, inside it", line=src.line(inside[0]), diagnosis="engine-at-call",
                          node=inside[0])
    where = path[0] if len(path) > 1 else call
    via = f" (through `{src.code(path[1].func)}`)" if len(path) > 1 else ""
    return failed(f"`{src.code(call)}` runs when the module is imported{via}: an engine does not connect yet, but it "
                  "loads its driver and sets up a pool, for a database the run may never use; create each one on "
                  "first use, in the function that caches them",
                  line=src.line(where), diagnosis="engine-at-import", node=where)


def _function_of(src, node):
    return next((a for a in src.ancestors(node) if isinstance(a, cst.FunctionDef)), None)


def _per_request(src, fn):
    """`fn` runs per request: it yields (a dependency), or it is defined inside get_session."""
    if any(isinstance(n, cst.Yield) for n in walk(fn.body, into_nested=False)):
        return True
    return any(isinstance(a, cst.FunctionDef) and a.name.value == "get_session" for a in src.ancestors(fn))


def _cache_hint(src):
    return "`session_factory(url)`" if "session_factory" in module_functions(src) else "the function that caches them"


def _memoized(src, fn):
    if fn is None:
        return None
    def memoizes(decorator):
        target = decorator.func if isinstance(decorator, cst.Call) else decorator
        return any(refers_to(src, target, m) for m in MEMOIZERS)
    return next((d for d in fn.decorators if memoizes(d.decorator)), None)


def _lock_item(src, with_node):
    return next((i.item for i in with_node.items if find_mismatch(src, i.item, NEW_LOCK) is None), with_node)


def _bound_names(src, call):
    """The module-level names a `threading.Lock()` call is assigned to."""
    parent = src.parent(call)
    if any(isinstance(a, cst.FunctionDef) for a in src.ancestors(call)):
        return []
    if isinstance(parent, cst.Assign):
        return [t.target.value for t in parent.targets if isinstance(t.target, cst.Name)]
    if isinstance(parent, cst.AnnAssign) and isinstance(parent.target, cst.Name):
        return [parent.target.value]
    return []


# -- the aliases ----------------------------------------------------------------------------------

@check("aliases-defined")
def aliases_defined(src):
    findings, uncalled = [], []
    for alias, calls in ALIASES.items():
        # Any further arguments (scope="function") are left to the behavioural check commit-before-response.
        patterns = tuple(f"typing.Annotated[{s}, fastapi.Depends({c}, **_)]" for s in ASYNC_SESSION for c in calls)
        shape = assignment(src, alias, patterns)
        if not shape.ok and shape.node is not None and _passes_factory(src, shape.node):
            uncalled.append((alias, shape))
            continue
        findings.append(shape)
        if shape.ok:
            findings.append(defined_after(src, alias, "get_session"))
    if uncalled:
        names = " and ".join(f"`{alias}`" for alias, _ in uncalled)
        calls = ", ".join(f"`Depends({ALIASES[alias][0]}, scope=\"function\")`" for alias, _ in uncalled)
        first = uncalled[0][1]
        findings.insert(0, failed(f"{names} {'pass' if len(uncalled) > 1 else 'passes'} `get_session` itself to "
                                  f"`{spelled(src, 'fastapi.Depends')}`: get_session is now a factory, so call it "
                                  f"({calls}) and Depends gets the dependency it returns",
                                  line=first.line, diagnosis="factory-not-called", node=first.node))
    return all_of(*findings)


def _passes_factory(src, value):
    depends = [n for n in walk(value) if isinstance(n, cst.Call) and refers_to(src, n.func, "fastapi.Depends")]
    given = next((a.value for a in depends[0].args if a.keyword is None or a.keyword.value == "dependency"), None) \
        if depends else None
    return given is not None and find_mismatch(src, given, "get_session") is None


# -- main.py --------------------------------------------------------------------------------------

@check("stats-endpoint")
def stats_endpoint(src):
    stats = [e for e in endpoints(src) if e.path == "/stats" and "GET" in e.methods]
    if not stats:
        return failed('main.py has no `@app.get("/stats")` endpoint: add one that takes a `PrimarySessionDep` and an '
                      "`AnalyticsSessionDep`", diagnosis="no-stats")
    fn = stats[0].node
    params = [*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params]
    found = {alias for alias in ALIASES for p in params if _takes(src, p, alias)}
    unknown = [p for p in params if not any(_takes(src, p, a) for a in ALIASES) and _maybe_dependency(src, p)]
    missing = [alias for alias in ALIASES if alias not in found]
    if missing and len(unknown) < len(missing):
        return failed(f"{stats[0].label} must take one session of each database; it has no "
                      f"{' and no '.join(missing)} parameter", line=src.line(fn), diagnosis="one-database", node=fn)
    return passed("GET /stats takes both sessions", node=fn, line=src.line(fn))


def _takes(src, param, alias):
    """The parameter is a session of `alias`: annotated with it, or with what it stands for."""
    hint = param.annotation.annotation if param.annotation is not None else None
    spelled_out = tuple(f"typing.Annotated[{s}, fastapi.Depends(database.{c}, **_)]" for s in ASYNC_SESSION
                        for c in ALIASES[alias])
    if hint is not None and (find_mismatch(src, hint, f"database.{alias}") is None
                             or find_mismatch(src, hint, spelled_out) is None):
        return True
    depends = tuple(f"fastapi.Depends(database.{c}, **_)" for c in ALIASES[alias])
    return param.default is not None and find_mismatch(src, param.default, depends) is None


def _maybe_dependency(src, param):
    """A parameter whose session this check cannot name (an alias of main.py's own, say)."""
    hint = param.annotation.annotation if param.annotation is not None else None
    if param.default is not None and any(isinstance(n, cst.Call) and refers_to(src, n.func, "fastapi.Depends")
                                         for n in walk(param.default)):
        return True
    if hint is None:
        return False
    return not any(refers_to(src, hint, b) for b in ("builtins.int", "builtins.str", "builtins.bool", "builtins.float"))


@check("endpoints-leave-commit")
def endpoints_leave_commit(src):
    """As in chapter 6: the dependency get_session returns owns each transaction; an endpoint flushes, never commits."""
    found = endpoints(src)
    if not found:
        return failed("main.py has no path operations (`@app.get(...)` and friends)", diagnosis="no-endpoints")
    owning = endpoints_owning_transactions(src, found, flush="await session.flush()", owner=(
        "the dependency that get_session returns owns the transaction, committing once the endpoint has succeeded "
        "and rolling back if it fails"))
    return owning if owning is not None else passed("the endpoints leave the transaction to the session dependency")
