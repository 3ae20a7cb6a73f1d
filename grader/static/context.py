"""Building block: a generator yields a resource while it is still open.

    yields_inside(src, "get_session", "sqlmodel.Session(engine, ...)")

passes for ``with Session(engine) as session: yield session`` (also ``async with``, extra context
managers, nested blocks) and every spelling that does the same: the try/finally spelling
(``session = Session(engine)`` / ``try: yield session`` / ``finally: session.close()``), a session
built first and entered after (``session = Session(engine)`` / ``with session:``),
``contextlib.closing(...)`` / ``aclosing(...)``, an ``ExitStack``'s ``enter_context(...)`` /
``enter_async_context(...)``, a module-level ``@contextmanager`` / ``@asynccontextmanager`` helper
that yields inside the opener (``with session_scope() as session:``), ``yield from helper()`` of a
helper that does, and a session factory (``SessionLocal = sessionmaker(bind=engine, class_=Session)``:
``SessionLocal()`` opens ``Session(engine)``).

It fails only on positive evidence of a known mistake; code whose shape it does not recognise
passes, and the behavioural checks judge it.
"""

from __future__ import annotations

import libcst as cst

from grader.static.assignments import alias_value, module_bindings, resolve_alias
from grader.static.calls import argument
from grader.static.finding import Finding, failed, passed
from grader.static.functions import FunctionRef, resolve, returns_value, yields
from grader.static.patterns import (
    Patterns,
    alternatives,
    arguments_match,
    call_arguments,
    compile_pattern,
    display,
    dotted_name,
    find_mismatch,
    refers_to,
)
from grader.static.reexports import canonical
from grader.static.source import Source, module_functions, walk

CLOSERS = ("contextlib.closing", "contextlib.aclosing")
CONTEXT_HELPERS = ("contextlib.contextmanager", "contextlib.asynccontextmanager")
FACTORIES = {
    "sqlalchemy.orm.sessionmaker": "sqlalchemy.orm.Session",
    "sqlalchemy.ext.asyncio.async_sessionmaker": "sqlalchemy.ext.asyncio.AsyncSession",
}
"""Session factories, and the class they make when not given `class_=`."""
ENTER = ("enter_context", "enter_async_context")
_DEPTH = 3


def yields_inside(src: Source, fn: FunctionRef, opener: Patterns, *, finally_close: bool = True) -> Finding:
    """`fn` (a name or a node) yields what `opener` opens while it is open.

    `opener` is a pattern (see `grader.static.patterns`) such as ``"sqlmodel.Session(engine, ...)"``,
    or a tuple of accepted spellings. Passes for ``with <opener> as x: ... yield x`` (also ``async
    with``) and the spellings of the module docstring; with `finally_close`, also for ``x = <opener>``
    followed by ``try: yield x`` / ``finally: x.close()``. A shape it does not recognise passes too
    (the finding's node is then None, else the yield).

    Diagnoses (positive evidence only): ``yield-outside-with``, ``yields-other-name``,
    ``close-without-finally``, ``never-closed``, ``not-opened`` (it hands out a session the module
    keeps: opened at import, or cached), ``factory-not-called`` (``with SessionLocal as s:``, or
    ``s = SessionLocal`` then ``yield s``),
    ``return-not-yield``,
    ``no-yield``, ``opener-mismatch`` (right callable, wrong arguments: another engine), ``missing``
    (no such function).
    """
    node, missing = resolve(src, fn)
    if node is None:
        return missing  # type: ignore[return-value]
    return _Examiner(src, node, opener, finally_close, {}, _DEPTH).verdict()


