"""`course new chapter-N`: scaffold a chapter that `course check` fails until the author fills it in.

Everything the author must write is marked ``TODO(author)`` (see `course.content_check.PLACEHOLDER`),
so `course check` lists each spot by `path:line`. Nothing is written if any of the chapter's
three folders (chapters/, starter/, solutions/) already exists, and the folders appear together:
they are built in a staging folder inside the content root, then moved into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from string import Template

from course.chapters import normalise
from course.content_check import PLACEHOLDER
from grader.content import chapters_dir, solution_dir, starter_dir, tree_files
from grader.manifest import ContentError, load_chapter

DEFAULT_FILE = "main.py"

MANIFEST = Template('''\
format_version = 1
title = $title
summary = "$todo: one sentence on what the learner builds in this chapter."
files = $files
$continues_from
$limits

# One [[checks]] table per thing the learner must get right, in the order the lesson teaches it.
# kind = "static" reads the code (checks/static.py); kind = "behaviour" runs it (checks/test_*.py).
# Rename these two (ids are kebab-case) and add as many as the chapter needs.

[[checks]]
id = "first-step"
title = "$todo: what the learner must achieve, as a sentence"
kind = "static"
hints = [
    "$todo: a gentle nudge",
    "$todo: a more precise hint",
    "$todo: the explicit answer",
]

[[checks]]
id = "it-works"
title = "$todo: what the code must do when it runs"
kind = "behaviour"
depends = ["first-step"]
hints = [
    "$todo: a gentle nudge",
    "$todo: a more precise hint",
    "$todo: the explicit answer",
]
''')

LESSON = Template('''\
# Chapter $number — $title

$todo: the problem this chapter solves, in two or three short paragraphs.

You will edit $files.

## $todo: the idea, with a small example the reader can run

```python
# $todo: a short, runnable example
```

## $todo: the next step of the idea, with its own example

```python
# $todo: another runnable example
```

## Instructions

1. $todo: the first step, in the words your checks use.
2. Run `grade $chapter`. Each failed check names the line to look at; `course hint $chapter`
   reveals hints one at a time.
''')

STATIC = Template('''\
"""Static checks of $chapter: one @check function per `kind = "static"` check of chapter.toml.

Each receives the parsed file the check examines (`src`) and returns a Finding made with the
building blocks of grader.static (docs/AUTHORING.md, "Static checks"); chapters/chapter-2/checks/static.py
and, for sessions, loops and savepoints, tests/authored/batches/chapters/chapter-8/checks/static.py are
worked examples.
"""

from grader.static import all_of, called, check, function, imported  # noqa: F401

# $todo: implement every static check of chapter.toml, for example:
#
# @check("first-step")
# def first_step(src):
#     return function(src, "get_engine")
''')

BEHAVIOUR = Template('''\
"""Behavioural checks of $chapter: one pytest test per `kind = "behaviour"` check of chapter.toml.

Tests run in a sandboxed child process, in a copy of the submission. `learner.module("main")`
imports the learner's module; `with serve(main.app) as client:` serves the app with its lifespan and
`request(client, "GET", "/heroes/", expect=200)` sends a request; `fail("message", obj=...,
diagnosis="...")` fails the check at the learner's file and line (docs/AUTHORING.md, "Behavioural
checks").
"""

from grader.testing import check, fail  # noqa: F401

# $todo: implement every behavioural check of chapter.toml, for example:
#
# @check("it-works")
# def test_it_works(learner):
#     main = learner.module("main")
#     if not callable(getattr(main, "get_engine", None)):
#         fail("main.py has no function get_engine", diagnosis="missing")
''')

QUESTION = Template('''
[[questions]]
prompt = "$todo: a question about this chapter's idea"
choices = [
$choices
]
answer = "$answer"
explanation = "$todo: why the right answer is right, and why each wrong one is wrong"
''')
QUIZ_HEAD = """\
# Practice questions (at least six; docs/AUTHORING.md section 10): wrong choices as long as the right one,
# the right one spread over the letters, and explanations that say why each wrong choice is wrong.
"""
ANSWERS = "abcabc"
"""Where the scaffold's questions put the right choice (course check wants three letters, none in more than half)."""


class ScaffoldError(Exception):
    """The chapter cannot be created as asked (a usage error: exit code 2)."""


def chapter_name(text: str) -> str:
    """`8` or `chapter-8` -> `chapter-8`; anything else is a ScaffoldError."""
    name = normalise(text)
    if not re.fullmatch(r"chapter-[1-9]\d*", name):
        raise ScaffoldError(f"{text!r} is not a chapter name: write chapter-N (e.g. chapter-8)")
    return name


