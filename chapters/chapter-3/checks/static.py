"""Chapter 3's static checks: every endpoint gets its session from the dependency, none opens one."""

import libcst as cst

from grader.static import (
    calls_to,
    check,
    endpoints,
    failed,
    imported,
    parameter,
    parameters,
    passed,
    refers_to,
    resolved,
    resolves_to,
    walk,
)

# What counts as "the session dependency", however it is spelled.
SESSION_DEP = (
    "database.SessionDep",
    "typing.Annotated[sqlmodel.Session, fastapi.Depends(database.get_session, ...)]",
)
SESSION_DEFAULT = "fastapi.Depends(database.get_session, ...)"
SESSION_CLASSES = ("sqlmodel.Session", "sqlalchemy.orm.Session")


def no_endpoints(src):
    return failed(f"{src.name} defines no endpoints (functions decorated with `@app.get(...)`, "
                  "`@app.post(...)`, ...): keep the five heroes endpoints of the starter", diagnosis="no-endpoints")


@check("sessiondep-imported")
def sessiondep_imported(src):
    return imported(src, "database.SessionDep", also=("database.get_session",))


def takes_session(src, fn):
    return (parameter(src, fn, annotation=SESSION_DEP)
            or parameter(src, fn, annotation="sqlmodel.Session", default=SESSION_DEFAULT))


def why_no_session(src, endpoint):
    """The most useful explanation of why `endpoint` has no session parameter."""
    for param in parameters(endpoint.node):
        for part in (param.annotation.annotation if param.annotation else None, param.default):
            if part is None:
                continue
            behind = resolved(src, part)
            for call in (n for n in (behind, *walk(behind)) if isinstance(n, cst.Call)):
                if not (refers_to(src, call.func, "fastapi.Depends") and call.args):
                    continue
                given = call.args[0].value
                if isinstance(given, cst.Call):
                    return failed(f"{endpoint.label} passes `{src.code(call)}` (line {src.line(param)}): that calls "
                                  "the function once, at import; give `Depends` the function itself",
                                  line=src.line(param), diagnosis="depends-called")
                if not refers_to(src, given, "database.get_session"):
                    return failed(f"{endpoint.label} depends on `{src.code(given)}` (line {src.line(param)}), not on "
                                  "the `get_session` of database.py: use `SessionDep` from database",
                                  line=src.line(param), diagnosis="wrong-dependency")
        hint = param.annotation.annotation if param.annotation else None
        if hint is not None and param.default is None and resolves_to(src, hint, SESSION_CLASSES):
            return failed(f"{endpoint.label} declares `{src.code(param).rstrip(',')}` (line {src.line(param)}): a bare "
                          "`Session` hint does not tell FastAPI how to make a session; write `session: SessionDep`",
                          line=src.line(param), diagnosis="plain-session-hint")
    return failed(f"{endpoint.label} (line {src.line(endpoint.node)}) takes no session: add the parameter "
                  "`session: SessionDep`", line=src.line(endpoint.node), diagnosis="no-session-param")


@check("endpoints-take-session")
def endpoints_take_session(src):
    found = endpoints(src)
    if not found:
        return no_endpoints(src)
    for endpoint in found:
        if not takes_session(src, endpoint.node):
            return why_no_session(src, endpoint)
    return passed(f"all {len(found)} endpoints take the session dependency")


@check("no-own-session")
def no_own_session(src):
    found = endpoints(src)
    if not found:
        return no_endpoints(src)
    for endpoint in found:
        opened = [c for target in SESSION_CLASSES for c in calls_to(src, target, within=endpoint.node.body)]
        if opened:
            call = min(opened, key=src.line)
            return failed(f"{endpoint.label} opens its own session with `{src.code(call)}` (line {src.line(call)}): "
                          "use the `session` FastAPI passes in, and remove the `with` block",
                          line=src.line(call), diagnosis="opens-own-session")
        direct = calls_to(src, "database.get_session", within=endpoint.node.body)
        if direct:
            call = direct[0]
            return failed(f"{endpoint.label} calls `{src.code(call)}` itself (line {src.line(call)}): let FastAPI call "
                          "the dependency by declaring `session: SessionDep`", line=src.line(call),
                          diagnosis="calls-dependency")
    return passed("no endpoint opens a session")
