"""Chapter 3's behavioural checks: the learner's heroes API through TestClient, on a temp SQLite file.

The last check swaps `database.get_session` for a dependency on another database and watches
which database every endpoint reads and writes.
"""

import os

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, inspect
from sqlmodel import Session, SQLModel, create_engine, select

from grader.testing import Advice, check, endpoint_function, fail, request

HERO = {"name": "Deadpond", "secret_name": "Dive Wilson"}
MISSING_ID = 424242
GENERIC_DETAILS = {"", "Not Found"}
"""What a 404 says when nobody wrote a detail (also what an unknown URL gets)."""
ONE = "/heroes/{hero_id}"
ALL = "/heroes/"


@pytest.fixture(scope="module")
def main(learner):
    module = learner.module("main")
    if not hasattr(module, "app"):
        fail("main.py has no `app`: keep `app = FastAPI(lifespan=lifespan)`", diagnosis="no-app")
    return module


@pytest.fixture(scope="module")
def database(learner, main):
    return learner.module("database")


@pytest.fixture(scope="module")
def hero_model(learner, main):
    return learner.module("models").Hero


def endpoint(app, method, path):
    """The learner's function that serves `method path` (for file and line in messages), or None."""
    return endpoint_function(app, method, path)


def documented(app, method, path):
    try:
        return method.lower() in app.openapi().get("paths", {}).get(path, {})
    except Exception:  # noqa: BLE001 - a schema FastAPI cannot build says nothing about the route
        return False


class Api:
    """The learner's app behind a TestClient that re-raises crashes (so they point at the learner's line)."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def served_by(self, method, path):
        """The learner's endpoint for `method path`; fail clearly if the app has none."""
        found = endpoint(self.app, method, path)
        if found is None and not documented(self.app, method, path):
            fail(f"no endpoint serves {method} {path}: keep the five heroes endpoints of the starter",
                 diagnosis="no-route")
        return found

    def call(self, method, url, route, *, expect=200, diagnosis=None, advice="", **kwargs):
        """Send a request; fail at the serving endpoint on a crash or an unexpected status."""
        self.served_by(method, route)
        return request(self.client, method, url, expect=expect, diagnosis=diagnosis or "server-error",
                       wrong_answer=diagnosis, advice=advice, **kwargs)

    def create(self, **fields):
        body = self.call("POST", ALL, ALL, json={**HERO, **fields}).json()
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            fail(f"POST /heroes/ answered {body!r}: it must return the new hero with its `id`",
                 obj=endpoint(self.app, "POST", ALL), diagnosis="no-id")
        return body


@pytest.fixture
def api(main, database, hero_model):
    """The learner's app, started (lifespan) on an emptied hero table."""
    with TestClient(main.app) as client:
        with Session(database.engine) as session:
            session.execute(delete(hero_model))
            session.commit()
        yield Api(main.app, client)


def rows(engine, hero_model):
    with Session(engine) as session:
        return {h.id: h.name for h in session.exec(select(hero_model))}


@check("app-starts")
def test_app_starts(main, database):
    with TestClient(main.app):
        pass
    if not inspect(database.engine).has_table("hero"):
        fail("the app started but there is no `hero` table: keep the lifespan that calls create_db_and_tables()",
             diagnosis="no-table")


@check("create-and-read")
def test_create_and_read(api):
    created = api.create(age=None)
    for key, value in {**HERO, "age": None}.items():
        if created.get(key) != value:
            fail(f"POST /heroes/ answered {created!r}: `{key}` should be {value!r}", obj=endpoint(api.app, "POST", ALL))
    url = f"/heroes/{created['id']}"
    one = api.call("GET", url, ONE).json()
    if one != created:
        fail(f"GET {url} answered {one!r}, not the hero just created ({created!r})", obj=endpoint(api.app, "GET", ONE))
    listed = api.call("GET", ALL, ALL).json()
    if listed != [created]:
        fail(f"GET /heroes/ answered {listed!r}; expected the one hero just created", obj=endpoint(api.app, "GET", ALL))


