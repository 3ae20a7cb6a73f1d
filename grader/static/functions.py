"""Building blocks about functions: defined at module level, generator, async.

Blocks that examine a function take it as a name (``is_generator(src, "get_session")``) or as
the node another block found (``function(src, "get_session").node``). A name that is not
defined, or a node that is ``None``, gives a failed finding with diagnosis ``missing``, so a
check never crashes on code where the function is absent.
"""

from __future__ import annotations

import difflib

import libcst as cst

from grader.static.finding import Finding, failed, passed
from grader.static.source import Source, all_functions, module_functions, walk

FunctionRef = cst.FunctionDef | str | None
"""A function to examine: its name (looked up at module level) or its node."""


def function(src: Source, name: str) -> Finding:
    """A function `name` is defined with `def` (or `async def`) at module level; the finding's node is the def.

    Diagnoses: ``not-module-level`` (defined inside something), ``misnamed`` (a close
    spelling exists), ``missing`` (at the file's last line, where it could be added).
    """
    found = module_functions(src)
    if name in found:
        node = found[name]
        return passed(f"`{name}` is defined", node=node, line=src.line(node))
    nested = [f for f in all_functions(src) if f.name.value == name]
    if nested:
        node = nested[-1]
        owner = next((a for a in src.ancestors(node) if isinstance(a, (cst.FunctionDef, cst.ClassDef))), None)
        inside = f" inside `{owner.name.value}`" if owner is not None else ""
        return failed(f"`{name}` is defined{inside}; define it at the top level of {src.name} so other code can use it",
                      line=src.line(node), diagnosis="not-module-level", node=node)
    close = difflib.get_close_matches(name, list(found), n=1, cutoff=0.75)
    if close:
        node = found[close[0]]
        return failed(f"there is no function `{name}`, but there is `{close[0]}`: check the spelling",
                      line=src.line(node), diagnosis="misnamed", node=node)
    return failed(f"no function `{name}` is defined at the top level of {src.name}", line=src.last_line,
                  diagnosis="missing")


def resolve(src: Source, fn: FunctionRef) -> tuple[cst.FunctionDef | None, Finding | None]:
    """(the function's node, None), or (None, the failed finding saying it is not there)."""
    if isinstance(fn, str):
        found = function(src, fn)
        return (found.node, None) if found else (None, found)  # type: ignore[return-value]
    if fn is None:
        return None, failed(f"the function to examine is not defined in {src.name}", line=src.last_line,
                            diagnosis="missing")
    return fn, None


def yields(src: Source, fn: cst.FunctionDef) -> list[cst.Yield]:
    """The yield expressions of `fn` itself (not of nested functions)."""
    return [n for n in walk(fn.body, into_nested=False) if isinstance(n, cst.Yield)]


def returns_value(src: Source, fn: cst.FunctionDef) -> list[cst.Return]:
    return [n for n in walk(fn.body, into_nested=False) if isinstance(n, cst.Return) and n.value is not None]


def is_generator(src: Source, fn: FunctionRef) -> Finding:
    """`fn` contains a `yield` (so calling it makes a generator); yields of nested functions do not count.

    Diagnoses: ``return-not-yield`` (it returns a value instead), ``no-yield``, ``missing``.
    """
    node, missing = resolve(src, fn)
    if node is None:
        return missing  # type: ignore[return-value]
    name = node.name.value
    found = yields(src, node)
    if found:
        return passed(f"`{name}` yields", node=found[0], line=src.line(found[0]))
    rets = returns_value(src, node)
    if rets:
        return failed(f"`{name}` uses `return` where it should `yield`: with `return`, the function ends at once, "
                      "so nothing runs after the caller is done",
                      line=src.line(rets[0]), diagnosis="return-not-yield", node=rets[0])
    return failed(f"`{name}` never yields", line=src.line(node), diagnosis="no-yield", node=node)


def is_async(src: Source, fn: FunctionRef) -> Finding:
    """`fn` is defined with `async def`. Diagnoses: ``not-async``, ``missing``."""
    node, missing = resolve(src, fn)
    if node is None:
        return missing  # type: ignore[return-value]
    name = node.name.value
    if node.asynchronous is not None:
        return passed(f"`{name}` is async", node=node, line=src.line(node))
    return failed(f"`{name}` is defined with `def`; make it `async def`", line=src.line(node),
                  diagnosis="not-async", node=node)
