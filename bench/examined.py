"""Where the first failure points, on the variants the examiners wrote (tests/corpus/chapter-N/examined/).

    .venv/bin/python bench/examined.py [chapter-N ...] [--all] [--json OUT] [-v]

Per chapter: the variants graded, the failing ones with a fault, how many of those have a first
failed check outside the fault (`grader.variants.misplaced`) and how many of those are behavioural,
the wrong verdicts and the checks that errored. `-v` lists each misplaced one; `--json` keeps every
non-passing check, to compare two runs. `--all` adds the chapters' mistakes and our own corpus.
The held-back sets are never read.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from grader.engine import grade  # noqa: E402
from grader.manifest import load_chapter  # noqa: E402
from grader.report import Report  # noqa: E402
from grader.submission import locate  # noqa: E402
from grader.variants import Variant, disagreements, first_failure, misplaced  # noqa: E402
from grader.sandbox.workerproc import Worker  # noqa: E402
from variants import CHAPTERS, corpus, files_of, mistakes, write  # noqa: E402

SETS = ("examined", "examined/ambiguous")


def variants_of(chapter: str, everything: bool) -> list[Variant]:
    found = [v for which in SETS for v in corpus(chapter, which)]
    return (mistakes(chapter) + corpus(chapter, "") + found) if everything else found


def row(chapter: str, variant: Variant, report: Report) -> dict:
    first = first_failure(report)
    return {
        "chapter": chapter, "name": "/".join(variant.path.parts[-3:]), "expects_pass": variant.expects_pass,
        "faults": [str(f) for f in variant.faults], "misplaced": misplaced(variant, report),
        "first_kind": first.kind if first else None, "disagreements": disagreements(variant, report),
        "checks": [c.model_dump(include={"id", "kind", "status", "file", "line", "message", "diagnosis", "hint",
                                         "output"}) for c in report.checks if c.status != "pass"],
    }


def summary(rows: list[dict], verbose: bool) -> None:
    for chapter in dict.fromkeys(r["chapter"] for r in rows):
        mine = [r for r in rows if r["chapter"] == chapter]
        failing = [r for r in mine if r["faults"] and not r["expects_pass"]]
        off = [r for r in failing if r["misplaced"]]
        wrong = [r for r in mine if any(d.startswith("should") for d in r["disagreements"])]
        errors = sum(c["status"] == "error" for r in mine for c in r["checks"])
        print(f"{chapter}: {len(mine)} variants, {len(failing)} failing with a fault; first failure outside the "
              f"fault: {len(off)} ({sum(r['first_kind'] == 'behaviour' for r in off)} behavioural); wrong verdicts: "
              f"{len(wrong)}; checks in error: {errors}")
        for r in off if verbose else ():
            print(f"    {r['name']}: {r['misplaced']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--all", action="store_true", help="also the mistakes and our own corpus")
    parser.add_argument("--json", type=Path, help="write every non-passing check here")
    parser.add_argument("-v", action="store_true", help="list each misplaced first failure")
    args = parser.parse_args()
    chapters = args.chapters or [c for c in CHAPTERS if variants_of(c, args.all)]
    rows = []
    with Worker() as worker, tempfile.TemporaryDirectory() as scratch:
        for chapter in chapters:
            manifest = load_chapter(chapter)
            for n, variant in enumerate(variants_of(chapter, args.all)):
                folder = write(files_of(variant), Path(scratch) / chapter / str(n))
                rows.append(row(chapter, variant, grade(manifest, locate(manifest, folder), worker=worker)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    summary(rows, args.v)


if __name__ == "__main__":
    main()
