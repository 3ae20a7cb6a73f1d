"""The chapter manifest (`chapters/chapter-N/chapter.toml`): loading and validation."""

from __future__ import annotations

import difflib
import json
import re
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grader.content import (  # noqa: F401 - FILES_* re-exported
    CHAPTER_ID, FILES_CHECK, FILES_TITLE, FORMAT_VERSION, ContentError, chapter_ids, chapters_dir, parse_toml,
)


_CHECK_ID = r"^[a-z0-9]+(-[a-z0-9]+)*$"
__all__ = ["FILES_CHECK", "FILES_TITLE", "FORMAT_VERSION", "Chapter", "CheckSpec", "ContentError", "chapter_ids",
           "load_chapter", "load_chapter_dir"]


class CheckSpec(BaseModel):
    """One check as the manifest declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_CHECK_ID)
    title: str = Field(min_length=1)
    kind: Literal["static", "behaviour"]
    file: str | None = None
    """Static checks: the learner file examined (default: the chapter's first file)."""
    depends: tuple[str, ...] = ()
    points: float = Field(default=1, ge=0)
    hints: tuple[str, ...] = ()
    hints_for: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Hints for a diagnosed mistake (`diagnosis = ["...", ...]`), used instead of `hints` when the check
    fails with that diagnosis."""
    task: int | None = Field(default=None, ge=1)
    """The numbered step of the lesson's instructions this check verifies (Exercism's `task_id`)."""

    @field_validator("hints_for")
    @classmethod
    def _diagnosed_hints(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for diagnosis, hints in value.items():
            if not re.match(_CHECK_ID, diagnosis):
                raise ValueError(f"{diagnosis!r} is not a diagnosis: kebab-case, like `not-exclude-unset`")
            if not hints or not all(h.strip() for h in hints):
                raise ValueError(f"the hints for {diagnosis!r} must be a list of one or more non-empty strings")
        return value

    def hints_of(self, diagnosis: str | None) -> tuple[str, ...]:
        """The hints for a failure with `diagnosis`: its own, else the check's."""
        return self.hints_for.get(diagnosis or "", ()) or self.hints


