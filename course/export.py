"""`course export gradescope chapter-N`: the autograder zip Gradescope runs for each submission.

The zip holds, at its root (Gradescope unpacks it into /autograder/source):

    setup.sh         run once when Gradescope builds the image: a venv at /autograder/venv with
                     this course installed from course/ (Python 3.10+ comes from apt if missing)
    run_autograder   run per submission: grades /autograder/submission with this course's own
                     grader and writes /autograder/results/results.json (always, even when the
                     submission is unusable)
    course/          the course's source: pyproject.toml, course/, grader/, chapters/, starter/, solutions/

Both scripts read AUTOGRADER_ROOT (default /autograder), and run_autograder AUTOGRADER_PYTHON,
so they can be tried on a fake tree (the tests do).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

from course.atomic import write_atomic
from grader.manifest import Chapter

SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
if ! python3 -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 10)' 2>/dev/null; then
    apt-get update
    apt-get install -y python3 python3-venv python3-pip
fi
python3 -m venv "$root/venv"
"$root/venv/bin/pip" install --quiet "$root/source/course"
"""

RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade $root/submission, write $root/results/results.json.
set -uo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
python="${{AUTOGRADER_PYTHON:-$root/venv/bin/python}}"
exec "$python" -I -m course.export {chapter} "$root"
"""

PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE")
PROJECT_DIRS = ("course", "grader")
CONTENT_DIRS = ("chapters", "starter", "solutions")


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


def build_gradescope(chapter: Chapter, out: Path) -> Path:
    """Write the autograder zip for `chapter` to `out` (atomically) and return it."""
    project = project_root()
    content = chapter.dir.parent.parent
    files: dict[str, Path] = {name: project / name for name in PROJECT_FILES if (project / name).is_file()}
    for base, names in ((project, PROJECT_DIRS), (content, CONTENT_DIRS)):
        for name in names:
            for path in sorted((base / name).rglob("*")):
                if path.is_file() and _wanted(path.relative_to(base)):
                    files[path.relative_to(base).as_posix()] = path
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        _add(zf, "setup.sh", SETUP, executable=True)
        _add(zf, "run_autograder", RUN.format(chapter=chapter.id), executable=True)
        for name, path in sorted(files.items()):
            _add(zf, f"course/{name}", path.read_bytes())
    write_atomic(out, buffer.getvalue())
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
    first = chapter.files[0]
    found = sorted({p.parent for p in folder.rglob(first)
                    if not any(part.startswith((".", "__")) for part in p.relative_to(folder).parts)})
    named = [p for p in found if chapter.id in p.parts]
    if len(named) == 1:
        return named[0]
    return found[0] if len(found) == 1 else folder


def autograde(chapter_id: str, root: Path) -> dict:
    """Grade `root/submission` and write `root/results/results.json`; return what was written."""
    from course.chapters import find_chapter
    from grader.engine import grade, unable_to_grade
    from grader.render.gradescope import to_gradescope
    from grader.submission import Submission, SubmissionError, locate

    folder = root / "submission"
    try:
        chapter = find_chapter(chapter_id)
        try:
            submission = locate(chapter, find_submission(chapter, folder))
        except SubmissionError as exc:
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
