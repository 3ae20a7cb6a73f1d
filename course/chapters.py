"""Turn what the learner typed (`chapter-2`, `2`) into a loaded chapter, or a clear usage error."""

from __future__ import annotations

import re
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
        guess = suggestion(name, known)
        meant = f"did you mean {guess}? " if guess else ""
        raise UnknownChapter(f"there is no chapter {name!r}; {meant}the chapters are: {', '.join(known) or 'none'}")
    return chapter_id


def suggestion(name: str, known: list[str]) -> str | None:
    """The chapter a mistyped name most likely means: its number spelled another way (`chapter2`,
    `ch-2`, `Chapter 2`), else the closest id."""
    import difflib

    number = re.fullmatch(r"\s*(?:ch(?:apter)?)?[\s_.-]*0*(\d+)\s*", name, re.IGNORECASE)
    if number:  # a number: that chapter, or none (chapter-9 does not mean chapter-7)
        return f"chapter-{number.group(1)}" if f"chapter-{number.group(1)}" in known else None
    close = difflib.get_close_matches(name.strip().lower(), known, n=1, cutoff=0.75)
    return close[0] if close else None
