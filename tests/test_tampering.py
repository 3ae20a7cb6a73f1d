"""Tampering, flagged: code that reaches into the grader's harness is graded as usual, and the report
(text, JSON, gradebook, exports) says where it reaches, line by line.

The tampering submissions live in tests/tampering/chapter-2/ as variants: the reference solution
with a reach appended, each flagged line marked `# flag: KIND`. They pass (the reach changes
nothing), and get exactly the flags their markers name, in both sandboxes. The static detector
(`grader.static.integrity`) and the child's audit hook (`grader.sandbox.guard.Flagger`) are also tested
on their own, including the equivalent spellings correct code uses and that must never be flagged.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from conftest import ROOT
from variants import source
from grader.sandbox.bwrap import BwrapRunner, unavailable
from grader.engine import grade
from grader.sandbox.guard import Flagger
from grader.manifest import load_chapter
from grader.report import IntegrityFlag
from grader.static.integrity import integrity_flags
from grader.static.source import Source
from grader.submission import locate
from grader.tampering import AUDIT, CLASS, FRAMES, GC, IMPORTS, MODULES, PIPE, RAW_FD, patches
from grader.variants import read_variant

TAMPERING = sorted((ROOT / "tests" / "tampering" / "chapter-2").glob("*.diff"))
KINDS = {"frames": FRAMES, "gc": GC, "modules": MODULES, "audit": AUDIT, "guard": AUDIT + " (grader.sandbox.guard)",
         "grader": IMPORTS + " (`grader.testing`)", "pipe": PIPE, "class": CLASS,
         "patch-commit": patches("sqlmodel", "Session.commit"), "patch-refresh": patches("sqlmodel", "Session.refresh")}
NO_BWRAP = unavailable()
MODES = ["process", pytest.param("bwrap", marks=pytest.mark.skipif(NO_BWRAP is not None, reason=f"{NO_BWRAP}"))]


def marked(text: str) -> set[tuple[int, str]]:
    """(line, what) of every line marked `# flag: KIND`."""
    return {(number, KINDS[m.group(1)]) for number, line in enumerate(text.splitlines(), start=1)
            if (m := re.search(r"# flag: ([\w-]+)$", line))}


def flags_of(text: str, name: str = "database.py") -> set[tuple[int, str]]:
    return {(f.line, f.what) for f in integrity_flags({name: Source.from_text(text, name)})}


@pytest.fixture(scope="module")
def chapter():
    return load_chapter("chapter-2")


@pytest.fixture(scope="module")
def runners(worker):
    with BwrapRunner() as bwrap:
        yield {"process": worker, "bwrap": bwrap}


def test_the_tampering_corpus_covers_every_kind():
    kinds = {m for path in TAMPERING for m in re.findall(r"# flag: ([\w-]+)$", path.read_text(), re.M)}
    assert kinds == set(KINDS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", TAMPERING, ids=[p.stem for p in TAMPERING])
def test_tampering_is_flagged_at_its_line_and_the_grade_stands(path, mode, chapter, runners, tmp_path):
    text = source(read_variant(path), "database.py")
    (tmp_path / "database.py").write_text(text)
    report = grade(chapter, locate(chapter, tmp_path), worker=runners[mode])
    assert report.status == "pass", [(c.id, c.message) for c in report.checks if c.status != "pass"]
    assert {(f.line, f.what) for f in report.integrity} == marked(text)
    assert all(f.file == "database.py" for f in report.integrity)


def test_flags_only_what_running_code_shows_come_from_the_audit_hook():
    for name in ("frames_getattr_string", "frames_exec", "gc_dynamic_import"):
        text = source(read_variant(ROOT / "tests" / "tampering" / "chapter-2" / f"{name}.diff"), "database.py")
        assert flags_of(text) == set(), name  # the static detector cannot see these: the graded run above did


# -- the static detector ---------------------------------------------------------------------------

def test_equivalent_spellings_are_flagged():
    text = """\
import sys as system, gc as collector, inspect, os
from sys import _getframe as here
from sqlalchemy.orm import Session as S
import fastapi

