"""Chapter 3's static checks: every endpoint gets its session from the dependency, none opens one, and
main.py no longer imports what only the old `with Session(engine)` blocks used."""

import libcst as cst

from grader.static import (
    bindings,
    call_path,
    calls_to,
    check,
    endpoints,
    failed,
    imported,
    module_imports,
    parameter,
    parameters,
    passed,
    refers_to,
    resolved,
    resolves_to,
    spelled,
    walk,
)
from grader.static.reexports import canonical

# What counts as "the session dependency", however it is spelled.
SESSION_DEP = (
    "database.SessionDep",
    "typing.Annotated[sqlmodel.Session, fastapi.Depends(database.get_session, ...)]",
)
SESSION_DEFAULT = "fastapi.Depends(database.get_session, ...)"
SESSION_CLASSES = ("sqlmodel.Session", "sqlalchemy.orm.Session")
LEFTOVERS = {canonical("sqlmodel.Session"): "Session", canonical("sqlalchemy.orm.Session"): "Session",
             "database.engine": "engine"}
"""What the old `with Session(engine)` blocks needed and instruction 3 removes (qualified name -> what it is)."""


def no_endpoints(src):
    return failed(f"{src.name} defines no endpoints (functions decorated with `@app.get(...)`, "
                  "`@app.post(...)`, ...): keep the five heroes endpoints of the starter", diagnosis="no-endpoints")


def dep(src):
    """`SessionDep` as main.py spells it (an `as` alias, `database.SessionDep`)."""
    return spelled(src, "database.SessionDep")


SHORT = {
    "no-session-param": "takes no session",
    "plain-session-hint": "has a bare `Session` annotation",
    "depends-called": "calls `get_session` inside `Depends`",
    "depends-twice": "gives `Depends` twice",
    "wrong-dependency": "depends on another function",
    "opens-own-session": "opens its own session",
    "calls-dependency": "calls `get_session` itself",
}
"""How the list of "every endpoint" checks names the other offenders' mistakes."""


def every(problems):
    """One finding for several endpoints' problems ((name, finding), in report order): the first one's
    message and line, then each other offender with its line (once per line: one alias, one fix)."""
    first = problems[0][1]
    seen, others = {first.line}, []
    for other, why in problems[1:]:
        if why.line not in seen:
            seen.add(why.line)
            others.append((other, why))
    if not others:
        return first
    if all(why.diagnosis == first.diagnosis for _n, why in others):
        names = [f"`{n}` (line {why.line})" for n, why in others]
        tail = f"The same goes for {names[0] if len(names) == 1 else ', '.join(names[:-1]) + ' and ' + names[-1]}"
    else:
        tail = "Also " + "; ".join(f"`{n}` (line {why.line}) {SHORT.get(why.diagnosis, 'has a problem too')}"
                                   for n, why in others)
    return failed(f"{first.message}. {tail}", line=first.line, diagnosis=first.diagnosis)


# -- 1. import SessionDep --------------------------------------------------------------------------------------------
@check("sessiondep-imported")
def sessiondep_imported(src):
    found = imported(src, "database.SessionDep", also=("database.get_session",))
    if found or found.diagnosis != "missing-import":
        return found
    from_database = [node for _bound, qualified, node in module_imports(src) if qualified.startswith("database.")]
    line = src.line(from_database[-1]) if from_database else found.line
    where = ("add it to this `from database import ...` line" if from_database
             else "add `from database import SessionDep` to the imports")
    own = [name for name in ("SessionDep", "get_session") if bindings(src).get(name)]
    if own:
        return failed(f"`SessionDep` is not imported: main.py makes its own `{own[0]}` (line "
                      f"{src.line(bindings(src)[own[0]][0][0])}) instead of using the one database.py defines; "
                      f"{where} and delete main.py's own", line=line, diagnosis="own-dependency")
    return failed(f"`SessionDep` is not imported: {where}, so that the endpoints can declare the session "
                  "dependency database.py defines", line=line, diagnosis="missing-import")


# -- 2. every endpoint takes session: SessionDep ---------------------------------------------------------------------
def takes_session(src, fn):
    return (parameter(src, fn, annotation=SESSION_DEP)
            or parameter(src, fn, annotation="sqlmodel.Session", default=SESSION_DEFAULT))


def depends_calls(src, part):
    """The `Depends(...)` calls in an annotation or default, looked through module-level aliases."""
    if part is None:
        return []
    behind = resolved(src, part)
    return [n for n in (behind, *walk(behind)) if isinstance(n, cst.Call) and refers_to(src, n.func, "fastapi.Depends")
            and n.args]


def depends_twice(src, endpoint):
    """`session: SessionDep = Depends(get_session)`: a dependency in the annotation and another as the default."""
    for param in parameters(endpoint.node):
        hint = param.annotation.annotation if param.annotation else None
        if hint is None or param.default is None or not depends_calls(src, param.default):
            continue
        if resolves_to(src, hint, SESSION_DEP) or depends_calls(src, hint):
            return failed(f"{endpoint.label} declares `{src.code(param).rstrip(',').strip()}`: the annotation "
                          "already holds `Depends`, and FastAPI refuses a second one as the default (main.py then "
                          f"fails to import); keep `session: {dep(src)}` without a default", line=src.line(param),
                          diagnosis="depends-twice")
    return None


