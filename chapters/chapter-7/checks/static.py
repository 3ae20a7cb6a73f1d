"""Chapter 7's static checks: the database config, the get_session factory, the engine cache and the
aliases (database.py), and an endpoint that reads from both databases (main.py)."""

import ast

import libcst as cst

from grader.static import (
    all_of,
    assignment,
    calls_to,
    check,
    defined_after,
    endpoints,
    failed,
    find_mismatch,
    function,
    held,
    parameter,
    passed,
    refers_to,
    walk,
    yields_inside,
)

ASYNC_SESSION = ("sqlmodel.ext.asyncio.session.AsyncSession", "sqlalchemy.ext.asyncio.AsyncSession")
CREATE_ASYNC_ENGINE = "sqlalchemy.ext.asyncio.create_async_engine"
LOCKS = ("threading.Lock", "threading.RLock")
ALIASES = {
    "PrimarySessionDep": ("get_session()", 'get_session("primary")', "get_session(None)"),
    "AnalyticsSessionDep": ('get_session("analytics")', 'get_session(database="analytics")'),
}


@check("config-defined")
def config_defined(src):
    found = assignment(src, "DATABASES")
    if not found.ok:
        return found.otherwise("{message}: describe the databases in a dict, `DATABASES = {{\"primary\": {{\"url\": "
                               "..., \"dev_url\": ...}}, \"analytics\": {{...}}}}`")
    if not isinstance(found.node, cst.Dict):
        return found  # built another way (from a TOML file, say): the behavioural checks judge it
    try:
        config = ast.literal_eval(src.code(found.node))
    except (ValueError, SyntaxError):
        return found
    missing = [name for name in ("primary", "analytics") if name not in config]
    if missing:
        return failed(f"DATABASES (line {found.line}) has no {' and no '.join(repr(m) for m in missing)} entry",
                      line=found.line, diagnosis="config-shape", node=found.node)
    for name, entry in config.items():
        if not isinstance(entry, dict) or not {"url", "dev_url"} <= set(entry):
            return failed(f"DATABASES[{name!r}] (line {found.line}) must be a dict with a \"url\" and a \"dev_url\"",
                          line=found.line, diagnosis="config-shape", node=found.node)
    return found


def inner_dependency(src, fn):
    """The `async def` nested in get_session, or None."""
    return next((n for n in walk(fn.body) if isinstance(n, cst.FunctionDef) and n.asynchronous is not None), None)


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
        return failed(f"`get_session` (line {src.line(fn)}) needs {' and '.join(problems)}: "
                      "`def get_session(database: str | None = None, *, dev: bool = False):`",
                      line=src.line(fn), diagnosis="wrong-signature", node=fn)
    if fn.asynchronous is not None:
        return failed(f"`get_session` (line {src.line(fn)}) is `async def`, but it is called while the module "
                      "loads, in `Depends(get_session(...))`: make it a plain `def` that returns the dependency",
                      line=src.line(fn), diagnosis="async-factory", node=fn)
    return passed("get_session(database=None, *, dev=False)", node=fn, line=src.line(fn))


@check("returns-dependency")
def returns_dependency(src):
    fn = function(src, "get_session").node
    own_yields = [n for n in walk(fn.body, into_nested=False) if isinstance(n, cst.Yield)]
    if own_yields:
        return failed(f"`get_session` yields itself (line {src.line(own_yields[0])}): now it is a factory; it must "
                      "*return* an async generator function defined inside it, which FastAPI then calls per request",
                      line=src.line(own_yields[0]), diagnosis="factory-yields", node=own_yields[0])
    inner = inner_dependency(src, fn)
    if inner is None:
        return failed(f"`get_session` (line {src.line(fn)}) defines no `async def` inside it: define the dependency "
                      "there (`async def session_dependency():` that yields a session) and return it",
                      line=src.line(fn), diagnosis="no-inner-dependency", node=fn)
    name = inner.name.value
    returns = [n for n in walk(fn.body, into_nested=False) if isinstance(n, cst.Return) and n.value is not None]
    if not any(isinstance(r.value, cst.Name) and r.value.value == name for r in returns):
        line = src.line(returns[0]) if returns else src.line(fn)
        return failed(f"`get_session` must `return {name}` (the function itself, not a call of it), so that "
                      f"`Depends(get_session(...))` receives a dependency", line=line, diagnosis="returns-other",
                      node=returns[0] if returns else fn)
    opened = yields_inside(src, inner, ("_(...)",))
    if opened.diagnosis == "not-opened":  # the block can only show the opener as `_()`: say what it is
        return opened.otherwise(f"`{name}` never opens a session: write `async with session_factory(url)() as "
                                "session:` and yield the session inside the block")
    if not opened.ok:
        return opened
    outer = next((w for w in src.ancestors(opened.node) if isinstance(w, cst.With)), None)
    if outer is not None and outer.asynchronous is None:
        return failed(f"line {src.line(outer)} opens the session with a plain `with`; use `async with`",
                      line=src.line(outer), diagnosis="sync-with", node=outer)
    return passed(f"get_session returns `{name}`", node=inner, line=src.line(inner))


