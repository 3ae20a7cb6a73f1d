"""Where the course content (chapters, starters, solutions) lives."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


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
