"""A chapter's `requires`: a too-old or missing package is named, with the command that fixes it, before
anything is graded (`grade` exits 2, like other set-up errors; `course check` reports it and grades nothing).
The installed versions are faked through importlib.metadata, in this process."""

from __future__ import annotations

from importlib import metadata

import pytest
from typer.testing import CliRunner

from authoring import CHAPTER, write_example
from course.content_check import GRADED, Inspection
from course.requirements import RequirementError, require, unmet_requirements
from grader.manifest import ContentError, load_chapter, load_chapter_dir

MESSAGE = "chapter-4 needs fastapi>=0.121 (installed: 0.120.1). Upgrade: pip install -U 'fastapi>=0.121'"


@pytest.fixture
def installed(monkeypatch):
    """Pretend these versions are installed (None: not installed); other packages are what they are."""
    versions: dict[str, str | None] = {}
    real = metadata.version

    def version(name: str) -> str:
        if name in versions:
            if versions[name] is None:
                raise metadata.PackageNotFoundError(name)
            return versions[name]  # type: ignore[return-value]
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    return versions


def test_the_chapters_that_use_depends_scope_require_fastapi_0_121():
    """`Depends(..., scope="function")` is new in FastAPI 0.121; chapter 4 teaches it, and 5 to 7 build on it."""
    assert [load_chapter(f"chapter-{n}").requires for n in range(1, 8)] == [{}] * 3 + [{"fastapi": ">=0.121"}] * 4


def test_a_too_old_package_is_named_with_the_upgrade(installed):
    installed["fastapi"] = "0.120.1"
    with pytest.raises(RequirementError) as raised:
        require(load_chapter("chapter-4"))
    assert str(raised.value) == MESSAGE
    assert isinstance(raised.value, ContentError)  # a set-up error: exit status 2 wherever content errors are


def test_a_missing_package_and_several_unmet_ones_are_all_named(installed):
    installed.update({"fastapi": None, "sqlmodel": "0.0.21"})
    unmet = unmet_requirements({"fastapi": ">=0.121", "sqlmodel": ">=0.0.22", "pytest": ">=1"})
    assert [str(u) for u in unmet] == ["fastapi>=0.121 (not installed)", "sqlmodel>=0.0.22 (installed: 0.0.21)"]
    assert str(RequirementError("chapter-6", unmet)) == (
        "chapter-6 needs fastapi>=0.121 (not installed) and sqlmodel>=0.0.22 (installed: 0.0.21). Upgrade: "
        "pip install -U 'fastapi>=0.121' 'sqlmodel>=0.0.22'")


@pytest.mark.parametrize("version", ["0.121.0", "0.121", "0.165.0"])
def test_a_version_that_meets_the_specifier_passes(installed, version):
    installed["fastapi"] = version
    require(load_chapter("chapter-4"))


def test_grade_refuses_before_grading_with_exit_status_2(installed, monkeypatch):
    import grader.engine
    from course.grade_app import app

    installed["fastapi"] = "0.120.1"
    monkeypatch.setattr(grader.engine, "grade", lambda *a, **k: pytest.fail("graded despite the old fastapi"))
    result = CliRunner().invoke(app, ["chapter-4", "--solution"])
    assert result.exit_code == 2
    assert f"error: {MESSAGE}" in " ".join(result.output.split())
    assert "TypeError" not in result.output


def test_grade_goes_on_when_the_requirements_are_met(installed, monkeypatch):
    from course import grade_app

    installed["fastapi"] = "0.121.0"
    monkeypatch.setattr(grade_app, "_grade", lambda *a, **k: 0)
    assert CliRunner().invoke(grade_app.app, ["chapter-4", "--solution"]).exit_code == 0


@pytest.mark.parametrize("requires, says", [
    ('{fastapi = "0.121"}', "the version of 'fastapi' must be a specifier like \">=0.121\", not '0.121'"),
    ('{"fast api" = ">=1"}', "'fast api' is not a package name"),
    ('{fastapi = 121}', "`requires.fastapi` must be a string, not 121"),
])
def test_a_requires_that_is_not_a_specifier_is_a_manifest_error(tmp_path, requires, says):
    root = write_example(tmp_path / "content")
    manifest = root / "chapters" / CHAPTER / "chapter.toml"
    manifest.write_text(manifest.read_text().replace('files = ["database.py"]',
                                                     f'files = ["database.py"]\nrequires = {requires}'))
    with pytest.raises(ContentError) as raised:
        load_chapter_dir(manifest.parent)
    assert says in str(raised.value)


def test_course_check_names_the_unmet_requirement_and_grades_nothing(tmp_path, installed):
    root = write_example(tmp_path / "content")
    manifest = root / "chapters" / CHAPTER / "chapter.toml"
    manifest.write_text(manifest.read_text().replace('files = ["database.py"]',
                                                     'files = ["database.py"]\nrequires = {fastapi = ">=0.121"}'))
    installed["fastapi"] = "0.120.1"
    ins = Inspection.of(root, CHAPTER)
    line = manifest.read_text().splitlines().index('requires = {fastapi = ">=0.121"}') + 1
    assert [f"{p.where()}: {p.message}" for p in ins.results["requires"].problems] == [
        f"chapters/{CHAPTER}/chapter.toml:{line}: {MESSAGE.replace('chapter-4', CHAPTER)}"]
    assert ins.jobs() == []
    rules = {r.rule: r for r in ins.finish({}).rules}
    assert {rules[r].status for r in GRADED} == {"skipped"}
    assert rules["solution"].note == "fix “the installed packages meet the chapter's `requires`” first"

    installed["fastapi"] = "0.121.0"
    assert Inspection.of(root, CHAPTER).results["requires"].status == "ok"
