"""Output on a terminal or pipe that cannot show Unicode (`PYTHONIOENCODING=ascii`, a `C` locale):
the course's symbols become plain ASCII instead of a UnicodeEncodeError."""

from __future__ import annotations

import codecs
import io
import sys

ERRORS = "course-plain"
PLAIN = {
    "✓": "+", "✗": "x", "–": "-", "—": "--", "·": "-", "…": "...", "“": '"', "”": '"', "‘": "'", "’": "'",
    "█": "#", "░": ".", "▶": ">", "→": "->", "←": "<-", "×": "x", "≤": "<=", "≥": ">=", "•": "*", "\u00a0": " ",
}
"""What the characters the course prints become; any other one becomes `?`."""


def _plain(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    unencodable = error.object[error.start:error.end]
    return "".join(PLAIN.get(char, "?") for char in unencodable), error.end


codecs.register_error(ERRORS, _plain)


def plain_when_needed() -> None:
    """Give stdout and stderr the plain-ASCII fallback when their encoding cannot show the course's symbols."""
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper):
            continue
        try:
            "✓█“".encode(stream.encoding)
        except UnicodeEncodeError:
            stream.reconfigure(errors=ERRORS)
        except LookupError:  # an encoding Python does not know: leave the stream alone
            continue
