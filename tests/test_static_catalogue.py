"""Every building block of `grader.static`, as an author meets it: right code passes in every spelling,
wrong code fails with a diagnosis and a line, and the default message can be replaced."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst
import pytest

from grader.static import (
    LINE,
    MESSAGE,
    Finding,
    Source,
    all_of,
    assignment,
    called,
    calls_method,
    calls_to,
    defined_after,
    endpoint,
    function,
    held,
    imported,
    in_finally,
    in_loop,
    in_with,
    is_async,
    is_generator,
    matches,
    not_called,
    outside_finally,
    outside_loop,
    parameter,
    walk,
    yields_inside,
)


def src(code: str) -> Source:
    return Source.from_text(textwrap.dedent(code).strip() + "\n", "database.py")


def value_of(source: Source, name: str):
    """The value of the module-level assignment to `name`."""
    return assignment(source, name).node


def the_call(source: Source, name: str = "create"):
    """The first call of `name()` (or of `x.name()` for a dotted `x.name`) in the file: the node the place
    blocks examine."""
    if "." in name:
        return next(n for n in walk(source.module) if isinstance(n, cst.Call) and source.code(n.func) == name)
    return calls_to(source, name)[0]


@dataclass
class Block:
    name: str
    run: Callable[[Source], Finding]
    passing: list[str]
    """Right code, in several spellings (imports, aliases, formatting)."""
    failing: list[tuple[str, str, int]]
    """(wrong code, diagnosis, line of the finding)."""


OPEN = ("sqlmodel.Session(engine, ...)", "sqlmodel.Session(bind=engine, **_)")
SESSION_DEP = "typing.Annotated[sqlmodel.Session, fastapi.Depends(get_session)]"
ENGINE = 'sqlmodel.create_engine(_, connect_args={"check_same_thread": False})'

BLOCKS = [
    Block("imported", lambda s: imported(s, "sqlmodel.Session"), [
        "from sqlmodel import Session",
        "from sqlmodel import Session as S",
        "import sqlmodel",
        "import sqlmodel as sm",
        "from sqlmodel import *",
        "from sqlmodel.orm.session import Session",
        "from sqlmodel import (\n    SQLModel,\n    Session,\n)",
        "try:\n    from sqlmodel import Session\nexcept ImportError:\n    raise",
    ], [
        ("import os\nfrom sqlalchemy.orm import Session", "imported-from-elsewhere", 2),
        ("from sqlalchemy.orm import Session as Session", "imported-from-elsewhere", 1),
        ("from sqlmodel import *\nfrom sqlalchemy.orm import Session", "imported-from-elsewhere", 2),
        ("import sqlmodel\nfrom sqlalchemy.orm import Session", "imported-from-elsewhere", 2),
        ("import os\n\n\ndef f():\n    from sqlmodel import Session", "missing-import", 1),
    ]),
    Block("imported (a re-export)", lambda s: imported(s, "typing.Annotated"), [
        "from typing import Annotated",
        "from typing_extensions import Annotated",
        "import typing_extensions",
        "from typing_extensions import *",
        "import typing as t",
    ], [
        ("from typing import Optional", "missing-import", 1),
    ]),
    Block("function", lambda s: function(s, "get_session"), [
        "def get_session():\n    pass",
        "async def get_session():\n    yield 1",
        "import functools\n\n\n@functools.cache\ndef get_session():\n    pass",
        "if True:\n    def get_session():\n        pass",
    ], [
        ("def outer():\n    def get_session():\n        pass", "not-module-level", 2),
        ("class Db:\n    def get_session(self):\n        pass", "not-module-level", 2),
        ("def get_sesion():\n    pass", "misnamed", 1),
        ("x = 1\n\n\ndef other():\n    pass", "missing", 5),
    ]),
    Block("is_generator", lambda s: is_generator(s, "get_session"), [
        "def get_session():\n    yield 1",
        "def get_session():\n    yield from range(3)",
        "async def get_session():\n    yield 1",
        "def get_session():\n    with open('x') as f:\n        x = yield f",
    ], [
        ("def get_session():\n    x = 1\n    return x", "return-not-yield", 3),
        ("def get_session():\n    def inner():\n        yield 1\n    inner()", "no-yield", 1),
        ("x = 1", "missing", 1),
    ]),
    Block("is_async", lambda s: is_async(s, "get_session"), [
        "async def get_session():\n    yield 1",
        "import contextlib\n\n\n@contextlib.asynccontextmanager\nasync def get_session():\n    yield 1",
    ], [
        ("def get_session():\n    yield 1", "not-async", 1),
        ("async def other():\n    pass", "missing", 2),
    ]),
    Block("yields_inside", lambda s: yields_inside(s, "get_session", OPEN), [
        "from sqlmodel import Session\nengine = 1\ndef get_session():\n    with Session(engine) as session:\n"
        "        yield session",
        "import sqlmodel\nengine = 1\ndef get_session():\n    with sqlmodel.Session(engine) as s:\n        yield s",
        "from sqlmodel import Session as S\nengine = 1\ndef get_session():\n    with S(bind=engine) as s:\n"
        "        yield s",
        "from sqlmodel import Session\nengine = 1\ndef get_session():\n    session: Session = Session(engine)\n"
        "    try:\n        yield session\n    finally:\n        session.close()",
        "from sqlmodel import Session\nengine = 1\ndef get_session():\n    with Session(engine) as session:\n"
        "        try:\n            yield session\n        except Exception:\n            session.rollback()\n"
        "            raise",
    ], [
        ("from sqlmodel import Session\nengine = 1\ndef get_session():\n    with Session(engine) as session:\n"
         "        pass\n    yield session", "yield-outside-with", 6),
        ("from sqlmodel import Session\nengine = 1\ndef get_session():\n    session = Session(engine)\n"
         "    yield session\n    session.close()", "close-without-finally", 6),
        ("from sqlalchemy.orm import Session\nengine = 1\ndef get_session():\n    with Session(engine) as s:\n"
         "        yield s", "opener-mismatch", 4),
        ("engine = 1", "missing", 1),
    ]),
    Block("assignment", lambda s: assignment(s, "SessionDep", SESSION_DEP), [
        "from typing import Annotated\nfrom fastapi import Depends\nfrom sqlmodel import Session\n"
        "def get_session(): yield\nSessionDep = Annotated[Session, Depends(get_session)]",
        "import typing, fastapi, sqlmodel\ndef get_session(): yield\n"
        "SessionDep = typing.Annotated[sqlmodel.Session, fastapi.Depends(get_session)]",
        "from typing_extensions import Annotated as A, TypeAlias\nfrom fastapi import Depends as D\n"
        "import sqlmodel as sm\ndef get_session(): yield\nSessionDep: TypeAlias = A[sm.Session, D(get_session)]",
    ], [
        ("from typing import Annotated\nfrom fastapi import Depends\nfrom sqlmodel import Session\n"
         "def get_session(): yield\nSessionDep = Annotated[Session, Depends(get_session())]", "called-not-passed", 5),
        ("from typing import Annotated\nfrom fastapi import Depends\nfrom sqlalchemy.orm import Session\n"
         "def get_session(): yield\nSessionDep = Annotated[\n    Session,\n    Depends(get_session),\n]",
         "pattern-mismatch", 6),
        ("def f():\n    SessionDep = 1", "not-module-level", 2),
        ("SesionDep = 1", "misnamed", 1),
        ("x = 1\ny = 2", "missing", 2),
    ]),
    Block("defined_after", lambda s: defined_after(s, "SessionDep", "get_session"), [
        "def get_session(): yield\nSessionDep = 1",
        "def get_session(): yield\nif True:\n    SessionDep: int = 1",
    ], [
        ("SessionDep = 1\ndef get_session(): yield", "defined-too-early", 1),
        ("def get_session(): yield", "missing", 1),
    ]),
    Block("called", lambda s: called(s, "sqlmodel.create_engine", within="get_engine"), [
        "from sqlmodel import create_engine\ndef get_engine(url):\n    return create_engine(url)",
        "import sqlmodel\ndef get_engine(url):\n    return sqlmodel.create_engine(url)",
        "from sqlmodel import create_engine as ce\ndef get_engine(url):\n    engine = ce(url)\n    return engine",
        "from sqlmodel import *\ndef get_engine(url):\n    return create_engine(url)",
        "from sqlalchemy import create_engine\ndef get_engine(url):\n    return create_engine(url)",  # the same object
        "from sqlalchemy import *\ndef get_engine(url):\n    return create_engine(url)",  # and a star import of it
    ], [
        ("from sqlalchemy.ext.asyncio import create_async_engine as create_engine\ndef get_engine(url):\n"
         "    return create_engine(url)", "not-called", 3),  # the return where the call belongs
        ("from sqlmodel import create_engine\nengine = create_engine('x')\n\n\ndef get_engine(url):\n"
         "    return engine", "not-called", 6),
        ("from sqlmodel import create_engine\nengine = create_engine('x')", "missing", 2),
    ]),
    Block("not_called", lambda s: not_called(s, "sqlmodel.Session", within=["create_hero", "read_hero"]), [
        "from sqlmodel import Session\ndef create_hero(session):\n    return session\n"
        "def other():\n    return Session(1)",
        "import sqlmodel\ndef read_hero(session):\n    return session.get(1)",
    ], [
        ("from sqlmodel import Session\ndef create_hero():\n    with Session(1) as s:\n        return s",
         "forbidden-call", 3),
        ("import sqlmodel as sm\ndef read_hero():\n    pass\ndef create_hero():\n    return sm.Session(1)",
         "forbidden-call", 5),
    ]),
    Block("matches", lambda s: matches(s, value_of(s, "engine"), ENGINE), [
        "from sqlmodel import create_engine\nengine = create_engine(url, connect_args={'check_same_thread': False})",
        "import sqlmodel\nengine = sqlmodel.create_engine(\n    'sqlite://',\n"
        "    connect_args={\"check_same_thread\": False},\n)",
        "from sqlalchemy import create_engine as ce\nengine = ce(url, connect_args={'check_same_thread': False})",
    ], [
        ("from sqlmodel import create_engine\nengine = create_engine(url)", "pattern-mismatch", 2),
        ("from sqlmodel import create_engine\nengine = create_engine(url, connect_args={'check_same_thread': True})",
         "pattern-mismatch", 2),
        ("import sqlalchemy.ext.asyncio as aio\nengine = aio.create_async_engine(url, connect_args="
         "{'check_same_thread': False})", "pattern-mismatch", 2),
    ]),
    Block("held", lambda s: held(s, the_call(s), "_lock"), [
        "_lock = Lock()\ndef get(url):\n    with _lock:\n        return create(url)",
        "_lock = Lock()\nasync def get(url):\n    async with _lock:\n        return create(url)",
        "_lock = Lock()\ndef get(url):\n    _lock.acquire()\n    try:\n        return create(url)\n    finally:\n"
        "        _lock.release()",
        "_lock = Lock()\ndef get(url):\n    try:\n        _lock.acquire()\n        return create(url)\n    finally:\n"
        "        _lock.release()",
        "_lock = Lock()\ndef _make(url):\n    return create(url)\ndef get(url):\n    with _lock:\n        return _make(url)",
    ], [
        ("_lock = Lock()\ndef get(url):\n    with _lock:\n        pass\n    return create(url)", "not-held", 5),
        ("_lock = Lock()\ndef get(url):\n    _lock.acquire()\n    x = create(url)\n    _lock.release()\n"
         "    return x", "not-held", 4),
        ("_lock = Lock()\ndef _make(url):\n    return create(url)\ndef get(url):\n    with _lock:\n"
         "        return _make(url)\ndef other(url):\n    return _make(url)", "not-held", 3),
    ]),
    Block("in_with", lambda s: in_with(s, the_call(s, "create"), "_.begin_nested()", asynchronous=True), [
        "async def f(session):\n    async with session.begin_nested():\n        create()",
        "async def f(session):\n    async with session.begin_nested() as nested, other():\n        if True:\n"
        "            create()",
        "def _save(session):\n    create()\nasync def f(session):\n    async with session.begin_nested():\n"
        "        _save(session)",
    ], [
        ("async def f(session):\n    with session.begin_nested():\n        create()", "sync-with", 2),
        ("async def f(session):\n    async with session.begin_nested():\n        pass\n    create()",
         "not-in-with", 4),
        ("async def f(session):\n    async with session.begin():\n        create()", "not-in-with", 3),
    ]),
    Block("in_loop", lambda s: in_loop(s, the_call(s)), [
        "def f(urls):\n    for url in urls:\n        create(url)",
        "def f():\n    while True:\n        if create():\n            break",
        "async def f(urls):\n    async for url in urls:\n        create(url)",
        "def f(urls):\n    return [create(url) for url in urls]",
        "def _one(url):\n    return create(url)\ndef f(urls):\n    for url in urls:\n        _one(url)",
    ], [
        ("def f(urls):\n    for url in urls:\n        pass\n    create(url)", "not-in-loop", 4),
        ("def f(urls):\n    for url in urls:\n        def g():\n            create(url)", "not-in-loop", 4),
        ("def f():\n    for url in create():\n        pass", "not-in-loop", 2),
    ]),
    Block("outside_loop", lambda s: outside_loop(s, the_call(s, "session.commit")), [
        "def f(session, heroes):\n    for hero in heroes:\n        session.add(hero)\n    session.commit()",
        "def f(session, heroes):\n    for hero in heroes:\n        session.add(hero)\n    else:\n"
        "        session.commit()",
    ], [
        ("def f(session, heroes):\n    for hero in heroes:\n        session.add(hero)\n        session.commit()",
         "commit-in-loop", 4),
        ("def f(session, heroes):\n    while heroes:\n        if heroes.pop():\n            session.commit()",
         "commit-in-loop", 4),
        ("def _save(session, hero):\n    session.add(hero)\n    session.commit()\ndef f(session, heroes):\n"
         "    for hero in heroes:\n        _save(session, hero)", "commit-in-loop", 3),
    ]),
    Block("in_finally", lambda s: in_finally(s, the_call(s)), [
        "def f():\n    try:\n        yield 1\n    finally:\n        create()",
        "def f():\n    try:\n        yield 1\n    except Exception:\n        raise\n    finally:\n        if True:\n"
        "            create()",
        "def _close():\n    create()\ndef f():\n    try:\n        yield 1\n    finally:\n        _close()",
    ], [
        ("def f():\n    try:\n        yield 1\n    except Exception:\n        create()", "not-in-finally", 5),
        ("def f():\n    try:\n        create()\n    finally:\n        pass", "not-in-finally", 3),
    ]),
    Block("outside_finally", lambda s: outside_finally(s, the_call(s, "db.commit")), [
        "def f(db):\n    try:\n        yield db\n        db.commit()\n    finally:\n        db.close()",
        "def f(db):\n    try:\n        yield db\n    finally:\n        db.close()\n    db.commit()",
    ], [
        ("def f(db):\n    try:\n        yield db\n    finally:\n        db.commit()\n        db.close()",
         "commit-in-finally", 5),
    ]),
    Block("calls_method", lambda s: calls_method(s, "update", "commit", on="session", at_most=1), [
        "def update(hero, session):\n    session.add(hero)\n    session.commit()",
        "def update(hero, session):\n    if hero:\n        session.commit()\n    return hero",
        "def update(hero, session):\n    s = session\n    s.commit()",
        "def _save(db, hero):\n    db.add(hero)\n    db.commit()\ndef update(hero, session):\n    _save(session, hero)",
        "def _save(hero, *, db):\n    db.commit()\ndef update(hero, session):\n    _save(hero, db=session)",
    ], [
        ("def update(hero, session):\n    session.add(hero)", "not-called", 1),
        ("def update(hero, session):\n    other = session\n    hero.commit()", "not-called", 1),
        ("def update(hero, session):\n    session.commit()\n    session.commit()", "called-too-often", 3),
        ("def _save(db):\n    db.commit()\ndef update(hero, session):\n    session.commit()\n    _save(session)",
         "called-too-often", 2),
        ("def _save(db):\n    db.commit()\ndef update(hero, session):\n    _save(hero)", "not-called", 3),
        ("def other(session):\n    session.commit()", "missing", 2),
    ]),
    Block("calls_method (the session parameter, by its annotation)",
          lambda s: calls_method(s, "create", ("commit", "flush"),
                                 on=parameter(s, function(s, "create").node, annotation="SessionDep").node), [
        "SessionDep = 1\ndef create(hero, db: SessionDep):\n    db.add(hero)\n    db.commit()",
        "SessionDep = 1\ndef create(hero, db: SessionDep):\n    db.add(hero)\n    db.flush()",
    ], [
        ("SessionDep = 1\ndef create(hero, db: SessionDep, other):\n    other.commit()", "not-called", 2),
    ]),
    Block("endpoint", lambda s: endpoint(s, "POST", "/heroes/batch"), [
        "from fastapi import FastAPI\napp = FastAPI()\n@app.post('/heroes/batch')\ndef create_heroes():\n    pass",
        "import fastapi\nrouter = fastapi.APIRouter()\n@router.api_route('/heroes/batch', methods=['POST'])\n"
        "def create_heroes():\n    pass",
    ], [
        ("from fastapi import FastAPI\napp = FastAPI()\n@app.post('/heroes/batches')\ndef create_heroes():\n"
         "    pass", "other-path", 4),
        ("from fastapi import FastAPI\napp = FastAPI()\n@app.get('/heroes/batch')\ndef create_heroes():\n    pass",
         "no-endpoint", 5),
    ]),
    Block("all_of", lambda s: all_of(imported(s, "typing.Annotated"), imported(s, "fastapi.Depends")), [
        "from typing import Annotated\nfrom fastapi import Depends",
        "import typing, fastapi",
    ], [
        ("import os\nfrom fastapi import Depends", "missing-import", 1),
    ]),
]
IDS = [b.name for b in BLOCKS]


@pytest.mark.parametrize("block, code", [(b, c) for b in BLOCKS for c in b.passing],
                         ids=[f"{b.name}-{i}" for b in BLOCKS for i in range(len(b.passing))])
def test_right_code_passes_in_every_spelling(block, code):
    found = block.run(src(code))
    assert isinstance(found, Finding) and found.ok, found.message


@pytest.mark.parametrize("block, code, diagnosis, line", [(b, *f) for b in BLOCKS for f in b.failing],
                         ids=[f"{b.name}-{f[1]}-{i}" for b in BLOCKS for i, f in enumerate(b.failing)])
def test_wrong_code_fails_with_a_diagnosis_and_a_line(block, code, diagnosis, line):
    found = block.run(src(code))
    assert not found.ok
    assert (found.diagnosis, found.line) == (diagnosis, line), found.message
    assert found.message.strip()


@pytest.mark.parametrize("block", BLOCKS, ids=IDS)
def test_the_default_message_can_be_replaced(block):
    code, diagnosis, line = block.failing[0]
    found = block.run(src(code))
    custom = found.otherwise('Use {"check_same_thread": False} ({message}, line {line})')
    assert custom.message == f'Use {{"check_same_thread": False}} ({found.message}, line {line})'
    assert (custom.diagnosis, custom.line) == (diagnosis, line)
    assert found.otherwise(diagnosis="mine").diagnosis == "mine"
    right = block.run(src(block.passing[0]))
    assert right.otherwise("never shown") is right


# -- details worth a test of their own ------------------------------------------------------------------
def test_calls_to_lists_every_call_in_order_and_skips_functions_that_do_not_exist():
    s = src("import sqlmodel\nfrom sqlmodel import Session as S\n"
            "def a():\n    S(1)\n    sqlmodel.Session(2)\ndef b():\n    return lambda: S(3)\n")
    assert [s.line(c) for c in calls_to(s, "sqlmodel.Session")] == [4, 5, 7]
    assert [s.line(c) for c in calls_to(s, "sqlmodel.Session", within=["b", "nope"])] == [7]
    assert [s.line(c) for c in calls_to(s, "sqlmodel.Session", within=function(s, "a").node)] == [4, 5]


def test_called_names_the_function_it_looked_in():
    s = src("from sqlmodel import create_engine\ndef get_engine():\n    pass\n")
    assert "never called in `get_engine`" in called(s, "sqlmodel.create_engine", within="get_engine").message


def test_call_blocks_accept_alternatives():
    s = src("import sqlite3\ndef connect():\n    return sqlite3.connect(':memory:')\n")
    assert called(s, ("sqlmodel.create_engine", "sqlite3.connect"), within="connect")
    found = not_called(s, ("sqlmodel.create_engine", "sqlite3.connect"))
    assert not found and found.line == 3


def test_a_bare_target_is_the_learners_own_function():
    s = src("import database\ndef get_session(): yield\nx = get_session()\ny = database.get_session()\n")
    assert [s.line(c) for c in calls_to(s, "get_session")] == [3, 4]


def test_closed_patterns_reject_star_arguments():
    s = src("from sqlmodel import Session\nx = Session(engine, **options)\ny = Session(*args)\n")
    assert not matches(s, value_of(s, "x"), "sqlmodel.Session(engine)")
    assert matches(s, value_of(s, "x"), "sqlmodel.Session(engine, **_)")
    assert not matches(s, value_of(s, "y"), "sqlmodel.Session(engine)")
    assert matches(s, value_of(s, "y"), "sqlmodel.Session(...)")


def test_a_module_level_def_is_not_reported_as_a_nested_assignment():
    found = assignment(src("def SessionDep():\n    pass\n"), "SessionDep")
    assert not found and found.diagnosis == "missing" and "inside a function" not in found.message


def test_close_in_an_except_block_is_explained_as_such():
    s = src("from sqlmodel import Session\nengine = 1\ndef get_session():\n    session = Session(engine)\n"
            "    try:\n        yield session\n    except Exception:\n        session.close()\n        raise\n")
    found = yields_inside(s, "get_session", OPEN)
    assert found.diagnosis == "close-without-finally" and found.line == 8
    assert "only runs when the endpoint raises" in found.message


def test_blocks_taking_a_function_accept_its_node_or_a_missing_one():
    s = src("def get_session():\n    yield 1\n")
    assert is_generator(s, function(s, "get_session").node)
    found = is_generator(s, function(s, "nope").node)
    assert not found and found.diagnosis == "missing" and found.line == 2


def test_a_message_is_taken_as_written_but_for_the_block_s_message_and_line():
    found = imported(src("import os"), "fastapi.Depends")
    code = 'DATABASES = {"primary": {"url": ...}}; f"{{x}}"'  # code, the learner's included, is never changed
    assert found.otherwise(f"{MESSAGE} (line {LINE}): write `{code}`").message == \
        f"{found.message} (line {found.line}): write `{code}`"
    assert found.otherwise(f"write `{code}`").message == f"write `{code}`"  # doubled braces stay doubled


def test_the_older_spelling_still_reads_in_a_message_that_uses_it():
    """`"{message}"` in a plain string, where doubled braces give one (a message without it is as written)."""
    found = imported(src("import os"), "fastapi.Depends")
    assert found.otherwise('{message}: DATABASES = {{"primary": {{"url": ...}}}}').message == \
        found.message + ': DATABASES = {"primary": {"url": ...}}'


def test_in_with_can_ask_for_a_plain_with_and_any_block():
    s = src("async def f(session):\n    async with session.begin():\n        create()\n")
    found = in_with(s, the_call(s), asynchronous=False)
    assert (found.diagnosis, found.line) == ("async-with", 2)
    assert in_with(s, the_call(s)) and in_with(s, the_call(s), "_.begin()", asynchronous=True)


def test_a_lambda_is_no_evidence_for_or_against_a_place():
    """Code in a lambda runs whenever the lambda is called: under a lock it may well be held (no evidence of
    a mistake), and in a loop it is not known to run per pass."""
    locked = src("_lock = Lock()\ndef get(url):\n    with _lock:\n"
                 "        return cache.setdefault(url, lambda: create(url))\n")
    assert held(locked, the_call(locked), "_lock")
    looped = src("def f(session, heroes):\n    for hero in heroes:\n        later.append(lambda: session.commit())\n")
    assert outside_loop(looped, the_call(looped, "session.commit"))
