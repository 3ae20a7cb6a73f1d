"""Chapter 3's first messages: what, where and why, each once, in the learner's spelling; hints that follow
the diagnosis. (Verdicts and where each variant's first failure points: test_variants.py.)"""

from __future__ import annotations

import re

from conftest import ROOT
from grader.manifest import load_chapter
from variants import corpus, line_of, mistake, source

SOLUTION = (ROOT / "solutions" / "chapter-3" / "main.py").read_text()


def check_of(report, check_id):
    return next(c for c in report.checks if c.id == check_id)


def failures(report):
    return [c for c in report.checks if c.status == "fail"]


def examined(name):
    return next(v for v in corpus("chapter-3", "examined") if v.name == name)


def ours(name):
    return next(v for v in corpus("chapter-3", "") if v.name == name)


def test_an_every_endpoint_check_lists_each_offender_once_with_its_line(graded):
    variant = ours("bad_default_depends_called")
    check = failures(graded(variant))[0]
    text = source(variant, "main.py")
    assert (check.id, check.line) == ("endpoints-take-session", line_of(text, "def create_hero"))
    for name in ("read_heroes", "read_hero", "update_hero", "delete_hero"):
        assert f"`{name}` (line {line_of(text, f'def {name}(')})" in check.message
    assert f"line {check.line}" not in check.message


def test_an_alias_that_calls_get_session_is_blamed_where_it_is_written(graded):
    variant = ours("bad_depends_called")
    check = check_of(graded(variant), "endpoints-take-session")
    assert check.line == line_of(source(variant, "main.py"), "DB = Annotated")
    assert check.message.startswith("POST /heroes/ (`create_hero`) uses `DB`, whose `Depends(get_session())` calls")
    assert "create_hero" in check.message and "read_hero`" not in check.message  # one alias, one fix: named once


def test_no_message_of_the_mistakes_prints_its_own_location_or_pattern_syntax(graded):
    for name in ("bare-session-hint", "delete-not-refactored", "still-opens-session", "depends-twice",
                 "leftover-imports", "no-lifespan", "update-status-400"):
        for check in failures(graded(mistake("chapter-3", name))):
            assert f"(line {check.line})" not in check.message and f"line {check.line}:" not in check.message, name
            assert not re.search(r"\*\*_|\b_\b|\{\{|/tmp/", check.message), (name, check.message)


def test_session_and_engine_left_in_the_imports_are_named_in_the_learners_spelling(grade_files):
    text = SOLUTION.replace("from sqlmodel import select", "from sqlmodel import Session as S, select")
    check = check_of(grade_files("chapter-3", text), "no-leftover-imports")
    assert (check.status, check.line) == ("fail", line_of(text, "from sqlmodel import"))
    assert check.message.startswith("`S` is still imported, but nothing in main.py uses it now")


def test_a_session_import_the_spelled_out_dependency_uses_is_no_leftover(graded):
    report = graded(examined("inline_annotated_depends"))
    assert check_of(report, "no-leftover-imports").status == "pass" and report.status == "pass"


def test_a_patch_that_never_commits_is_told_by_reading_the_row_back(graded):
    variant = mistake("chapter-3", "patch-without-commit")
    check = check_of(graded(variant), "patch-updates-given-fields")
    assert check.diagnosis == "not-saved" and "though the answer showed the change" in check.message
    assert check.line == line_of(source(variant, "main.py"), "session.add(db_hero)", after="def update_hero")
    assert check.hint == load_chapter("chapter-3").check("patch-updates-given-fields").hints_for["not-saved"][0]


def test_a_patch_that_commits_before_changing_the_row_is_blamed_on_that_commit(graded):
    variant = ours("bad_patch_commit_before_change")
    check = check_of(graded(variant), "patch-updates-given-fields")
    assert check.diagnosis == "not-saved" and "this commit runs before the row is changed" in check.message
    assert check.line == line_of(source(variant, "main.py"), "session.commit()", after="def update_hero")


def test_a_delete_without_commit_points_at_the_delete(graded):
    variant = mistake("chapter-3", "delete-without-commit")
    check = check_of(graded(variant), "delete-removes")
    assert check.line == line_of(source(variant, "main.py"), "session.delete(hero)")
    assert "Find the hero" not in check.hint  # the code already finds and deletes it


