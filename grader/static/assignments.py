"""Building blocks about names bound by assignment: an assignment's shape, definition order, aliases.

    assignment(src, "SessionDep", "typing.Annotated[sqlmodel.Session, fastapi.Depends(get_session)]")
    defined_after(src, "SessionDep", "get_session")

A module-level name is bound by ``=``, an annotated ``name: T = ...``, ``type name = ...``,
``def`` or ``class`` (also inside a module-level ``if``/``try``); imports are not bindings here.

An *alias* is a name that only stands for a value: ``_dep = Depends(get_session)``, ``engine =
async_engine``, ``metadata = SQLModel.metadata`` in a function. :func:`alias_value` says what a
name stands for; the pattern matcher looks through aliases, so code that names a value before using
it matches a pattern that writes the value out.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

import libcst as cst
from libcst.metadata import FunctionScope

from grader.static.finding import Finding, failed, passed
from grader.static.imports import module_imports
from grader.static.source import Source, walk

if TYPE_CHECKING:
    from grader.static.patterns import Patterns


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


_BINDINGS: WeakKeyDictionary[Source, dict] = WeakKeyDictionary()
_IMPORT_LINES: WeakKeyDictionary[Source, dict[str, int]] = WeakKeyDictionary()
_MUTATED: WeakKeyDictionary[Source, frozenset[str]] = WeakKeyDictionary()
_MUTATORS = frozenset({"update", "setdefault", "__setitem__", "pop", "popitem", "clear", "append", "extend",
                       "insert", "remove", "add", "discard"})


def module_bindings(src: Source) -> dict:
    """`bindings(src)`, computed once per parsed file (walking a libcst tree is slow)."""
    if src not in _BINDINGS:
        _BINDINGS[src] = bindings(src)
    return _BINDINGS[src]


def _last_import_lines(src: Source) -> dict[str, int]:
    if src not in _IMPORT_LINES:
        _IMPORT_LINES[src] = {bound: src.line(stmt) for bound, _qualified, stmt in module_imports(src)}
    return _IMPORT_LINES[src]


def resolve_alias(src: Source, node: cst.BaseExpression) -> cst.BaseExpression | None:
    """What a name stands for when its last module-level binding is an assignment
    (``Dep = Annotated[...]``, ``Dep: TypeAlias = ...``, ``type Dep = ...``); None for an imported
    name, a local variable or parameter, or a name the file never assigns."""
    if not isinstance(node, cst.Name) or any("<locals>" in q for q in src.qualified_names(node)):
        return None
    assigned = [(src.line(stmt), value) for stmt, value in module_bindings(src).get(node.value, [])
                if value is not None]
    imported = _last_import_lines(src).get(node.value)
    if not assigned or (imported is not None and imported > max(line for line, _ in assigned)):
        return None
    return max(assigned, key=lambda pair: pair[0])[1]


def mutated_names(src: Source) -> frozenset[str]:
    """Names whose container the file changes in place (`x["k"] = v`, `del x[k]`, `x |= ...`,
    `x.update(...)`, `x.append(...)`, ...): what such a name was first assigned is not what it holds."""
    if src not in _MUTATED:
        names: set[str] = set()
        for n in walk(src.module):
            if isinstance(n, (cst.AssignTarget, cst.Del)):
                target = n.target
                if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
                    names.add(target.value.value)
            elif isinstance(n, cst.AugAssign) and isinstance(n.target, cst.Name):
                names.add(n.target.value)
            elif (isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and isinstance(n.func.value, cst.Name)
                  and n.func.attr.value in _MUTATORS):
                names.add(n.func.value.value)
        _MUTATED[src] = frozenset(names)
    return _MUTATED[src]


def alias_value(src: Source, node: cst.CSTNode) -> cst.BaseExpression | None:
    """What a name stands for: a module-level alias (`resolve_alias`), or a function's local variable
    assigned exactly once with a plain ``x = value`` (``metadata = SQLModel.metadata``); else None, also
    for a name given a container literal (`{...}`, `dict(...)`) that the file changes in place
    (`mutated_names`): the literal is not what it holds. (An alias of an object stays an alias of it:
    ``overrides = app.dependency_overrides`` is that dict, however it is changed.)"""
    value = _alias_value(src, node)
    if value is not None and node.value in mutated_names(src) and _is_container(value):  # type: ignore[attr-defined]
        return None
    return value


def _is_container(node: cst.BaseExpression) -> bool:
    if isinstance(node, (cst.Dict, cst.List, cst.Set, cst.DictComp, cst.ListComp, cst.SetComp)):
        return True
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in ("dict", "list", "set")


def _alias_value(src: Source, node: cst.CSTNode) -> cst.BaseExpression | None:
    if not isinstance(node, cst.Name):
        return None
    scope = src.scope(node)
    if not isinstance(scope, FunctionScope) or node.value not in scope.assignments:
        return resolve_alias(src, node)
    found = list(scope.assignments[node.value])
    if len(found) != 1 or not isinstance(found[0].node, cst.Name):
        return None
    target = found[0].node
    holder = src.parent(target)
    if isinstance(holder, cst.AssignTarget):
        statement = src.parent(holder)
        if isinstance(statement, cst.Assign) and len(statement.targets) == 1:
            return statement.value
    if isinstance(holder, cst.AnnAssign) and holder.target is target:
        return holder.value
    return None


def resolved(src: Source, node: cst.BaseExpression, *, depth: int = 4) -> cst.BaseExpression:
    """The expression behind a chain of module-level aliases (`node` itself if it is no alias)."""
    for _ in range(depth):
        alias = resolve_alias(src, node)
        if alias is None:
            break
        node = alias
    return node


def resolves_to(src: Source, node: cst.BaseExpression, pattern: Patterns) -> bool:
    """`node` matches `pattern` (the matcher looks through aliases itself; kept for the chapters)."""
    from grader.static.patterns import find_mismatch

    return find_mismatch(src, node, pattern) is None


def assignment(src: Source, name: str, pattern: Patterns | None = None) -> Finding:
    """`name` is assigned at module level (`=`, annotated `: TypeAlias =`, or `type name =`),
    and its value matches `pattern` (or one of several) if given. The finding's node is the assigned
    value, looked through: the value of another module-level name it aliases (``engine = async_engine``),
    and with a pattern, what matched it (the call a helper returns: ``engine = build_engine()``).

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
        return passed(f"`{name}` is defined", node=resolved(src, value), line=src.line(stmt))
    from grader.static.patterns import matches

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
    return failed(f"`{later}` is defined before `{earlier}` (line {src.line(early_stmt)}): "
                  f"Python runs the file from top to bottom, so `{earlier}` does not exist yet there; "
                  f"move `{later}` below `{earlier}`",
                  line=src.line(late_stmt), diagnosis="defined-too-early", node=late_stmt)
