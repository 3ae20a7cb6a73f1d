"""Whose code raised, and the line to point at: a learner object's `def`, the learner's innermost frame of a
traceback (an error FastAPI raises while building a route: the parameter it names), the `yield` a generator
is paused at, the parameter a misspelt name meant; and which frames are the course's own code.

Paths are relative to the submission folder, the current directory of the behavioural child.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import functools
import inspect
import linecache
import textwrap
import traceback
from pathlib import Path
from types import CodeType, FrameType, TracebackType
from typing import Any

from grader.clean import clip


def where(obj: Any) -> tuple[str | None, int | None]:
    """(file name relative to the submission, line of the `def` or `class` statement) of a learner object.

    Decorators are looked through (`@contextmanager` and other `functools.wraps` wrappers) and
    skipped: the line is the `def`, not the decorator above it. A bound method or a
    `functools.partial` is its function; an instance is its class. (None, None) when the object
    is not defined in the learner's files.
    """
    target = definition(obj)
    try:
        path = inspect.getsourcefile(target) or ""
        lines, start = inspect.getsourcelines(target)
    except (TypeError, OSError):
        return None, None
    file = learner_relative(path)
    if file is None:
        return None, None
    return file, start + _header_offset(lines)


def statement_in(obj: Any, found: Any) -> tuple[str, int, ast.AST] | None:
    """(file, line, node) of the first node of the learner function `obj`'s source for which `found(node)`
    is true (an `ast` node); None if there is none or `obj` is not the learner's."""
    target = definition(obj)
    try:
        path = inspect.getsourcefile(target) or ""
        lines, start = inspect.getsourcelines(target)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (TypeError, OSError, SyntaxError):
        return None
    file = learner_relative(path)
    node = next((n for n in ast.walk(tree) if found(n)), None) if file is not None else None
    return (file, start + node.lineno - 1, node) if node is not None else None  # type: ignore[return-value]


def named_not_called(obj: Any, name: str) -> tuple[str | None, int | None] | None:
    """(file, line) of a statement in the learner function `obj` that only names `name` or `x.name`
    without calling it (`db.commit` on its own line does nothing); None if there is none."""
    def named(node: ast.AST) -> bool:
        value = node.value if isinstance(node, ast.Expr) else None
        return (isinstance(value, ast.Attribute) and value.attr == name
                or isinstance(value, ast.Name) and value.id == name)

    found = statement_in(obj, named)
    return found[:2] if found is not None else None


def attribute_at(cls: Any, name: str) -> tuple[str | None, int | None]:
    """(file, line) of the statement that declares `name` in the body of `cls` or of the first class of its
    MRO that does (`age: int | None = Field(...)`): a field's problem on the field's line. Else `where(cls)`.
    For a learner's module, the last top-level statement that assigns `name` (`SessionDep = ...`), else
    (file, None)."""
    if inspect.ismodule(cls):
        return _assigned_at(cls, name)
    for klass in inspect.getmro(cls) if inspect.isclass(cls) else ():
        file, line = where(klass)
        if file is None:
            continue
        lines, start = inspect.getsourcelines(klass)
        try:
            tree = ast.parse(textwrap.dedent("".join(lines)))
        except SyntaxError:
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node in body:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return file, start + node.lineno - 1
    return where(cls)


def _assigned_at(module: Any, name: str) -> tuple[str | None, int | None]:
    file = learner_relative(getattr(module, "__file__", None) or "<none>")
    tree = _tree(module.__file__) if file is not None else None
    if tree is None:
        return file, None
    lines = [node.lineno for node in tree.body if any(
        isinstance(t, ast.Name) and t.id == name for t in _assigned(node))]
    return file, (lines[-1] if lines else None)


def _assigned(node: ast.stmt) -> list[ast.expr]:
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return [node.target]
    if isinstance(node, ast.Assign):
        return node.targets
    return [node.name] if type(node).__name__ == "TypeAlias" else []  # type: ignore[attr-defined]


def definition(obj: Any) -> Any:
    """The function, class or module whose source `obj` stands for."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    obj = getattr(obj, "__func__", obj)  # a bound method
    try:
        obj = inspect.unwrap(obj)
    except ValueError:  # a cycle of __wrapped__
        pass
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj) or inspect.iscode(obj)):
        obj = type(obj)
    return obj


def _header_offset(lines: list[str]) -> int:
    """Lines from the first decorator of a definition to its `def` / `class` line."""
    try:
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except SyntaxError:
        return 0
    first = tree.body[0] if tree.body else None
    return first.lineno - 1 if isinstance(first, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else 0


def paused_at(generator: Any, otherwise: Any = None) -> tuple[str | None, int | None]:
    """(file, line) of the `yield` where a learner's generator (or async generator) is paused: the statement
    to point at when it yields once too often. Call it before closing the generator. When it is not paused
    in the learner's files: `where(otherwise)`, or (None, None)."""
    frame = getattr(generator, "gi_frame", None) or getattr(generator, "ag_frame", None)
    file = learner_relative(frame.f_code.co_filename) if frame is not None else None
    if file is None:
        return where(otherwise) if otherwise is not None else (None, None)
    return file, frame.f_lineno


def learner_relative(path: Path | str) -> str | None:
    """`path` relative to the submission folder, or None if it is not the learner's file."""
    if str(path).startswith("<"):  # code compiled from a string: `<string>`, `<sqlalchemy generated ...>`
        return None
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return None


