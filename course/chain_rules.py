"""`course check`'s rules for one course, one app: the chain (each chapter's starter is the previous chapter's
reference solution, plus only new scaffolding) and the solution's diff (the reference solution differs from its
starter only where the lesson's instructions say).

Each rule returns :class:`Finding` records (a path, a line, a message); `course.content_check` reports them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from grader.content import CHAPTER_ID, chapter_ids, chapters_dir, solution_dir, starter_dir, tree_files


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int | None
    message: str


# -- the chain ---------------------------------------------------------------------------------------------------
def previous_chapter(chapter_id: str, root: Path) -> str | None:
    """The chapter just before `chapter_id` in the course at `root` (None for the first)."""
    ids = chapter_ids(root)
    number = int(CHAPTER_ID.match(chapter_id).group(1))  # type: ignore[union-attr]
    before = [i for i in ids if int(i.split("-")[1]) < number]
    return before[-1] if before else None


def chain_rule(chapter_id: str, continues_from: str | None, root: Path,
               continues_line: int | None = None) -> list[Finding]:
    """Every chapter but the first continues the previous one: `continues_from` names it, and each file of
    its starter that the previous chapter's solution also has is that file, byte for byte. Files only the
    starter has are the new chapter's scaffolding."""
    previous = previous_chapter(chapter_id, root)
    if previous is None:
        return []
    manifest = chapters_dir(root) / chapter_id / "chapter.toml"
    found = []
    if continues_from != previous:
        now = f"is {continues_from!r}" if continues_from else "is not set"
        found.append(Finding(manifest, continues_line, f"continues_from {now}: every chapter continues the one "
                             f"before it, so write `continues_from = \"{previous}\"`"))
    theirs = tree_files(solution_dir(previous, root))
    for name, ours in tree_files(starter_dir(chapter_id, root)).items():
        if name in theirs:
            difference = first_difference(ours.read_bytes(), theirs[name].read_bytes())
            if difference is not None:
                line, mine, other = difference
                found.append(Finding(ours, line, f"differs from solutions/{previous}/{name} at line {line} "
                                     f"({_shown(mine)} here, {_shown(other)} there): {chapter_id}'s starter is "
                                     f"{previous}'s reference solution, so every file they share is the same, "
                                     "byte for byte"))
    return found


def first_difference(ours: bytes, theirs: bytes) -> tuple[int, str | None, str | None] | None:
    """None if the bytes are equal, else the first line that differs and its text on each side (None: no such
    line; a line ending alone counts)."""
    if ours == theirs:
        return None
    a, b = ours.decode("utf-8", "replace").splitlines(True), theirs.decode("utf-8", "replace").splitlines(True)
    for number, (x, y) in enumerate(zip(a, b), start=1):
        if x != y:
            return number, x, y
    number = min(len(a), len(b)) + 1
    return number, a[number - 1] if len(a) >= number else None, b[number - 1] if len(b) >= number else None


def _shown(line: str | None) -> str:
    if line is None:
        return "no line"
    text = line.removesuffix("\n")
    shown = repr(text if len(text) <= 60 else text[:57] + "...")
    return shown if line.endswith("\n") else f"{shown} without a line ending"


# -- the solution's diff -------------------------------------------------------------------------------------------
INSTRUCTIONS = re.compile(r"^## Instructions[ \t]*$(.*?)(?=^## |\Z)", re.M | re.S)


def instructions(lesson: str) -> str:
    """The text of the lesson's `## Instructions` section ("" if it has none)."""
    found = INSTRUCTIONS.search(lesson)
    return found.group(1) if found else ""


def named(name: str, text: str) -> bool:
    """Does `text` name `name`, in backticks or as a bare word?"""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text) is not None


@dataclass(frozen=True)
class Unit:
    """A top-level piece of a module: a definition (the names it binds) or anything else."""

    names: tuple[str, ...]
    """What it binds: a def's or class's name, an assignment's targets, an import's names. Empty: not a
    definition (an expression, a docstring, a comment)."""
    code: str
    line: int
    what: str
    """How to name it in a message: `read_heroes`, "the module docstring", "a comment"."""
    comments: tuple[str, ...] = ()
    """The comment lines above it (part of `code`)."""


def solution_diff_rule(chapter_id: str, root: Path, lesson: str) -> list[Finding]:
    """Each top-level definition that the solution adds, removes or changes (a function, a class, an assigned
    name, an imported name) is named in the lesson's `## Instructions`; any other difference (a comment, the
    module docstring, a statement outside definitions) is reported, unless the instructions quote the
    statement itself."""
    steps = instructions(lesson)
    starter, solution = starter_dir(chapter_id, root), solution_dir(chapter_id, root)
    ours, theirs = tree_files(starter), tree_files(solution)
    found: list[Finding] = []
    for name in sorted(set(ours) | set(theirs)):
        before, after = ours.get(name), theirs.get(name)
        if before is not None and after is not None and before.read_bytes() == after.read_bytes():
            continue
        if name.endswith(".py") and _parses(before) and _parses(after):
            found += _python_differences(name, before, after, solution / name, starter / name, steps)
        elif not named(name, steps):
            verb = "adds" if before is None else "removes" if after is None else "changes"
            path = after if after is not None else starter / name
            found.append(Finding(path, None, f"the solution {verb} {name}, but the lesson's ## Instructions never "
                                 "name it"))
    return found


