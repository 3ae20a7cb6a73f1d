"""`course start` and new starter versions: an edited file is never overwritten; an unedited one follows."""

from __future__ import annotations

import shutil

from coursekit import ROOT, STARTER_2, copy_content, course, grade

STARTER_MAIN = (ROOT / "starter" / "chapter-2" / "main.py").read_text()


def test_start_creates_the_files_and_prints_the_paths(tmp_path):
    workspace = tmp_path / "ws"
    result = course("start", "2", workspace=workspace)
    assert result.returncode == 0, result.stderr
    folder = workspace / "chapter-2"
    assert (folder / "database.py").read_text() == STARTER_2
    assert f"created {folder / 'database.py'}" in result.stdout
    assert f"Edit: {folder / 'database.py'}" in result.stdout
    assert "continues from the solution of chapter-1" in result.stdout
    assert "course lesson chapter-2" in result.stdout


def test_start_never_overwrites_and_says_so(tmp_path):
    workspace = tmp_path / "ws"
    folder = workspace / "chapter-2"
    folder.mkdir(parents=True)
    (folder / "database.py").write_text("# mine\n")
    result = course("start", "chapter-2", workspace=workspace)
    assert (folder / "database.py").read_text() == "# mine\n"
    assert f"kept    {folder / 'database.py'} (yours, not overwritten)" in result.stdout
    assert f"created {folder / 'main.py'}" in result.stdout


def test_a_new_starter_updates_unedited_files_and_keeps_edited_ones(tmp_path):
    content = copy_content(tmp_path / "content")
    env = {"COURSE_CONTENT": str(content)}
    workspace = tmp_path / "ws"
    folder = workspace / "chapter-2"
    assert course("start", "chapter-2", workspace=workspace, env=env).returncode == 0
    mine = STARTER_2 + "\n# my work in progress\n"
    (folder / "database.py").write_text(mine)

    starter = content / "starter" / "chapter-2"
    (starter / "database.py").write_text(STARTER_2.replace('sqlite_file_name = "database.db"',
                                                          'sqlite_file_name = "heroes.db"'))
    (starter / "main.py").write_text(STARTER_MAIN + "\n# a new line in the starter\n")

    result = grade("chapter-2", workspace=workspace, env=env)  # `grade` brings the workspace up to date too
    assert result.returncode == 1
    assert (folder / "database.py").read_text() == mine  # edited: never overwritten
    assert (folder / "main.py").read_text().endswith("# a new line in the starter\n")  # unedited: updated
    assert "updated main.py" in result.stderr and "you had not edited it" in result.stderr
    assert "The starter's database.py changed since you started" in result.stderr
    assert '-sqlite_file_name = "database.db"' in result.stderr
    assert '+sqlite_file_name = "heroes.db"' in result.stderr

    again = course("start", "chapter-2", workspace=workspace, env=env)  # told once, not on every run
    assert "changed" not in again.stdout and "updated" not in again.stdout
    assert (folder / "database.py").read_text() == mine


def test_a_deleted_file_comes_back_from_the_starter(tmp_path):
    workspace = tmp_path / "ws"
    course("start", "chapter-2", workspace=workspace)
    (workspace / "chapter-2" / "models.py").unlink()
    result = course("start", "chapter-2", workspace=workspace)
    assert "created" in result.stdout and (workspace / "chapter-2" / "models.py").is_file()


def test_a_workspace_from_before_starter_versions_keeps_differing_files(tmp_path):
    content = copy_content(tmp_path / "content")
    env = {"COURSE_CONTENT": str(content)}
    workspace = tmp_path / "ws"
    course("start", "chapter-2", workspace=workspace, env=env)
    shutil.rmtree(workspace / ".course")  # no record of what was copied
    (content / "starter" / "chapter-2" / "main.py").write_text(STARTER_MAIN + "# v2\n")
    course("start", "chapter-2", workspace=workspace, env=env)
    assert (workspace / "chapter-2" / "main.py").read_text() == STARTER_MAIN  # cannot tell: kept
    (content / "starter" / "chapter-2" / "main.py").write_text(STARTER_MAIN + "# v3\n")
    result = course("start", "chapter-2", workspace=workspace, env=env)
    assert "The starter's main.py changed" in result.stdout  # from now on, versions are known
