"""Every name a graded file reads is defined somewhere: the engine's first check looks before any other.

A name nothing binds (`Sesion`, `true`, a decorator that was never imported) raises NameError when the
module loads or when the code runs, and every later check would blame a symptom of it ("the lifespan
is not decorated", "get_session never opens a session"). :func:`undefined_names` finds them with
libcst's scopes: an access with no assignment in its scope or any enclosing one (order does not
matter here: a name bound too late is another mistake, with checks of its own), builtins included.

Not reads: annotations under ``from __future__ import annotations`` and of local variables (Python
never evaluates them), string annotations. A file with ``from module import *`` is not judged unless
`module` is another graded file of the submission, whose names can be listed.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import ClassScope, FunctionScope

from grader.static.imports import import_advice, module_imports
from grader.static.source import Source, walk

TAUGHT: dict[str, str] = {
    "Annotated": "typing",
    "AsyncEngine": "sqlalchemy.ext.asyncio",
    "AsyncIterator": "collections.abc",
    "AsyncSession": "sqlmodel.ext.asyncio.session",
    "Callable": "collections.abc",
    "Depends": "fastapi",
    "FastAPI": "fastapi",
    "Field": "sqlmodel",
    "HTTPException": "fastapi",
    "Query": "fastapi",
    "SQLModel": "sqlmodel",
    "Session": "sqlmodel",
    "StaticPool": "sqlalchemy.pool",
    "TestClient": "fastapi.testclient",
    "async_sessionmaker": "sqlalchemy.ext.asyncio",
    "asynccontextmanager": "contextlib",
    "create_async_engine": "sqlalchemy.ext.asyncio",
    "create_engine": "sqlmodel",
    "func": "sqlmodel",
    "make_url": "sqlalchemy",
    "select": "sqlmodel",
    "sessionmaker": "sqlalchemy.orm",
    "pytest": "pytest",
    "threading": "threading",
    # the app's own modules
    "AnalyticsSessionDep": "database",
    "PrimarySessionDep": "database",
    "SessionDep": "database",
    "create_db_and_tables": "database",
    "dispose_engines": "database",
    "engine": "database",
    "get_session": "database",
    "Event": "events",
    "Hero": "models",
    "HeroCreate": "models",
    "HeroPublic": "models",
    "HeroUpdate": "models",
    "app": "main",
}
"""The names the chapters import, and where from (a name equal to its module is `import module`);
tests/test_static_names.py holds it to the reference solutions' own imports."""

MODULE_DUNDERS = frozenset({"__file__", "__builtins__", "__cached__", "__path__", "__loader__", "__spec__",
                            "__annotations__"})
CLASS_DUNDERS = frozenset({"__qualname__", "__module__"})


@dataclass(frozen=True)
class Undefined:
    """A name read but never bound, at its first use, with what to do about it."""

    file: str
    name: str
    line: int
    column: int
    message: str
    fix_line: int
    """Where the fix goes: the use for a misspelling, the imports for a missing import, a nested
    definition for a name defined out of reach."""

    def located(self, file: str) -> str:
        """The message as one line of a list whose location is `file`'s (the check's): the message says
        where the name is used when that is not where the fix goes; else it is prefixed with the line."""
        prefix = "" if file == self.file else f"{self.file}: "
        if self.fix_line == self.line:
            prefix = f"line {self.line}: " if file == self.file else f"{self.file}:{self.line}: "
        return prefix + self.message


def undefined_names(src: Source) -> list[Undefined]:
    """The names `src` reads that nothing binds, once each, in source order (empty for a file with a
    star import it cannot list)."""
    starred = _star_names(src)
    if starred is None:
        return []
    bound = starred | _match_captures(src)
    future = _future_annotations(src)
    own_module = src.name.removesuffix(".py").replace("/", ".")
    first: dict[str, tuple[tuple[int, int], cst.Name, object]] = {}
    for access, scope in _unresolved(src):
        name = access.node.value
        if name in bound or name in MODULE_DUNDERS or (name in CLASS_DUNDERS and isinstance(scope, ClassScope)):
            continue
        if access.is_annotation and (future or isinstance(scope, FunctionScope)):
            continue
        where = (src.line(access.node), src.column(access.node))
        if name not in first or where < first[name][0]:
            first[name] = (where, access.node, scope)
    found = [_explain(src, node, scope, own_module) for _where, node, scope in first.values()]
    return sorted(found, key=lambda u: (u.line, u.column))


def _unresolved(src: Source):
    """(access, scope) for each read of a plain name with no binding in reach."""
    for scope in src.scopes():
        for access in scope.accesses:
            if isinstance(access.node, cst.Name) and not access.referents and access.node.value not in scope:
                yield access, scope


