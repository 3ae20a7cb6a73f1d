"""`course check`'s quiz rule: a quiz a learner cannot pass without reading the questions.

A valid quiz (grader/quiz.py) can still be answered by habit: pick the longest choice, or the letter that
is usually right. So a chapter's quiz must have at least :data:`MIN_QUESTIONS` questions, and

- the right answer is the longest choice (strictly or jointly) in at most a third of them, and the shortest
  in at most a third: its length gives nothing away. Length is the number of characters of the choice as
  the learner reads it in `course quiz` (backticks included), spaces at either end not counted;
- no letter is the right answer in more than half of the questions, and the right answers use at least
  :data:`MIN_ANSWER_LETTERS` different letters;
- every explanation says why each wrong choice is wrong, as far as a tool can tell: it has at least
  :data:`CHARS_PER_WRONG_CHOICE` characters per wrong choice, and for each wrong choice it uses one of that
  choice's own words (see :func:`own_words`).

Questions that still hold the scaffold's placeholder are left to the `placeholders` rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from grader.quiz import LETTERS, Question, Quiz

MIN_QUESTIONS = 6
"""Questions per quiz: enough that the share rules below mean something."""
MIN_ANSWER_LETTERS = 3
"""Different letters the right answers use."""
CHARS_PER_WRONG_CHOICE = 50
"""The floor of an explanation's length, per wrong choice it must answer."""
MIN_WORD = 4
"""Shorter words are too common to show what a sentence is about (numbers such as 404 count from 3 digits)."""
STEM = 5
"""Two words are one when they share their first STEM characters (or the shorter is a prefix of the longer):
`commits`/`committed`, `close`/`closes`."""
COMMON = frozenset("""
    about after again also always another anything because before being between both cannot could does doing done each
    either else even every from have here into just like made make makes many more most much must need needs
    never none nothing once only other over same should since some still such than that their them then there
    these they thing this those through very what when where whether which while will with without would your
""".split())
"""Words that say nothing about a choice in particular."""
_WORD = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class QuizProblem:
    """One problem of a quiz: its message, the question it is about (0-based) and the key to point at."""

    message: str
    question: int | None = None
    key: str | None = None


def quiz_problems(quiz: Quiz, placeholder: str) -> list[QuizProblem]:
    """Every way the quiz breaks the rule, whole-quiz problems first."""
    written = [i for i, q in enumerate(quiz.questions) if not _unwritten(q, placeholder)]
    problems = _count(quiz) + _letters(quiz) + _lengths(quiz, written)
    for index in written:
        problems += explanation_problems(quiz.questions[index], index)
    return problems


def _unwritten(question: Question, placeholder: str) -> bool:
    return any(placeholder in text for text in (question.prompt, question.explanation, *question.choices))


def _count(quiz: Quiz) -> list[QuizProblem]:
    count = len(quiz.questions)
    if count >= MIN_QUESTIONS:
        return []
    return [QuizProblem(f"the quiz has {_questions(count)}; write at least {MIN_QUESTIONS}, one "
                        "per idea of the lesson a learner could get wrong")]


def _letters(quiz: Quiz) -> list[QuizProblem]:
    answers = [q.answer for q in quiz.questions]
    problems = []
    for letter in sorted(set(answers)):
        where = [i for i, a in enumerate(answers) if a == letter]
        if len(where) * 2 > len(answers):
            problems.append(QuizProblem(
                f"{letter!r} is the right answer in {len(where)} of {_questions(len(answers))} ({_numbers(where)}); "
                f"at most half may share a letter, or a learner scores by always answering {letter!r}: move the "
                "right choice in some of them", where[0], "answer"))
    letters = sorted(set(answers))
    if len(answers) >= MIN_QUESTIONS and len(letters) < MIN_ANSWER_LETTERS:
        problems.append(QuizProblem(
            f"the right answers use only {_and(repr(x) for x in letters)}: put the right choice in at least "
            f"{MIN_ANSWER_LETTERS} different places", 0, "answer"))
    return problems


def _lengths(quiz: Quiz, written: list[int]) -> list[QuizProblem]:
    """The right answer is the longest (or the shortest) choice in at most a third of the questions."""
    allowed = len(quiz.questions) // 3
    problems = []
    for extreme, pick in (("longest", max), ("shortest", min)):
        where = [i for i in written if _is_extreme(quiz.questions[i], pick)]
        if len(where) > allowed:
            fix = ("make the wrong choices as long and specific as the answer" if extreme == "longest"
                   else "give the right answer the detail the wrong ones have")
            problems.append(QuizProblem(
                f"the right answer is the {extreme} choice in {len(where)} of {_questions(len(quiz.questions))} "
                f"({_numbers(where)}); at most {allowed} may be, or a learner picks the {extreme} without reading: "
                f"{fix}", where[0], "choices"))
    return problems


def _is_extreme(question: Question, pick: Callable[[list[int]], int]) -> bool:
    """Is the right answer the longest (`max`) or shortest (`min`) choice, alone or tied?"""
    lengths = [len(choice.strip()) for choice in question.choices]
    return lengths[question.answer_index] == pick(lengths)


def explanation_problems(question: Question, index: int) -> list[QuizProblem]:
    wrong = [i for i in range(len(question.choices)) if i != question.answer_index]
    floor = CHARS_PER_WRONG_CHOICE * len(wrong)
    text = question.explanation.strip()
    if len(text) < floor:
        return [QuizProblem(f"question {index + 1}: the explanation has {len(text)} characters; write at least "
                            f"{floor} ({CHARS_PER_WRONG_CHOICE} for each of its {len(wrong)} wrong choices): say why "
                            "the right answer is right and why each wrong choice is wrong", index, "explanation")]
    said = _words(text)
    problems = []
    for i in wrong:
        own = own_words(question, i)
        if own and not any(_same(a, b) for a in own for b in said):
            problems.append(QuizProblem(
                f"question {index + 1}: the explanation does not say why choice {LETTERS[i]} "
                f"(“{_short(question.choices[i])}”) is wrong: it uses none of its words "
                f"({', '.join(sorted(own)[:6])})", index, "explanation"))
    return problems


def own_words(question: Question, choice: int) -> set[str]:
    """The words of a wrong choice that neither the prompt nor the right answer uses: what an explanation of
    why it is wrong would naturally mention. Empty when the choice has none (nothing to look for)."""
    shared = _words(question.prompt) | _words(question.choices[question.answer_index])
    return {w for w in _words(question.choices[choice]) if not any(_same(w, s) for s in shared)}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower())
            if w not in COMMON and (len(w) >= MIN_WORD or (len(w) >= 3 and w.isdigit()))}


def _same(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return long.startswith(short) or (len(short) >= STEM and long[:STEM] == short[:STEM])


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def _questions(count: int) -> str:
    return f"{count} question{'s' * (count != 1)}"


def _numbers(indexes: list[int]) -> str:
    return _and(str(i + 1) for i in indexes)


def _and(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else items[0]
