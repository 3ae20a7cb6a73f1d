"""`course reset chapter-N`: put the starter files back, after copying the learner's version aside."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console

from course import progress
from course.atomic import write_atomic
from course.terminal import stdin_is_interactive
from course.workspace import chapter_folder, remember_starter, starter_files
from grader.manifest import Chapter


@dataclass
class Plan:
    folder: Path
    starter: dict[str, Path]
    present: list[str] = field(default_factory=list)
    """The chapter's files the learner has: all of them are backed up."""
    replace: list[str] = field(default_factory=list)
    """Files that differ from the starter or are missing: they are (re)written."""


def plan(workspace: Path, chapter: Chapter) -> Plan:
    folder = chapter_folder(workspace, chapter.id)
    result = Plan(folder, starter_files(chapter))
    for name, source in result.starter.items():
        mine = folder / name
        if mine.is_file():
            result.present.append(name)
            if mine.read_bytes() == source.read_bytes():
                continue
        result.replace.append(name)
    return result


def backup_folder(workspace: Path, chapter_id: str) -> Path:
    """A new, empty, timestamped folder under <workspace>/backups/."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = workspace / "backups"
    for n in range(1, 1000):
        candidate = base / (f"{chapter_id}-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"too many backups of {chapter_id} at {stamp} in {base}")


def apply(workspace: Path, chapter: Chapter, todo: Plan) -> Path:
    """Copy every file the learner has to a new backup folder, then write the starter's versions.

    Nothing is replaced until the whole backup is written; each replacement is atomic.
    """
    backup = backup_folder(workspace, chapter.id)
    for name in todo.present:
        (backup / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(todo.folder / name, backup / name)
    for name in todo.replace:
        data = todo.starter[name].read_bytes()
        write_atomic(todo.folder / name, data)
        remember_starter(workspace, chapter.id, name, data)
    return backup


def reset(workspace: Path, chapter: Chapter, todo: Plan) -> Path:
    """`apply` the plan and note the reset in progress.json; the backup folder."""
    backup = apply(workspace, chapter, todo)
    progress.record_reset(workspace, chapter.id)
    return backup


class NeedsConfirmation(Exception):
    """Asked to reset without a terminal to confirm on and without --yes (a usage error)."""


def run(console: Console, workspace: Path, chapter: Chapter, *, yes: bool) -> int:
    """Reset after saying what will happen and getting a yes; 0 done, 1 nothing done."""
    todo = plan(workspace, chapter)
    if not todo.present:
        console.print(f"There are no {chapter.id} files in {todo.folder} yet, so there is nothing to reset. "
                      f"Start the chapter with `course start {chapter.id}`.")
        return 1
    if not todo.replace:
        console.print(f"Your {chapter.id} files are already the starter's: nothing to reset.")
        return 0
    console.print(f"This puts the starter's version of {', '.join(todo.replace)} back in {todo.folder}.")
    console.print(f"First, your current files ({', '.join(todo.present)}) are copied to a new folder in "
                  f"{workspace / 'backups'}.")
    if not yes:
        if not stdin_is_interactive():
            raise NeedsConfirmation("course reset replaces your files, so it asks first, and there is no terminal "
                                    "to ask on; run it again with --yes to go ahead")
        try:
            answer = console.input("Reset? [y/N] ", markup=False)
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            console.print("Nothing changed.")
            return 1
    backup = reset(workspace, chapter, todo)
    console.print(f"Backed up your files to {backup}")
    console.print(f"Restored the starter's {', '.join(todo.replace)}.")
    console.print(f"To get your version back, copy the files from {backup} to {todo.folder}.")
    return 0
