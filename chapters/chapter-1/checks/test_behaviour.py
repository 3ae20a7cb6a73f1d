"""Chapter 1's behavioural checks: the models, the engine, the table created at startup and kept.

Tests run in a temporary copy of the submission, so `sqlite:///database.db` is a fresh file there.
"""

import ast
import inspect
import re
import traceback
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import MetaData, event

from grader.clean import clip
from grader.testing import (Advice, about, advised, attribute_at, check, described, endpoint_function, fail,
                            learner_relative, request, where)

HERO = {"name": "Deadpond", "secret_name": "Dive Wilson"}
def lifespan_shape(lifespan):
    """Advice for an app that cannot start or stop because its lifespan has the wrong shape (each only where it
    fits: the missing app parameter only when the lifespan itself refused the app, not a call inside it)."""
    name = re.escape(getattr(lifespan, "__qualname__", "lifespan"))
    return (
        Advice("`@contextmanager` makes a synchronous context manager; a lifespan needs `@asynccontextmanager` on "
               "an `async def`", matching="does not support the asynchronous context manager protocol"),
        Advice("FastAPI calls the lifespan with the app: give it one parameter, `app: FastAPI`",
               matching=rf"\b{name}\(\) takes 0 positional arguments but 1 was given"),
        Advice("A lifespan yields once: what comes after its `yield` runs when the app stops",
               matching="generator didn't stop"),
    )


CREATED_AT_IMPORT: list[tuple[str, int]] = []
"""(file, line) of the module-level statement of the learner's that created tables while being imported."""


def import_site() -> tuple[str, int] | None:
    """The innermost module-level statement of the learner's on the current stack: what runs at import."""
    for frame in reversed(traceback.extract_stack()):
        file = learner_relative(frame.filename)
        if file is not None and frame.name == "<module>":
            return file, frame.lineno
    return None


@pytest.fixture(scope="module")
def modules(learner):
    original = MetaData.create_all

    def create_all(self, *args, **kwargs):
        site = import_site()
        if site is not None:
            CREATED_AT_IMPORT.append(site)
        return original(self, *args, **kwargs)

    MetaData.create_all = create_all
    try:
        models = learner.module("models")
        database = learner.module("database")
        main = learner.module("main")
    finally:
        MetaData.create_all = original
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
            fail(f"the hero table has no `{name}` column (it has {', '.join(columns.keys())}): declare `{name}` "
                 "in Hero or in its base", obj=hero, diagnosis="missing-column")
    rules = [
        ("id", columns["id"].primary_key, "`id` is not the primary key, so the database does not number the heroes: "
         "mark it `primary_key=True` in its Field", "not-primary-key"),
        ("id", isinstance(columns["id"].type, sqlalchemy.Integer), "`id` is not an integer column: the database "
         "numbers the heroes, so its type is `int | None`", "wrong-type"),
        ("name", not columns["name"].nullable, "`name` accepts NULL, but every hero has a name: annotate it `str`, "
         "not `str | None`", "nullable"),
        ("name", indexed(table, columns["name"]), "`name` has no index, so finding a hero by name reads the whole "
         "table: give it `Field(index=True)`", "not-indexed"),
        ("secret_name", not columns["secret_name"].nullable, "`secret_name` accepts NULL, but every hero has one: "
         "annotate it `str`", "nullable"),
        ("age", columns["age"].nullable, "`age` is required in the table, but a hero may have no age: type it "
         "`int | None` with `default=None`", "not-optional"),
        ("age", isinstance(columns["age"].type, sqlalchemy.Integer), "`age` is not an integer column: type it "
         "`int | None`", "wrong-type"),
        ("age", indexed(table, columns["age"]), "`age` has no index, so finding heroes by age reads the whole table: "
         "give it `Field(default=None, index=True)`", "not-indexed"),
    ]
    for field, ok, message, diagnosis in rules:
        if not ok:
            file, line = attribute_at(hero, field)
            fail(message, file=file, line=line, diagnosis=diagnosis)
    for field in missing(hero, HERO):
        file, line = attribute_at(hero, field)
        if field == "id":
            fail("`id` is required, but a new hero has no id until the database gives it one: the endpoint's "
                 "`Hero.model_validate(hero)` fails on every new hero; give `id` the default None (type `int | None`)",
                 file=file, line=line, diagnosis="id-required")
        if field == "age":
            fail("`age` is required (it has no default), so a hero sent without an age is refused; it is optional: "
                 "give it the default None", file=file, line=line, diagnosis="not-optional")
        fail(f"`{field}` is required, but a hero is only its id, name, secret_name and age: a new hero without "
             f"`{field}` is refused; remove the field or give it a default", file=file, line=line,
             diagnosis="extra-required-field")


