"""Tests for the heroes API in main.py, run against an in-memory database.

Run them from the chapter folder with `python -m pytest tests`.
"""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from database import get_session
from main import app

# Chapter 5: write in this file
#   1. an `engine` fixture: an in-memory SQLite engine ("sqlite://", StaticPool,
#      check_same_thread off) with the tables created;
#   2. a `client` fixture: point app.dependency_overrides[get_session] at a function
#      that yields a session on that engine and commits after the yield (it replaces
#      get_session whole, commit included), yield a TestClient, then clear the override;
#   3. tests for create, read, a missing hero (404), update, delete and the limit bound,
#      reading back in a later request what each change should have saved.
