"""What the behavioural checks point at (grader.testing), run in this process on a learner module written
for the purpose: the `def` line of a decorated function, the endpoint that served a request, the
learner's innermost line of a crash, and advice only where it fits.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from grader.testing import (Advice, CheckFailed, Learner, about, advised, attribute_at, endpoint_function, endpoint_of,
                            fail, paused_at, request, serve, where)
from variants import line_of

LEARNER = textwrap.dedent('''
    import functools
    from contextlib import asynccontextmanager, contextmanager

    from fastapi import APIRouter, FastAPI, HTTPException
    from pydantic import BaseModel


    class Hero(BaseModel):
        name: str


    class Villain(Hero):
        """A hero gone wrong."""

        power: int = 0


    app = FastAPI()
    router = APIRouter(prefix="/teams")
    inner = FastAPI()


    @app.get("/heroes/{hero_id}", response_model=Hero)
    def read_hero(hero_id: int):
        if hero_id == 0:
            return HTTPException(status_code=404, detail="Hero not found")
        if hero_id == 2:
            raise HTTPException(status_code=400, detail="Hero not found")
        if hero_id == 3:
            return {"name": 3}
        if hero_id == 1:
            return {"name": 1 / 0}
        return {"name": "Deadpond"}


    @router.patch(
        "/{team_id}",
    )
    def update_team(team_id: int, sesion: int = 0):
        return session


    @inner.get("/ping")
    def ping():
        return "pong"


    app.include_router(router)
    app.mount("/inner", inner)


    @asynccontextmanager
    async def lifespan(app):
        yield


    @contextmanager
    def opened():
        yield 1


    def traced(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs)
        return wrapper


    @traced
    def helper():
        return json_text()


    def twice():
        yield "first"
        yield "second"
''')

BROKEN_ROUTE = textwrap.dedent('''
    from typing import Annotated

    from fastapi import Depends, FastAPI


    def get_session():
        yield None


    app = FastAPI()


    @app.delete("/heroes/{hero_id}")
    def delete_hero(
        hero_id: int,
        session: Annotated[object, Depends(get_session)] = Depends(get_session),
    ):
        return None
''')

LIFESPANS = textwrap.dedent('''
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    events = []


    @asynccontextmanager
    async def working(app):
        events.append("started")
        yield
        events.append("stopped")


    @asynccontextmanager
    async def no_database(app):
        raise RuntimeError("no database")
        yield


    @asynccontextmanager
    async def bad_shutdown(app):
        yield
        {}["engine"].dispose()


    @asynccontextmanager
    async def takes_nothing():
        yield


    app = FastAPI(lifespan=working)
    fails_to_start = FastAPI(lifespan=no_database)
    fails_to_stop = FastAPI(lifespan=bad_shutdown)
    wrong_shape = FastAPI(lifespan=takes_nothing)


    @app.get("/")
    def root():
        return {"events": events}
''')


@pytest.fixture
def learner(tmp_path, monkeypatch):
    """The learner module above, imported from the current folder as the sandbox does."""
    (tmp_path / "learner.py").write_text(LEARNER)
    (tmp_path / "broken.py").write_text(BROKEN_ROUTE)
    (tmp_path / "lifespans.py").write_text(LIFESPANS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("learner")
    for name in ("learner", "broken", "lifespans"):
        sys.modules.pop(name, None)


def line(text):
    return line_of(LEARNER, text)


# -- where ------------------------------------------------------------------------------------------------------------
def test_where_points_at_the_def_line_not_the_decorator(learner):
    assert where(learner.read_hero) == ("learner.py", line("def read_hero"))
    assert where(learner.update_team) == ("learner.py", line("def update_team"))  # a decorator over three lines
    assert where(learner.Hero) == ("learner.py", line("class Hero"))


def test_where_looks_through_wrappers_to_the_learners_def(learner):
    assert where(learner.lifespan) == ("learner.py", line("async def lifespan"))
    assert where(learner.opened) == ("learner.py", line("def opened"))
    assert where(learner.helper) == ("learner.py", line("def helper"))


def test_a_field_is_found_on_its_own_line_in_the_class_that_declares_it(learner):
    assert attribute_at(learner.Villain, "power") == ("learner.py", line("power: int = 0"))
    assert attribute_at(learner.Villain, "name") == ("learner.py", line("    name: str"))  # inherited
    assert attribute_at(learner.Villain, "age") == ("learner.py", line("class Villain"))  # none: the class


def test_a_module_level_name_is_found_on_the_line_that_assigns_it(learner):
    assert attribute_at(learner, "inner") == ("learner.py", line("inner = FastAPI()"))
    assert attribute_at(learner, "lifespan") == ("learner.py", None)  # a def, not an assignment


def test_where_says_nothing_about_what_the_learner_did_not_write(learner):
    assert where(learner.app) == (None, None)  # an instance: its class is FastAPI's
    assert where(json.loads) == (None, None)


def test_a_generator_that_yields_again_is_blamed_on_the_yield_it_stopped_at(learner):
    generator = learner.twice()
    next(generator)
    next(generator)
    assert paused_at(generator) == ("learner.py", line('yield "second"'))
    generator.close()
    assert paused_at(generator) == (None, None)
    assert paused_at(generator, otherwise=learner.twice) == ("learner.py", line("def twice"))


def test_a_failure_about_an_exception_points_at_its_learner_line_else_at_obj(learner):
    try:
        learner.helper()
    except NameError as exc:
        raised = exc
    found = failure(lambda: fail("helper failed", cause=raised, obj=learner.twice))
    assert (found.file, found.line) == ("learner.py", line("return json_text()"))
    assert 'File "learner.py"' in found.details
    elsewhere = failure(lambda: fail("json failed", cause=ValueError("not ours"), obj=learner.twice))
    assert (elsewhere.file, elsewhere.line) == ("learner.py", line("def twice"))


# -- endpoints --------------------------------------------------------------------------------------------------------
def test_endpoint_of_finds_the_function_serving_a_url_or_a_route(learner):
    app = learner.app
    assert endpoint_of(app, "GET", "/heroes/7") == ("learner.py", line("def read_hero"))
    assert endpoint_of(app, "GET", "/heroes/{hero_id}") == ("learner.py", line("def read_hero"))
    assert endpoint_of(app, "patch", "/teams/3?verbose=1") == ("learner.py", line("def update_team"))  # a router
    assert endpoint_function(app, "GET", "/inner/ping") is learner.ping  # a mounted app


def test_endpoint_of_is_nothing_when_no_endpoint_serves_the_method_and_path(learner):
    assert endpoint_of(learner.app, "DELETE", "/heroes/7") == (None, None)
    assert endpoint_of(learner.app, "GET", "/villains/") == (None, None)


# -- request ----------------------------------------------------------------------------------------------------------
def failure(call) -> CheckFailed:
    with pytest.raises(CheckFailed) as caught:
        call()
    return caught.value


def test_a_wrong_status_fails_at_the_endpoint_that_answered(learner):
    with TestClient(learner.app) as client:
        found = failure(lambda: request(client, "GET", "/heroes/7", expect=201))
    assert (found.file, found.line, found.diagnosis) == ("learner.py", line("def read_hero"), "status-200")
    assert found.message.startswith("GET /heroes/7 answered 200, expected 201: {")


def test_a_wrong_error_status_fails_at_the_statement_that_raised_it(learner):
    with TestClient(learner.app) as client:
        found = failure(lambda: request(client, "GET", "/heroes/2", expect=404))
        unknown = failure(lambda: request(client, "GET", "/villains/2", expect=200))  # FastAPI's own 404
    assert (found.file, found.line, found.diagnosis) == ("learner.py", line("status_code=400"), "status-400")
    assert (unknown.file, unknown.line, unknown.diagnosis) == (None, None, "status-404")


def test_a_crash_in_the_learners_code_points_at_their_innermost_line_once(learner):
    with TestClient(learner.app) as client:
        found = failure(lambda: request(client, "GET", "/heroes/1"))
    assert (found.file, found.line, found.diagnosis) == ("learner.py", line("1 / 0"), "server-error")
    assert found.message == "GET /heroes/1 crashed with ZeroDivisionError: division by zero"
    assert 'File "learner.py"' in found.details


def test_a_crash_outside_the_learners_code_points_at_the_endpoint(learner):
    """FastAPI refuses what read_hero returned: no frame of the learner's is in the traceback."""
    with TestClient(learner.app) as client:
        found = failure(lambda: request(client, "GET", "/heroes/3"))
    assert (found.file, found.line) == ("learner.py", line("def read_hero"))
    assert found.message.startswith("GET /heroes/3 crashed with ResponseValidationError: 1 validation error: "
                                    "response.name: Input should be a valid string (got 3)")


