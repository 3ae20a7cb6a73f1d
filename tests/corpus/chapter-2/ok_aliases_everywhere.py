# Every name imported with an alias.
from typing import Annotated as Ann

from fastapi import Depends as Dep
from sqlmodel import Session as DBSession
from sqlmodel import SQLModel, create_engine

sqlite_file_name = "database.db"
sqlite_url = f"sqlite:///{sqlite_file_name}"
connect_args = {"check_same_thread": False}
engine = create_engine(sqlite_url, connect_args=connect_args)


def create_db_and_tables() -> None:
    SQLModel.metadata.create_all(engine)


def get_session():
    with DBSession(engine) as s:
        yield s


SessionDep = Ann[DBSession, Dep(get_session)]
