"""Chapter 1 through the real engine: what particular mistakes are told, and where.

Every variant is graded in test_variants.py (verdicts, declared failures, the first failure inside the
fault); the solution, starter, hints and quiz in test_chapter1_3_4_content.py. Here: each message points
where the fix goes and says why, in the learner's spelling, with no location printed twice, and correct
code that reaches the lesson's goal another way passes.
"""

from __future__ import annotations

import re

import pytest

from conftest import ROOT
from variants import corpus, line_of, mistake, mistakes, source

CHAPTER = "chapter-1"
SOLUTION = {p.name: p.read_text() for p in (ROOT / "solutions" / CHAPTER).glob("*.py")}
LIFESPAN_BODY = "    create_db_and_tables()\n    yield\n"


def changed(**edits: list[tuple[str, str]]) -> dict[str, str]:
    """The solution with each file's (old, new) replacements made."""
    files = dict(SOLUTION)
    for name, pairs in edits.items():
        for old, new in pairs:
            assert old in files[f"{name}.py"], old
            files[f"{name}.py"] = files[f"{name}.py"].replace(old, new)
    return files


def failures(report):
    return {c.id: c for c in report.checks if c.status == "fail"}


def first_failure(report):
    return next(c for c in report.checks if c.status == "fail")


# -- where the fix goes -------------------------------------------------------------------------------------------
def test_an_in_memory_url_is_told_where_the_url_is_written(graded):
    variant = mistake(CHAPTER, "memory-database")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis) == ("engine-created", "in-memory")
    url_line = line_of(source(variant, "database.py"), 'sqlite_url = "sqlite://"')
    assert (check.file, check.line) == ("database.py", url_line)
    assert '"sqlite://"' in check.message and "in-memory" in check.message


def test_a_misspelt_connect_args_key_is_told_on_its_line_with_the_right_spelling(graded):
    variant = mistake(CHAPTER, "misspelt-option")
    check = first_failure(graded(variant))
    assert (check.file, check.line) == ("database.py", line_of(source(variant, "database.py"), "connect_args = {"))
    assert "`check_same_threads`" in check.message and "`check_same_thread`" in check.message


def test_check_same_thread_given_to_create_engine_itself_is_told_so(grade_files):
    files = changed(database=[("create_engine(sqlite_url, connect_args=connect_args)",
                               "create_engine(sqlite_url, check_same_thread=False)")])
    check = failures(grade_files(CHAPTER, files))["engine-created"]
    assert check.line == line_of(files["database.py"], "engine = create_engine")
    assert "inside `connect_args`" in check.message


def test_a_field_made_required_in_herobase_is_told_on_the_field_line(graded):
    variant = mistake(CHAPTER, "age-required")
    report = graded(variant)
    age_line = line_of(source(variant, "models.py"), "    age: int")
    assert {(c.id, c.line) for c in failures(report).values()} == {("hero-columns", age_line),
                                                                    ("schemas-validate", age_line)}


def test_a_required_id_is_told_on_the_id_line_before_the_endpoint_crashes(graded):
    variant = mistake(CHAPTER, "id-required")
    found = failures(graded(variant))
    assert found["hero-columns"].line == line_of(source(variant, "models.py"), "    id: int = Field")
    assert "no id until the database gives it one" in found["hero-columns"].message
    assert found["tables-at-startup"].diagnosis == "server-error"


def test_a_lifespan_imported_from_database_is_told_in_database(graded):
    variant = next(v for v in corpus(CHAPTER, "") if v.name == "bad_imported_lifespan_after_yield")
    check = failures(graded(variant))["lifespan-creates-tables"]
    text = source(variant, "database.py")
    call_line = line_of(text, "    create_db_and_tables()", after="def lifespan")
    assert (check.file, check.line) == ("database.py", call_line)
    assert "in database.py" not in check.message


def test_a_name_without_parentheses_is_told_on_its_line(grade_files):
    files = changed(main=[(LIFESPAN_BODY, "    create_db_and_tables\n    yield\n")])
    check = first_failure(grade_files(CHAPTER, files))
    named_line = line_of(files["main.py"], "    create_db_and_tables\n")
    assert (check.id, check.line) == ("lifespan-creates-tables", named_line)
    assert "call it" in check.message


