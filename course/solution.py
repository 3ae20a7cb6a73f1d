"""`course solution chapter-N`: the reference solution, once the learner's own version has passed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from course import progress
from course.terminal import show_long
from course.workspace import chapter_folder, unified_diff
from grader.content import solution_dir
from grader.manifest import Chapter


@dataclass(frozen=True)
class Compared:
    """One graded file: the reference solution's text and the learner's (None: not there)."""

    name: str
    solution: str | None
    solution_path: Path
    mine: str | None
    mine_path: Path


def unlocked(workspace: Path, chapter: Chapter) -> bool:
    """The solution opens once the learner's own version has passed every check."""
    return "passed_at" in progress.entry(workspace, chapter.id)


def compare(workspace: Path, chapter: Chapter) -> list[Compared]:
    """Each graded file of the chapter, the reference solution's beside the learner's."""
    folder = chapter_folder(workspace, chapter.id)
    reference = solution_dir(chapter.id, chapter.dir.parent.parent)
    return [Compared(name, _read(reference / name), reference / name, _read(folder / name), folder / name)
            for name in chapter.files]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def show_solution(console: Console, workspace: Path, chapter: Chapter, *, pager: bool = True) -> int:
    """Show the solution and a diff against the learner's files (0); or say why not yet (1)."""
    if not unlocked(workspace, chapter):
        grade = progress.entry(workspace, chapter.id).get("last_grade")
        where = (f"Your last grade passed {grade['passed']} of {grade['total']} checks." if grade
                 else "You have not graded it yet.")
        console.print(f"The reference solution of {chapter.id} opens once your own version has passed every "
                      f"check: working it out is what makes it stick. {where}")
        console.print(f"Next: `course hint {chapter.id}` for a hint, `course watch {chapter.id}` to re-grade as "
                      "you edit.")
        return 1
    shown: list = []
    for file in compare(workspace, chapter):
        name = file.name
        if file.solution is None:
            shown.append(Text(f"The course has no reference solution for {name} (expected {file.solution_path}).",
                              style="magenta"))
            continue
        shown.append(Text(f"Reference solution: {name}", style="bold"))
        shown.append(_code(console, file.solution, "python"))
        if file.mine is None:
            shown.append(Text(f"(There is no {file.mine_path} to compare with.)"))
            continue
        diff = unified_diff(file.mine, file.solution, f"yours/{name}", f"solution/{name}")
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
