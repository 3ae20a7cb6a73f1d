"""The parameters written down in grader/static/signatures.py are the installed libraries' own, and the
pattern matcher binds arguments by them."""

from __future__ import annotations

import importlib
import inspect

import pytest

from grader.static.signatures import SIGNATURES

POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def load(path: str):
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise ImportError(path)


@pytest.mark.parametrize("path", SIGNATURES)
def test_each_signature_is_the_librarys(path):
    written = SIGNATURES[path]
    params = inspect.signature(load(path)).parameters
    positional = tuple(name for name, p in params.items() if p.kind in POSITIONAL and name != "self")
    assert written.positional == positional
    for name, default in written.defaults.items():
        assert name in params and params[name].default == default and type(params[name].default) is type(default)
