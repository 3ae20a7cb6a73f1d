"""Building blocks about calls: a call to a qualified name is (not) made, anywhere or inside certain functions.

    called(src, "sqlmodel.create_engine", within="get_engine")
    not_called(src, "sqlmodel.Session", within=["create_hero", "read_heroes"])

`target` is a name as in patterns: dotted names are qualified and match every import
spelling (``sqlmodel.Session`` matches ``Session(...)``, ``S(...)`` and ``sqlmodel.Session(...)``);
a bare name is the learner's own (``get_session``); a tuple of names accepts any of them.
`within` narrows the search to some functions, given by name (module-level functions) or as
nodes; ``None`` searches the whole file. Calls inside nested functions and lambdas of `within` count,
and so do calls made by the module-level functions `within` calls (``lifespan`` calls ``init_db()``,
which calls ``create_db_and_tables()``), however deep; :func:`call_path` gives the chain.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from grader.static.finding import Finding, failed, passed
from grader.static.functions import function
from grader.static.patterns import Patterns, alternatives, display, refers_to
from grader.static.source import Source, enclosing_function, module_functions, walk

Within = cst.CSTNode | str | Iterable[cst.CSTNode | str] | None


def _roots(src: Source, within: Within) -> tuple[list[cst.CSTNode], list[Finding]]:
    """The nodes to search, and a failed finding for each named function that is not defined."""
    if within is None:
        return [src.module], []
    items = [within] if isinstance(within, (cst.CSTNode, str)) else list(within)
    roots: list[cst.CSTNode] = []
    missing: list[Finding] = []
    for item in items:
        if isinstance(item, str):
            found = function(src, item)
            if found:
                roots.append(found.node)  # type: ignore[arg-type]
            else:
                missing.append(found)
        else:
            roots.append(item)
    return roots, missing


def _shown(src: Source, target: Patterns) -> str:
    return display(alternatives(target)[0], src)


def _where(roots: list[cst.CSTNode]) -> str:
    names = [f"`{r.name.value}`" for r in roots if isinstance(r, (cst.FunctionDef, cst.ClassDef))]
    return f" in {' or '.join(names)}" if names else ""


def _reach(src: Source, roots: list[cst.CSTNode], *, helpers: bool = True):
    """(call, the calls that lead to it from the roots) for every call below `roots` and, with `helpers`,
    in the module-level functions they call, transitively (each function once)."""
    functions = module_functions(src) if helpers else {}
    seen = {id(root) for root in roots}
    queue: list[tuple[cst.CSTNode, tuple[cst.Call, ...]]] = [(root, ()) for root in roots]
    while queue:
        root, path = queue.pop(0)
        for n in walk(root):
            if not isinstance(n, cst.Call):
                continue
            yield n, path
            helper = _helper(src, n, functions)
            if helper is not None and id(helper) not in seen:
                seen.add(id(helper))
                queue.append((helper, (*path, n)))


def _calls(src: Source, target: Patterns, roots: list[cst.CSTNode], *, helpers: bool = True) -> list[cst.Call]:
    names = alternatives(target)
    found = dict.fromkeys(call for call, _path in _reach(src, roots, helpers=helpers)
                          if any(refers_to(src, call.func, name) for name in names))
    return list(found)


def _helper(src: Source, call: cst.Call, functions: dict[str, cst.FunctionDef]) -> cst.FunctionDef | None:
    """The module-level function of this file a call calls, if any."""
    if not isinstance(call.func, cst.Name) or call.func.value not in functions:
        return None
    if any("<locals>" in q for q in src.qualified_names(call.func)):
        return None
    return functions[call.func.value]


def calls_to(src: Source, target: Patterns, within: Within = None) -> list[cst.Call]:
    """Calls whose callee refers to `target`: those made in `within` in source order, then those its
    helpers make (functions named in `within` that do not exist are skipped)."""
    return _calls(src, target, _roots(src, within)[0], helpers=within is not None)


def call_path(src: Source, call: cst.Call, within: Within) -> list[cst.Call]:
    """How `within` reaches `call` (one of `calls_to(src, ..., within)`): the calls from the one made in
    `within` to `call` itself (``[call]`` when `within` makes it directly)."""
    for reached, path in _reach(src, _roots(src, within)[0]):
        if reached is call:
            return [*path, call]
    return [call]


def called(src: Source, target: Patterns, within: Within = None) -> Finding:
    """At least one call to `target` (inside `within`, if given); the finding's node is the first call.

    Diagnoses: ``not-called`` (at a statement that names the function without calling it, else at the
    first `within` function's return of something else or its def line, else the file's last line), ``missing`` (a function named in
    `within` is not defined).
    """
    roots, missing = _roots(src, within)
    if missing:
        return missing[0]
    found = _calls(src, target, roots, helpers=within is not None)
    if found:
        return passed(f"`{_shown(src, target)}()` is called", node=found[0], line=src.line(found[0]))
    for root in roots:
        for n in walk(root):
            if isinstance(n, cst.Expr) and any(refers_to(src, n.value, name) for name in alternatives(target)):
                named = src.code(n.value)
                return failed(f"`{named}` on its own only names the function; call it: `{named}()`",
                              line=src.line(n), column=src.column(n), diagnosis="not-called", node=n)
    line = _instead(src, roots[0]) if within is not None and roots else src.last_line
    return failed(f"`{_shown(src, target)}()` is never called{_where(roots)}", line=line, diagnosis="not-called")


def _instead(src: Source, root: cst.CSTNode) -> int:
    """Where a missing call goes in `root`: the return that hands back something else, else the def."""
    for n in walk(root, into_nested=False):
        if isinstance(n, cst.Return) and n.value is not None:
            return src.line(n)
    return src.line(root)


def not_called(src: Source, target: Patterns, within: Within = None) -> Finding:
    """No call to `target` (inside `within`, if given; named functions that do not exist are skipped).

    Fails at the first such call, naming the function it is in. Diagnosis: ``forbidden-call``.
    """
    found = calls_to(src, target, within)
    if not found:
        return passed(f"`{_shown(src, target)}()` is not called")
    call = found[0]
    owner = enclosing_function(src, call)
    where = f" in `{owner.name.value}`" if owner is not None else ""
    return failed(f"`{src.code(call)}` is called{where}",
                  line=src.line(call), column=src.column(call), diagnosis="forbidden-call", node=call)


def argument(call: cst.Call, keyword: str, position: int | None = None) -> cst.BaseExpression | None:
    """The value passed to `call` as `keyword=...`, or as its `position`-th positional argument
    (counted from 0, `*args` not counted) when `position` is given; None if it is not passed."""
    if position is not None:
        positional = [a.value for a in call.args if a.keyword is None and not a.star]
        if position < len(positional):
            return positional[position]
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == keyword), None)
