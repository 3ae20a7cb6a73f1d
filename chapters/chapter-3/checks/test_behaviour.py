"""Chapter 3's behavioural checks: the learner's heroes API through TestClient, on a temp SQLite file.

What an endpoint stored is read back from the database itself, not only from its answer. A failure
points where the fix goes: the statement of the endpoint that explains it (the query of a wrong page,
the `model_dump` of a wrong PATCH, a commit that comes too early), else the endpoint's `def`. The last
two checks swap `database.get_session` for a dependency on another database and watch which database
every endpoint reads and writes, and whether its database work runs on the event loop.

PYTEST_DONT_REWRITE: these checks fail through `fail()`, never a bare `assert`, so pytest need not rewrite
(and recompile) this module on every job.
"""

import ast
import asyncio
import inspect
import os
import re
import sys
import textwrap
from contextlib import contextmanager

import pytest
from fastapi.exceptions import ResponseValidationError
from fastapi.testclient import TestClient
from sqlalchemy import delete, event
from sqlalchemy import inspect as inspect_database
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, SQLModel, create_engine, select

from grader.blame import definition
from grader.testing import Advice, CheckFailed, check, endpoint_function, fail, learner_relative, request, where
from grader.testing import http_errors_raised

pytestmark = pytest.mark.usefixtures("unsynced_sqlite")  # no fsync: see grader.testing
HERO = {"name": "Deadpond", "secret_name": "Dive Wilson"}
MISSING_ID = 424242
GENERIC_DETAILS = {"", "Not Found"}
"""What a 404 says when nobody wrote a detail (also what an unknown URL gets)."""
ONE = "/heroes/{hero_id}"
ALL = "/heroes/"
RETURNED_NONE = r"'input': None\}"
"""A response that failed validation because the endpoint returned None."""
RETURNED_EXCEPTION = r"'input': HTTPException\("


# -- where in the learner's function -----------------------------------------------------------------------------------
def parsed(fn):
    """(the ast of the learner's function `fn`, its file, the offset of its source lines), or None."""
    file = where(fn)[0] if fn is not None else None
    if file is None:
        return None
    try:
        lines, start = inspect.getsourcelines(definition(fn))
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return None
    node = tree.body[0] if tree.body else None
    return (node, file, start - 1) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def own_nodes(node):
    """The nodes below `node`, in source order, without those of functions, lambdas and classes inside it."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            yield child
            yield from own_nodes(child)


def body_nodes(fn_node):
    for statement in fn_node.body:
        yield statement
        yield from own_nodes(statement)


def called_name(call):
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def call_line(fn, *names):
    """(file, line) of the first call, in the body of the learner's function `fn`, to a function or method of
    the first of `names` it calls: the statement to point at. Else the `def` of `fn`."""
    found = parsed(fn)
    if found is None:
        return where(fn) if fn is not None else (None, None)
    node, file, offset = found
    for name in names:
        lines = [n.lineno for n in body_nodes(node) if isinstance(n, ast.Call) and called_name(n) == name]
        if lines:
            return file, offset + min(lines)
    return where(fn)


def only_return(fn):
    """(file, line) of the one `return <value>` of the learner's function `fn`, or None if it has several or none."""
    found = parsed(fn)
    if found is None:
        return None
    node, file, offset = found
    returns = [n.lineno for n in body_nodes(node) if isinstance(n, ast.Return) and n.value is not None]
    return (file, offset + returns[0]) if len(returns) == 1 else None


def parameter_line(fn, name):
    """(file, line) of the parameter `name` of the learner's function `fn`, else its `def`."""
    found = parsed(fn)
    if found is None:
        return where(fn) if fn is not None else (None, None)
    node, file, offset = found
    every = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
    return next(((file, offset + a.lineno) for a in every if a.arg == name), where(fn))


def learner_caller(depth=2):
    """(file, line) of the innermost frame of the learner's among the callers `depth` frames up, or (None, None)."""
    frame = sys._getframe(depth)
    for _ in range(12):
        if frame is None:
            break
        file = learner_relative(frame.f_code.co_filename)
        if file is not None:
            return file, frame.f_lineno
        frame = frame.f_back
    return None, None