def test_a_crash_over_an_http_exception_returned_not_raised_points_at_it(learner):
    with TestClient(learner.app) as client:
        found = failure(lambda: request(client, "GET", "/heroes/0"))
    assert (found.file, found.line) == ("learner.py", line("return HTTPException"))
    assert found.message == ("GET /heroes/0 crashed with ResponseValidationError: 1 validation error: response.name: "
                             "Field required (got HTTPException(status_code=404, detail='Hero not found'))")


def test_a_misspelt_name_is_blamed_on_the_parameter_it_meant(learner):
    with TestClient(learner.app) as client:
        found = failure(lambda: request(client, "PATCH", "/teams/3"))
    assert (found.file, found.line) == ("learner.py", line("def update_team"))
    assert found.message == ("PATCH /teams/3 crashed with NameError: name 'session' is not defined "
                             "(did you mean `sesion`?)")


def test_advice_is_added_only_where_it_fits(learner):
    advice = [Advice("Do not divide by zero.", matching="division by zero"), "Answer 201 when created."]
    with TestClient(learner.app) as client:
        crash = failure(lambda: request(client, "GET", "/heroes/1", advice=advice))
        wrong = failure(lambda: request(client, "GET", "/heroes/7", expect=201, advice=advice))
        other_crash = failure(lambda: request(client, "GET", "/heroes/0", advice=advice))
    assert crash.message.endswith("division by zero. Do not divide by zero.")
    assert wrong.message.endswith(". Answer 201 when created.") and "divide" not in wrong.message
    assert "divide" not in other_crash.message and "201" not in other_crash.message


