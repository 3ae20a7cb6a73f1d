"""The quiz rule of `course check` (course/quiz_rules.py): for each part, a quiz that follows it and one that
breaks it, built as quiz files in tmp_path; then the rule as `course check` reports it, and the course's own
quizzes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT
from course.content_check import PLACEHOLDER, Inspection
from course.quiz_rules import MIN_QUESTIONS, explanation_problems, own_words, quiz_problems
from grader.quiz import Question, load_quiz

WHY = ("It returns an engine, made once per process. The engine owns a pool and lends its connections, but it is "
       "not the pool itself; a cursor over a result comes from running a query; a log of every statement is what "
       "echo=True prints.")
"""An explanation that answers every wrong choice of the questions below (pool, cursor, log)."""


def question(answer: str, choices: list[str], explanation: str = WHY) -> dict:
    return {"prompt": "What does `create_engine` return?", "choices": choices, "answer": answer,
            "explanation": explanation}


def write_quiz(folder: Path, questions: list[dict]) -> Path:
    """quiz.toml for `questions`, one TOML table per question."""
    blocks = []
    for q in questions:
        choices = ",\n".join(f"    {json.dumps(c)}" for c in q["choices"])
        blocks.append(f'[[questions]]\nprompt = {json.dumps(q["prompt"])}\nchoices = [\n{choices},\n]\n'
                      f'answer = "{q["answer"]}"\nexplanation = {json.dumps(q["explanation"])}\n')
    path = folder / "quiz.toml"
    path.write_text("\n".join(blocks))
    return path


def problems_of(tmp_path: Path, questions: list[dict]) -> list[str]:
    return [p.message for p in quiz_problems(load_quiz(write_quiz(tmp_path, questions)), PLACEHOLDER)]


LONG = ["An engine: one pool of connections for its database", "A cursor", "A log", "A pool"]
SHORT = ["An engine", "A cursor over one result set", "A log of every statement", "A pool that lends connections"]
MIDDLE = ["An engine for the URL", "A cursor", "A log of every SQL statement", "A pool"]
"""Choices whose first is right: the longest, the shortest, neither."""


def placed(choices: list[str], answer: str) -> dict:
    """The question with the right choice (the first of `choices`) at `answer`'s place."""
    right, *rest = choices
    at = "abcd".index(answer)
    return question(answer, [*rest[:at], right, *rest[at:]])


def balanced() -> list[dict]:
    """Six questions whose right answer is the longest in two, the shortest in two, neither in two; at a, b, c,
    d, a, c."""
    return [placed(LONG, "a"), placed(LONG, "b"), placed(SHORT, "c"), placed(SHORT, "d"), placed(MIDDLE, "a"),
            placed(MIDDLE, "c")]


# -- each part of the rule: a quiz that follows it, one that breaks it ----------------------------------------------
def test_a_balanced_quiz_follows_every_part_of_the_rule(tmp_path):
    assert problems_of(tmp_path, balanced()) == []


def test_at_least_six_questions(tmp_path):
    assert MIN_QUESTIONS == 6
    five = [placed(LONG, "a"), placed(SHORT, "b"), placed(MIDDLE, "c"), placed(MIDDLE, "d"), placed(MIDDLE, "a")]
    assert problems_of(tmp_path, five) == ["the quiz has 5 questions; write at least 6, one per idea of the lesson a "
                                           "learner could get wrong"]
    assert problems_of(tmp_path, [*five, placed(MIDDLE, "b")]) == []


def test_the_right_answer_is_the_longest_choice_in_at_most_a_third(tmp_path):
    quiz = balanced()
    quiz[4] = placed(LONG, "d")  # longest: 3 of 6
    assert problems_of(tmp_path, quiz) == [
        "the right answer is the longest choice in 3 of 6 questions (1, 2 and 5); at most 2 may be, or a learner "
        "picks the longest without reading: make the wrong choices as long and specific as the answer"]


def test_a_tie_for_longest_counts_as_longest(tmp_path):
    quiz = balanced()
    quiz[4] = placed(["An engine per URL", "A cursor of rows", "A log of each SQL", "A pool"], "a")
    assert len("An engine per URL") == len("A log of each SQL")
    assert problems_of(tmp_path, quiz)[0].startswith("the right answer is the longest choice in 3 of 6 questions "
                                                     "(1, 2 and 5)")


def test_the_right_answer_is_the_shortest_choice_in_at_most_a_third(tmp_path):
    quiz = balanced()
    quiz[5] = placed(SHORT, "b")
    assert problems_of(tmp_path, quiz) == [
        "the right answer is the shortest choice in 3 of 6 questions (3, 4 and 6); at most 2 may be, or a learner "
        "picks the shortest without reading: give the right answer the detail the wrong ones have"]


def test_length_is_counted_in_characters_without_surrounding_spaces(tmp_path):
    quiz = balanced()
    quiz[4] = placed(["An engine for the URL" + " " * 20, "A cursor", "A log of every SQL statement", "A pool"], "a")
    assert problems_of(tmp_path, quiz) == []  # 21 characters, not 41: not the longest
    quiz[4] = placed(["An engine for the URL!!!!!!!!", "A cursor", "A log of every SQL statement", "A pool"], "a")
    assert problems_of(tmp_path, quiz)[0].startswith("the right answer is the longest choice in 3 of 6")


