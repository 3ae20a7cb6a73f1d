"""The static-check building blocks: each passes the right code in any spelling and fails the wrong code
with a diagnosis and a line."""

from __future__ import annotations

import textwrap

import pytest

from grader.static import (
    Source,
    all_of,
    argument,
    assignment,
    called,
    calls_to,
    defined_after,
    enclosing_function,
    function,
    imported,
    is_async,
    is_generator,
    matches,
    not_called,
    yields_inside,
)


def src(code: str) -> Source:
    return Source.from_text(textwrap.dedent(code), "database.py")


def fn(source: Source, name: str = "get_session"):
    return function(source, name).node


# -- imported ---------------------------------------------------------------------------
@pytest.mark.parametrize("code", [
    "from sqlmodel import Session",
    "from sqlmodel import Session as S",
    "import sqlmodel",
    "import sqlmodel as sm",
    "from sqlmodel import *",
    "from sqlmodel.orm.session import Session",
    "from sqlmodel import (\n    SQLModel,\n    Session,\n)",
])
def test_imported_accepts_every_spelling(code):
    assert imported(src(code), "sqlmodel.Session")


def test_imported_names_the_wrong_module():
    found = imported(src("import os\nfrom sqlalchemy.orm import Session\n"), "sqlmodel.Session")
    assert not found and found.diagnosis == "imported-from-elsewhere" and found.line == 2
    assert "sqlalchemy.orm" in found.message and "from sqlmodel import Session" in found.message


def test_imported_sees_a_later_import_shadowing_the_right_one():
    found = imported(src("from sqlmodel import Session\nfrom sqlalchemy.orm import Session\n"), "sqlmodel.Session")
    assert not found and found.diagnosis == "imported-from-elsewhere"


def test_imported_reports_a_missing_import():
    found = imported(src("import typing\n"), "fastapi.Depends")
    assert not found and found.diagnosis == "missing-import" and "from fastapi import Depends" in found.message


def test_imported_ignores_imports_inside_functions():
    assert not imported(src("def f():\n    from fastapi import Depends\n"), "fastapi.Depends")


def test_imported_accepts_known_reexports():
    assert imported(src("from typing_extensions import Annotated"), "typing.Annotated")


# -- function / is_generator / is_async ------------------------------------------------
def test_function_finds_a_module_level_def():
    found = function(src("x = 1\n\ndef get_session():\n    pass\n"), "get_session")
    assert found and found.line == 3


def test_function_inside_another_function_is_not_module_level():
    found = function(src("def outer():\n    def get_session():\n        pass\n"), "get_session")
    assert not found and found.diagnosis == "not-module-level" and "inside `outer`" in found.message


def test_function_suggests_a_close_spelling():
    found = function(src("def get_sesion():\n    pass\n"), "get_session")
    assert not found and found.diagnosis == "misnamed" and "get_sesion" in found.message and found.line == 1


def test_function_missing():
    found = function(src("def other():\n    pass\n"), "get_session")
    assert not found and found.diagnosis == "missing"


def test_is_generator():
    s = src("def get_session():\n    yield 1\n")
    assert is_generator(s, fn(s))


def test_is_generator_flags_return_instead_of_yield():
    s = src("def get_session():\n    x = 1\n    return x\n")
    found = is_generator(s, fn(s))
    assert not found and found.diagnosis == "return-not-yield" and found.line == 3


def test_is_generator_ignores_yields_of_nested_functions():
    s = src("def get_session():\n    def inner():\n        yield 1\n    return inner\n")
    assert not is_generator(s, fn(s))


def test_is_async():
    s = src("async def get_session():\n    yield 1\n")
    assert is_async(s, fn(s))
    s = src("def get_session():\n    yield 1\n")
    found = is_async(s, fn(s))
    assert not found and found.diagnosis == "not-async"


# -- yields_inside -------------------------------------------------------------------------
OPEN = ("sqlmodel.Session(engine, ...)", "sqlmodel.Session(bind=engine, **_)")


@pytest.mark.parametrize("body", [
    "with Session(engine) as session:\n        yield session",
    "with Session(engine, expire_on_commit=False) as db:\n        yield db",
    "with Session(bind=engine) as s:\n        yield s",
    "with open('x') as f, Session(engine) as s:\n        yield s",
    "session = Session(engine)\n    try:\n        yield session\n    finally:\n        session.close()",
    "with Session(engine) as s:\n        if True:\n            yield s",
])
def test_yields_inside_accepts_equivalent_code(body):
    s = src(f"from sqlmodel import Session\nengine = None\ndef get_session():\n    {body}\n")
    assert yields_inside(s, fn(s), OPEN)


