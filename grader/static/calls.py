"""Building blocks about calls: a call to a qualified name is (not) made somewhere."""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from grader.static.context import display
from grader.static.finding import Finding, failed, passed
from grader.static.patterns import refers_to
from grader.static.source import Source, walk


def calls_to(src: Source, target: str, within: cst.CSTNode | Iterable[cst.CSTNode] | None = None) -> list[cst.Call]:
    """Calls whose callee refers to `target` (see patterns: dotted = qualified, bare = local)."""
    roots = [src.module] if within is None else [within] if isinstance(within, cst.CSTNode) else list(within)
    return [n for root in roots for n in walk(root) if isinstance(n, cst.Call) and refers_to(src, n.func, target)]


def called(src: Source, target: str, within: cst.CSTNode | Iterable[cst.CSTNode] | None = None) -> Finding:
    """At least one call to `target` (inside `within`, if given). Diagnosis: ``not-called``."""
    found = calls_to(src, target, within)
    if found:
        return passed(f"`{display(target)}()` is called", node=found[0], line=src.line(found[0]))
    return failed(f"`{display(target)}()` is never called", diagnosis="not-called")


def not_called(src: Source, target: str, within: cst.CSTNode | Iterable[cst.CSTNode] | None = None) -> Finding:
    """No call to `target` (inside `within`, if given); fails at the first one. Diagnosis: ``forbidden-call``."""
    found = calls_to(src, target, within)
    if not found:
        return passed(f"`{display(target)}()` is not called")
    call = found[0]
    owner = next((a for a in src.ancestors(call) if isinstance(a, cst.FunctionDef)), None)
    where = f" in `{owner.name.value}`" if owner is not None else ""
    return failed(f"`{src.code(call)}` is called{where} (line {src.line(call)})",
                  line=src.line(call), column=src.column(call), diagnosis="forbidden-call", node=call)
