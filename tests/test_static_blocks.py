"""The static-check building blocks: each passes the right code in any spelling and fails the wrong code
with a diagnosis and a line."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from grader.static import (
    Source,
    all_of,
    argument,
    assignment,
    call_path,
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
    walk,
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
    assert imported(src("from fastapi.params import Depends"), "fastapi.Depends")  # the same in Annotated


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
    assert not found and found.diagnosis == "pattern-mismatch"
    assert "it has `Session` (which is `sqlalchemy.orm.Session`) where `sqlmodel.Session` belongs" in found.message


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
                                      "from sqlmodel import StaticPool", "from sqlmodel.pool import StaticPool",
                                      "from sqlmodel import *"])
def test_a_reexported_name_counts_under_every_import_path(spelling):
    """`sqlmodel.StaticPool` is `sqlalchemy.pool.StaticPool`: one pattern name covers every spelling."""
    assert assignment(src(f"{spelling}\npool = StaticPool\n"), "pool", "sqlalchemy.pool.StaticPool").ok
    assert not assignment(src(f"{spelling}\npool = QueuePool\n"), "pool", "sqlalchemy.pool.StaticPool").ok


def test_argument_is_the_value_passed_by_keyword_or_position():
    call = calls_to(src("create_engine(*extra, url, echo=True)\n"), "create_engine")[0]
    shown = lambda node: None if node is None else node.value  # noqa: E731
    assert shown(argument(call, "url", 0)) == "url" and shown(argument(call, "echo")) == "True"
    assert argument(call, "url") is None and argument(call, "poolclass", 1) is None


# -- equivalent spellings: arguments bound by the callee's parameters, defaults, aliases, helpers ------------
HEAD = "from typing import Annotated\nfrom fastapi import Depends\nfrom sqlmodel import Session\ndef get_session(): yield\n"


@pytest.mark.parametrize("code", [
    "SessionDep = Annotated[Session, Depends(dependency=get_session)]",  # keyword for positional
    "SessionDep = Annotated[Session, Depends(get_session, use_cache=True)]",  # a default written out
    "SessionDep = Annotated[Session, Depends(get_session, scope=None)]",
    "_dep = Depends(get_session)\nSessionDep = Annotated[Session, _dep]",  # a module-level alias
    "S = Session\nSessionDep = Annotated[S, Depends(get_session)]",
    "dependency = get_session\nSessionDep = Annotated[Session, Depends(dependency)]",
    "from fastapi.params import Depends as D\nSessionDep = Annotated[Session, D(get_session)]",  # same meaning
])
def test_a_pattern_matches_equivalent_arguments_and_aliases(code):
    assert assignment(src(HEAD + code), "SessionDep", PATTERN), code


@pytest.mark.parametrize("code, diagnosis, line", [
    ("SessionDep = Annotated[Session, Depends(get_session, use_cache=False)]", "pattern-mismatch", 5),
    ("SessionDep = Annotated[Session, Depends(dependency=get_session())]", "called-not-passed", 5),
    ("_dep = Depends(get_session())\nSessionDep = Annotated[Session, _dep]", "called-not-passed", 5),  # in the alias
])
def test_a_pattern_refuses_what_only_looks_equivalent(code, diagnosis, line):
    found = assignment(src(HEAD + code), "SessionDep", PATTERN)
    assert not found and (found.diagnosis, found.line) == (diagnosis, line), found.message


@pytest.mark.parametrize("code", [
    "engine = create_engine(url='sqlite://')",
    "def _build(url):\n    return create_engine(url)\nengine = _build('sqlite://')",  # through a helper's return
    "def _build():\n    return create_engine('sqlite://')\nprimary = _build()\nengine = primary",
])
def test_a_call_matches_through_keywords_and_helpers(code):
    found = assignment(src("from sqlmodel import create_engine\n" + code), "engine", "sqlalchemy.create_engine('sqlite://')")
    assert found and found.node is not None and "create_engine(" in src_code(found.node)


def src_code(node) -> str:
    import libcst as cst

    return cst.Module(body=[]).code_for_node(node)


def test_a_helper_returning_something_else_does_not_match():
    code = "from sqlmodel import create_engine\ndef _build():\n    return 1\nengine = _build()\n"
    assert not assignment(src(code), "engine", "sqlalchemy.create_engine(...)")


def test_the_learners_own_function_binds_its_arguments_by_its_parameters():
    code = "def get_session(database=None, *, dev=False):\n    return 1\nx = get_session(database='primary')\n"
    assert assignment(src(code), "x", "get_session('primary')")
    assert assignment(src(code.replace("database='primary'", "'primary', dev=False")), "x", "get_session('primary')")
    assert not assignment(src(code.replace("database='primary'", "'primary', dev=True")), "x", "get_session('primary')")


def test_names_that_stand_for_one_value_are_the_same():
    code = "from sqlalchemy.ext.asyncio import create_async_engine\nasync_engine = create_async_engine('x')\n" \
           "engine = async_engine\nother = create_async_engine('y')\n"
    s = src(code + "a = f(async_engine)\nb = f(other)\n")
    assert assignment(s, "a", "f(engine)") and not assignment(s, "b", "f(engine)")


def test_a_local_alias_of_an_attribute_chain_is_the_chain():
    s = src("from sqlmodel import SQLModel\nengine = 1\ndef create():\n    metadata = SQLModel.metadata\n"
            "    metadata.create_all(engine)\n")
    assert called(s, "sqlmodel.SQLModel.metadata.create_all", within="create")


def test_a_name_assigned_twice_in_a_function_is_no_alias():
    s = src("from sqlmodel import SQLModel\ndef create(other):\n    metadata = SQLModel.metadata\n"
            "    metadata = other\n    metadata.create_all(1)\n")
    assert not called(s, "sqlmodel.SQLModel.metadata.create_all", within="create")


# -- messages -------------------------------------------------------------------------------------------------
def test_a_mismatch_reads_in_the_learners_spelling_and_says_the_one_difference():
    found = assignment(src("import typing as t\nimport fastapi\nimport sqlmodel as sm\ndef get_session(): yield\n"
                           "SessionDep = t.Annotated[sm.Session, fastapi.Depends(get_session())]"), "SessionDep", PATTERN)
    assert found.message == ("`SessionDep`: `fastapi.Depends` is given `get_session()`, a call: give it the function "
                             "itself, `get_session`")
    found = assignment(src(HEAD + "SessionDep = Annotated[Session, Depends(get_session, use_cache=False)]"),
                       "SessionDep", PATTERN)
    assert found.message == ("`SessionDep` should be `Annotated[Session, Depends(get_session)]`; "
                             "`Depends(get_session, use_cache=False)` passes `use_cache=False`, which does not belong here")


@pytest.mark.parametrize("code", [
    "from sqlmodel import create_engine\nengine = create_engine()",
    "from sqlmodel import create_engine\nengine = create_engine('x', echo=True)",
    "import sqlmodel\nengine = sqlmodel.create_engine('x', connect_args={})",
    "engine = 1",
])
def test_messages_show_no_pattern_syntax_and_the_pattern_once(code):
    pattern = 'sqlalchemy.create_engine(_, connect_args={"check_same_thread": False})'
    message = assignment(src(code), "engine", pattern).message
    assert not any(p in message for p in ("**_", "(_", "_)", "...", "sqlalchemy."))
    assert message.count('create_engine(url, connect_args={"check_same_thread": False})') <= 1, message


def test_missing_import_points_at_the_import_from_that_module():
    found = imported(src("import os\nfrom sqlmodel import SQLModel\n"), "sqlmodel.Session")
    assert (found.diagnosis, found.line) == ("missing-import", 2)
    assert found.message == "`Session` is not imported: add `Session` to the `from sqlmodel import ...` line"
    assert "line 2" not in found.message  # the report shows the location once, as the finding's line


def test_suggested_code_in_an_async_function_uses_async_with():
    s = src("from sqlmodel.ext.asyncio.session import AsyncSession\nengine = 1\nasync def get_session():\n"
            "    session = AsyncSession(engine)\n    yield session\n")
    found = yields_inside(s, "get_session", "sqlmodel.ext.asyncio.session.AsyncSession(engine, ...)")
    assert found.diagnosis == "never-closed" and "`async with AsyncSession(engine) as session:`" in found.message


# -- openers in every spelling ------------------------------------------------------------------------------
GENERATOR = "from sqlmodel import Session\nengine = None\n"


@pytest.mark.parametrize("code", [
    "import contextlib\ndef get_session():\n    with contextlib.closing(Session(engine)) as s:\n        yield s",
    "from contextlib import ExitStack\ndef get_session():\n    with ExitStack() as stack:\n"
    "        s = stack.enter_context(Session(engine))\n        yield s",
    "def get_session():\n    s = Session(bind=engine, autoflush=True)\n    with s:\n        yield s",
    "def get_session():\n    built = Session(engine)\n    with built as s:\n        yield s\n    return",
    "def _sessions(bind):\n    with Session(bind) as s:\n        yield s\ndef get_session():\n"
    "    yield from _sessions(engine)",
    "from contextlib import contextmanager\n@contextmanager\ndef scope():\n    with Session(engine) as s:\n"
    "        yield s\ndef get_session():\n    with scope() as s:\n        yield s",
    "from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker(bind=engine, class_=Session)\n"
    "def get_session():\n    with SessionLocal() as s:\n        yield s",
    "from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker(engine, class_=Session)\n"
    "def get_session():\n    s = SessionLocal()\n    try:\n        yield s\n    finally:\n        s.close()",
])
def test_yields_inside_accepts_every_way_of_opening_and_closing(code):
    s = src(GENERATOR + code)
    found = yields_inside(s, "get_session", OPEN)
    assert found and found.node is not None, found.message


ASYNC_OPEN = ("sqlmodel.ext.asyncio.session.AsyncSession(engine, ...)",)


@pytest.mark.parametrize("code", [
    "import contextlib\nasync def get_session():\n    async with contextlib.aclosing(AsyncSession(engine)) as s:\n"
    "        yield s",
    "from contextlib import AsyncExitStack\nasync def get_session():\n    async with AsyncExitStack() as stack:\n"
    "        s = await stack.enter_async_context(AsyncSession(engine))\n        yield s",
    "from sqlalchemy.ext.asyncio import async_sessionmaker\nfactory = async_sessionmaker(engine, class_=AsyncSession)\n"
    "async def get_session():\n    session = factory()\n    async with session:\n        yield session",
])
def test_yields_inside_accepts_async_openers(code):
    s = src("from sqlmodel.ext.asyncio.session import AsyncSession\nengine = None\n" + code)
    assert yields_inside(s, "get_session", ASYNC_OPEN).node is not None


@pytest.mark.parametrize("code, diagnosis, line", [
    ("session = Session(engine)\ndef get_session():\n    yield session", "not-opened", 4),
    ("_cache = []\ndef get_session():\n    if not _cache:\n        _cache.append(Session(engine))\n"
     "    with _cache[0] as session:\n        yield session", "not-opened", 4),
    ("from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker(bind=other, class_=Session)\n"
     "def get_session():\n    with SessionLocal() as s:\n        yield s", "opener-mismatch", 7),
    ("from contextlib import contextmanager\n@contextmanager\ndef scope():\n    with Session(engine) as s:\n"
     "        yield s\ndef get_session():\n    with scope() as s:\n        pass\n    yield s", "yield-outside-with", 12),
    ("from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker(bind=engine, class_=Session)\n"
     "def get_session():\n    with SessionLocal as s:\n        yield s", "factory-not-called", 7),
    ("from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker(bind=engine, class_=Session)\n"
     "def get_session():\n    s = SessionLocal\n    try:\n        yield s\n    finally:\n        s.close()",
     "factory-not-called", 7),
])
def test_yields_inside_fails_on_positive_evidence_in_any_spelling(code, diagnosis, line):
    s = src("from sqlmodel import Session\nengine = None\nother = None\n" + code)
    found = yields_inside(s, "get_session", OPEN)
    assert not found and (found.diagnosis, found.line) == (diagnosis, line), found.message


# -- calls through helpers ----------------------------------------------------------------------------------
def test_calls_made_by_helpers_count_and_call_path_says_how():
    s = src("""
        from sqlmodel import SQLModel
        def create_db_and_tables():
            SQLModel.metadata.create_all(1)
        def init_db():
            create_db_and_tables()
        def lifespan():
            init_db()
            yield
        def unrelated():
            pass
    """)
    target = "sqlmodel.SQLModel.metadata.create_all"
    assert called(s, target, within="lifespan") and not called(s, target, within="unrelated")
    [call] = calls_to(s, target, within="lifespan")
    assert [s.line(c) for c in call_path(s, call, "lifespan")] == [8, 6, 4]


def test_recursive_helpers_are_followed_once():
    s = src("def a():\n    b()\ndef b():\n    a()\n    target()\n")
    assert [s.line(c) for c in calls_to(s, "target", within="a")] == [5]


def test_a_function_named_but_not_called_is_pointed_at():
    s = src("def create_db_and_tables():\n    pass\ndef lifespan():\n    create_db_and_tables\n    yield\n")
    found = called(s, "create_db_and_tables", within="lifespan")
    assert (found.diagnosis, found.line) == ("not-called", 4) and "`create_db_and_tables()`" in found.message


@pytest.mark.parametrize("code, pattern", [
    ("from sqlmodel import Session\nx = Session(bind=engine)", "sqlmodel.Session(engine)"),
    ("from sqlmodel import Session\nx = Session(engine)", "sqlmodel.Session(bind=engine)"),
    ("from sqlalchemy.orm import sessionmaker\nx = sessionmaker(bind=engine, class_=S)", "sqlalchemy.orm.sessionmaker(engine, **_)"),
    ("from sqlalchemy.ext.asyncio import create_async_engine\nx = create_async_engine(url='u')",
     "sqlalchemy.ext.asyncio.create_async_engine('u')"),
])
def test_keyword_and_positional_arguments_are_one_spelling(code, pattern):
    assert assignment(src("engine = 1\n" + code), "x", pattern), code


def test_a_call_missing_from_a_function_is_pointed_at_what_it_returns_instead():
    s = src('''
        from sqlmodel import create_engine

        engine = create_engine("sqlite://")


        def get_memory_engine():
            """Build a fresh engine."""
            return engine


        def make_tables():
            """Nothing returned: the def is the place."""
            print("no tables")
    ''')
    returned = called(s, "sqlmodel.create_engine", within="get_memory_engine")
    assert (returned.ok, returned.diagnosis, returned.line) == (False, "not-called", 9)
    nothing = called(s, "sqlmodel.create_engine", within="make_tables")
    assert (nothing.ok, nothing.line) == (False, 12)


@pytest.mark.parametrize("change", ['options["check_same_thread"] = False', "options.update(check_same_thread=False)",
                                    'options |= {"check_same_thread": False}'])
def test_a_container_changed_in_place_has_no_value_to_read(change):
    from grader.static.assignments import alias_value

    s = src(f"options = {{}}\n{change}\nengine = create_engine('sqlite://', connect_args=options)\n")
    used = next(n for n in walk(s.module) if isinstance(n, cst.Arg) and n.keyword and n.keyword.value == "connect_args")
    assert alias_value(s, used.value) is None  # not `{}`: what the file put in it is for the behavioural checks


def test_a_container_left_alone_is_read_through_its_name():
    from grader.static.assignments import alias_value

    s = src("options = {}\nengine = create_engine('sqlite://', connect_args=options)\n")
    used = next(n for n in walk(s.module) if isinstance(n, cst.Arg) and n.keyword and n.keyword.value == "connect_args")
    assert isinstance(alias_value(s, used.value), cst.Dict)


def test_an_alias_of_an_object_changed_in_place_is_still_that_object():
    from grader.static.assignments import alias_value

    s = src("def client():\n    overrides = app.dependency_overrides\n    overrides[get_session] = fake\n")
    name = next(n for n in walk(s.module) if isinstance(n, cst.Subscript)).value
    assert s.code(alias_value(s, name)) == "app.dependency_overrides"
