"""The README's set-up, as a newcomer runs it: it leaves their progress alone, and the dev container
runs the very same commands."""

from __future__ import annotations

import json
import re
import shlex

from coursekit import ROOT, course, grade


def readme_setup() -> list[str]:
    """The commands of the README's set-up block, as a newcomer would paste them."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the README's set-up has a bash block"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_setup_smoke_test_leaves_course_list_at_chapter_1(tmp_path):
    workspace = tmp_path / "ws"  # a fresh clone: no workspace yet
    steps = [step.strip() for line in readme_setup() for step in line.split("&&")]
    smoke = [shlex.split(step) for step in steps if step.startswith(".venv/bin/grade")]
    assert smoke, f"the set-up grades something: {steps}"
    for argv in smoke:
        result = grade(*argv[1:], workspace=workspace)
        assert result.returncode == 0, result.stdout + result.stderr  # the smoke test passes
    listed = course("list", workspace=workspace)
    assert "▶ Next: chapter-1." in listed.stdout
    assert "in progress" not in listed.stdout
    progress = workspace / "progress.json"
    assert not progress.exists() or json.loads(progress.read_text())["chapters"] == {}


def test_the_dev_container_installs_as_the_readme_says():
    container = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert container["postCreateCommand"] == " && ".join(readme_setup())
    assert 8000 in container["forwardPorts"]  # `course run` serves there when it is free


def test_the_readme_says_how_long_the_tests_take_and_the_run_shows_progress():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    section = (ROOT / "README.md").read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]
    before, command = section.split("pytest prints", 1)[0], section.rsplit("```bash", 1)[1]
    assert re.search(r"about \d+ minutes on \d+ idle cores", before)
    assert "python -m pytest -n auto" in command  # one worker per core
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(dep.startswith("pytest-xdist") for dep in project["project"]["optional-dependencies"]["dev"])
    addopts = project["tool"]["pytest"]["ini_options"].get("addopts", "")
    assert "-qq" not in addopts.split() and "no:terminal" not in addopts  # the dots and percentages show
