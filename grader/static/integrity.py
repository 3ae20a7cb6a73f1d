"""Integrity flags: the places where graded code reaches into the grader's harness.

A flag never changes a verdict (code that runs in the checks' interpreter could forge one; see the
README's Safety section): it makes the reach visible, with its line, in the report and the
gradebook. This module finds what the code says literally, through imports and aliases
(`from sys import _getframe as f`), `getattr`/`setattr` with a string, and `import grader...`;
the child's audit hook adds what only running code shows (`grader.sandbox.guard`, `FLAGGED_EVENTS`).

Correct code never does any of this, so a flag means the submission deserves a look.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from grader.static.source import Source, walk
from grader.tampering import AUDIT, CLASS, FRAMES, GC, IMPORTS, LIBRARIES, MODULES, PIPE, RAW_FD, patches

HARNESS_MODULES = ("grader", "_course", "conftest", "test_", "pytest", "_pytest")
"""Module names (prefixes) of the harness: the grader, the chapter's checks, pytest."""

_FRAME_FUNCTIONS = frozenset({"sys._getframe", "sys._current_frames", "inspect.currentframe", "inspect.stack",
                              "inspect.trace", "inspect.getouterframes", "inspect.getinnerframes",
                              "traceback.walk_stack", "traceback.walk_tb"})
_FRAME_ATTRIBUTES = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame", "cr_frame",
                               "ag_frame"})
_GC_FUNCTIONS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents"})
_ATTR_FUNCTIONS = frozenset({"getattr", "setattr", "delattr", "hasattr", "object.__getattribute__",
                             "object.__setattr__", "type.__setattr__", "object.__delattr__", "type.__delattr__"})
_SETTERS = frozenset({"setattr", "delattr", "object.__setattr__", "type.__setattr__", "object.__delattr__",
                      "type.__delattr__"})
_FD_WRITERS = {"os.write": (0,), "os.writev": (0,), "os.pwrite": (0,), "os.pwritev": (0,), "os.fdopen": (0,),
               "os.dup2": (1,), "os.sendfile": (0,), "os.ftruncate": (0,)}
"""Functions that write to (or replace) a descriptor given by number: which positional arguments are one."""
_FD_OPENERS = frozenset({"open", "io.open", "io.FileIO", "os.fdopen"})
_IMPORTERS = frozenset({"__import__", "importlib.import_module", "importlib.__import__"})


@dataclass(frozen=True)
class Flag:
    """One reach into the harness: `what` it does, at `file`:`line`."""

    file: str
    line: int
    what: str

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "what": self.what}


def integrity_flags(sources: dict[str, Source]) -> list[Flag]:
    """Every flag of every graded file, each (file, line, what) once, in file and line order."""
    found: dict[tuple[str, int, str], Flag] = {}
    for name, src in sources.items():
        for line, what in src.per_text("integrity", lambda src=src: list(_flags(src))):
            found.setdefault((name, line, what), Flag(name, line, what))
    return sorted(found.values(), key=lambda f: (f.file, f.line))


def _flags(src: Source) -> Iterator[tuple[int, str]]:
    for node in walk(src.module):
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            yield from _imports(src, node)
        elif isinstance(node, cst.Attribute):
            yield from _attribute(src, node)
        elif isinstance(node, cst.Name):
            yield from _named(src, node, _names(src, node))
        elif isinstance(node, cst.Call):
            yield from _call(src, node)
        elif isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign, cst.Del)):
            yield from _assignment(src, node)


def _names(src: Source, node: cst.CSTNode) -> set[str]:
    """What `node` refers to through imports; builtins by their bare names (`object.__setattr__`)."""
    names = src.qualified_names(node)
    if isinstance(node, cst.Attribute):  # libcst stops at a builtin: `object.__setattr__` is `builtins.object`
        names = names | {f"{n}.{node.attr.value}" for n in src.qualified_names(node.value)}
    return {n.removeprefix("builtins.") for n in names}


def _top(name: str) -> str:
    return name.split(".")[0]


def _harness_module(name: str) -> bool:
    return name.startswith(HARNESS_MODULES)


def _named(src: Source, node: cst.CSTNode, names: set[str]) -> Iterator[tuple[int, str]]:
    """Flags for a reference to something by its qualified names (a function called or passed along)."""
    line = src.line(node)
    if names & _FRAME_FUNCTIONS:
        yield line, FRAMES
    if names & _GC_FUNCTIONS:
        yield line, GC
    if "sys.addaudithook" in names:
        yield line, AUDIT
    if "sys.modules" in names and _reaches_harness_modules(src, node):
        yield line, MODULES


def _attribute(src: Source, node: cst.Attribute) -> Iterator[tuple[int, str]]:
    if node.attr.value in _FRAME_ATTRIBUTES:
        yield src.line(node), FRAMES
    yield from _named(src, node, _names(src, node))