class _Examiner:
    """One function's yields, the blocks and names that hold an opened resource, and the verdict."""

    def __init__(self, src: Source, fn: cst.FunctionDef, opener: Patterns, finally_close: bool,
                 env: dict[str, cst.BaseExpression], depth: int):
        self.src, self.fn, self.opener, self.finally_close = src, fn, opener, finally_close
        self.env, self.depth = env, depth
        self.keyword = "async with" if fn.asynchronous is not None else "with"
        self.shown = display(alternatives(opener)[0], src)
        self.body = list(walk(fn.body, into_nested=False))
        self.yields = yields(src, fn)
        self.managed: list[tuple[set[str], cst.With]] = []
        """Names that hold the opened resource inside a with block, and the block."""
        self.unnamed: list[cst.With] = []
        self.opened: dict[str, cst.CSTNode] = {}
        """Names assigned the opened resource outside any with (`x = <opener>`), and the statement."""
        self.near_misses: list[cst.Call] = []
        self.uncalled: list[cst.BaseExpression] = []
        """With items that name the opener (or a session factory) without calling it."""
        self._find_openings()

    # -- what opens -----------------------------------------------------------------------------------
    def opens(self, expr: cst.CSTNode, depth: int | None = None) -> bool:
        """Does `expr` open the resource, in any spelling?"""
        depth = self.depth if depth is None else depth
        if isinstance(expr, cst.Await):
            expr = expr.expression
        if find_mismatch(self.src, expr, self.opener, arguments=self.env) is None:
            return True
        if depth <= 0:
            return False
        if isinstance(expr, cst.Name):
            value = alias_value(self.src, expr)
            return value is not None and self.opens(value, depth - 1)
        if not isinstance(expr, cst.Call):
            return False
        if any(refers_to(self.src, expr.func, c) for c in CLOSERS):
            return len(expr.args) == 1 and self.opens(expr.args[0].value, depth - 1)
        return self._factory_opens(expr) or self._helper_opens(expr, depth)

    def _factory_opens(self, call: cst.Call) -> bool:
        """`SessionLocal()` where `SessionLocal = sessionmaker(bind=engine, class_=Session)` opens `Session(engine)`."""
        return self._factory(call) == (True, True)

    def _factory(self, call: cst.Call) -> tuple[bool, bool] | None:
        """For a call of a module-level session factory: (does it make the opener's class, with the opener's
        arguments?); None for any other call."""
        maker = self._maker(call)
        if maker is None:
            return None
        kind = next(k for k in FACTORIES if refers_to(self.src, maker.func, k))
        made = argument(maker, "class_")
        bind = argument(maker, "bind", 0)
        args = [cst.Arg(bind)] if bind is not None else []
        args += [a for a in maker.args if a.keyword is not None and a.keyword.value not in {"class_", "bind"}]
        args += list(call.args)
        verdict = (False, False)
        for alternative in alternatives(self.opener):
            pattern = compile_pattern(alternative)
            callee = dotted_name(pattern.func) if isinstance(pattern, cst.Call) else None
            if callee is None:
                continue
            same_class = refers_to(self.src, made, callee) if made is not None else \
                canonical(callee) == canonical(FACTORIES[kind])
            if same_class:
                verdict = (True, arguments_match(self.src, alternative, args))
                if verdict[1]:
                    break
        return verdict

    def _maker(self, call: cst.Call) -> cst.Call | None:
        """The `sessionmaker(...)` / `async_sessionmaker(...)` a module-level factory name stands for."""
        maker = alias_value(self.src, call.func) if isinstance(call.func, cst.Name) else None
        if isinstance(maker, cst.Call) and any(refers_to(self.src, maker.func, k) for k in FACTORIES):
            return maker
        return None

    def _helper_opens(self, call: cst.Call, depth: int) -> bool:
        """`session_scope()` where a module-level `@contextmanager def session_scope():` yields inside the opener."""
        helper = _module_function(self.src, call.func)
        if helper is None or not any(refers_to(self.src, d.decorator, h) for d in helper.decorators
                                     for h in CONTEXT_HELPERS):
            return False
        inner = _Examiner(self.src, helper, self.opener, self.finally_close, call_arguments(helper, call), depth - 1)
        return inner.recognised()

    def _find_openings(self) -> None:
        src = self.src
        for w in (n for n in self.body if isinstance(n, cst.With)):
            for item in w.items:
                names = set()
                if item.asname is not None and isinstance(item.asname.name, cst.Name):
                    names.add(item.asname.name.value)
                inner = item.item
                if isinstance(inner, cst.Call) and any(refers_to(src, inner.func, c) for c in CLOSERS) and inner.args:
                    inner = inner.args[0].value
                if isinstance(inner, cst.Name):
                    names.add(inner.value)  # `with session:` after `session = Session(engine)`
                if self.opens(item.item):
                    if names:
                        self.managed.append((names, w))
                    else:
                        self.unnamed.append(w)
                else:
                    self._near_miss(item.item)
                    if self._names_the_opener(item.item):
                        self.uncalled.append(item.item)
        for n in self.body:
            target = _single_target(n)
            if target is None or n.value is None:  # type: ignore[attr-defined]
                continue
            value = n.value.expression if isinstance(n.value, cst.Await) else n.value  # type: ignore[attr-defined]
            stack = self._entered(value)
            if stack is not None:
                self.managed.append(({target}, stack))
            elif self.opens(value):
                if not any(target in names for names, _w in self.managed):
                    self.opened[target] = n
            elif self._names_the_opener(value) and any(
                    isinstance(y.value, cst.Name) and y.value.value == target for y in self.yields):
                self.uncalled.append(value)  # `session = SessionLocal`, then `yield session`
            else:
                self._near_miss(value)

    def _entered(self, value: cst.CSTNode) -> cst.With | None:
        """The `with ExitStack() as stack:` block, for `stack.enter_context(<opener>)` inside it."""
        if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
                and value.func.attr.value in ENTER and len(value.args) == 1 and self.opens(value.args[0].value)):
            return None
        stack = value.func.value
        for w in (a for a in self.src.ancestors(value) if isinstance(a, cst.With)):
            if any(isinstance(i.asname.name, cst.Name) and isinstance(stack, cst.Name)
                   and i.asname.name.value == stack.value for i in w.items if i.asname is not None):
                return w
        return None

    def _names_the_opener(self, expr: cst.CSTNode) -> bool:
        """`expr` is what opens when called: the opener's callable, or a session factory."""
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            return False
        call = cst.Call(func=expr)
        if self._maker(call) is not None:
            return True
        return any(isinstance(p := compile_pattern(a), cst.Call) and (d := dotted_name(p.func)) is not None
                   and refers_to(self.src, expr, d) for a in alternatives(self.opener))

    def _near_miss(self, expr: cst.CSTNode) -> None:
        """The opener's callable called with other arguments (another engine...)."""
        if isinstance(expr, cst.Await):
            expr = expr.expression
        if not isinstance(expr, cst.Call):
            return
        if self._factory(expr) == (True, False):
            self.near_misses.append(expr)
            return
        for alternative in alternatives(self.opener):
            pattern = compile_pattern(alternative)
            callee = dotted_name(pattern.func) if isinstance(pattern, cst.Call) else None
            if callee is not None and _same_callee(self.src, expr, callee):
                self.near_misses.append(expr)
                return

    # -- the verdict ----------------------------------------------------------------------------------
    def recognised(self) -> bool:
        """Does the function yield the opened resource while it is open, in a shape this block knows?"""
        return self._right() is not None

    def _right(self) -> Finding | None:
        src = self.src
        for y in self.yields:
            name = y.value.value if isinstance(y.value, cst.Name) else None
            chain = list(src.ancestors(y))
            for names, w in self.managed:
                if w in chain and name in names:
                    return passed(f"yields `{name}` inside `{self.keyword} {self.shown} as {name}:`", node=y,
                                  line=src.line(y))
            if self.finally_close and name in self.opened:
                for t in chain:
                    if isinstance(t, cst.Try) and t.body in chain and t.finalbody and _closes(t.finalbody, name):
                        return passed(f"yields `{name}` in a try whose finally closes it", node=y, line=src.line(y))
            if isinstance(y.value, cst.From) and isinstance(y.value.item, cst.Call) and self.depth > 0:
                helper = _module_function(src, y.value.item.func)
                if helper is not None and _Examiner(src, helper, self.opener, self.finally_close,
                                                    call_arguments(helper, y.value.item), self.depth - 1).recognised():
                    return passed(f"yields from `{src.code(y.value.item)}`, which yields inside `{self.shown}`",
                                  node=y, line=src.line(y))
        return None

    def verdict(self) -> Finding:
        right = self._right()
        if right is not None:
            return right
        wrong = self._wrong()
        if wrong is not None:
            return wrong
        return passed(f"`{self.fn.name.value}` opens its resource in a way this check does not read; the behavioural "
                      "checks judge it", line=self.src.line(self.fn))

    def _wrong(self) -> Finding | None:
        src, fn, kw, shown = self.src, self.fn, self.keyword, self.shown
        if not self.yields:
            returned = returns_value(src, fn)
            if returned:
                r = returned[0]
                return failed(f"`{fn.name.value}` returns `{src.code(r.value)}` where it should yield it inside "
                              f"`{kw} {shown} as session:`: with `return`, nothing runs after the caller is done, so "
                              "nothing closes it", line=src.line(r), diagnosis="return-not-yield", node=r)
            return failed(f"`{fn.name.value}` never yields: write `{kw} {shown} as session:` and `yield session` "
                          "inside it", line=src.line(fn), diagnosis="no-yield", node=fn)
        for y in self.yields:
            if y.value is not None and not isinstance(y.value, (cst.From, cst.Name)) and self.opens(y.value):
                return failed(f"`{src.code(y)}` hands over a new session that nothing ever closes; open it with "
                              f"`{kw} {shown} as session:` and `yield session` inside the block",
                              line=src.line(y), diagnosis="never-closed", node=y)
        first = self.yields[0]
        for names, w in self.managed:
            inside = [y for y in self.yields if w in list(src.ancestors(y))]
            name = sorted(names)[0]
            if inside:
                y = inside[0]
                got = src.code(y.value) if y.value is not None else "nothing"
                return failed(f"inside `{kw} {shown} as {name}:` the function yields `{got}`; "
                              f"yield `{name}`, the session the block opened",
                              line=src.line(y), diagnosis="yields-other-name", node=y)
            return failed(f"`{src.code(first)}` is outside the `{kw} {shown} as {name}:` "
                          f"block (line {src.line(w)}): by then the block has closed the session; indent the yield "
                          "into the block", line=src.line(first), diagnosis="yield-outside-with", node=first)
        if self.unnamed:
            w = self.unnamed[0]
            return failed(f"`{kw} {shown}:` has no `as` name, so there is nothing to yield; "
                          f"write `{kw} {shown} as session:` and `yield session`",
                          line=src.line(w), diagnosis="yields-other-name", node=w)
        for name, assign in self.opened.items():
            unclosed = self._unclosed(name, assign)
            if unclosed is not None:
                return unclosed
        if self.uncalled:
            item = self.uncalled[0]
            opener = f"{src.code(item)}()" if self._maker(cst.Call(func=item)) is not None else shown
            statement = next(a for a in src.ancestors(item) if isinstance(a, (cst.With, cst.Assign, cst.AnnAssign)))
            if isinstance(statement, cst.With):
                what, fix = f"`{kw} {src.code(item)}` enters", f"`{kw} {opener} as session:`"
            else:
                target = _single_target(statement)
                what, fix = f"`{target} = {src.code(item)}` assigns", f"`{target} = {opener}`"
            return failed(f"{what} `{src.code(item)}` itself, which makes sessions but is not one: call it, {fix}",
                          line=src.line(item), column=src.column(item), diagnosis="factory-not-called", node=item)
        shared = self._module_level_session()
        if shared is not None:
            return shared
        if self.near_misses:
            call = self.near_misses[0]
            maker = self._maker(call)
            if maker is not None:
                detail = f"its factory makes `{src.code(maker)}` (line {src.line(maker)}) sessions, not `{shown}`"
            else:
                miss = find_mismatch(src, call, self.opener, arguments=self.env)
                detail = miss.describe() if miss else ""
            return failed(f"`{src.code(call)}` does not open the right thing: {detail}",
                          line=src.line(call), column=src.column(call), diagnosis="opener-mismatch", node=call)
        return None

    def _unclosed(self, name: str, assign: cst.CSTNode) -> Finding | None:
        src, kw, shown = self.src, self.keyword, self.shown
        closes = _closes(self.fn.body, name)
        if closes:
            close = closes[0]
            if any(isinstance(a, cst.ExceptHandler) for a in src.ancestors(close)):
                when = f"only runs when the endpoint raises: after a request that succeeds, `{name}` stays open"
            else:
                when = (f"only runs when the request succeeds: if the endpoint raises, the generator stops at the "
                        f"yield and `{name}` stays open")
            return failed(f"`{src.code(close)}` {when}; put the yield in `try:` and the "
                          f"close in `finally:`, or use `{kw} {shown} as {name}:`",
                          line=src.line(close), diagnosis="close-without-finally", node=close)
        yielded = any(isinstance(y.value, cst.Name) and y.value.value == name for y in self.yields)
        if not yielded:
            return None
        return failed(f"`{name}` is opened here but never closed; use `{kw} {shown} as {name}:`",
                      line=src.line(assign), diagnosis="never-closed", node=assign)

    def _module_level_session(self) -> Finding | None:
        """The function hands out an object the module keeps (a session opened when the module loads, or
        one kept in a module-level cache) instead of opening one per call."""
        src = self.src
        for y in self.yields:
            if y.value is None or isinstance(y.value, cst.From):
                continue
            kept = _module_state(src, y.value)
            if kept is None and isinstance(y.value, cst.Name):
                entered = [i.item for w in self.body if isinstance(w, cst.With) for i in w.items
                           if i.asname is not None and isinstance(i.asname.name, cst.Name)
                           and i.asname.name.value == y.value.value and w in src.ancestors(y)]
                kept = next((k for k in (_module_state(src, e) for e in entered) if k is not None), None)
            if kept is None:
                continue
            binding = resolve_binding(src, kept)
            line = src.line(binding) if binding is not None else src.line(y)
            return failed(f"every call of `{self.fn.name.value}` hands out the session kept in `{kept.value}`, "
                          "which the module holds for all requests; open one per call instead: "
                          f"`{self.keyword} {self.shown} as session:`", line=line, diagnosis="not-opened",
                          node=binding or y)
        return None