class Chapter(BaseModel):
    """A chapter: what the learner edits and the checks that judge it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: int
    id: str
    title: str = Field(min_length=1)
    summary: str = ""
    files: tuple[str, ...] = Field(min_length=1)
    """Files the learner edits; they are graded."""
    continues_from: str | None = None
    """The chapter whose solution this chapter's starter continues."""
    timeout: float = Field(default=10, gt=0, le=600)
    """Wall-clock seconds for the whole behavioural stage."""
    preload: tuple[str, ...] = ()
    """Extra modules a warm worker imports before forking (speed only)."""
    requires: dict[str, str] = Field(default_factory=dict)
    """Package versions the chapter needs, as PEP 440 specifiers (`fastapi = ">=0.121"`): `grade` and
    `course check` refuse to start, naming the upgrade, when the installed ones do not meet them."""
    static_points_need: str | None = None
    """A behavioural check (such as one that imports the learner's modules): until it passes, the static
    checks that pass score nothing, so code that cannot run earns no points for its shape."""
    checks: tuple[CheckSpec, ...] = Field(min_length=1)
    dir: Path = Field(exclude=True)

    @field_validator("requires")
    @classmethod
    def _specifiers(cls, value: dict[str, str]) -> dict[str, str]:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        for package, specifier in value.items():
            if not re.match(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$", package):
                raise ValueError(f"{package!r} is not a package name")
            try:
                SpecifierSet(specifier)
            except InvalidSpecifier:
                raise ValueError(f"the version of {package!r} must be a specifier like \">=0.121\", "
                                 f"not {specifier!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Chapter:
        if self.format_version != FORMAT_VERSION:
            raise ValueError(f"format_version is {self.format_version}; this grader reads version {FORMAT_VERSION}")
        if not CHAPTER_ID.match(self.id):
            raise ValueError(f"id {self.id!r} must look like 'chapter-N'")
        ids = [c.id for c in self.checks]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"check ids must be unique; repeated: {', '.join(dupes)}")
        if FILES_CHECK in ids:
            raise ValueError(f"check id {FILES_CHECK!r} is reserved for the engine's own check")
        kinds = {c.id: c.kind for c in self.checks}
        for c in self.checks:
            for dep in c.depends:
                if dep not in kinds and dep != FILES_CHECK:
                    raise ValueError(f"check {c.id!r} depends on {dep!r}, which is not a check of this chapter")
                if c.kind == "static" and kinds.get(dep) == "behaviour":
                    raise ValueError(f"static check {c.id!r} cannot depend on behavioural check {dep!r}")
            if c.file is not None and c.file not in self.files:
                raise ValueError(f"check {c.id!r} examines {c.file!r}, which is not one of the chapter's files")
        if self.static_points_need is not None and kinds.get(self.static_points_need) != "behaviour":
            raise ValueError(f"static_points_need names {self.static_points_need!r}, which is not a behavioural "
                             "check of this chapter")
        cycle = _find_cycle({c.id: c.depends for c in self.checks})
        if cycle:
            raise ValueError("dependency cycle: " + " -> ".join(cycle))
        return self

    @property
    def number(self) -> int:
        return int(CHAPTER_ID.match(self.id).group(1))  # type: ignore[union-attr]

    @property
    def lesson_path(self) -> Path:
        return self.dir / "lesson.md"

    @property
    def quiz_path(self) -> Path:
        return self.dir / "quiz.toml"

    @property
    def checks_dir(self) -> Path:
        return self.dir / "checks"

    def check(self, check_id: str) -> CheckSpec:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    def file_of(self, spec: CheckSpec) -> str:
        return spec.file or self.files[0]

    def ordered_checks(self) -> list[CheckSpec]:
        """Checks in an order where every check comes after its dependencies (stable)."""
        done: set[str] = set()
        order: list[CheckSpec] = []
        pending = list(self.checks)
        while pending:
            for c in pending:
                if all(d in done or d == FILES_CHECK for d in c.depends):
                    order.append(c)
                    done.add(c.id)
                    pending.remove(c)
                    break
        return order


def _find_cycle(graph: dict[str, tuple[str, ...]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep in graph and state.get(dep) is None:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return []


def load_chapter(chapter_id: str, root: Path | None = None) -> Chapter:
    """Load and validate a chapter's manifest; raise ContentError with the reason if it is broken."""
    folder = chapters_dir(root) / chapter_id
    return load_chapter_dir(folder)


def load_chapter_dir(folder: Path) -> Chapter:
    path = folder / "chapter.toml"
    if not path.is_file():
        raise ContentError(f"no chapter named {folder.name!r} (expected {path})", path)
    data = parse_toml(path.read_text(encoding="utf-8"), path)
    data.setdefault("id", folder.name)
    try:
        return Chapter(dir=folder, **data)
    except ValidationError as exc:
        raise ContentError("invalid manifest: " + explain_validation(exc, data), path) from None
    except TypeError as exc:  # e.g. a non-table at top level
        raise ContentError(f"invalid manifest: {exc}", path) from None


def explain_validation(exc: ValidationError, data: dict[str, Any] | None = None) -> str:
    """pydantic's errors in the author's terms (see `describe_error`), joined with `; `."""
    model = _models().get(exc.title)
    return "; ".join(describe_error(err, model, data or {}) for err in author_errors(exc))


def author_errors(exc: ValidationError) -> list[Any]:
    """The errors worth an author's time: without a list's "too short after validation", which only repeats
    that its items had errors."""
    return [err for err in exc.errors() if not (
        err["type"] == "too_short" and isinstance(err.get("input"), (list, tuple))
        and (err.get("ctx") or {}).get("actual_length", 0) < len(err["input"]))]


# -- validation errors in the author's terms ------------------------------------------------------------------------
TOML_TYPES = {"string": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
              "list": "a list", "tuple": "a list", "dict": "a table", "model": "a table"}
PATTERNS = {
    "id": "a check id: kebab-case, lower-case words joined by `-`, like `one-shared-database`",
    "answer": "the letter of the right choice: \"a\" for the first, \"b\" for the second, ...",
}
"""What a field with a `pattern` must look like, in words."""


def describe_error(err: Any, model: type[BaseModel] | None, data: dict[str, Any]) -> str:
    """One pydantic error in the author's terms: where (`check 'engine-url'`, `question 2`), which key, and what is
    wrong, without pydantic's phrasing; an unknown key gets the known key it was probably meant to be."""
    loc = list(err["loc"])
    where, key = _where(loc, data)
    value = err.get("input")
    kind, ctx = err["type"], err.get("ctx") or {}
    shown = f"`{key}`" if key else "the value"
    if kind == "extra_forbidden":
        known = _field_names(model, loc[:-1])
        key = str(loc[-1])
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f": did you mean `{close[0]}`?" if close else (f"; the keys are {', '.join(known)}" if known else "")
        text = f"unknown key `{key}`{hint}"
    elif kind == "missing":
        text = f"{shown} is missing"
    elif kind == "literal_error":
        expected = re.sub(r"'([^']*)'", r'"\1"', str(ctx.get("expected", "one of the allowed values")))
        text = f"{shown} is {_toml(value)}; write {expected}"
    elif kind == "string_pattern_mismatch":
        text = f"{shown} is {_toml(value)}, which is not {PATTERNS.get(str(key), 'in the expected form')}"
    elif kind in ("too_short", "string_too_short"):
        least = ctx.get("min_length", 1)
        text = (f"{shown} is empty" if kind == "string_too_short" or not value
                else f"{shown} has {len(value)} item(s); it needs at least {least}")
        if kind == "too_short" and not value:
            text += f": it needs at least {least} item(s)"
    elif kind == "too_long":
        text = f"{shown} has {len(value)} items; it may have at most {ctx.get('max_length')}"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        wanted = TOML_TYPES.get(kind.split("_")[0], kind.split("_")[0])
        text = f"{shown} must be {wanted}, not {_toml(value)}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        limit = next(iter(ctx.values()), "")
        limit = f"{limit:g}" if isinstance(limit, float) else limit
        words = {"greater_than": "more than", "greater_than_equal": "at least", "less_than": "less than",
                 "less_than_equal": "at most"}[kind]
        text = f"{shown} is {_toml(value)}; it must be {words} {limit}"
    else:
        text = err["msg"].removeprefix("Value error, ")
        text = f"{shown}: {text}" if key and kind != "value_error" else text
    return f"{where}: {text}" if where else text


def _where(loc: list[Any], data: dict[str, Any]) -> tuple[str, str | None]:
    """(`check 'engine-url'`, `question 2` or "", the key the error is about, if any)."""
    where, rest = "", loc
    if len(loc) >= 2 and loc[0] in ("checks", "questions") and isinstance(loc[1], int):
        table = data.get(loc[0]) if isinstance(data, dict) else None
        item = table[loc[1]] if isinstance(table, list) and loc[1] < len(table) else None
        name = item.get("id") if isinstance(item, dict) else None
        singular = "check" if loc[0] == "checks" else "question"
        where = f"{singular} {name!r}" if isinstance(name, str) else f"{singular} {loc[1] + 1}"
        rest = loc[2:]
    key = ".".join(str(part) for part in rest if isinstance(part, str)) or None  # `hints_for.known-mistake`
    return where, key


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple, dict)):
        return "a table" if isinstance(value, dict) else "a list"
    return repr(value)


def _field_names(model: type[BaseModel] | None, loc: list[Any]) -> list[str]:
    """The keys the table at `loc` of `model` may have."""
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        model = _inner_model(field.annotation) if field is not None else None
    set_by_the_loader = ("dir", "id") if model is Chapter else ()
    return [name for name in (model.model_fields if model is not None else {}) if name not in set_by_the_loader]


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _models() -> dict[str, type[BaseModel]]:
    from grader.quiz import Question, Quiz

    return {"Chapter": Chapter, "CheckSpec": CheckSpec, "Quiz": Quiz, "Question": Question}