def test_advice_by_exception_type_and_sentence_joining():
    fits = Advice("Await it.", on=AttributeError, matching="coroutine")
    assert fits.fits(AttributeError("'coroutine' object has no attribute 'all'"))
    assert not fits.fits(AttributeError("'NoneType' object has no attribute 'all'"))
    assert not fits.fits(TypeError("coroutine")) and not fits.fits(None)
    assert advised("it failed.", "Try again.") == "it failed. Try again."
    assert advised("it failed", ["Try again.", Advice("Never.", on=KeyError)]) == "it failed. Try again."


# -- route building -----------------------------------------------------------------------------------------------------
def test_an_error_while_fastapi_builds_a_route_points_at_the_parameter_not_the_decorator(learner):
    found = failure(lambda: Learner(Path.cwd()).module("broken"))
    assert (found.file, found.line) == ("broken.py", line_of(BROKEN_ROUTE, "session: Annotated"))
    assert found.message.startswith("importing broken.py raised AssertionError: Cannot specify `Depends`")
    assert "(line" not in found.message


# -- about --------------------------------------------------------------------------------------------------------------
def test_a_library_failing_on_the_learners_object_is_their_failure_named_by_the_check(learner):
    def use():
        with about("the text learner.helper gave", obj=learner.helper, diagnosis="not-json"):
            json.loads("{not json")

    found = failure(use)
    assert (found.file, found.line, found.diagnosis) == ("learner.py", line("def helper"), "not-json")
    assert found.message.startswith("the text learner.helper gave could not be used: JSONDecodeError: Expecting")


def test_about_leaves_the_learners_crashes_and_the_checks_own_bugs_alone(learner):
    with pytest.raises(NameError):  # raised in learner.py: reported at the learner's line by the plugin
        with about("the helper"):
            learner.helper()
    with pytest.raises(KeyError):  # raised here, in the check: a bug of the course
        with about("the helper"):
            {}["missing"]


# -- serve: the app with its lifespan -------------------------------------------------------------------------------------
def lifespan_line(text):
    return line_of(LIFESPANS, text)


def test_serve_runs_the_lifespan_around_the_block(learner):
    apps = importlib.import_module("lifespans")
    with serve(apps.app) as client:
        assert request(client, "GET", "/", expect=200).json() == {"events": ["started"]}
    assert apps.events == ["started", "stopped"]


def test_a_lifespan_that_fails_to_start_is_blamed_on_the_learners_line(learner):
    apps = importlib.import_module("lifespans")

    def start():
        with serve(apps.fails_to_start):
            raise AssertionError("the block must not run")

    found = failure(start)
    assert (found.file, found.line, found.diagnosis) == ("lifespans.py", lifespan_line('raise RuntimeError'),
                                                         "startup-error")
    assert found.message == "the app failed to start: its lifespan raised RuntimeError: no database"
    assert 'File "lifespans.py"' in found.details


def test_a_lifespan_that_fails_to_stop_is_blamed_on_the_learners_line(learner):
    apps = importlib.import_module("lifespans")

    def stop():
        with serve(apps.fails_to_stop, diagnosis="lifespan-error") as client:
            request(client, "GET", "/missing", expect=404)

    found = failure(stop)
    assert (found.file, found.line, found.diagnosis) == ("lifespans.py", lifespan_line('{}["engine"]'),
                                                         "lifespan-error")
    assert found.message == "the app failed to stop: its lifespan raised KeyError: 'engine'"


def test_a_lifespan_of_the_wrong_shape_is_blamed_on_its_def_with_the_advice_that_fits(learner):
    apps = importlib.import_module("lifespans")
    shape = Advice("A lifespan takes the app.", matching="positional argument")

    def start():
        with serve(apps.wrong_shape, advice=[shape, "Answer 200."]):
            pass

    found = failure(start)
    assert (found.file, found.line) == ("lifespans.py", lifespan_line("async def takes_nothing"))
    assert found.message.startswith("the app failed to start: its lifespan raised TypeError: ")
    assert found.message.endswith(". A lifespan takes the app.")


def test_a_failure_inside_the_block_wins_over_the_shutdown(learner):
    apps = importlib.import_module("lifespans")

    def block():
        with serve(apps.fails_to_stop) as client:
            request(client, "GET", "/missing", expect=200)

    found = failure(block)
    assert found.diagnosis == "status-404" and "lifespan" not in found.message
