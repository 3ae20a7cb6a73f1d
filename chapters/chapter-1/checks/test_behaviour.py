"""Chapter 1's behavioural checks: the models, the engine, and the table created at startup.

Tests run in a temporary copy of the submission, so `sqlite:///database.db` is a fresh file there.
"""

import inspect
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import event

from grader.clean import clip
from grader.testing import (Advice, about, advised, attribute_at, check, described, endpoint_function, fail,
                            request)

HERO = {"name": "Deadpond", "secret_name": "Dive Wilson"}
LIFESPAN_SHAPE = Advice("A lifespan must be an async generator function taking the app, decorated with "
                        "@asynccontextmanager", matching="asynchronous context manager|positional argument")
"""Advice for an app that cannot start because its lifespan has the wrong shape (and only then)."""


@pytest.fixture(scope="module")
def modules(learner):
    models = learner.module("models")
    database = learner.module("database")
    main = learner.module("main")
    return models, database, main


@pytest.fixture(scope="module")
def models(modules):
    return modules[0]


@pytest.fixture(scope="module")
def database(modules):
    return modules[1]


@pytest.fixture(scope="module")
def main(modules):
    return modules[2]


def indexed(table, column):
    return bool(column.index) or any(list(ix.columns) == [column] for ix in table.indexes)


def learner_class(models, name):
    cls = getattr(models, name, None)
    if cls is None:
        fail(f"models.py has no `{name}`", diagnosis="missing")
    return cls


@check("modules-import")
def test_modules_import(modules):
    assert all(modules)


@check("hero-columns")
def test_hero_columns(models):
    hero = learner_class(models, "Hero")
    table = getattr(hero, "__table__", None)
    if table is None:
        fail("Hero has no table: add `table=True` to its class line", obj=hero, diagnosis="not-a-table")
    columns = table.columns
    for name in ("id", "name", "secret_name", "age"):
        if name not in columns:
            fail(f"the hero table has no `{name}` column (it has {', '.join(columns.keys())})", obj=hero,
                 diagnosis="missing-column")
    rules = [
        ("id", columns["id"].primary_key, "`id` must be the primary key: `Field(default=None, primary_key=True)`",
         "not-primary-key"),
        ("id", isinstance(columns["id"].type, sqlalchemy.Integer), "`id` must be an integer (`int | None`)",
         "wrong-type"),
        ("name", not columns["name"].nullable, "`name` is required: annotate it `str`, not `str | None`", "nullable"),
        ("name", indexed(table, columns["name"]), "`name` must be indexed: `Field(index=True)`", "not-indexed"),
        ("secret_name", not columns["secret_name"].nullable, "`secret_name` is required: annotate it `str`",
         "nullable"),
        ("age", columns["age"].nullable, "`age` is optional: `int | None = Field(default=None, index=True)`",
         "not-optional"),
        ("age", isinstance(columns["age"].type, sqlalchemy.Integer), "`age` must be an integer (`int | None`)",
         "wrong-type"),
        ("age", indexed(table, columns["age"]), "`age` must be indexed: `Field(default=None, index=True)`",
         "not-indexed"),
    ]
    for field, ok, message, diagnosis in rules:
        if not ok:
            file, line = attribute_at(hero, field)
            fail(message, file=file, line=line, diagnosis=diagnosis)


def refuses(cls, data):
    try:
        cls.model_validate(data)
    except ValidationError:
        return True
    return False


@check("schemas-validate")
def test_schemas_validate(models):
    create, public, update = (learner_class(models, n) for n in ("HeroCreate", "HeroPublic", "HeroUpdate"))
    for cls in (create, public, update):
        if cls.model_config.get("table"):
            fail(f"{cls.__name__} is a table model; only Hero has `table=True`", obj=cls, diagnosis="schema-is-table")
    expectations = [
        (create, "id" not in create.model_fields, "HeroCreate must not have an `id`: the database chooses it",
         "create-has-id"),
        (create, not refuses(create, HERO), f"HeroCreate must accept {HERO} (age is optional)", "create-refuses"),
        (create, refuses(create, {"secret_name": "x"}) and refuses(create, {"name": "x"}),
         "HeroCreate must require both `name` and `secret_name`", "create-accepts-missing"),
        (create, create.model_validate(HERO).age is None if not refuses(create, HERO) else False,
         "HeroCreate's `age` must default to None", "create-age-default"),
        (public, refuses(public, HERO) and not refuses(public, {**HERO, "id": 1}),
         "HeroPublic must require `id: int` on top of the HeroCreate fields", "public-without-id"),
        (update, not refuses(update, {}), "HeroUpdate() with no data must be valid: every field optional",
         "update-requires-field"),
        (update, set(update.model_fields) >= {"name", "secret_name", "age"},
         "HeroUpdate must have the fields `name`, `secret_name` and `age`", "update-missing-field"),
        (update, all(update.model_fields[f].default is None for f in ("name", "secret_name", "age")
                     if f in update.model_fields),
         "every HeroUpdate field must default to None", "update-default"),
        (update, "id" not in update.model_fields, "HeroUpdate must not have an `id`: clients cannot change it",
         "update-has-id"),
    ]
    for cls, ok, message, diagnosis in expectations:
        if not ok:
            fail(message, obj=cls, diagnosis=diagnosis)


