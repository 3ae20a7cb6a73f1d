# mistake: close() after the yield without try/finally
# fails: yield-inside-with (close-without-finally), closes-on-error (close-without-finally)
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session, SQLModel, create_engine

sqlite_file_name = "database.db"
sqlite_url = f"sqlite:///{sqlite_file_name}"
connect_args = {"check_same_thread": False}
engine = create_engine(sqlite_url, connect_args=connect_args)


def create_db_and_tables() -> None:
    SQLModel.metadata.create_all(engine)


def get_session():
    session = Session(engine)
    yield session
    session.close()


SessionDep = Annotated[Session, Depends(get_session)]