def refuses(cls, data):
    try:
        cls.model_validate(data)
    except ValidationError:
        return True
    return False


def missing(cls, data):
    """The fields `cls` requires that `data` does not give, in the order of its errors."""
    try:
        cls.model_validate(data)
    except ValidationError as exc:
        return [str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing" and e["loc"]]
    return []


def at_field(cls, *names):
    """file and line of the first of `names` that `cls` declares (a field's problem on the field's line);
    else of the class."""
    for name in names:
        if name in cls.model_fields:
            file, line = attribute_at(cls, name)
            return {"file": file, "line": line}
    file, line = where(cls)
    return {"file": file, "line": line}


@check("schemas-validate")
def test_schemas_validate(models):
    create, public, update = (learner_class(models, n) for n in ("HeroCreate", "HeroPublic", "HeroUpdate"))
    for cls in (create, public, update):
        if cls.model_config.get("table"):
            fail(f"{cls.__name__} is a table model; only Hero has `table=True`", obj=cls, diagnosis="schema-is-table")
    fields = ("name", "secret_name", "age")
    if "id" in create.model_fields:
        fail("HeroCreate has an `id`, so a client could choose it: the database chooses the id, and only Hero (and "
             "HeroPublic) declare it", **at_field(create, "id"), diagnosis="create-has-id")
    absent = [f for f in fields if f not in create.model_fields]
    if absent:
        fail(f"HeroCreate has no {' or '.join(f'`{f}`' for f in absent)}: a client creating a hero sends `name`, "
             "`secret_name` and, if it likes, `age`", obj=create, diagnosis="create-missing-field")
    needed = missing(create, HERO)
    if needed:
        fail(f"HeroCreate refuses a hero without {' or '.join(f'`{f}`' for f in needed)}: only `name` and "
             f"`secret_name` are required, so `{needed[0]}` needs a default", **at_field(create, *needed),
             diagnosis="create-refuses")
    if refuses(create, HERO):
        fail(f"HeroCreate refuses {HERO}: {described_refusal(create, HERO)}", obj=create, diagnosis="create-refuses")
    for field in ("name", "secret_name"):
        if not refuses(create, {k: v for k, v in HERO.items() if k != field}):
            fail(f"HeroCreate accepts a hero without `{field}`, which is required: it must have no default",
                 **at_field(create, field), diagnosis="create-accepts-missing")
    if create.model_validate(HERO).age is not None:
        fail("HeroCreate's `age` must default to None", **at_field(create, "age"), diagnosis="create-age-default")
    if "id" not in public.model_fields:
        fail("HeroPublic has no `id`, so the API never tells a client which id its hero got: HeroPublic adds "
             "`id: int`", obj=public, diagnosis="public-without-id")
    if not refuses(public, HERO):
        fail("HeroPublic's `id` is optional, but a hero read back from the database always has one: make it a "
             "required `int`", **at_field(public, "id"), diagnosis="public-without-id")
    if refuses(public, {**HERO, "id": 1}):
        needed = missing(public, {**HERO, "id": 1})
        fail(f"HeroPublic refuses a hero with its id: {described_refusal(public, {**HERO, 'id': 1})}",
             **at_field(public, *needed), diagnosis="public-refuses")
    absent = [f for f in fields if f not in update.model_fields]
    if absent:
        fail(f"HeroUpdate has no {' or '.join(f'`{f}`' for f in absent)}: a client must be able to change each of "
             "the three fields", obj=update, diagnosis="update-missing-field")
    needed = missing(update, {})
    if needed:
        fail(f"HeroUpdate requires {' and '.join(f'`{f}`' for f in needed)}, so a client cannot send only the fields "
             "it changes: give each field the default None (`| None` alone allows null but still requires it)",
             **at_field(update, *needed), diagnosis="update-requires-field")
    other = [f for f in fields if update.model_fields[f].default is not None]
    if other:
        fail(f"HeroUpdate's `{other[0]}` defaults to {update.model_fields[other[0]].default!r}: every field must "
             "default to None, so that a field the client leaves out is not changed", **at_field(update, other[0]),
             diagnosis="update-default")
    if "id" in update.model_fields:
        fail("HeroUpdate has an `id`: clients cannot change a hero's id", **at_field(update, "id"),
             diagnosis="update-has-id")


def described_refusal(cls, data):
    try:
        cls.model_validate(data)
    except ValidationError as exc:
        return described(exc)
    return "accepted"


def assigned_at(file, name):
    """{"file", "line"} of the last module-level statement of the learner's `file` that assigns `name`
    (messages point there); the line is None when no such statement can be read."""
    try:
        tree = ast.parse(Path(file).read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return {"file": file, "line": None}
    lines = [node.lineno for node in tree.body
             if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
             or isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name]
    return {"file": file, "line": lines[-1] if lines else None}


def argument_at(file, name, keyword, position=None):
    """{"file", "line"} where the argument `keyword` (or positional `position`) of the call assigned to `name`
    is written: the module-level assignment of the name passed (`sqlite_url`), else the call itself."""
    at = assigned_at(file, name)
    try:
        tree = ast.parse(Path(file).read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return at
    call = next((node.value for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                 and node.lineno == at["line"] and isinstance(node.value, ast.Call)), None)
    if call is None:
        return at
    given = next((k.value for k in call.keywords if k.arg == keyword), None)
    if given is None and position is not None and len(call.args) > position:
        given = call.args[position]
    if isinstance(given, ast.Name):
        return assigned_at(file, given.id) if assigned_at(file, given.id)["line"] else at
    return {"file": file, "line": given.lineno} if given is not None else at


def in_app_folder(path):
    """A database file path (relative to the folder the app runs from, or absolute) inside that folder."""
    return (Path.cwd() / path).resolve().is_relative_to(Path.cwd().resolve())


@check("engine-configured")
def test_engine_configured(database):
    at = assigned_at("database.py", "engine")
    engine = getattr(database, "engine", None)
    if not isinstance(engine, sqlalchemy.Engine):
        fail(f"database.engine is {type(engine).__name__}, not an Engine made by create_engine()",
             diagnosis="no-engine", **at)
    url = engine.url
    url_at = argument_at("database.py", "engine", "url", 0)
    if url.get_backend_name() != "sqlite":
        fail(f"the engine's URL is {url.render_as_string(hide_password=True)!r}; this course uses SQLite: "
             "`sqlite:///database.db`", diagnosis="not-sqlite", **url_at)
    if url.database in (None, "", ":memory:") or url.database.startswith("file::memory:") \
            or url.query.get("mode") == "memory":
        fail(f"{url.render_as_string()!r} is an in-memory database, gone with its connection; the app needs a database "
             "file", diagnosis="in-memory", **url_at)
    if not in_app_folder(url.database):
        fail(f"{url.render_as_string()!r} is a file outside the app's folder; keep the database next to the app "
             "(a path relative to the folder it runs from, or one built from the module's own folder)",
             diagnosis="outside-app-folder", **url_at)
    seen = []

    def record(dialect, connection_record, cargs, cparams):
        seen.append(dict(cparams))

    event.listen(engine, "do_connect", record)
    try:
        engine.dispose()
        with about("the engine of database.py", diagnosis="cannot-connect", **at), engine.connect():
            pass
    finally:
        event.remove(engine, "do_connect", record)
    if seen and seen[-1].get("check_same_thread", True):  # sqlite3 reads the option's truth, as `if` does
        fail("connections are opened with check_same_thread on, so a connection opened in one of FastAPI's threads "
             "fails in another: pass `connect_args` with `\"check_same_thread\": False` to create_engine",
             diagnosis="check-same-thread", **argument_at("database.py", "engine", "connect_args"))


def given_lifespan(app, main):
    """The learner's lifespan function the app was given (else main.py's `lifespan`), or None."""
    for candidate in (getattr(getattr(app, "router", None), "lifespan_context", None), getattr(main, "lifespan", None)):
        if callable(candidate) and where(candidate)[0] is not None:
            return inspect.unwrap(candidate)
    return None


@contextmanager
def running(app, at, lifespan):
    """The app started with a TestClient (its lifespan entered), stopped when the block ends: a failure to start
    or to stop fails the check at the lifespan, with the advice that fits."""
    client = TestClient(app)
    try:
        client.__enter__()
    except Exception as exc:  # noqa: BLE001 - the learner's lifespan may raise anything
        fail(advised(f"the app failed to start: {described(exc)}", lifespan_shape(lifespan), exc),
             diagnosis="startup-error", cause=exc, **at)
    try:
        yield client
    except BaseException:
        with suppress(Exception):
            client.__exit__(None, None, None)
        raise
    try:
        client.__exit__(None, None, None)
    except Exception as exc:  # noqa: BLE001 - what runs after the lifespan's yield is the learner's too
        fail(advised(f"the app failed to stop: {described(exc)}", lifespan_shape(lifespan), exc),
             diagnosis="shutdown-error", cause=exc, **at)


@contextmanager
def drops_recorded():
    """(file, line) of each learner statement that drops the tables (`metadata.drop_all`) within the block."""
    sites = []
    original = MetaData.drop_all

    def drop_all(self, *args, **kwargs):
        site = next(((learner_relative(f.filename), f.lineno) for f in reversed(traceback.extract_stack())
                     if learner_relative(f.filename) is not None), None)
        if site is not None:
            sites.append(site)
        return original(self, *args, **kwargs)

    MetaData.drop_all = drop_all
    try:
        yield sites
    finally:
        MetaData.drop_all = original


@check("tables-at-startup")
def test_tables_at_startup(main, database, models):
    hero = learner_class(models, "Hero")
    table = getattr(hero, "__table__", None)
    if table is None:
        fail("Hero has no table: add `table=True` to its class line", obj=hero, diagnosis="not-a-table")
    app = getattr(main, "app", None)
    if app is None:
        fail("main.py has no `app`", file="main.py", diagnosis="no-app")
    lifespan = given_lifespan(app, main)
    at = {"obj": lifespan} if lifespan is not None else assigned_at("main.py", "app")
    if sqlalchemy.inspect(database.engine).has_table(table.name):
        place = dict(zip(("file", "line"), CREATED_AT_IMPORT[0])) if CREATED_AT_IMPORT else at
        fail(f"the `{table.name}` table already exists before the app started: this statement creates it when the "
             "module is imported; only the lifespan should call create_db_and_tables(), when the app starts",
             diagnosis="tables-at-import", **place)
    with drops_recorded() as dropped:
        with running(app, at, lifespan) as client:
            if not sqlalchemy.inspect(database.engine).has_table(table.name):
                fail(f"the app started, but there is no `{table.name}` table: the lifespan must call "
                     "create_db_and_tables() before its `yield`, and the app must be given the lifespan",
                     diagnosis="no-table", **at)
            created = request(client, "POST", "/heroes/", expect=200, json={**HERO, "age": 30})
            body = created.json()
            if not isinstance(body, dict) or not isinstance(body.get("id"), int):
                fail(f"POST /heroes/ answered {clip(created.text, 200)}; expected the new hero with its `id`",
                     obj=endpoint_function(app, "POST", "/heroes/"), diagnosis="no-id")
            read = request(client, "GET", f"/heroes/{body['id']}", expect=200)
            if read.json() != body:
                fail(f"GET /heroes/{body['id']} answered {clip(read.text, 200)}; expected {body}",
                     obj=endpoint_function(app, "GET", f"/heroes/{body['id']}"), diagnosis="wrong-hero")
        with running(app, at, lifespan) as client:
            again = request(client, "GET", f"/heroes/{body['id']}")
    if again.status_code != 200:
        place = dict(zip(("file", "line"), dropped[0])) if dropped else at
        fail(f"the hero created before the app restarted is gone after the restart (GET /heroes/{body['id']} "
             f"answered {again.status_code}): starting or stopping the app must keep the data; create_all only "
             "adds the tables that are missing", diagnosis="lost-on-restart", **place)
