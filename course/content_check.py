"""`course check`: author QA of chapters, rule by rule, every problem at `path:line`.

The rules, in report order, are :data:`RULES`. The structural ones read the chapter's files
here; the graded ones (:data:`GRADED`) grade the solution, the starter and every `mistakes/`
fixture through the real engine, on the warm workers of a :class:`grader.sandbox.pool.WorkerPool`
(the jobs of all chapters share one pool). They need a manifest that loads and checks that
all have an implementation; otherwise they are `skipped`, and the reason says what to fix first.

The result is a :class:`CheckRun` (pydantic): ``model_dump_json()`` is the `--format json`
output documented in docs/AUTHORING.md.
"""

from __future__ import annotations

import ast
import os
import re
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from course.quiz_rules import quiz_problems
from course.chain_rules import chain_rule, solution_diff_rule
from course.requirements import requirement_message, unmet_requirements
from course.toml_lines import TomlLines
from grader.content import chapters_dir, parse_toml, solution_dir, starter_dir, tree_files
from grader.variants import SUFFIX, Variant, VariantError, disagreements, misplaced, read_variant
from grader.manifest import (
    FILES_CHECK, FILES_TITLE, Chapter, ContentError, author_errors, describe_error, load_chapter,
)
from grader.sandbox.pool import WorkerPool
from grader.quiz import Quiz
from grader.report import Report
from grader.submission import SubmissionError, locate


PLACEHOLDER = "TODO(author)"
"""What `course new` writes wherever the author has something to fill in."""
MIN_HINTS = 3
"""Hints per check: gentle first, explicit last (the chapter format asks for at least three)."""
MIN_EXAMPLES = 2
"""Runnable examples (```python blocks) per lesson."""

RULES: dict[str, str] = {
    "manifest": "chapter.toml is valid",
    "requires": "the installed packages meet the chapter's `requires`",
    "files": "the starter and the solution hold the chapter's files",
    "continuity": "the starter continues the previous chapter's solution",
    "chain": "the starter is the previous chapter's solution, plus new files only",
    "implementations": "every check has exactly one implementation",
    "lesson": "the lesson has examples, names the edited files and each check's step",
    "solution-diff": "the solution differs from the starter only where the instructions say",
    "quiz": "the quiz is valid, and cannot be passed without reading it",
    "placeholders": "no template placeholder is left",
    "solution": "the solution passes every check",
    "starter": "the starter fails, through checks",
    "mistakes": "every mistake fails exactly the checks it declares",
    "coverage": "every check is failed by the starter or a mistake",
}
GRADED = ("solution", "starter", "mistakes", "coverage")

RuleStatus = Literal["ok", "problem", "skipped"]


class Problem(BaseModel):
    path: str
    """Relative to the content root, with forward slashes."""
    line: int | None = None
    message: str

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class RuleResult(BaseModel):
    rule: str
    title: str
    status: RuleStatus
    note: str = ""
    """Why the rule was skipped, or a remark on an ok rule."""
    problems: list[Problem] = Field(default_factory=list)


class ChapterResult(BaseModel):
    chapter: str
    title: str = ""
    status: Literal["ok", "problem"]
    problems: int
    rules: list[RuleResult]


class CheckRun(BaseModel):
    format: int = 1
    status: Literal["ok", "problem"]
    root: str
    problems: int
    duration: float
    chapters: list[ChapterResult]


@dataclass(frozen=True)
class Job:
    """One submission to grade for a chapter."""

    chapter: str
    role: Literal["solution", "starter", "mistake"]
    path: Path


@dataclass
class Fixture:
    variant: Variant
    """The mistake, a patch against the solution (`mistakes/NAME.diff`)."""
    path: Path | None
    """The whole submission, written out for grading (None: it could not be built)."""


Outcome = Report | ContentError | SubmissionError


# -- running --------------------------------------------------------------------------------------------------------
def default_jobs() -> int:
    """Warm workers for `course check`: one per core, at least two, at most eight."""
    return max(2, min(os.cpu_count() or 2, 8))


def check_chapters(chapter_ids: Iterable[str], root: Path, *, pool: WorkerPool | None = None,
                   jobs: int | None = None) -> CheckRun:
    """Run every rule on each chapter. Grading shares `pool`, or a pool of `jobs` workers (default: one per
    core) started at once, so that they import their libraries while the structural rules run."""
    started = time.perf_counter()
    ids = list(chapter_ids)
    own = pool is None
    active = pool if pool is not None else WorkerPool(jobs or default_jobs(), _preload(ids, root))
    warming = threading.Thread(target=_warm, args=(active,), daemon=True) if own else None
    if warming is not None:
        warming.start()
    try:
        with tempfile.TemporaryDirectory(prefix="course-check-") as scratch:
            return _check_chapters(ids, root, Path(scratch), active, started)
    finally:
        if warming is not None:
            warming.join()
            active.close()


def _preload(chapter_ids: list[str], root: Path) -> tuple[str, ...]:
    """What the chapters' manifests ask the workers to import ahead (manifests that do not load ask nothing)."""
    wanted: set[str] = set()
    for chapter_id in chapter_ids:
        try:
            wanted.update(load_chapter(chapter_id, root).preload)
        except ContentError:
            continue
    return tuple(sorted(wanted))


