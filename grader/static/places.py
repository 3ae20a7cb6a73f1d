"""Building blocks about where a node runs: while a lock is held, in a loop, in a `finally:`; and
methods called on a function's parameters.

    held(src, call, "_lock")                  # inside `with _lock:`, or between acquire() and finally: release()
    in_loop(src, call)                        # inside a `for` or `while` of its function
    in_finally(src, call)                     # inside the `finally:` of a try
    calls_method(src, fn, "commit", at_most=1)  # `session.commit()` on a parameter, counted

`node` is a node of `src` (a call, a statement); `fn` a function's name or node.
"""

from __future__ import annotations

import libcst as cst

from grader.static.finding import Finding, failed, passed
from grader.static.functions import FunctionRef, resolve
from grader.static.patterns import Patterns, alternatives, display, find_mismatch
from grader.static.source import Source, module_functions, walk

_DEPTH = 4


def held(src: Source, node: cst.CSTNode, lock: Patterns) -> Finding:
    """`node` runs while `lock` (a pattern: ``"_lock"``, or a tuple) is held: inside ``with <lock>:``
    (or ``async with``), or after ``<lock>.acquire()`` in a try whose ``finally:`` releases it (the
    acquire just before the try, or first in it), or in a module-level helper every call of which is
    made while the lock is held. The finding's node is the with or try that holds it.

    Diagnosis: ``not-held`` (at `node`).
    """
    holder = _holder(src, node, lock, _DEPTH)
    shown = display(alternatives(lock)[0], src)
    if holder is not None:
        return passed(f"line {src.line(node)} runs while `{shown}` is held", node=holder, line=src.line(holder))
    return failed(f"`{src.code(node)}` runs without `{shown}` held: put it inside "
                  f"`with {shown}:`", line=src.line(node), diagnosis="not-held", node=node)


def _holder(src: Source, node: cst.CSTNode, lock: Patterns, depth: int) -> cst.CSTNode | None:
    for ancestor in src.ancestors(node):
        if isinstance(ancestor, cst.With) and any(find_mismatch(src, i.item, lock) is None for i in ancestor.items):
            return ancestor
        if isinstance(ancestor, cst.Try) and _releases(src, ancestor, lock) and _acquired_for(src, ancestor, lock) \
                and _in(src, node, ancestor.body):
            return ancestor
        if isinstance(ancestor, cst.FunctionDef):
            return _held_at_every_call(src, ancestor, lock, depth)
    return None


def _held_at_every_call(src: Source, fn: cst.FunctionDef, lock: Patterns, depth: int) -> cst.CSTNode | None:
    """A module-level helper whose every call (there is one at least) is made while the lock is held."""
    if depth <= 0 or module_functions(src).get(fn.name.value) is not fn:
        return None
    calls = [n for n in walk(src.module) if isinstance(n, cst.Call) and isinstance(n.func, cst.Name)
             and n.func.value == fn.name.value and not any("<locals>" in q for q in src.qualified_names(n.func))]
    holders = [_holder(src, call, lock, depth - 1) for call in calls]
    return holders[0] if holders and all(h is not None for h in holders) else None


def _lock_call(src: Source, node: cst.CSTNode, method: str, lock: Patterns) -> bool:
    """`node` is (a statement of) ``<lock>.<method>()``."""
    if isinstance(node, cst.SimpleStatementLine) and len(node.body) == 1 and isinstance(node.body[0], cst.Expr):
        node = node.body[0].value
    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == method
            and find_mismatch(src, node.func.value, lock) is None)


def _releases(src: Source, try_: cst.Try, lock: Patterns) -> bool:
    return try_.finalbody is not None and any(_lock_call(src, n, "release", lock) for n in walk(try_.finalbody))


def _acquired_for(src: Source, try_: cst.Try, lock: Patterns) -> bool:
    """`<lock>.acquire()` is the statement just before the try, or the first of its body."""
    body = try_.body.body
    if body and _lock_call(src, body[0], "acquire", lock):
        return True
    parent = src.parent(try_)
    siblings = list(getattr(parent, "body", ()))
    index = next((i for i, s in enumerate(siblings) if s is try_), None)
    return bool(index) and _lock_call(src, siblings[index - 1], "acquire", lock)


