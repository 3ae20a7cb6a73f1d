"""`course solution chapter-N`: the reference solution, once the learner's own version has passed."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from course import progress
from course.terminal import show_long
from course.workspace import chapter_folder, unified_diff
from grader.content import solution_dir
from grader.manifest import Chapter


def show_solution(console: Console, workspace: Path, chapter: Chapter, *, pager: bool = True) -> int:
    """Show the solution and a diff against the learner's files (0); or say why not yet (1)."""
    entry = progress.entry(workspace, chapter.id)
    if "passed_at" not in entry:
        grade = entry.get("last_grade")
        where = (f"Your last grade passed {grade['passed']} of {grade['total']} checks." if grade
                 else "You have not graded it yet.")
        console.print(f"The reference solution of {chapter.id} opens once your own version has passed every "
                      f"check: working it out is what makes it stick. {where}")
        console.print(f"Next: `course hint {chapter.id}` for a hint, `course watch {chapter.id}` to re-grade as "
                      "you edit.")
        return 1
    folder = chapter_folder(workspace, chapter.id)
    reference = solution_dir(chapter.id, chapter.dir.parent.parent)
    shown: list = []
    for name in chapter.files:
        solution_file = reference / name
        try:
            solution_text = solution_file.read_text(encoding="utf-8")
        except OSError:
            shown.append(Text(f"The course has no reference solution for {name} (expected {solution_file}).",
                              style="magenta"))
            continue
        shown.append(Text(f"Reference solution: {name}", style="bold"))
        shown.append(_code(console, solution_text, "python"))
        try:
            mine = (folder / name).read_text(encoding="utf-8")
        except OSError:
            shown.append(Text(f"(There is no {folder / name} to compare with.)"))
            continue
        diff = unified_diff(mine, solution_text, f"yours/{name}", f"solution/{name}")
        if not diff:
            shown.append(Text(f"Your {name} is exactly the reference solution.", style="green"))
        else:
            shown.append(Text(f"From your {name} to the reference solution (- yours, + solution):", style="bold"))
            shown.append(_code(console, diff, "diff"))
    show_long(console, shown, pager=pager)
    return 0


def _code(console: Console, text: str, lexer: str) -> Syntax | Text:
    if not console.is_terminal or console.color_system is None:
        return Text(text.rstrip("\n"))
    return Syntax(text.rstrip("\n"), lexer, theme="ansi_dark", background_color="default",
                  line_numbers=lexer == "python", word_wrap=True)
