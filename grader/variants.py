"""Variants: a submission described as a named patch against a chapter's reference files.

Known mistakes (`chapters/chapter-N/mistakes/*.diff`), the test corpus (`tests/corpus/chapter-N/`)
and chapter 5's mutants (`chapters/chapter-5/checks/mutants/*.diff`) are all variants: a unified
diff of the files that change, under a header that says what the variant is::

    # about: Depends is given get_session() instead of get_session
    # fails: sessiondep-defined (depends-called), sessiondep-runtime
    # fault: database.py:24
    --- a/database.py
    +++ b/database.py
    @@ -21,4 +21,4 @@ def get_session():
    ...

`fails` lists the checks that must fail (with the diagnosis in brackets, when it matters) and no
other check may fail; a variant without it must pass every check, unless it says `# verdict: fail`
(a wrong submission whose failing checks are not pinned down, as in an examiner's corpus). `fault` is where the fix goes, in the patched files
(`file:line` or `file:first-last`, several separated by commas). A patch applies only where it
was written: every hunk's context must match its base at the very lines it names, so a change
to the reference files makes a stale variant fail loudly instead of silently testing old code.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.content import ContentError, tree_files
from grader.report import CheckResult, Report

SUFFIX = ".diff"
KEYS = ("about", "verdict", "fails", "fault", "untested")
"""Header fields. `verdict` (`pass` or `fail`) may be left out: a variant with `fails` must fail, one
without must pass. `untested` (mutants only): what a test must check to catch the mutant."""
_FIELD = re.compile(r"^#\s*([a-z][a-z-]*)\s*:\s*(.*)$")
_FAILS_ITEM = re.compile(r"^([a-z0-9][a-z0-9-]*)\s*(?:\(\s*([a-z0-9][a-z0-9-]*)\s*\))?$")
_FAULT_ITEM = re.compile(r"^(\S+?):(\d+)(?:-(\d+))?$")
_NO_NEWLINE = "\\ No newline at end of file\n"


class VariantError(ContentError):
    """A variant cannot be read or no longer applies to its base: a course content error."""


@dataclass(frozen=True)
class Fault:
    """Lines `first` to `last` (1-based, inclusive) of `file`, in the patched submission."""

    file: str
    first: int
    last: int

    def holds(self, file: str | None, line: int | None) -> bool:
        return file == self.file and line is not None and self.first <= line <= self.last

    def __str__(self) -> str:
        return f"{self.file}:{self.first}" + (f"-{self.last}" if self.last != self.first else "")


@dataclass(frozen=True)
class Hunk:
    source_start: int
    old: tuple[str, ...]
    """The base's lines this hunk replaces (context and removed lines), newlines kept."""
    new: tuple[str, ...]
    line: int
    """The `@@` line in the variant file."""


@dataclass(frozen=True)
class FilePatch:
    name: str
    hunks: tuple[Hunk, ...]
    added: bool = False
    removed: bool = False


