"""`course lesson chapter-N`: the chapter's lesson, rendered in a terminal, plain when piped.

Code blocks are never wrapped: a line wider than the terminal stays one line (the pager, `less -S`,
scrolls it sideways), so code copied from the lesson is the code the lesson shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    from course.terminal import show_long

    show_long(console, [lesson_markdown(text)], pager=pager)


def lesson_markdown(text: str) -> Any:
    """The lesson as rich Markdown whose code blocks keep every line whole."""
    from rich.markdown import CodeBlock, Markdown
    from rich.syntax import Syntax

    class WholeLines(CodeBlock):
        """A code block at its own width, not wrapped or cut to the terminal's (print it with crop=False)."""

        def __rich_console__(self, console: Any, options: Any) -> Any:
            code = str(self.text).rstrip()
            widest = max((len(line) for line in code.splitlines()), default=0)
            yield Syntax(code, self.lexer_name, theme=self.theme, word_wrap=False, padding=0,
                         code_width=max(widest, options.max_width))

    class Lesson(Markdown):
        elements = {**Markdown.elements, "fence": WholeLines, "code_block": WholeLines}

    return Lesson(text, code_theme="ansi_dark", hyperlinks=False)
