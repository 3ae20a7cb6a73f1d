"""`course export gradescope chapter-N`: the autograder zip Gradescope runs for each submission.

The zip holds, at its root (Gradescope unpacks it into /autograder/source):

    setup.sh         run once when Gradescope builds the image: a venv at /autograder/venv with
                     this course installed from course/, with the versions of constraints.txt
                     (Python 3.10+ comes from apt if missing; if it still is, the build fails, saying so)
    constraints.txt  every library the course needs, pinned to the version installed where the
                     author ran `course export` (and so checked the course)
    run_autograder   run per submission: grades /autograder/submission with this course's own
                     grader and writes /autograder/results/results.json (always, even when the
                     submission is unusable)
    course/          the grader's source (pyproject.toml, course/, grader/) and the graded chapter
                     only: its manifest and checks (chapters/chapter-N/) and the starter's support
                     files the checks use (starter/chapter-N/, without the files the learner edits)

No reference solution, other chapter, lesson, quiz or known mistake (a patch of the solution)
is in the zip, so none is in the image a submission runs in: grading never reads them. The zip's
pyproject.toml bundles only the content the zip holds.

Both scripts read AUTOGRADER_ROOT (default /autograder), and run_autograder AUTOGRADER_PYTHON,
so they can be tried on a fake tree (the tests do).
"""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from pathlib import Path

from course.atomic import write_atomic
from grader.content import parse_toml, starter_dir
from grader.manifest import Chapter

SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
usable() { python3 -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 10)' 2>/dev/null; }
if ! usable; then
    apt-get update
    apt-get install -y python3 python3-venv python3-pip
fi
if ! usable; then
    echo "setup.sh: the course needs Python 3.10 or newer, with venv; this image has" \
         "$(python3 --version 2>&1 || echo 'no python3'), even after apt-get install python3." \
         "Choose a newer base image in the autograder settings." >&2
    exit 1
fi
found="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$found" != "@AUTHOR_PYTHON@" ]; then
    echo "setup.sh: note: the course was checked on Python @AUTHOR_PYTHON@; this image has Python $found" >&2
fi
python3 -m venv "$root/venv"
# The versions the author checked the course with (constraints.txt): nothing newer or older.
"$root/venv/bin/pip" install --quiet --constraint "$root/source/constraints.txt" "$root/source/course"
"""

RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade $root/submission, write $root/results/results.json.
set -uo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
python="${{AUTOGRADER_PYTHON:-$root/venv/bin/python}}"
exec "$python" -I -m course.export {chapter} "$root"
"""

PROJECT_FILES = ("README.md", "LICENSE")
PROJECT_DIRS = ("course", "grader")
BUNDLED = ("chapters", "starter")
"""The content folders the autograder's wheel bundles: pyproject.toml's force-include, trimmed to these."""
FORCE_INCLUDE = "[tool.hatch.build.targets.wheel.force-include]"
SEARCH_DEPTH = 6
"""How deep below /autograder/submission the chapter's files are looked for."""
SEARCH_FOLDERS = 5000
"""How many folders of a submission are looked at, at most."""


class ExportError(Exception):
    """The export cannot be built here (a usage error: exit code 2)."""


def project_root() -> Path:
    """The source checkout this course runs from (where pyproject.toml sits next to `course/`)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise ExportError("course export needs a source checkout of the course (pyproject.toml next to the "
                          f"course package); {root} has none")
    return root


def _wanted(relative: Path) -> bool:
    """Source files only: no caches, hidden files, databases or the wheel's bundled content."""
    return ("__pycache__" not in relative.parts and "_content" not in relative.parts
            and not any(part.startswith(".") for part in relative.parts) and relative.suffix not in (".pyc", ".db"))


def _tree(base: Path, folder: Path) -> dict[str, Path]:
    """The wanted files under `folder`, by their name relative to `base`."""
    return {path.relative_to(base).as_posix(): path for path in sorted(folder.rglob("*"))
            if path.is_file() and _wanted(path.relative_to(base))}


def shipped_files(chapter: Chapter) -> dict[str, Path]:
    """What the zip's `course/` holds besides pyproject.toml, by name: the grader's source, the chapter's
    manifest and checks, and the starter's support files (the starter without the learner's files)."""
    project = project_root()
    content = chapter.dir.parent.parent
    files = {name: project / name for name in PROJECT_FILES if (project / name).is_file()}
    for name in PROJECT_DIRS:
        files.update(_tree(project, project / name))
    files[f"chapters/{chapter.id}/chapter.toml"] = chapter.dir / "chapter.toml"
    files.update(_tree(content, chapter.checks_dir))
    starter = starter_dir(chapter.id, content)
    files.update({name: path for name, path in _tree(content, starter).items()
                  if path.relative_to(starter).as_posix() not in chapter.files})
    return files


def autograder_pyproject(text: str) -> str:
    """The project's pyproject.toml, its wheel bundling only BUNDLED (the rest of the content is not shipped)."""
    kept: list[str] = []
    table = ""
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            table = stripped
        elif table == FORCE_INCLUDE and "=" in stripped and stripped.split("=")[0].strip(' "\'') not in BUNDLED:
            continue
        kept.append(line)
    trimmed = "".join(kept)
    wheel = parse_toml(trimmed, Path("pyproject.toml")).get("tool", {}).get("hatch", {}).get("build", {}) \
        .get("targets", {}).get("wheel", {})
    if sorted(wheel.get("force-include", {})) != sorted(BUNDLED):
        raise ExportError(f"pyproject.toml's {FORCE_INCLUDE} must bundle {' and '.join(BUNDLED)} (and may bundle "
                          "other content, which the export leaves out); it does not")
    return trimmed


