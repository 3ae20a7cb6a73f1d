# mistake: the override returns one session shared by every request (the pattern in many tutorials), so a change the app flushes but never commits is still visible to the next request
# fails: catches-no-commit (mutant-survived)

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel, StaticPool, create_engine

from database import get_session
from main import app
from models import Hero


@pytest.fixture(name="session")
def session_fixture():
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        yield session


@pytest.fixture(name="client")
def client_fixture(session: Session):
    def get_session_override():
        return session

    app.dependency_overrides[get_session] = get_session_override
    client = TestClient(app)
    yield client
    app.dependency_overrides.clear()


def test_create_hero(client: TestClient, session: Session):
    response = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson"})
    data = response.json()
    assert response.status_code == 200
    assert data["name"] == "Deadpond"
    hero = session.get(Hero, data["id"])
    assert hero is not None and hero.secret_name == "Dive Wilson"


def test_read_hero(client: TestClient, session: Session):
    hero = Hero(name="Rusty-Man", secret_name="Tommy Sharp", age=48)
    session.add(hero)
    session.commit()
    response = client.get(f"/heroes/{hero.id}")
    assert response.status_code == 200
    assert response.json()["name"] == "Rusty-Man"
    created = client.post("/heroes/", json={"name": "Deadpond", "secret_name": "Dive Wilson"}).json()
    assert client.get(f"/heroes/{created['id']}").status_code == 200


def test_read_missing_hero(client: TestClient):
    assert client.get("/heroes/12345").status_code == 404


def test_update_hero(client: TestClient, session: Session):
    hero = Hero(name="Deadpond", secret_name="Dive Wilson")
    session.add(hero)
    session.commit()
    response = client.patch(f"/heroes/{hero.id}", json={"name": "Deadpuddle"})
    data = response.json()
    assert response.status_code == 200
    assert data["name"] == "Deadpuddle"
    assert data["secret_name"] == "Dive Wilson"


def test_delete_hero(client: TestClient, session: Session):
    hero = Hero(name="Deadpond", secret_name="Dive Wilson")
    session.add(hero)
    session.commit()
    response = client.delete(f"/heroes/{hero.id}")
    assert response.status_code == 200
    assert session.get(Hero, hero.id) is None


def test_limit_bound(client: TestClient):
    assert client.get("/heroes/?limit=101").status_code == 422
