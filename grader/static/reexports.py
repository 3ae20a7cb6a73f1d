"""Names that are the same object under two import paths, so either spelling counts."""

from __future__ import annotations

CANONICAL = {
    "typing_extensions.Annotated": "typing.Annotated",
    "typing_extensions.TypeAlias": "typing.TypeAlias",
    "sqlmodel.orm.session.Session": "sqlmodel.Session",
    "sqlmodel.main.SQLModel": "sqlmodel.SQLModel",
    "sqlmodel.main.Field": "sqlmodel.Field",
    "sqlmodel.sql.expression.select": "sqlmodel.select",
    "fastapi.param_functions.Depends": "fastapi.Depends",
    "fastapi.applications.FastAPI": "fastapi.FastAPI",
    "sqlalchemy.orm.session.Session": "sqlalchemy.orm.Session",
    "sqlalchemy.orm.session.sessionmaker": "sqlalchemy.orm.sessionmaker",
    "sqlalchemy.ext.asyncio.session.AsyncSession": "sqlalchemy.ext.asyncio.AsyncSession",
    "sqlalchemy.ext.asyncio.session.async_sessionmaker": "sqlalchemy.ext.asyncio.async_sessionmaker",
    "sqlalchemy.ext.asyncio.engine.create_async_engine": "sqlalchemy.ext.asyncio.create_async_engine",
    "sqlalchemy.pool.impl.StaticPool": "sqlalchemy.pool.StaticPool",
}


def canonical(name: str) -> str:
    return CANONICAL.get(name, name)