def learner_frame(tb: TracebackType | None) -> tuple[str | None, int | None]:
    """The innermost traceback frame in the learner's files: (file, line).

    When that line applies a decorator and the library it calls raises (FastAPI building a route
    from the function below it), the line is the statement the library was reading instead: the
    parameter it names, or the `def`.
    """
    found = _innermost_learner(tb)
    if found is None:
        return None, None
    file, line, frame, deeper = found
    node = _decorated_at(frame.f_code.co_filename, line) if deeper else None  # raised inside the decorator
    if node is not None:
        named = next((f.f_locals["param_name"] for f in reversed(deeper)
                      if isinstance(f.f_locals.get("param_name"), str)), None)
        line = _parameter_line(node, named) or node.lineno
    return file, line


def _innermost_learner(tb: TracebackType | None) -> tuple[str, int, FrameType, list[FrameType]] | None:
    """(file, line, frame, the frames called from it) of the innermost learner frame of `tb`."""
    found: tuple[str, int, FrameType, list[FrameType]] | None = None
    for frame, lineno in traceback.walk_tb(tb):
        rel = learner_relative(frame.f_code.co_filename)
        if rel is not None:
            found = (rel, lineno, frame, [])
        elif found is not None:
            found[3].append(frame)
    return found


def _tree(filename: str) -> ast.Module | None:
    try:
        return ast.parse("".join(linecache.getlines(filename)))
    except (SyntaxError, ValueError):
        return None


Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _decorated_at(filename: str, line: int) -> Definition | None:
    """The definition one of whose decorators spans `line` of `filename`, if any."""
    for node in ast.walk(_tree(filename) or ast.Module(body=[], type_ignores=[])):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and any(
                d.lineno <= line <= (d.end_lineno or d.lineno) for d in node.decorator_list):
            return node
    return None


def _function_at(code: CodeType) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The definition of the function whose code object `code` is."""
    for node in ast.walk(_tree(code.co_filename) or ast.Module(body=[], type_ignores=[])):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name and (
                code.co_firstlineno in (node.lineno, *(d.lineno for d in node.decorator_list))):
            return node
    return None


def _parameter_line(node: Definition, name: str | None) -> int | None:
    if name is None or isinstance(node, ast.ClassDef):
        return None
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, *(a for a in (args.vararg, args.kwarg) if a)]
    return next((a.lineno for a in every if a.arg == name), None)


def learner_traceback(exc: BaseException, limit: int = 4000) -> str:
    """The traceback trimmed to frames in the learner's files."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if learner_relative(f.filename) is not None]
    for f in frames:
        f.filename = learner_relative(f.filename) or f.filename
    text = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(exc), exc))
    return text[:limit]


def described(exc: BaseException, limit: int = 400) -> str:
    """`Type: message` of an exception, cut to `limit` characters at a line or a word; a validation error
    (pydantic's, FastAPI's) as its errors in a line; for a NameError, the name it most likely meant."""
    text = _validation_errors(exc) or str(exc).strip()
    said = f"{type(exc).__name__}: {clip(text, limit)}" if text else type(exc).__name__
    meant = _meant(exc)
    return said + (f" (did you mean `{meant[0]}`?)" if meant else "")


def _validation_errors(exc: BaseException, shown: int = 3) -> str | None:
    """`N validation errors: loc: msg; ... (got <the first input>)` for an exception with pydantic's
    `errors()` (ValidationError, FastAPI's RequestValidationError and ResponseValidationError)."""
    try:
        errors = list(exc.errors()) if callable(getattr(exc, "errors", None)) else []
    except Exception:  # noqa: BLE001 - an `errors` that is not pydantic's says nothing
        return None
    if not errors or not all(isinstance(e, dict) and "msg" in e for e in errors):
        return None
    title = getattr(exc, "title", None)
    parts = [f"{'.'.join(map(str, e.get('loc', ()))) or 'value'}: {e['msg']}" for e in errors[:shown]]
    if len(errors) > shown:
        parts.append(f"and {len(errors) - shown} more")
    count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''}" + (f" for {title}" if title else "")
    given = f" (got {clip(repr(errors[0]['input']), 150)})" if "input" in errors[0] else ""
    return f"{count}: {'; '.join(parts)}{given}"


def _meant(exc: BaseException) -> tuple[str, int | None] | None:
    """For a NameError in the learner's code: (the close name it most likely meant, the line of that name
    when it is a parameter of the function that failed, where the fix goes)."""
    name = getattr(exc, "name", None)
    found = _innermost_learner(exc.__traceback__) if isinstance(exc, NameError) and name else None
    if found is None:
        return None
    frame = found[2]
    names = {*frame.f_locals, *frame.f_globals, *dir(builtins)} - {name}
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    if not close:
        return None
    node = _function_at(frame.f_code)
    return close[0], (_parameter_line(node, close[0]) if node is not None else None)


def crash_site(exc: BaseException) -> tuple[str | None, int | None]:
    """Where the learner fixes a crash: the innermost learner frame, or for a misspelt name whose right
    spelling is a parameter, that parameter."""
    file, line = learner_frame(exc.__traceback__)
    meant = _meant(exc)
    return (file, meant[1]) if file and meant and meant[1] else (file, line)


GRADER = Path(__file__).resolve().parent
GUARD = GRADER / "sandbox" / "guard.py"


def course_code(filename: str, checks: Path | str) -> bool:
    """Whether `filename` is the course's own code: the chapter's `checks` folder or the grader, except
    the guard, whose wrappers stand in for the library functions they guard (`sqlite3.connect`)."""
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return False
    return path.is_relative_to(Path(checks).resolve()) or (path.is_relative_to(GRADER) and path != GUARD)