@check("list-offset-limit")
def test_list_offset_limit(api):
    heroes = [api.create(name=name) for name in ("Alpha", "Beta", "Gamma")]
    where = endpoint(api.app, "GET", ALL)
    page = api.call("GET", ALL, ALL, params={"offset": 1, "limit": 1}).json()
    if [h["name"] for h in page] != ["Beta"]:
        fail(f"GET /heroes/?offset=1&limit=1 answered {[h['name'] for h in page]}, expected ['Beta'] "
             "(skip one hero, return one)", obj=where, diagnosis="paging")
    everyone = api.call("GET", ALL, ALL).json()
    if len(everyone) != len(heroes):
        fail(f"GET /heroes/ without parameters returned {len(everyone)} heroes out of {len(heroes)}", obj=where,
             diagnosis="paging")
    api.call("GET", ALL, ALL, params={"limit": 100}, diagnosis="limit-too-strict",
             advice="a limit of exactly 100 must be allowed: `Query(le=100)`")
    api.call("GET", ALL, ALL, params={"limit": 101}, expect=422, diagnosis="no-limit-cap",
             advice="a limit above 100 must be refused with 422; declare `limit: Annotated[int, Query(le=100)] = 100`")


@check("missing-hero-404")
def test_missing_hero_404(api):
    url = f"/heroes/{MISSING_ID}"
    for method, body in (("GET", None), ("PATCH", {"age": 1}), ("DELETE", None)):
        response = api.call(method, url, ONE, json=body, expect=404, diagnosis="no-404",
                            advice="check `if not hero:` and raise HTTPException(status_code=404, ...)")
        detail = response.json().get("detail")
        if not isinstance(detail, str) or detail.strip() in GENERIC_DETAILS:
            fail(f"{method} {url} answered 404 with detail {detail!r}, which does not say what is missing (a wrong "
                 "URL gets the same): raise `HTTPException(status_code=404, detail=\"Hero not found\")`",
                 obj=endpoint(api.app, method, ONE), diagnosis="no-detail")


@check("patch-updates-given-fields")
def test_patch_updates_given_fields(api):
    hero = api.create(name="Rusty-Man", secret_name="Tommy Sharp", age=48)
    url = f"/heroes/{hero['id']}"
    steps = [({"age": 49}, {**hero, "age": 49}), ({"name": "Rusty"}, {**hero, "age": 49, "name": "Rusty"}),
             ({"age": None}, {**hero, "age": None, "name": "Rusty"})]
    for sent, expected in steps:
        api.call("PATCH", url, ONE, json=sent, diagnosis="not-exclude-unset",
                 advice=Advice("Fields the client did not send must be left alone: "
                               "`hero.model_dump(exclude_unset=True)`", matching="NOT NULL constraint failed"))
        stored = api.call("GET", url, ONE).json()
        if stored != expected:
            fail(f"after PATCH {url} with {sent} the hero is {stored!r}, expected {expected!r}: only the fields "
                 "the client sent may change (and a field sent as null is cleared); use "
                 "`hero.model_dump(exclude_unset=True)`", obj=endpoint(api.app, "PATCH", ONE),
                 diagnosis="exclude-none" if sent == {"age": None} else "not-exclude-unset")


@check("delete-removes")
def test_delete_removes(api, database, hero_model):
    keep = api.create(name="Keeper")
    gone = api.create(name="Goner")
    url = f"/heroes/{gone['id']}"
    api.call("DELETE", url, ONE)
    left = rows(database.engine, hero_model)
    if list(left) != [keep["id"]]:
        fail(f"after DELETE {url} the database holds heroes {sorted(left)}, expected only {keep['id']}: call "
             "`session.delete(hero)` and commit", obj=endpoint(api.app, "DELETE", ONE), diagnosis="not-deleted")


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
    fail(f"{what}: the endpoint used the app's own database instead of the session FastAPI gave it; remove "
         "`with Session(engine)` and use the `session` parameter", obj=where, diagnosis="bypasses-dependency")


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
        where = endpoint(api.app, method, route)
        if other.calls == before:
            fail(f"{method} {url} did not ask FastAPI for a session: declare `session: SessionDep` on this endpoint",
                 obj=where, diagnosis="no-dependency")
        if response.status_code == 404:
            bypassed(where, f"{method} {url} answered 404, but hero 7 exists in the override's database")
        if response.status_code != 200:
            fail(f"with get_session replaced by a session on another database, {method} {url} answered "
                 f"{response.status_code}: {response.text[:200]}", obj=where,
                 diagnosis=f"status-{response.status_code}")
        return response.json(), where

    api.app.dependency_overrides[database.get_session] = other.get_session
    try:
        listed, where = send("GET", ALL, ALL)
        if [h.get("name") for h in listed] != ["Override hero"]:
            bypassed(where, f"GET /heroes/ listed {[h.get('name') for h in listed]}, not the override's "
                            "['Override hero']")
        one, where = send("GET", "/heroes/7", ONE)
        if one.get("name") != "Override hero":
            bypassed(where, f"GET /heroes/7 answered {one!r}")
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
