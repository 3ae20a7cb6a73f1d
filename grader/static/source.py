"""A learner's file parsed with libcst, with the metadata the building blocks need.

A check function receives a :class:`Source`. Blocks use its metadata: ``src.line(node)``,
``src.column(node)``, ``src.parent(node)`` / ``src.ancestors(node)``, ``src.scope(node)``,
``src.qualified_names(node)`` (what a name refers to through imports), ``src.code(node)``;
``src.sibling("models.py")`` is another file of the same submission. :func:`walk` and
:func:`module_functions` are the traversals the blocks share.
"""

from __future__ import annotations

import ast
import io
import os
import re
import stat
import threading
import tokenize
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import libcst as cst
from libcst.metadata import (
    CodeRange,
    ImportAssignment,
    MetadataWrapper,
    PositionProvider,
    ScopeProvider,
)


T = TypeVar("T")

MAX_FILE_BYTES = 64 * 1024
"""The largest graded file the static stage reads (it runs in the grader's own process, and parsing
costs about a second per 16 KB): over ten times the longest file any chapter's solution needs."""
MAX_NESTING = 100
"""The deepest nesting of the syntax tree the static stage reads: libcst (and the checks) recurse
once per level, and fail at about 140."""


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


@dataclass(frozen=True, eq=False)
class Analysis:
    """What the blocks read of one parsed module: positions, scopes, each node's parent and children.
    It depends on the text alone, so a file unchanged between two grades reuses it (`load_sources`)."""

    module: cst.Module
    positions: Mapping[cst.CSTNode, CodeRange]
    scopes: Mapping[cst.CSTNode, object]
    parents: dict[cst.CSTNode, cst.CSTNode]
    children: dict[cst.CSTNode, list[cst.CSTNode]]
    qualified: dict[cst.CSTNode, set] = field(default_factory=dict)
    """Each node's qualified names, once asked for."""
    found: dict[str, object] = field(default_factory=dict)
    """What `Source.per_text` computed."""

    @classmethod
    def of(cls, module: cst.Module) -> Analysis:
        meta = MetadataWrapper(module, unsafe_skip_copy=True).resolve_many([PositionProvider, ScopeProvider])
        tree = _Tree()
        module.visit(tree)
        return cls(module, meta[PositionProvider], meta[ScopeProvider], tree.parents, tree.children)


