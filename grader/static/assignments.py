"""Building blocks about module-level names: an assignment's shape, definition order.

    assignment(src, "SessionDep", "typing.Annotated[sqlmodel.Session, fastapi.Depends(get_session)]")
    defined_after(src, "SessionDep", "get_session")

A module-level name is bound by ``=``, an annotated ``name: T = ...``, ``type name = ...``,
``def`` or ``class`` (also inside a module-level ``if``/``try``); imports are not bindings here.
"""

from __future__ import annotations

import difflib

import libcst as cst

from grader.static.finding import Finding, failed, passed
from grader.static.patterns import Patterns, matches
from grader.static.source import Source, walk


def _targets(node: cst.CSTNode) -> list[tuple[str, cst.CSTNode | None]]:
    """(name, value) pairs a statement binds."""
    if isinstance(node, cst.Assign):
        return [(t.target.value, node.value) for t in node.targets if isinstance(t.target, cst.Name)]
    if isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name):
        return [(node.target.value, node.value)]
    if isinstance(node, cst.TypeAlias):
        return [(node.name.value, node.value)]
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        return [(node.name.value, None)]
    return []


def bindings(src: Source, *, module_level: bool = True) -> dict[str, list[tuple[cst.CSTNode, cst.CSTNode | None]]]:
    """name -> [(statement, assigned value or None for def/class)] in source order."""
    out: dict[str, list] = {}
    for node in walk(src.module, into_nested=not module_level):
        for name, value in _targets(node):
            out.setdefault(name, []).append((node, value))
    return out


def assignment(src: Source, name: str, pattern: Patterns | None = None) -> Finding:
    """`name` is assigned at module level (`=`, annotated `: TypeAlias =`, or `type name =`),
    and its value matches `pattern` (or one of several) if given. The finding's node is the assigned value.

    With several assignments, the last one is examined (it is the value the name keeps).

    Diagnoses: ``not-module-level``, ``misnamed``, ``missing``, and the pattern's
    ``called-not-passed`` / ``pattern-mismatch`` (at the first difference).
    """
    found = {k: v for k, v in bindings(src).items() if any(val is not None for _, val in v)}
    if name not in found:
        nested = [b for b in bindings(src, module_level=False).get(name, []) if b[1] is not None]
        if nested:
            stmt = nested[-1][0]
            return failed(f"`{name}` is assigned inside a function or class; assign it at the top level of {src.name}",
                          line=src.line(stmt), diagnosis="not-module-level", node=stmt)
        close = difflib.get_close_matches(name, list(found), n=1, cutoff=0.75)
        if close:
            stmt = found[close[0]][-1][0]
            return failed(f"there is no `{name}`, but there is `{close[0]}`: check the spelling",
                          line=src.line(stmt), diagnosis="misnamed", node=stmt)
        return failed(f"`{name}` is not defined at the top level of {src.name}", line=src.last_line,
                      diagnosis="missing")
    stmt, value = [b for b in found[name] if b[1] is not None][-1]
    if pattern is None:
        return passed(f"`{name}` is defined", node=value, line=src.line(stmt))
    return matches(src, value, pattern, what=f"`{name}`")


def defined_after(src: Source, later: str, earlier: str) -> Finding:
    """`later` is first bound below `earlier`'s first binding (Python runs a module top to bottom).

    Diagnoses: ``defined-too-early`` (at `later`'s line), ``missing``.
    """
    table = bindings(src)
    if later not in table or earlier not in table:
        missing = later if later not in table else earlier
        return failed(f"`{missing}` is not defined at the top level of {src.name}", line=src.last_line,
                      diagnosis="missing")
    late_stmt = table[later][0][0]
    early_stmt = table[earlier][0][0]
    if src.line(late_stmt) > src.line(early_stmt):
        return passed(f"`{later}` comes after `{earlier}`", node=late_stmt, line=src.line(late_stmt))
    return failed(f"`{later}` (line {src.line(late_stmt)}) is defined before `{earlier}` (line {src.line(early_stmt)}): "
                  f"Python runs the file from top to bottom, so `{earlier}` does not exist yet there; "
                  f"move `{later}` below `{earlier}`",
                  line=src.line(late_stmt), diagnosis="defined-too-early", node=late_stmt)