def _warm(pool: WorkerPool) -> None:
    """Start every worker of the pool, each on its own thread (a barrier holds each warm-up until all have one)."""
    barrier = threading.Barrier(pool.size)

    def start(worker_pool: WorkerPool, _index: int) -> None:
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        worker_pool.worker()

    for _ in pool.map_unordered(start, range(pool.size)):  # type: ignore[arg-type]
        pass


COST = {"solution": 0, "mistake": 1, "starter": 2}
"""Grading order within a chapter: the solution runs every check; a starter usually stops early."""


def _check_chapters(chapter_ids: list[str], root: Path, scratch: Path, pool: WorkerPool, started: float) -> CheckRun:
    inspections = [Inspection.of(root, chapter_id, scratch) for chapter_id in chapter_ids]
    chapters = {ins.id: ins.chapter for ins in inspections if ins.chapter is not None}
    # The longest grades first (a chapter's time limit says how long its checks may run), so that no long one
    # is left for the end while the other workers wait.
    work = sorted((job for ins in inspections for job in ins.jobs()),
                  key=lambda job: (-chapters[job.chapter].timeout, COST[job.role]))
    outcomes: dict[Job, Outcome] = {}
    if work:
        def grade(worker_pool: WorkerPool, job: Job) -> Outcome:
            chapter = chapters[job.chapter]
            try:
                return worker_pool.grade(chapter, locate(chapter, job.path))
            except (ContentError, SubmissionError) as exc:
                return exc

        outcomes = dict(pool.map_unordered(grade, work))  # type: ignore[arg-type]
    results = [ins.finish(outcomes) for ins in inspections]
    total = sum(r.problems for r in results)
    return CheckRun(status="problem" if total else "ok", root=str(root), problems=total,
                    duration=round(time.perf_counter() - started, 2), chapters=results)


# -- one chapter ------------------------------------------------------------------------------------------------------
@dataclass
class Inspection:
    """One chapter on its way through the rules."""

    id: str
    root: Path
    chapter: Chapter | None = None
    lines: TomlLines = field(default_factory=lambda: TomlLines(""))
    """Positions in chapter.toml."""
    results: dict[str, RuleResult] = field(default_factory=dict)
    fixtures: list[Fixture] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return chapters_dir(self.root) / self.id

    @property
    def manifest(self) -> Path:
        return self.folder / "chapter.toml"

    def rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def problem(self, path: Path, message: str, line: int | None = None) -> Problem:
        return Problem(path=self.rel(path), line=line, message=message)

    def check_line(self, check_id: str) -> int | None:
        """The line of a manifest check's `id = ...`."""
        ids = [c.id for c in self.chapter.checks] if self.chapter else []
        return self.lines.line("checks", ids.index(check_id), "id") if check_id in ids else None

    def record(self, rule: str, problems: list[Problem], note: str = "") -> None:
        self.results[rule] = RuleResult(rule=rule, title=RULES[rule], status="problem" if problems else "ok",
                                        note=note, problems=problems)

    def skip(self, rule: str, why: str, problems: list[Problem] | None = None) -> None:
        self.results[rule] = RuleResult(rule=rule, title=RULES[rule], status="problem" if problems else "skipped",
                                        note=why, problems=problems or [])

    @classmethod
    def of(cls, root: Path, chapter_id: str, scratch: Path | None = None) -> Inspection:
        """Run the structural rules now; the graded ones wait for :meth:`finish`."""
        ins = cls(chapter_id, root)
        ins.chapter, problems = manifest_rule(ins)
        ins.record("manifest", problems)
        ins.record("quiz", quiz_rule(ins))
        ins.record("placeholders", placeholders_rule(ins))
        if ins.chapter is None:
            for rule in ("requires", "files", "continuity", "chain", "implementations", "lesson", "solution-diff",
                         *GRADED):
                ins.skip(rule, "needs a chapter.toml that loads")
            return ins
        ins.record("requires", requires_rule(ins))
        ins.record("files", files_rule(ins))
        continuity, note = continuity_rule(ins)
        ins.record("continuity", continuity, note)
        ins.record("chain", [ins.problem(f.path, f.message, f.line) for f in chain_rule(
            ins.id, ins.chapter.continues_from, ins.root, ins.lines.line("continues_from"))])
        ins.record("implementations", implementations_rule(ins))
        ins.record("lesson", lesson_rule(ins))
        lesson = ins.chapter.lesson_path
        ins.record("solution-diff", [ins.problem(f.path, f.message, f.line) for f in solution_diff_rule(
            ins.id, ins.root, lesson.read_text(encoding="utf-8", errors="replace") if lesson.is_file() else "")])
        ins.fixtures, fixture_problems = read_fixtures(ins, scratch)
        fixture_problems += diagnosed_hints_problems(ins)
        ins.results["mistakes"] = RuleResult(rule="mistakes", title=RULES["mistakes"], status="ok",
                                             problems=fixture_problems)
        return ins

    def jobs(self) -> list[Job]:
        if self.chapter is None or any(self.results[r].status != "ok" for r in ("requires", "implementations")):
            return []
        return [Job(self.id, "solution", solution_dir(self.id, self.root)),
                Job(self.id, "starter", starter_dir(self.id, self.root)),
                *(Job(self.id, "mistake", f.path) for f in self.fixtures if f.path is not None)]

    def finish(self, outcomes: dict[Job, Outcome]) -> ChapterResult:
        if self.chapter is not None:
            jobs = self.jobs()
            if jobs:
                crashes = crash_problems(self, [(job, outcomes[job]) for job in jobs])
                self.record("solution", crashes["solution"] + solution_rule(self, outcomes[jobs[0]]))
                self.record("starter", crashes["starter"] + starter_rule(self, outcomes[jobs[1]]))
                self.record("mistakes", self.results["mistakes"].problems + crashes["mistake"]
                            + mistakes_rule(self, outcomes))
                self.record("coverage", coverage_rule(self, [outcomes[j] for j in jobs[1:]]))
            else:
                first = next(r for r in ("requires", "implementations") if self.results[r].status != "ok")
                why = f"fix “{RULES[first]}” first"
                for rule in GRADED:
                    self.skip(rule, why, self.results["mistakes"].problems if rule == "mistakes" else None)
        rules = [self.results[rule] for rule in RULES]
        count = sum(len(r.problems) for r in rules)
        return ChapterResult(chapter=self.id, title=self.chapter.title if self.chapter else "",
                             status="problem" if count else "ok", problems=count, rules=rules)


