from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, SQLModel, create_engine

sqlite_file_name = "database.db"
sqlite_url = f"sqlite:///{sqlite_file_name}"

# FastAPI runs plain `def` endpoints in a thread pool, so a connection may be used
# by a thread other than the one that opened it: allow that for SQLite.
connect_args = {"check_same_thread": False}
engine = create_engine(sqlite_url, connect_args=connect_args)

# A factory of sessions: every call gives a new, independent session on `engine`.
# class_=Session makes them SQLModel sessions, so `session.exec(select(...))` works.
SessionLocal = sessionmaker(autoflush=False, bind=engine, class_=Session)


def create_db_and_tables() -> None:
    SQLModel.metadata.create_all(engine)


def get_session():
    session = SessionLocal()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the code after `yield` (the commit) runs before the response is sent,
# so a failed commit turns into an error response instead of a false success.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