def test_the_deprecated_startup_handler_is_where_the_lifespan_goes(graded):
    variant = mistake(CHAPTER, "startup-event")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis) == ("lifespan-defined", "on-event")
    assert check.line == line_of(source(variant, "main.py"), "@app.on_event")
    assert check.hint.startswith("`@app.on_event(\"startup\")` still runs, but it is deprecated")


def test_tables_created_at_import_in_a_shape_the_static_check_does_not_read_are_found_by_running_it(grade_files):
    files = changed(main=[("app = FastAPI(lifespan=lifespan)\n",
                           "app = FastAPI(lifespan=lifespan)\n(lambda: create_db_and_tables())()\n")])
    found = failures(grade_files(CHAPTER, files))
    assert list(found) == ["tables-at-startup"]
    check = found["tables-at-startup"]
    assert (check.diagnosis, check.file, check.line) == (
        "tables-at-import", "main.py", line_of(files["main.py"], "(lambda: create_db_and_tables())()"))


def test_a_lifespan_that_cannot_start_gets_only_the_advice_that_fits(grade_files):
    crashing = '    create_db_and_tables()\n    settings = {}\n    settings["url"]\n    yield\n'
    files = changed(main=[(LIFESPAN_BODY, crashing)])
    check = failures(grade_files(CHAPTER, files))["tables-at-startup"]
    assert check.diagnosis == "startup-error" and "KeyError" in check.message
    assert "asynccontextmanager" not in check.message and "parameter" not in check.message
    assert (check.file, check.line) == ("main.py", line_of(files["main.py"], 'settings["url"]'))



def test_a_call_inside_the_lifespan_given_an_argument_is_not_told_to_give_the_lifespan_a_parameter(graded):
    variant = mistake(CHAPTER, "tables-given-the-engine")
    check = first_failure(graded(variant))
    assert (check.id, check.diagnosis) == ("tables-at-startup", "startup-error")
    assert (check.file, check.line) == ("main.py", line_of(source(variant, "main.py"), "create_db_and_tables(engine)"))
    assert "takes 0 positional arguments" in check.message and "parameter" not in check.message


def test_a_lifespan_without_the_app_parameter_the_static_check_cannot_read_is_told_at_startup(grade_files):
    files = changed(main=[("@asynccontextmanager\nasync def lifespan(app: FastAPI):", "async def _lifespan():"),
                          ("app = FastAPI(lifespan=lifespan)", "lifespan = asynccontextmanager(_lifespan)\n"
                           "app = FastAPI(lifespan=lifespan)")])
    check = failures(grade_files(CHAPTER, files)).get("tables-at-startup")
    assert check is not None and check.diagnosis == "startup-error"
    assert "give it one parameter, `app: FastAPI`" in check.message


def test_a_create_all_the_static_check_does_not_read_is_judged_by_starting_the_app(grade_files):
    files = changed(database=[("from sqlmodel import SQLModel, create_engine",
                               "from sqlalchemy import MetaData\nfrom sqlmodel import SQLModel, create_engine"),
                              ("SQLModel.metadata.create_all(engine)", "MetaData().create_all(engine)")])
    found = failures(grade_files(CHAPTER, files))
    assert "create-tables-defined" not in found
    assert found["tables-at-startup"].diagnosis == "no-table"


def test_create_all_given_a_parameter_is_judged_by_what_the_callers_pass(grade_files):
    files = changed(database=[("def create_db_and_tables() -> None:\n    SQLModel.metadata.create_all(engine)",
                               "def create_db_and_tables(bind=None) -> None:\n    SQLModel.metadata.create_all(bind)")])
    found = failures(grade_files(CHAPTER, files))
    assert "create-tables-defined" not in found
    check = found["tables-at-startup"]
    assert check.diagnosis == "startup-error"
    assert (check.file, check.line) == ("database.py", line_of(files["database.py"], "create_all(bind)"))



def test_check_same_thread_given_through_a_name_is_judged_by_the_connection_it_opens(grade_files):
    files = changed(database=[('connect_args = {"check_same_thread": False}',
                               'SHARED = True\nconnect_args = {"check_same_thread": SHARED}')])
    found = failures(grade_files(CHAPTER, files))
    assert "engine-created" not in found
    assert found["engine-configured"].diagnosis == "check-same-thread"