@dataclass(frozen=True)
class Variant:
    path: Path
    about: str
    fails: dict[str, str | None] = field(default_factory=dict)
    """check id -> the diagnosis it must report (None: any)."""
    faults: tuple[Fault, ...] = ()
    untested: str = ""
    verdict: str = ""
    """`pass` or `fail`, as declared; empty: `fail` exactly when `fails` names checks."""
    patches: tuple[FilePatch, ...] = ()
    lines: dict[str, int] = field(default_factory=dict)
    """Header field -> its line in the variant file."""

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(SUFFIX)

    @property
    def expects_pass(self) -> bool:
        return self.verdict == "pass" if self.verdict else not self.fails

    def apply(self, base: dict[str, str]) -> dict[str, str]:
        """The files of `base` ({relative name: text}) with this patch applied (a removed file is absent)."""
        files = dict(base)
        for patch in self.patches:
            if patch.added:
                if patch.name in files:
                    self._stale(patch.hunks[0].line, f"creates {patch.name}, which the base already has")
                files[patch.name] = "".join(line for hunk in patch.hunks for line in hunk.new)
                continue
            if patch.name not in files:
                self._stale(patch.hunks[0].line if patch.hunks else None, f"changes {patch.name}, which the base "
                            "does not have")
            text = self._patched(patch, files[patch.name])
            if patch.removed:
                del files[patch.name]
            else:
                files[patch.name] = text
        return files

    def materialize(self, base: Path, into: Path) -> Path:
        """Write the whole patched submission (the files under `base`, patched) into the folder `into`."""
        files = self.apply({name: p.read_text(encoding="utf-8") for name, p in tree_files(base).items()})
        for name, text in files.items():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return into

    def _patched(self, patch: FilePatch, text: str) -> str:
        lines = text.splitlines(keepends=True)
        out: list[str] = []
        at = 0
        for hunk in patch.hunks:
            start = max(hunk.source_start - 1, 0)
            found = tuple(lines[start:start + len(hunk.old)])
            if start < at or found != hunk.old:
                first = next((i for i, (a, b) in enumerate(zip(found, hunk.old)) if a != b), min(len(found),
                                                                                               len(hunk.old)))
                seen = found[first].rstrip("\n") if first < len(found) else "(end of file)"
                wanted = hunk.old[first].rstrip("\n") if first < len(hunk.old) else "(end of file)"
                self._stale(hunk.line, f"no longer applies to {patch.name}: line {start + first + 1} is "
                            f"`{seen.strip()}`, the patch expects `{wanted.strip()}`")
            out += lines[at:start] + list(hunk.new)
            at = start + len(hunk.old)
        return "".join(out + lines[at:])

    def _stale(self, line: int | None, message: str) -> None:
        raise VariantError(f"{message}; remake the variant against the current files", self.path, line)