@contextmanager
def session_calls(*names):
    """(method, file, line) of each call the learner's code makes to these methods of any session, in order."""
    seen = []
    originals = {name: getattr(OrmSession, name) for name in names}

    def spy(name, original):
        def call(self, *args, **kwargs):
            file, line = learner_caller()
            if file is not None:
                seen.append((name, file, line))
            return original(self, *args, **kwargs)
        return call

    for name, original in originals.items():
        setattr(OrmSession, name, spy(name, original))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(OrmSession, name, original)


def last_line(module):
    """(file, last line) of a learner module: where a missing endpoint would go."""
    file = learner_relative(module.__file__)
    try:
        with open(module.__file__, encoding="utf-8") as text:
            return file, max(1, len(text.read().rstrip().splitlines()))
    except OSError:
        return file, None


def shown(value, limit=160):
    text = repr(value)
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


# -- the app ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def main(learner):
    module = learner.module("main")
    if not hasattr(module, "app"):
        fail("main.py has no `app`: keep `app = FastAPI(lifespan=lifespan)`", file="main.py",
             line=last_line(module)[1], diagnosis="no-app")
    return module


@pytest.fixture(scope="module")
def database(learner, main):
    return learner.module("database")


@pytest.fixture(scope="module")
def hero_model(learner, main):
    return learner.module("models").Hero


def documented(app, method, path):
    try:
        return method.lower() in app.openapi().get("paths", {}).get(path, {})
    except Exception:  # noqa: BLE001 - a schema FastAPI cannot build says nothing about the route
        return False


class Api:
    """The learner's app behind a TestClient that re-raises crashes (so they point at the learner's line)."""

    def __init__(self, main, client):
        self.main = main
        self.app = main.app
        self.client = client

    def endpoint(self, method, route):
        """The learner's function that serves `method route`, or None."""
        return endpoint_function(self.app, method, route)

    def served_by(self, method, route):
        """The learner's endpoint for `method route`; fail at the end of main.py if the app has none."""
        found = self.endpoint(method, route)
        if found is None and not documented(self.app, method, route):
            file, line = last_line(self.main)
            fail(f"no endpoint serves {method} {route}: keep the five heroes endpoints of the starter", file=file,
                 line=line, diagnosis="no-route")
        return found

    def call(self, method, url, route, *, expect=200, diagnosis=None, advice=(), crash=None, **kwargs):
        """Send a request. A crash fails the check where `crash(exc)` says ((file, line, diagnosis) or None),
        else for a response that fails validation at the endpoint's one `return`, else at the learner's
        innermost line; another status than `expect` fails it at the `HTTPException` that made it, else at
        the endpoint."""
        fn = self.served_by(method, route)
        try:
            return request(self.client, method, url, expect=expect, diagnosis=diagnosis or "server-error",
                           wrong_answer=diagnosis, advice=advice, **kwargs)
        except CheckFailed as failure:
            file, line, diagnosis = better_place(failure, fn, crash) or (None, None, None)
            if file is None:
                raise
            raise CheckFailed(failure.message, file=file, line=line, diagnosis=diagnosis or failure.diagnosis,
                              details=failure.details) from None

    def create(self, **fields):
        def uncommitted(exc):  # refreshed or returned before the commit: the commit goes after the add
            if re.search(UNCOMMITTED, f"{type(exc).__name__}: {exc}"):
                return (*call_line(self.endpoint("POST", ALL), "add"), "create-not-saved")
            return None

        body = self.call("POST", ALL, ALL, json={**HERO, **fields}, diagnosis="create-failed", advice=CREATE_ADVICE,
                         crash=uncommitted)
        body = body.json()
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            post = self.endpoint("POST", ALL)
            file, line = only_return(post) or where(post)
            fail(f"POST /heroes/ answered {shown(body)}: it must return the new hero with its `id`", file=file,
                 line=line, diagnosis="no-id")
        return body


