"""What an integrity flag says, shared by the static detector (`grader.static.integrity`, in the
parent) and the child's audit hook (`grader.sandbox.guard`), so one reach seen by both is reported once."""

FRAMES = "reads the test harness's frames"
GC = "searches the grader's objects in memory (gc)"
MODULES = "reaches the grader's modules through sys.modules"
AUDIT = "tampers with the grader's audit hook"
PIPE = "writes to the grader's record pipe (file descriptor 3)"
RAW_FD = "writes to a file descriptor by number (the grader's record pipe is one)"
CLASS = "changes an object's class (`__class__` assignment)"
IMPORTS = "imports the grader"

LIBRARIES = frozenset({"sqlmodel", "sqlalchemy", "fastapi", "starlette", "pydantic", "pytest", "_pytest"})
"""Libraries the checks rely on: changing their attributes changes what the checks see."""


def patches(library: str, attribute: str) -> str:
    return f"patches the library {library} (`{attribute}`)"
