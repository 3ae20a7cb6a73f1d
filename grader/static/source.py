"""A learner's file parsed with libcst, with the metadata the building blocks need.

A check function receives a :class:`Source`. Blocks use its metadata: ``src.line(node)``,
``src.column(node)``, ``src.parent(node)`` / ``src.ancestors(node)``, ``src.scope(node)``,
``src.qualified_names(node)`` (what a name refers to through imports), ``src.code(node)``;
``src.sibling("models.py")`` is another file of the same submission. :func:`walk` and
:func:`module_functions` are the traversals the blocks share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import (
    GlobalScope,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
    ScopeProvider,
)


@dataclass(frozen=True)
class SyntaxProblem:
    """Why a file could not be parsed, pointing at the learner's line."""

    file: str
    message: str
    line: int | None = None
    column: int | None = None
    text: str = ""
    """The offending source line, for a caret display."""

    def caret(self) -> str:
        if not self.text or not self.column:
            return ""
        return self.text.rstrip("\n") + "\n" + " " * (self.column - 1) + "^"


class Source:
    """One parsed learner file. Build it with :meth:`parse` or :meth:`from_text`."""

    def __init__(self, name: str, text: str, module: cst.Module, siblings: dict[str, Source] | None = None):
        self.name = name
        self.text = text
        self.module = module
        self._wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        self._meta = self._wrapper.resolve_many(
            [PositionProvider, ParentNodeProvider, ScopeProvider, QualifiedNameProvider]
        )
        self.siblings = siblings if siblings is not None else {}
        self.siblings[name] = self

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, name: str = "snippet.py") -> Source:
        """Parse source text; raise `SyntaxError` if it is not valid Python."""
        problem = syntax_problem(text, name)
        if problem:
            raise SyntaxError(problem.message)
        return cls(name, text, cst.parse_module(text))

    # -- metadata ---------------------------------------------------------------------
    def line(self, node: cst.CSTNode) -> int:
        return self._meta[PositionProvider][node].start.line

    def column(self, node: cst.CSTNode) -> int:
        return self._meta[PositionProvider][node].start.column + 1

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self._meta[ParentNodeProvider].get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self.parent(node)
        while current is not None:
            yield current
            current = self.parent(current)

    def scope(self, node: cst.CSTNode):
        return self._meta[ScopeProvider].get(node)

    @property
    def global_scope(self) -> GlobalScope:
        return self._meta[ScopeProvider][self.module]

    def qualified_names(self, node: cst.CSTNode) -> set[str]:
        """What a name or attribute refers to, through imports: `{'sqlmodel.Session'}`."""
        value = self._meta[QualifiedNameProvider].get(node)
        if value is None:
            return set()
        if callable(value):  # libcst resolves qualified names lazily
            value = value()
        return {q.name for q in value}

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node).strip()

    @property
    def last_line(self) -> int:
        """The last non-blank line: where a missing definition would go (the line of "not found" findings)."""
        return max(1, len(self.text.rstrip().splitlines()))

    @property
    def star_imports(self) -> set[str]:
        """Modules imported with `from module import *` at module level."""
        if not hasattr(self, "_stars"):
            self._stars = {
                self.code(n.module) for n in walk(self.module, into_nested=False)
                if isinstance(n, cst.ImportFrom) and isinstance(n.names, cst.ImportStar) and n.module is not None
            }
        return self._stars

    def sibling(self, name: str) -> Source | None:
        """Another file of the same submission (multi-file chapters)."""
        return self.siblings.get(name)


def syntax_problem(text: str, name: str) -> SyntaxProblem | None:
    """Python's own verdict on the text (its messages are the clearest), or None if it parses."""
    try:
        compile(text, name, "exec", dont_inherit=True)
    except SyntaxError as exc:
        line_text = exc.text or ""
        if not line_text and exc.lineno:
            lines = text.splitlines()
            line_text = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else ""
        return SyntaxProblem(name, f"{type(exc).__name__}: {exc.msg}", exc.lineno, exc.offset, line_text)
    except ValueError as exc:  # e.g. null bytes
        return SyntaxProblem(name, f"cannot be compiled: {exc}")
    return None


def load_sources(files: dict[str, Path]) -> tuple[dict[str, Source], dict[str, SyntaxProblem]]:
    """Parse every file; return the good ones and a problem for each that is missing or broken."""
    sources: dict[str, Source] = {}
    problems: dict[str, SyntaxProblem] = {}
    for name, path in files.items():
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            problems[name] = SyntaxProblem(name, f"{name} is missing")
            continue
        except OSError as exc:
            problems[name] = SyntaxProblem(name, f"{name} cannot be read: {exc.strerror}")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            problems[name] = SyntaxProblem(name, f"{name} is not UTF-8 text (byte {exc.start})", line)
            continue
        if not text.strip():
            problems[name] = SyntaxProblem(name, f"{name} is empty: did you save it?", 1)
            continue
        problem = syntax_problem(text, name)
        if problem:
            problems[name] = problem
            continue
        try:
            module = cst.parse_module(text)
        except cst.ParserSyntaxError as exc:  # valid for CPython, not for libcst: rare
            problems[name] = SyntaxProblem(name, f"cannot be analysed: {exc.message}", exc.raw_line, exc.raw_column + 1)
            continue
        sources[name] = Source(name, text, module, siblings=sources)
    return sources, problems


_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)


def walk(node: cst.CSTNode, *, into_nested: bool = True) -> Iterator[cst.CSTNode]:
    """Every node below `node`; with `into_nested=False`, not inside nested defs, lambdas or classes."""
    for child in node.children:
        yield child
        if into_nested or not isinstance(child, _SCOPES):
            yield from walk(child, into_nested=into_nested)


def module_functions(src: Source) -> dict[str, cst.FunctionDef]:
    """Functions defined at module level (the last definition of each name wins)."""
    out: dict[str, cst.FunctionDef] = {}
    for node in walk(src.module, into_nested=False):
        if isinstance(node, cst.FunctionDef):
            out[node.name.value] = node
    return out


def all_functions(src: Source) -> list[cst.FunctionDef]:
    return [n for n in walk(src.module) if isinstance(n, cst.FunctionDef)]


def enclosing_function(src: Source, node: cst.CSTNode) -> cst.FunctionDef | None:
    for parent in src.ancestors(node):
        if isinstance(parent, cst.FunctionDef):
            return parent
    return None