def _in(src: Source, node: cst.CSTNode, block: cst.CSTNode) -> bool:
    return node is block or any(a is block for a in src.ancestors(node))


def in_loop(src: Source, node: cst.CSTNode) -> Finding:
    """`node` is inside a ``for`` or ``while`` loop (``async for`` too) of its own function; the finding's
    node is the innermost loop. Diagnosis: ``not-in-loop``."""
    for ancestor in src.ancestors(node):
        if isinstance(ancestor, (cst.For, cst.While)):
            return passed(f"line {src.line(node)} is inside the loop on line {src.line(ancestor)}", node=ancestor,
                          line=src.line(ancestor))
        if isinstance(ancestor, (cst.FunctionDef, cst.Lambda)):
            break
    return failed(f"`{src.code(node)}` is not inside a loop", line=src.line(node),
                  diagnosis="not-in-loop", node=node)


def in_finally(src: Source, node: cst.CSTNode) -> Finding:
    """`node` is inside the ``finally:`` block of a try of its own function, so it runs however the try
    ends; the finding's node is that try. Diagnosis: ``not-in-finally``."""
    for ancestor in src.ancestors(node):
        if isinstance(ancestor, cst.Try) and ancestor.finalbody is not None and _in(src, node, ancestor.finalbody):
            return passed(f"line {src.line(node)} is in the `finally:` of the try on line {src.line(ancestor)}",
                          node=ancestor, line=src.line(ancestor))
        if isinstance(ancestor, (cst.FunctionDef, cst.Lambda)):
            break
    return failed(f"`{src.code(node)}` is not in a `finally:` block, so it does not run "
                  "when the code before it raises", line=src.line(node), diagnosis="not-in-finally", node=node)


def method_calls(src: Source, fn: cst.FunctionDef, method: str, *, on: str | None = None) -> list[cst.Call]:
    """Calls ``p.<method>(...)`` in `fn` (not in nested functions) where ``p`` is a parameter of `fn`
    (the one named `on`, if given), in source order."""
    params = {p.name.value for p in (*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params)}
    wanted = {on} & params if on is not None else params
    return [n for n in walk(fn.body, into_nested=False) if isinstance(n, cst.Call)
            and isinstance(n.func, cst.Attribute) and n.func.attr.value == method
            and isinstance(n.func.value, cst.Name) and n.func.value.value in wanted]


def calls_method(src: Source, fn: FunctionRef, method: str, *, on: str | None = None, at_least: int = 1,
                 at_most: int | None = None) -> Finding:
    """`fn` calls ``<parameter>.<method>(...)`` (on the parameter `on`, if given) at least `at_least` and at
    most `at_most` times; the finding's node is the first call.

    Diagnoses: ``not-called`` (at the function), ``called-too-often`` (at the first call too many),
    ``missing`` (no such function).
    """
    node, missing = resolve(src, fn)
    if node is None:
        return missing  # type: ignore[return-value]
    calls = method_calls(src, node, method, on=on)
    owner = on or "a parameter"
    name = node.name.value
    if len(calls) < at_least:
        return failed(f"`{name}` calls `.{method}()` on {owner} {_times(len(calls))}; expected at least "
                      f"{_times(at_least)}", line=src.line(node), diagnosis="not-called", node=node)
    if at_most is not None and len(calls) > at_most:
        extra = calls[at_most]
        return failed(f"`{name}` calls `.{method}()` on {owner} {_times(len(calls))}; at most {_times(at_most)}: "
                      f"this call, `{src.code(extra)}`, is one too many", line=src.line(extra),
                      diagnosis="called-too-often", node=extra)
    first = calls[0] if calls else node
    return passed(f"`{name}` calls `.{method}()` {_times(len(calls))}", node=first, line=src.line(first))


def _times(n: int) -> str:
    return "never" if n == 0 else "once" if n == 1 else "twice" if n == 2 else f"{n} times"
