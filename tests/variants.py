"""Every chapter's variants (grader.variants): its known mistakes and the corpus kept with the tests.

The corpus of a chapter is `tests/corpus/chapter-N/`: our own variants at the top, and the
examiners' (written by people who read only the lesson, starter and solution) in sub-folders:
`examined/` (set A, what the grader was tuned on), `held-back/` (set B, measured before it was
tuned on) and `examined-c/` (set C, chapters 4-7 after the one-app rewrite, measured before any
change).
"""

from __future__ import annotations

from pathlib import Path

from conftest import CORPUS, ROOT
from grader.content import CHAPTER_ID, chapter_ids, tree_files
from grader.variants import SUFFIX, Variant, read_variant, read_variants

CHAPTERS = chapter_ids(ROOT)
SETS = ("", "examined", "held-back", "examined-c")
"""The corpus's folders under tests/corpus/chapter-N/ ("": our own)."""


def mistakes(chapter: str) -> list[Variant]:
    return read_variants(ROOT / "chapters" / chapter / "mistakes")


def corpus(chapter: str, which: str | None = None) -> list[Variant]:
    """The corpus of `chapter`: one set of SETS, or all of them."""
    return [v for s in (SETS if which is None else (which,)) for v in read_variants(CORPUS / chapter / s)]


def chapter_variants(chapter: str) -> list[Variant]:
    return mistakes(chapter) + corpus(chapter)


def mistake(chapter: str, name: str) -> Variant:
    return read_variant(ROOT / "chapters" / chapter / "mistakes" / (name + SUFFIX))


def label(variant: Variant) -> str:
    """chapter-N/mistakes/NAME or chapter-N/corpus[/SET]/NAME."""
    parts = variant.path.relative_to(ROOT).parts
    if parts[0] == "chapters":
        return f"{parts[1]}/mistakes/{variant.name}"
    return "/".join((parts[2], "corpus", *parts[3:-1], variant.name))


def chapter_of(variant: Variant) -> str:
    """The chapter a variant belongs to: the `chapter-N` folder it sits in."""
    return next(part for part in reversed(variant.path.parts) if CHAPTER_ID.match(part))


def files_of(variant: Variant) -> dict[str, str]:
    """The whole submission the variant stands for: the chapter's solution, patched."""
    solution = ROOT / "solutions" / chapter_of(variant)
    return variant.apply({name: p.read_text() for name, p in tree_files(solution).items()})


def source(variant: Variant, name: str) -> str:
    return files_of(variant)[name]


def line_of(text: str, needle: str, after: str = "") -> int:
    """The line of the first `needle` in `text` (after the first `after`)."""
    start = text.index(after) if after else 0
    return text[:text.index(needle, start)].count("\n") + 1


def write(files: dict[str, str], folder: Path) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder
