"""The parameters of the library callables patterns name, so that a call is compared by what it binds.

`Depends(dependency=f)` is `Depends(f)`, `Session(bind=engine)` is `Session(engine)`, and an argument
given its default value (`Depends(f, use_cache=True)`) says nothing. The grader does not import
FastAPI or SQLAlchemy to ask them (the static stage must stay light), so the few signatures it needs
are written here; tests/test_static_signatures.py holds each to `inspect.signature` of the installed
library. The learner's own functions (`get_session(database=None)`) are read from their `def`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import libcst as cst

from grader.static.reexports import canonical


@dataclass(frozen=True)
class Signature:
    positional: tuple[str, ...]
    """The parameters an argument can fill by position, in order."""
    defaults: dict[str, object] = field(default_factory=dict)
    """Parameters whose default is a literal (True, None, a string...): passing it changes nothing."""


_SESSION = {"bind": None, "autoflush": True, "future": True, "expire_on_commit": True, "autobegin": True,
            "twophase": False, "binds": None, "enable_baked_queries": True, "info": None, "query_cls": None,
            "autocommit": False, "join_transaction_mode": "conditional_savepoint"}
_MAKER = {"bind": None, "autoflush": True, "expire_on_commit": True, "info": None}
_ASYNC_SESSION = {"bind": None, "binds": None, "sync_session_class": None}

SIGNATURES: dict[str, Signature] = {
    "fastapi.Depends": Signature(("dependency",), {"dependency": None, "use_cache": True, "scope": None,
                                                  "max_concurrency": None}),
    "sqlmodel.Session": Signature(("bind",), _SESSION),
    "sqlalchemy.orm.Session": Signature(("bind",), _SESSION),
    "sqlalchemy.create_engine": Signature(("url",)),
    "sqlalchemy.ext.asyncio.create_async_engine": Signature(("url",)),
    "sqlalchemy.orm.sessionmaker": Signature(("bind",), _MAKER),
    "sqlalchemy.ext.asyncio.async_sessionmaker": Signature(("bind",), _MAKER),
    "sqlalchemy.ext.asyncio.AsyncSession": Signature(("bind",), _ASYNC_SESSION),
    "sqlmodel.ext.asyncio.session.AsyncSession": Signature(("bind",), _ASYNC_SESSION),
    "sqlmodel.SQLModel.metadata.create_all": Signature(("bind", "tables", "checkfirst"), {"tables": None}),
}
"""Keyed by the public path (`grader.static.reexports.canonical`)."""


def library_signature(qualified: str) -> Signature | None:
    return SIGNATURES.get(canonical(qualified))


def def_signature(fn: cst.FunctionDef) -> Signature:
    """What a learner's `def` accepts: its positional parameters and literal defaults."""
    params = fn.params
    defaults: dict[str, object] = {}
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.default is not None:
            try:
                defaults[param.name.value] = ast.literal_eval(cst.Module(body=[]).code_for_node(param.default))
            except (ValueError, SyntaxError):
                pass
    return Signature(tuple(p.name.value for p in (*params.posonly_params, *params.params)), defaults)
