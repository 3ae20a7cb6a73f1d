from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

sqlite_file_name = "database.db"
# The `+aiosqlite` driver talks to SQLite without blocking the event loop.
sqlite_url = f"sqlite+aiosqlite:///{sqlite_file_name}"

engine = create_async_engine(sqlite_url)

# A factory of async sessions. expire_on_commit=False: after a commit, objects keep the
# values they have, so code that reads them later (a background task, a test) needs no
# database trip (which would need an `await` that a plain attribute read cannot make).
async_session = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def create_db_and_tables() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with async_session() as session:
        try:
            yield session
            await session.commit()
        except Exception:
            await session.rollback()
            raise


# scope="function", as in chapter 4: the commit runs before the response is sent.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
