"""A chapter's `requires` (package versions it needs, e.g. `fastapi = ">=0.121"`), checked against what is
installed before anything is graded, so that a too-old package is named with the command that fixes it
instead of surfacing as a `TypeError` in a check."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from grader.content import ContentError
from grader.manifest import Chapter


@dataclass(frozen=True)
class Unmet:
    """One package of `requires` that is missing or outside its specifier."""

    package: str
    specifier: str
    installed: str | None
    """The installed version, or None when the package is not installed."""

    @property
    def wanted(self) -> str:
        return f"{self.package}{self.specifier}"

    def __str__(self) -> str:
        have = f"installed: {self.installed}" if self.installed else "not installed"
        return f"{self.wanted} ({have})"


class RequirementError(ContentError):
    """The installed packages do not meet a chapter's `requires`: a set-up error (exit status 2), not the
    learner's code."""

    def __init__(self, chapter_id: str, unmet: list[Unmet]):
        self.unmet = unmet
        super().__init__(requirement_message(chapter_id, unmet))


def unmet_requirements(requires: dict[str, str]) -> list[Unmet]:
    """The packages of `requires` whose installed version is missing or does not satisfy its specifier."""
    found = []
    for package, specifier in requires.items():
        try:
            installed: str | None = metadata.version(package)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or not _satisfies(installed, specifier):
            found.append(Unmet(package, specifier, installed))
    return found


def requirement_message(chapter_id: str, unmet: list[Unmet]) -> str:
    """`chapter-4 needs fastapi>=0.121 (installed: 0.120.1). Upgrade: pip install -U 'fastapi>=0.121'`."""
    needs = " and ".join(str(u) for u in unmet)
    command = " ".join(f"'{u.wanted}'" for u in unmet)
    return f"{chapter_id} needs {needs}. Upgrade: pip install -U {command}"


def require(chapter: Chapter) -> None:
    """Raise :class:`RequirementError` when the installed packages do not meet the chapter's `requires`."""
    unmet = unmet_requirements(chapter.requires)
    if unmet:
        raise RequirementError(chapter.id, unmet)


def _satisfies(installed: str, specifier: str) -> bool:
    try:
        return SpecifierSet(specifier).contains(Version(installed), prereleases=True)
    except InvalidVersion:
        return True  # a version we cannot read (a local build): let it try rather than refuse it
