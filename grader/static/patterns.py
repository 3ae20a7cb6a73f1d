"""Match an expression against a pattern written as Python source.

Pattern language:

* a dotted name (``sqlmodel.Session``, ``typing.Annotated``) matches anything that refers to
  that object, however it was imported (``Session``, ``sqlmodel.Session``, an ``as`` alias,
  a known re-export such as ``typing_extensions.Annotated``);
* a bare name (``engine``, ``get_session``) matches a name that refers to an object of that
  name in the learner's own code (``get_session`` or ``database.get_session``): a module-level
  name, not a function's parameter or local variable (use ``_`` for those);
* ``_`` matches any expression, and ``_.name`` (``_.begin_nested()``) that attribute of any expression
  (shown in messages as ``….begin_nested()``);
* ``...`` as the last argument of a call or subscript matches any further arguments
  (and allows extra keyword arguments); in a call, ``*_`` allows further positional
  arguments and ``**_`` further keyword arguments (``Session(bind=engine, **_)``);
* anything else (literals, operators) matches the same code, whatever the formatting
  (literals are compared by value: ``{"a": False}`` matches ``{'a': False}``).

The learner's code matches in any equivalent spelling:

* arguments are compared by the parameter they fill when the callee's parameters are known (the
  library callables of `grader.static.signatures`, and the learner's own functions): so
  ``Depends(dependency=f)`` is ``Depends(f)``, and an argument given its default value
  (``Depends(f, use_cache=True)``) is as good as none;
* a name that stands for a value (an alias: ``_dep = Depends(get_session)``, ``engine = async_engine``,
  a local ``s = Session(engine)``) matches what the value matches;
* a call of the learner's own helper (``_build_engine(url)``) matches what the helper returns
  (``return create_engine(url, ...)``), its parameters standing for the call's arguments.

A learner's ``*args`` / ``**kwargs`` in a call only match a pattern open on that side.
Where a block takes a pattern it also takes a tuple of patterns: any of them may match.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import libcst as cst

from grader.static.assignments import alias_value, module_bindings, resolve_alias, resolved
from grader.static.finding import Finding, failed, passed
from grader.static.imports import module_imports
from grader.static.reexports import canonical, spellings
from grader.static.signatures import Signature, def_signature, library_signature
from grader.static.source import Source, enclosing_function, module_functions, walk

_DEPTH = 4
"""How many aliases and helpers deep the matcher looks."""


@dataclass(frozen=True)
class Mismatch:
    """The first difference between the learner's code and a pattern."""

    node: cst.CSTNode
    """The learner's node where the difference is (its line is where the fix goes)."""
    expected: str
    """What belongs there, in the learner's spelling."""
    found: str
    called: bool = False
    """The pattern wanted a name and the learner wrote a call of it (`f()` for `f`)."""
    found_is: str | None = None
    """What the learner's name really refers to, when the text alone would hide it."""
    detail: str | None = None
    """The difference in a sentence, when it is about the arguments of a call."""
    within: str | None = None
    """The callee (as the learner wrote it) the difference is an argument of."""

    def describe(self) -> str:
        if self.detail:
            return self.detail
        if self.called:
            given = f"`{self.within}` is given" if self.within else "it has"
            return f"{given} `{self.found}`, a call: give it the function itself, `{self.expected}`"
        really = f" (which is `{self.found_is}`)" if self.found_is else ""
        return f"it has `{self.found}`{really} where `{self.expected}` belongs"


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> cst.BaseExpression:
    return cst.parse_expression(pattern)


Patterns = str | Sequence[str]


def alternatives(pattern: Patterns) -> tuple[str, ...]:
    return (pattern,) if isinstance(pattern, str) else tuple(pattern)


