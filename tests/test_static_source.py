"""`Source` records every node's parent and children in one traversal; they must be libcst's own."""

from __future__ import annotations

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, ParentNodeProvider

from conftest import ROOT
from grader.static.source import Source, _walk_children, load_sources, syntax_problem, walk
from variants import CHAPTERS, chapter_variants, files_of, label

FILES = {str(p.relative_to(ROOT)): p.read_text() for p in sorted({*ROOT.glob("solutions/*/*.py"),
                                                                   *ROOT.glob("starter/*/*.py")})}
FILES.update({f"{label(v)}:{patch.name}": files_of(v)[patch.name] for chapter in CHAPTERS
              for v in chapter_variants(chapter) for patch in v.patches
              if not patch.removed and patch.name.endswith(".py")
              and syntax_problem(files_of(v)[patch.name], patch.name) is None})
# (the corpus's deliberate syntax errors are left out)
FIRST = {}
for _name, _text in FILES.items():
    FIRST.setdefault(_text, _name)
DISTINCT = {name: text for text, name in FIRST.items()}
"""Each distinct text once, under the first name that has it (a variant that leaves a file as the solution
has it repeats the solution's text; walking the same text twice proves nothing more)."""


@pytest.mark.parametrize("name", DISTINCT)
def test_walk_and_parents_are_libcsts(name):
    src = Source.from_text(DISTINCT[name], name.rsplit("/", 1)[-1])
    for into_nested in (True, False):
        recorded = list(walk(src.module, into_nested=into_nested))
        assert recorded and all(a is b for a, b in zip(recorded, _walk_children(src.module, into_nested), strict=True))
    parents = MetadataWrapper(src.module, unsafe_skip_copy=True).resolve(ParentNodeProvider)
    assert len(parents) == len(recorded := list(walk(src.module)))
    assert all(src.parent(node) is parents[node] for node in recorded)


def test_nodes_of_other_trees_are_walked_too():
    """A node no `Source` recorded (built by hand, or of an old source) is walked through libcst."""
    node = cst.parse_expression("f(a, b=[1, 2])")
    assert [type(n).__name__ for n in walk(node)] == [type(n).__name__ for n in libcst_visit_order(node)[1:]]
    assert any(isinstance(n, cst.List) for n in walk(node))


def libcst_visit_order(node: cst.CSTNode) -> list[cst.CSTNode]:
    """Every node of the tree in the order libcst's own visitor meets them, `node` first."""
    seen: list[cst.CSTNode] = []

    class Collect(cst.CSTVisitor):
        def on_visit(self, visited: cst.CSTNode) -> bool:
            seen.append(visited)
            return True

    node.visit(Collect())
    return seen


def test_a_file_saved_with_a_bom_is_read_as_the_same_code(tmp_path):
    """Batch grading reads students' files as they are; a BOM must not become a syntax error at line 1."""
    path = tmp_path / "database.py"
    path.write_bytes(b"\xef\xbb\xbfimport sqlmodel\n\nx = 1\n")
    sources, problems = load_sources({"database.py": path})
    assert problems == {}
    assert sources["database.py"].text.startswith("import sqlmodel")
