"""`course lesson chapter-N`: the chapter's lesson, rendered in a terminal, plain when piped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.outline import ChapterOutline

if TYPE_CHECKING:
    from rich.console import Console


class NoLesson(Exception):
    pass


def show_lesson(console: Console, chapter: ChapterOutline, *, pager: bool = True) -> None:
    """Rich Markdown (paged) on a terminal; the Markdown source itself when piped."""
    try:
        text = chapter.lesson_path.read_text(encoding="utf-8")
    except OSError:
        raise NoLesson(f"{chapter.id} has no lesson (expected {chapter.lesson_path})") from None
    if not console.is_terminal:
        console.file.write(text if text.endswith("\n") else text + "\n")
        return
    from rich.markdown import Markdown

    from course.terminal import show_long

    show_long(console, [Markdown(text, code_theme="ansi_dark", hyperlinks=False)], pager=pager)
