"""Every name a graded file reads is defined: the engine's first check finds the names nothing binds, says
what to do (the import to add, the spelling meant) and points where the fix goes; every other check waits."""

from __future__ import annotations

import textwrap

import pytest

from conftest import ROOT
from grader.static import Source
from grader.static.imports import module_imports
from grader.static.names import TAUGHT, undefined_names
from grader.static.source import load_sources


def src(code: str, name: str = "database.py") -> Source:
    return Source.from_text(textwrap.dedent(code).strip() + "\n", name)


def names(code: str) -> list[tuple[str, int, int]]:
    """(name, line of the use, line of the fix) for each undefined name."""
    return [(u.name, u.line, u.fix_line) for u in undefined_names(src(code))]


# -- what is not an undefined name ------------------------------------------------------------------------
@pytest.mark.parametrize("code", [
    "print(len([1]), True, None, __name__, __file__, __doc__)",  # builtins and module attributes
    "def f():\n    return later()\n\ndef later():\n    return 1",  # bound below its use: order is not this check's
    "x = [y for y in range(3) if y]\nz = {k: v for k, v in {}.items()}",  # comprehensions
    "try:\n    pass\nexcept Exception as exc:\n    print(exc)",
    "if (n := 3):\n    print(n)",
    "match 1:\n    case [a, *rest]:\n        print(a, rest)\n    case {'k': v, **more}:\n        print(v, more)\n"
    "    case int() as whole:\n        print(whole)",  # match captures (libcst's scopes miss them)
    "from __future__ import annotations\n\ndef f(x: Undefined) -> AlsoUndefined:\n    return x",  # never evaluated
    "def f():\n    local: Undefined = 1\n    return local",  # a local annotation is never evaluated
    "x: 'Undefined' = 1",  # a string annotation
    "class C:\n    name = __qualname__ + __module__",
    "def f():\n    global g\n    g = 1\n\ndef h():\n    return g",
    "from sqlmodel import *\nengine = create_engine('sqlite://')",  # a star import that cannot be listed: not judged
    "import os.path\nprint(os.path.join('a', 'b'))",
])
def test_defined_names_and_what_is_not_a_read_pass(code):
    assert names(code) == []


# -- what is ------------------------------------------------------------------------------------------------
def test_a_misspelt_name_is_reported_at_its_use_with_the_spelling_meant():
    found = undefined_names(src("""
        from sqlmodel import Session
        engine = 1
        def get_session():
            with Sesion(engine) as session:
                yield session
    """))
    assert [(u.name, u.line, u.column, u.fix_line) for u in found] == [("Sesion", 4, 10, 4)]
    assert found[0].message == "`Sesion` is not defined: did you mean `Session`?"


@pytest.mark.parametrize("code, meant", [
    ("class Hero:\n    table = true", "True"),
    ("from sqlmodel import Session\nx = Sesion", "Session"),  # not `session`: the first letter's case counts
    ("def get_session():\n    pass\nx = get_sesion", "get_session"),
    ("x = Feild()", "Field"),  # a name the chapters import, not imported here
])
def test_the_closest_spelling_is_suggested(code, meant):
    [found] = undefined_names(src(code))
    assert f"did you mean `{meant}`" in found.message


def test_a_name_differing_only_in_case_is_no_suggestion():
    """`session` is not `Session` (a variable is not the class): the message says what is missing instead."""
    [found] = undefined_names(src("from sqlmodel import Session\ndef read(offset: int):\n    return session.get(1)\n"))
    assert "Session" not in found.message and "`read` has no parameter or variable of that name" in found.message


def test_a_taught_name_never_imported_points_at_where_the_import_goes():
    code = """
        import threading
        from typing import Annotated

        from fastapi import Depends

        _lock = threading.Lock()
        factory = asynccontextmanager(print)
        dep = Annotated[int, Depends(select)]
    """
    found = {u.name: u for u in undefined_names(src(code))}
    assert (found["asynccontextmanager"].line, found["asynccontextmanager"].fix_line) == (7, 2)  # after `from typing`
    assert found["asynccontextmanager"].message == ("`asynccontextmanager` (line 7) is used but never imported: add "
                                                    "`from contextlib import asynccontextmanager` to the imports")
    assert found["select"].fix_line == 4 and "`from sqlmodel import select`" in found["select"].message


def test_a_name_of_a_module_already_imported_from_is_added_to_that_import():
    [found] = undefined_names(src("import os\nfrom sqlmodel import create_engine\n\n\ndef f():\n    return SQLModel\n"))
    assert found.fix_line == 2 and found.message.endswith("add `SQLModel` to the `from sqlmodel import ...` line")


def test_a_module_never_imported():
    [found] = undefined_names(src("from typing import Annotated\n\nlock = threading.Lock()\n"))
    assert found.fix_line == 1 and "add `import threading` to the imports" in found.message


def test_a_function_defined_out_of_reach_points_at_its_definition():
    [found] = undefined_names(src("""
        def create_db_and_tables():
            def get_session():
                yield 1

        dep = get_session
    """))
    assert (found.line, found.fix_line) == (5, 2) and "inside `create_db_and_tables`" in found.message


def test_a_parameter_spelt_unlike_its_use_points_at_the_parameter():
    [found] = undefined_names(src("def update(hero_id, sesion):\n    return session.get(hero_id)\n"))
    assert (found.line, found.fix_line) == (2, 1) and "`update` has `sesion`" in found.message


def test_each_name_once_at_its_first_use_in_source_order():
    assert names("a = b\nc = d + b\n\ndef f():\n    return e\n") == [("b", 1, 1), ("d", 2, 2), ("e", 5, 5)]


def test_a_star_import_of_another_graded_file_is_listed(tmp_path):
    (tmp_path / "models.py").write_text("class Hero:\n    pass\n_private = 1\n")
    (tmp_path / "main.py").write_text("from models import *\nprint(Hero, Villain, _private)\n")
    sources, _problems = load_sources({"models.py": tmp_path / "models.py", "main.py": tmp_path / "main.py"})
    assert [u.name for u in undefined_names(sources["main.py"])] == ["Villain", "_private"]


# -- the table of taught names ------------------------------------------------------------------------------
def solution_imports() -> dict[str, set[str]]:
    """name -> the modules the reference solutions import it from (`import m` counts as name m)."""
    found: dict[str, set[str]] = {}
    for path in sorted(ROOT.glob("solutions/*/**/*.py")):
        for bound, qualified, _node in module_imports(Source.from_text(path.read_text(), path.name)):
            module, _, name = qualified.rpartition(".")
            if bound != "*" and not qualified.startswith("__future__"):
                found.setdefault(bound, set()).add(module if module and bound == name else qualified)
    return found


def test_the_taught_names_are_the_solutions_imports():
    imported = solution_imports()
    assert {name: {module} for name, module in TAUGHT.items()} == imported


def test_a_name_imported_twice_is_the_import_in_effect_where_it_is_used():
    import libcst as cst

    from grader.static import Source, walk

    src = Source.from_text("from sqlmodel import Session\nfirst = Session\nfrom sqlalchemy.orm import Session\n"
                           "second = Session\n\n\ndef later():\n    return Session\n", "database.py")
    uses = [n for n in walk(src.module) if isinstance(n, cst.Name) and n.value == "Session"
            and not isinstance(src.parent(n), cst.ImportAlias)]
    assert [(src.line(n), src.qualified_names(n)) for n in uses] == [
        (2, {"sqlmodel.Session"}), (4, {"sqlalchemy.orm.Session"}), (8, {"sqlalchemy.orm.Session"})]