def new_chapter(root: Path, chapter: str, title: str, *, from_chapter: str | None = None,
                files: Sequence[str] = ()) -> list[Path]:
    """Create the chapter's three folders under `root`; return the files created (relative to `root`).

    `files` are the files the learner edits (default: those of `from_chapter`, else main.py).
    With `from_chapter`, its solution is copied into both the starter and the solution, and the
    manifest says `continues_from`.
    """
    chapter = chapter_name(chapter)
    title = title.strip()
    if not title or "\n" in title:
        raise ScaffoldError("--title must be one non-empty line")
    targets = [chapters_dir(root) / chapter, starter_dir(chapter, root), solution_dir(chapter, root)]
    existing = [t for t in targets if t.exists()]
    if existing:
        raise ScaffoldError(f"{chapter} already exists ({', '.join(_rel(t, root) for t in existing)}); "
                            "nothing was written")
    base: dict[str, Path] = {}
    if from_chapter is not None:
        from_chapter = chapter_name(from_chapter)
        source = solution_dir(from_chapter, root)
        if not source.is_dir():
            raise ScaffoldError(f"--from {from_chapter}: {_rel(source, root)} does not exist")
        base = tree_files(source)
    edited = list(dict.fromkeys(files)) or _default_files(root, from_chapter)
    for name in edited:
        if not _valid_file_name(name):
            raise ScaffoldError(f"--file {name!r} must be a relative path to a .py file inside the chapter")

    staging = Path(tempfile.mkdtemp(prefix=".course-new-", dir=root))
    try:
        stage = [staging / t.relative_to(root) for t in targets]
        _write_chapter(stage[0], chapter, title, edited, from_chapter, root)
        for folder, role in ((stage[1], "as the learner receives it"), (stage[2], "as it is at the end of the chapter")):
            folder.mkdir(parents=True)
            for name, path in base.items():
                _write(folder / name, path.read_bytes())
            for name in edited:
                if name not in base:
                    _write(folder / name, f"# {PLACEHOLDER}: {name} {role}.\n".encode())
        created = sorted(p.relative_to(staging) for s in stage for p in s.rglob("*") if p.is_file())
        _move_into_place(stage, targets)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return created


def _write_chapter(folder: Path, chapter: str, title: str, edited: list[str], from_chapter: str | None,
                   root: Path) -> None:
    number = chapter.split("-")[1]
    continues = (f'continues_from = "{from_chapter}"' if from_chapter else
                 '# continues_from = "chapter-M"   (set it when the starter continues chapter M\'s solution)')
    limits = _limits(root, from_chapter)
    named = ", ".join(f"**`{name}`**" for name in edited)
    fields = {"todo": PLACEHOLDER, "chapter": chapter, "number": number, "title": title}
    _write(folder / "chapter.toml", MANIFEST.substitute(
        fields, title=json.dumps(title, ensure_ascii=False), files=json.dumps(edited),
        continues_from=continues, limits=limits).encode())
    _write(folder / "lesson.md", LESSON.substitute(fields, files=named).encode())
    _write(folder / "quiz.toml", quiz_template().encode())
    _write(folder / "checks" / "static.py", STATIC.substitute(fields).encode())
    _write(folder / "checks" / "test_behaviour.py", BEHAVIOUR.substitute(fields).encode())
    (folder / "mistakes").mkdir()


def quiz_template() -> str:
    """Six placeholder questions, their right answers in three places."""
    choices = ["$todo: the right answer", "$todo: a tempting wrong answer", "$todo: another wrong answer"]
    questions = []
    for answer in ANSWERS:
        right = "abc".index(answer)
        ordered = [*choices[1:right + 1], choices[0], *choices[right + 1:]]
        questions.append(QUESTION.substitute(todo=PLACEHOLDER, answer=answer, choices="\n".join(
            f'    "{c.replace("$todo", PLACEHOLDER)}",' for c in ordered)))
    return QUIZ_HEAD + "".join(questions)


def _limits(root: Path, from_chapter: str | None) -> str:
    """`timeout` (and `preload`) lines: the continued chapter's, else the default timeout."""
    timeout, preload = 10.0, ()
    if from_chapter is not None:
        try:
            previous = load_chapter(from_chapter, root)
            timeout, preload = previous.timeout, previous.preload
        except ContentError:
            pass
    lines = [f"timeout = {timeout:g}"]
    if preload:
        lines.append(f"preload = {json.dumps(list(preload))}")
    return "\n".join(lines)


def _default_files(root: Path, from_chapter: str | None) -> list[str]:
    if from_chapter is not None:
        try:
            return list(load_chapter(from_chapter, root).files)
        except ContentError:
            pass
    return [DEFAULT_FILE]


def _valid_file_name(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and path.suffix == ".py"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _move_into_place(staged: list[Path], targets: list[Path]) -> None:
    """Rename each staged folder to its target; on failure, take back the ones already moved."""
    moved: list[Path] = []
    try:
        for source, target in zip(staged, targets):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, target)
            moved.append(target)
    except OSError:
        for target in moved:
            shutil.rmtree(target, ignore_errors=True)
        raise


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