# -- structural rules --------------------------------------------------------------------------------------------
def requires_rule(ins: Inspection) -> list[Problem]:
    """The installed packages meet the manifest's `requires` (else grading would fail on them, not on the
    chapter)."""
    assert ins.chapter is not None
    unmet = unmet_requirements(ins.chapter.requires)
    return [ins.problem(ins.manifest, requirement_message(ins.id, unmet), ins.lines.line("requires"))] if unmet else []


def manifest_rule(ins: Inspection) -> tuple[Chapter | None, list[Problem]]:
    """chapter.toml parses and validates (format version, unique ids, known dependencies, no cycle, ...),
    and every check has enough hints."""
    path = ins.manifest
    if not path.is_file():
        return None, [ins.problem(path, "there is no chapter.toml: every chapter starts with its manifest")]
    text = path.read_text(encoding="utf-8", errors="replace")
    ins.lines = TomlLines(text)
    data, problem = _load_toml(ins, path, text)
    if problem is not None:
        return None, [problem]
    data.setdefault("id", ins.id)
    try:
        chapter = Chapter(dir=ins.folder, **data)
    except ValidationError as exc:
        return None, [_validation_problem(ins, path, err, data) for err in author_errors(exc)]
    except TypeError as exc:
        return None, [ins.problem(path, f"invalid manifest: {exc}")]
    problems = []
    for index, spec in enumerate(chapter.checks):
        line = ins.lines.line("checks", index, "hints")
        if len(spec.hints) < MIN_HINTS:
            problems.append(ins.problem(path, f"check {spec.id!r} has {len(spec.hints)} hint(s); give at least "
                                        f"{MIN_HINTS}, from a gentle nudge to the explicit answer", line))
        repeated = sorted({h for h in spec.hints if spec.hints.count(h) > 1})
        if repeated:
            problems.append(ins.problem(path, f"check {spec.id!r} gives the hint {repeated[0]!r} twice: each hint "
                                        "says more than the one before", line))
    return chapter, problems


def quiz_rule(ins: Inspection) -> list[Problem]:
    """quiz.toml holds valid questions (distinct choices, one right answer, an explanation) that follow the quiz
    rule of course/quiz_rules.py."""
    path = ins.folder / "quiz.toml"
    if not path.is_file():
        return [ins.problem(path, "there is no quiz.toml: every chapter has a practice quiz")]
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = TomlLines(text)
    data, problem = _load_toml(ins, path, text)
    if problem is not None:
        return [problem]
    try:
        quiz = Quiz(**data)
    except ValidationError as exc:
        return [ins.problem(path, _describe(err, data, Quiz), _key_line(lines, err)) for err in author_errors(exc)]
    return [ins.problem(path, p.message, None if p.question is None else lines.line("questions", p.question, p.key))
            for p in quiz_problems(quiz, PLACEHOLDER)]


def placeholders_rule(ins: Inspection) -> list[Problem]:
    """Nothing in the chapter, its starter or its solution still holds the scaffold's TODO(author) markers."""
    problems = []
    for folder in (ins.folder, starter_dir(ins.id, ins.root), solution_dir(ins.id, ins.root)):
        for path in tree_files(folder).values():
            text = path.read_bytes().decode("utf-8", errors="replace")
            for number, line in enumerate(text.splitlines(), start=1):
                if PLACEHOLDER in line:
                    snippet = line.strip()
                    snippet = snippet if len(snippet) <= 90 else snippet[:87] + "..."
                    problems.append(ins.problem(path, f"still contains the template's placeholder: {snippet}", number))
    return problems


