# mistake: the session is cached and handed to every request
# fails: yield-inside-with (not-opened), per-request-sessions (shared-session)
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session, SQLModel, create_engine

sqlite_file_name = "database.db"
sqlite_url = f"sqlite:///{sqlite_file_name}"
connect_args = {"check_same_thread": False}
engine = create_engine(sqlite_url, connect_args=connect_args)


def create_db_and_tables() -> None:
    SQLModel.metadata.create_all(engine)

_cache: list[Session] = []


def get_session():
    if not _cache:
        _cache.append(Session(engine))
    with _cache[0] as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