a = here(1)
b = inspect.currentframe()
c = system.modules["grader.sandbox.plugin"]
d = collector.get_referents(a)
e = getattr(b, "f_back")
os.write(3, b"x")
os.write(fd, b"x")
S.add = None
fastapi.FastAPI.get = None
del S.close
object.__setattr__(a, "__class__", int)
import importlib
importlib.import_module("grader.mutation")
"""
    assert flags_of(text) == {
        (6, FRAMES), (7, FRAMES), (8, MODULES), (9, GC), (10, FRAMES), (11, PIPE), (12, RAW_FD),
        (13, patches("sqlalchemy", "Session.add")), (14, patches("fastapi", "FastAPI.get")),
        (15, patches("sqlalchemy", "Session.close")), (16, CLASS), (18, IMPORTS + " (`grader.mutation`)")}


def test_correct_code_that_looks_nearby_is_not_flagged():
    text = """\
import os, sys, traceback
from collections import namedtuple
from fastapi import FastAPI
from sqlmodel import SQLModel, Field

app = FastAPI()
app.state.ready = True
app.dependency_overrides[print] = print
this = sys.modules[__name__]
loaded = "sqlmodel" in sys.modules
sqlmodel_module = sys.modules.get("sqlmodel")
os.write(1, b"to stdout")
Point = namedtuple("Point", "x y")


class Hero(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)


Hero.__doc__ = "a hero"
hero = Hero()
hero.name = "Deadpond"
try:
    pass
except Exception:
    traceback.print_exc()
"""
    assert flags_of(text) == set()


def test_flags_name_their_file():
    sources = {"main.py": Source.from_text("import gc\ngc.get_objects()\n", "main.py"),
               "models.py": Source.from_text("import grader\n", "models.py")}
    assert [(f.file, f.line) for f in integrity_flags(sources)] == [("main.py", 2), ("models.py", 1)]


# -- the audit hook's side -------------------------------------------------------------------------

def test_the_flagger_blames_only_the_learners_own_frames(tmp_path):
    seen: list[tuple[str, str, int]] = []
    flagger = Flagger(str(tmp_path), lambda *flag: seen.append(flag))

    def frame_in(filename: str, body: str = "sys._getframe(0)"):
        namespace: dict = {}
        exec(compile(f"import sys, inspect\ndef where():\n    return {body}\n", filename, "exec"), namespace)
        return namespace["where"]()

    learner = frame_in(str(tmp_path / "database.py"))
    flagger.check("sys._getframe", (learner,), learner)
    flagger.check("gc.get_objects", (-1,), frame_in("/site-packages/sqlalchemy/lib.py"))  # a library's own call
    flagger.check("object.__getattr__", (None, "__code__"), learner)  # not a frame
    flagger.check("object.__getattr__", (None, "tb_frame"), learner)  # the same place, said once
    flagger.check("object.__setattr__", (object(), "__class__", int), learner)
    from sqlmodel import Session
    flagger.check("object.__setattr__", (Session, "__doc__", ""), learner)
    assert seen == [(FRAMES, "database.py", 3), (CLASS, "database.py", 3),
                    (patches("sqlmodel", "Session.__doc__"), "database.py", 3)]


# -- what the instructor sees ----------------------------------------------------------------------

def test_the_report_and_the_gradebook_show_the_flags(chapter, tmp_path):
    from course.gradebook import BatchResult, gradebook_csv, summary
    from grader.engine import _report
    from grader.render.gradescope import to_gradescope
    from grader.render.junit import to_junit

    (tmp_path / "database.py").write_text("x = 1\n")
    flags = [IntegrityFlag(file="database.py", line=31, what=FRAMES)]
    report = _report(chapter, locate(chapter, tmp_path), {}, [], 0.0, flags)
    assert report.flagged() == "flagged: line 31 reads the test harness's frames"
    assert report.model_dump(mode="json")["integrity"] == [{"file": "database.py", "line": 31, "what": FRAMES}]
    result = BatchResult(chapter=chapter, reports={"ada": report})
    row = next(csv.DictReader(io.StringIO(gradebook_csv(result))))
    assert row["integrity"] == "line 31 reads the test harness's frames"
    assert f"ada: graded {report.status} · flagged: line 31 reads the test harness's frames" in summary(result)
    assert "flagged: line 31" in to_gradescope(report)["output"]
    assert to_gradescope(report)["extra_data"]["integrity"][0]["line"] == 31
    assert 'name="integrity" value="flagged: line 31' in to_junit(report)