def matches(src: Source, node: cst.CSTNode, pattern: Patterns, *, what: str | None = None) -> Finding:
    """Does `node` match `pattern` (or one of several)? On failure the message names the one difference,
    at its line. The finding's node is what matched: `node`, or the value behind it (an alias's value,
    the call a helper returns)."""
    shown = display(alternatives(pattern)[0], src)
    first: Mismatch | None = None
    for alternative in alternatives(pattern):
        matched, miss = _match(_Ctx(src), compile_pattern(alternative), node)
        if miss is None:
            return passed(f"matches `{shown}`", node=matched, line=src.line(node))
        first = first or miss
    assert first is not None
    subject = what or f"`{src.code(node)}`"
    if first.called:
        message = f"{subject}: {first.describe()}"
    elif first.node is node and first.detail is None:
        message = f"{subject} is `{first.found}`; it should be `{shown}`"
    else:
        message = f"{subject} should be `{shown}`; {first.describe()}"
    return failed(message, line=src.line(first.node), column=src.column(first.node),
                  diagnosis="called-not-passed" if first.called else "pattern-mismatch", node=node)


def find_mismatch(src: Source, node: cst.CSTNode, pattern: Patterns, *,
                  arguments: dict[str, cst.BaseExpression] | None = None) -> Mismatch | None:
    """None if `node` matches one of the patterns, else the first pattern's first difference.

    `arguments` maps a function's parameter names to the expressions a call passes them (see
    `call_arguments`): inside that function, a parameter matches what its argument matches."""
    first: Mismatch | None = None
    for alternative in alternatives(pattern):
        _matched, miss = _match(_Ctx(src, arguments or {}), compile_pattern(alternative), node)
        if miss is None:
            return None
        first = first or miss
    return first


def matched_node(src: Source, node: cst.CSTNode, pattern: Patterns) -> cst.CSTNode | None:
    """What matched `pattern`: `node`, the value of an alias it is, or the call a helper returns; None
    if nothing does."""
    for alternative in alternatives(pattern):
        matched, miss = _match(_Ctx(src), compile_pattern(alternative), node)
        if miss is None:
            return matched
    return None


def arguments_match(src: Source, pattern: str, args: Sequence[cst.Arg]) -> bool:
    """Do `args` (the learner's nodes) match the arguments of the call `pattern`, bound by its callee's
    parameters? (For a call the learner spells another way, such as a session factory's.)"""
    pat = compile_pattern(pattern)
    if not isinstance(pat, cst.Call):
        return False
    return _compare_args(_Ctx(src), pat, cst.Call(func=pat.func, args=tuple(args))) is None


