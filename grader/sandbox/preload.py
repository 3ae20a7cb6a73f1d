"""What a worker imports before any job (and what a cold child imports first), then freezes so
that forked children share it. A worker also fills the caches every child would otherwise fill
again: where each loaded module's file is (`index_module_files`) and the regular expressions the
libraries compile on first use (`compile_patterns`)."""

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


def preload(extra: list[str] | tuple[str, ...] = (), base: tuple[str, ...] = PRELOAD, index: bool = False) -> None:
    """Import `base` and `extra` (those not imported yet), then freeze what is loaded (see above).
    With `index`, also `index_module_files` (a warm worker: its children share the index)."""
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
        if index:
            index_module_files()
            compile_patterns()
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


def index_module_files() -> None:
    """Fill `inspect`'s module-by-file index for every module loaded now. `inspect.getsourcelines` of a
    code object or frame (checks that point at a learner's statement) otherwise resolves every loaded
    module's file, about 800 of them, in each child. Modules imported later (the learner's) are
    still indexed where they are looked up, as before."""
    import inspect

    try:
        inspect.getmodule(compile("", "<grader-preload>", "exec"), "<grader-preload>")
    except Exception:  # noqa: BLE001 - a module without a usable file (inspect raises there): only speed is lost
        pass


def compile_patterns() -> None:
    """Compile, into `re`'s and `tokenize`'s caches, the patterns every job's first use of these
    compiles: reading a learner function's source (inspect, tokenize), pytest's command line
    (argparse) and test-file patterns (fnmatch), a SQLite URL (SQLAlchemy)."""
    import argparse
    import fnmatch
    import inspect

    try:
        inspect.getsourcelines(compile_patterns.__code__)
        argparse.ArgumentParser(prog="pytest", add_help=False).parse_args([])
        fnmatch.fnmatch("test_x.py", "*_test.py")
        if "sqlalchemy" in sys.modules:
            from sqlalchemy.engine import make_url

            make_url("sqlite://")
    except Exception:  # noqa: BLE001 - only speed is lost
        pass
