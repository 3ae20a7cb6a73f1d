"""The learner's path operations: which function serves a method and a path, and where it is."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from grader.blame import definition, where


def endpoint_function(app: Any, method: str, path: str) -> Callable[..., Any] | None:
    """The function of `app` that serves `method path` (a URL such as `/heroes/7?x=1`, or a route's own
    template, `/heroes/{hero_id}`), looking inside included routers and mounted apps; None if none does."""
    from starlette.routing import Match

    method, path = method.upper(), urlsplit(path).path
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "path_params": {}, "headers": []}

    def served(routes: list[Any], scope: dict[str, Any]) -> Callable[..., Any] | None:
        for route in routes:
            try:
                match, child = route.matches(scope)
            except Exception:  # noqa: BLE001 - a route that cannot match this scope does not serve it
                continue
            if match != Match.FULL:
                continue
            nested = _nested(route)
            if nested:
                found = served(nested, {**scope, **child})
                if found is not None:
                    return found
            elif inspect.isfunction(definition(child.get("endpoint"))):
                return child["endpoint"]
        return None

    routes = _nested(app)
    found = served(routes, scope)
    if found is None and "{" in path:
        found = next((r.endpoint for r in _flat(routes)
                      if getattr(r, "path", None) == path and method in (getattr(r, "methods", None) or ())), None)
    return found


def _nested(route: Any) -> list[Any]:
    """The routes inside an app, a mount or an included router (FastAPI keeps those apart)."""
    candidates = getattr(route, "effective_candidates", None)
    if callable(candidates):
        return list(candidates())
    return list(getattr(route, "routes", None) or [])


def _flat(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        yield route
        yield from _flat(_nested(route))


def endpoint_of(app: Any, method: str, path: str) -> tuple[str | None, int | None]:
    """(file, line of the `def`) of the learner's function that serves `method path`; (None, None) if none."""
    found = endpoint_function(app, method, path)
    return where(found) if found is not None else (None, None)
