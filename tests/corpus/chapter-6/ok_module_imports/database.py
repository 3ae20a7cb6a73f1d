from collections.abc import AsyncIterator
import typing

from fastapi import Depends
import sqlalchemy.ext.asyncio as sa_async
from sqlmodel import SQLModel
import sqlmodel.ext.asyncio.session as sm_async

sqlite_file_name = "database.db"
# The `+aiosqlite` driver talks to SQLite without blocking the event loop.
sqlite_url = f"sqlite+aiosqlite:///{sqlite_file_name}"

engine = sa_async.create_async_engine(sqlite_url, echo=False)

# A factory of async sessions. expire_on_commit=False: after a commit, objects keep the
# values they have, so FastAPI can read them for the response without another trip to
# the database (which would need an `await` that nobody can write there).
async_session = sa_async.async_sessionmaker(engine, class_=sm_async.AsyncSession, expire_on_commit=False)


async def create_db_and_tables() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)


async def get_session() -> AsyncIterator[sm_async.AsyncSession]:
    async with async_session() as session:
        try:
            yield session
        except Exception:
            await session.rollback()
            raise


SessionDep = typing.Annotated[sm_async.AsyncSession, Depends(get_session)]
