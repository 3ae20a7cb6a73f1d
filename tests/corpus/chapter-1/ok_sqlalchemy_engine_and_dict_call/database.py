# create_engine from sqlalchemy, dict(...) for connect_args, bind= for create_all.
from sqlalchemy import create_engine
from sqlmodel import SQLModel

sqlite_file_name = "database.db"
sqlite_url = f"sqlite:///{sqlite_file_name}"

# FastAPI runs plain `def` endpoints in a thread pool, so a connection may be used
# by a thread other than the one that opened it: allow that for SQLite.
connect_args = dict(check_same_thread=False)
engine = create_engine(sqlite_url, connect_args=connect_args)


def create_db_and_tables() -> None:
    SQLModel.metadata.create_all(bind=engine)


# Chapter 2: write get_session() and SessionDep below.
