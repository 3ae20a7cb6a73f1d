"""Every lesson example runs as printed (docs/AUTHORING.md, "Every example runs").

Each fenced block of chapters/*/lesson.md whose info string's first word is `python` is run, unless its info
string has the word `fragment`: written to `example.py` in a fresh folder holding a copy of the chapter's
reference solution (every file of solutions/chapter-N/), run there with this Python, it must exit with status 0
within 60 s. One test per block, with the id `chapter-N:line`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

TIMEOUT = 60
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Example:
    chapter: str
    line: int
    """The line of the block's opening fence in lesson.md."""
    code: str

    @property
    def id(self) -> str:
        return f"{self.chapter}:{self.line}"


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line of the opening fence, info string, content) for each top-level fenced block of a Markdown text: a
    block inside another (a ```` ````markdown ```` block showing one) is content, not a block."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"]):
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body = []
        end = index + 1
        while end < len(lines):
            closing = FENCE.match(lines[end])
            if (closing and closing["fence"][0] == fence[0] and len(closing["fence"]) >= len(fence)
                    and not closing["info"].strip()):
                break
            body.append(lines[end][indent:] if lines[end][:indent].strip() == "" else lines[end].lstrip())
            end += 1
        blocks.append((index + 1, opening["info"].strip(), "\n".join(body) + "\n"))
        index = end + 1
    return blocks


def is_example(info: str) -> bool:
    """A block to run: its info string's first word is `python`, and it is not marked `fragment`."""
    words = info.split()
    return bool(words) and words[0] == "python" and "fragment" not in words


def examples(root: Path = ROOT) -> list[Example]:
    found = []
    for lesson in sorted((root / "chapters").glob("chapter-*/lesson.md"), key=lambda p: int(p.parent.name[8:])):
        for line, info, code in fenced_blocks(lesson.read_text(encoding="utf-8")):
            if is_example(info):
                found.append(Example(lesson.parent.name, line, code))
    return found


def run_example(example: Example, folder: Path, root: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the example in `folder`, a fresh copy of its chapter's reference solution."""
    shutil.copytree(root / "solutions" / example.chapter, folder,
                    ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    (folder / "example.py").write_text(example.code, encoding="utf-8")
    try:
        return subprocess.run([sys.executable, "example.py"], cwd=folder, capture_output=True, text=True,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return subprocess.CompletedProcess(exc.cmd, -1, "", f"{err}\n(still running after {TIMEOUT} s: stopped)")


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


EXAMPLES = examples()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_the_lesson_example_runs(example, tmp_path):
    result = run_example(example, tmp_path / "app")
    assert result.returncode == 0, (
        f"chapters/{example.chapter}/lesson.md:{example.line}: the example exits with status {result.returncode}\n"
        f"{tail(result.stderr) or tail(result.stdout)}")


# -- the convention itself ------------------------------------------------------------------------------------------
LESSON = """# Chapter 1

```python
print("runs")
```

```python fragment
def half(
```

```python title="main.py"
import sys; sys.exit(3)
```

````markdown
```python
this is shown, not run
```
````

```bash
exit 1
```

1. A step with an indented example:

   ```python
   from main import VALUE
   assert VALUE == 42
   ```
"""


@pytest.fixture
def course(tmp_path) -> Path:
    (tmp_path / "chapters" / "chapter-1").mkdir(parents=True)
    (tmp_path / "chapters" / "chapter-1" / "lesson.md").write_text(LESSON)
    (tmp_path / "solutions" / "chapter-1").mkdir(parents=True)
    (tmp_path / "solutions" / "chapter-1" / "main.py").write_text("VALUE = 42\n")
    return tmp_path


def test_python_blocks_run_unless_marked_fragment(course):
    found = examples(course)
    assert [(e.id, e.code) for e in found] == [
        ("chapter-1:3", 'print("runs")\n'),
        ("chapter-1:11", "import sys; sys.exit(3)\n"),
        ("chapter-1:27", "from main import VALUE\nassert VALUE == 42\n"),
    ]


def test_an_example_runs_in_a_copy_of_the_solution_and_passes_on_exit_0(course, tmp_path):
    printed, exits_3, imports_the_app = examples(course)
    assert run_example(printed, tmp_path / "a", course).stdout == "runs\n"
    assert run_example(exits_3, tmp_path / "b", course).returncode == 3
    assert run_example(imports_the_app, tmp_path / "c", course).returncode == 0
    assert not (course / "solutions" / "chapter-1" / "example.py").exists()  # the solution itself is untouched