def call_arguments(fn: cst.FunctionDef, call: cst.Call) -> dict[str, cst.BaseExpression]:
    """Each parameter of `fn` -> the expression `call` passes it (or its default); for `find_mismatch`."""
    named, _extra = _bind(def_signature(fn), call, keep_defaults=True) or ({}, [])
    params = fn.params
    out = {p.name.value: named.get(p.name.value, p.default)
           for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    return {name: value for name, value in out.items() if value is not None}


# -- names ----------------------------------------------------------------------------------------
def dotted_name(node: cst.CSTNode) -> str | None:
    """`a.b.c` for a name or attribute chain, else None (a call, a subscript, ...)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def refers_to(src: Source, node: cst.CSTNode, name: str) -> bool:
    """Does a name/attribute node refer to `name` (dotted: exactly; bare: by last component)?

    A chain whose first name is an alias counts as what the alias stands for:
    ``metadata = SQLModel.metadata`` then ``metadata.create_all`` refers to
    ``sqlmodel.SQLModel.metadata.create_all``.
    """
    if not isinstance(node, (cst.Name, cst.Attribute)):
        return False
    if _refers(src, node, name):
        return True
    return any(_refers(src, expanded, name, suffix) for expanded, suffix in _expansions(src, node))


def _refers(src: Source, node: cst.CSTNode, name: str, suffix: str = "") -> bool:
    qualified = src.qualified_names(node)
    if len(qualified) > 1 and isinstance(node, cst.Name) and resolve_alias(src, node) is not None:
        qualified = {node.value}  # imported, then assigned: the assignment is what the name holds
    qualified = {canonical(q + suffix) for q in qualified}
    if "." in name:
        if canonical(name) in qualified:
            return True
        if qualified:
            return False
        shown = dotted_name(node)  # `from module import *` leaves no qualified name: any spelling's module counts
        return shown is not None and any(
            shown + suffix == path.rpartition(".")[2] and path.rpartition(".")[0] in src.star_imports
            for path in spellings(name))
    if any(q == name or q.endswith("." + name) for q in qualified if "<locals>" not in q):
        return True
    shown = dotted_name(node)
    return not qualified and shown is not None and shown + suffix == name


def _expansions(src: Source, node: cst.CSTNode, depth: int = _DEPTH):
    """(node, suffix) pairs a chain stands for through the aliases of its first name:
    `metadata.create_all` -> (`SQLModel.metadata`, ".create_all")."""
    suffix = ""
    base = node
    while isinstance(base, cst.Attribute):
        suffix = f".{base.attr.value}{suffix}"
        base = base.value
    for _ in range(depth):
        value = alias_value(src, base)
        if not isinstance(value, (cst.Name, cst.Attribute)):
            return
        yield value, suffix
        while isinstance(value, cst.Attribute):
            suffix = f".{value.attr.value}{suffix}"
            value = value.value
        base = value


def _same_value(src: Source, node: cst.CSTNode, name: str) -> bool:
    """The learner's module-level `name` and `node` stand for one value (``engine = async_engine``, then
    `async_engine` is `engine`)."""
    if not isinstance(node, cst.Name) or any("<locals>" in q for q in src.qualified_names(node)):
        return False
    bound = [value for _stmt, value in module_bindings(src).get(name, []) if value is not None]
    if not bound:
        return False
    mine, theirs = resolved(src, bound[-1]), resolved(src, node)
    return mine is theirs and mine is not node


def _really(src: Source, node: cst.CSTNode) -> str | None:
    """The qualified name behind a learner's name, if it differs from what they wrote."""
    if not isinstance(node, (cst.Name, cst.Attribute)):
        return None
    code = src.code(node)
    qualified = sorted(q for q in src.qualified_names(node) if "<locals>" not in q and q != code)
    return qualified[0] if qualified else None


# -- how a pattern reads ----------------------------------------------------------------------------
def spelled(src: Source | None, dotted: str) -> str:
    """A qualified name as the learner's file spells it: `sqlmodel.Session` is `Session` after
    `from sqlmodel import Session`, `S` after `... as S`, `sm.Session` after `import sqlmodel as sm`.
    A name the file does not import reads from its first capitalised part (`SQLModel.metadata`), else
    as its last part (`create_engine`); a bare name (the learner's own) as written."""
    if "." not in dotted:
        return dotted
    if src is not None:
        best: tuple[int, str] | None = None
        for path in spellings(dotted) | {dotted}:
            for bound, qualified, _node in module_imports(src):
                if bound != "*" and (path == qualified or path.startswith(qualified + ".")):
                    shown = bound + path[len(qualified):]
                    if best is None or len(qualified) > best[0]:
                        best = (len(qualified), shown)
        if best is not None:
            return best[1]
    parts = dotted.split(".")
    first_class = next((i for i, part in enumerate(parts) if part[:1].isupper()), len(parts) - 1)
    return ".".join(parts[first_class:])


def display(pattern: str, src: Source | None = None) -> str:
    """How a pattern reads in a message, in the learner's spelling when `src` is given, without
    wildcards: `sqlmodel.Session(bind=engine, **_)` -> `Session(bind=engine)`; a `_` argument shows
    as the parameter it fills when that is known (`create_engine(url, ...)`), else is left out."""
    return _render(src, compile_pattern(pattern))


