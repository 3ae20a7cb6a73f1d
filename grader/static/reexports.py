"""Names that are the same object under two import paths, so either spelling counts.

Add a pair here (the longer path -> the public one) when a library re-exports an object; every
block compares names through :func:`canonical`. Check it first: ``a.X is b.X`` on the installed
versions (``sqlmodel.create_engine is sqlalchemy.create_engine``, but ``sqlmodel.Session`` is its
own class, not ``sqlalchemy.orm.Session``); a pair that is not the same object must say why it
means the same.
"""

from __future__ import annotations

CANONICAL = {
    "typing_extensions.Annotated": "typing.Annotated",
    "typing_extensions.TypeAlias": "typing.TypeAlias",
    "sqlmodel.orm.session.Session": "sqlmodel.Session",
    "sqlmodel.main.SQLModel": "sqlmodel.SQLModel",
    "sqlmodel.main.Field": "sqlmodel.Field",
    "sqlmodel.sql.expression.select": "sqlmodel.select",
    "fastapi.param_functions.Depends": "fastapi.Depends",
    # Not the same object: `fastapi.Depends` is a function that returns a `fastapi.params.Depends`. But in
    # `Annotated[T, Depends(f)]` and as a default, FastAPI reads either the same way.
    "fastapi.params.Depends": "fastapi.Depends",
    "fastapi.applications.FastAPI": "fastapi.FastAPI",
    "sqlalchemy.orm.session.Session": "sqlalchemy.orm.Session",
    "sqlalchemy.orm.session.sessionmaker": "sqlalchemy.orm.sessionmaker",
    "sqlalchemy.ext.asyncio.session.AsyncSession": "sqlalchemy.ext.asyncio.AsyncSession",
    "sqlalchemy.ext.asyncio.session.async_sessionmaker": "sqlalchemy.ext.asyncio.async_sessionmaker",
    "sqlalchemy.ext.asyncio.engine.create_async_engine": "sqlalchemy.ext.asyncio.create_async_engine",
    "sqlalchemy.pool.impl.StaticPool": "sqlalchemy.pool.StaticPool",
    "sqlalchemy.StaticPool": "sqlalchemy.pool.StaticPool",
    "sqlmodel.StaticPool": "sqlalchemy.pool.StaticPool",
    "sqlmodel.pool.StaticPool": "sqlalchemy.pool.StaticPool",
    "sqlmodel.create_engine": "sqlalchemy.create_engine",
    "sqlalchemy.engine.create_engine": "sqlalchemy.create_engine",
    "sqlalchemy.engine.create.create_engine": "sqlalchemy.create_engine",
}


def canonical(name: str) -> str:
    return CANONICAL.get(name, name)


def spellings(name: str) -> set[str]:
    """Every import path of the object `name` names: `sqlmodel.create_engine` -> also `sqlalchemy...`."""
    target = canonical(name)
    return {target, *(path for path, public in CANONICAL.items() if public == target)}
