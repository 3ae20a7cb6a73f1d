"""The chapter's test modules, prepared once in the warm worker: their asserts rewritten, and the
grader modules they import named, for the worker to import before it forks.

pytest rewrites the `assert`s of every test module it imports and caches the result in a `.pyc`
beside it, which a grading child never writes (no bytecode is written). So every child parsed,
rewrote and compiled the chapter's `test_*.py` again: 5 to 45 ms a job. The worker now rewrites
each file before it forks (`prepare`), exactly as pytest does, and pytest in the child takes that
code object while the file's source still hashes to what was rewritten (pytest's own test for its
`.pyc`); otherwise, or with `enable_assertion_pass_hook` set, the child rewrites it as before.

The grader's own modules a test module imports (`grader.mutation` in chapter 5, with its pydantic
models) would likewise be imported by every child: `prepare` names them so the worker imports
them once. Only `grader.*`: the course's code, which a worker imports anyway; modules beside the
checks (chapter 5's `observe`) are left to the child, since another chapter may have one of the
same name.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import CodeType
from typing import Any

from _pytest.assertion import rewrite

_PYTEST_REWRITE = rewrite._rewrite_test
_DONE: dict[str, tuple[bytes, CodeType]] = {}
"""Test file (as pytest names it) -> (its source's hash, its rewritten code)."""
_IMPORTS: dict[str, list[str]] = {}
"""Test file -> the grader modules it imports (as of `_DONE`'s hash)."""


def prepare(files: list[str]) -> list[str]:
    """Rewrite each of `files` not rewritten yet (or changed since), and have pytest use the results;
    the grader modules they import."""
    for name in files:
        try:
            source = Path(name).read_bytes()
            source_hash = importlib.util.source_hash(source)
            if name not in _DONE or _DONE[name][0] != source_hash:
                _DONE[name] = _PYTEST_REWRITE(Path(name), None)
                _IMPORTS[name] = grader_imports(ast.parse(source))
        except Exception:  # noqa: BLE001 - unreadable or broken: the child's pytest reports it, as before
            _DONE.pop(name, None)
            _IMPORTS.pop(name, None)
    rewrite._rewrite_test = _rewrite_test
    return sorted({module for name in files for module in _IMPORTS.get(name, ())})


def grader_imports(tree: ast.Module) -> list[str]:
    """The `grader` modules a module's top-level imports name."""
    found = []
    for node in tree.body:
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
        found += [name for name in names if name == "grader" or name.startswith("grader.")]
    return found


def _rewrite_test(fn: Path, config: Any) -> tuple[bytes, CodeType]:
    """pytest's `_rewrite_test`, answered from `_DONE` when the file is unchanged."""
    done = _DONE.get(str(fn))
    if done is not None and not (config is not None and config.getini("enable_assertion_pass_hook")):
        try:
            if importlib.util.source_hash(fn.read_bytes()) == done[0]:
                return done
        except OSError:
            pass
    return _PYTEST_REWRITE(fn, config)