def _render(src: Source | None, node: cst.CSTNode) -> str:
    if isinstance(node, cst.Attribute) and _wild_root(node):
        return f"{'…' if _is_wild(node.value) else _render(src, node.value)}.{node.attr.value}"
    dotted = dotted_name(node)
    if dotted is not None and dotted not in {"None", "True", "False", "_"}:
        return spelled(src, dotted)
    if isinstance(node, cst.Call):
        sig = _signature(src, node.func) if src is not None else None
        args = []
        for i, arg in enumerate(node.args):
            if arg.star or isinstance(arg.value, cst.Ellipsis):
                continue
            if _is_wild(arg.value):
                if arg.keyword is None and sig is not None and i < len(sig.positional):
                    args.append(sig.positional[i])
                continue
            value = _render(src, arg.value)
            args.append(f"{arg.keyword.value}={value}" if arg.keyword is not None else value)
        return f"{_render(src, node.func)}({', '.join(args)})"
    if isinstance(node, cst.Subscript):
        items = [_render(src, e.slice.value) for e in node.slice
                 if isinstance(e.slice, cst.Index) and not isinstance(e.slice.value, cst.Ellipsis)
                 and not _is_wild(e.slice.value)]
        return f"{_render(src, node.value)}[{', '.join(items)}]"
    return _code(node)


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node).strip()


# -- comparing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ctx:
    src: Source
    env: dict[str, cst.BaseExpression] = field(default_factory=dict)
    """A helper's parameters, standing for the arguments of the call being looked through."""
    depth: int = _DEPTH

    def deeper(self, env: dict[str, cst.BaseExpression] | None = None) -> _Ctx:
        return _Ctx(self.src, self.env if env is None else env, self.depth - 1)


def _match(ctx: _Ctx, pat: cst.CSTNode, node: cst.CSTNode) -> tuple[cst.CSTNode, Mismatch | None]:
    """(what matched, None), or (node, the difference). A name in `ctx.env` is the argument it stands
    for; a name that is an alias is its value; a call of a helper is what the helper returns."""
    if isinstance(node, cst.Name) and node.value in ctx.env and _is_local(ctx.src, node):
        return _match(ctx.deeper({}), pat, ctx.env[node.value])
    miss = _compare(ctx, pat, node)
    if miss is None or ctx.depth <= 0:
        return node, miss
    alias = alias_value(ctx.src, node)
    if alias is not None:
        matched, deeper = _match(ctx.deeper(), pat, alias)
        if deeper is None or dotted_name(pat) is None:  # a value written out: the difference is in the alias's value
            return matched, deeper
        return node, miss
    if isinstance(pat, cst.Call) and isinstance(node, cst.Call) and not miss.called:
        for returned, env in _helper_returns(ctx, node):
            matched, deeper = _match(ctx.deeper(env), pat, returned)
            if deeper is None:
                return matched, None
    return node, miss


def _is_local(src: Source, node: cst.Name) -> bool:
    return any("<locals>" in q for q in src.qualified_names(node))


def _local_not_module_level(src: Source, node: cst.Name) -> str:
    """A function's own name spelled like the module-level name a pattern wants, said as such."""
    owner = enclosing_function(src, node)
    if owner is None:
        return f"`{node.value}` there is a local name, not the module-level `{node.value}` of {src.name}"
    params = {p.name.value for p in (*owner.params.posonly_params, *owner.params.params, *owner.params.kwonly_params)}
    kind = "a parameter" if node.value in params else "a local variable"
    return f"`{node.value}` there is {kind} of `{owner.name.value}`, not the module-level `{node.value}` of {src.name}"


def _helper_returns(ctx: _Ctx, call: cst.Call):
    """(value, parameters -> arguments) for the one `return value` of the learner's module-level helper
    `call` calls (not a generator)."""
    if not isinstance(call.func, cst.Name):
        return
    helper = module_functions(ctx.src).get(call.func.value)
    if helper is None or _is_local(ctx.src, call.func):
        return
    returns = [n for n in walk(helper.body, into_nested=False) if isinstance(n, (cst.Return, cst.Yield))]
    if len(returns) != 1 or not isinstance(returns[0], cst.Return) or returns[0].value is None:
        return
    yield returns[0].value, call_arguments(helper, call)


