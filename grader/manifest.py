"""The chapter manifest (`chapters/chapter-N/chapter.toml`): loading and validation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

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
    checks: tuple[CheckSpec, ...] = Field(min_length=1)
    dir: Path = Field(exclude=True)

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
        raise ContentError("invalid manifest: " + explain_validation(exc), path) from None
    except TypeError as exc:  # e.g. a non-table at top level
        raise ContentError(f"invalid manifest: {exc}", path) from None


def explain_validation(exc: ValidationError) -> str:
    """pydantic's errors as `field.path: message; ...`."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)