class Source:
    """One parsed learner file. Build it with :meth:`parse` or :meth:`from_text`."""

    def __init__(self, name: str, text: str, module: cst.Module, siblings: dict[str, Source] | None = None,
                 analysis: Analysis | None = None):
        self.name = name
        self.text = text
        self.module = module
        self._analysis = analysis or Analysis.of(module)
        self._positions = self._analysis.positions
        self._scope_of = self._analysis.scopes
        self._parents = self._analysis.parents
        _remember(self._analysis.children)
        self.siblings = siblings if siblings is not None else {}
        self.siblings[name] = self
        self._functions: dict[str, cst.FunctionDef] | None = None

    def per_text(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()`, a result that depends on this file's text alone (not on its siblings), computed
        once per text: a file unchanged since an earlier grade gets it at once."""
        found = self._analysis.found
        if key not in found:
            found[key] = compute()
        return found[key]  # type: ignore[return-value]

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
        return self._positions[node].start.line

    def column(self, node: cst.CSTNode) -> int:
        return self._positions[node].start.column + 1

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self._parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self.parent(node)
        while current is not None:
            yield current
            current = self.parent(current)

    def scope(self, node: cst.CSTNode):
        return self._scope_of.get(node)

    def scopes(self) -> list:
        """Every scope of the file (module, functions, classes, comprehensions), each once."""
        if not hasattr(self, "_scopes"):
            self._scopes = list({id(s): s for s in self._scope_of.values() if s is not None}.values())
        return self._scopes

    def global_names(self) -> set[str]:
        """The names the module binds at its top level (assignments, defs, classes, imports)."""
        return {a.name for a in self.scope(self.module).assignments}

    def qualified_names(self, node: cst.CSTNode) -> set[str]:
        """What a name or attribute refers to, through imports: `{'sqlmodel.Session'}`."""
        names = {q.name for q in self._qualified(node)}
        return self._in_effect(node, names) if len(names) > 1 else names

    def _qualified(self, node: cst.CSTNode) -> set:
        """libcst's `QualifiedNameProvider` for one node (what it computes for every node, lazily,
        from the node's scope), asked only for the nodes the checks ask about."""
        known = self._analysis.qualified.get(node)
        if known is None:
            scope = self._scope_of.get(node)
            known = self._analysis.qualified[node] = scope.get_qualified_names_for(node) if scope else set()
        return known

    def _in_effect(self, node: cst.CSTNode, names: set[str]) -> set[str]:
        """Of a name imported twice (`from sqlmodel import Session`, then `from sqlalchemy.orm import
        Session`), only the import in effect where it is used: the last one above a module-level use,
        the module's last one for a use inside a function (it runs after every import)."""
        base = node
        while isinstance(base, cst.Attribute):
            base = base.value
        scope = self.scope(base) if isinstance(base, cst.Name) else None
        if scope is None or not isinstance(base, cst.Name):
            return names
        bound = list(scope[base.value])
        if len(bound) < 2 or not all(isinstance(a, ImportAssignment) for a in bound):
            return names
        at_top = scope is self.scope(self.module)
        above = [a for a in bound if not at_top or self.line(a.node) <= self.line(base)]
        if not above:
            return names
        last = max(above, key=lambda a: self.line(a.node))
        prefixes = {q.name for q in last.get_qualified_names_for(base.value)}
        kept = {n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)}
        return kept or names

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
        return SyntaxProblem(name, f"{type(exc).__name__}: {exc.msg}{_why(exc.msg, line_text, exc.offset)}",
                             exc.lineno, exc.offset, line_text)
    except ValueError as exc:  # e.g. null bytes
        return SyntaxProblem(name, f"cannot be compiled: {exc}")
    except (RecursionError, MemoryError):
        return SyntaxProblem(name, "cannot be compiled: it is nested too deeply")
    return None


_DEFAULT_ORDER = ("non-default argument follows default argument",  # Python 3.11
                  "parameter without a default follows parameter with a default")  # 3.12 and later


def _why(msg: str, line_text: str, offset: int | None) -> str:
    """What Python's terse message means for the learner's line, where it says too little, else ''."""
    if msg in _DEFAULT_ORDER and offset:
        name = re.match(r"\**(\w+)", line_text[offset - 1:])
        if name:
            return (f" (`{name.group(1)}` has no default value, so it must come before every parameter that "
                    "has one: move it to the front)")
    return ""


def nesting_problem(text: str, name: str) -> SyntaxProblem | None:
    """A problem at the first place the syntax tree nests deeper than MAX_NESTING, or None (also
    when the text does not parse: `syntax_problem` says why)."""
    try:
        tree = ast.parse(text, name)
    except (SyntaxError, ValueError, MemoryError):
        return None
    except RecursionError:  # deeper than Python itself parses: the longest statement is the culprit
        return _too_deep(text, name, _longest_statement(text))
    stack: list[tuple[ast.AST, int, int]] = [(tree, 0, 1)]
    while stack:
        node, depth, line = stack.pop()
        line = getattr(node, "lineno", line)
        if depth > MAX_NESTING:
            return _too_deep(text, name, line)
        stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))
    return None


def _too_deep(text: str, name: str, line: int | None) -> SyntaxProblem:
    lines = text.splitlines()
    return SyntaxProblem(name, f"nested more than {MAX_NESTING} levels deep (calls, brackets or operators inside "
                         f"one another): the grader reads code nested up to {MAX_NESTING} levels", line, None,
                         lines[line - 1] if line and 0 < line <= len(lines) else "")


_NOT_CODE = (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE, tokenize.ENDMARKER)


def _longest_statement(text: str) -> int | None:
    """The first line of the statement with the most tokens (None if the text cannot be tokenized)."""
    best, best_count, start, count = None, 0, None, 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if start is None and token.type not in _NOT_CODE:
                start, count = token.start[0], 0
            count += 1
            if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER) and start is not None:
                if count > best_count:
                    best, best_count = start, count
                start = None
    except (tokenize.TokenError, SyntaxError):
        return best
    return best


def _read_regular(path: Path) -> tuple[bytes, int] | None:
    """The first MAX_FILE_BYTES + 1 bytes of `path` and its size; None if it is not a regular file
    (a FIFO or a device would block or never end)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        data = b""
        while len(data) <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
        return data, max(info.st_size, len(data))
    finally:
        os.close(fd)


class _Analysed:
    """The analyses of the last files read, by name and text (most recent last). `course watch` grades
    after every save, and a save changes one file: the others are not parsed again. Batch grading
    meets the same untouched file in many submissions."""

    SIZE = 32

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str], Analysis] = OrderedDict()

    def get(self, name: str, text: str) -> Analysis | None:
        with self._lock:
            found = self._items.get((name, text))
            if found is not None:
                self._items.move_to_end((name, text))
            return found

    def put(self, name: str, text: str, analysis: Analysis) -> None:
        with self._lock:
            self._items[(name, text)] = analysis
            while len(self._items) > self.SIZE:
                self._items.popitem(last=False)


_ANALYSED = _Analysed()


def load_sources(files: dict[str, Path]) -> tuple[dict[str, Source], dict[str, SyntaxProblem]]:
    """Parse every file; return the good ones and a problem for each that is missing or broken."""
    sources: dict[str, Source] = {}
    problems: dict[str, SyntaxProblem] = {}
    for name, path in files.items():
        text = read_text(name, path)
        if isinstance(text, SyntaxProblem):
            problems[name] = text
            continue
        known = _ANALYSED.get(name, text)
        if known is not None:  # read and analysed before, unchanged since: it had no problem then either
            sources[name] = Source(name, text, known.module, siblings=sources, analysis=known)
            continue
        problem = nesting_problem(text, name) or syntax_problem(text, name)
        if problem:
            problems[name] = problem
            continue
        try:
            module = cst.parse_module(text)
            sources[name] = Source(name, text, module, siblings=sources)
            _ANALYSED.put(name, text, sources[name]._analysis)
        except cst.ParserSyntaxError as exc:  # valid for CPython, not for libcst: rare
            problems[name] = SyntaxProblem(name, f"cannot be analysed: {exc.message}", exc.raw_line, exc.raw_column + 1)
        except (RecursionError, MemoryError):  # MAX_NESTING is meant to prevent it
            problems[name] = SyntaxProblem(name, "cannot be analysed: it is nested too deeply")
    return sources, problems


def compiles(files: dict[str, Path]) -> bool:
    """Whether every file can be read and Python compiles it: what `load_sources` checks before it
    parses with libcst, in a fraction of its time (the names it reads are not checked)."""
    for name, path in files.items():
        text = read_text(name, path)
        if isinstance(text, SyntaxProblem) or (_ANALYSED.get(name, text) is None and syntax_problem(text, name)):
            return False
    return True


def read_text(name: str, path: Path) -> str | SyntaxProblem:
    """The text of a graded file, or why it cannot be read as one."""
    try:
        read = _read_regular(path)
    except FileNotFoundError:
        return SyntaxProblem(name, f"{name} is missing")
    except OSError as exc:
        return SyntaxProblem(name, f"{name} cannot be read: {exc.strerror}")
    if read is None:
        return SyntaxProblem(name, "not a regular file (a FIFO, a device or a folder?)")
    raw, size = read
    if size > MAX_FILE_BYTES:
        return SyntaxProblem(name, f"{size / 1024:,.0f} KB, more than the {MAX_FILE_BYTES // 1024} KB "
                             "the grader reads (a chapter's file is a few KB): is it the right file?")
    try:
        text = raw.decode("utf-8-sig")  # a BOM (some Windows editors write one) is no part of the code
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return SyntaxProblem(name, f"{name} is not UTF-8 text (byte {exc.start})", line)
    if not text.strip():
        return SyntaxProblem(name, f"{name} is empty: did you save it?", 1)
    return text


_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)


class _Tree(cst.CSTVisitor):
    """Every node's parent and children, from one traversal.

    (libcst's `ParentNodeProvider` and `CSTNode.children` rebuild each node's children to list
    them, which costs several times more than the traversal itself.) A node met a second time
    (trees built by hand may share one) keeps its children from the first visit; its parent is
    the last one met.
    """

    def __init__(self) -> None:
        super().__init__()
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self.children: dict[cst.CSTNode, list[cst.CSTNode]] = {}
        self._path: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._path:
            self.parents[node] = self._path[-1]
            self.children[self._path[-1]].append(node)
        self._path.append(node)
        if node in self.children:
            return False
        self.children[node] = []
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self._path.pop()


_RECENT = threading.local()
"""The children of the nodes of the last few modules parsed in this thread (see `walk`)."""
_RECENT_MODULES = 8


def _remember(children: dict[cst.CSTNode, list[cst.CSTNode]]) -> None:
    recent = getattr(_RECENT, "trees", None)
    if recent is None:
        recent = _RECENT.trees = []
    recent[:] = [known for known in recent if known is not children]  # a reused analysis: the latest again
    recent.append(children)
    del recent[:-_RECENT_MODULES]


def _children_of(node: cst.CSTNode) -> dict[cst.CSTNode, list[cst.CSTNode]] | None:
    for children in reversed(getattr(_RECENT, "trees", ())):
        if node in children:
            return children
    return None


def walk(node: cst.CSTNode, *, into_nested: bool = True) -> Iterator[cst.CSTNode]:
    """Every node below `node` (depth first, in source order); with `into_nested=False`, not
    inside nested defs, lambdas or classes.

    Nodes of a recently parsed `Source` are walked through the children recorded when it was
    parsed; any other node through libcst's (slower) `children`.
    """
    known = _children_of(node)
    if known is None:
        yield from _walk_children(node, into_nested)
        return
    stack = list(reversed(known[node]))
    while stack:
        child = stack.pop()
        yield child
        if into_nested or not isinstance(child, _SCOPES):
            stack.extend(reversed(known[child]))


def _walk_children(node: cst.CSTNode, into_nested: bool) -> Iterator[cst.CSTNode]:
    for child in node.children:
        yield child
        if into_nested or not isinstance(child, _SCOPES):
            yield from _walk_children(child, into_nested)


def module_functions(src: Source) -> dict[str, cst.FunctionDef]:
    """Functions defined at module level (the last definition of each name wins)."""
    if src._functions is None:
        src._functions = {}
        for node in walk(src.module, into_nested=False):
            if isinstance(node, cst.FunctionDef):
                src._functions[node.name.value] = node
    return dict(src._functions)


def all_functions(src: Source) -> list[cst.FunctionDef]:
    return [n for n in walk(src.module) if isinstance(n, cst.FunctionDef)]


def enclosing_function(src: Source, node: cst.CSTNode) -> cst.FunctionDef | None:
    """The innermost function definition `node` is in; None at module level."""
    for parent in src.ancestors(node):
        if isinstance(parent, cst.FunctionDef):
            return parent
    return None