def _compare(ctx: _Ctx, pat: cst.CSTNode, node: cst.CSTNode) -> Mismatch | None:
    src = ctx.src
    if _is_wild(pat):
        return None
    if isinstance(pat, cst.Attribute) and _wild_root(pat):  # `_.begin_nested`: that attribute of anything
        if not isinstance(node, cst.Attribute) or node.attr.value != pat.attr.value:
            return Mismatch(node, _render(src, pat), src.code(node))
        return _match(ctx, pat.value, node.value)[1]
    dotted = dotted_name(pat)
    if dotted is not None and dotted not in {"None", "True", "False"}:
        if refers_to(src, node, dotted) or ("." not in dotted and _same_value(src, node, dotted)):
            return None
        expected = spelled(src, dotted)
        if isinstance(node, cst.Call) and refers_to(src, node.func, dotted):
            return Mismatch(node, expected, src.code(node), called=True)
        if isinstance(node, cst.Name) and node.value == dotted and _is_local(src, node):
            return Mismatch(node, expected, dotted, detail=_local_not_module_level(src, node))
        if expected == src.code(node):  # one spelling, two objects: `Session` from sqlalchemy.orm for sqlmodel's
            expected = dotted
        return Mismatch(node, expected, src.code(node), found_is=_really(src, node))
    if isinstance(pat, cst.Call):
        if not isinstance(node, cst.Call):
            return Mismatch(node, _render(src, pat), src.code(node))
        _matched, miss = _match(ctx, pat.func, node.func)
        return miss or _compare_args(ctx, pat, node)
    if isinstance(pat, cst.Subscript):
        if not isinstance(node, cst.Subscript):
            return Mismatch(node, _render(src, pat), src.code(node))
        _matched, miss = _match(ctx, pat.value, node.value)
        if miss:
            return miss
        pats = [e.slice.value for e in pat.slice if isinstance(e.slice, cst.Index)]
        subs = [e.slice.value for e in node.slice if isinstance(e.slice, cst.Index)]
        return _compare_seq(ctx, pats, subs, node, pat)
    if isinstance(pat, (cst.Tuple, cst.List)) and type(node) is type(pat):
        return _compare_seq(ctx, [e.value for e in pat.elements], [e.value for e in node.elements], node, pat)
    if _normalised(_code(pat)) == _normalised(src.code(node)):
        return None
    return Mismatch(node, _render(src, pat), src.code(node))


def _compare_seq(ctx: _Ctx, pats: list, subs: list, node: cst.CSTNode, whole: cst.CSTNode) -> Mismatch | None:
    open_ended = bool(pats) and isinstance(pats[-1], cst.Ellipsis)
    if open_ended:
        pats = pats[:-1]
    code = ctx.src.code(node)
    if len(subs) < len(pats):
        lacking = _render(ctx.src, pats[len(subs)])
        return Mismatch(node, lacking, code, detail=f"`{code}` lacks an item: `{lacking}`")
    if not open_ended and len(subs) > len(pats):
        return Mismatch(node, _render(ctx.src, whole), code,
                        detail=f"`{code}` has an item too many: `{ctx.src.code(subs[len(pats)])}`")
    for p, s in zip(pats, subs):
        _matched, miss = _match(ctx, p, s)
        if miss:
            return miss
    return None


def _is_wild(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Name) and node.value == "_"


