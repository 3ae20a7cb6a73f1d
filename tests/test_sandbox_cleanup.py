"""Removing a sandbox never follows a link and always removes the folder, whatever learner code left.

The learner's leftovers are made, and the sandbox removed, by a process without root's powers (as
the README recommends grading untrusted code): a non-root user, or root with every capability
dropped, to whom folder permissions apply as to anyone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT
from grader.behave import Sandbox

LEFTOVERS_THEN_REMOVE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from grader.behave import Sandbox

    root, outside = Path(sys.argv[1]), Path(sys.argv[2])
    work = root / "work"
    locked = work / "locked"                          # a read-only folder holding links out
    locked.mkdir(parents=True)
    (locked / "link").symlink_to(outside)
    (locked / "folder-link").symlink_to(outside.parent)
    os.mkfifo(locked / "fifo")
    locked.chmod(0o500)
    sealed = work / "sealed"                          # a folder nobody may read or enter
    sealed.mkdir()
    (sealed / "inside.txt").write_text("x")
    sealed.chmod(0)
    deep = work / "deep"                              # deeper than Python's recursion limit
    os.makedirs(deep)
    fd = os.open(deep, os.O_RDONLY)
    for level in range(1500):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    Sandbox(root).remove()
    print(oct(outside.stat().st_mode & 0o777), oct(outside.parent.stat().st_mode & 0o777), root.exists())
""")


def unprivileged() -> list[str]:
    """A command prefix that runs without root's powers (empty: this process has none)."""
    if os.getuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop root's powers")
    return [setpriv, "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked",
            "--bounding-set=-all", "--inh-caps=-all"]


def test_removing_a_sandbox_follows_no_link_and_leaves_nothing(tmp_path):
    outside = tmp_path / "victim" / "private.txt"
    outside.parent.mkdir()
    outside.write_text("not the grader's to change")
    outside.chmod(0o600)
    outside.parent.chmod(0o750)
    root = tmp_path / "grade-box"
    root.mkdir()
    try:
        result = subprocess.run([*unprivileged(), sys.executable, "-c", LEFTOVERS_THEN_REMOVE, str(root),
                                 str(outside)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    finally:  # pytest's own clean-up of its temp folders recurses, and the tree is deeper than it can
        subprocess.run(["rm", "-rf", str(root)], check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0o600", "0o750", "False"]


def test_a_link_put_in_place_of_the_sandbox_is_removed_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("kept")
    root = tmp_path / "grade-box"
    root.symlink_to(victim)
    Sandbox(root).remove()
    assert not os.path.lexists(root) and (victim / "keep.txt").read_text() == "kept"
