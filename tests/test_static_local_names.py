"""A function's own name spelled like the module-level name a pattern wants is told as such, not as
"it has `engine` where `engine` belongs"."""

from __future__ import annotations

import textwrap

import pytest

from grader.static import Source, calls_to, matches

CREATE_ALL = "sqlmodel.SQLModel.metadata.create_all(engine, **_)"


def first_create_all(code: str):
    src = Source.from_text(textwrap.dedent(code), "database.py")
    return src, calls_to(src, "sqlmodel.SQLModel.metadata.create_all")[0]


@pytest.mark.parametrize(("body", "kind"), [
    ("def create_db_and_tables():\n    engine = create_engine(url)\n    SQLModel.metadata.create_all(engine)\n",
     "a local variable"),
    ("def create_db_and_tables(engine):\n    SQLModel.metadata.create_all(engine)\n", "a parameter"),
])
def test_a_local_engine_is_named_as_local_where_the_module_level_one_is_wanted(body, kind):
    src, call = first_create_all("from sqlmodel import SQLModel, create_engine\nurl = 'sqlite://'\n" + body)
    found = matches(src, call, CREATE_ALL, what="the create_all call")
    assert not found and found.diagnosis == "pattern-mismatch" and found.line == src.line(call)
    assert found.message == ("the create_all call should be `SQLModel.metadata.create_all(engine)`; `engine` there is "
                             f"{kind} of `create_db_and_tables`, not the module-level `engine` of database.py")


def test_the_module_level_engine_still_matches():
    src, call = first_create_all("from sqlmodel import SQLModel, create_engine\nengine = create_engine('sqlite://')\n"
                                 "def create_db_and_tables():\n    SQLModel.metadata.create_all(engine)\n")
    assert matches(src, call, CREATE_ALL)
