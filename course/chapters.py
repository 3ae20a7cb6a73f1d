"""Turn what the learner typed (`chapter-2`, `2`) into a loaded chapter, or a clear usage error."""

from __future__ import annotations

from grader.manifest import Chapter, chapter_ids, load_chapter


class UnknownChapter(Exception):
    pass


def normalise(name: str) -> str:
    name = name.strip().lower()
    return f"chapter-{name}" if name.isdigit() else name


def find_chapter(name: str) -> Chapter:
    """Load a chapter by name; raise UnknownChapter listing the real ones (ContentError if broken)."""
    chapter_id = normalise(name)
    known = chapter_ids()
    if chapter_id not in known:
        raise UnknownChapter(f"there is no chapter {name!r}; the chapters are: {', '.join(known) or 'none'}")
    return load_chapter(chapter_id)
