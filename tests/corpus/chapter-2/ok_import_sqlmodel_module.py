# `import sqlmodel` and dotted names everywhere.
from typing import Annotated

import sqlmodel
from fastapi import Depends

sqlite_url = "sqlite:///database.db"
engine = sqlmodel.create_engine(sqlite_url, connect_args={"check_same_thread": False})


def create_db_and_tables() -> None:
    sqlmodel.SQLModel.metadata.create_all(engine)


def get_session():
    with sqlmodel.Session(engine) as session:
        yield session


SessionDep = Annotated[sqlmodel.Session, Depends(get_session)]
