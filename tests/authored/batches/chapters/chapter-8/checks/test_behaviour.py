"""Chapter 8's behavioural checks: names are unique in the database, a batch is all or nothing, an import keeps
the heroes it can. The app is served with its lifespan, on an emptied database."""

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from grader.testing import Advice, attribute_at, check, endpoint_function, fail, request, serve

DEADPOND = {"name": "Deadpond", "secret_name": "Dive Wilson"}
SPIDER_BOY = {"name": "Spider-Boy", "secret_name": "Pedro Parqueador"}
RUSTY_MAN = {"name": "Rusty-Man", "secret_name": "Tommy Sharp", "age": 48}
CATCH = Advice("Catch `IntegrityError` (from sqlalchemy.exc) where the commit can fail, and answer 409.",
               on=IntegrityError)


@pytest.fixture
def modules(learner):
    return learner.module("models"), learner.module("database"), learner.module("main")


@pytest.fixture
def client(modules):
    """The learner's app, started with its lifespan on an empty database."""
    _models, database, main = modules
    SQLModel.metadata.drop_all(database.engine)
    with serve(main.app) as client:
        yield client


def names(client):
    return sorted(hero["name"] for hero in request(client, "GET", "/heroes/", expect=200).json())


@check("names-unique")
def test_names_unique(modules):
    models, database, _main = modules
    SQLModel.metadata.drop_all(database.engine)
    SQLModel.metadata.create_all(database.engine)
    with Session(database.engine) as session:
        session.add(models.Hero(**DEADPOND))
        session.commit()
        session.add(models.Hero(**{**DEADPOND, "secret_name": "Someone Else"}))
        try:
            session.commit()
        except IntegrityError:
            return
        count = len(session.exec(select(models.Hero)).all())
    file, line = attribute_at(models.Hero, "name")
    fail(f"two heroes named Deadpond were both saved ({count} rows): the database must refuse the second; "
         "make the name unique, `Field(index=True, unique=True)`", file=file, line=line, diagnosis="not-unique")


@check("batch-all-or-nothing")
def test_batch_all_or_nothing(client):
    app = client.app
    added = request(client, "POST", "/heroes/batch", expect=200, json=[DEADPOND, SPIDER_BOY], advice=CATCH).json()
    if sorted(h.get("name") for h in added) != ["Deadpond", "Spider-Boy"] or not all(h.get("id") for h in added):
        fail(f"POST /heroes/batch answered {added}; expected the two heroes, each with its id",
             obj=endpoint_function(app, "POST", "/heroes/batch"), diagnosis="wrong-answer")
    request(client, "POST", "/heroes/batch", expect=409, json=[RUSTY_MAN, DEADPOND], advice=CATCH)
    if "Rusty-Man" in names(client):
        fail("a batch whose second hero has a taken name still saved the first, Rusty-Man: a batch is one "
             "transaction, committed once after the loop", obj=endpoint_function(app, "POST", "/heroes/batch"),
             diagnosis="partial-batch")


@check("import-keeps-the-good-ones")
def test_import_keeps_the_good_ones(client):
    app = client.app
    request(client, "POST", "/heroes/", expect=200, json=DEADPOND)
    answer = request(client, "POST", "/heroes/import", expect=200, json=[SPIDER_BOY, DEADPOND, RUSTY_MAN],
                     advice=Advice("Catch `IntegrityError` around each savepoint and skip that hero.",
                                   on=IntegrityError)).json()
    where = endpoint_function(app, "POST", "/heroes/import")
    saved = names(client)
    if saved != ["Deadpond", "Rusty-Man", "Spider-Boy"]:
        fail(f"after importing Spider-Boy, Deadpond (a taken name) and Rusty-Man, the heroes are {saved}; expected "
             "Deadpond, Rusty-Man and Spider-Boy: only the hero whose name is taken is skipped", obj=where,
             diagnosis="lost-heroes")
    if sorted(h.get("name") for h in answer) != ["Rusty-Man", "Spider-Boy"] or not all(h.get("id") for h in answer):
        fail(f"POST /heroes/import answered {answer}; expected the heroes it added, Spider-Boy and Rusty-Man, each "
             "with its id", obj=where, diagnosis="wrong-answer")
