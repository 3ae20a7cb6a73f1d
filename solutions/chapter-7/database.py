import threading
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# Every database the app knows, by name. Plain URLs are fine: they get an async driver.
DATABASES = {
    "primary": {"url": "sqlite:///database.db", "dev_url": "sqlite:///database-dev.db"},
    "analytics": {"url": "sqlite:///analytics.db", "dev_url": "sqlite:///analytics-dev.db"},
}
DEFAULT_DATABASE = "primary"

ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}

# One engine and one session factory per resolved URL, for the whole process.
_engines: dict[str, AsyncEngine] = {}
_factories: dict[str, async_sessionmaker[AsyncSession]] = {}
_lock = threading.Lock()


def async_url(url: str) -> str:
    """`url` with an async driver: `sqlite:///x.db` becomes `sqlite+aiosqlite:///x.db`.

    A URL that names its driver (`postgresql+psycopg://...`) is kept as it is.
    """
    parsed = make_url(url)
    if "+" in parsed.drivername:
        return url
    driver = ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(f"no async driver known for {parsed.drivername!r} URLs: name one, as in "
                         f"'{parsed.drivername}+driver://...'")
    # render_as_string(hide_password=False): str(url) would turn the password into ***.
    return parsed.set(drivername=f"{parsed.drivername}+{driver}").render_as_string(hide_password=False)


def database_url(database: str | None = None, *, dev: bool = False) -> str:
    """The async URL of a database from DATABASES (its dev_url when `dev`)."""
    name = database or DEFAULT_DATABASE
    if name not in DATABASES:
        known = ", ".join(sorted(DATABASES))
        raise ValueError(f"unknown database {name!r}; the known databases are: {known}")
    config = DATABASES[name]
    return async_url(config["dev_url"] if dev else config["url"])


def session_factory(url: str) -> async_sessionmaker[AsyncSession]:
    """The session factory for `url`; its engine is created on first use, then shared."""
    with _lock:  # two threads asking at once must not create two engines
        if url not in _factories:
            _engines[url] = create_async_engine(url)
            _factories[url] = async_sessionmaker(_engines[url], class_=AsyncSession, expire_on_commit=False)
        return _factories[url]


def get_session(database: str | None = None, *, dev: bool = False) -> Callable[[], AsyncIterator[AsyncSession]]:
    """A FastAPI dependency that yields a session on the named database."""
    url = database_url(database, dev=dev)  # an unknown name fails now, when the app is imported

    async def session_dependency() -> AsyncIterator[AsyncSession]:
        async with session_factory(url)() as session:
            try:
                yield session
                await session.commit()
            except Exception:
                await session.rollback()
                raise

    return session_dependency


async def create_db_and_tables() -> None:
    for name in DATABASES:
        session_factory(database_url(name))
    for engine in list(_engines.values()):
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)


async def dispose_engines() -> None:
    """Close every engine's pooled connections (the engines stay usable)."""
    with _lock:
        engines = list(_engines.values())
    for engine in engines:
        await engine.dispose()


# scope="function", as in chapters 4 and 6: each commit runs before the response is sent.
PrimarySessionDep = Annotated[AsyncSession, Depends(get_session(), scope="function")]
AnalyticsSessionDep = Annotated[AsyncSession, Depends(get_session("analytics"), scope="function")]
