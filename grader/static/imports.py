"""Building block: a name is imported from a module, in any spelling.

    imported(src, "sqlmodel.Session")

Only module-level imports count (also inside a module-level ``if`` or ``try``); an import inside
a function does not make the name available to the rest of the file.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from weakref import WeakKeyDictionary

import libcst as cst

from grader.static.finding import Finding, failed, passed
from grader.static.reexports import canonical
from grader.static.source import Source, walk


def _module_name(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_module_name(node.value)}.{node.attr.value}"
    return ""


_IMPORTS: WeakKeyDictionary[Source, list[tuple[str, str, cst.CSTNode]]] = WeakKeyDictionary()


def module_imports(src: Source) -> Iterator[tuple[str, str, cst.CSTNode]]:
    """(bound name, qualified name, node) for each module-level import; `*` binds name `*`."""
    if src not in _IMPORTS:
        _IMPORTS[src] = list(_module_imports(src))
    return iter(_IMPORTS[src])


def _module_imports(src: Source) -> Iterator[tuple[str, str, cst.CSTNode]]:
    for node in walk(src.module, into_nested=False):
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = _module_name(alias.name)
                if alias.asname:
                    yield alias.asname.name.value, full, node  # type: ignore[union-attr]
                else:
                    yield full.split(".")[0], full.split(".")[0], node
        elif isinstance(node, cst.ImportFrom):
            module = "." * len(node.relative) + _module_name(node.module)
            if isinstance(node.names, cst.ImportStar):
                yield "*", f"{module}.*", node
                continue
            for alias in node.names:
                name = _module_name(alias.name)
                bound = alias.asname.name.value if alias.asname else name  # type: ignore[union-attr]
                yield bound, f"{module}.{name}", node


THIRD_PARTY = frozenset({"fastapi", "sqlmodel", "sqlalchemy", "pydantic", "starlette", "typing_extensions", "pytest",
                         "httpx", "aiosqlite"})
"""Top-level modules the course installs; any other module that is not in the standard library is the app's own."""


def _kind(module: str) -> int:
    """Where an import of `module` goes: 0 standard library, 1 third party, 2 the app's own modules."""
    top = module.lstrip(".").split(".")[0]
    if module.startswith(".") or not top:
        return 2
    return 0 if top in sys.stdlib_module_names else 1 if top in THIRD_PARTY else 2


def _statement_module(node: cst.CSTNode) -> str:
    if isinstance(node, cst.ImportFrom):
        return "." * len(node.relative) + _module_name(node.module)
    return _module_name(node.names[0].name) if isinstance(node, cst.Import) else ""  # type: ignore[union-attr]


def import_advice(src: Source, module: str, name: str | None = None) -> tuple[int, str]:
    """(line, advice) for making `name` of `module` importable (`name` None: `import module`).

    The line is where the fix goes: the file's `from module import ...` when there is one (the advice
    then says to add the name to it, without repeating the line the finding points at), else the last import of the same kind (standard library, third
    party, the app's own; isort's groups), else of an earlier kind, else the first import, else line 1.
    """
    statement = f"from {module} import {name}" if name else f"import {module}"
    imports = [n for n in walk(src.module, into_nested=False) if isinstance(n, (cst.Import, cst.ImportFrom))]
    if name:
        same = [n for n in imports if isinstance(n, cst.ImportFrom) and not isinstance(n.names, cst.ImportStar)
                and _statement_module(n) == module]
        if same:
            return src.line(same[-1]), f"add `{name}` to the `from {module} import ...` line"  # the finding's line
    kind = _kind(module)
    for wanted in range(kind, -1, -1):
        group = [n for n in imports if _kind(_statement_module(n)) == wanted]
        if group:
            return src.line(group[-1]), f"add `{statement}` to the imports"
    return (src.line(imports[0]) if imports else 1), f"add `{statement}` at the top of {src.name}"


def imported(src: Source, target: str, *, also: Iterable[str] = ()) -> Finding:
    """`target` (e.g. ``"sqlmodel.Session"``) is importable at module level, in any spelling.

    Passes for ``from sqlmodel import Session``, ``... as S``, ``import sqlmodel``,
    ``from sqlmodel import *`` and known re-exports (``from typing_extensions import Annotated``,
    ``import typing_extensions``); `also` lists other accepted paths.
    Fails with diagnosis ``imported-from-elsewhere`` (at that import's line) when the short name
    is bound to an object of another module, even if a module import would also provide the right
    one (the bare name is what the learner will use); else ``missing-import`` (at the file's
    ``from module import ...`` when there is one, else where the import goes: see `import_advice`).
    """
    accepted = tuple(canonical(t) for t in (target, *also))
    short = target.rsplit(".", 1)[-1]
    module = target.rsplit(".", 1)[0]

    def provides(qualified: str) -> bool:
        """Does an import of `qualified` (an object, a module, or `module.*`) make the target usable?"""
        if qualified.endswith(".*"):
            star = qualified[:-2]
            return any(canonical(f"{star}.{want.rsplit('.', 1)[-1]}") == want for want in accepted)
        return any(
            canonical(qualified) == want or want.startswith(qualified + ".")
            or canonical(f"{qualified}.{want.rsplit('.', 1)[-1]}") == want
            for want in accepted
        )

    bound_to: dict[str, tuple[str, cst.CSTNode]] = {}  # local name -> its last import, in file order
    for bound, qualified, node in module_imports(src):
        if bound != "*":
            bound_to[bound] = (qualified, node)
        elif provides(qualified):  # a star import of the right module (re)binds the short name
            bound_to[short] = (qualified, node)
    shadow = bound_to.get(short)
    wrong = [shadow] if shadow and not provides(shadow[0]) else []
    good = [(q, n) for q, n in bound_to.values() if provides(q)]
    if good and not wrong:
        node = good[0][1]
        return passed(f"`{short}` is imported", node=node, line=src.line(node))
    wrong = wrong or [(q, n) for q, n in bound_to.values() if q.rsplit(".", 1)[-1] == short]
    if wrong:
        qualified, node = wrong[-1]
        origin = qualified.rsplit(".", 1)[0]
        return failed(
            f"`{short}` is imported from `{origin}`, but this chapter needs the one from `{module}`: "
            f"write `from {module} import {short}`",
            line=src.line(node), diagnosis="imported-from-elsewhere", node=node,
        )
    line, advice = import_advice(src, module, short)
    return failed(f"`{short}` is not imported: {advice}", line=line, diagnosis="missing-import")