def _parses(path: Path | None) -> bool:
    if path is None:
        return True
    try:
        cst.parse_module(path.read_text(encoding="utf-8"))
    except (cst.ParserSyntaxError, UnicodeDecodeError):
        return False
    return True


def _python_differences(name: str, before: Path | None, after: Path | None, solution_path: Path,
                        starter_path: Path, steps: str) -> list[Finding]:
    old = units(before.read_text(encoding="utf-8")) if before else []
    new = units(after.read_text(encoding="utf-8")) if after else []
    found = []
    old_defs, new_defs = _by_name(old), _by_name(new)
    serving = _names_used_by_named_changes(old_defs, new_defs, steps)
    for defined in sorted(set(old_defs) | set(new_defs), key=lambda n: _order(n, new_defs, old_defs)):
        a, b = old_defs.get(defined, []), new_defs.get(defined, [])
        if [u.code for u in a] == [u.code for u in b] or named(defined, steps):
            continue
        if all(_is_import_code(u.code) for u in (*a, *b)) and defined in serving:
            continue  # an import that a named change needs (or no longer needs) goes with that change
        verb = "adds" if not a else "removes" if not b else "changes"
        path, line = (starter_path, a[0].line) if not b else (solution_path, _first_changed(a, b))
        members = _changed_members(a, b)
        if members is not None:  # the same class, with some of its fields or methods changed
            unnamed = [m for m in members if not named(m, steps)]
            if not unnamed:
                continue
            defined = f"{defined}.{unnamed[0]}"
        found.append(Finding(path, line, f"the solution {verb} `{defined}` in {name}, but the lesson's "
                             "## Instructions never name it: name it in a step, or keep the starter's"))
    for unit, verb, path in _unmatched(old, new, starter_path, solution_path):
        if unit.what == "a statement" and unit.code.strip() in steps:
            continue
        if verb == "removes" and unit.what == "a comment":
            continue  # the starter's placeholder comments ("write X here") give way to what they asked for
        found.append(Finding(path, unit.line, f"the solution {verb} {unit.what} outside any definition of "
                             f"{name} ({_shown(unit.code.strip().splitlines()[0] + chr(10))}): the learner's "
                             "correct file would differ from it there; keep the starter's"))
    return found


def _is_import_code(code: str) -> bool:
    return code.startswith(("from ", "import "))


def _names_used_by_named_changes(old: dict[str, list[Unit]], new: dict[str, list[Unit]], steps: str) -> set[str]:
    """The identifiers in the code (before or after) of each definition that changes and that the steps name."""
    used: set[str] = set()
    for defined in set(old) | set(new):
        a, b = old.get(defined, []), new.get(defined, [])
        if [u.code for u in a] != [u.code for u in b] and named(defined, steps):
            used.update(re.findall(r"[A-Za-z_]\w*", "\n".join(u.code for u in (*a, *b))))
    return used


def _changed_members(a: list[Unit], b: list[Unit]) -> list[str] | None:
    """For one class on each side with the same header: the names of the members (fields, methods) added,
    removed or changed, in order; None otherwise."""
    if len(a) != 1 or len(b) != 1:
        return None
    classes = []
    for unit in (a[0], b[0]):
        try:
            node = cst.parse_statement(unit.code)
        except cst.ParserSyntaxError:
            return None
        if not isinstance(node, cst.ClassDef) or not isinstance(node.body, cst.IndentedBlock):
            return None
        classes.append(node)
    bare = [empty_code(c.with_changes(body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Pass()])])))
            for c in classes]
    if bare[0] != bare[1]:
        return None
    old, new = (_by_name(units(cst.Module(body=list(c.body.body)).code)) for c in classes)
    changed = [n for n in dict.fromkeys([*new, *old]) if [u.code for u in old.get(n, [])] !=
               [u.code for u in new.get(n, [])]]
    return changed or None


def _by_name(found: list[Unit]) -> dict[str, list[Unit]]:
    named_units: dict[str, list[Unit]] = {}
    for unit in found:
        for name in unit.names:
            named_units.setdefault(name, []).append(unit)
    return named_units


def _order(name: str, new: dict[str, list[Unit]], old: dict[str, list[Unit]]) -> tuple[int, int, str]:
    units_of = new.get(name) or old.get(name) or []
    return (0 if name in new else 1, units_of[0].line if units_of else 0, name)


def _first_changed(a: list[Unit], b: list[Unit]) -> int:
    for x, y in zip(a, b):
        if x.code != y.code:
            return y.line
    return b[min(len(a), len(b)) - 1].line if len(b) > len(a) else b[-1].line


