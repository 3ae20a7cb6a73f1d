"""Where the course content (chapters, starters, solutions) lives, and which chapters there are."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any


FORMAT_VERSION = 1
FILES_CHECK = "files"
"""Id of the check the engine adds to every chapter: the learner's files exist, parse, and define every
name they use."""
FILES_TITLE = "Your files are there, are valid Python, and every name they use is defined"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_PACKAGE = Path(__file__).resolve().parent
CHAPTER_ID = re.compile(r"^chapter-(\d+)$")


class ContentError(Exception):
    """The course content is broken (not the learner's fault): exit code 2."""

    def __init__(self, message: str, path: Path | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: " if self.path and self.line else f"{self.path}: " if self.path else ""
        return f"{where}{self.message}"


def content_root() -> Path:
    """The folder holding `chapters/`, `starter/` and `solutions/`.

    `COURSE_CONTENT` wins; then a source checkout (or editable install) next to this
    package; then the copy bundled inside an installed wheel.
    """
    env = os.environ.get("COURSE_CONTENT")
    if env:
        return Path(env).expanduser().resolve()
    checkout = _PACKAGE.parent
    if (checkout / "chapters").is_dir():
        return checkout
    return _PACKAGE / "_content"


def chapters_dir(root: Path | None = None) -> Path:
    return (root or content_root()) / "chapters"


def starter_dir(chapter_id: str, root: Path | None = None) -> Path:
    return (root or content_root()) / "starter" / chapter_id


def solution_dir(chapter_id: str, root: Path | None = None) -> Path:
    return (root or content_root()) / "solutions" / chapter_id


def chapter_ids(root: Path | None = None, *, with_manifest: bool = True) -> list[str]:
    """Every chapter folder (with a manifest, unless `with_manifest` is False), in chapter-number order."""
    found = [p.name for p in chapters_dir(root).glob("chapter-*")
             if CHAPTER_ID.match(p.name) and p.is_dir() and (not with_manifest or (p / "chapter.toml").is_file())]
    return sorted(found, key=lambda name: int(name.split("-")[1]))


def tree_files(folder: Path) -> dict[str, Path]:
    """Every file under `folder` by its relative name, in name order (no caches); {} if there is no folder."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def parse_toml(text: str, path: Path) -> dict[str, Any]:
    """The data of the TOML file `path` holding `text`; ContentError at the line of a syntax error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))  # Python < 3.14 gives the line only in the message
        raise ContentError(f"invalid TOML: {exc}", path, int(found.group(1)) if found else None) from None
