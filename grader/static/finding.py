"""The value every building block returns."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import libcst as cst


@dataclass(frozen=True)
class Finding:
    """The outcome of one building block: ok or not, why, and where.

    `node` is what the block found (e.g. the `FunctionDef`), so blocks can be chained.
    """

    ok: bool
    message: str
    line: int | None = None
    column: int | None = None
    diagnosis: str | None = None
    """A known mistake this failure matches, e.g. ``"depends-called"``."""
    node: cst.CSTNode | None = field(default=None, compare=False, repr=False)
    file: str | None = None
    """The graded file `line` is in, when it is not the check's own file (a lifespan imported from
    another module: ``src.sibling("database.py").name``)."""

    def __bool__(self) -> bool:
        return self.ok

    def otherwise(self, message: str | None = None, *, diagnosis: str | None = None) -> Finding:
        """This finding with the author's message (and diagnosis) if it failed; unchanged if ok.

        The message is taken as written, braces and all, except for :data:`MESSAGE` (the block's own
        text) and :data:`LINE` (its line), put in with an f-string::

            found.otherwise(f"{MESSAGE}: add `def get_db():` below `SessionLocal`")

        They are characters no code or text holds, so a message can quote any code, the learner's included.
        (The older spelling, ``"{message}"`` and ``"{line}"`` in a plain string, where doubled braces give one,
        is still read, but only in a message that uses one of the two.)
        """
        if self.ok:
            return self
        if message is None:
            return replace(self, diagnosis=diagnosis or self.diagnosis)
        line = "?" if self.line is None else str(self.line)
        if MESSAGE in message or LINE in message:
            text = message.replace(MESSAGE, self.message).replace(LINE, line)
        elif _OLD_FIELD.search(message):
            fields = {"message": self.message, "line": line}
            text = _OLD.sub(lambda m: fields[m.group(1)] if m.group(1) else m.group(0)[0], message)
        else:
            text = message
        return replace(self, message=text, diagnosis=diagnosis or self.diagnosis)


MESSAGE = "\ue000message\ue001"
"""Stands for a failed block's own message in `Finding.otherwise`: ``f"{MESSAGE}: add ..."``."""
LINE = "\ue000line\ue001"
"""Stands for a failed block's line in `Finding.otherwise`."""
_OLD_FIELD = re.compile(r"\{(message|line)\}")
_OLD = re.compile(r"\{\{|\}\}|\{(message|line)\}")


def passed(message: str = "", node: cst.CSTNode | None = None, line: int | None = None) -> Finding:
    return Finding(True, message, line=line, node=node)


def failed(message: str, *, line: int | None = None, column: int | None = None,
           diagnosis: str | None = None, node: cst.CSTNode | None = None, file: str | None = None) -> Finding:
    return Finding(False, message, line=line, column=column, diagnosis=diagnosis, node=node, file=file)


def all_of(*findings: Finding | Iterable[Finding]) -> Finding:
    """Ok if every finding is; otherwise the failures' messages joined, at the first failure's line."""
    flat: list[Finding] = []
    for f in findings:
        flat.extend([f] if isinstance(f, Finding) else f)
    failures = [f for f in flat if not f.ok]
    if not failures:
        return passed("; ".join(f.message for f in flat if f.message))
    first = failures[0]
    return replace(first, message="\n".join(f.message for f in failures))
