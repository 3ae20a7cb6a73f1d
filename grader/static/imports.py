"""Building block: a name is imported from a module, in any spelling."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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


def module_imports(src: Source) -> Iterator[tuple[str, str, cst.CSTNode]]:
    """(bound name, qualified name, node) for each module-level import; `*` binds name `*`."""
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


def imported(src: Source, target: str, *, also: Iterable[str] = ()) -> Finding:
    """`target` (e.g. ``"sqlmodel.Session"``) is importable at module level, in any spelling.

    Passes for ``from sqlmodel import Session``, ``... as S``, ``import sqlmodel``,
    ``from sqlmodel import *`` and known re-exports (``typing_extensions.Annotated``);
    `also` lists other accepted paths.
    Fails with diagnosis ``imported-from-elsewhere`` when a same-named object comes from
    another module, else ``missing-import``.
    """
    accepted = tuple(canonical(t) for t in (target, *also))
    short = target.rsplit(".", 1)[-1]
    module = target.rsplit(".", 1)[0]

    def provides(qualified: str) -> bool:
        qualified = canonical(qualified)
        return any(
            qualified == want or want.startswith(qualified + ".") or qualified == want.rsplit(".", 1)[0] + ".*"
            for want in accepted
        )

    last: dict[str, tuple[str, cst.CSTNode]] = {}  # bound name -> its last import
    for bound, qualified, node in module_imports(src):
        key = f"*{qualified}" if bound == "*" else bound
        last[key] = (qualified, node)
    good = [(q, n) for q, n in last.values() if provides(q)]
    if good:
        node = good[0][1]
        return passed(f"`{short}` is imported", node=node, line=src.line(node))
    wrong = [(q, n) for b, (q, n) in last.items() if b == short or q.rsplit(".", 1)[-1] == short]
    if wrong:
        qualified, node = wrong[-1]
        origin = qualified.rsplit(".", 1)[0]
        return failed(
            f"`{short}` is imported from `{origin}`, but this chapter needs the one from `{module}`: "
            f"write `from {module} import {short}`",
            line=src.line(node), diagnosis="imported-from-elsewhere", node=node,
        )
    return failed(f"`{short}` is not imported: add `from {module} import {short}` at the top of {src.name}",
                  line=1, diagnosis="missing-import")
