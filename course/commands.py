"""The three commands learners run all the time (`list`, `hint`, `lesson`) and the usage error
every command reports the same way: shared by `course.cli`'s quick path and `course.course_app`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.outline import ChapterOutline


def list_command(workspace: Path | None = None) -> int:
    from course.listing import show
    from course.terminal import make_console
    from course.workspace import resolve_workspace

    show(make_console(), resolve_workspace(workspace))
    return 0


def hint_command(chapter: str, workspace: Path | None = None) -> int:
    from course.hints import show_hint
    from course.terminal import make_console
    from course.workspace import resolve_workspace

    outline = _outline(chapter)
    if outline is None:
        return 2
    return show_hint(make_console(), resolve_workspace(workspace), outline)


def lesson_command(chapter: str, pager: bool = True) -> int:
    from course.lesson import NoLesson, show_lesson
    from course.terminal import make_console

    outline = _outline(chapter)
    if outline is None:
        return 2
    try:
        show_lesson(make_console(), outline, pager=pager)
    except NoLesson as exc:
        return usage_error(str(exc))
    return 0


def _outline(name: str) -> ChapterOutline | None:
    """The chapter named on the command line (its outline), or None after saying why there is none."""
    from course.chapters import UnknownChapter, find_outline
    from grader.content import ContentError

    try:
        return find_outline(name)
    except (UnknownChapter, ContentError) as exc:
        usage_error(str(exc))
        return None


def usage_error(message: str) -> int:
    from course.terminal import make_console

    make_console(stderr=True).print(f"error: {message}", markup=False)
    return 2
