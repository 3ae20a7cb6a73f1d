"""Match an expression against a pattern written as Python source.

Pattern language:

* a dotted name (``sqlmodel.Session``, ``typing.Annotated``) matches anything that refers to
  that object, however it was imported (``Session``, ``sqlmodel.Session``, an ``as`` alias,
  a known re-export such as ``typing_extensions.Annotated``);
* a bare name (``engine``, ``get_session``) matches a name that refers to an object of that
  name in the learner's own code (``get_session`` or ``database.get_session``): a module-level
  name, not a function's parameter or local variable (use ``_`` for those);
* ``_`` matches any expression;
* ``...`` as the last argument of a call or subscript matches any further arguments
  (and allows extra keyword arguments); in a call, ``*_`` allows further positional
  arguments and ``**_`` further keyword arguments (``Session(bind=engine, **_)``);
* anything else (literals, operators) matches the same code, whatever the formatting
  (literals are compared by value: ``{"a": False}`` matches ``{'a': False}``).

A learner's ``*args`` / ``**kwargs`` in a call only match a pattern open on that side.
Names bound by plain assignment (``S = sqlmodel.Session``) are not followed: ``S(...)`` does
not match ``sqlmodel.Session(...)``; import aliases (``from sqlmodel import Session as S``) are.

Where a block takes a pattern it also takes a tuple of patterns: any of them may match.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import libcst as cst

from grader.static.finding import Finding, failed, passed
from grader.static.reexports import canonical, spellings
from grader.static.source import Source


@dataclass(frozen=True)
class Mismatch:
    node: cst.CSTNode
    expected: str
    found: str
    called: bool = False
    """The pattern wanted a name and the learner wrote a call of it (`f()` for `f`)."""
    found_is: str | None = None
    """What the learner's name really refers to, when the text alone would hide it."""

    def describe(self) -> str:
        really = f" (which is `{self.found_is}`)" if self.found_is else ""
        return f"expected `{self.expected}`, found `{self.found}`{really}"


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> cst.BaseExpression:
    return cst.parse_expression(pattern)


Patterns = str | Sequence[str]


def alternatives(pattern: Patterns) -> tuple[str, ...]:
    return (pattern,) if isinstance(pattern, str) else tuple(pattern)


def matches(src: Source, node: cst.CSTNode, pattern: Patterns, *, what: str | None = None) -> Finding:
    """Does `node` match `pattern` (or one of several)? On failure the message names the first difference."""
    mismatch = find_mismatch(src, node, pattern)
    pattern = alternatives(pattern)[0]
    if mismatch is None:
        return passed(f"matches `{pattern}`", node=node, line=src.line(node))
    subject = f"{what} " if what else ""
    if mismatch.called:
        message = (
            f"{subject}has `{mismatch.found}`, which calls the function; pass the function itself: "
            f"`{mismatch.expected}`"
        )
        diagnosis = "called-not-passed"
    else:
        message = f"{subject}should be `{pattern}`; {mismatch.describe()}"
        diagnosis = "pattern-mismatch"
    return failed(message, line=src.line(mismatch.node), column=src.column(mismatch.node),
                  diagnosis=diagnosis, node=node)


def find_mismatch(src: Source, node: cst.CSTNode, pattern: Patterns) -> Mismatch | None:
    """None if `node` matches one of the patterns, else the first pattern's first difference."""
    first: Mismatch | None = None
    for alternative in alternatives(pattern):
        miss = _compare(src, compile_pattern(alternative), node)
        if miss is None:
            return None
        first = first or miss
    return first


def dotted_name(node: cst.CSTNode) -> str | None:
    """`a.b.c` for a name or attribute chain, else None (a call, a subscript, ...)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def refers_to(src: Source, node: cst.CSTNode, name: str) -> bool:
    """Does a name/attribute node refer to `name` (dotted: exactly; bare: by last component)?"""
    if not isinstance(node, (cst.Name, cst.Attribute)):
        return False
    qualified = {canonical(q) for q in src.qualified_names(node)}
    if "." in name:
        if canonical(name) in qualified:
            return True
        if qualified:
            return False
        shown = dotted_name(node)  # `from module import *` leaves no qualified name: any spelling's module counts
        return any(shown == path.rpartition(".")[2] and path.rpartition(".")[0] in src.star_imports
                   for path in spellings(name))
    if any(q == name or q.endswith("." + name) for q in qualified if "<locals>" not in q):
        return True
    return not qualified and dotted_name(node) == name


def _really(src: Source, node: cst.CSTNode) -> str | None:
    """The qualified name behind a learner's name, if it differs from what they wrote."""
    if not isinstance(node, (cst.Name, cst.Attribute)):
        return None
    code = src.code(node)
    qualified = sorted(q for q in src.qualified_names(node) if "<locals>" not in q and q != code)
    return qualified[0] if qualified else None


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node).strip()


