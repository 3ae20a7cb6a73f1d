"""`course quiz chapter-N`: the chapter's practice questions, asked one at a time or marked at once."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text

from course import progress
from course.terminal import print_hanging
from grader.quiz import LETTERS, Question, Quiz


class BadAnswers(ValueError):
    """`--answers` does not fit the quiz (a usage error)."""


def parse_answers(text: str, quiz: Quiz) -> list[int]:
    """`b,a,c` -> choice indexes; BadAnswers says what is wrong."""
    letters = [part.strip().lower() for part in text.split(",")]
    count = len(quiz.questions)
    if len(letters) != count:
        raise BadAnswers(f"the quiz has {count} questions, and --answers gave {len(letters)} answers "
                         f"(e.g. --answers {','.join('a' * count)})")
    picks = []
    for number, (letter, question) in enumerate(zip(letters, quiz.questions), start=1):
        choice = _choice(letter, question)
        if choice is None:
            raise BadAnswers(f"answer {number} is {letter!r}; question {number} wants one letter from "
                             f"a to {LETTERS[len(question.choices) - 1]}")
        picks.append(choice)
    return picks


def _choice(letter: str, question: Question) -> int | None:
    letter = letter.strip().lower()
    if len(letter) == 1 and letter in LETTERS[:len(question.choices)]:
        return LETTERS.index(letter)
    return None


def record(workspace: Path, chapter_id: str, quiz: Quiz, picks: list[int]) -> tuple[int, int]:
    """Mark `picks` (a choice index per question) and store the score in progress.json: (score, best)."""
    score = sum(pick == question.answer_index for question, pick in zip(quiz.questions, picks))
    data = progress.record_quiz(workspace, chapter_id, score, len(quiz.questions))
    return score, data["chapters"][chapter_id]["quiz"]["best"]


def _ask(console: Console, number: int, total: int, question: Question) -> None:
    console.print()
    console.print(Text(f"Question {number} of {total}", style="bold"))
    console.print(question.prompt)
    for letter, choice in zip(LETTERS, question.choices):
        print_hanging(console, f"  {letter}) ", choice)


def _verdict(console: Console, question: Question, choice: int) -> bool:
    right = choice == question.answer_index
    if right:
        console.print(Text("✓ Right.", style="bold green"))
    else:
        correct = f"{question.answer}) {question.choices[question.answer_index]}"
        console.print(Text.assemble(("✗ Not quite. ", "bold red"), f"The answer is {correct}"))
    console.print(Text(question.explanation, style="dim" if right else ""))
    return right


def interactive(console: Console, quiz: Quiz) -> int | None:
    """Ask each question, re-asking on invalid input; the score, or None if stopped (Ctrl-D, Ctrl-C)."""
    score = 0
    total = len(quiz.questions)
    for number, question in enumerate(quiz.questions, start=1):
        _ask(console, number, total, question)
        last = LETTERS[len(question.choices) - 1]
        while True:
            try:
                typed = console.input(f"Your answer (a-{last}): ", markup=False)
            except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C: the learner stops here
                console.print()
                return None
            choice = _choice(typed, question)
            if choice is not None:
                break
            console.print(f"Please type one letter, from a to {last}.")
        score += _verdict(console, question, choice)
    return score


def mark(console: Console, quiz: Quiz, picks: list[int]) -> int:
    """Mark answers given at once: each question, the answer given, right or not, and why."""
    score = 0
    total = len(quiz.questions)
    for number, (question, choice) in enumerate(zip(quiz.questions, picks), start=1):
        _ask(console, number, total, question)
        console.print(f"Your answer: {LETTERS[choice]}) {question.choices[choice]}")
        score += _verdict(console, question, choice)
    return score


def run(console: Console, workspace: Path, chapter_id: str, quiz: Quiz, answers: str | None) -> int:
    """Take the quiz (BadAnswers for a bad --answers); record the score; 0 when it ran to the end."""
    picks = parse_answers(answers, quiz) if answers is not None else None
    total = len(quiz.questions)
    if picks is None:
        console.print(Text.assemble((f"{chapter_id} practice questions", "bold"),
                                    f" · {total} questions · answer with a letter (Ctrl-C to stop)"))
        score = interactive(console, quiz)
        if score is None:
            console.print("Quiz stopped before the end; no score recorded.")
            return 1
        data = progress.record_quiz(workspace, chapter_id, score, total)
        best = data["chapters"][chapter_id]["quiz"]["best"]
    else:
        mark(console, quiz, picks)
        score, best = record(workspace, chapter_id, quiz, picks)
    console.print()
    console.print(Text(f"Score: {score}/{total}" + (f" (your best: {best}/{total})" if best > score else ""),
                       style="bold green" if score == total else "bold"))
    return 0
