"""How a chapter's `checks/static.py` declares its checks."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from grader.static.finding import Finding
from grader.static.source import Source

StaticCheck = Callable[[Source], "Finding | Iterable[Finding]"]


def check(check_id: str) -> Callable[[StaticCheck], StaticCheck]:
    """Mark a function as the implementation of the manifest's static check `check_id`.

    The function receives the parsed file the check examines and returns a Finding
    (or several, which must all be ok).
    """
    def mark(fn: StaticCheck) -> StaticCheck:
        fn.__check_id__ = check_id  # type: ignore[attr-defined]
        return fn
    return mark


def load_static_checks(path: Path, module_name: str) -> dict[str, StaticCheck]:
    """Import a checks module from its path and collect its `@check` functions by id."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(module_name, None)
    found: dict[str, StaticCheck] = {}
    for value in vars(module).values():
        check_id = getattr(value, "__check_id__", None)
        if check_id is not None and callable(value):
            if check_id in found:
                raise ValueError(f"two functions implement static check {check_id!r}")
            found[check_id] = value
    return found