def why_no_session(src, endpoint):
    """The most useful explanation of why `endpoint` has no session parameter."""
    for param in parameters(endpoint.node):
        hint = param.annotation.annotation if param.annotation else None
        for part in (hint, param.default):
            for call in depends_calls(src, part):
                given = call.args[0].value
                through = f" uses `{src.code(part)}`, whose" if src.line(call) != src.line(param) else ""
                if isinstance(given, cst.Call):
                    return failed(f"{endpoint.label}{through or ':'} `{src.code(call)}` calls "
                                  f"`{src.code(given.func)}` once, when main.py is imported, and hands FastAPI what it "
                                  "returned; give `Depends` the function itself, without the parentheses",
                                  line=src.line(call), diagnosis="depends-called")
                if not refers_to(src, given, "database.get_session"):
                    own = " main.py's own" if src.code(given) in bindings(src) else ""
                    return failed(f"{endpoint.label}{through or ''} depends on{own} `{src.code(given)}`, not on the "
                                  f"`get_session` of database.py: use `{dep(src)}` from database", line=src.line(call),
                                  diagnosis="wrong-dependency")
        if hint is not None and param.default is None and resolves_to(src, hint, SESSION_CLASSES):
            return failed(f"{endpoint.label} declares `{src.code(param).rstrip(',').strip()}`: a bare `Session` "
                          f"annotation does not tell FastAPI how to make a session; `{dep(src)}` does",
                          line=src.line(param), diagnosis="plain-session-hint")
    return failed(f"{endpoint.label} takes no session: add the parameter `session: {dep(src)}`",
                  line=src.line(endpoint.node), diagnosis="no-session-param")


def session_problem(src, endpoint):
    """Why `endpoint` does not get a usable session from the dependency, or None."""
    twice = depends_twice(src, endpoint)
    if twice is not None:
        return twice
    return None if takes_session(src, endpoint.node) else why_no_session(src, endpoint)


@check("endpoints-take-session")
def endpoints_take_session(src):
    found = endpoints(src)
    if not found:
        return no_endpoints(src)
    problems = [(e.name, why) for e in found for why in [session_problem(src, e)] if why is not None]
    if not problems:
        return passed(f"all {len(found)} endpoints take the session dependency")
    return every(sorted(problems, key=lambda p: p[1].line))


# -- 2. no endpoint opens its own session ----------------------------------------------------------------------------
def own_session(src, endpoint):
    """Why `endpoint` works on a session of its own, or None."""
    opened = [c for target in SESSION_CLASSES for c in calls_to(src, target, within=endpoint.node.body)]
    if opened:
        call = min(opened, key=src.line)
        path = call_path(src, call, endpoint.node.body)
        via = f" through `{src.code(path[0].func)}`" if len(path) > 1 else ""
        fix = (f"hand `{src.code(path[0].func)}` the `session` FastAPI passes in" if via
               else "use the `session` FastAPI passes in, and remove the `with` block"
               if isinstance(src.parent(call), cst.WithItem) else "use the `session` FastAPI passes in instead")
        return failed(f"{endpoint.label} opens its own session{via} with `{src.code(call)}`: that session "
                      f"bypasses the dependency; {fix}",
                      line=src.line(call), diagnosis="opens-own-session")
    direct = calls_to(src, "database.get_session", within=endpoint.node.body)
    if direct:
        fix = ("use the `session` FastAPI passes in" if takes_session(src, endpoint.node)
               else f"let FastAPI call the dependency by declaring `session: {dep(src)}`")
        return failed(f"{endpoint.label} calls `{src.code(direct[0])}` itself, so nothing closes that "
                      f"session when the request ends: {fix}", line=src.line(direct[0]),
                      diagnosis="calls-dependency")
    return None


@check("no-own-session")
def no_own_session(src):
    found = endpoints(src)
    if not found:
        return no_endpoints(src)
    problems = [(e.name, why) for e in found for why in [own_session(src, e)] if why is not None]
    if not problems:
        return passed("no endpoint opens a session")
    return every(problems)


# -- 3. Session and engine leave the imports -------------------------------------------------------------------------
def unused_imports(src):
    """(name as imported, what it is, line) of each module-level import of `Session` or `engine` nothing reads."""
    module_scope = src.scope(src.module)
    found = []
    for bound, qualified, node in module_imports(src):
        what = LEFTOVERS.get(canonical(qualified))
        if what is None or bound == "*":
            continue
        assignments = [a for a in module_scope[bound] if getattr(a, "node", None) is node]
        if assignments and not any(a.references for a in module_scope[bound]):
            found.append((bound, what, src.line(node)))
    return found


@check("no-leftover-imports")
def no_leftover_imports(src):
    found = unused_imports(src)
    if not found:
        return passed("main.py imports no unused `Session` or `engine`")
    (name, _what, line), rest = found[0], found[1:]
    others = "".join(f" and `{n}`" + ("" if at == line else f" (line {at})") for n, _w, at in rest)
    verb = "are" if rest else "is"
    return failed(f"`{name}`{others} {verb} still imported, but nothing in main.py uses "
                  f"{'them' if rest else 'it'} now: the endpoints get their session from `{dep(src)}`, so remove "
                  f"{'them' if rest else 'it'} from the imports", line=line, diagnosis="unused-import")
