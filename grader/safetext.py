"""Text from a submission, made safe to store and to show.

Learner code and uploads decide some of the text the grader handles: messages and output of the
checks, file and student names. Two guarantees, one function each:

- `valid_unicode`: no lone surrogates (a `str` that cannot be encoded as UTF-8, from
  `os.fsdecode` of a non-UTF-8 name or from learner code), so any writer can encode it;
- `printable`: also no control characters (ESC, BEL, CR, ...) or bidirectional overrides, so a
  terminal shows the text as written instead of obeying it.

What is replaced is shown as an escape (`\\x1b`, `\\u202e`; a byte a file name could not decode,
`\\xe9`), so nothing is hidden from whoever reads it.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_CONTROL_OR_SPACE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that did not decode (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def valid_unicode(text: str) -> str:
    """`text` with every lone surrogate replaced by its escape: encodable as UTF-8."""
    return _SURROGATE.sub(_escape, text) if _SURROGATE.search(text) else text


def printable(text: str, *, multiline: bool = True) -> str:
    """`text` safe for a terminal: control characters, bidirectional overrides and lone surrogates
    escaped. Tabs and newlines are kept when `multiline`, escaped otherwise (for a name on one line)."""
    pattern = _CONTROL if multiline else _CONTROL_OR_SPACE
    return pattern.sub(_escape, text)