def better_place(failure, fn, crash):
    """(file, line, diagnosis or None) a request's crash should point at instead of where `request` put it, or
    None. `crash(exc)` may name only a diagnosis ((None, None, diagnosis)): the place stays."""
    exc = failure.__context__  # `request` raises its CheckFailed while it handles the crash
    if exc is None or fn is None:
        return None
    said = crash(exc) if crash is not None else None
    if said is not None:
        return said if said[0] is not None else (failure.file, failure.line, said[2])
    if isinstance(exc, ResponseValidationError) and (failure.file, failure.line) == where(fn):
        returned = only_return(fn)
        return (*returned, None) if returned else None
    return None


@pytest.fixture(scope="module")
def running(main):
    """The learner's app, started (its lifespan run) once for the checks that send it requests."""
    with TestClient(main.app) as client:
        yield client


@pytest.fixture
def api(main, database, hero_model, running):
    """The running app, on an emptied hero table."""
    with Session(database.engine) as session:
        session.execute(delete(hero_model))
        session.commit()
    return Api(main, running)


def rows(engine, hero_model):
    with Session(engine) as session:
        return {h.id: h.name for h in session.exec(select(hero_model))}


def stored(engine, hero_model, hero_id, fields):
    """The hero `hero_id` as the database holds it (only `fields`), or None."""
    with Session(engine) as session:
        hero = session.get(hero_model, hero_id)
        return None if hero is None else {key: getattr(hero, key, None) for key in fields}


def module_statement(module, name):
    """(file, line) of the module-level statement of a learner module that binds `name`, or (file, None)."""
    file = learner_relative(module.__file__)
    try:
        with open(module.__file__, encoding="utf-8") as text:
            tree = ast.parse(text.read())
    except (OSError, SyntaxError):
        return file, None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return file, node.lineno
    return file, None


# -- the checks ------------------------------------------------------------------------------------------------------
@check("app-starts")
def test_app_starts(main, database):
    with TestClient(main.app):
        pass
    if inspect_database(database.engine).has_table("hero"):
        return
    lifespan = main.app.router.lifespan_context
    if type(lifespan).__name__ == "_DefaultLifespan":
        file, line = module_statement(main, "app")
        fail("the app is built without a lifespan, so nothing calls create_db_and_tables() when it starts and "
             "there is no `hero` table: give `FastAPI(...)` the lifespan main.py defines", file=file, line=line,
             diagnosis="no-lifespan")
    fail("the app started but there is no `hero` table: its lifespan must call create_db_and_tables() before "
         "its `yield`", obj=lifespan, diagnosis="no-table")


@check("create-and-read")
def test_create_and_read(api, database, hero_model):
    with session_calls("add", "flush", "commit") as calls:
        created = api.create(age=None)
    post = api.endpoint("POST", ALL)
    for key, value in {**HERO, "age": None}.items():
        if created.get(key) != value:
            file, line = only_return(post) or where(post)
            fail(f"POST /heroes/ answered `{key}` = {created.get(key)!r} for a hero sent with {value!r}",
                 file=file, line=line, diagnosis="create-wrong")
    if stored(database.engine, hero_model, created["id"], HERO) is None:
        said = f"POST /heroes/ answered hero {created['id']}, but the database does not hold it"
        committed = {c[1:] for c in calls if c[0] == "commit"}  # a commit flushes too
        flushed = [c for c in calls if c[0] == "flush" and c[1:] not in committed]
        if flushed:
            fail(f"{said}: `flush` sends the new row to the database inside the transaction, but only a commit "
                 "keeps it once the session closes: commit here instead", file=flushed[0][1], line=flushed[0][2],
                 diagnosis="create-not-saved")
        adds = [c for c in calls if c[0] == "add"]
        file, line = adds[-1][1:] if adds else where(post)
        fail(f"{said}: the new hero is never committed, so it is lost when the session closes; commit after adding "
             "it", file=file, line=line, diagnosis="create-not-saved")
    url = f"/heroes/{created['id']}"
    one = api.call("GET", url, ONE, diagnosis="read-failed", advice=(
        Advice("The endpoint returned None for a hero that exists: its `return` must run once the `if` block is "
               "done, one level out.", matching=RETURNED_NONE))).json()
    if one != created:
        fail(f"GET {url} answered {shown(one)}, not the hero just created ({shown(created)})",
             obj=api.endpoint("GET", ONE), diagnosis="read-wrong")
    listed = api.call("GET", ALL, ALL, diagnosis="list-failed").json()
    if listed != [created]:
        file, line = call_line(api.endpoint("GET", ALL), "offset", "limit", "exec", "execute", "select")
        fail(f"GET /heroes/ answered {shown(listed)}, not the one hero just created: look at how `read_heroes` "
             "builds its query (offset 0 and limit 100 by default)", file=file, line=line, diagnosis="list-wrong")