def files_rule(ins: Inspection) -> list[Problem]:
    """The edited files exist in the starter and the solution; the solution's other (support) files are the
    starter's, since the learner's submission is graded with the starter's copies."""
    chapter = ins.chapter
    assert chapter is not None
    problems = []
    starter, solution = starter_dir(ins.id, ins.root), solution_dir(ins.id, ins.root)
    for folder in (starter, solution):
        if not folder.is_dir():
            problems.append(ins.problem(folder, f"{ins.rel(folder)}/ does not exist"))
            continue
        for name in chapter.files:
            if not (folder / name).is_file():
                problems.append(ins.problem(ins.manifest, f"{name} is one of the chapter's `files`, but "
                                            f"{ins.rel(folder / name)} does not exist", ins.lines.line("files")))
    if starter.is_dir() and solution.is_dir():
        for name, path in tree_files(solution).items():
            if name in chapter.files:
                continue
            theirs = starter / name
            if not theirs.is_file():
                problems.append(ins.problem(path, f"support file {name} is not in {ins.rel(starter)}/: the solution "
                                            "is graded with it but the learner never gets it (add it to the starter, "
                                            "or to `files` if the learner writes it)"))
            elif (line := code_difference(path, theirs)) is not None:
                problems.append(ins.problem(path, f"support file {name} differs from {ins.rel(theirs)}: the learner "
                                            "works with the starter's copy, so the solution must use the same one",
                                            line))
    return problems


def continuity_rule(ins: Inspection) -> tuple[list[Problem], str]:
    """With `continues_from`, the starter's files hold the same code as that chapter's solution wherever both have
    the file (comments and formatting may differ), so the course builds one app."""
    chapter = ins.chapter
    assert chapter is not None
    previous = chapter.continues_from
    if not previous:
        return [], "continues_from is not set"
    theirs_root = solution_dir(previous, ins.root)
    if not theirs_root.is_dir():
        return [ins.problem(ins.manifest, f"continues_from = {previous!r}, but {ins.rel(theirs_root)}/ does not "
                            "exist", ins.lines.line("continues_from"))], ""
    starter = starter_dir(ins.id, ins.root)
    problems = []
    for name, theirs in tree_files(theirs_root).items():
        ours = starter / name
        edited = name in chapter.files
        if ours.is_file() and (line := code_difference(ours, theirs, stubs=edited)) is not None:
            allowed = " (and marked stubs)" if edited else ""
            problems.append(ins.problem(ours, f"differs from {ins.rel(theirs)}: this chapter continues {previous}, so "
                                        f"the files they share must hold the same code, comments aside{allowed}",
                                        line))
    return problems, ""


def implementations_rule(ins: Inspection) -> list[Problem]:
    """Each manifest check has exactly one implementation of its kind (a static @check in checks/static.py, or a
    test marked @check in checks/test_*.py), checks/static.py imports, and no implementation lacks a manifest
    entry."""
    chapter = ins.chapter
    assert chapter is not None
    problems: list[Problem] = []
    static_path = chapter.checks_dir / "static.py"
    found: dict[str, dict[str, list[tuple[Path, int]]]] = {"static": {}, "behaviour": {}}
    unreadable: set[str] = set()  # kinds whose files do not parse: their missing implementations are unknown
    if static_path.is_file():
        found["static"], syntax = _check_markers(static_path)
        problems += [ins.problem(static_path, message, line) for line, message in syntax]
        if syntax:
            unreadable.add("static")
        else:
            problems += _static_import_problems(ins, static_path, found["static"])
    for test in sorted(chapter.checks_dir.glob("test_*.py")):
        markers, syntax = _check_markers(test)
        problems += [ins.problem(test, message, line) for line, message in syntax]
        if syntax:
            unreadable.add("behaviour")
        for check_id, places in markers.items():
            found["behaviour"].setdefault(check_id, []).extend(places)

    for spec in chapter.checks:
        line = ins.check_line(spec.id)
        other_kind = "behaviour" if spec.kind == "static" else "static"
        own, other = found[spec.kind].get(spec.id, []), found[other_kind].get(spec.id, [])
        if other:
            problems.append(ins.problem(ins.manifest, f"check {spec.id!r} has kind = {spec.kind!r}, but "
                                        f"{_places(ins, other)} implements it as a {other_kind} check", line))
        elif not own and spec.kind not in unreadable:
            if spec.kind == "static":
                missing = ("checks/static.py does not exist" if not static_path.is_file()
                           else f"checks/static.py has no @check({spec.id!r})")
            else:
                missing = f"no test in checks/test_*.py is marked @check({spec.id!r})"
            problems.append(ins.problem(ins.manifest, f"check {spec.id!r} has no implementation: {missing}", line))
        if len(own) > 1:
            problems.append(ins.problem(own[1][0], f"check {spec.id!r} has {len(own)} implementations "
                                        f"({_places(ins, own)}); keep exactly one", own[1][1]))
    declared = {c.id for c in chapter.checks}
    for places in (found["static"], found["behaviour"]):
        for check_id, where in places.items():
            if check_id not in declared:
                path, line = where[0]
                problems.append(ins.problem(path, f"@check({check_id!r}) implements no check of chapter.toml: add a "
                                            "[[checks]] entry for it, or remove it", line))
    return problems