def _module_state(src: Source, expr: cst.CSTNode) -> cst.Name | None:
    """The module-level variable `expr` reads (`cache`, `cache[0]`, `state.session`), if it reads one."""
    base = expr
    while isinstance(base, (cst.Attribute, cst.Subscript)):
        base = base.value
    if not isinstance(base, cst.Name) or any("<locals>" in q for q in src.qualified_names(base)):
        return None
    return base if resolve_alias(src, base) is not None else None


def resolve_binding(src: Source, name: cst.Name) -> cst.CSTNode | None:
    """The statement that last binds a module-level name by assignment."""
    bound = [stmt for stmt, value in module_bindings(src).get(name.value, []) if value is not None]
    return bound[-1] if bound else None


def _module_function(src: Source, func: cst.CSTNode) -> cst.FunctionDef | None:
    if not isinstance(func, cst.Name) or any("<locals>" in q for q in src.qualified_names(func)):
        return None
    return module_functions(src).get(func.value)


def _closes(node: cst.CSTNode, name: str) -> list[cst.Call]:
    out = []
    for n in walk(node):
        if (isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value in {"close", "aclose"}
                and isinstance(n.func.value, cst.Name) and n.func.value.value == name):
            out.append(n)
    return out


def _single_target(node: cst.CSTNode) -> str | None:
    """The name a plain `x = ...` or annotated `x: T = ...` statement binds."""
    if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
        return node.targets[0].target.value
    if isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name):
        return node.target.value
    return None


def _same_callee(src: Source, call: cst.Call, dotted: str) -> bool:
    """The call is to the pattern's callable, or to one with the same short name (e.g. another `Session`)."""
    short = dotted.rsplit(".", 1)[-1]
    return refers_to(src, call.func, dotted) or dotted_name(call.func) in {short, dotted} or (
        dotted_name(call.func) or "").endswith("." + short)