def engine_line():
    """Where database.py assigns `engine` (messages point there)."""
    lines = Path("database.py").read_text(errors="replace").splitlines()
    return {"file": "database.py",
            "line": next((n for n, text in enumerate(lines, 1) if text.replace(" ", "").startswith("engine=")), None)}


@check("engine-configured")
def test_engine_configured(database):
    at = engine_line()
    engine = getattr(database, "engine", None)
    if not isinstance(engine, sqlalchemy.Engine):
        fail(f"database.engine is {type(engine).__name__}, not an Engine made by create_engine()", diagnosis="no-engine",
             **at)
    url = engine.url
    if url.get_backend_name() != "sqlite":
        fail(f"the engine's URL is {url.render_as_string(hide_password=True)!r}; this course uses SQLite: "
             "`sqlite:///database.db`", diagnosis="not-sqlite", **at)
    if url.database in (None, "", ":memory:") or url.database.startswith("file::memory:"):
        fail(f"{url.render_as_string()!r} is an in-memory database, gone with its connection; use a file: "
             "`sqlite:///database.db`", diagnosis="in-memory", **at)
    if Path(url.database).is_absolute():
        fail(f"{url.render_as_string()!r} is an absolute path; use a file next to the app: `sqlite:///database.db`",
             diagnosis="absolute-path", **at)
    seen = []

    def record(dialect, connection_record, cargs, cparams):
        seen.append(dict(cparams))

    event.listen(engine, "do_connect", record)
    try:
        engine.dispose()
        with about("the engine of database.py", **at), engine.connect():
            pass
    finally:
        event.remove(engine, "do_connect", record)
    if seen and seen[-1].get("check_same_thread", True) is not False:
        fail("connections are opened with check_same_thread on: pass "
             "`connect_args={\"check_same_thread\": False}` to create_engine", diagnosis="check-same-thread", **at)


@check("tables-at-startup")
def test_tables_at_startup(main, database, models):
    hero = learner_class(models, "Hero")
    table = getattr(hero, "__table__", None)
    if table is None:
        fail("Hero has no table: add `table=True` to its class line", obj=hero, diagnosis="not-a-table")
    lifespan = getattr(main, "lifespan", None)
    at = {"obj": inspect.unwrap(lifespan)} if callable(lifespan) else {"file": "main.py"}
    if sqlalchemy.inspect(database.engine).has_table(table.name):
        fail(f"the `{table.name}` table already exists before the app started: something creates it when a module "
             "is imported; only the lifespan should call create_db_and_tables()", diagnosis="tables-at-import", **at)
    app = getattr(main, "app", None)
    if app is None:
        fail("main.py has no `app`", file="main.py", diagnosis="no-app")
    with ExitStack() as stack:
        try:
            client = stack.enter_context(TestClient(app))
        except Exception as exc:  # noqa: BLE001 - the learner's lifespan may raise anything
            fail(advised(f"the app failed to start: {described(exc)}", LIFESPAN_SHAPE, exc),
                 diagnosis="startup-error", cause=exc, **at)
        if not sqlalchemy.inspect(database.engine).has_table(table.name):
            fail(f"the app started, but there is no `{table.name}` table: the lifespan must call "
                 "create_db_and_tables(), and the app must be `FastAPI(lifespan=lifespan)`", diagnosis="no-table", **at)
        created = request(client, "POST", "/heroes/", expect=200, json={**HERO, "age": 30})
        body = created.json()
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            fail(f"POST /heroes/ answered {clip(created.text, 200)}; expected the new hero with its `id`",
                 obj=endpoint_function(app, "POST", "/heroes/"), diagnosis="no-id")
        read = request(client, "GET", f"/heroes/{body['id']}", expect=200)
        if read.json() != body:
            fail(f"GET /heroes/{body['id']} answered {clip(read.text, 200)}; expected {body}",
                 obj=endpoint_function(app, "GET", f"/heroes/{body['id']}"), diagnosis="wrong-hero")