def lesson_rule(ins: Inspection) -> list[Problem]:
    """lesson.md exists, names every file the learner edits and has the steps checks point to (`task`)."""
    chapter = ins.chapter
    assert chapter is not None
    path = chapter.lesson_path
    if not path.is_file():
        return [ins.problem(path, "there is no lesson.md")]
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        return [ins.problem(path, "lesson.md is empty")]
    problems = [ins.problem(path, f"the lesson never names {name}, a file the learner edits: tell them which file to "
                            "open") for name in chapter.files if name not in text]
    examples = len(re.findall(r"^`{3,}python\b(?![^\n]*\bfragment\b)", text, re.M))  # fragments are not run
    if examples < MIN_EXAMPLES:
        problems.append(ins.problem(path, f"the lesson has {examples} ```python example(s); show at least "
                                    f"{MIN_EXAMPLES}, each runnable on its own"))
    if not re.search(r"^## Instructions[ \t]*$", text, re.M):
        return problems + [ins.problem(path, "the lesson has no `## Instructions` section: end it with the numbered "
                                       "steps the checks verify, under a `## Instructions` heading")]
    steps = instruction_steps(text)
    for spec in chapter.checks:
        if spec.task is not None and spec.task > steps:
            problems.append(ins.problem(ins.manifest, f"check {spec.id!r} has task = {spec.task}, but the lesson's "
                                        f"## Instructions has {steps} numbered step(s)", ins.check_line(spec.id)))
    return problems


def instruction_steps(lesson: str) -> int:
    """How many numbered steps the lesson's `## Instructions` section has."""
    section = re.search(r"^## Instructions[ \t]*$(.*?)(?=^## |\Z)", lesson, re.M | re.S)
    return len(re.findall(r"^\d+\. ", section.group(1), re.M)) if section else 0


def read_fixtures(ins: Inspection, scratch: Path | None) -> tuple[list[Fixture], list[Problem]]:
    """The `mistakes/` variants and what is wrong with them; each readable one is written out as a whole
    submission under `scratch` for grading (the grading comes later)."""
    chapter = ins.chapter
    assert chapter is not None
    folder = chapter.dir / "mistakes"
    items = sorted(p for p in folder.iterdir() if p.name != "__pycache__") if folder.is_dir() else []
    problems = [ins.problem(p, f"is not a variant: a known mistake is a patch against the solution, "
                            f"`mistakes/NAME{SUFFIX}` (docs/AUTHORING.md, “Mistake fixtures”)")
                for p in items if p.suffix != SUFFIX]
    paths = [p for p in items if p.suffix == SUFFIX and p.is_file()]
    if not paths:
        return [], problems + [ins.problem(folder, f"no mistakes/ fixture: add at least one known-wrong submission, "
                                           f"a patch against the solution whose header says `# about: ...`, "
                                           f"`# fails: check-id (diagnosis)` and `# fault: file:line`")]
    known = {c.id for c in chapter.checks} | {FILES_CHECK}
    solution = {name: p.read_text(encoding="utf-8") for name, p in tree_files(solution_dir(ins.id, ins.root)).items()}
    fixtures = []
    for path in paths:
        try:
            variant = read_variant(path)
            files = variant.apply(solution)
        except VariantError as exc:
            problems.append(ins.problem(path, exc.message, exc.line))
            continue
        if not variant.fails:
            problems.append(ins.problem(path, "has no `# fails:` line: a mistake declares the checks it fails, "
                                        "e.g. `# fails: check-id (diagnosis)`", 1))
        if not variant.faults:
            problems.append(ins.problem(path, "has no `# fault:` line saying where the fix goes, e.g. "
                                        "`# fault: main.py:12-14`", 1))
        for fault in variant.faults:
            if fault.file not in files or fault.last > len(files[fault.file].splitlines()):
                problems.append(ins.problem(path, f"the fault {fault} is not inside the patched submission",
                                            variant.lines.get("fault")))
        unknown = [check_id for check_id in variant.fails if check_id not in known]
        problems += [ins.problem(path, f"declares check {check_id!r}, which chapter.toml does not have",
                                 variant.lines.get("fails")) for check_id in unknown]
        built = None
        if variant.fails and not unknown and scratch is not None:
            built = scratch / ins.id / variant.name
            for name, text in files.items():
                (built / name).parent.mkdir(parents=True, exist_ok=True)
                (built / name).write_text(text, encoding="utf-8")
        fixtures.append(Fixture(variant, built))
    return fixtures, problems


