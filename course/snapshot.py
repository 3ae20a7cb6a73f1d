"""A still copy of a chapter folder: a grade sees one state of the learner's files, however they change meanwhile.

`course watch` grades a snapshot, so a save made during a grade is never mistaken for the state
that was graded: the next snapshot differs, and is graded in turn.
"""

from __future__ import annotations

import codecs
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from course.workspace import starter_files

if TYPE_CHECKING:
    from grader.manifest import Chapter
    from grader.submission import Submission


@dataclass(frozen=True)
class Snapshot:
    state: str
    """A hash of the chapter's files as they were read, a missing one included as missing."""
    taken: float
    """When the files were read (`time.time()`)."""
    missing: tuple[str, ...]
    """The chapter's files (graded or from the starter) that were not in the folder."""
    submission: Submission
    """The copy, ready to grade (a support file that is missing comes from the starter, as in `grade`)."""

    def label(self, save: int | None) -> str:
        """How a screen names this grade: "at 10:02:03" for the first one, "save 3 (10:02:03)" after it."""
        at = time.strftime("%H:%M:%S", time.localtime(self.taken))
        return f"at {at}" if save is None else f"save {save} ({at})"


def names(chapter: Chapter) -> list[str]:
    """The files that make up the learner's copy of the chapter: the graded ones, then the starter's others."""
    return list(dict.fromkeys([*chapter.files, *starter_files(chapter)]))


def take(chapter: Chapter, folder: Path, into: Path) -> Snapshot:
    """Read the chapter's files in `folder` once, copy them to the empty folder `into`, and locate that copy."""
    from grader.submission import locate

    digest = hashlib.sha256()
    missing = []
    taken = time.time()
    for name in names(chapter):
        try:
            data = (folder / name).read_bytes()
        except OSError:  # gone (or unreadable): graded as missing, as `grade` would
            missing.append(name)
            digest.update(f"{name}\0<missing>\0".encode())
            continue
        digest.update(f"{name}\0".encode() + data + b"\0")
        _write(into / name, data)
    return Snapshot("sha256:" + digest.hexdigest()[:16], taken, tuple(missing), locate(chapter, into))


def _write(path: Path, data: bytes) -> None:
    """Write a copy as Python reads it: without a UTF-8 byte order mark (which Python skips)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.removeprefix(codecs.BOM_UTF8))


def without_bom(submission: Submission, into: Path) -> Submission:
    """`submission` itself, or, when a file of it starts with a UTF-8 byte order mark (some Windows
    editors write one), a copy in the empty folder `into` without it, so it grades like the same file
    without one. The copy keeps the submission's `origin` and `folder` (where locations point)."""
    import dataclasses

    def marked(path: Path) -> bool:
        try:
            with path.open("rb") as file:
                return file.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
        except OSError:
            return False

    if not any(marked(path) for path in submission.files.values()):
        return submission
    copies: dict[str, Path] = {}
    for name, path in submission.files.items():
        if path.is_file():
            _write(into / name, path.read_bytes())
        copies[name] = into / name
    return dataclasses.replace(submission, edited={name: copies[name] for name in submission.edited}, files=copies)
