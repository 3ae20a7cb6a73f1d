"""Building block: a generator yields a resource while it is still open.

    yields_inside(src, "get_session", "sqlmodel.Session(engine, ...)")

passes for ``with Session(engine) as session: yield session`` (also ``async with``, extra
context managers, nested blocks) and for the try/finally spelling
``session = Session(engine)`` / ``try: yield session`` / ``finally: session.close()``.
"""

from __future__ import annotations

import re

import libcst as cst

from grader.static.finding import Finding, failed, passed
from grader.static.functions import FunctionRef, resolve, yields
from grader.static.patterns import Patterns, alternatives, compile_pattern, dotted_name, find_mismatch, refers_to
from grader.static.source import Source, walk


def display(pattern: str) -> str:
    """How a pattern reads in a message: `sqlmodel.Session(bind=engine, **_)` -> `Session(bind=engine)`."""
    text = re.sub(r"(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", pattern)
    while True:  # drop trailing wildcards: `, ...`, `, *_`, `, **_`
        shorter = re.sub(r",\s*(?:\.\.\.|\*{1,2}_)(?=\s*[)\]])", "", text)
        if shorter == text:
            break
        text = shorter
    return re.sub(r"\(\s*(?:\.\.\.|\*{1,2}_)\s*\)", "()", text)


def _closes(node: cst.CSTNode, name: str) -> list[cst.Call]:
    out = []
    for n in walk(node):
        if (isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == "close"
                and isinstance(n.func.value, cst.Name) and n.func.value.value == name):
            out.append(n)
    return out


