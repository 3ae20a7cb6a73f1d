"""Building blocks about calls: a call to a qualified name is (not) made, anywhere or inside certain functions.

    called(src, "sqlmodel.create_engine", within="get_engine")
    not_called(src, "sqlmodel.Session", within=["create_hero", "read_heroes"])

`target` is a name as in patterns: dotted names are qualified and match every import
spelling (``sqlmodel.Session`` matches ``Session(...)``, ``S(...)`` and ``sqlmodel.Session(...)``);
a bare name is the learner's own (``get_session``); a tuple of names accepts any of them.
`within` narrows the search to some functions, given by name (module-level functions) or as
nodes; ``None`` searches the whole file. Calls inside nested functions and lambdas of `within` count.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from grader.static.context import display
from grader.static.finding import Finding, failed, passed
from grader.static.functions import function
from grader.static.patterns import Patterns, alternatives, refers_to
from grader.static.source import Source, enclosing_function, walk

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


def _shown(target: Patterns) -> str:
    return display(alternatives(target)[0])


def _where(roots: list[cst.CSTNode]) -> str:
    names = [f"`{r.name.value}`" for r in roots if isinstance(r, (cst.FunctionDef, cst.ClassDef))]
    return f" in {' or '.join(names)}" if names else ""


def _calls(src: Source, target: Patterns, roots: list[cst.CSTNode]) -> list[cst.Call]:
    names = alternatives(target)
    return [n for root in roots for n in walk(root)
            if isinstance(n, cst.Call) and any(refers_to(src, n.func, name) for name in names)]


def calls_to(src: Source, target: Patterns, within: Within = None) -> list[cst.Call]:
    """Calls whose callee refers to `target`, in source order (functions named in `within` that do not exist are
    skipped)."""
    return _calls(src, target, _roots(src, within)[0])


def called(src: Source, target: Patterns, within: Within = None) -> Finding:
    """At least one call to `target` (inside `within`, if given); the finding's node is the first call.

    Diagnoses: ``not-called`` (at the line of the first `within` function, else the file's last line),
    ``missing`` (a function named in `within` is not defined).
    """
    roots, missing = _roots(src, within)
    if missing:
        return missing[0]
    found = _calls(src, target, roots)
    if found:
        return passed(f"`{_shown(target)}()` is called", node=found[0], line=src.line(found[0]))
    line = src.line(roots[0]) if within is not None and roots else src.last_line
    return failed(f"`{_shown(target)}()` is never called{_where(roots)}", line=line, diagnosis="not-called")


def not_called(src: Source, target: Patterns, within: Within = None) -> Finding:
    """No call to `target` (inside `within`, if given; named functions that do not exist are skipped).

    Fails at the first such call, naming the function it is in. Diagnosis: ``forbidden-call``.
    """
    found = calls_to(src, target, within)
    if not found:
        return passed(f"`{_shown(target)}()` is not called")
    call = found[0]
    owner = enclosing_function(src, call)
    where = f" in `{owner.name.value}`" if owner is not None else ""
    return failed(f"`{src.code(call)}` is called{where} (line {src.line(call)})",
                  line=src.line(call), column=src.column(call), diagnosis="forbidden-call", node=call)


def argument(call: cst.Call, keyword: str, position: int | None = None) -> cst.BaseExpression | None:
    """The value passed to `call` as `keyword=...`, or as its `position`-th positional argument
    (counted from 0, `*args` not counted) when `position` is given; None if it is not passed."""
    if position is not None:
        positional = [a.value for a in call.args if a.keyword is None and not a.star]
        if position < len(positional):
            return positional[position]
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == keyword), None)
