"""Building blocks about where a node runs (while a lock is held, in a `with`, in a loop, in a `finally:`)
and about the methods a function calls on its session.

    held(src, call, "_lock")                       # inside `with _lock:`, or between acquire() and finally: release()
    in_with(src, call, asynchronous=True)          # inside an `async with` block (a plain `with` is `sync-with`)
    in_loop(src, call)                             # inside a `for` or `while` of its function
    outside_loop(src, commit)                      # not in a loop: `session.commit()` there is `commit-in-loop`
    in_finally(src, call)                          # inside the `finally:` of a try
    outside_finally(src, commit)                   # not in a `finally:`: there it is `commit-in-finally`
    calls_method(src, fn, "commit", at_most=1)     # `session.commit()` on the function's session, counted

`node` is a node of `src` (a call, a statement); `fn` a function's name or node. Where a node sits in
a module-level helper function, the places its calls are made count: a commit in `save(session)` runs
in a loop when `save(session)` is called in one.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from grader.static.assignments import alias_value
from grader.static.finding import Finding, failed, passed
from grader.static.functions import FunctionRef, resolve
from grader.static.patterns import Patterns, alternatives, call_arguments, display, find_mismatch
from grader.static.source import Source, module_functions, walk

_DEPTH = 4
"""How many helper calls deep the place blocks follow a node."""

Block = Callable[[cst.CSTNode, cst.CSTNode], bool]
"""(an ancestor of the node, the child of it the node is under) -> is the ancestor the place wanted?"""


# -- finding the place a node runs in ----------------------------------------------------------------------------------
def _enclosing(src: Source, node: cst.CSTNode, wanted: Block, depth: int = _DEPTH, *,
               lambdas: bool = False) -> cst.CSTNode | None:
    """The innermost ancestor of `node`, within its own function, that `wanted` accepts; for a node of a
    module-level helper that has none, the place where *every* call of the helper is (None if any is not).
    A lambda ends the search (it runs later, elsewhere) unless `lambdas`."""
    child = node
    for ancestor in src.ancestors(node):
        if wanted(ancestor, child):
            return ancestor
        if isinstance(ancestor, cst.Lambda) and not lambdas:
            return None
        if isinstance(ancestor, cst.FunctionDef):
            calls = _helper_calls(src, ancestor) if depth > 0 else []
            places = [_enclosing(src, call, wanted, depth - 1, lambdas=lambdas) for call in calls]
            return places[0] if places and all(p is not None for p in places) else None
        child = ancestor
    return None


def _somewhere(src: Source, node: cst.CSTNode, wanted: Block,
               depth: int = _DEPTH) -> tuple[cst.CSTNode, list[cst.Call]] | None:
    """(the innermost ancestor `wanted` accepts, the helper calls that lead there) if `node` runs in such a
    place along *some* path: in its own function, or where any call of its module-level helper is made."""
    child = node
    for ancestor in src.ancestors(node):
        if wanted(ancestor, child):
            return ancestor, []
        if isinstance(ancestor, cst.Lambda):
            return None
        if isinstance(ancestor, cst.FunctionDef):
            for call in _helper_calls(src, ancestor) if depth > 0 else []:
                found = _somewhere(src, call, wanted, depth - 1)
                if found is not None:
                    return found[0], [*found[1], call]
            return None
        child = ancestor
    return None


def _helper_calls(src: Source, fn: cst.FunctionDef) -> list[cst.Call]:
    """The calls of `fn` in the module, when it is a module-level function (else none)."""
    if module_functions(src).get(fn.name.value) is not fn:
        return []
    return [n for n in walk(src.module) if isinstance(n, cst.Call) and isinstance(n.func, cst.Name)
            and n.func.value == fn.name.value and not any("<locals>" in q for q in src.qualified_names(n.func))]


def _in(src: Source, node: cst.CSTNode, block: cst.CSTNode | None) -> bool:
    return block is not None and (node is block or any(a is block for a in src.ancestors(node)))


def _via(src: Source, path: list[cst.Call]) -> str:
    """`, through `save(session)` (line 12)` for the helper calls that lead to a place."""
    if not path:
        return ""
    return ", through " + ", ".join(f"`{src.code(c)}` (line {src.line(c)})" for c in path)


def _what(node: cst.CSTNode) -> str:
    """A diagnosis prefix for a node: the method or function a call calls (`commit`), else `call`/`code`."""
    if isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Attribute):
            return func.attr.value.replace("_", "-")
        if isinstance(func, cst.Name):
            return func.value.replace("_", "-")
        return "call"
    return "code"


# -- locks ---------------------------------------------------------------------------------------------------------
def held(src: Source, node: cst.CSTNode, lock: Patterns) -> Finding:
    """`node` runs while `lock` (a pattern: ``"_lock"``, or a tuple) is held: inside ``with <lock>:``
    (or ``async with``), or after ``<lock>.acquire()`` in a try whose ``finally:`` releases it (the
    acquire just before the try, or first in it), or in a module-level helper every call of which is
    made while the lock is held. The finding's node is the with or try that holds it.

    Diagnosis: ``not-held`` (at `node`).
    """
    def holds(ancestor: cst.CSTNode, child: cst.CSTNode) -> bool:
        if isinstance(ancestor, cst.With):
            return any(find_mismatch(src, i.item, lock) is None for i in ancestor.items)
        return (isinstance(ancestor, cst.Try) and child is ancestor.body and _releases(src, ancestor, lock)
                and _acquired_for(src, ancestor, lock))

    holder = _enclosing(src, node, holds, lambdas=True)  # a lambda under the lock may well run there: no evidence
    shown = display(alternatives(lock)[0], src)
    if holder is not None:
        return passed(f"line {src.line(node)} runs while `{shown}` is held", node=holder, line=src.line(holder))
    return failed(f"`{src.code(node)}` runs without `{shown}` held: put it inside "
                  f"`with {shown}:`", line=src.line(node), diagnosis="not-held", node=node)


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


# -- with blocks ---------------------------------------------------------------------------------------------------
def in_with(src: Source, node: cst.CSTNode, opener: Patterns | None = None, *,
            asynchronous: bool | None = None) -> Finding:
    """`node` runs inside a ``with`` / ``async with`` block of its function (or of every caller, for a
    module-level helper) one of whose items matches `opener` (a pattern such as ``"_.begin_nested()"``;
    any block when None). With ``asynchronous=True`` the block must be ``async with``; with False, a
    plain ``with``. The finding's node is the block.

    Diagnoses: ``sync-with`` (at the block: a plain ``with`` where ``async with`` is needed),
    ``async-with`` (the other way round), ``not-in-with`` (at `node`).
    """
    def opens(ancestor: cst.CSTNode, child: cst.CSTNode) -> bool:
        return isinstance(ancestor, cst.With) and child is ancestor.body and (
            opener is None or any(find_mismatch(src, i.item, opener) is None for i in ancestor.items))

    block = _enclosing(src, node, opens)
    shown = f"with {display(alternatives(opener)[0], src)}" if opener is not None else "with"
    if block is None:
        kind = "an `async " if asynchronous else "a `"
        return failed(f"`{src.code(node)}` is not inside {kind}{shown}` block", line=src.line(node),
                      diagnosis="not-in-with", node=node)
    assert isinstance(block, cst.With)
    is_async = block.asynchronous is not None
    items = ", ".join(src.code(i).rstrip(", ") for i in block.items)
    if asynchronous is True and not is_async:
        return failed(f"`with {items}:` is a plain `with`; in async code write `async with {items}:`, which "
                      "awaits the opening and the closing", line=src.line(block), diagnosis="sync-with", node=block)
    if asynchronous is False and is_async:
        return failed(f"`async with {items}:` is for asynchronous context managers; write `with {items}:`",
                      line=src.line(block), diagnosis="async-with", node=block)
    return passed(f"line {src.line(node)} runs inside the `{'async ' if is_async else ''}with` block on line "
                  f"{src.line(block)}", node=block, line=src.line(block))


# -- loops ---------------------------------------------------------------------------------------------------------
def _repeats(ancestor: cst.CSTNode, child: cst.CSTNode) -> bool:
    """Does `child` of `ancestor` run once per pass of a loop? (A `for`'s iterable and `else:` run once.)"""
    if isinstance(ancestor, cst.For):
        return child is ancestor.body
    if isinstance(ancestor, cst.While):
        return child is ancestor.body or child is ancestor.test
    if isinstance(ancestor, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
        return child is ancestor.elt
    if isinstance(ancestor, cst.DictComp):
        return child is ancestor.key or child is ancestor.value
    return False


def in_loop(src: Source, node: cst.CSTNode) -> Finding:
    """`node` runs once per pass of a loop: in the body of a ``for`` / ``while`` (``async for`` too) or
    the element of a comprehension, in its own function or around every call of its module-level helper.
    The finding's node is the innermost loop. Diagnosis: ``not-in-loop``."""
    loop = _enclosing(src, node, _repeats)
    if loop is not None:
        return passed(f"line {src.line(node)} is inside the loop on line {src.line(loop)}", node=loop,
                      line=src.line(loop))
    return failed(f"`{src.code(node)}` is not inside a loop", line=src.line(node),
                  diagnosis="not-in-loop", node=node)


def outside_loop(src: Source, node: cst.CSTNode) -> Finding:
    """`node` runs once, not once per pass of a loop (of its function, or around a call of its helper).

    Diagnosis: ``<what>-in-loop`` (at `node`), where `<what>` is the method or function `node` calls
    (``session.commit()`` gives ``commit-in-loop``), else ``code-in-loop``.
    """
    found = _somewhere(src, node, _repeats)
    if found is None:
        return passed(f"line {src.line(node)} is not inside a loop", node=node, line=src.line(node))
    loop, path = found
    return failed(f"`{src.code(node)}` runs on every pass of the loop on line {src.line(loop)}{_via(src, path)}; "
                  "do it once, after the loop", line=src.line(node), diagnosis=f"{_what(node)}-in-loop", node=node)


# -- finally -------------------------------------------------------------------------------------------------------
def _final(ancestor: cst.CSTNode, child: cst.CSTNode) -> bool:
    return isinstance(ancestor, cst.Finally)


def in_finally(src: Source, node: cst.CSTNode) -> Finding:
    """`node` is inside the ``finally:`` block of a try (of its function, or around every call of its
    helper), so it runs however the try ends; the finding's node is that try. Diagnosis: ``not-in-finally``."""
    block = _enclosing(src, node, _final)
    if block is not None:
        owner = src.parent(block)
        return passed(f"line {src.line(node)} is in the `finally:` of the try on line {src.line(owner)}",
                      node=owner, line=src.line(owner))
    return failed(f"`{src.code(node)}` is not in a `finally:` block, so it does not run "
                  "when the code before it raises", line=src.line(node), diagnosis="not-in-finally", node=node)


def outside_finally(src: Source, node: cst.CSTNode) -> Finding:
    """`node` is not in a ``finally:`` block (a ``finally:`` also runs when the try failed: no place to
    commit). Diagnosis: ``<what>-in-finally`` (``commit-in-finally``), at `node`."""
    found = _somewhere(src, node, _final)
    if found is None:
        return passed(f"line {src.line(node)} is not in a `finally:` block", node=node, line=src.line(node))
    block, path = found
    owner = src.parent(block)
    return failed(f"`{src.code(node)}` is in the `finally:` of the try on line {src.line(owner)}{_via(src, path)}, "
                  "so it also runs when the code in the try failed; move it into the try, after the work it "
                  "completes", line=src.line(node), diagnosis=f"{_what(node)}-in-finally", node=node)


# -- methods called on the function's session ----------------------------------------------------------------------
Receiver = str | cst.Param | None
"""Whose method: a parameter or local variable of the function (its name or its `Param` node), or None
for any of them."""


def method_calls(src: Source, fn: cst.FunctionDef, method: str | tuple[str, ...], *, on: Receiver = None,
                 helpers: bool = True) -> list[cst.Call]:
    """Calls ``x.<method>(...)`` made by `fn` (not by functions nested in it), where ``x`` is `on` (or a
    local assigned ``x = on``); with `on` None, any parameter or local variable of `fn`. `method` may be a
    tuple of names. With `helpers`, also the calls a module-level helper makes on the parameter `fn`
    passes it (``save(session)``), after `fn`'s own. In source order."""
    methods = {method} if isinstance(method, str) else set(method)
    return _method_calls(src, fn, methods, on.name.value if isinstance(on, cst.Param) else on,
                         _DEPTH if helpers else 0, set())


def _method_calls(src: Source, fn: cst.FunctionDef, methods: set[str], on: str | None, depth: int,
                  seen: set[tuple[int, str | None]]) -> list[cst.Call]:
    seen.add((id(fn), on))
    own: list[cst.Call] = []
    later: list[cst.Call] = []
    functions = module_functions(src)
    for n in walk(fn.body, into_nested=False):
        if not isinstance(n, cst.Call):
            continue
        if isinstance(n.func, cst.Attribute) and n.func.attr.value in methods and _receiver(src, n.func.value, on):
            own.append(n)
        helper = functions.get(n.func.value) if isinstance(n.func, cst.Name) else None
        if helper is None or depth <= 0 or any("<locals>" in q for q in src.qualified_names(n.func)):
            continue
        for param, value in call_arguments(helper, n).items():
            if _receiver(src, value, on) and (id(helper), param) not in seen:
                later += _method_calls(src, helper, methods, param, depth - 1, seen)
    return own + later


def _receiver(src: Source, node: cst.CSTNode, on: str | None) -> bool:
    """Is `node` the receiver wanted: the name `on` (or a local assigned `x = on`), or, with `on` None, any
    parameter or local variable?"""
    if not isinstance(node, cst.Name):
        return False
    local = any("<locals>" in q for q in src.qualified_names(node))
    if on is None:
        return local
    if node.value == on:
        return local
    value = alias_value(src, node) if local else None
    return isinstance(value, cst.Name) and value.value == on


def calls_method(src: Source, fn: FunctionRef, method: str | tuple[str, ...], *, on: Receiver = None,
                 at_least: int = 1, at_most: int | None = None) -> Finding:
    """`fn` calls ``<on>.<method>(...)`` (on any parameter or local variable when `on` is None; directly
    or through the module-level helpers it passes it to) at least `at_least` and at most `at_most` times;
    the finding's node is the first call. To name the session by its annotation, pass the parameter
    another block found: ``on=parameter(src, fn, annotation="SessionDep").node``.

    Diagnoses: ``not-called`` (at the function), ``called-too-often`` (at the first call too many),
    ``missing`` (no such function).
    """
    node, missing = resolve(src, fn)
    if node is None:
        return missing  # type: ignore[return-value]
    calls = method_calls(src, node, method, on=on)
    receiver = on.name.value if isinstance(on, cst.Param) else on
    names = (method,) if isinstance(method, str) else method
    shown = " or ".join(f"`{receiver or 'session'}.{m}()`" for m in names)
    name = node.name.value
    if not calls:
        return failed(f"`{name}` never calls {shown}", line=src.line(node), diagnosis="not-called", node=node)
    if len(calls) < at_least:
        return failed(f"`{name}` calls {shown} {_times(len(calls))}, and should call it at least "
                      f"{_times(at_least)}", line=src.line(node), diagnosis="not-called", node=node)
    if at_most is not None and len(calls) > at_most:
        extra = calls[at_most]
        return failed(f"`{name}` calls {shown} {_times(len(calls))}, and should call it at most "
                      f"{_times(at_most)}: this call, `{src.code(extra)}`, is one too many", line=src.line(extra),
                      diagnosis="called-too-often", node=extra)
    return passed(f"`{name}` calls {shown} {_times(len(calls))}", node=calls[0], line=src.line(calls[0]))


def _times(n: int) -> str:
    return "never" if n == 0 else "once" if n == 1 else "twice" if n == 2 else f"{n} times"
