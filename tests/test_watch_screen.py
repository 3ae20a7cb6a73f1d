"""The `course watch` screen (course.watch_screen): what it shows, in which order, and that it fits."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text

from course.watch_screen import Checklist, checklist, wrap
from grader.report import CheckResult, Report, overall_status

STATUS = "Graded save 3 (14:02:11) · Watching ws/chapter-3 · h hint · l list · q quit"
FOLDER = Path("/nowhere/ws/chapter-3")


def check(n: int, status: str, message: str = "", **fields) -> CheckResult:
    return CheckResult(id=f"check-{n}", title=f"Title of check {n}", kind="static", status=status,
                       message=message, **fields)


def report(checks: list[CheckResult], notes: list[str] | None = None) -> Report:
    return Report(chapter="chapter-3", title="Use the session dependency", status=overall_status(checks),
                  checks=checks, score=0, max_score=len(checks), submission="x", duration=0.9,
                  grader_version="0", checks_hash="h", submission_hash="h", notes=notes or [])


def failing(message_lines: int = 3, others: int = 2, notes: int = 1) -> Checklist:
    """Three passed checks, the first failure (check 4), `others` later failures, two skipped."""
    message = "\n".join(f"line {i} of what went wrong, explained at some length" for i in range(1, message_lines + 1))
    checks = [check(n, "pass") for n in range(1, 4)]
    checks.append(check(4, "fail", message, file="main.py", line=12, hint="The hint of check 4."))
    checks += [check(n, "fail", "later", file="main.py", line=40, hint="later hint") for n in range(5, 5 + others)]
    checks += [check(n, "skip", "waits") for n in range(5 + others, 7 + others)]
    return Checklist(report(checks, notes=[f"a note from the grade, number {i}" for i in range(notes)]), FOLDER,
                     bar="████░░░░░░░░")


def text(lines: list[Text]) -> list[str]:
    return [line.plain for line in lines]


def test_passed_checks_fold_to_one_line_skipped_to_a_count_and_the_first_failure_comes_last():
    shown = text(checklist(failing(), STATUS, 100, None))
    assert shown[0] == "chapter-3 · Use the session dependency"
    assert " ✓ 3 checks passed" in shown
    assert " – 2 skipped: each waits for a check that has not passed" in shown
    assert not any("Title of check 1" in line for line in shown)  # passed: folded
    first = shown.index(" ✗ Title of check 4")
    assert shown.index(" ✗ Title of check 5") < first and shown.index(" ✗ Title of check 6") < first
    assert shown[first + 1].startswith("     ") and "main.py:12: line 1 of what went wrong" in shown[first + 1]
    assert shown[first + 4] == "     hint: The hint of check 4."
    assert shown[first + 5].startswith("████░░░░░░░░ 3/8 checks passed · 3 failed · 2 skipped (0.9 s)")
    assert shown[first + 6] == "Next: fix “Title of check 4”"
    assert shown[-1] == STATUS


def test_piped_shows_everything():
    shown = "\n".join(text(checklist(failing(message_lines=40, others=12, notes=5), STATUS, 10_000, None)))
    assert "line 40 of what went wrong" in shown and "a note from the grade, number 4" in shown
    assert "Title of check 16" in shown and "…" not in shown


@pytest.mark.parametrize("width, height", [(80, 24), (120, 40), (60, 16), (40, 12), (80, 10)])
def test_the_first_failure_its_hint_and_the_footer_fit_any_terminal(width, height):
    view = failing(message_lines=60, others=10, notes=4)
    lines = checklist(view, STATUS, width, height)
    shown = text(lines)
    assert len(lines) <= height
    assert all(line.cell_len <= width for line in lines)
    joined = " ".join(" ".join(shown).split())
    assert "Title of check 4" in joined and "main.py:12: line 1 of what went wrong" in joined
    assert "hint: The hint of check 4." in joined
    assert "Next: fix “Title of check 4”" in joined and joined.endswith("q quit")
    assert "…" in joined  # the message was cut, and says so


def test_upper_parts_shrink_before_the_message_does():
    view = failing(message_lines=6, others=10, notes=3)
    shown = text(checklist(view, STATUS, 80, 24))
    assert any("line 6 of what went wrong" in line for line in shown)  # the whole message still fits
    assert " ✗ 10 more checks failed" in shown
    assert "(3 notes hidden: make the window taller to read them)" in shown


def test_hints_asked_for_replace_the_first_hint_under_the_failure():
    view = failing()
    view.hints = Text("Hint 2 of 3 for “Title of check 4”:\n  1. The hint of check 4.\n  2. The second hint.")
    shown = text(checklist(view, STATUS, 80, 24))
    assert "  2. The second hint." in shown
    assert "     hint: The hint of check 4." not in shown
    assert shown.index("  2. The second hint.") == shown.index("Next: fix “Title of check 4”") - 2


def test_a_missing_file_says_how_to_get_it_back_under_its_failure():
    checks = [check(1, "fail", "main.py is missing", file="main.py"), check(2, "skip")]
    view = Checklist(report(checks), FOLDER, first_notes=["main.py is not in ws: `grade chapter-3` puts it back."])
    shown = text(checklist(view, STATUS, 80, 24))
    assert shown.index("     main.py is not in ws: `grade chapter-3` puts it back.") == shown.index(" ✗ Title of check 1") + 2


def test_a_pass_says_what_next():
    view = Checklist(report([check(n, "pass") for n in range(1, 5)]), FOLDER, passed=["chapter-3 passed. Press n."])
    shown = text(checklist(view, STATUS, 80, 24))
    assert shown[1:] == [" ✓ 4 checks passed", "chapter-3 passed. Press n.", "All 4 checks passed (0.9 s). Well done!",
                         STATUS]


@pytest.mark.parametrize("width", [10, 20, 80])
def test_wrap_breaks_long_words_so_lines_are_rows(width):
    lines = wrap("x" * 50 + " " + "word " * 20, width, prefix="     ")
    assert all(len(line.plain) <= max(width, 15) for line in lines)
    assert "".join(line.plain.strip() for line in lines).replace(" ", "") == "x" * 50 + "word" * 20