def _wild_root(node: cst.CSTNode) -> bool:
    """An attribute chain on anything: `_.begin_nested`, `_.session.commit`."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return _is_wild(node)


def _signature(src: Source | None, func: cst.CSTNode) -> Signature | None:
    """The parameters of the pattern's callee: a library callable's, or the learner's own function's."""
    dotted = dotted_name(func)
    if dotted is None or src is None:
        return None
    if "." in dotted:
        return library_signature(dotted)
    for source in (src, *src.siblings.values()):
        helper = module_functions(source).get(dotted)
        if helper is not None:
            return def_signature(helper)
    return None


def _bind(sig: Signature, call: cst.Call, *, keep_defaults: bool = False
          ) -> tuple[dict[str, cst.BaseExpression], list[cst.BaseExpression]] | None:
    """(parameter -> argument, positional arguments beyond the known parameters) for a call without
    `*args`/`**kwargs`, dropping arguments given their literal default; None for a call with them."""
    if any(a.star for a in call.args if not _is_wild(a.value)):
        return None
    named: dict[str, cst.BaseExpression] = {}
    extra: list[cst.BaseExpression] = []
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    for i, value in enumerate(positional):
        if i < len(sig.positional):
            named[sig.positional[i]] = value
        else:
            extra.append(value)
    named.update({a.keyword.value: a.value for a in call.args if a.keyword is not None})
    if keep_defaults:
        return named, extra
    return {k: v for k, v in named.items() if not _is_default(sig, k, v)}, extra


def _is_default(sig: Signature, name: str, value: cst.BaseExpression) -> bool:
    if name not in sig.defaults:
        return False
    try:
        return ast.literal_eval(_code(value)) == sig.defaults[name] and \
            type(ast.literal_eval(_code(value))) is type(sig.defaults[name])
    except (ValueError, SyntaxError):
        return False


def _compare_args(ctx: _Ctx, pat: cst.Call, node: cst.Call) -> Mismatch | None:
    src = ctx.src
    pos_open = any(a.star == "*" and _is_wild(a.value) for a in pat.args)
    kw_open = any(a.star == "**" and _is_wild(a.value) for a in pat.args)
    plain = [a for a in pat.args if not (a.star and _is_wild(a.value))]
    if plain and plain[-1].keyword is None and isinstance(plain[-1].value, cst.Ellipsis):
        plain = plain[:-1]
        pos_open = kw_open = True
    pat_call = pat.with_changes(args=plain)
    call = src.code(node)
    whole = _render(src, pat)
    # The learner's `*args` / `**kwargs` may hold anything: only an open pattern accepts them.
    for arg in node.args:
        if (arg.star == "*" and not pos_open) or (arg.star == "**" and not kw_open):
            return Mismatch(node, whole, call, detail=f"`{call}` passes `{arg.star}{src.code(arg.value)}`, which "
                            f"could hold anything: write the arguments out, `{whole}`")
    sig = _signature(src, pat.func)
    if sig is not None and not any(a.star for a in node.args):
        p_named, p_pos = _bind(sig, pat_call) or ({}, [])
        s_named, s_pos = _bind(sig, node) or ({}, [])
    else:
        p_pos = [a.value for a in plain if a.keyword is None]
        p_named = {a.keyword.value: a.value for a in plain if a.keyword is not None}
        s_pos = [a.value for a in node.args if a.keyword is None and not a.star]
        s_named = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
    if len(s_pos) < len(p_pos):
        lacking = _render(src, p_pos[len(s_pos)])
        return Mismatch(node, lacking, call, detail=f"`{call}` lacks an argument: `{lacking}`")
    if not pos_open and len(s_pos) > len(p_pos):
        return Mismatch(node, whole, call, detail=f"`{call}` has an argument too many: `{src.code(s_pos[len(p_pos)])}`")
    for p, s in zip(p_pos, s_pos):
        miss = _argument(ctx, p, s, node)
        if miss:
            return miss
    for key, p in p_named.items():
        if key not in s_named:
            return Mismatch(node, f"{key}={_render(src, p)}", call, detail=f"`{call}` has no `{key}` argument")
        miss = _argument(ctx, p, s_named[key], node)
        if miss:
            return miss
    extra = [key for key in s_named if key not in p_named]
    if extra and not kw_open:
        return Mismatch(node, whole, call, detail=f"`{call}` passes `{extra[0]}={src.code(s_named[extra[0]])}`, which "
                        "does not belong here")
    return None


def _argument(ctx: _Ctx, pat: cst.CSTNode, value: cst.CSTNode, call: cst.Call) -> Mismatch | None:
    _matched, miss = _match(ctx, pat, value)
    if miss is not None and miss.called and miss.node is value:
        return replace(miss, within=ctx.src.code(call.func))
    return miss


def _normalised(code: str) -> str:
    try:
        return ast.dump(ast.parse(code, mode="eval"))
    except SyntaxError:
        return " ".join(code.split())
