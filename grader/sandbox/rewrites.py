"""The chapter's test modules with pytest's assertion rewriting done once, in the warm worker.

pytest rewrites the `assert`s of every test module it imports and caches the result in a `.pyc`
beside it, which a grading child never writes (no bytecode is written). So every child parsed,
rewrote and compiled the chapter's `test_*.py` again: 5 to 45 ms a job. The worker now rewrites
each file before it forks (`prepare`), exactly as pytest does, and pytest in the child takes that
code object while the file's source still hashes to what was rewritten (pytest's own test for its
`.pyc`); otherwise, or with `enable_assertion_pass_hook` set, the child rewrites it as before.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import CodeType
from typing import Any

from _pytest.assertion import rewrite

_PYTEST_REWRITE = rewrite._rewrite_test
_DONE: dict[str, tuple[bytes, CodeType]] = {}
"""Test file (as pytest names it) -> (its source's hash, its rewritten code)."""


def prepare(files: list[str]) -> None:
    """Rewrite each of `files` not rewritten yet (or changed since), and have pytest use the results."""
    for name in files:
        try:
            source_hash = importlib.util.source_hash(Path(name).read_bytes())
            if name not in _DONE or _DONE[name][0] != source_hash:
                _DONE[name] = _PYTEST_REWRITE(Path(name), None)
        except Exception:  # noqa: BLE001 - unreadable or broken: the child's pytest reports it, as before
            _DONE.pop(name, None)
    rewrite._rewrite_test = _rewrite_test


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
