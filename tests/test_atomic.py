"""course.atomic: a file is written whole or not at all, and no temp file is left behind."""

from __future__ import annotations

import os

import pytest

from course.atomic import create_atomic, write_atomic


def test_write_atomic_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "progress.json"
    path.write_text("old")
    write_atomic(path, "new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["progress.json"]


def test_an_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    path.write_text("old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["progress.json"]


def test_create_atomic_never_overwrites(tmp_path):
    path = tmp_path / "sub" / "database.py"
    assert create_atomic(path, b"first") is True
    assert create_atomic(path, b"second") is False
    assert path.read_bytes() == b"first" and os.listdir(path.parent) == ["database.py"]