def test_yields_inside_works_through_a_module_import():
    s = src("import sqlmodel\nengine = None\ndef get_session():\n    with sqlmodel.Session(engine) as s:\n        yield s\n")
    assert yields_inside(s, fn(s), OPEN)


@pytest.mark.parametrize("body, diagnosis, line", [
    ("with Session(engine) as session:\n        pass\n    yield session", "yield-outside-with", 6),
    ("with Session(engine) as session:\n        yield engine", "yields-other-name", 5),
    ("session = Session(engine)\n    yield session\n    session.close()", "close-without-finally", 6),
    ("session = Session(engine)\n    yield session", "never-closed", 4),
    ("yield Session(engine)", "never-closed", 4),
    ("with Session(other) as s:\n        yield s", "opener-mismatch", 4),
    ("return Session(engine)", "return-not-yield", 4),
    ("pass", "no-yield", 3),
])
def test_yields_inside_diagnoses_mistakes(body, diagnosis, line):
    s = src(f"from sqlmodel import Session\nengine = None; other = None\ndef get_session():\n    {body}\n")
    found = yields_inside(s, fn(s), OPEN)
    assert not found and (found.diagnosis, found.line) == (diagnosis, line), found.message


def test_yields_inside_leaves_a_shape_it_does_not_read_to_the_behavioural_checks():
    """`yield 1` used to fail as `not-opened`: no positive evidence of a known mistake, so it passes now."""
    s = src("from sqlmodel import Session\nengine = None\ndef get_session():\n    yield 1\n")
    found = yields_inside(s, fn(s), OPEN)
    assert found and found.node is None and "behavioural checks" in found.message


def test_yields_inside_says_which_session_class_it_really_is():
    s = src("from sqlalchemy.orm import Session\nengine = None\n"
            "def get_session():\n    with Session(engine) as s:\n        yield s\n")
    found = yields_inside(s, fn(s), OPEN)
    assert not found and found.diagnosis == "opener-mismatch" and "sqlalchemy.orm.Session" in found.message


# -- patterns and assignments ----------------------------------------------------------
PATTERN = "typing.Annotated[sqlmodel.Session, fastapi.Depends(get_session)]"


@pytest.mark.parametrize("code", [
    "from typing import Annotated\nfrom fastapi import Depends\nfrom sqlmodel import Session\n"
    "def get_session(): yield\nSessionDep = Annotated[Session, Depends(get_session)]",
    "import typing, fastapi, sqlmodel\ndef get_session(): yield\n"
    "SessionDep = typing.Annotated[sqlmodel.Session, fastapi.Depends(get_session)]",
    "from typing import Annotated as A, TypeAlias\nfrom fastapi import Depends as D\nfrom sqlmodel import Session as S\n"
    "def get_session(): yield\nSessionDep: TypeAlias = A[S, D(get_session)]",
    "from typing import Annotated\nfrom fastapi import Depends\nfrom sqlmodel import Session\n"
    "def get_session(): yield\nSessionDep = Annotated[\n    Session,\n    Depends(  get_session  ),\n]",
])
def test_assignment_matches_any_spelling(code):
    assert assignment(src(code), "SessionDep", PATTERN)


def test_assignment_diagnoses_a_call_where_a_function_is_wanted():
    found = assignment(src("from typing import Annotated\nfrom fastapi import Depends\nfrom sqlmodel import Session\n"
                           "def get_session(): yield\nSessionDep = Annotated[Session, Depends(get_session())]"),
                       "SessionDep", PATTERN)
    assert not found and found.diagnosis == "called-not-passed" and found.line == 5


def test_assignment_reports_the_first_difference():
    found = assignment(src("from typing import Annotated\nfrom fastapi import Depends\nfrom sqlalchemy.orm import Session\n"
                           "def get_session(): yield\nSessionDep = Annotated[Session, Depends(get_session)]"),
                       "SessionDep", PATTERN)
    assert not found and found.diagnosis == "pattern-mismatch" and "sqlalchemy.orm.Session" in found.message