def diagnosed_hints_problems(ins: Inspection) -> list[Problem]:
    """Every diagnosis a check has hints for (`[checks.hints_for]`) is declared by a mistakes/ fixture
    (`# fails: check-id (diagnosis)`), so hints cannot drift from the mistakes the checks diagnose. (A chapter
    without readable fixtures is told to add some already.)"""
    chapter = ins.chapter
    assert chapter is not None
    if not ins.fixtures:
        return []
    declared = {(check_id, diagnosis) for f in ins.fixtures for check_id, diagnosis in f.variant.fails.items()}
    return [ins.problem(ins.manifest, f"check {spec.id!r} has hints for the diagnosis {diagnosis!r}, which no "
                        f"mistakes/ fixture declares: add one whose header says `# fails: {spec.id} ({diagnosis})`",
                        ins.lines.line("checks", index, "hints_for", diagnosis))
            for index, spec in enumerate(chapter.checks) for diagnosis in spec.hints_for
            if (spec.id, diagnosis) not in declared]


# -- graded rules ------------------------------------------------------------------------------------------------
def crash_problems(ins: Inspection, graded: list[tuple[Job, Outcome]]) -> dict[str, list[Problem]]:
    """One problem per bug of the chapter's checks, however many submissions it broke: a check that errors
    with the same message on the solution, the starter and ten mistakes is one crash, reported at the line
    of the checks file that raised (else at the check's manifest entry), under the rule of the first
    submission it broke ("solution", "starter" or "mistake"). The other rules leave errors to it."""
    crashes: dict[tuple[str, str], list[Job]] = {}
    for job, outcome in graded:
        for check in outcome.checks if isinstance(outcome, Report) else ():
            if check.status == "error":
                crashes.setdefault((check.id, check.message.strip()), []).append(job)
    found: dict[str, list[Problem]] = {"solution": [], "starter": [], "mistake": []}
    titles = {c.id: c.title for c in ins.chapter.checks} if ins.chapter else {}
    for (check_id, message), jobs in crashes.items():
        at = CRASH_AT.search(message)
        path, line = ((ins.folder / "checks" / at.group(1), int(at.group(2))) if at
                      else (ins.manifest, ins.check_line(check_id)))
        title = f"“{titles[check_id]}” ({check_id})" if check_id in titles else f"“{FILES_TITLE}” ({check_id})"
        first = message.splitlines()[0] if message else "no message"
        found[jobs[0].role].append(ins.problem(path, f"{title} errors on {_submissions(jobs)}: {first}", line))
    return found


CRASH_AT = re.compile(r"\bat (?:[\w.-]+/)?checks/([\w./-]+\.py):(\d+)")
"""Where a check's own code raised, as the engine's error messages say it ("at checks/test_behaviour.py:14",
"at chapter-8/checks/static.py:9")."""


def _submissions(jobs: list[Job]) -> str:
    """`the solution, the starter and 2 mistakes (a.diff, b.diff)`."""
    parts = [f"the {role}" for role in ("solution", "starter") if any(j.role == role for j in jobs)]
    mistakes = [j.path.name for j in jobs if j.role == "mistake"]
    if mistakes:
        parts.append(f"{len(mistakes)} mistake{'s' if len(mistakes) > 1 else ''} ({', '.join(mistakes)})")
    return ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]


def solution_rule(ins: Inspection, outcome: Outcome) -> list[Problem]:
    """The reference solution passes every check (a check that errors is a crash: see `crash_problems`)."""
    folder = solution_dir(ins.id, ins.root)
    if not isinstance(outcome, Report):
        return [ins.problem(folder, f"cannot be graded: {outcome}")]
    verbs = {"fail": "fails", "skip": "skips"}
    crashed = {c.id for c in outcome.checks if c.status == "error"}
    return [_check_problem(ins, folder, check, f"the solution {verbs[check.status]}")
            for check in outcome.checks if check.status in verbs
            and not (check.status == "skip" and ins.chapter and _needs(ins.chapter, check.id, crashed))]


def starter_rule(ins: Inspection, outcome: Outcome) -> list[Problem]:
    """The starter fails (so there is something to do), through checks: no grader error (a crash: see
    `crash_problems`), and valid Python."""
    folder = starter_dir(ins.id, ins.root)
    if not isinstance(outcome, Report):
        return [ins.problem(folder, f"cannot be graded: {outcome}")]
    if outcome.status == "pass":
        return [ins.problem(folder, "the starter passes every check: the learner would have nothing to do")]
    problems: list[Problem] = []
    files = next(c for c in outcome.checks if c.id == FILES_CHECK)
    if files.status == "fail":
        problems.append(_check_problem(ins, folder, files, "the starter fails", ": the learner would start from a "
                                       "broken file"))
    return problems


def mistakes_rule(ins: Inspection, outcomes: dict[Job, Outcome]) -> list[Problem]:
    """Each graded variant fails exactly the checks it declares, with the declared diagnoses, and the
    first failed check points inside its fault."""
    problems = []
    for fixture in ins.fixtures:
        if fixture.path is None:
            continue
        variant = fixture.variant
        outcome = outcomes[Job(ins.id, "mistake", fixture.path)]
        if not isinstance(outcome, Report):
            problems.append(ins.problem(variant.path, f"cannot be graded: {outcome}"))
            continue
        if any(c.status == "error" for c in outcome.checks):
            continue  # a crash of the checks: reported once, at its line (crash_problems)
        found = disagreements(variant, outcome)
        problems += [ins.problem(variant.path, text, variant.lines.get("fails")) for text in found]
        off = None if found else misplaced(variant, outcome)
        if off:
            problems.append(ins.problem(variant.path, off, variant.lines.get("fault")))
    return problems


