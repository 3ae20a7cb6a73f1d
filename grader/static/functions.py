"""Building blocks about functions: defined at module level, generator, async."""

from __future__ import annotations

import difflib

import libcst as cst

from grader.static.finding import Finding, failed, passed
from grader.static.source import Source, all_functions, module_functions, walk


def function(src: Source, name: str) -> Finding:
    """A function `name` is defined with `def` at module level; the finding's node is the def.

    Diagnoses: ``not-module-level`` (defined inside something), ``misnamed`` (a close
    spelling exists), ``missing``.
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
    return failed(f"no function `{name}` is defined at the top level of {src.name}", line=None, diagnosis="missing")


def yields(src: Source, fn: cst.FunctionDef) -> list[cst.Yield]:
    """The yield expressions of `fn` itself (not of nested functions)."""
    return [n for n in walk(fn.body, into_nested=False) if isinstance(n, cst.Yield)]


def returns_value(src: Source, fn: cst.FunctionDef) -> list[cst.Return]:
    return [n for n in walk(fn.body, into_nested=False) if isinstance(n, cst.Return) and n.value is not None]


def is_generator(src: Source, fn: cst.FunctionDef) -> Finding:
    """`fn` contains a `yield` (so calling it makes a generator).

    Diagnoses: ``return-not-yield`` (it returns a value instead), ``no-yield``.
    """
    name = fn.name.value
    found = yields(src, fn)
    if found:
        return passed(f"`{name}` yields", node=found[0], line=src.line(found[0]))
    rets = returns_value(src, fn)
    if rets:
        return failed(f"`{name}` uses `return` where it should `yield`: with `return`, the function ends at once, "
                      "so nothing runs after the caller is done",
                      line=src.line(rets[0]), diagnosis="return-not-yield", node=rets[0])
    return failed(f"`{name}` never yields", line=src.line(fn), diagnosis="no-yield", node=fn)


def is_async(src: Source, fn: cst.FunctionDef) -> Finding:
    """`fn` is defined with `async def`. Diagnosis: ``not-async``."""
    name = fn.name.value
    if fn.asynchronous is not None:
        return passed(f"`{name}` is async", node=fn, line=src.line(fn))
    return failed(f"`{name}` is defined with `def`; make it `async def`", line=src.line(fn),
                  diagnosis="not-async", node=fn)