def _reaches_harness_modules(src: Source, node: cst.CSTNode) -> bool:
    """`sys.modules` used for anything but a look-up of a module that is not the harness's
    (`sys.modules[__name__]`, `"x" in sys.modules`, `sys.modules.get("sqlmodel")`)."""
    parent = src.parent(node)
    if isinstance(parent, cst.ComparisonTarget):
        return False
    key: cst.BaseExpression | None = None
    if isinstance(parent, cst.SubscriptElement) or (isinstance(parent, cst.Subscript) and parent.value is node):
        subscript = parent if isinstance(parent, cst.Subscript) else None
        if subscript and len(subscript.slice) == 1 and isinstance(subscript.slice[0].slice, cst.Index):
            key = subscript.slice[0].slice.value
    elif isinstance(parent, cst.Attribute) and parent.attr.value in ("get", "pop", "setdefault", "__getitem__"):
        call = src.parent(parent)
        if isinstance(call, cst.Call) and call.args:
            key = call.args[0].value
    if key is None:
        return True
    if isinstance(key, cst.Name) and key.value == "__name__":
        return False
    text = _string(key)
    return text is None or _harness_module(text)


def _string(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _call(src: Source, node: cst.Call) -> Iterator[tuple[int, str]]:
    names = _names(src, node.func)
    line = src.line(node)
    args = [a for a in node.args if a.keyword is None and not a.star]
    if names & _ATTR_FUNCTIONS and len(args) >= 2:
        owners = _names(src, args[0].value)
        attr = _string(args[1].value)
        if attr is not None:
            yield from _named_attribute(line, owners, attr)
        if names & _SETTERS:
            if attr == "__class__":
                yield line, CLASS
            yield from _patched(line, owners, attr or "...")
    for name in names & set(_FD_WRITERS):
        for index in _FD_WRITERS[name]:
            if index < len(args):
                yield from _descriptor(line, args[index].value)
    if names & _FD_OPENERS and args and isinstance(args[0].value, cst.Integer):
        yield from _descriptor(line, args[0].value)
    if names & _IMPORTERS and args and (module := _string(args[0].value)) and _top(module) == "grader":
        yield line, _grader_import(module)


def _named_attribute(line: int, owners: set[str], attr: str) -> Iterator[tuple[int, str]]:
    """`getattr(owner, "attr")`: the flags `owner.attr` would get."""
    dotted = {f"{owner}.{attr}" for owner in owners}
    if attr in _FRAME_ATTRIBUTES or dotted & _FRAME_FUNCTIONS:
        yield line, FRAMES
    if dotted & _GC_FUNCTIONS:
        yield line, GC
    if "sys.addaudithook" in dotted:
        yield line, AUDIT
    if "sys.modules" in dotted:
        yield line, MODULES


def _descriptor(line: int, value: cst.BaseExpression) -> Iterator[tuple[int, str]]:
    if isinstance(value, cst.Integer):
        number = int(value.evaluated_value)
        if number == 3:
            yield line, PIPE
        elif number > 3:
            yield line, RAW_FD
    else:
        yield line, RAW_FD


def _patched(line: int, owners: set[str], attr: str) -> Iterator[tuple[int, str]]:
    for owner in sorted(owners):
        if _top(owner) in LIBRARIES:
            yield line, patches(_top(owner), f"{owner.split('.')[-1]}.{attr}")
            return


def _assignment(src: Source, node: cst.Assign | cst.AugAssign | cst.AnnAssign | cst.Del) -> Iterator[tuple[int, str]]:
    if isinstance(node, cst.Assign):
        targets = [t.target for t in node.targets]
    elif isinstance(node, cst.Del):
        targets = [node.target]
    else:
        targets = [node.target]
    for target in _unpacked(targets):
        if isinstance(target, cst.Attribute):
            line = src.line(target)
            if target.attr.value == "__class__":
                yield line, CLASS
            yield from _patched(line, _names(src, target.value), target.attr.value)


def _unpacked(targets: list[cst.BaseExpression]) -> Iterator[cst.BaseExpression]:
    for target in targets:
        if isinstance(target, (cst.Tuple, cst.List)):
            yield from _unpacked([e.value for e in target.elements])
        else:
            yield target


def _imports(src: Source, node: cst.Import | cst.ImportFrom) -> Iterator[tuple[int, str]]:
    if isinstance(node, cst.Import):
        modules = [src.code(alias.name) for alias in node.names]
    elif node.relative or node.module is None:
        return
    else:
        module = src.code(node.module)
        names = [] if isinstance(node.names, cst.ImportStar) else [src.code(a.name) for a in node.names]
        modules = [module] + [f"{module}.{n}" for n in names]
    graders = [m for m in modules if _top(m) == "grader"]
    if graders:
        yield src.line(node), _grader_import(max(graders, key=len))


def _grader_import(module: str) -> str:
    if module.startswith(("grader.sandbox.guard", "grader.guard")):
        return AUDIT + f" ({module})"
    return f"{IMPORTS} (`{module}`)"