def yields_inside(src: Source, fn: FunctionRef, opener: Patterns, *, finally_close: bool = True) -> Finding:
    """`fn` (a name or a node) yields what `opener` opens while it is open.

    `opener` is a pattern (see `grader.static.patterns`) such as ``"sqlmodel.Session(engine, ...)"``,
    or a tuple of accepted spellings.
    Passes for ``with <opener> as x: ... yield x`` (also ``async with``), and, with
    `finally_close`, for ``x = <opener>`` followed by ``try: yield x`` / ``finally: x.close()``.

    Diagnoses: ``yield-outside-with``, ``yields-other-name``, ``close-without-finally``,
    ``never-closed``, ``opener-mismatch`` (right callable, wrong arguments), ``not-opened``,
    ``missing`` (no such function).
    """
    fn, missing = resolve(src, fn)
    if fn is None:
        return missing  # type: ignore[return-value]
    shown = display(alternatives(opener)[0])
    ys = yields(src, fn)
    managed: list[tuple[str, cst.With]] = []
    unnamed: list[cst.With] = []
    near_misses: list[cst.CSTNode] = []
    callee = compile_pattern(alternatives(opener)[0])
    callee_func = callee.func if isinstance(callee, cst.Call) else None
    for w in (n for n in walk(fn.body, into_nested=False) if isinstance(n, cst.With)):
        for item in w.items:
            if find_mismatch(src, item.item, opener) is None:
                if item.asname is not None and isinstance(item.asname.name, cst.Name):
                    managed.append((item.asname.name.value, w))
                else:
                    unnamed.append(w)
            elif callee_func is not None and isinstance(item.item, cst.Call) and _same_callee(src, item.item, callee_func):
                near_misses.append(item.item)
    opened: dict[str, cst.CSTNode] = {}
    for n in walk(fn.body, into_nested=False):
        target = _single_target(n)
        if target is not None and n.value is not None:  # type: ignore[attr-defined]
            value = n.value.expression if isinstance(n.value, cst.Await) else n.value  # type: ignore[attr-defined]
            if find_mismatch(src, value, opener) is None:
                opened[target] = n
            elif callee_func is not None and isinstance(value, cst.Call) and _same_callee(src, value, callee_func):
                near_misses.append(value)

    for y in ys:
        name = y.value.value if isinstance(y.value, cst.Name) else None
        chain = list(src.ancestors(y))
        for managed_name, w in managed:
            if w in chain and name == managed_name:
                return passed(f"yields `{name}` inside `with {shown} as {name}:`", node=y, line=src.line(y))
        if finally_close and name in opened:
            for t in chain:
                if isinstance(t, cst.Try) and t.body in chain and t.finalbody and _closes(t.finalbody, name):
                    return passed(f"yields `{name}` in a try whose finally closes it", node=y, line=src.line(y))

    for y in ys:
        if y.value is not None and find_mismatch(src, y.value, opener) is None:
            return failed(f"`{src.code(y)}` hands over a new session that nothing ever closes; open it with "
                          f"`with {shown} as session:` and `yield session` inside the block",
                          line=src.line(y), diagnosis="never-closed", node=y)
    first = ys[0] if ys else fn
    for managed_name, w in managed:
        inside = [y for y in ys if w in list(src.ancestors(y))]
        if inside:
            y = inside[0]
            got = src.code(y.value) if y.value is not None else "nothing"
            return failed(f"inside `with {shown} as {managed_name}:` the function yields `{got}`; "
                          f"yield `{managed_name}`, the session the with block opened",
                          line=src.line(y), diagnosis="yields-other-name", node=y)
        return failed(f"`{src.code(first)}` (line {src.line(first)}) is outside the `with {shown} as {managed_name}:` "
                      f"block (line {src.line(w)}): by then the block has closed the session; indent the yield "
                      "into the block", line=src.line(first), diagnosis="yield-outside-with", node=first)
    if unnamed:
        w = unnamed[0]
        return failed(f"`with {shown}:` on line {src.line(w)} has no `as` name, so there is nothing to yield; "
                      f"write `with {shown} as session:` and `yield session`",
                      line=src.line(w), diagnosis="yields-other-name", node=w)
    for name, assign in opened.items():
        closes = _closes(fn.body, name)
        if closes:
            close = closes[0]
            if any(isinstance(a, cst.ExceptHandler) for a in src.ancestors(close)):
                when = f"only runs when the endpoint raises: after a request that succeeds, `{name}` stays open"
            else:
                when = (f"only runs when the request succeeds: if the endpoint raises, the generator stops at the "
                        f"yield and `{name}` stays open")
            return failed(f"`{name}.close()` (line {src.line(close)}) {when}; put the yield in `try:` and the close "
                          f"in `finally:`, or use `with {shown} as {name}:`",
                          line=src.line(close), diagnosis="close-without-finally", node=close)
        return failed(f"`{name}` is opened on line {src.line(assign)} but never closed; use `with {shown} as {name}:`",
                      line=src.line(assign), diagnosis="never-closed", node=assign)
    if near_misses:
        call = near_misses[0]
        miss = find_mismatch(src, call, opener)
        detail = miss.describe() if miss else ""
        return failed(f"`{src.code(call)}` (line {src.line(call)}) does not open the right thing: {detail}",
                      line=src.line(call), column=src.column(call), diagnosis="opener-mismatch", node=call)
    return failed(f"`{fn.name.value}` never opens `{shown}`: write `with {shown} as session:` and yield inside it",
                  line=src.line(fn), diagnosis="not-opened", node=fn)


def _single_target(node: cst.CSTNode) -> str | None:
    """The name a plain `x = ...` or annotated `x: T = ...` statement binds."""
    if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
        return node.targets[0].target.value
    if isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name):
        return node.target.value
    return None


def _same_callee(src: Source, call: cst.Call, func: cst.CSTNode) -> bool:
    """The call is to the pattern's callable, or to one with the same short name (e.g. another `Session`)."""
    dotted = dotted_name(func)
    if dotted is None:
        return False
    short = dotted.rsplit(".", 1)[-1]
    return refers_to(src, call.func, dotted) or dotted_name(call.func) in {short, dotted} or (
        dotted_name(call.func) or "").endswith("." + short)