def read_variant(path: Path) -> Variant:
    """Read a variant file; VariantError at the line of anything it cannot read."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    body = next((i for i, line in enumerate(lines) if line.startswith("--- ")), len(lines))
    values: dict[str, str] = {}
    where: dict[str, int] = {}
    for number, raw in enumerate(lines[:body], start=1):
        found = _FIELD.match(raw.strip())
        if not found:
            continue
        key, value = found.groups()
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            if close:
                raise VariantError(f"unknown header field `{key}`: did you mean `{close[0]}`?", path, number)
            continue  # an ordinary comment that happens to hold a colon
        if key in values:
            raise VariantError(f"`{key}` is given twice", path, number)
        values[key], where[key] = value.strip(), number
    if not values.get("about"):
        raise VariantError("no `# about:` line saying what this variant changes", path, 1)
    fails = _read_fails(values.get("fails"), path, where.get("fails"))
    faults = _read_faults(values.get("fault"), path, where.get("fault"))
    verdict = values.get("verdict", "")
    if verdict not in ("", "pass", "fail"):
        raise VariantError(f"`# verdict:` is `pass` or `fail`, not {verdict!r}", path, where["verdict"])
    if verdict == "pass" and fails:
        raise VariantError("a variant that must pass cannot name checks it fails", path, where["fails"])
    if "fails" in values and not fails:
        raise VariantError("the `# fails:` line names no check (remove it if the variant must pass)", path,
                           where["fails"])
    patches = _read_patches(lines, body, path)
    if not patches:
        raise VariantError("no patch: the variant must change at least one file (`--- a/FILE` / `+++ b/FILE`)",
                           path, body + 1 if body < len(lines) else None)
    return Variant(path=path, about=values["about"], fails=fails, faults=faults,
                   untested=values.get("untested", ""), verdict=verdict, patches=patches, lines=where)


def read_variants(folder: Path) -> list[Variant]:
    """Every `*.diff` variant in `folder` (not its sub-folders), by name."""
    return [read_variant(p) for p in sorted(folder.glob("*" + SUFFIX))] if folder.is_dir() else []


def make_patch(base: dict[str, str], changed: dict[str, str | None]) -> str:
    """A unified diff turning `base` into `base` updated with `changed` (None: the file is removed)."""
    out: list[str] = []
    for name in sorted(changed):
        old, new = base.get(name), changed[name]
        if old == new:
            continue
        source = "/dev/null" if old is None else f"a/{name}"
        target = "/dev/null" if new is None else f"b/{name}"
        diff = list(difflib.unified_diff(_lines(old), _lines(new), source, target))
        out += [line if line.endswith("\n") else line + "\n" + _NO_NEWLINE for line in diff]
    return "".join(out)


def _lines(text: str | None) -> list[str]:
    return [] if text is None else text.splitlines(keepends=True)


def _read_fails(value: str | None, path: Path, line: int | None) -> dict[str, str | None]:
    fails: dict[str, str | None] = {}
    for item in filter(None, (part.strip() for part in (value or "").split(","))):
        parsed = _FAILS_ITEM.match(item)
        if parsed is None:
            raise VariantError(f"cannot read {item!r} in `# fails:`: write `check-id` or `check-id (diagnosis)`",
                               path, line)
        fails[parsed.group(1)] = parsed.group(2)
    return fails


def _read_faults(value: str | None, path: Path, line: int | None) -> tuple[Fault, ...]:
    faults = []
    for item in filter(None, (part.strip() for part in (value or "").split(","))):
        parsed = _FAULT_ITEM.match(item)
        if parsed is None:
            raise VariantError(f"cannot read {item!r} in `# fault:`: write `file:line` or `file:first-last`",
                               path, line)
        first = int(parsed.group(2))
        last = int(parsed.group(3) or first)
        if last < first:
            raise VariantError(f"{item!r} in `# fault:` ends before it starts", path, line)
        faults.append(Fault(parsed.group(1), first, last))
    return tuple(faults)


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _read_patches(lines: list[str], start: int, path: Path) -> tuple[FilePatch, ...]:
    """The file patches of a unified diff, read strictly: every line is accounted for."""
    patches: list[FilePatch] = []
    i = start
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        if not (lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")):
            raise VariantError("expected a file header (`--- a/FILE` then `+++ b/FILE`)", path, i + 1)
        source, target = _diff_name(lines[i]), _diff_name(lines[i + 1])
        if source is None and target is None:
            raise VariantError("a patch cannot go from /dev/null to /dev/null", path, i + 1)
        i += 2
        hunks: list[Hunk] = []
        while i < len(lines) and lines[i].startswith("@@"):
            hunk, i = _read_hunk(lines, i, path)
            hunks.append(hunk)
        if not hunks and target is not None:
            raise VariantError("a file header with no hunk (`@@ -a,b +c,d @@`) under it", path, i)
        patches.append(FilePatch(name=(target or source), hunks=tuple(hunks),  # type: ignore[arg-type]
                                 added=source is None, removed=target is None))
    return tuple(patches)


def _read_hunk(lines: list[str], i: int, path: Path) -> tuple[Hunk, int]:
    head = _HUNK.match(lines[i])
    if head is None:
        raise VariantError("cannot read this hunk header: write `@@ -start,count +start,count @@`", path, i + 1)
    at = i + 1
    source_start = int(head.group(1))
    old_left = int(head.group(2) if head.group(2) is not None else 1)
    new_left = int(head.group(4) if head.group(4) is not None else 1)
    old: list[str] = []
    new: list[str] = []
    j = i + 1
    while old_left or new_left:
        if j >= len(lines):
            raise VariantError("the hunk ends early: its `@@` counts promise more lines", path, at)
        line = lines[j]
        kind, value = line[:1], line[1:] if line[1:] else "\n"
        if line in ("\n", "\r\n"):  # an empty context line whose leading space an editor removed
            kind, value = " ", "\n"
        if kind not in " -+":
            raise VariantError(f"a hunk line must start with ' ', '-' or '+' (found {line[:20]!r}); or the `@@` "
                               "counts are wrong", path, j + 1)
        if kind in " -":
            old.append(value)
            old_left -= 1
        if kind in " +":
            new.append(value)
            new_left -= 1
        if old_left < 0 or new_left < 0:
            raise VariantError("the hunk has more lines than its `@@` counts say", path, at)
        j += 1
        if j < len(lines) and lines[j] == _NO_NEWLINE:
            if kind in " -":
                old[-1] = old[-1].removesuffix("\n")
            if kind in " +":
                new[-1] = new[-1].removesuffix("\n")
            j += 1
    return Hunk(source_start=source_start if old or source_start else 1, old=tuple(old), new=tuple(new),
                line=at), j


def _diff_name(header: str) -> str | None:
    name = header[4:].split("\t")[0].strip()
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


# -- judging a report against a variant -----------------------------------------------------------------------------
def disagreements(variant: Variant, report: Report) -> list[str]:
    """Every way `report` differs from what `variant` declares (empty when they agree)."""
    problems = []
    by_id = {c.id: c for c in report.checks}
    if not variant.fails and variant.expects_pass != (report.status == "pass"):
        problems.append(f"should {'pass' if variant.expects_pass else 'fail'} but the verdict is {report.status}")
    for check_id, diagnosis in variant.fails.items():
        check = by_id.get(check_id)
        if check is None:
            problems.append(f"declares check {check_id!r}, which the chapter does not have")
        elif check.status != "fail":
            problems.append(f"should fail {check_id!r} but it is {check.status}" + _first_line(check.message))
        elif diagnosis and check.diagnosis != diagnosis:
            problems.append(f"{check_id!r} failed with diagnosis {check.diagnosis!r}, not {diagnosis!r}"
                            + _first_line(check.message))
    for check in report.checks:
        if check.status == "error":
            problems.append(f"{check.id!r} errored" + _first_line(check.message))
        elif check.status == "fail" and (variant.fails or variant.expects_pass) and check.id not in variant.fails:
            problems.append(f"also fails {check.id!r} ({check.diagnosis})" + _first_line(check.message))
    return problems


def first_failure(report: Report) -> CheckResult | None:
    """The check a learner reads first: the first failed one, in report order."""
    return next((c for c in report.checks if c.status == "fail"), None)


def misplaced(variant: Variant, report: Report) -> str | None:
    """Why the report's first failure does not point inside the variant's fault (None when it does, or
    when the variant declares no fault)."""
    first = first_failure(report)
    if not variant.faults or first is None:
        return None
    if any(fault.holds(first.file, first.line) for fault in variant.faults):
        return None
    at = f"{first.file}:{first.line}" if first.file and first.line else first.file or "no line"
    return (f"the first failed check, {first.id!r}, points at {at}, outside the fault "
            f"({', '.join(map(str, variant.faults))})")


def _first_line(message: str) -> str:
    lines = (message or "").strip().splitlines()
    return f": {lines[0]}" if lines else ""


def draft(base: dict[str, str], changed: dict[str, str | None], report: Report) -> str | None:
    """A new variant's text (None if nothing changed): a placeholder `about` for its author, the checks
    `report` fails as `fails`, and as `fault` the lines the patch changes in the first changed file."""
    patch = make_patch(base, changed)
    if not patch:
        return None
    failed = [f"{c.id} ({c.diagnosis})" if c.diagnosis else c.id for c in report.checks if c.status == "fail"]
    header = "# about: TODO(author): what this variant changes\n"
    if failed:
        header += f"# fails: {', '.join(failed)}\n"
        fault = _changed_lines(patch)
        header += f"# fault: {fault}\n" if fault else ""
    return header + patch


def _changed_lines(patch: str) -> Fault | None:
    """The first hunk's changed lines, in the patched file (for a pure removal: the line after it)."""
    name, line, first, last = None, 0, None, None
    for text in patch.splitlines():
        head = _HUNK.match(text)
        if text.startswith("+++ "):
            name = _diff_name(text)
        elif head:
            if first is not None:
                break
            line = int(head.group(3))
        elif name is None or text.startswith(("--- ", "\\")):
            continue
        elif text.startswith("+"):
            first, last = first or line, line
            line += 1
        elif text.startswith("-"):
            first, last = first or line, last or line
        elif first is not None:
            break
        else:
            line += 1
    return Fault(name, first, max(last or first, first)) if name and first else None
