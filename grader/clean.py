"""Clean text for the learner: the sandbox's folders out of sight, library noise cut, long text cut
at a line or a word.

One place for every record the behavioural stage sends (`grader.sandbox.plugin`) and for what the parent
adds to it (`grader.behave`), so a check never has to think about it.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"
_NOISE = re.compile(r"\n?[ \t]*(For further information visit https://errors\.pydantic\.dev/\S*"
                    r"|\(Background on this error at: https://sqlalche\.me/\S*\))")
"""pydantic's and SQLAlchemy's pointers to their own documentation, after every error."""
_INSTALLED = re.compile(r"/(?:[^\s\"'()<>:/]+/)*(?:site|dist)-packages/")
"""Where installed packages live (`/…/.venv/lib/python3.11/site-packages/`): the package path is enough."""
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+(?=>)")
"""An object's memory address in its repr (`<Hero at 0x7f…>`): different on every run, and no help."""


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at the end of a line or a word, ending in "…"."""
    if len(text) <= limit:
        return text
    room = max(limit - len(ELLIPSIS), 1)
    cut = text[:room]
    for stop in ("\n", " "):
        at = cut.rfind(stop)
        if at >= room // 2:
            return cut[:at].rstrip() + ELLIPSIS
    return cut.rstrip() + ELLIPSIS


def without_noise(text: str) -> str:
    """`text` without pydantic's "For further information visit https://errors.pydantic.dev/..." lines and
    SQLAlchemy's "(Background on this error at: https://sqlalche.me/...)", with an installed package's
    file named from its package (`sqlmodel/__init__.py`, not `/…/site-packages/sqlmodel/__init__.py`), and
    without memory addresses in reprs (`<Hero>`, not `<Hero at 0x7f…>`)."""
    return _ADDRESS.sub("", _INSTALLED.sub("", _NOISE.sub("", text)))


def relative_paths(text: str, folder: str, sandbox: str = "") -> str:
    """`text` with the sandbox's copy of the submission (`folder`) out of it: a file in it is named by its
    relative path, the folder itself is `.`, and an absolute path a URL spells (`sqlite:////...`) keeps
    its leading slash: `sqlite:////…/database.db`. Anything else under `sandbox` shows as `…`."""
    for root in dict.fromkeys(p.rstrip("/") for p in (folder, sandbox) if p.startswith("/") and p.strip("/")):
        shown = "" if root == folder.rstrip("/") else ELLIPSIS + "/"
        text = text.replace("/" + root + "/", "//" + ELLIPSIS + "/")  # inside a URL: sqlite:////tmp/...
        text = text.replace(root + "/", shown)
        text = text.replace(root, "." if not shown else ELLIPSIS)
    return text


def clean(text: str, limit: int, folder: str = "", sandbox: str = "") -> str:
    """Everything above: what the learner may read of `text` (of a flood of output, only its start is read)."""
    text = relative_paths(text[:2 * limit + len(folder) + len(sandbox)], folder, sandbox)
    return clip(without_noise(text), limit)
