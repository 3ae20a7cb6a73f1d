"""A chapter's outline: its title, files and checks with their hints, read from `chapter.toml`
without validating the whole manifest.

For the commands learners run all the time (`course list`, `hint`, `lesson`): validating a
manifest (`grader.manifest`) loads pydantic, which takes longer than those commands themselves.
The outline checks the type of every field it reads, and a manifest it cannot read that way goes
through the full validation, so a broken chapter is still reported with the validator's own
message. What only the full validation catches (a dependency cycle, an unknown field, ...) is
reported by the commands that grade or start a chapter, and by `course check`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.content import FILES_CHECK, FILES_TITLE, FORMAT_VERSION, chapters_dir  # noqa: F401 - re-exported

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from grader.manifest import Chapter



@dataclass(frozen=True)
class CheckOutline:
    id: str
    title: str
    hints: tuple[str, ...]
    hints_for: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """Hints for a diagnosed mistake, by diagnosis (the manifest's `[checks.hints_for]`)."""

    def hints_of(self, diagnosis: str | None) -> tuple[str, ...]:
        """The hints for a failure with `diagnosis`: its own, else the check's."""
        return self.hints_for.get(diagnosis or "", ()) or self.hints


@dataclass(frozen=True)
class ChapterOutline:
    id: str
    title: str
    files: tuple[str, ...]
    checks: tuple[CheckOutline, ...]
    dir: Path

    @property
    def lesson_path(self) -> Path:
        return self.dir / "lesson.md"

    def check(self, check_id: str) -> CheckOutline:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    @classmethod
    def of(cls, chapter: Chapter) -> ChapterOutline:
        """The outline of a validated chapter."""
        return cls(chapter.id, chapter.title, chapter.files,
                   tuple(CheckOutline(c.id, c.title, c.hints, c.hints_for) for c in chapter.checks), chapter.dir)


def load_outline(chapter_id: str, root: Path | None = None) -> ChapterOutline:
    """The outline of a chapter; ContentError (from the full validation) if it cannot be read."""
    folder = chapters_dir(root) / chapter_id
    try:
        data = tomllib.loads((folder / "chapter.toml").read_text(encoding="utf-8"))
        outline = _outline(folder, data)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        outline = None
    if outline is not None:
        return outline
    from grader.manifest import load_chapter_dir

    return ChapterOutline.of(load_chapter_dir(folder))


def _outline(folder: Path, data: dict[str, Any]) -> ChapterOutline | None:
    """The outline, or None when a field it reads is missing or of the wrong type."""
    chapter_id, title = data.get("id", folder.name), data.get("title")
    files, checks = data.get("files"), data.get("checks")
    if (data.get("format_version") != FORMAT_VERSION or not _text(chapter_id) or not _text(title)
            or not isinstance(files, list) or not files or not all(_text(f) for f in files)
            or not isinstance(checks, list) or not checks):
        return None
    outlines = []
    for check in checks:
        if not isinstance(check, dict):
            return None
        hints, hints_for = check.get("hints", []), check.get("hints_for", {})
        if not (_text(check.get("id")) and _text(check.get("title")) and _strings(hints)
                and isinstance(hints_for, dict) and all(_strings(h) and h for h in hints_for.values())):
            return None
        outlines.append(CheckOutline(check["id"], check["title"], tuple(hints),
                                     {d: tuple(h) for d, h in hints_for.items()}))
    return ChapterOutline(chapter_id, title, tuple(files), tuple(outlines), folder)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""
