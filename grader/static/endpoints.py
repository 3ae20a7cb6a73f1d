"""Building blocks about a FastAPI app's endpoints (path operations) and their parameters.

An endpoint is a function decorated with ``@app.get(...)``, ``.post``, ``.put``, ``.patch``,
``.delete`` (also ``.head``, ``.options``, ``.trace``, ``.api_route(..., methods=[...])``) where
``app`` is a name bound at module level to ``FastAPI(...)`` or ``APIRouter(...)``, however
those were imported (``from fastapi import FastAPI as F``, ``import fastapi``). An app imported
from another module is not recognised: its decorators are not endpoints of this file::

    for endpoint in endpoints(src):
        found = parameter(src, endpoint.node, annotation="database.SessionDep")
        if not found:
            return found.otherwise(f"{endpoint.label} takes no session")
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import libcst as cst

from grader.static.assignments import module_bindings
from grader.static.calls import argument
from grader.static.finding import Finding, failed, passed
from grader.static.patterns import Patterns, alternatives, display, find_mismatch
from grader.static.source import Source, walk

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "trace")
APP_CLASSES = ("fastapi.FastAPI", "fastapi.APIRouter", "fastapi.routing.APIRouter")
"""What an app object is made from (qualified names; `fastapi.applications.FastAPI` is canonical already)."""


@dataclass(frozen=True)
class Endpoint:
    """A path operation function and what its decorator says."""

    name: str
    methods: tuple[str, ...]
    """Upper case, e.g. ``("POST",)``."""
    path: str | None
    """The path when the decorator gives it as a plain string, else None."""
    app: str
    """The name of the FastAPI or APIRouter object the decorator uses."""
    node: cst.FunctionDef

    @property
    def label(self) -> str:
        """How a message names it: ``POST /heroes/ (`create_hero`)``."""
        route = " ".join(filter(None, ("/".join(self.methods), self.path)))
        return f"{route} (`{self.name}`)" if route else f"`{self.name}`"


_ENDPOINTS: WeakKeyDictionary[Source, list[Endpoint]] = WeakKeyDictionary()


def app_objects(src: Source) -> dict[str, cst.Call]:
    """Module-level names bound to ``FastAPI(...)`` or ``APIRouter(...)`` (``=`` or ``app: FastAPI = ...``)."""
    found: dict[str, cst.Call] = {}
    for name, entries in module_bindings(src).items():
        for _stmt, value in entries:
            if isinstance(value, cst.Call) and find_mismatch(src, value.func, APP_CLASSES) is None:
                found[name] = value
    return found


def endpoints(src: Source) -> list[Endpoint]:
    """Every function decorated as a path operation of an app or router of this file, in source order."""
    if src not in _ENDPOINTS:
        _ENDPOINTS[src] = _find_endpoints(src)
    return list(_ENDPOINTS[src])


def endpoint(src: Source, method: str, path: str) -> Finding:
    """The path operation that serves `method` `path` (as its decorator writes it: ``"POST"``, ``"/heroes/batch"``);
    the finding's node is its function.

    Diagnoses: ``other-path`` (no such endpoint, but one for the same method at a close path: at it),
    ``no-endpoint`` (at the file's last line, where it would be added).
    """
    method = method.upper()
    same_method = [e for e in endpoints(src) if method in e.methods]
    for found in same_method:
        if found.path == path:
            return passed(f"{found.label} is defined", node=found.node, line=src.line(found.node))
    paths = {e.path: e for e in same_method if e.path is not None}
    close = difflib.get_close_matches(path, list(paths), n=1, cutoff=0.8)
    if close:
        found = paths[close[0]]
        return failed(f"there is no {method} {path}, but there is {found.label}: check the path",
                      diagnosis="other-path", line=src.line(found.node), node=found.node)
    app = next(iter(app_objects(src)), "app")
    return failed(f'{src.name} has no {method} {path} endpoint: add one, `@{app}.{method.lower()}("{path}")`',
                  line=src.last_line, diagnosis="no-endpoint")


def _find_endpoints(src: Source) -> list[Endpoint]:
    apps = app_objects(src)
    out: list[Endpoint] = []
    for fn in (n for n in walk(src.module) if isinstance(n, cst.FunctionDef)):
        for decorator in fn.decorators:
            route = _route(decorator.decorator, apps)
            if route is not None:
                app, methods, path = route
                out.append(Endpoint(fn.name.value, methods, path, app, fn))
                break
    return out


def _route(expr: cst.BaseExpression, apps: dict[str, cst.Call]) -> tuple[str, tuple[str, ...], str | None] | None:
    """(app name, methods, path) if `expr` is ``app.<method>(...)`` on a known app, else None."""
    if not (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
            and isinstance(expr.func.value, cst.Name) and expr.func.value.value in apps):
        return None
    verb = expr.func.attr.value
    if verb in HTTP_METHODS:
        methods: tuple[str, ...] = (verb.upper(),)
    elif verb == "api_route":
        methods = _api_route_methods(expr)
    else:
        return None
    path_arg = argument(expr, "path", 0)
    path = path_arg.evaluated_value if isinstance(path_arg, cst.SimpleString) else None
    return expr.func.value.value, methods, path if isinstance(path, str) else None


def _api_route_methods(call: cst.Call) -> tuple[str, ...]:
    given = argument(call, "methods")
    if not isinstance(given, (cst.List, cst.Tuple, cst.Set)):
        return ("GET",) if given is None else ()
    return tuple(e.value.evaluated_value.upper() for e in given.elements
                 if isinstance(e.value, cst.SimpleString) and isinstance(e.value.evaluated_value, str))


def parameters(fn: cst.FunctionDef) -> list[cst.Param]:
    """Every named parameter of `fn`: positional-only, ordinary and keyword-only."""
    p = fn.params
    return [*p.posonly_params, *p.params, *p.kwonly_params]


def parameter(src: Source, fn: cst.FunctionDef, *, annotation: Patterns | None = None,
              default: Patterns | None = None) -> Finding:
    """`fn` has a parameter whose annotation matches `annotation` and whose default matches
    `default` (each only if given). Patterns follow `grader.static.patterns`; names bound at
    module level are looked through, so ``Dep = Annotated[Session, Depends(f)]`` then ``s: Dep``
    matches ``typing.Annotated[sqlmodel.Session, fastapi.Depends(f)]``. The finding's node is the
    parameter.

    Diagnosis: ``no-matching-parameter`` (at the function's line).
    """
    for param in parameters(fn):
        hint = param.annotation.annotation if param.annotation is not None else None
        if annotation is not None and (hint is None or find_mismatch(src, hint, annotation) is not None):
            continue
        if default is not None and (param.default is None or find_mismatch(src, param.default, default) is not None):
            continue
        return passed(f"`{fn.name.value}` takes `{src.code(param).rstrip(',').strip()}`", node=param,
                      line=src.line(param))
    wanted = [f"annotated `{display(alternatives(annotation)[0], src)}`" if annotation is not None else "",
              f"with the default `{display(alternatives(default)[0], src)}`" if default is not None else ""]
    return failed(f"`{fn.name.value}` has no parameter {' and '.join(w for w in wanted if w)}",
                  line=src.line(fn), diagnosis="no-matching-parameter", node=fn)
