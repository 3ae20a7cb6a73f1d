"""The endpoint building blocks: which functions are path operations, and what their parameters are,
whatever the import spellings."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from grader.static import Source, app_objects, endpoints, parameter, resolve_alias, resolves_to, walk

SESSION_DEP = ("database.SessionDep",
               "typing.Annotated[sqlmodel.Session, fastapi.Depends(database.get_session, ...)]")


def src(code: str) -> Source:
    return Source.from_text(textwrap.dedent(code), "main.py")


# -- endpoints ------------------------------------------------------------------------------
@pytest.mark.parametrize("setup, decorator", [
    ("from fastapi import FastAPI\napp = FastAPI()", "@app.get('/heroes/')"),
    ("from fastapi import FastAPI as F\napi = F(title='x')", "@api.get('/heroes/')"),
    ("import fastapi\napp = fastapi.FastAPI()", "@app.get(path='/heroes/')"),
    ("from fastapi import FastAPI\napp: FastAPI = FastAPI()", "@app.get('/heroes/', response_model=list)"),
    ("from fastapi import APIRouter\nrouter = APIRouter()", "@router.get('/heroes/')"),
    ("from fastapi.routing import APIRouter\nrouter = APIRouter()", "@router.get('/heroes/')"),
    ("from fastapi import FastAPI\napp = FastAPI()", "@app.api_route('/heroes/', methods=['GET'])"),
])
def test_an_endpoint_is_found_through_any_app_spelling(setup, decorator):
    found = endpoints(src(f"{setup}\n\n{decorator}\ndef read_heroes():\n    return []\n"))
    assert [(e.name, e.methods, e.path) for e in found] == [("read_heroes", ("GET",), "/heroes/")]


def test_every_http_method_and_source_order():
    code = "from fastapi import FastAPI\napp = FastAPI()\n" + "".join(
        f"\n@app.{verb}('/x')\ndef f_{verb}():\n    pass\n" for verb in ("post", "put", "patch", "delete", "get"))
    found = endpoints(src(code))
    assert [e.methods[0] for e in found] == ["POST", "PUT", "PATCH", "DELETE", "GET"]
    assert found[0].label == "POST /x (`f_post`)" and found[0].app == "app"


@pytest.mark.parametrize("code", [
    "def plain():\n    pass\n",  # no decorator
    "import functools\n@functools.lru_cache()\ndef cached():\n    pass\n",  # another decorator
    "from fastapi import FastAPI\nother = object()\n@other.get('/x')\ndef f():\n    pass\n",  # not an app
    "from fastapi import FastAPI\napp = FastAPI()\n@app.middleware('http')\ndef m():\n    pass\n",  # not a route
    "from flask import Flask\napp = Flask('x')\n@app.get('/x')\ndef f():\n    pass\n",  # another framework
])
def test_other_functions_are_not_endpoints(code):
    assert endpoints(src(code)) == []


def test_api_route_methods_and_computed_paths():
    found = endpoints(src("from fastapi import FastAPI\napp = FastAPI()\nP = '/x'\n"
                          "@app.api_route('/a', methods=['put', 'PATCH'])\ndef a():\n    pass\n"
                          "@app.get(P)\ndef b():\n    pass\n"))
    assert [(e.methods, e.path) for e in found] == [(("PUT", "PATCH"), "/a"), (("GET",), None)]
    assert found[1].label == "GET (`b`)"


def test_app_objects_ignores_other_calls():
    found = app_objects(src("from fastapi import FastAPI, APIRouter\napp = FastAPI()\nr = APIRouter()\nx = dict()\n"))
    assert sorted(found) == ["app", "r"]


# -- parameter ---------------------------------------------------------------------------------
def endpoint_of(code: str):
    source = src(code)
    return source, endpoints(source)[0].node


HEADER = "from fastapi import FastAPI\napp = FastAPI()\n"


@pytest.mark.parametrize("imports, signature", [
    ("from database import SessionDep", "session: SessionDep"),
    ("from database import SessionDep as DB", "db: DB"),
    ("import database", "session: database.SessionDep"),
    ("from database import *", "session: SessionDep"),
    ("from database import SessionDep\nAlias = SessionDep", "session: Alias"),
    ("from typing import Annotated\nfrom fastapi import Depends\nfrom sqlmodel import Session\n"
     "from database import get_session", "session: Annotated[Session, Depends(get_session)]"),
    ("import typing, fastapi, sqlmodel, database",
     "*, session: typing.Annotated[sqlmodel.Session, fastapi.Depends(database.get_session, use_cache=True)]"),
    ("from typing import Annotated, TypeAlias\nfrom fastapi import Depends\nfrom sqlmodel import Session\n"
     "from database import get_session\nDep: TypeAlias = Annotated[Session, Depends(get_session)]",
     "hero_id: int, /, s: Dep"),
])
def test_parameter_matches_the_dependency_in_any_spelling(imports, signature):
    source, fn = endpoint_of(f"{imports}\n{HEADER}@app.get('/x')\ndef f({signature}):\n    pass\n")
    found = parameter(source, fn, annotation=SESSION_DEP)
    assert found and found.line == 5 + imports.count("\n")


def test_parameter_matches_a_default_and_an_annotation_together():
    source, fn = endpoint_of("from fastapi import Depends, FastAPI\nfrom sqlmodel import Session\n"
                             "from database import get_session\napp = FastAPI()\n"
                             "@app.get('/x')\ndef f(*, session: Session = Depends(get_session)):\n    pass\n")
    assert parameter(source, fn, annotation="sqlmodel.Session", default="fastapi.Depends(database.get_session)")
    assert not parameter(source, fn, annotation="sqlmodel.Session", default="fastapi.Depends(database.other)")


@pytest.mark.parametrize("imports, signature", [
    ("from sqlmodel import Session", "session: Session"),  # a bare type hint
    ("from database import SessionDep", "session"),  # no annotation at all
    ("from typing import Annotated\nfrom fastapi import Depends\nfrom sqlmodel import Session\n"
     "def get_session():\n    yield", "session: Annotated[Session, Depends(get_session)]"),  # a local get_session
    ("from typing import Annotated\nfrom fastapi import Depends\nfrom sqlmodel import Session\n"
     "from database import get_session\nDep = Annotated[Session, Depends(get_session())]", "s: Dep"),  # called
    ("from other import SessionDep", "session: SessionDep"),  # from another module
    ("from database import SessionDep\nSessionDep = int", "session: SessionDep"),  # shadowed by a local alias
])
def test_parameter_refuses_what_is_not_the_dependency(imports, signature):
    source, fn = endpoint_of(f"{imports}\n{HEADER}@app.get('/x')\ndef f({signature}):\n    pass\n")
    found = parameter(source, fn, annotation=SESSION_DEP)
    assert not found and found.diagnosis == "no-matching-parameter"
    assert found.line == source.line(fn) and "`f`" in found.message and "SessionDep" in found.message


def test_resolve_alias_looks_through_assignments_only():
    source = src("from database import SessionDep\nA = SessionDep\nB = A\ndef f(C):\n    return C\n")
    names = {n.value: n for n in walk(source.module) if isinstance(n, cst.Name)}
    assert source.code(resolve_alias(source, names["B"])) == "A"
    assert source.code(resolve_alias(source, names["A"])) == "SessionDep"
    assert resolve_alias(source, names["SessionDep"]) is None  # imported
    assert resolve_alias(source, names["C"]) is None  # a parameter
    assert resolves_to(source, names["B"], "database.SessionDep")


def test_the_last_module_level_binding_wins():
    source = src("SessionDep = int\nfrom database import SessionDep\nx: SessionDep\n")
    annotation = source.module.body[2].body[0].annotation.annotation
    assert resolve_alias(source, annotation) is None and resolves_to(source, annotation, "database.SessionDep")
