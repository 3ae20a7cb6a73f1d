"""The static stage: parse the learner's files, run the chapter's `checks/static.py` in the parent."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from grader.manifest import FILES_CHECK, FILES_TITLE, Chapter, CheckSpec, ContentError
from grader.static.finding import Finding, all_of
from grader.static.names import undefined_names
from grader.static.registry import load_static_checks
from grader.static.source import Source, SyntaxProblem


def files_verdict(chapter: Chapter, problems: dict[str, SyntaxProblem],
                  sources: dict[str, Source] | None = None) -> dict[str, Any]:
    """The engine's own first check: every graded file exists, is non-empty text, parses, and every
    name it reads is defined (see `grader.static.names`)."""
    if problems:
        return _broken_files(chapter, problems)
    names = [u for name in chapter.files if name in (sources or {}) for u in undefined_names(sources[name])]
    if not names:
        return {"status": "pass", "message": ""}
    first = names[0]
    undefined = list(dict.fromkeys(u.name for u in names))
    shown = " and ".join(f"`{n}`" for n in undefined) + (" is" if len(undefined) == 1 else " are")
    return {"status": "fail", "message": "\n".join([first.message, *(u.located(first.file) for u in names[1:])]),
            "file": first.file, "line": first.fix_line,
            "column": first.column if first.fix_line == first.line else None,
            "diagnosis": "undefined-name",
            "blocks": f"skipped until {shown} defined: see the first check"}


def _broken_files(chapter: Chapter, problems: dict[str, SyntaxProblem]) -> dict[str, Any]:
    """Files missing, unreadable or not valid Python: the first one's problem (the report shows its
    location), then every other file's, with its location."""
    first = next(problems[name] for name in chapter.files if name in problems)
    lines = []
    for name in chapter.files:
        p = problems.get(name)
        if p:
            where = f"{name}:{p.line}:{p.column}" if p.line and p.column else f"{name}:{p.line}" if p.line else name
            lines.append(p.message if p is first else f"{where}: {p.message}")
            if p.caret():
                lines.append(p.caret())
    return {"status": "fail", "message": "\n".join(lines), "file": first.file, "line": first.line,
            "column": first.column, "diagnosis": "syntax-error" if first.line and first.column else "bad-file"}


def run_static(chapter: Chapter, specs: list[CheckSpec], sources: dict[str, Source],
               problems: dict[str, SyntaxProblem], outcome: dict[str, str],
               files: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Verdicts of the static checks in `specs` (dependency order), given earlier outcomes and the
    `files` verdict (undefined names make every check wait)."""
    if not specs:
        return {}
    path = chapter.checks_dir / "static.py"
    if not path.is_file():
        raise ContentError("the manifest declares static checks but checks/static.py is missing", path)
    try:
        impls = _static_checks(path, f"_course_static_{chapter.id.replace('-', '_')}")
    except Exception as exc:  # noqa: BLE001 - any failure here is the content's
        raise ContentError(f"checks/static.py cannot be loaded: {type(exc).__name__}: {exc}", path) from None
    results: dict[str, dict[str, Any]] = {}
    waits = files.get("blocks") if files else None
    for spec in specs:
        name = chapter.file_of(spec)
        blocked = next((d for d in spec.depends if outcome.get(d) != "pass"), None)
        if waits:
            results[spec.id] = {"status": "skip", "message": waits}
        elif blocked is not None:
            results[spec.id] = skipped(chapter, blocked)
        elif name in problems:
            results[spec.id] = {"status": "skip", "message": f"skipped: fix {name} first (see “{FILES_TITLE}”)"}
        elif spec.id not in impls:
            results[spec.id] = {"status": "error", "message": "checks/static.py has no @check for this id "
                                "(course content error)"}
        else:
            results[spec.id] = _run_one(impls[spec.id], sources[name], name)
        outcome[spec.id] = results[spec.id]["status"]
    return results


_LOADED: dict[tuple[Path, str], tuple[bytes, dict[str, Any]]] = {}
"""Each checks module loaded, with the text it was loaded from."""


def _static_checks(path: Path, module_name: str) -> dict[str, Any]:
    """The `@check` functions of `path`, loaded once for as long as its text stays the same (a watch
    grades many times; an author editing the checks meanwhile gets the new ones)."""
    text = path.read_bytes()
    known = _LOADED.get((path, module_name))
    if known is not None and known[0] == text:
        return known[1]
    impls = load_static_checks(path, module_name)
    _LOADED[(path, module_name)] = (text, impls)
    return impls


def skipped(chapter: Chapter, dep: str, files: dict[str, Any] | None = None) -> dict[str, Any]:
    """A check skipped because `dep` did not pass (with the `files` verdict: its own reason to wait)."""
    if dep == FILES_CHECK and files and files.get("blocks"):
        return {"status": "skip", "message": files["blocks"]}
    title = FILES_TITLE if dep == FILES_CHECK else chapter.check(dep).title
    return {"status": "skip", "message": f"skipped: needs “{title}” to pass first"}


def _run_one(fn, src: Source, name: str) -> dict[str, Any]:
    try:
        findings, wrong = _findings(fn(src))
        if wrong is not None:
            return {"status": "error", "message": f"the check at {_shown(fn.__code__.co_filename)}:"
                    f"{fn.__code__.co_firstlineno} returned {wrong}; return a finding (every way through "
                    "the function must end in `return` of a block's finding); this is a bug in the course, "
                    "not in your code"}
        finding = all_of(*findings)
    except Exception as exc:  # noqa: BLE001 - a crashing check is the course's bug, not the learner's
        return {"status": "error",
                "message": f"the grader crashed on this check ({type(exc).__name__}: {exc}, at "
                           f"{_where_it_broke(exc, fn)}); this is a bug in the course, not in your code",
                "output": traceback.format_exc()[-3000:]}
    return {"status": "pass" if finding.ok else "fail", "message": "" if finding.ok else finding.message,
            "file": finding.file or name, "line": finding.line, "column": finding.column,
            "diagnosis": None if finding.ok else finding.diagnosis}


def _findings(value: Any) -> tuple[list[Finding], str | None]:
    """The findings a check returned (one, or an iterable of them), or what it returned instead."""
    if isinstance(value, Finding):
        return [value], None
    if value is None or isinstance(value, (str, bytes, bool)) or not hasattr(value, "__iter__"):
        return [], _named(value)
    items = list(value)
    wrong = next((item for item in items if not isinstance(item, Finding)), _NOTHING)
    return items, None if wrong is _NOTHING else f"{_named(wrong)} among its findings"


_NOTHING = object()


def _named(value: Any) -> str:
    return repr(value) if value is None or isinstance(value, bool) else f"a {type(value).__name__}"


def _where_it_broke(exc: BaseException, fn) -> str:
    """`file:line` in the check's own module where it raised (else the deepest frame), for the course's
    authors: the learner's file is not where the bug is."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = getattr(getattr(fn, "__code__", None), "co_filename", None)
    frame = next((f for f in reversed(frames) if f.filename == own), frames[-1] if frames else None)
    if frame is None:
        return "an unknown place"
    return f"{_shown(frame.filename)}:{frame.lineno}"


def _shown(filename: str) -> str:
    """A course file as its authors know it: `chapter-8/checks/static.py`, `grader/static/calls.py`."""
    path = Path(filename)
    return "/".join(path.parts[-3:]) if "checks" in path.parts else "/".join(path.parts[-2:])