def test_a_wrong_status_points_at_its_exception_without_stock_advice(graded):
    variant = mistake("chapter-3", "update-status-400")
    check = check_of(graded(variant), "missing-hero-404")
    assert check.line == line_of(source(variant, "main.py"), "status_code=400")
    assert "answered 400 for a hero that does not exist" in check.message
    assert "if not hero" not in check.message and '{"detail"' not in check.message


def test_a_response_that_fails_validation_points_at_the_return_that_sent_it(graded):
    variant = mistake("chapter-3", "create-returns-input")
    check = check_of(graded(variant), "create-and-read")
    assert check.line == line_of(source(variant, "main.py"), "return hero")
    assert "return the hero it stored" in check.message


def test_an_app_without_its_lifespan_is_told_at_the_line_that_builds_it(graded):
    variant = mistake("chapter-3", "no-lifespan")
    check = check_of(graded(variant), "app-starts")
    assert (check.diagnosis, check.line) == ("no-lifespan", line_of(source(variant, "main.py"), "app = FastAPI()"))
    assert "python -c" not in check.hint


def test_async_endpoints_are_listed_and_a_thread_pool_is_fine(graded):
    variant = examined("async_def_endpoints")
    check = check_of(graded(variant), "endpoints-off-the-event-loop")
    text = source(variant, "main.py")
    assert check.line == line_of(text, "async def create_hero")
    assert f"`delete_hero` (line {line_of(text, 'async def delete_hero')})" in check.message
    assert graded(ours("ok_async_in_threadpool")).status == "pass"


def test_a_session_of_its_own_is_told_how_to_undo_the_way_it_was_made(grade_files, graded):
    calls = SOLUTION.replace("import SessionDep,", "import SessionDep, get_session,").replace(
        "def create_hero(hero: HeroCreate, session: SessionDep):\n",
        "def create_hero(hero: HeroCreate, session: SessionDep):\n    session = next(get_session())\n")
    check = check_of(grade_files("chapter-3", calls), "no-own-session")
    assert (check.diagnosis, check.line) == ("calls-dependency", line_of(calls, "next(get_session())"))
    assert check.message.endswith("use the `session` FastAPI passes in")  # it declares one already
    assert check.hint == load_chapter("chapter-3").check("no-own-session").hints_for["calls-dependency"][0]
    helper = check_of(graded(ours("bad_session_in_helper")), "no-own-session")
    assert helper.message.endswith("hand `find_hero` the `session` FastAPI passes in")
    assert "`with` block" not in helper.message


def test_a_copy_of_the_dependency_and_a_too_strict_cap_get_hints_for_what_they_are(graded):
    chapter = load_chapter("chapter-3")
    for name, check_id, diagnosis in (("own-get-session", "sessiondep-imported", "own-dependency"),
                                      ("limit-too-strict", "list-offset-limit", "limit-too-strict")):
        check = failures(graded(mistake("chapter-3", name)))[0]
        assert (check.id, check.diagnosis) == (check_id, diagnosis)
        assert check.hint == chapter.check(check_id).hints_for[diagnosis][0]


def test_writes_that_never_reach_the_database_are_told_at_the_write(graded):
    create = check_of(graded(mistake("chapter-3", "create-without-commit")), "create-and-read")
    assert create.diagnosis == "create-not-saved" and "commit after adding it" in create.message
    assert create.hint == load_chapter("chapter-3").check("create-and-read").hints_for["create-not-saved"][0]
    flushed = check_of(graded(ours("bad_create_flush_not_commit")), "create-and-read")
    assert "`flush` sends the new row" in flushed.message
    copy = check_of(graded(ours("bad_patch_model_copy")), "patch-updates-given-fields")
    assert copy.diagnosis == "not-applied" and "before the row is changed" not in copy.message
    every = check_of(graded(ours("bad_delete_every_hero")), "delete-removes")
    assert every.message.endswith("removed hero 1 too: delete only the hero it was asked for")
    assert "still holds" not in every.message
