from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from database import get_session
from main import app


@pytest.fixture
def client() -> Iterator[TestClient]:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    SQLModel.metadata.create_all(engine)

    def session_on_test_engine() -> Iterator[Session]:
        with Session(engine) as session:
            yield session

    app.dependency_overrides[get_session] = session_on_test_engine
    try:
        with TestClient(app) as test_client:
            yield test_client
    finally:
        app.dependency_overrides.clear()
        engine.dispose()


def test_crud_round_trip(client: TestClient) -> None:
    created = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson", "age": 30})
    assert created.status_code == 200
    hero_id = created.json()["id"]
    assert client.get(f"/heroes/{hero_id}").json()["name"] == "Deadpond"

    patched = client.patch(f"/heroes/{hero_id}", json={"name": "Deadpuddle"})
    assert patched.json() == {"id": hero_id, "name": "Deadpuddle", "secret_name": "Dive Wilson", "age": 30}
    assert client.get(f"/heroes/{hero_id}").json()["secret_name"] == "Dive Wilson"

    assert client.delete(f"/heroes/{hero_id}").status_code == 200
    assert client.get(f"/heroes/{hero_id}").status_code == 404


def test_unknown_hero(client: TestClient) -> None:
    assert client.get("/heroes/4242").status_code == 404
    assert client.patch("/heroes/4242", json={"age": 1}).status_code == 404


def test_list_is_bounded(client: TestClient) -> None:
    for n in range(3):
        client.post("/heroes/", json={"name": f"Hero {n}", "secret_name": f"Secret {n}"})
    assert len(client.get("/heroes/", params={"limit": 2}).json()) == 2
    assert client.get("/heroes/", params={"limit": 101}).status_code == 422
