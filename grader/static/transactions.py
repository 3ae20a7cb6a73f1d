"""Who owns the transaction: endpoints that commit, roll back or close their session themselves, when a
dependency (chapters 4, 6 and 7's get_session) owns it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import libcst as cst

from grader.static.endpoints import Endpoint
from grader.static.finding import Finding, failed
from grader.static.source import Source, module_functions, walk

TRANSACTION_CALLS = ("commit", "rollback", "close")

Made = tuple[str, cst.Call, cst.FunctionDef]
"""(method, the call, the function that makes it)."""


def own_method_calls(root: cst.CSTNode, method: str) -> list[cst.Call]:
    """Calls `x.method(...)` below `root`, not inside nested functions."""
    return [n for n in walk(root, into_nested=False) if isinstance(n, cst.Call)
            and isinstance(n.func, cst.Attribute) and n.func.attr.value == method]


def transaction_calls(src: Source, fn: cst.FunctionDef, depth: int = 2) -> list[Made]:
    """Each commit, rollback and close `fn` makes, itself first (in source order), then through the module-level
    helpers it calls by name."""
    functions = module_functions(src)
    own = sorted(((m, c, fn) for m in TRANSACTION_CALLS for c in own_method_calls(fn.body, m)),
                 key=lambda made: src.line(made[1]))
    helpers = [functions[n.func.value] for n in walk(fn.body, into_nested=False) if depth and isinstance(n, cst.Call)
               and isinstance(n.func, cst.Name) and n.func.value in functions and functions[n.func.value] is not fn]
    return own + [made for h in helpers for made in transaction_calls(src, h, depth - 1)]


def endpoints_owning_transactions(src: Source, found: Sequence[Endpoint], *, owner: str, flush: str,
                                  calls: Callable[[Source, cst.FunctionDef], list[Made]] = transaction_calls
                                  ) -> Finding | None:
    """A failure listing every endpoint that commits, rolls back or closes (at the first such call), saying
    that `owner` owns the transaction and to `flush` instead of committing; None when none does."""
    offenders = [(e, *made[0]) for e in found if (made := calls(src, e.node))]
    if not offenders:
        return None

    def named(endpoint: Endpoint, call: cst.Call, maker: cst.FunctionDef, first: bool = False) -> str:
        where = "" if first else f" (line {src.line(call)})"
        if maker is endpoint.node:
            return f"{endpoint.label} calls `{src.code(call)}`{where}"
        return f"{endpoint.label} calls `{maker.name.value}`, which calls `{src.code(call)}`{where}"

    first, method, call, maker = offenders[0]
    listed = [named(first, call, maker, first=True)] + [named(e, c, f) for e, _m, c, f in offenders[1:]]
    advice = (f"replace each commit with `{flush}` where the endpoint needs the SQL sent now (an id, a constraint "
              "checked), else remove it" if any(m == "commit" for _e, m, _c, _f in offenders) else "remove it")
    return failed(f"{'; '.join(listed)}: {owner}; {advice}", line=src.line(call),
                  diagnosis=f"{method}-in-endpoint", node=call)