@check("list-offset-limit")
def test_list_offset_limit(api):
    heroes = [api.create(name=name) for name in ("Alpha", "Beta", "Gamma")]
    read_heroes = api.endpoint("GET", ALL)
    file, line = call_line(read_heroes, "offset", "limit", "exec", "execute", "select")
    url = "/heroes/?offset=1&limit=1"
    page = [h.get("name") for h in api.call("GET", url, ALL, diagnosis="list-failed").json()]
    if page != ["Beta"]:
        fail(f"GET {url} answered {page}, expected ['Beta']: the query must skip `offset` heroes, then return at "
             "most `limit`", file=file, line=line, diagnosis="paging")
    everyone = api.call("GET", ALL, ALL, diagnosis="list-failed").json()
    if len(everyone) != len(heroes):
        fail(f"GET /heroes/ without parameters returned {len(everyone)} heroes out of {len(heroes)}", file=file,
             line=line, diagnosis="paging")
    file, line = parameter_line(read_heroes, "limit")
    response = api.call("GET", "/heroes/?limit=100", ALL, expect=None, diagnosis="list-failed")
    if response.status_code != 200:
        fail(f"GET /heroes/?limit=100 answered {response.status_code}{refusal(response)}: a limit of exactly 100 "
             "must be allowed", file=file, line=line, diagnosis="limit-too-strict")
    response = api.call("GET", "/heroes/?limit=101", ALL, expect=None, diagnosis="list-failed")
    if response.status_code != 422:
        fail(f"GET /heroes/?limit=101 answered {response.status_code}: a limit above 100 must be refused (422) "
             "before the query runs, so that nobody can ask for the whole table", file=file, line=line,
             diagnosis="no-limit-cap")


def refusal(response):
    """` (why FastAPI refused it)` for a 422, else ``."""
    try:
        return f" ({response.json()['detail'][0]['msg']})"
    except Exception:  # noqa: BLE001 - any other body: nothing to quote
        return ""


UNCOMMITTED = r"is not persistent within this Session|'loc': \('response', 'id'\), [^}]*'input': None"
"""A new hero refreshed, or returned, before it was committed (so it has no row, nor an `id`)."""

CREATE_ADVICE = (
    Advice("Only a table model such as `Hero` can be stored: build one from the request body with "
           "`Hero.model_validate(hero)`.", matching="is not mapped"),
    Advice("The endpoint must return the hero it stored, which has the `id` the database gave it.",
           matching=r"'type': 'missing', 'loc': \('response', 'id'\)"),
    Advice("The new hero gets its row, and its `id`, only when the session commits: commit after adding it, "
           "then refresh it.", matching=UNCOMMITTED),
)


def returned_exception(exc):
    """The diagnosis of a response that is an HTTPException the endpoint returned instead of raising it."""
    return (None, None, "exception-returned") if re.search(RETURNED_EXCEPTION, str(exc)) else None


MISSING_ADVICE = (
    Advice("`session.get` returns None for a missing hero: check for it, and raise `HTTPException` with status "
           "404, before using the hero.", matching=RETURNED_NONE + "|is not mapped|.NoneType. object has no attribute"),
    Advice("An `HTTPException` must be raised, not returned.", matching=RETURNED_EXCEPTION),
)


