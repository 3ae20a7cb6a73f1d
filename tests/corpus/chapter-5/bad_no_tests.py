# mistake: fixtures, but no test functions
# fails: tests-pass (no-tests)

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine, select

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
        with Session(engine) as session:
            yield session

    app.dependency_overrides[get_session] = get_test_session
    with TestClient(app) as client:
        yield client
    app.dependency_overrides.clear()