def constraints(project: Path) -> str:
    """`constraints.txt`: every distribution the course needs (pyproject.toml's dependencies, with their extras
    and their own dependencies, for this Python), pinned to the version installed here, where the author checks
    the course. ExportError if one is not installed."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    roots = parse_toml((project / "pyproject.toml").read_text("utf-8"), project / "pyproject.toml")
    todo = [(Requirement(text), "") for text in roots.get("project", {}).get("dependencies", [])]
    pinned: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise ExportError(f"the course needs {requirement}, which is not installed here: install the course "
                              "(`pip install -e .`) and check it, so the autograder gets the versions you "
                              "checked") from None
        pinned[name] = dist.version
        for text in dist.requires or []:
            todo += [(Requirement(text), wanted) for wanted in ("", *sorted(requirement.extras))]
    python = ".".join(map(str, sys.version_info[:3]))
    lines = "".join(f"{name}=={version}\n" for name, version in sorted(pinned.items()))
    return (f"# The versions `course export` found where the course was checked (Python {python}); the\n"
            "# autograder's setup.sh installs exactly these.\n" + lines)


def build_gradescope(chapter: Chapter, out: Path) -> Path:
    """Write the autograder zip for `chapter` to `out` (atomically; into it, if `out` is a folder) and
    return where it went. ExportError if it cannot be written."""
    project = project_root()
    if out.is_dir():
        out = out / f"gradescope-{chapter.id}.zip"
    pins = constraints(project)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        _add(zf, "setup.sh", SETUP.replace("@AUTHOR_PYTHON@", "%d.%d" % sys.version_info[:2]), executable=True)
        _add(zf, "constraints.txt", pins)
        _add(zf, "run_autograder", RUN.format(chapter=chapter.id), executable=True)
        _add(zf, "course/pyproject.toml", autograder_pyproject((project / "pyproject.toml").read_text("utf-8")))
        for name, path in sorted(shipped_files(chapter).items()):
            _add(zf, f"course/{name}", path.read_bytes())
    try:
        write_atomic(out, buffer.getvalue())
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def _add(zf: zipfile.ZipFile, name: str, data: str | bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    zf.writestr(info, data)


# -- inside Gradescope's container ------------------------------------------------------------

def find_submission(chapter: Chapter, folder: Path) -> Path:
    """The folder holding the chapter's files: `folder` itself, or the one folder below it that has
    them (a repository submitted from GitHub keeps them in a subfolder)."""
    if all((folder / name).is_file() for name in chapter.files):
        return folder
    found = [d for d in _folders(folder) if (d / chapter.files[0]).is_file()]
    named = [d for d in found if chapter.id in d.parts]
    if len(named) == 1:
        return named[0]
    return found[0] if len(found) == 1 else folder


def _folders(top: Path) -> list[Path]:
    """The folders under `top`, breadth first, at most SEARCH_DEPTH down and SEARCH_FOLDERS in all,
    never through a link nor into a hidden or `__` folder: whatever tree a submission brings, the
    search ends soon."""
    found: list[Path] = []
    level = [top]
    for _ in range(SEARCH_DEPTH):
        below: list[Path] = []
        for folder in level:
            try:
                with os.scandir(folder) as entries:
                    below += sorted(Path(e.path) for e in entries
                                    if not e.name.startswith((".", "__")) and e.is_dir(follow_symlinks=False))
            except OSError:
                continue
        found += below[:SEARCH_FOLDERS - len(found)]
        if len(found) >= SEARCH_FOLDERS or not below:
            break
        level = below
    return found


def autograde(chapter_id: str, root: Path) -> dict:
    """Grade `root/submission` and write `root/results/results.json`; return what was written."""
    from course.batch import Rejected, vet
    from course.chapters import find_chapter
    from grader.engine import grade, unable_to_grade
    from grader.render.gradescope import to_gradescope
    from grader.submission import Submission, SubmissionError, locate

    folder = root / "submission"
    try:
        chapter = find_chapter(chapter_id)
        try:
            found = find_submission(chapter, folder)
            submission = locate(chapter, found)
            vet(submission, found)
        except (SubmissionError, Rejected) as exc:
            empty = Submission(origin=folder, folder=folder, edited={}, files={})
            report = unable_to_grade(chapter, empty, str(exc))
        else:
            report = grade(chapter, submission)
        results = to_gradescope(report)
    except Exception as exc:  # noqa: BLE001 - Gradescope must always get a results.json
        results = {"score": 0, "output": "The autograder itself failed on this submission (not the "
                                         f"submission's fault): {type(exc).__name__}: {exc}", "tests": []}
    write_atomic(root / "results" / "results.json", json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    """`python -m course.export CHAPTER ROOT`: what run_autograder calls."""
    if len(sys.argv) != 3:
        sys.exit("usage: python -m course.export CHAPTER AUTOGRADER_ROOT")
    autograde(sys.argv[1], Path(sys.argv[2]))


if __name__ == "__main__":
    main()