@check("missing-hero-404")
def test_missing_hero_404(api):
    url = f"/heroes/{MISSING_ID}"
    for method, body in (("GET", None), ("PATCH", {"age": 1}), ("DELETE", None)):
        fn = api.served_by(method, ONE)
        with http_errors_raised() as raised:
            response = api.call(method, url, ONE, json=body, expect=None, diagnosis="no-404", advice=MISSING_ADVICE,
                                crash=returned_exception)
        status = response.status_code
        made = [(file, line) for code, file, line in raised if code == status]
        if status != 404 and made:
            fail(f"{method} {url} answered {status} for a hero that does not exist: a missing resource is "
                 "404 Not Found, so this `HTTPException` needs status 404", file=made[-1][0], line=made[-1][1],
                 diagnosis="wrong-status")
        if status != 404:
            file, line = call_line(fn, "get", "exec", "execute")
            fail(f"{method} {url} answered {status} for a hero that does not exist: when `session.get` finds "
                 "nothing, raise `HTTPException` with status 404", file=file, line=line, diagnosis="no-404")
        detail = response.json().get("detail") if isinstance(response.json(), dict) else None
        if not detail or (isinstance(detail, str) and detail.strip() in GENERIC_DETAILS):
            file, line = made[-1] if made else where(fn)
            fail(f"{method} {url} answered 404 with detail {detail!r}, which does not say what is missing (a wrong "
                 "URL gets the same): give the `HTTPException` a `detail`", file=file, line=line,
                 diagnosis="no-detail")


@check("patch-updates-given-fields")
def test_patch_updates_given_fields(api, database, hero_model):
    hero = api.create(name="Rusty-Man", secret_name="Tommy Sharp", age=48)
    url = f"/heroes/{hero['id']}"
    update_hero = api.served_by("PATCH", ONE)
    change = call_line(update_hero, "model_dump", "dict", "sqlmodel_update", "setattr", "model_validate")

    def not_null(exc):
        return (*change, "not-exclude-unset") if "NOT NULL constraint failed" in str(exc) else None

    previous = hero
    steps = [({"age": 49}, {**hero, "age": 49}), ({"name": "Rusty"}, {**hero, "age": 49, "name": "Rusty"}),
             ({"age": None}, {**hero, "age": None, "name": "Rusty"})]
    for sent, expected in steps:
        with session_calls("add", "commit", "refresh") as calls:
            answered = api.call("PATCH", url, ONE, json=sent, diagnosis="patch-failed", crash=not_null, advice=(
                Advice("Fields the client did not send must keep their stored values: dump only the fields it "
                       "sent.", matching="NOT NULL constraint failed"))).json()
        kept = stored(database.engine, hero_model, hero["id"], expected)
        if kept == expected:
            previous = expected
            continue
        said = f"after PATCH {url} with {sent} the database holds {shown(kept)}"
        commits = [c for c in calls if c[0] == "commit"]
        early = [c for c in commits if c[1] == change[0] and c[2] < change[1]]
        if kept == previous and early and not [c for c in commits if c[1] == change[0] and c[2] > change[1]]:
            fail(f"{said}: this commit runs before the row is changed, so the change is never saved; commit after "
                 "changing it", file=early[-1][1], line=early[-1][2], diagnosis="not-saved")
        after = [c for c in calls if c[1] == change[0] and c[2] > change[1] and c[0] != "add"]
        if kept == previous and after and after[0][0] == "refresh":
            fail(f"{said}: `session.refresh` reloads the row from the database before the change is committed, "
                 "which throws the change away; commit first, then refresh", file=after[0][1], line=after[0][2],
                 diagnosis="not-saved")
        if answered == expected and kept == previous:
            if early:
                fail(f"{said}, though the answer showed the change: this commit runs before the row is changed, so "
                     "the change is never saved; commit after changing it", file=early[-1][1], line=early[-1][2],
                     diagnosis="not-saved")
            if commits:
                fail(f"{said}, though the answer showed the change and the endpoint commits: the change went to "
                     "another object than the row the session loaded; copy the fields onto the stored hero itself",
                     file=change[0], line=change[1], diagnosis="not-applied")
            adds = [c for c in calls if c[0] == "add"]
            file, line = adds[-1][1:] if adds else where(update_hero)
            fail(f"{said}, though the answer showed the change: the change is never committed, so it is lost when "
                 "the session closes", file=file, line=line, diagnosis="not-saved")
        nulled = [key for key, value in sent.items() if value is None and kept.get(key) is not None]
        if nulled:
            fail(f"{said}: `{nulled[0]}` was sent as null on purpose and must be cleared; only fields the client "
                 "did not send are left alone", file=change[0], line=change[1], diagnosis="exclude-none")
        if kept == previous:
            fail(f"{said}: the PATCH changed nothing; copy the fields of the request body onto the stored hero",
                 file=change[0], line=change[1], diagnosis="not-applied")
        fail(f"{said}, expected {shown(expected)}: only the fields the client sent may change", file=change[0],
             line=change[1], diagnosis="not-exclude-unset")


