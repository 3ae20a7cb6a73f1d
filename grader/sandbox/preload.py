"""What a worker imports before any job (and what a cold child imports first), then freezes so
that forked children share it."""

from __future__ import annotations

import gc
import importlib
import sys

PRELOAD = ("fastapi", "fastapi.testclient", "fastapi.telemetry._runtime", "sqlmodel", "sqlalchemy",
           "sqlalchemy.dialects.sqlite", "sqlite3", "anyio._backends._asyncio", "pytest", "_pytest._argcomplete",
           "pdb", "readline", "ctypes", "grader.sandbox.plugin", "grader.testing", "grader.sandbox.child",
           "grader.sandbox.guard")
"""What every job imports: the libraries, what a FastAPI app, TestClient and a SQLite engine load
on first use, pytest (its built-in plugins are added by `preload`) and what it loads per run, the
harness (ctypes: the child ties its life to the worker's, see `grader.sandbox.reaper`)."""


def preload(extra: list[str] | tuple[str, ...] = (), base: tuple[str, ...] = PRELOAD) -> None:
    """Import `base` and `extra` (those not imported yet), then freeze what is loaded (see above)."""
    missing = [name for name in (*base, *extra) if name not in sys.modules]
    if not missing:
        return
    enabled = gc.isenabled()
    gc.disable()  # imports allocate a lot and free little: collecting during them is wasted time
    try:
        for name in missing:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a missing optional module only costs speed
                continue
            if name == "pytest":
                _pytest_plugins()
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _pytest_plugins() -> None:
    """pytest's built-in plugins, which every run registers (and would otherwise import per job)."""
    from _pytest.config import default_plugins

    for plugin in default_plugins:
        try:
            importlib.import_module(f"_pytest.{plugin}")
        except Exception:  # noqa: BLE001 - as above
            pass
