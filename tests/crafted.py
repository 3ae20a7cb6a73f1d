"""Crafted uploads for a batch: zips and folder entries no honest student makes, each built into a
class folder under a given student name. Each comes with what the batch must say about it.

A crafted upload is bytes and file-system objects (a corrupt deflate stream, a symbolic link, a name
that is not UTF-8), so it cannot be a variant; what a hostile student's *code* does is in
tests/hostile/ instead.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

SOLUTION = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()


@dataclass(frozen=True)
class Crafted:
    build: Callable[[Path, str], None]
    """Put the upload into the class folder (first argument) as the student (second)."""
    message: str
    """What the student's report says (the `files` check fails with it)."""


def _zip(entries: list[tuple[str | zipfile.ZipInfo, str | bytes]], method: int = zipfile.ZIP_DEFLATED):
    def build(folder: Path, student: str) -> None:
        with warnings.catch_warnings(), zipfile.ZipFile(folder / f"{student}.zip", "w", method) as zf:
            warnings.simplefilter("ignore")  # a name twice is the point of one of them
            for name, data in entries:
                zf.writestr(name, data)
    return build


def _symlink_member(folder: Path, student: str) -> None:
    info = zipfile.ZipInfo("database.py")
    info.external_attr = 0o120777 << 16
    _zip([(info, "/etc/passwd")])(folder, student)


def _encrypted(folder: Path, student: str) -> None:
    """A zip whose member is marked encrypted (general purpose flag bit 0, in both of its headers)."""
    _zip([("database.py", SOLUTION)])(folder, student)
    path = folder / f"{student}.zip"
    data = bytearray(path.read_bytes())
    for at in (6, data.rindex(b"PK\x01\x02") + 8):
        data[at] |= 0x1
    path.write_bytes(bytes(data))


def _corrupt_deflate(folder: Path, student: str) -> None:
    _zip([("database.py", SOLUTION * 3)])(folder, student)
    path = folder / f"{student}.zip"
    data = bytearray(path.read_bytes())
    start = 30 + len("database.py")  # the first member's data follows its local header
    for at in range(start + 5, start + 60):
        data[at] ^= 0x55
    path.write_bytes(bytes(data))


def _many_folders(folder: Path, student: str) -> None:
    with zipfile.ZipFile(folder / f"{student}.zip", "w") as zf:
        for number in range(5000):
            zf.writestr(f"f{number}/", "")
        zf.writestr("database.py", SOLUTION)


def _symlinked_folder(folder: Path, student: str) -> None:
    target = folder.parent / f"{student}-target"
    target.mkdir()
    (target / "database.py").write_text(SOLUTION)
    (folder / student).symlink_to(target)


def _symlinked_file(folder: Path, student: str) -> None:
    target = folder.parent / f"{student}-target.py"
    target.write_text(SOLUTION)
    (folder / f"{student}.py").symlink_to(target)


def _linked_inside(folder: Path, student: str) -> None:
    target = folder.parent / f"{student}-target.py"
    target.write_text(SOLUTION)
    (folder / student).mkdir()
    (folder / student / "database.py").symlink_to(target)


def _folder_as_file(folder: Path, student: str) -> None:
    (folder / student / "database.py").mkdir(parents=True)


def _fifo_as_file(folder: Path, student: str) -> None:
    (folder / student).mkdir()
    os.mkfifo(folder / student / "database.py")


ZIPS: dict[str, Crafted] = {
    "zip-file-and-folder": Crafted(_zip([("database.py", SOLUTION), ("database.py/x.py", "")]),
                                   "both a file and a folder named 'database.py'"),
    "zip-folder-then-file": Crafted(_zip([("pkg/a.py", ""), ("pkg", ""), ("database.py", SOLUTION)]),
                                    "both a file and a folder named 'pkg'"),
    "zip-name-twice": Crafted(_zip([("database.py", "x = 1\n"), ("database.py", SOLUTION)]),
                              "holds 'database.py' twice"),
    "zip-corrupt-deflate": Crafted(_corrupt_deflate, "its compressed data is corrupt"),
    "zip-long-name": Crafted(_zip([("a" * 300 + ".py", ""), ("database.py", SOLUTION)]),
                             "a name too long for a file system"),
    "zip-deep-nesting": Crafted(_zip([("d/" * 3000 + "x.py", ""), ("database.py", SOLUTION)]),
                                "nests folders more than 32 deep"),
    "zip-many-folders": Crafted(_many_folders, "more than 1000 entries"),
    "zip-bomb": Crafted(_zip([("database.py", SOLUTION + "#" + "0" * 30_000_000)]), "unpacks to more than 20 MB"),
    "zip-absolute-path": Crafted(_zip([("/etc/cron.d/evil", "x"), ("database.py", SOLUTION)]), "unsafe path"),
    "zip-dotdot-path": Crafted(_zip([("../../outside.py", "x = 1\n")]), "unsafe path"),
    "zip-symlink-member": Crafted(_symlink_member, "holds a symbolic link"),
    "zip-encrypted": Crafted(_encrypted, "encrypted"),
    "zip-not-a-zip": Crafted(lambda folder, student: (folder / f"{student}.zip").write_bytes(b"PK\x03\x04 junk"),
                             "not a readable zip file"),
}
"""Zips that cannot be unpacked safely, each the student's failure."""

ENTRIES: dict[str, Crafted] = {
    "symlinked-folder": Crafted(_symlinked_folder, "is a symbolic link: submit the folder itself"),
    "symlinked-file": Crafted(_symlinked_file, "is a symbolic link: submit the file itself"),
    "linked-inside": Crafted(_linked_inside, "database.py is a symbolic link"),
    "folder-as-file": Crafted(_folder_as_file, "database.py is a folder, not a file"),
    "fifo-as-file": Crafted(_fifo_as_file, "database.py is not a regular file"),
}
"""Entries of the class folder the grader must not follow or open, each the student's failure."""

CRAFTED = {**ZIPS, **ENTRIES}


def non_utf8_student(folder: Path) -> str:
    """A student folder whose name is not UTF-8 (`caf\\xe9`); returns the student id the batch shows."""
    raw = os.path.join(os.fsencode(folder), b"caf\xe9")
    os.mkdir(raw)
    with open(os.path.join(raw, b"database.py"), "w") as handle:
        handle.write(SOLUTION)
    return "caf\\xe9"


ESCAPE_NAME = "evil\x1b[2J\x1b]0;pwned\x07"
"""A student name that clears the screen and retitles the terminal if printed raw."""


def escape_student(folder: Path) -> str:
    """A student folder named with terminal escape sequences; returns the student id the batch shows."""
    (folder / ESCAPE_NAME).mkdir()
    (folder / ESCAPE_NAME / "database.py").write_text(SOLUTION)
    return "evil\\x1b[2J\\x1b]0;pwned\\x07"


def hidden_student(folder: Path) -> str:
    """A student folder whose name starts with a dot; returns that name."""
    (folder / ".ghost").mkdir()
    (folder / ".ghost" / "database.py").write_text(SOLUTION)
    return ".ghost"
