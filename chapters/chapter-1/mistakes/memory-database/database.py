# mistake: an in-memory database, gone as soon as its connection closes
# fails: engine-configured (in-memory)
from sqlmodel import SQLModel, create_engine

sqlite_file_name = "database.db"
sqlite_url = "sqlite://"

# FastAPI runs plain `def` endpoints in a thread pool, so a connection may be used
# by a thread other than the one that opened it: allow that for SQLite.
connect_args = {"check_same_thread": False}
engine = create_engine(sqlite_url, connect_args=connect_args)


def create_db_and_tables() -> None:
    SQLModel.metadata.create_all(engine)


# Chapter 2: write get_session() and SessionDep below.