def _explain(src: Source, node: cst.Name, scope, own_module: str) -> Undefined:
    name, line, column = node.value, src.line(node), src.column(node)

    def undefined(message: str, fix_line: int = line) -> Undefined:
        return Undefined(src.name, name, line, column, message, fix_line)

    module = TAUGHT.get(name)
    if module is not None and module != own_module:
        fix_line, advice = import_advice(src, module, None if module == name else name)
        return undefined(f"`{name}` (line {line}) is used but never imported: {advice}", fix_line)
    nested = _defined_out_of_reach(src, name)
    if nested is not None:
        owner = next((a for a in src.ancestors(nested) if isinstance(a, (cst.FunctionDef, cst.ClassDef))), None)
        where = f"inside `{owner.name.value}`" if owner is not None else "inside another block"
        return undefined(f"`{name}` (line {line}) is defined {where}, out of reach of the code that uses it: "
                         f"define it at the top level of {src.name}", src.line(nested))
    visible = {a.name: a for s in _chain(scope) for a in s.assignments}
    close = _closest(name, set(visible) | set(dir(builtins)) | {n for n, m in TAUGHT.items() if m != own_module})
    function = _function_of(scope)
    if close in visible and isinstance(visible[close].scope, FunctionScope) and function is not None:
        binding = visible[close].node
        return undefined(f"`{name}` (line {line}) is not defined; `{function}` has `{close}` here: one of the two "
                         "is misspelt", src.line(binding))
    if close in visible or (close is not None and close not in TAUGHT):
        return undefined(f"`{name}` is not defined: did you mean `{close}`?")
    if close is not None:
        taught = TAUGHT[close]
        statement = f"import {taught}" if taught == close else f"from {taught} import {close}"
        return undefined(f"`{name}` is not defined: did you mean `{close}` (`{statement}`)?")
    within = f"`{function}` has no parameter or variable of that name, and " if function else ""
    return undefined(f"`{name}` is not defined: {within}nothing in {src.name} defines or imports it")


def _closest(name: str, candidates: set[str]) -> str | None:
    """The candidate one typo away from `name` (two for longer names), case aside, preferring the same
    case of the first letter (`Sesion` -> `Session`, not `session`); a candidate that differs from `name`
    only in case must be a builtin constant (`true` -> `True`, but `session` is not `Session`)."""
    allowed = 1 if len(name) <= 5 else 2
    best: tuple[int, int, str] | None = None
    for candidate in candidates:
        if candidate == name or abs(len(candidate) - len(name)) > allowed:
            continue
        if candidate.lower() == name.lower() and candidate not in {"True", "False", "None"}:
            continue
        distance = _typos(name.lower(), candidate.lower())
        if distance > allowed:
            continue
        rank = (distance, name[0].isupper() != candidate[0].isupper(), candidate)
        if best is None or rank < best:
            best = rank
    return best[2] if best is not None else None


def _typos(a: str, b: str) -> int:
    """Edits from `a` to `b`: a letter added, dropped, replaced, or two neighbours swapped."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, previous2[j - 2] + 1)
            row.append(cost)
        previous2, previous = previous, row
    return previous[-1]


def _defined_out_of_reach(src: Source, name: str) -> cst.CSTNode | None:
    """A def or class of that name nested in a function or class (the first one)."""
    for node in walk(src.module):
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node.name.value == name \
                and any(isinstance(a, (cst.FunctionDef, cst.ClassDef)) for a in src.ancestors(node)):
            return node
    return None


def _function_of(scope) -> str | None:
    node = getattr(scope, "node", None)
    return node.name.value if isinstance(scope, FunctionScope) and isinstance(node, cst.FunctionDef) else None


def _chain(scope):
    while True:
        yield scope
        if scope.parent is scope:
            return
        scope = scope.parent


def _future_annotations(src: Source) -> bool:
    return any(qualified == "__future__.annotations" for _bound, qualified, _node in module_imports(src))


def _match_captures(src: Source) -> set[str]:
    """Names bound by `case` patterns (libcst's scopes do not record them)."""
    names: set[str] = set()
    for node in walk(src.module):
        if isinstance(node, (cst.MatchAs, cst.MatchStar)) and node.name is not None:
            names.add(node.name.value)
        elif isinstance(node, cst.MatchMapping) and node.rest is not None:
            names.add(node.rest.value)
    return names


def _star_names(src: Source, seen: frozenset[str] = frozenset()) -> set[str] | None:
    """The names `from m import *` binds, when every such `m` is a graded file of the submission;
    None when one cannot be listed."""
    names: set[str] = set()
    for _bound, qualified, _node in module_imports(src):
        if not qualified.endswith(".*"):
            continue
        other = src.sibling(qualified[:-2].replace(".", "/") + ".py")
        if other is None or other.name in seen | {src.name}:
            return None
        more = _star_names(other, seen | {src.name})
        if more is None:
            return None
        names |= {n for n in other.global_names() | more if not n.startswith("_")}
    return names