def coverage_rule(ins: Inspection, outcomes: list[Outcome]) -> list[Problem]:
    """Every check is failed by the starter or some fixture: a check that nothing fails may accept anything."""
    chapter = ins.chapter
    assert chapter is not None
    caught = {c.id for outcome in outcomes if isinstance(outcome, Report) for c in outcome.checks
              if c.status == "fail"}
    crashed = {c.id for outcome in outcomes if isinstance(outcome, Report) for c in outcome.checks
               if c.status == "error"}
    unknown = crashed | {spec.id for spec in chapter.checks if _needs(chapter, spec.id, crashed)}
    """Checks that crashed, or wait for one that did: whether anything fails them is not known yet."""
    return [ins.problem(ins.manifest, f"nothing fails check {spec.id!r}: neither the starter nor a mistakes/ fixture "
                        "does; add a fixture with the mistake this check is there to catch", ins.check_line(spec.id))
            for spec in chapter.checks if spec.id not in caught and spec.id not in unknown]


def _needs(chapter: Chapter, check_id: str, ids: set[str]) -> bool:
    """Does `check_id` depend, directly or not, on one of `ids`?"""
    depends = {c.id: c.depends for c in chapter.checks}
    seen: set[str] = set()
    todo = list(depends.get(check_id, ()))
    while todo:
        dep = todo.pop()
        if dep in ids:
            return True
        if dep not in seen:
            seen.add(dep)
            todo.extend(depends.get(dep, ()))
    return False


# -- helpers -------------------------------------------------------------------------------------------------------
def code_difference(ours: Path, theirs: Path, *, stubs: bool = False) -> int | None:
    """None if both files hold the same code, else the line of `ours` where they first differ.

    Python files are compared as syntax trees (comments, blank lines and formatting do not count);
    other files line by line. With `stubs`, a function of `ours` that is a marked stub (see `is_stub`)
    stands for the function of that name in `theirs`, or for nothing if `theirs` has none (the learner
    writes it), and imports `theirs` does not have are allowed (what the stubs need).
    """
    a = ours.read_text(encoding="utf-8", errors="replace")
    b = theirs.read_text(encoding="utf-8", errors="replace")
    if ours.suffix == ".py":
        try:
            mine, other = ast.parse(a), ast.parse(b)
            if stubs:
                _fill_stubs(mine, other)
            return _first_difference(mine, other, 1, len(a.splitlines()) or 1)
        except SyntaxError:
            pass
    lines_a, lines_b = a.splitlines(), b.splitlines()
    for number, (x, y) in enumerate(zip(lines_a, lines_b), start=1):
        if x != y:
            return number
    return None if len(lines_a) == len(lines_b) else min(len(lines_a), len(lines_b)) + 1


def is_stub(node: ast.AST) -> bool:
    """A marked stub: a function whose body is only `raise NotImplementedError(...)` (after a docstring)."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = node.body[1:] if node.body and isinstance(node.body[0], ast.Expr) and isinstance(
        node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str) else node.body
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    raised = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
    return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"


def _fill_stubs(ours: ast.Module, theirs: ast.Module) -> None:
    """Put in place of each stub of `ours` the function of that name in `theirs` (at the same place: module or
    class), or drop it when `theirs` has none; and drop the module-level imports `theirs` does not have (a
    skeleton imports what its stubs name)."""
    known = {ast.dump(n) for n in theirs.body if isinstance(n, (ast.Import, ast.ImportFrom))}
    ours.body = [n for n in ours.body if not isinstance(n, (ast.Import, ast.ImportFrom)) or ast.dump(n) in known]
    for holder in ast.walk(ours):
        body = getattr(holder, "body", None)
        if not isinstance(body, list) or not any(is_stub(n) for n in body):
            continue
        twin = _twin(holder, ours, theirs)
        defs = {n.name: n for n in getattr(twin, "body", []) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        filled = []
        for n in body:
            if not is_stub(n):
                filled.append(n)
            elif n.name in defs:
                filled.append(defs[n.name])
        holder.body = filled  # type: ignore[attr-defined]


def _twin(holder: ast.AST, ours: ast.AST, theirs: ast.AST) -> ast.AST | None:
    """The module or class of `theirs` at the place of `holder` in `ours` (by the names of the classes around it)."""
    if holder is ours:
        return theirs
    if not isinstance(holder, ast.ClassDef):
        return None
    path = _class_path(ours, holder)
    node: ast.AST | None = theirs
    for name in path or []:
        node = next((n for n in getattr(node, "body", []) if isinstance(n, ast.ClassDef) and n.name == name), None)
    return node if path else None


def _class_path(tree: ast.AST, target: ast.ClassDef, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    for n in getattr(tree, "body", []):
        if n is target:
            return (*path, n.name)
        if isinstance(n, ast.ClassDef):
            found = _class_path(n, target, (*path, n.name))
            if found:
                return found
    return None


def _first_difference(a: Any, b: Any, line: int, last: int) -> int | None:
    if isinstance(a, ast.AST):
        line = getattr(a, "lineno", line)
        if type(a) is not type(b):
            return line
        for name in a._fields:
            found = _first_difference(getattr(a, name, None), getattr(b, name, None), line, last)
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for x, y in zip(a, b):
            found = _first_difference(x, y, line, last)
            if found is not None:
                return found
        if len(a) > len(b):
            return getattr(a[len(b)], "lineno", line)
        if len(a) < len(b):
            return getattr(a[-1], "end_lineno", None) or line if a else min(line, last)
        return None
    return None if a == b else line


def _load_toml(ins: Inspection, path: Path, text: str) -> tuple[dict[str, Any], Problem | None]:
    try:
        return parse_toml(text, path), None
    except ContentError as exc:
        return {}, ins.problem(path, exc.message, exc.line)


def _describe(err: Any, data: dict[str, Any], model: type[BaseModel]) -> str:
    """A pydantic error in the author's terms: ``check 'get-engine': `hints` must be a list, not "x"``."""
    return describe_error(err, model, data)


