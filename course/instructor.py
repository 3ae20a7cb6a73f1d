"""The console side of the instructor commands `course new` and `course check`: output and exit codes.

Exit status: 0 done / every chapter clean, 1 `course check` found a problem, 2 usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from course.content_check import CheckRun, Problem, check_chapters
from course.scaffold import ScaffoldError, chapter_name, new_chapter
from course.terminal import make_console
from grader.content import chapter_ids, content_root
from grader.render.text import shown_path

STATUS_STYLE = {"ok": "green", "problem": "bold red", "skipped": "yellow"}


def new_command(chapter: str, title: str, from_chapter: str | None, files: list[str]) -> int:
    out, err = make_console(), make_console(stderr=True)
    root = content_root()
    try:
        created = new_chapter(root, chapter, title, from_chapter=from_chapter, files=files)
    except ScaffoldError as exc:
        err.print(f"error: {exc}", markup=False)
        return 2
    name = chapter_name(chapter)
    out.print(f"Created {name} in {root}:", markup=False)
    for path in created:
        out.print(f"  {path.as_posix()}", markup=False)
    out.print(f"Next: replace every TODO(author), then run `course check {name}` until it is clean "
              "(docs/AUTHORING.md walks through it).", markup=False)
    return 0


def check_command(chapters: list[str], fmt: str, jobs: int | None) -> int:
    out, err = make_console(), make_console(stderr=True)
    root = content_root()
    known = chapter_ids(root, with_manifest=False)

    def usage_error(message: str) -> int:
        err.print(f"error: {message}", markup=False)
        if fmt == "json":  # what a CI step parses is JSON, whatever went wrong
            sys.stdout.write(json.dumps({"format": 1, "status": "error", "root": str(root), "message": message},
                                        indent=2) + "\n")
        return 2

    try:
        wanted = list(dict.fromkeys(chapter_name(c) for c in chapters)) or known
    except ScaffoldError as exc:
        return usage_error(str(exc))
    unknown = [c for c in wanted if c not in known]
    if unknown or not wanted:
        listed = ", ".join(known) or "none"
        what = f"there is no chapter {unknown[0]!r}" if unknown else f"there are no chapters in {root / 'chapters'}"
        return usage_error(f"{what}; the chapters are: {listed}")
    run = check_chapters(wanted, root, jobs=jobs)
    if fmt == "json":
        sys.stdout.write(run.model_dump_json(indent=2) + "\n")
    else:
        render(run, out, root)
    return 1 if run.problems else 0


def render(run: CheckRun, console: Console, root: Path) -> None:
    """A table of rules per chapter, then each problem as `path:line: message`."""
    for chapter in run.chapters:
        table = Table(title=Text.assemble((chapter.chapter, "bold"), f" · {chapter.title}" if chapter.title else ""),
                      title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("rule")
        table.add_column("checks that")
        table.add_column("result")
        for rule in chapter.rules:
            count = len(rule.problems)
            result = f"{count} problem{'s' if count != 1 else ''}" if count else rule.status
            table.add_row(rule.rule, rule.title, Text(result, STATUS_STYLE[rule.status]))
        console.print(table)
        for rule in chapter.rules:
            if rule.problems:
                console.print(Text(f"{rule.rule}: {rule.title}", "bold"))
                for problem in rule.problems:
                    console.print(Text(f"  {location(problem, root)}: {problem.message}"))
            elif rule.note:
                console.print(Text(f"{rule.rule}: {rule.status}, {rule.note}", "dim"))
        console.print()
    parts = [f"{c.chapter}: {'ok' if c.status == 'ok' else f'{c.problems} problem' + ('s' if c.problems != 1 else '')}"
             for c in run.chapters]
    style = "bold green" if run.status == "ok" else "bold red"
    console.print(Text(" · ".join(parts) + f" ({run.duration:.1f} s)", style))


def location(problem: Problem, root: Path) -> str:
    """`path:line`, relative to the current directory when that is shorter."""
    shown = shown_path(root / problem.path)
    return f"{shown}:{problem.line}" if problem.line else shown


def variant_command(chapter: str, path: Path, out: Path | None, name: str | None) -> int:
    """Write the submission at `path` as a variant of `chapter`'s solution: a header filled from a real
    grade (`fails`, and `fault` from the lines it changes) over the patch. Exit 0 written, 2 usage error."""
    from grader.content import solution_dir, tree_files
    from grader.engine import grade
    from grader.manifest import ContentError, load_chapter
    from grader.submission import SubmissionError, locate
    from grader.variants import SUFFIX, draft

    console, err = make_console(), make_console(stderr=True)
    root = content_root()
    try:
        loaded = load_chapter(chapter_name(chapter), root)
        submission = locate(loaded, path)
    except (ScaffoldError, ContentError, SubmissionError) as exc:
        err.print(f"error: {exc}", markup=False)
        return 2
    solution = {n: p.read_text(encoding="utf-8") for n, p in tree_files(solution_dir(loaded.id, root)).items()}
    # The graded files (a missing one is removed), and any other file of the solution the folder holds.
    changed = {n: p.read_text(encoding="utf-8") if p.is_file() else None for n, p in submission.edited.items()}
    if path.is_dir():
        changed.update({n: (path / n).read_text(encoding="utf-8") for n in solution
                        if n not in changed and (path / n).is_file()})
    report = grade(loaded, submission)
    text = draft(solution, changed, report)
    if text is None:
        err.print(f"error: {path} is the solution itself: a variant must change something", markup=False)
        return 2
    target = out or loaded.dir / "mistakes" / ((name or Path(path).stem) + SUFFIX)
    if target.exists():
        err.print(f"error: {target} exists; choose another --name or --out", markup=False)
        return 2
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    verdict = "passes every check" if report.status == "pass" else f"fails {', '.join(c.id for c in report.checks if c.status == 'fail')}"
    console.print(f"Wrote {shown_path(target)}: it {verdict} today. Say in `# about:` what it is, check that "
                  f"`# fails:` and `# fault:` are what you mean, then run `course check {loaded.id}`.", markup=False)
    return 0
