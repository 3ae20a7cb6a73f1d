"""The learner's workspace: where chapter files are copied to and edited.

Location, first match wins: the `--workspace` option, the `COURSE_WORKSPACE` environment
variable, `<repo>/workspace` in a source checkout, `~/fastapi-sessions-course` otherwise.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.content import content_root, starter_dir
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


@dataclass
class Started:
    folder: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def start_chapter(workspace: Path, chapter: Chapter) -> Started:
    """Copy the chapter's starter files that are not in the workspace yet; never overwrite one."""
    source = starter_dir(chapter.id, chapter.dir.parent.parent)
    folder = chapter_folder(workspace, chapter.id)
    result = Started(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")) if source.is_dir() else []:
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        name = path.relative_to(source).as_posix()
        dest = folder / name
        if dest.exists():
            result.kept.append(name)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(dest, "xb") as handle:  # "x": fails rather than overwrite a file made meanwhile
                with open(path, "rb") as src:
                    shutil.copyfileobj(src, handle)
        except FileExistsError:
            result.kept.append(name)
            continue
        result.created.append(name)
    return result