# -- equivalent code passes -----------------------------------------------------------------------------------------
EQUIVALENT = {
    "check_same_thread given another false value, which sqlite3 reads the same": dict(database=[
        ('{"check_same_thread": False}', '{"check_same_thread": 0}')]),
    "create_db_and_tables given the engine as a parameter's default": dict(database=[
        ("def create_db_and_tables() -> None:\n    SQLModel.metadata.create_all(engine)",
         "def create_db_and_tables(bind=engine) -> None:\n    SQLModel.metadata.create_all(bind)")]),
    "the tables created through a table model's metadata, the same MetaData": dict(database=[
        ("from sqlmodel import SQLModel, create_engine",
         "from sqlmodel import SQLModel, create_engine\n\nfrom models import Hero"),
        ("SQLModel.metadata.create_all(engine)", "Hero.metadata.create_all(engine)")]),
    "the lifespan wrapped by a call of asynccontextmanager": dict(main=[
        ("@asynccontextmanager\nasync def lifespan(app: FastAPI):", "async def _lifespan(app: FastAPI):"),
        ("app = FastAPI(lifespan=lifespan)",
         "lifespan = asynccontextmanager(_lifespan)\napp = FastAPI(lifespan=lifespan)")]),
    "the lifespan hands create_db_and_tables to a thread": dict(main=[
        ("from contextlib", "import asyncio\nfrom contextlib"),
        (LIFESPAN_BODY, "    await asyncio.to_thread(create_db_and_tables)\n    yield\n")]),
    "a script entry point under __main__ creates the tables": dict(database=[
        ("    SQLModel.metadata.create_all(engine)\n",
         '    SQLModel.metadata.create_all(engine)\n\n\nif __name__ == "__main__":\n    create_db_and_tables()\n')]),
    "the database file is built from the module's own folder": dict(database=[
        ("from sqlmodel", "from pathlib import Path\n\nfrom sqlmodel"),
        ('f"sqlite:///{sqlite_file_name}"', 'f"sqlite:///{Path(__file__).parent / sqlite_file_name}"')]),
    "a URL object instead of a string": dict(database=[
        ("from sqlmodel", "from sqlalchemy import URL\nfrom sqlmodel"),
        ('f"sqlite:///{sqlite_file_name}"', 'URL.create("sqlite", database=sqlite_file_name)')]),
    "connect_args merged from another dict": dict(database=[
        ('connect_args = {"check_same_thread": False}',
         'base = {"timeout": 15}\nconnect_args = {**base, "check_same_thread": False}')]),
    "the primary key given as its own column": dict(models=[
        ("from sqlmodel import", "from sqlalchemy import Column, Integer\nfrom sqlmodel import"),
        ("id: int | None = Field(default=None, primary_key=True)",
         "id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))")]),
    "an annotated engine and an explicit table name": dict(
        database=[("from sqlmodel", "from sqlalchemy import Engine\nfrom sqlmodel"),
                  ("engine = ", "engine: Engine = ")],
        models=[("table=True):\n", 'table=True):\n    __tablename__ = "heroes"\n')]),
}


@pytest.mark.parametrize("edits", EQUIVALENT.values(), ids=EQUIVALENT.keys())
def test_equivalent_code_passes(grade_files, edits):
    report = grade_files(CHAPTER, changed(**edits))
    assert [(c.id, c.message) for c in report.checks if c.status != "pass"] == []


# -- clean text -----------------------------------------------------------------------------------------------------
def test_no_known_mistake_prints_its_location_twice_or_pattern_syntax(graded):
    for variant in mistakes(CHAPTER):
        for check in failures(graded(variant)).values():
            said = f"{variant.name}/{check.id}: {check.message}"
            if check.line is not None:
                assert not re.search(rf"\(line {check.line}\)|line {check.line}:", check.message), said
            # a template placeholder opens with `{{` (a JSON body the app answered may close two objects with `}}`)
            assert not re.search(r"\*\*_|\(_\b|\b_\)|\{\{|/tmp/", check.message), said
