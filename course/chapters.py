"""Turn what the learner typed (`chapter-2`, `2`) into a loaded chapter, or a clear usage error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.content import chapter_ids
from grader.outline import ChapterOutline, load_outline

if TYPE_CHECKING:
    from grader.manifest import Chapter


class UnknownChapter(Exception):
    pass


def normalise(name: str) -> str:
    name = name.strip().lower()
    return f"chapter-{name}" if name.isdigit() else name


def find_chapter(name: str) -> Chapter:
    """Load a chapter by name; raise UnknownChapter listing the real ones (ContentError if broken)."""
    from grader.manifest import load_chapter

    return load_chapter(known_id(name))


def find_outline(name: str) -> ChapterOutline:
    """A chapter's outline (`grader.outline`) by name, with the errors of `find_chapter`."""
    return load_outline(known_id(name))


def known_id(name: str) -> str:
    chapter_id = normalise(name)
    known = chapter_ids()
    if chapter_id not in known:
        raise UnknownChapter(f"there is no chapter {name!r}; the chapters are: {', '.join(known) or 'none'}")
    return chapter_id
