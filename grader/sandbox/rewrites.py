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

Chapter 5's checks run the learner's tests six times, each run in a process of its own and a folder of
its own, from the same test files. `share` rewrites those files once, in the job's process before it
forks the runs; a run then takes that code for any file of the same source, under its own file name.
"""

from __future__ import annotations

import ast
import importlib.util
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import CodeType
from typing import Any

from _pytest.assertion import rewrite

_PYTEST_REWRITE = rewrite._rewrite_test
_REWRITTEN: dict[bytes, tuple[bytes, CodeType]] = {}
"""A source's hash -> (that hash, the rewritten code), compiled under the name of the first file that had it."""
_IMPORTS: dict[str, tuple[bytes, list[str]]] = {}
"""Test file (as pytest names it) -> (its source's hash, the grader modules it imports)."""


def prepare(files: list[str]) -> list[str]:
    """Rewrite each of `files` not rewritten yet (or changed since), and have pytest use the results;
    the grader modules they import."""
    for name in files:
        try:
            source = Path(name).read_bytes()
            source_hash = importlib.util.source_hash(source)
            if _IMPORTS.get(name, (None,))[0] != source_hash:
                _rewrite(Path(name), source_hash)
                _IMPORTS[name] = (source_hash, grader_imports(ast.parse(source)))
        except Exception:  # noqa: BLE001 - unreadable or broken: the child's pytest reports it, as before
            _IMPORTS.pop(name, None)
    rewrite._rewrite_test = _rewrite_test
    return sorted({module for name in files for module in _IMPORTS.get(name, (b"", []))[1]})


def grader_imports(tree: ast.Module) -> list[str]:
    """The `grader` modules a module's top-level imports name."""
    found = []
    for node in tree.body:
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
        found += [name for name in names if name == "grader" or name.startswith("grader.")]
    return found


def share(files: Iterable[Path]) -> None:
    """Rewrite each of `files` whose source is not rewritten yet, here, before forking the processes that
    import them: each takes the code for a file of the same source, under that file's own name."""
    for fn in files:
        try:
            _rewrite(fn, importlib.util.source_hash(fn.read_bytes()))
        except Exception:  # noqa: BLE001 - unreadable or broken: the run's pytest reports it
            continue
    rewrite._rewrite_test = _rewrite_test


def _rewrite(fn: Path, source_hash: bytes) -> None:
    """Keep pytest's rewrite of `fn`, unless a file of the same source is kept already."""
    if source_hash in _REWRITTEN:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytest's warnings on the file are the importing pytest's to give
        done = _PYTEST_REWRITE(fn, None)
    if isinstance(done[0], bytes):  # (pytest 8.0 returns the file's stat: nothing to know a source by)
        _REWRITTEN[done[0]] = done


def _rewrite_test(fn: Path, config: Any) -> tuple[bytes, CodeType]:
    """pytest's `_rewrite_test`, answered from `_REWRITTEN` when a file of the same source was rewritten
    (this file, or another one: then the code is given this file's name)."""
    if not (config is not None and config.getini("enable_assertion_pass_hook")):
        try:
            done = _REWRITTEN.get(importlib.util.source_hash(fn.read_bytes()))
        except OSError:
            done = None
        if done is not None:
            return done if done[1].co_filename == str(fn) else (done[0], _named(done[1], str(fn)))
    return _PYTEST_REWRITE(fn, config)


def _named(code: CodeType, filename: str) -> CodeType:
    """`code` as if compiled from `filename`: the file name is all that differs between two files of one source."""
    consts = tuple(_named(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)
