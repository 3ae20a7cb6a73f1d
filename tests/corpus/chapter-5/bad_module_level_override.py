# mistake: the override is set once at import time and never removed
# fails: override-cleared (override-not-cleared)

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel, StaticPool, create_engine

from database import get_session
from main import app

engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
SQLModel.metadata.create_all(engine)


def get_test_session():
    with Session(engine) as session:
        yield session


app.dependency_overrides[get_session] = get_test_session


@pytest.fixture
def client():
    with TestClient(app) as client:
        yield client


def test_create_read_update_delete(client):
    hero = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson", "age": 30}).json()
    assert client.get(f"/heroes/{hero['id']}").json() == hero
    assert client.patch(f"/heroes/{hero['id']}", json={"age": 31}).json() == {**hero, "age": 31}
    client.delete(f"/heroes/{hero['id']}")
    assert client.get(f"/heroes/{hero['id']}").status_code == 404


def test_limit(client):
    assert client.get("/heroes/", params={"limit": 101}).status_code == 422