def _key_line(lines: TomlLines, err: Any) -> int | None:
    """The line of the key an error is about; a table-level error that starts with a key's name
    ("answer 'e' is not one of the choices") points at that key."""
    first_word = err["msg"].removeprefix("Value error, ").split(" ", 1)[0]
    return lines.line(*err["loc"], first_word)


def _validation_problem(ins: Inspection, path: Path, err: Any, data: dict[str, Any]) -> Problem:
    """One manifest validation error, at the line of the key it is about (or of what its message names)."""
    message = err["msg"].removeprefix("Value error, ")
    line = _key_line(ins.lines, err) if err["loc"] else _named_line(ins.lines, message, data)
    return ins.problem(path, f"invalid manifest: {_describe(err, data, Chapter)}", line)


def _named_line(lines: TomlLines, message: str, data: dict[str, Any]) -> int | None:
    """For an error about the whole manifest: the line of the first check its message names (its `depends` or
    `file` when the error is about those; the second use of a repeated id), else of the key it starts with."""
    checks = data.get("checks") if isinstance(data.get("checks"), list) else []
    ids = [c.get("id") if isinstance(c, dict) else None for c in checks]
    order = list(reversed(range(len(ids)))) if "repeated" in message else list(range(len(ids)))
    named = re.findall(r"'([a-z0-9-]+)'", message) + re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", message)
    key = "depends" if "depends" in message or "cycle" in message else "file" if "examines" in message else "id"
    for name in named:
        index = next((i for i in order if ids[i] == name), None)
        if index is not None:
            return lines.line("checks", index, key)
    first_word = message.split(" ", 1)[0]
    return lines.line(first_word) if first_word in data else None


def _check_markers(path: Path) -> tuple[dict[str, list[tuple[Path, int]]], list[tuple[int | None, str]]]:
    """Where `@check("id")` (or `@pytest.mark.check("id")`) decorates a function or class in a checks file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), str(path))
    except SyntaxError as exc:
        return {}, [(exc.lineno, f"{path.name} has a syntax error: {exc.msg}")]
    found: dict[str, list[tuple[Path, int]]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for deco in node.decorator_list:
            func = deco.func if isinstance(deco, ast.Call) else None
            named_check = (isinstance(func, ast.Name) and func.id == "check") or (
                isinstance(func, ast.Attribute) and func.attr == "check")
            if named_check and deco.args and isinstance(deco.args[0], ast.Constant) and isinstance(
                    deco.args[0].value, str):
                found.setdefault(deco.args[0].value, []).append((path, deco.lineno))
    return found, []


def _static_import_problems(ins: Inspection, path: Path, markers: dict[str, list]) -> list[Problem]:
    """checks/static.py must import (the engine imports it for every grade)."""
    from grader.static.registry import load_static_checks

    try:
        load_static_checks(path, f"_course_check_{ins.id.replace('-', '_')}")
    except Exception as exc:  # noqa: BLE001 - any failure here is the content's
        if isinstance(exc, ValueError) and any(len(places) > 1 for places in markers.values()):
            return []  # two implementations of one check: reported with both lines
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
        line = exc.lineno if isinstance(exc, SyntaxError) else frames[-1].lineno if frames else None
        return [ins.problem(path, f"checks/static.py cannot be imported: {type(exc).__name__}: {exc}", line)]
    return []


def _places(ins: Inspection, where: list[tuple[Path, int]]) -> str:
    return ", ".join(f"{ins.rel(path)}:{line}" for path, line in where)


def _check_problem(ins: Inspection, folder: Path, check: Any, lead: str, tail: str = "") -> Problem:
    """`<lead> “<check title>” (<id>)<tail>: <first line of its message>`, at the check's file and line."""
    message = (check.message or "").strip().splitlines()
    detail = f": {message[0]}" if message else ""
    return ins.problem(folder / (check.file or ins.chapter.files[0]),  # type: ignore[union-attr]
                       f"{lead} “{check.title}” ({check.id}){tail}{detail}", check.line)