def _compare(src: Source, pat: cst.CSTNode, node: cst.CSTNode) -> Mismatch | None:
    if isinstance(pat, cst.Name) and pat.value == "_":
        return None
    dotted = dotted_name(pat)
    if dotted is not None and dotted not in {"None", "True", "False"}:
        if refers_to(src, node, dotted):
            return None
        if isinstance(node, cst.Call) and refers_to(src, node.func, dotted):
            return Mismatch(node, dotted, src.code(node), called=True)
        return Mismatch(node, dotted, src.code(node), found_is=_really(src, node))
    if isinstance(pat, cst.Call):
        if not isinstance(node, cst.Call):
            return Mismatch(node, _code(pat), src.code(node))
        return _compare(src, pat.func, node.func) or _compare_args(src, pat, node)
    if isinstance(pat, cst.Subscript):
        if not isinstance(node, cst.Subscript):
            return Mismatch(node, _code(pat), src.code(node))
        miss = _compare(src, pat.value, node.value)
        if miss:
            return miss
        pats = [e.slice.value for e in pat.slice if isinstance(e.slice, cst.Index)]
        subs = [e.slice.value for e in node.slice if isinstance(e.slice, cst.Index)]
        return _compare_seq(src, pats, subs, node, _code(pat))
    if isinstance(pat, (cst.Tuple, cst.List)) and type(node) is type(pat):
        return _compare_seq(src, [e.value for e in pat.elements], [e.value for e in node.elements], node, _code(pat))
    if _normalised(_code(pat)) == _normalised(src.code(node)):
        return None
    return Mismatch(node, _code(pat), src.code(node))


def _compare_seq(src: Source, pats: list, subs: list, node: cst.CSTNode, whole: str) -> Mismatch | None:
    open_ended = bool(pats) and isinstance(pats[-1], cst.Ellipsis)
    if open_ended:
        pats = pats[:-1]
    if len(subs) < len(pats) or (not open_ended and len(subs) != len(pats)):
        return Mismatch(node, whole, src.code(node))
    for p, s in zip(pats, subs):
        miss = _compare(src, p, s)
        if miss:
            return miss
    return None


def _is_wild(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Name) and node.value == "_"


def _compare_args(src: Source, pat: cst.Call, node: cst.Call) -> Mismatch | None:
    p_pos = [a.value for a in pat.args if a.keyword is None and not a.star]
    p_kw = {a.keyword.value: a.value for a in pat.args if a.keyword is not None}
    pos_open = any(a.star == "*" and _is_wild(a.value) for a in pat.args)
    kw_open = any(a.star == "**" and _is_wild(a.value) for a in pat.args)
    if p_pos and isinstance(p_pos[-1], cst.Ellipsis):
        p_pos = p_pos[:-1]
        pos_open = kw_open = True
    s_pos = [a.value for a in node.args if a.keyword is None and not a.star]
    s_kw = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
    whole = _code(pat)
    # The learner's `*args` / `**kwargs` may hold anything: only an open pattern accepts them.
    if (any(a.star == "*" for a in node.args) and not pos_open) or (any(a.star == "**" for a in node.args)
                                                                     and not kw_open):
        return Mismatch(node, whole, src.code(node))
    if len(s_pos) < len(p_pos) or (not pos_open and len(s_pos) != len(p_pos)):
        return Mismatch(node, whole, src.code(node))
    for p, s in zip(p_pos, s_pos):
        miss = _compare(src, p, s)
        if miss:
            return miss
    for key, p in p_kw.items():
        if key not in s_kw:
            return Mismatch(node, whole, src.code(node))
        miss = _compare(src, p, s_kw[key])
        if miss:
            return miss
    if not kw_open and set(s_kw) - set(p_kw):
        return Mismatch(node, whole, src.code(node))
    return None


def _normalised(code: str) -> str:
    try:
        return ast.dump(ast.parse(code, mode="eval"))
    except SyntaxError:
        return " ".join(code.split())
