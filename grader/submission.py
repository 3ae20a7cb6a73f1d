"""Find the files of a submission and fingerprint them."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.content import starter_dir, tree_files

if TYPE_CHECKING:
    from grader.manifest import Chapter
    from grader.outline import ChapterOutline


class SubmissionError(Exception):
    """The path given does not hold a submission (a usage error: exit code 2)."""


@dataclass(frozen=True)
class Submission:
    origin: Path
    """What was graded: a folder, or a single file."""
    folder: Path
    """The folder the learner's files live in (for `path:line` in reports)."""
    edited: dict[str, Path]
    """The chapter's graded files, by name (a path may not exist: that fails the `files` check)."""
    files: dict[str, Path]
    """Everything copied into the sandbox: the graded files plus support files."""

    def fingerprint(self) -> str:
        return hash_files(self.files)


def _starter_support(chapter: Chapter | ChapterOutline) -> dict[str, Path]:
    starter = tree_files(starter_dir(chapter.id, chapter.dir.parent.parent))
    return {name: path for name, path in starter.items() if name not in chapter.files}


def locate(chapter: Chapter | ChapterOutline, path: Path) -> Submission:
    """The submission at `path`: a folder with the chapter's files, or one file for a one-file chapter."""
    path = path.expanduser()
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    support = _starter_support(chapter)
    if path.is_file():
        if len(chapter.files) == 1:
            edited = {chapter.files[0]: path}
        elif path.name in chapter.files:
            edited = {name: path.parent / name for name in chapter.files}
        else:
            raise SubmissionError(f"{chapter.id} grades {', '.join(chapter.files)}; {path.name} is none of them "
                                  "(pass the folder instead)")
        folder = path.parent
    else:
        folder = path
        edited = {name: path / name for name in chapter.files}
    files = dict(edited)
    for name, starter_file in support.items():
        own = folder / name
        files[name] = own if own.is_file() and path.is_dir() else starter_file
    return Submission(origin=path.resolve(), folder=folder.resolve(), edited=edited, files=files)


def hash_files(files: dict[str, Path]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0")
        try:
            _hash_regular(files[name], digest)
        except OSError:
            digest.update(b"<missing>")
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()[:16]


def _hash_regular(path: Path, digest: hashlib._Hash) -> None:
    """Add the file's bytes, read a chunk at a time; raise OSError if it is not a regular file (a FIFO
    would block the grader for ever)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
    finally:
        os.close(fd)


def checks_fingerprint(chapter: Chapter) -> str:
    """A hash of everything that decides the verdict: the manifest and the checks folder."""
    files = {"chapter.toml": chapter.dir / "chapter.toml"}
    files.update({"checks/" + name: path for name, path in tree_files(chapter.checks_dir).items()})
    return hash_files(files)