@check("engine-cache-locked")
def engine_cache_locked(src):
    engines = calls_to(src, CREATE_ASYNC_ENGINE)
    if not engines:
        return failed("database.py never calls `create_async_engine(...)`", diagnosis="no-engine")
    for call in engines:
        if not any(isinstance(a, cst.FunctionDef) for a in src.ancestors(call)):
            return failed(f"`{src.code(call)}` on line {src.line(call)} runs when the module is imported: engines "
                          "must be created lazily, on first use, inside the function that caches them",
                          line=src.line(call), diagnosis="engine-at-import", node=call)
    locks = {name for target in LOCKS for call in calls_to(src, target)
             for name in _bound_names(src, call)}
    if not locks:
        return failed("no lock guards the engine cache: add `_lock = threading.Lock()` at module level, and create "
                      "engines inside `with _lock:`", diagnosis="no-lock")
    for call in engines:
        if not held(src, call, tuple(sorted(locks))):
            return failed(f"`{src.code(call)}` on line {src.line(call)} is outside `with {sorted(locks)[0]}:`: two "
                          "threads could both miss the cache and create two engines for one URL",
                          line=src.line(call), diagnosis="engine-outside-lock", node=call)
    return passed("engines are created under a lock", node=engines[0], line=src.line(engines[0]))


def _bound_names(src, call):
    """The module-level names a `threading.Lock()` call is assigned to."""
    parent = src.parent(call)
    if isinstance(parent, cst.Assign) and not any(isinstance(a, cst.FunctionDef) for a in src.ancestors(call)):
        return [t.target.value for t in parent.targets if isinstance(t.target, cst.Name)]
    if isinstance(parent, cst.AnnAssign) and isinstance(parent.target, cst.Name):
        return [parent.target.value]
    return []


@check("aliases-defined")
def aliases_defined(src):
    findings = []
    for alias, calls in ALIASES.items():
        patterns = tuple(f"typing.Annotated[{s}, fastapi.Depends({c})]" for s in ASYNC_SESSION for c in calls)
        shape = assignment(src, alias, patterns)
        if not shape.ok and shape.node is not None:
            depends = [n for n in walk(shape.node)
                       if isinstance(n, cst.Call) and refers_to(src, n.func, "fastapi.Depends")]
            given = depends[0].args[0].value if depends and depends[0].args else None
            if given is not None and find_mismatch(src, given, "get_session") is None:
                shape = shape.otherwise(f"`{alias}` passes `get_session` itself to Depends; get_session is now a "
                                        f"factory: call it, `Depends({calls[0]})`, and Depends gets the dependency "
                                        "it returns", diagnosis="factory-not-called")
        findings.append(shape)
        if shape.ok:
            findings.append(defined_after(src, alias, "get_session"))
    return all_of(*findings)


# -- main.py ------------------------------------------------------------------------------

@check("stats-endpoint")
def stats_endpoint(src):
    stats = [e for e in endpoints(src) if e.path == "/stats" and "GET" in e.methods]
    if not stats:
        return failed('main.py has no `@app.get("/stats")` endpoint: add one that takes a `PrimarySessionDep` and an '
                      "`AnalyticsSessionDep`", diagnosis="no-stats")
    fn = stats[0].node
    missing = [alias for alias in ALIASES if not parameter(src, fn, annotation=f"database.{alias}").ok]
    if missing:
        return failed(f"{stats[0].label} (line {src.line(fn)}) must take one parameter of each alias; it has no "
                      f"{' and no '.join(missing)}", line=src.line(fn), diagnosis="one-database", node=fn)
    return passed("GET /stats takes both sessions", node=fn, line=src.line(fn))
