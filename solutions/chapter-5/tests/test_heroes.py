"""Tests for the heroes API in main.py, run against an in-memory database.

Run them from the chapter folder with `python -m pytest tests`.
"""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from database import get_session
from main import app
from models import Hero


@pytest.fixture
def engine():
    # One in-memory database per test. StaticPool keeps a single connection, so the
    # tables created here are the ones every session sees; check_same_thread is off
    # because TestClient runs plain `def` endpoints in worker threads.
    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine):
    def get_test_session():
        # The override replaces get_session whole, its commit included: commit here too.
        with Session(engine) as session:
            yield session
            session.commit()

    app.dependency_overrides[get_session] = get_test_session
    with TestClient(app) as client:
        yield client
    app.dependency_overrides.clear()


def create(client, **fields):
    response = client.post("/heroes/", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_hero(client, engine):
    hero = create(client, name="Deadpond", secret_name="Dive Wilson")
    assert hero["name"] == "Deadpond"
    assert hero["age"] is None
    # Read it back in a new session: only committed data is there.
    with Session(engine) as session:
        saved = session.get(Hero, hero["id"])
    assert saved is not None and saved.secret_name == "Dive Wilson"


def test_read_hero(client):
    hero = create(client, name="Rusty-Man", secret_name="Tommy Sharp", age=48)
    response = client.get(f"/heroes/{hero['id']}")
    assert response.status_code == 200
    assert response.json() == hero


def test_read_missing_hero_is_404(client):
    response = client.get("/heroes/999")
    assert response.status_code == 404


def test_update_changes_only_the_fields_sent(client):
    hero = create(client, name="Spider-Boy", secret_name="Pedro Parqueador", age=16)
    response = client.patch(f"/heroes/{hero['id']}", json={"age": 17})
    assert response.status_code == 200
    assert client.get(f"/heroes/{hero['id']}").json() == {**hero, "age": 17}


def test_delete_hero(client):
    hero = create(client, name="Black Lion", secret_name="Trevor Challa")
    assert client.delete(f"/heroes/{hero['id']}").json() == {"ok": True}
    assert client.get(f"/heroes/{hero['id']}").status_code == 404


def test_limit_is_at_most_100(client):
    assert client.get("/heroes/", params={"limit": 100}).status_code == 200
    assert client.get("/heroes/", params={"limit": 101}).status_code == 422
