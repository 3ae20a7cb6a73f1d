"""Chapter 5's learner tests run apart from the mutation harness: a test file that patches the
harness to count every mutant as caught changes only its own run, so its weak tests still fail
every mutant check (before, the patch outlived the reference run and turned each fail into a pass)."""

from __future__ import annotations

from conftest import ROOT
from variants import files_of
from grader.variants import disagreements, read_variant

HOSTILE = sorted((ROOT / "tests" / "hostile" / "chapter-5").glob("*.diff"))


def test_patching_the_mutation_harness_does_not_turn_a_fail_into_a_pass(grade_files):
    for path in HOSTILE:
        variant = read_variant(path)
        files = {name: text for name, text in files_of(variant).items() if name.startswith("tests/")}
        report = grade_files("chapter-5", files)
        assert disagreements(variant, report) == [], path.name
        assert report.status == "fail"
        assert [f.what for f in report.integrity] == ["imports the grader (`grader.mutation`)"]
