"""The learner's workspace: where chapter files are copied to and edited.

Location, first match wins: the `--workspace` option, the `COURSE_WORKSPACE` environment
variable, `<repo>/workspace` in a source checkout, `~/fastapi-sessions-course` otherwise.

Layout:

    <workspace>/chapter-N/                 the learner's files
    <workspace>/progress.json              progress (course.progress)
    <workspace>/backups/chapter-N-<time>/  what `course reset` replaced
    <workspace>/.course/starter/chapter-N/ the starter files as last copied, to tell an edited
                                           file from an unedited one when the starter changes
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from course.atomic import create_atomic, write_atomic
from grader.content import content_root, starter_dir, tree_files

if TYPE_CHECKING:
    from grader.manifest import Chapter

ENV_VAR = "COURSE_WORKSPACE"


def default_workspace() -> Path:
    root = content_root()
    if root.name != "_content" and (root / "pyproject.toml").is_file():
        return root / "workspace"
    return Path.home() / "fastapi-sessions-course"


def resolve_workspace(option: Path | None = None) -> Path:
    if option is not None:
        return option.expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return default_workspace()


def chapter_folder(workspace: Path, chapter_id: str) -> Path:
    return workspace / chapter_id


def pristine_folder(workspace: Path, chapter_id: str) -> Path:
    """Where the starter files are remembered as they were when copied."""
    return workspace / ".course" / "starter" / chapter_id


def starter_files(chapter: Chapter) -> dict[str, Path]:
    """Every file of the chapter's starter, by its name relative to the starter folder."""
    return tree_files(starter_dir(chapter.id, chapter.dir.parent.parent))


def latest_backup(workspace: Path, chapter_id: str) -> Path | None:
    """The newest folder `course reset` copied the learner's files of `chapter_id` to, if any."""
    folders = [p for p in (workspace / "backups").glob(f"{chapter_id}-*") if p.is_dir()]
    return max(folders, key=lambda p: p.stat().st_mtime) if folders else None


def missing_notes(workspace: Path, chapter: Chapter, missing: list[str] | tuple[str, ...]) -> list[str]:
    """What to tell the learner about chapter files that are not in their folder, and how to get them back."""
    folder = chapter_folder(workspace, chapter.id)
    backup = latest_backup(workspace, chapter.id)
    earlier = f"; your version from before the last reset is in {backup}" if backup else ""
    notes = []
    for name in missing:
        if name in chapter.files:
            notes.append(f"{name} is not in {folder}. `grade {chapter.id}` puts the starter's {name} back{earlier}.")
        else:
            notes.append(f"{name} is not in {folder}, so it was graded with the starter's copy. "
                         f"`grade {chapter.id}` puts that copy back.")
    return notes


def remember_starter(workspace: Path, chapter_id: str, name: str, data: bytes) -> None:
    write_atomic(pristine_folder(workspace, chapter_id) / name, data)


@dataclass
class Started:
    folder: Path
    created: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    """Of `created`: files the learner had been given before, then deleted (their starter version is back)."""
    backup: Path | None = None
    """The learner's files as they were before the last `course reset`, if there was one."""
    kept: list[str] = field(default_factory=list)
    """Files that were already there (yours): not touched."""
    updated: list[str] = field(default_factory=list)
    """Files you had not edited, replaced by a newer version of the starter."""
    diverged: dict[str, str] = field(default_factory=dict)
    """Files you edited whose starter changed since: name -> the starter's change as a diff."""

    def notes(self) -> list[str]:
        """What `grade` and `watch` tell the learner: the files just created, then `update_notes`."""
        fresh = [name for name in self.created if name not in self.recreated]
        notes = [f"Created {', '.join(fresh)} in {self.folder} from the chapter's starter."] if fresh else []
        if self.recreated:
            earlier = f"; your version from before the last reset is in {self.backup}" if self.backup else ""
            notes.append(f"{', '.join(self.recreated)} {'was' if len(self.recreated) == 1 else 'were'} missing from "
                         f"{self.folder}: put the starter's copy back{earlier}.")
        return notes + self.update_notes()

    def update_notes(self) -> list[str]:
        """What a new version of the starter changed, for the learner."""
        notes = []
        if self.updated:
            notes.append(f"The course has a new version of this chapter's starter: updated {', '.join(self.updated)} "
                         f"in {self.folder} (you had not edited {'it' if len(self.updated) == 1 else 'them'}).")
        for name, diff in self.diverged.items():
            notes.append(f"The starter's {name} changed since you started; you edited {self.folder / name}, "
                         f"so it was kept as it is. The starter's change, to apply by hand if you want it:\n{diff}")
        return notes


def start_chapter(workspace: Path, chapter: Chapter) -> Started:
    """Copy the chapter's starter files that are not in the workspace yet; never overwrite an edited file.

    A file identical to the starter it was copied from is brought up to date when the starter
    changes; an edited one is kept, and the starter's change is described instead.
    """
    from course import progress

    folder = chapter_folder(workspace, chapter.id)
    pristine = pristine_folder(workspace, chapter.id)
    result = Started(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in starter_files(chapter).items():
        new = path.read_bytes()
        dest = folder / name
        if create_atomic(dest, new):
            result.created.append(name)
            if (pristine / name).is_file():  # given before: the learner deleted it
                result.recreated.append(name)
            remember_starter(workspace, chapter.id, name, new)
            continue
        try:
            base: bytes | None = (pristine / name).read_bytes()
        except OSError:
            base = None
        if base != new:
            _follow_starter(result, name, dest, base, new)
            remember_starter(workspace, chapter.id, name, new)
        if name not in result.updated:
            result.kept.append(name)
    if result.created:
        progress.record_start(workspace, chapter.id)
    if result.recreated:
        result.backup = latest_backup(workspace, chapter.id)
    return result


def _follow_starter(result: Started, name: str, dest: Path, base: bytes | None, new: bytes) -> None:
    """The starter of `name` is now `new`; it was `base` when copied (None: not known)."""
    if base is None:
        return  # copied before versions were remembered: an edited file cannot be told apart, so keep it
    try:
        mine = dest.read_bytes()
    except OSError:
        return
    if mine == base:
        write_atomic(dest, new)
        result.updated.append(name)
    elif mine != new:
        result.diverged[name] = unified_diff(base, new, f"starter before/{name}", f"starter now/{name}")


def unified_diff(old: bytes | str, new: bytes | str, old_name: str, new_name: str) -> str:
    import difflib

    def lines(text: bytes | str) -> list[str]:
        return (text.decode("utf-8", "replace") if isinstance(text, bytes) else text).splitlines(keepends=True)

    diff = "".join(difflib.unified_diff(lines(old), lines(new), old_name, new_name))
    return diff if diff.endswith("\n") or not diff else diff + "\n"
