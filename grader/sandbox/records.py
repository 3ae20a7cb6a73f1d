"""The parent's side of the record pipe: read what the child's harness reported, within bounds.

Learner code shares the pipe (it can write to file descriptor 3), so nothing read from it is
trusted: a record counts only if it is one line of at most `LINE_CAP` bytes, a flat JSON object
(no nested values) carrying the job's key, and the kept records stay under `RECORDS_CAP` bytes in
all. Anything else is dropped without a trace, however it is malformed; lines that are not JSON
objects are kept, last `STACK_CAP` characters only, as the stack a timed-out child dumps
(`faulthandler` writes it to the same pipe). Reading never raises.
"""

from __future__ import annotations

import json
from typing import Any

LINE_CAP = 256 * 1024
"""The longest line read as a record: the harness's largest (a result with its message and output
capped, every character escaped) is well under it."""
RECORDS_CAP = 4 * 1024 * 1024
STACK_CAP = 8000
_SCALARS = (str, int, float, bool, type(None))


class RecordReader:
    """Feed it the pipe's bytes as they come; `records()` is what the harness reported."""

    def __init__(self, key: str):
        self.key = key
        self.started = False
        """Whether a record with the key has arrived: the harness is running."""
        self._records: list[dict[str, Any]] = []
        self._kept = 0
        self._line = bytearray()
        self._skipping = False
        """Inside a line longer than LINE_CAP: drop everything up to its end."""
        self._stack = ""

    def feed(self, chunk: bytes) -> None:
        while chunk:
            end = chunk.find(b"\n")
            piece, chunk = (chunk, b"") if end < 0 else (chunk[:end], chunk[end + 1:])
            if not self._skipping:
                self._line += piece[: LINE_CAP + 1 - len(self._line)]
                if len(self._line) > LINE_CAP:
                    self._skipping = True
                    self._line.clear()
            if end >= 0:
                if not self._skipping:
                    self._take(bytes(self._line))
                self._line.clear()
                self._skipping = False

    def records(self) -> list[dict[str, Any]]:
        """The authentic records, in order, then (if any) the stack dump as a `stack` record."""
        if self._line and not self._skipping:
            self._take(bytes(self._line))  # the last line, if the pipe ended without a newline
            self._line.clear()
        stack = [{"type": "stack", "text": self._stack.strip("\n")}] if self._stack.strip() else []
        return self._records + stack

    def _take(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return
        if not text.startswith("{"):
            self._stack = (self._stack + text + "\n")[-STACK_CAP:]
            return
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return
        if (isinstance(value, dict) and value.get("key") == self.key
                and all(isinstance(v, _SCALARS) for v in value.values())
                and self._kept + len(line) <= RECORDS_CAP):
            self._records.append(value)
            self._kept += len(line)
            self.started = True
