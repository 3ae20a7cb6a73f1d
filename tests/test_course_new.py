"""`course new`: the scaffold is complete and loads, never overwrites a chapter, continues another chapter's
solution with --from, and fails `course check` with messages that say what is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from authoring import run_course
from conftest import ROOT
from course.content_check import Inspection
from course.scaffold import ScaffoldError, new_chapter
from grader.manifest import load_chapter
from grader.quiz import load_quiz
from grader.static.registry import load_static_checks



@pytest.fixture
def root(tmp_path) -> Path:
    """A content root with chapter 2 (to continue from)."""
    content = tmp_path / "content"
    for kind in ("chapters", "starter", "solutions"):
        shutil.copytree(ROOT / kind / "chapter-2", content / kind / "chapter-2")
    return content


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}



def test_the_scaffold_has_every_part_and_loads(root):
    created = new_chapter(root, "chapter-9", 'Sessions "everywhere"', files=["database.py"])
    assert [p.as_posix() for p in created] == [
        "chapters/chapter-9/chapter.toml", "chapters/chapter-9/checks/static.py",
        "chapters/chapter-9/checks/test_behaviour.py", "chapters/chapter-9/lesson.md", "chapters/chapter-9/quiz.toml",
        "solutions/chapter-9/database.py", "starter/chapter-9/database.py",
    ]
    assert (root / "chapters" / "chapter-9" / "mistakes").is_dir()
    chapter = load_chapter("chapter-9", root)
    assert chapter.title == 'Sessions "everywhere"' and chapter.files == ("database.py",)
    assert chapter.continues_from is None
    assert [(c.id, c.kind) for c in chapter.checks] == [("first-step", "static"), ("it-works", "behaviour")]
    assert load_quiz(chapter.quiz_path).questions
    assert load_static_checks(chapter.checks_dir / "static.py", "_scaffold_test") == {}
    compile((chapter.checks_dir / "test_behaviour.py").read_text(), "test_behaviour.py", "exec")
    assert "**`database.py`**" in chapter.lesson_path.read_text()
    assert not [p for p in root.iterdir() if p.name.startswith(".course-new-")]  # the staging folder is gone


def test_the_scaffold_fails_course_check_saying_what_is_missing(root):
    new_chapter(root, "9", "Nine", files=["database.py"])
    results = Inspection.of(root, "chapter-9").results
    said = {rule: [f"{p.where()}: {p.message}" for p in result.problems] for rule, result in results.items()}
    assert said["implementations"] == [
        "chapters/chapter-9/chapter.toml:13: check 'first-step' has no implementation: checks/static.py has no "
        "@check('first-step')",
        "chapters/chapter-9/chapter.toml:23: check 'it-works' has no implementation: no test in checks/test_*.py is "
        "marked @check('it-works')",
    ]
    assert said["mistakes"] == ["chapters/chapter-9/mistakes: no mistakes/ fixture: add at least one known-wrong "
                                "submission, a patch against the solution whose header says `# about: ...`, "
                                "`# fails: check-id (diagnosis)` and `# fault: file:line`"]
    placeholders = said["placeholders"]
    assert ("chapters/chapter-9/lesson.md:3: still contains the template's placeholder: TODO(author): the problem this "
            "chapter solves, in two or three short paragraphs.") in placeholders
    for where in ("chapters/chapter-9/chapter.toml:3", "chapters/chapter-9/quiz.toml:5",
                  "chapters/chapter-9/checks/static.py:11", "chapters/chapter-9/checks/test_behaviour.py:12",
                  "starter/chapter-9/database.py:1", "solutions/chapter-9/database.py:1"):
        assert any(p.startswith(where + ":") for p in placeholders), where
    assert said["manifest"] == said["quiz"] == said["lesson"] == said["files"] == []


def test_from_another_chapter_copies_its_solution_and_continues_it(root):
    new_chapter(root, "chapter-3", "Path operations", from_chapter="chapter-2")
    chapter = load_chapter("chapter-3", root)
    assert chapter.continues_from == "chapter-2"
    assert chapter.files == ("database.py",)  # by default, the files chapter 2 edits
    solution = ROOT / "solutions" / "chapter-2"
    for kind in ("starter", "solutions"):
        copied = root / kind / "chapter-3"
        assert sorted(p.name for p in copied.iterdir()) == ["database.py", "main.py", "models.py"]
        assert all((copied / p.name).read_bytes() == p.read_bytes() for p in solution.iterdir())
    rules = Inspection.of(root, "chapter-3").results
    assert rules["continuity"].status == rules["files"].status == "ok"


def test_from_another_chapter_inherits_its_timeout_and_preload(root):
    manifest = root / "chapters" / "chapter-2" / "chapter.toml"
    manifest.write_text(manifest.read_text().replace("timeout = 10", 'timeout = 25\npreload = ["aiosqlite"]'))
    new_chapter(root, "chapter-3", "Path operations", from_chapter="chapter-2")
    chapter = load_chapter("chapter-3", root)
    assert (chapter.timeout, chapter.preload) == (25, ("aiosqlite",))
    new_chapter(root, "chapter-9", "Alone")
    assert (load_chapter("chapter-9", root).timeout, load_chapter("chapter-9", root).preload) == (10, ())


def test_from_with_files_of_its_own(root):
    new_chapter(root, "chapter-3", "Path operations", from_chapter="2", files=["main.py", "routes/heroes.py"])
    assert load_chapter("chapter-3", root).files == ("main.py", "routes/heroes.py")
    assert (root / "starter" / "chapter-3" / "main.py").read_bytes() == (
        ROOT / "solutions" / "chapter-2" / "main.py").read_bytes()
    assert "TODO(author)" in (root / "starter" / "chapter-3" / "routes" / "heroes.py").read_text()


@pytest.mark.parametrize("existing", ["chapters", "starter", "solutions"])
def test_an_existing_chapter_is_never_overwritten(root, existing):
    (root / existing / "chapter-9").mkdir(parents=True)
    (root / existing / "chapter-9" / "mine.txt").write_text("mine")
    before = snapshot(root)
    with pytest.raises(ScaffoldError, match=f"chapter-9 already exists \\({existing}/chapter-9\\); nothing was written"):
        new_chapter(root, "chapter-9", "Nine")
    assert snapshot(root) == before


@pytest.mark.parametrize("args, says", [
    (["new", "chapter-2", "--title", "Again"], "chapter-2 already exists"),
    (["new", "chapter-9", "--title", "Nine", "--from", "chapter-7"], "--from chapter-7: solutions/chapter-7 does not exist"),
    (["new", "lesson-9", "--title", "Nine"], "'lesson-9' is not a chapter name"),
    (["new", "chapter-9", "--title", "  "], "--title must be one non-empty line"),
    (["new", "chapter-9", "--title", "Nine", "--file", "../escape.py"], "must be a relative path to a .py file"),
    (["new", "chapter-9"], "--title"),
])
def test_usage_errors_exit_2_and_write_nothing(root, tmp_path, args, says):
    before = snapshot(root)
    result = run_course(args, root, tmp_path)
    assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr
    assert snapshot(root) == before


def test_the_command_lists_what_it_created(root, tmp_path):
    result = run_course(["new", "chapter-9", "--title", "Nine", "--from", "chapter-2"], root, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "chapters/chapter-9/chapter.toml" in result.stdout and "starter/chapter-9/models.py" in result.stdout
    assert "course check chapter-9" in result.stdout
