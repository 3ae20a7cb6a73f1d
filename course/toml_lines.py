"""Where things are in a TOML file, so a problem can be reported as `path:line`.

tomllib gives values, not positions. This index scans the text for table headers and
``key =`` lines, which is enough for the course's flat files (a few top-level keys and
arrays of tables such as ``[[checks]]``); a position it cannot find is simply unknown.
"""

from __future__ import annotations

import re

_ARRAY_TABLE = re.compile(r"^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]")
_TABLE = re.compile(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]")
_KEY = re.compile(r"""^(?:([A-Za-z0-9_-]+)|"([^"]*)"|'([^']*)')\s*=""")


class TomlLines:
    """Line numbers of keys: ``line("files")``, ``line("checks", 2, "hints")`` (the third [[checks]]),
    ``line("checks", 2, "hints_for", "no-commit")`` (a key of its ``[checks.hints_for]`` table)."""

    def __init__(self, text: str):
        self._lines: dict[tuple, int] = {}
        table: tuple = ()
        counts: dict[str, int] = {}
        in_multiline = False
        for number, raw in enumerate(text.splitlines(), start=1):
            stripped = raw.strip()
            if in_multiline:  # inside a multi-line string: nothing here is a key
                in_multiline = stripped.count('"""') % 2 == 0 and stripped.count("'''") % 2 == 0
                continue
            if (match := _ARRAY_TABLE.match(stripped)) is not None:
                name = match.group(1)
                counts[name] = counts.get(name, -1) + 1
                table = (name, counts[name])
                self._lines.setdefault(table, number)
            elif (match := _TABLE.match(stripped)) is not None:
                head, *rest = match.group(1).split(".")
                # `[checks.hints_for]` is a table of the last `[[checks]]`
                table = (head, counts[head], *rest) if rest and head in counts else (match.group(1),)
                self._lines.setdefault(table, number)
            elif (match := _KEY.match(stripped)) is not None:
                key = next(g for g in match.groups() if g is not None)
                self._lines.setdefault((*table, key), number)
                in_multiline = stripped.count('"""') % 2 == 1 or stripped.count("'''") % 2 == 1

    def line(self, *where: str | int) -> int | None:
        """The line of `where`, or of its nearest enclosing key or table; None if unknown."""
        loc = tuple(where)
        while loc:
            if loc in self._lines:
                return self._lines[loc]
            loc = loc[:-1]
        return None