@pytest.mark.parametrize("code, diagnosis", [
    ("def f():\n    SessionDep = 1\n", "not-module-level"),
    ("SesionDep = 1\n", "misnamed"),
    ("x = 1\n", "missing"),
])
def test_assignment_not_found(code, diagnosis):
    found = assignment(src(code), "SessionDep")
    assert not found and found.diagnosis == diagnosis


def test_matches_wildcards_and_open_argument_lists():
    s = src("from sqlmodel import Session\nx = Session(engine, autoflush=False)\n")
    node = s.module.body[1].body[0].value
    assert matches(s, node, "sqlmodel.Session(_, ...)")
    assert matches(s, node, "sqlmodel.Session(engine, **_)")
    assert not matches(s, node, "sqlmodel.Session(engine)")
    assert not matches(s, node, "sqlmodel.Session(other, ...)")


def test_matches_compares_literals_by_value():
    s = src("x = {'check_same_thread': False}\n")
    node = s.module.body[0].body[0].value
    assert matches(s, node, '{"check_same_thread": False}')
    assert not matches(s, node, '{"check_same_thread": True}')


def test_defined_after():
    assert defined_after(src("def get_session(): yield\nSessionDep = 1\n"), "SessionDep", "get_session")
    found = defined_after(src("SessionDep = 1\ndef get_session(): yield\n"), "SessionDep", "get_session")
    assert not found and found.diagnosis == "defined-too-early" and found.line == 1


# -- calls -----------------------------------------------------------------------------------
def test_called_and_not_called_within_functions():
    s = src("import sqlmodel\nfrom sqlmodel import Session as S\n"
            "def a():\n    return S(1)\ndef b():\n    return 2\n")
    a, b = function(s, "a").node, function(s, "b").node
    assert called(s, "sqlmodel.Session", within=a)
    assert not called(s, "sqlmodel.Session", within=b)
    assert not_called(s, "sqlmodel.Session", within=b)
    found = not_called(s, "sqlmodel.Session", within=[a, b])
    assert not found and found.diagnosis == "forbidden-call" and found.line == 4 and "in `a`" in found.message


# -- combinators -----------------------------------------------------------------------------
def test_all_of_joins_failures_and_keeps_the_first_line():
    s = src("import os\n")
    found = all_of(imported(s, "typing.Annotated"), imported(s, "os.path"), imported(s, "fastapi.Depends"))
    assert not found and found.message.count("\n") == 1 and found.diagnosis == "missing-import"


def test_otherwise_replaces_only_failure_messages():
    s = src("import os\n")
    assert imported(s, "os.path").otherwise("never shown").message != "never shown"
    custom = imported(s, "fastapi.Depends").otherwise("Depends please ({message})", diagnosis="x")
    assert custom.message.startswith("Depends please (") and custom.diagnosis == "x"


def test_enclosing_function_is_the_innermost_def_or_none_at_module_level():
    s = src("""
        x = f()
        def outer():
            def inner():
                return g()
            return h()
    """)
    f, g, h = (calls_to(s, name)[0] for name in ("f", "g", "h"))
    assert enclosing_function(s, f) is None
    assert enclosing_function(s, g).name.value == "inner" and enclosing_function(s, h).name.value == "outer"


@pytest.mark.parametrize("spelling", ["from sqlalchemy.pool import StaticPool", "from sqlalchemy import StaticPool",
                                      "from sqlmodel import StaticPool", "from sqlmodel import *"])
def test_a_reexported_name_counts_under_every_import_path(spelling):
    """`sqlmodel.StaticPool` is `sqlalchemy.pool.StaticPool`: one pattern name covers every spelling."""
    assert assignment(src(f"{spelling}\npool = StaticPool\n"), "pool", "sqlalchemy.pool.StaticPool").ok
    assert not assignment(src(f"{spelling}\npool = QueuePool\n"), "pool", "sqlalchemy.pool.StaticPool").ok


def test_argument_is_the_value_passed_by_keyword_or_position():
    call = calls_to(src("create_engine(*extra, url, echo=True)\n"), "create_engine")[0]
    shown = lambda node: None if node is None else node.value  # noqa: E731
    assert shown(argument(call, "url", 0)) == "url" and shown(argument(call, "echo")) == "True"
    assert argument(call, "url") is None and argument(call, "poolclass", 1) is None