@check("delete-removes")
def test_delete_removes(api, database, hero_model):
    keep = api.create(name="Keeper")
    gone = api.create(name="Goner")
    url = f"/heroes/{gone['id']}"
    delete_hero = api.served_by("DELETE", ONE)
    with session_calls("delete", "commit") as calls:
        response = api.call("DELETE", url, ONE, expect=None)
    if not 200 <= response.status_code < 300:
        fail(f"DELETE {url} answered {response.status_code} for a hero that exists", obj=delete_hero,
             diagnosis=f"status-{response.status_code}")
    left = rows(database.engine, hero_model)
    if list(left) == [keep["id"]]:
        return
    if gone["id"] not in left:
        removed = [c for c in calls if c[0] == "delete"]
        file, line = removed[-1][1:] if removed else call_line(delete_hero, "exec", "execute", "delete")
        fail(f"DELETE {url} removed hero {keep['id']} too: delete only the hero it was asked for", file=file,
             line=line, diagnosis="deletes-others")
    said = f"after DELETE {url} the database still holds hero {gone['id']}"
    deletes = [c for c in calls if c[0] == "delete"]
    if not deletes:
        fail(f"{said}: the endpoint never deletes it (`session.delete`)", obj=delete_hero, diagnosis="not-deleted")
    committed = [c for c in calls[calls.index(deletes[-1]):] if c[0] == "commit"]
    if not committed:
        fail(f"{said}: `session.delete` only marks the row, and nothing is removed until the session commits",
             file=deletes[-1][1], line=deletes[-1][2], diagnosis="not-committed")
    fail(f"{said}, though the endpoint deleted and committed: it worked on another session than the one it "
         "read the hero with?", obj=delete_hero, diagnosis="not-deleted")


class OtherDatabase:
    """A second SQLite file and a replacement for get_session that hands out sessions on it."""

    def __init__(self, path="other.db"):
        if os.path.exists(path):
            os.remove(path)
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        SQLModel.metadata.create_all(self.engine)
        self.calls = 0

    def get_session(self):
        self.calls += 1
        with Session(self.engine) as session:
            yield session


def bypassed(where, what):
    fail(f"{what}: the endpoint used the app's own database instead of the session FastAPI gave it; make every "
         "database call through the `session` parameter, not a session of its own", obj=where,
         diagnosis="bypasses-dependency")