def _unmatched(old: list[Unit], new: list[Unit], starter_path: Path,
               solution_path: Path) -> Iterator[tuple[Unit, str, Path]]:
    """The non-definition pieces of `old` and `new` (all units of the two modules) that only one side has,
    compared as multisets of their code; a comment also matches the same comment above a statement (moved
    above the definition the solution adds, it is still the starter's comment)."""
    for mine, theirs, verb, path in ((old, new, "removes", starter_path), (new, old, "adds", solution_path)):
        remaining = [u.code for u in theirs if not u.names] + [c for u in theirs for c in u.comments]
        for unit in mine:
            if unit.names:
                continue
            if unit.code in remaining:
                remaining.remove(unit.code)
            else:
                yield unit, verb, path


def units(code: str) -> list[Unit]:
    """The top-level pieces of a module: each statement, with the comment lines just above it (blank lines
    aside), and each comment line of the file's head and end."""
    module = cst.parse_module(code)
    wrapper = cst.metadata.MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(cst.metadata.PositionProvider)
    found: list[Unit] = []
    for line, empty in enumerate(module.header, start=1):
        if empty.comment is not None:
            found.append(Unit((), empty.comment.value, line, "a comment"))
    for index, statement in enumerate(wrapper.module.body):
        start = positions[statement].start.line
        comments = [empty.comment.value for empty in statement.leading_lines if empty.comment is not None]
        if _is_import(statement):  # an import stands for each name it binds: its comments stand apart
            found += [Unit((), comment, start, "a comment") for comment in comments]
            comments = []
        text = "\n".join([*comments, module.code_for_node(statement.with_changes(leading_lines=()))])
        names = bound_names(statement)
        if names:
            what = ", ".join(names)
        elif index == 0 and _is_docstring(statement):
            what = "the module docstring"
        else:
            what = "a statement"
        found.append(Unit(names, text, start, what, tuple(comments)))
    end = len(code.splitlines()) - len(module.footer) + 1
    for offset, empty in enumerate(module.footer):
        if empty.comment is not None:
            found.append(Unit((), empty.comment.value, end + offset, "a comment"))
    return _split_imports(found)


def _is_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body)


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _split_imports(found: list[Unit]) -> list[Unit]:
    """An import statement stands for each name it binds, with its own code (`from m import a` for `a`), so that
    adding `select` to `from sqlmodel import Session` changes `select` only."""
    result = []
    for unit in found:
        pieces = _import_pieces(unit.code) if unit.names else None
        if pieces is None:
            result.append(unit)
        else:
            result += [Unit((name,), piece, unit.line, name) for name, piece in pieces]
    return result


def _import_pieces(code: str) -> list[tuple[str, str]] | None:
    """(name bound, `from m import x as name`) for each name of an import statement line; None if it is not one."""
    try:
        line = cst.parse_statement(code)
    except cst.ParserSyntaxError:
        return None
    if not isinstance(line, cst.SimpleStatementLine) or not all(
            isinstance(s, (cst.Import, cst.ImportFrom)) for s in line.body):
        return None
    pieces = []
    for statement in line.body:
        if isinstance(statement, cst.ImportFrom):
            module = "." * len(statement.relative) + (empty_code(statement.module) if statement.module else "")
            if isinstance(statement.names, cst.ImportStar):
                pieces.append(("*", f"from {module} import *"))
                continue
            pieces += [(_binds(alias, False), f"from {module} import {_alias(alias)}") for alias in statement.names]
        else:
            pieces += [(_binds(alias, True), f"import {_alias(alias)}") for alias in statement.names]
    return pieces


def _alias(alias: cst.ImportAlias) -> str:
    name = empty_code(alias.name)
    return f"{name} as {empty_code(alias.asname.name)}" if alias.asname is not None else name


def _binds(alias: cst.ImportAlias, plain_import: bool) -> str:
    if alias.asname is not None:
        return empty_code(alias.asname.name)
    name = empty_code(alias.name)
    return name.split(".")[0] if plain_import else name


def empty_code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def bound_names(statement: cst.CSTNode) -> tuple[str, ...]:
    """The module-level names a top-level statement binds (not those bound inside functions or classes it
    defines)."""
    collector = _Bindings()
    statement.visit(collector)
    return tuple(dict.fromkeys(collector.names))


class _Bindings(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: list[str] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.names.append(node.name.value)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.names.append(node.name.value)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Import(self, node: cst.Import) -> bool:
        self.names += [_binds(alias, True) for alias in node.names]
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if isinstance(node.names, cst.ImportStar):
            self.names.append("*")
        else:
            self.names += [_binds(alias, False) for alias in node.names]
        return False

    def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
        self._targets(node.target)
        return False

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        self._targets(node.target)
        return False

    def visit_AugAssign(self, node: cst.AugAssign) -> bool:
        self._targets(node.target)
        return False

    def visit_For(self, node: cst.For) -> bool:
        self._targets(node.target)
        return True

    def visit_WithItem(self, node: cst.WithItem) -> bool:
        if node.asname is not None:
            self._targets(node.asname.name)
        return True

    def visit_TypeAlias(self, node: cst.TypeAlias) -> bool:
        self.names.append(node.name.value)
        return False

    def _targets(self, target: cst.CSTNode) -> None:
        if isinstance(target, cst.Name):
            self.names.append(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._targets(element.value)
        elif isinstance(target, cst.StarredElement):
            self._targets(target.value)
