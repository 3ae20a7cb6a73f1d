"""Every chapter's variants through the real engine: each gets the verdict it declares, fails exactly
the checks (and diagnoses) it names, is never flagged for tampering, and its first failed check
points inside its fault.

Per chapter, the measure the course is held to on code we did not write: verdicts right 100 %,
first failed check inside the fault at least 95 % of the failing variants.
"""

from __future__ import annotations

import pytest

from conftest import ROOT
from grader.manifest import load_chapter
from grader.variants import Variant, disagreements, misplaced
from variants import CHAPTERS, chapter_variants, corpus, label, mistakes

VARIANTS = [v for chapter in CHAPTERS for v in chapter_variants(chapter)]
LEAST = {"chapter-2": (12, 18)}
"""(correct, wrong) variants a chapter needs at least; the default is DEFAULT_LEAST."""
DEFAULT_LEAST = (4, 8)
POINTING = 0.95


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_has_enough_variants(chapter):
    known = mistakes(chapter)
    assert len(known) >= 4 and all(v.fails and v.faults for v in known)
    found = chapter_variants(chapter)
    correct, wrong = LEAST.get(chapter, DEFAULT_LEAST)
    assert sum(v.expects_pass for v in found) >= correct and sum(not v.expects_pass for v in found) >= wrong


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_check_is_failed_by_some_declared_variant(chapter):
    declared = {check for v in chapter_variants(chapter) for check in v.fails}
    assert {c.id for c in load_chapter(chapter).checks} - declared == set()


@pytest.mark.parametrize("variant", VARIANTS, ids=[label(v) for v in VARIANTS])
def test_variant_gets_the_declared_verdict(variant: Variant, graded):
    report = graded(variant)
    assert disagreements(variant, report) == []
    assert report.integrity == []  # no variant reaches into the harness: zero false integrity flags
    assert (report.status, report.exit_code) == (("pass", 0) if variant.expects_pass else ("fail", 1))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_first_messages_point_inside_the_fault(chapter, graded):
    """At least 95 % of the chapter's failing variants (all of the known mistakes) have a first failed
    check that points inside their fault."""
    failing = [v for v in chapter_variants(chapter) if v.faults and not v.expects_pass]
    off = {label(v): misplaced(v, graded(v)) for v in failing}
    off = {name: why for name, why in off.items() if why}
    assert [name for name in off if "/mistakes/" in name] == []
    assert len(off) <= (1 - POINTING) * len(failing), off


def test_the_corpus_folders_hold_only_variants():
    for path in (ROOT / "tests" / "corpus").rglob("*"):
        assert path.is_dir() or path.suffix == ".diff", path
    assert all(corpus(chapter) for chapter in CHAPTERS)