@check("uses-session-dependency")
def test_uses_session_dependency(api, database, hero_model):
    other = OtherDatabase()
    for engine, hero in ((database.engine, hero_model(id=1, name="App hero", secret_name="only in database.db")),
                         (other.engine, hero_model(id=7, name="Override hero", secret_name="only in other.db"))):
        with Session(engine) as session:
            session.add(hero)
            session.commit()

    def send(method, url, route, **kwargs):
        before = other.calls
        response = api.call(method, url, route, expect=None, **kwargs)
        where = api.endpoint(method, route)
        if other.calls == before:
            fail(f"{method} {url} did not ask FastAPI for a session: declare `session: SessionDep` on this endpoint",
                 obj=where, diagnosis="no-dependency")
        if response.status_code == 404:
            bypassed(where, f"{method} {url} answered 404, but hero 7 exists in the override's database")
        if not 200 <= response.status_code < 300:
            fail(f"with get_session replaced by a session on another database, {method} {url} answered "
                 f"{response.status_code}: {shown(response.text)}", obj=where,
                 diagnosis=f"status-{response.status_code}")
        return (response.json() if response.content else None), where

    api.app.dependency_overrides[database.get_session] = other.get_session
    try:
        listed, where = send("GET", ALL, ALL)
        if [h.get("name") for h in listed] != ["Override hero"]:
            bypassed(where, f"GET /heroes/ listed {[h.get('name') for h in listed]}, not the override's "
                            "['Override hero']")
        one, where = send("GET", "/heroes/7", ONE)
        if one.get("name") != "Override hero":
            bypassed(where, f"GET /heroes/7 answered {shown(one)}")
        _, where = send("POST", ALL, ALL, json={"name": "New hero", "secret_name": "x"})
        if rows(database.engine, hero_model) != {1: "App hero"}:
            bypassed(where, "POST /heroes/ wrote to the app's database.db")
        send("PATCH", "/heroes/7", ONE, json={"name": "Override hero", "secret_name": "only in other.db", "age": 30})
        _, where = send("DELETE", "/heroes/7", ONE)
        if rows(database.engine, hero_model) != {1: "App hero"}:
            bypassed(where, "an endpoint changed the app's database.db")
    finally:
        api.app.dependency_overrides.pop(database.get_session, None)
        other.engine.dispose()


@contextmanager
def queries_on_the_event_loop():
    """Grows by one entry for each SQL statement any engine runs on a thread with a running event loop."""
    seen = []

    def before(*_args):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        seen.append(True)

    event.listen(Engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", before)


ROUTES = (("POST", ALL), ("GET", ALL), ("GET", ONE), ("PATCH", ONE), ("DELETE", ONE))


@check("endpoints-off-the-event-loop")
def test_endpoints_off_the_event_loop(request, main):
    served = [endpoint_function(main.app, method, route) for method, route in ROUTES]
    if not any(fn is not None and inspect.iscoroutinefunction(definition(fn)) for fn in served):
        return  # FastAPI runs every plain `def` endpoint in a worker thread
    api = request.getfixturevalue("api")
    with queries_on_the_event_loop() as seen:
        blocking = sent_on_the_loop(api, seen)
    if not blocking:
        return
    first, others = blocking[0], blocking[1:]
    also = "".join(f", `{fn.__name__}` (line {where(fn)[1]})" for fn in others)
    fail(f"`{first.__name__}`{also} {'are' if others else 'is'} `async def`, so FastAPI runs "
         f"{'them' if others else 'it'} on the event loop itself, and a synchronous session's database calls block "
         "every other request while they wait: declare the endpoints with plain `def`, which FastAPI runs in a "
         "worker thread", obj=first, diagnosis="blocks-event-loop")


def sent_on_the_loop(api, seen):
    """The `async def` endpoints that ran a query on the event loop, one request each."""
    url = f"/heroes/{api.create(name='Sleeper')['id']}"
    blocking = []
    for method, target, route, body in (("POST", ALL, ALL, {**HERO}), ("GET", ALL, ALL, None), ("GET", url, ONE, None),
                                        ("PATCH", url, ONE, {"age": 3}), ("DELETE", url, ONE, None)):
        fn = api.endpoint(method, route)
        if fn is None or not inspect.iscoroutinefunction(definition(fn)):
            continue  # FastAPI runs a plain `def` in a worker thread (it may load the result on the loop)
        before = len(seen)
        try:
            api.client.request(method, target, json=body)
        except Exception:  # noqa: BLE001 - a crash is other checks' business; the queries before it count
            pass
        if len(seen) > before and fn not in blocking:
            blocking.append(fn)
    return blocking
