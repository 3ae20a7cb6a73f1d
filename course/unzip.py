"""Unpack one student's zip, whatever it holds: a submission comes out, or `Rejected` says why not.

A zip is the student's own bytes, so every way it can be broken or hostile is that student's
failure, never the batch's: corrupt or encrypted data, unsafe paths (absolute, `..`, a drive),
symbolic links, a file and a folder of the same name, a name twice, names or nesting no file
system takes, too many entries, and more bytes than a course exercise could need (counted
while unpacking, not trusted from the header). Everything is checked before the first byte is
written, except the unpacked size, which is counted as it is written.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from grader.safetext import printable

MAX_ENTRIES = 1000
"""Entries (files and folders) one zip may hold."""
MAX_FILES = 200
"""Files one zip may hold."""
MAX_BYTES = 20 * 1024 * 1024
"""Bytes one zip may unpack to, all files together."""
MAX_DEPTH = 32
"""Folders one path in the zip may nest."""
MAX_NAME_BYTES = 255
"""Bytes one file or folder name may have (what Linux and macOS file systems take)."""
MAX_PATH_CHARS = 1024
"""Characters one path in the zip may have."""
MAX_INDEX_BYTES = 8 * 1024 * 1024
"""Bytes the zip's index (its central directory) may have: MAX_ENTRIES entries with room to spare."""
END_SIGNATURE, END_SIZE = b"PK\x05\x06", 22
END_SEARCH = END_SIZE + 65535
"""The end record is in the last 22 bytes, or 22 bytes and a comment of at most 64 KB."""


class Rejected(Exception):
    """This student's submission cannot be graded (it is reported as failed, with the reason)."""


def unpack(archive: Path, dest: Path) -> Path:
    """Extract the zip `archive` into the empty folder `dest` and return the folder holding the
    submission: `dest`, or the zip's one top folder. `__MACOSX/` is left out. Raises Rejected."""
    name = printable(archive.name, multiline=False)
    try:
        _check_index(name, archive)
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.filename.replace("\\", "/").startswith("__MACOSX/")]
            paths = vet(name, members)
            _extract(name, zf, members, paths, dest)
    except Rejected:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise Rejected(f"{name} is not a readable zip file ({printable(str(exc))})") from None
    except RuntimeError as exc:  # encrypted members
        raise Rejected(f"{name} cannot be unpacked: {printable(str(exc))}") from None
    except zlib.error:
        raise Rejected(f"{name} cannot be unpacked: its compressed data is corrupt") from None
    except Exception as exc:  # noqa: BLE001 - whatever else the bytes provoke is still this zip's doing
        raise Rejected(f"{name} cannot be unpacked ({_why(exc)})") from None
    inside = [p for p in dest.iterdir() if not p.name.startswith(".")]
    if len(inside) == 1 and inside[0].is_dir():
        return inside[0]
    return dest


def _check_index(name: str, archive: Path) -> None:
    """Refuse a zip whose end record declares more entries or a larger index than a course submission
    could need, before `zipfile` reads that index into memory."""
    with open(archive, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - END_SEARCH))
        tail = handle.read()
    at = tail.rfind(END_SIGNATURE)
    if at < 0 or len(tail) - at < END_SIZE:
        return  # no end record: zipfile says it is not a zip
    entries, index_bytes = struct.unpack("<xxxxxxxxxxHI", tail[at:at + 16])
    if entries == 0xFFFF or index_bytes == 0xFFFFFFFF:
        raise Rejected(f"{name} uses the ZIP64 format, which a course submission never needs")
    if entries > MAX_ENTRIES:
        raise Rejected(f"{name} holds more than {MAX_ENTRIES} entries (files and folders)")
    if index_bytes > MAX_INDEX_BYTES:
        raise Rejected(f"{name} has an index of more than {MAX_INDEX_BYTES // (1024 * 1024)} MB (long names or "
                       "comments on its entries)")


def vet(name: str, members: list[zipfile.ZipInfo]) -> list[tuple[str, ...]]:
    """The path parts of each member, once all of them are known to unpack safely (else Rejected)."""
    if len(members) > MAX_ENTRIES:
        raise Rejected(f"{name} holds more than {MAX_ENTRIES} entries (files and folders)")
    if sum(not m.is_dir() for m in members) > MAX_FILES:
        raise Rejected(f"{name} holds more than {MAX_FILES} files")
    paths = [_parts(name, m) for m in members]
    files: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    for member, parts in zip(members, paths):
        folders.update(parts[:i] for i in range(1, len(parts)))
        if member.is_dir():
            folders.add(parts)
        elif parts in files:
            raise Rejected(f"{name} holds {'/'.join(parts)!r} twice")
        else:
            files.add(parts)
    both = sorted(files & folders)
    if both:
        raise Rejected(f"{name} holds both a file and a folder named {'/'.join(both[0])!r}")
    return paths


def _parts(name: str, member: zipfile.ZipInfo) -> tuple[str, ...]:
    path = member.filename.replace("\\", "/")
    shown = printable(repr(member.filename), multiline=False)
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or ".." in parts or ":" in parts[0]:
        raise Rejected(f"{name} holds an unsafe path: {shown}")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise Rejected(f"{name} holds a symbolic link: {shown}")
    if len(parts) > MAX_DEPTH:
        raise Rejected(f"{name} nests folders more than {MAX_DEPTH} deep")
    if len(path) > MAX_PATH_CHARS or any(len(p.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for p in parts):
        raise Rejected(f"{name} holds a name too long for a file system: {shown[:80]}...")
    return parts


def _extract(name: str, zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], paths: list[tuple[str, ...]],
             dest: Path) -> None:
    budget = MAX_BYTES
    for member, parts in zip(members, paths):
        target = dest.joinpath(*parts)
        if member.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(member) as src, open(target, "xb") as out:
            while chunk := src.read(65536):
                budget -= len(chunk)
                if budget < 0:
                    raise Rejected(f"{name} unpacks to more than {MAX_BYTES // (1024 * 1024)} MB")
                out.write(chunk)


def _why(exc: Exception) -> str:
    """An exception in a few words, without the grader's own paths."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return printable(f"{type(exc).__name__}: {exc}", multiline=False)