def test_no_letter_is_the_right_answer_in_more_than_half(tmp_path):
    quiz = balanced()
    quiz[0], quiz[2] = placed(LONG, "d"), placed(SHORT, "d")
    assert [q["answer"] for q in quiz] == list("dbddac")
    assert problems_of(tmp_path, quiz) == []  # 'd' in 3 of 6: half is allowed
    quiz[4] = placed(MIDDLE, "d")
    assert problems_of(tmp_path, quiz) == [
        "'d' is the right answer in 4 of 6 questions (1, 3, 4 and 5); at most half may share a letter, or a learner "
        "scores by always answering 'd': move the right choice in some of them"]


def test_the_right_answers_use_at_least_three_letters(tmp_path):
    quiz = [placed(choices, letter) for choices, letter in zip([LONG, LONG, SHORT, SHORT, MIDDLE, MIDDLE], "ababab")]
    assert problems_of(tmp_path, quiz) == ["the right answers use only 'a' and 'b': put the right choice in at least 3 "
                                           "different places"]
    quiz[5] = placed(MIDDLE, "c")
    assert problems_of(tmp_path, quiz) == []


def test_an_explanation_has_a_floor_of_characters_per_wrong_choice(tmp_path):
    quiz = balanced()
    quiz[2] = quiz[2] | {"explanation": "A pool, a cursor and a log are not engines."}
    assert problems_of(tmp_path, quiz) == [
        "question 3: the explanation has 43 characters; write at least 150 (50 for each of its 3 wrong choices): "
        "say why the right answer is right and why each wrong choice is wrong"]


def test_an_explanation_answers_each_wrong_choice_in_its_own_words(tmp_path):
    quiz = balanced()
    quiz[2] = quiz[2] | {"explanation": WHY.replace("a cursor over a result comes from running a query; ", "")}
    assert problems_of(tmp_path, quiz) == [
        "question 3: the explanation does not say why choice a (“A cursor over one result set”) is wrong: it uses "
        "none of its words (cursor, result)"]


def test_a_choices_own_words_are_those_the_prompt_and_the_answer_do_not_use():
    q = Question(**question("a", ["A pool of connections", "Connections, pooled and counted", "A log", "An engine"]))
    assert own_words(q, 1) == {"counted"}  # connections and pooled are the answer's words: they say nothing
    assert own_words(q, 3) == {"engine"}
    assert own_words(q, 2) == set()  # no word of four letters: nothing to look for, nothing required


def test_words_match_on_their_stem():
    """`commits` answers `committed`, `close` answers `closes`: an explanation need not repeat the very word."""
    q = Question(prompt="When does the dependency save the work?", answer="a", choices=[
        "After the endpoint returns", "It is committed by the endpoint", "The session closes and saves it"],
        explanation="It commits after the endpoint returns: an endpoint that commits breaks the rollback, and "
                    "a session that you close saves nothing, it rolls back whatever was not committed.")
    assert explanation_problems(q, 0) == []


def test_questions_still_holding_the_placeholder_are_left_to_the_placeholders_rule(tmp_path):
    quiz = balanced()
    quiz[2] = quiz[2] | {"explanation": f"{PLACEHOLDER}: why"}
    assert problems_of(tmp_path, quiz) == []


# -- as `course check` reports it -----------------------------------------------------------------------------------
def test_course_check_names_the_chapter_file_and_question_line(tmp_path):
    folder = tmp_path / "chapters" / "chapter-1"
    folder.mkdir(parents=True)
    quiz = balanced()
    quiz[2] = quiz[2] | {"explanation": WHY.replace("a cursor over a result comes from running a query; ", "")}
    quiz[4] = placed(LONG, "d")
    path = write_quiz(folder, quiz)
    found = Inspection.of(tmp_path, "chapter-1").results["quiz"]
    lines = path.read_text().splitlines()
    third = [n for n, line in enumerate(lines, start=1) if line.startswith("explanation")][2]
    first_choices = next(n for n, line in enumerate(lines, start=1) if line.startswith("choices"))
    assert found.status == "problem"
    assert [f"{p.where()}: {p.message}" for p in found.problems] == [
        f"chapters/chapter-1/quiz.toml:{first_choices}: the right answer is the longest choice in 3 of 6 questions "
        "(1, 2 and 5); at most 2 may be, or a learner picks the longest without reading: make the wrong choices as "
        "long and specific as the answer",
        f"chapters/chapter-1/quiz.toml:{third}: question 3: the explanation does not say why choice a (“A cursor "
        "over one result set”) is wrong: it uses none of its words (cursor, result)"]


@pytest.mark.parametrize("chapter", [f"chapter-{n}" for n in range(1, 8)])
def test_the_courses_quizzes_follow_the_rule(chapter):
    assert [p.message for p in quiz_problems(load_quiz(ROOT / "chapters" / chapter / "quiz.toml"), PLACEHOLDER)] == []
