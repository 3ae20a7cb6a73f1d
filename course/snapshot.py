"""A still copy of a chapter folder: a grade sees one state of the learner's files, however they change meanwhile.

`course watch` grades a snapshot, so a save made during a grade is never mistaken for the state
that was graded: the next snapshot differs, and is graded in turn.
"""

from __future__ import annotations

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
        copy = into / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(data)
    return Snapshot("sha256:" + digest.hexdigest()[:16], taken, tuple(missing), locate(chapter, into))
