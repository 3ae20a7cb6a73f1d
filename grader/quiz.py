"""The practice quiz file (`chapters/chapter-N/quiz.toml`): format and loading.

    [[questions]]
    prompt = "What does Depends(get_session) give the endpoint?"
    choices = ["The function", "What it yields", "A generator object"]
    answer = "b"
    explanation = "FastAPI calls get_session and passes what it yields."
"""

from __future__ import annotations

import string
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.content import ContentError, parse_toml
from grader.manifest import explain_validation


LETTERS = string.ascii_lowercase


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(min_length=1)
    choices: tuple[str, ...] = Field(min_length=2, max_length=8)
    answer: str = Field(pattern=r"^[a-h]$")
    """The letter of the one right choice."""
    explanation: str = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        if LETTERS.index(self.answer) >= len(self.choices):
            raise ValueError(f"answer {self.answer!r} is not one of the {len(self.choices)} choices")
        if len({c.strip().lower() for c in self.choices}) != len(self.choices):
            raise ValueError("two choices have the same text")
        if any(not c.strip() for c in self.choices):
            raise ValueError("a choice is empty")
        return self

    @property
    def answer_index(self) -> int:
        return LETTERS.index(self.answer)


class Quiz(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: tuple[Question, ...] = Field(min_length=1)


def load_quiz(path: Path) -> Quiz:
    if not path.is_file():
        raise ContentError("there is no quiz file", path)
    data = parse_toml(path.read_text(encoding="utf-8"), path)
    try:
        return Quiz(**data)
    except ValidationError as exc:
        raise ContentError(f"invalid quiz: {explain_validation(exc)}", path) from None
