"""Chapter 2's static checks: each one reads like a step of the lesson."""

from grader.static import (
    all_of,
    assignment,
    bindings,
    check,
    defined_after,
    failed,
    find_mismatch,
    function,
    imported,
    is_generator,
    module_functions,
    yields_inside,
)

# Spellings of "open a session on the module's engine" that all do the same thing.
OPEN_SESSION = ("sqlmodel.Session(engine, ...)", "sqlmodel.Session(bind=engine, **_)")
SESSION_DEP = "typing.Annotated[sqlmodel.Session, fastapi.Depends(get_session)]"
# Known slips in writing that alias: (what the value is, why it is wrong), each with hints of its own.
ALIAS_SLIPS = {
    "not-annotated": ("fastapi.Depends(...)", "An endpoint's `session: SessionDep` needs a type, and `Annotated` "
                      "pairs the type, `Session`, with the `Depends(...)` that makes it"),
    "no-depends": ("typing.Annotated[sqlmodel.Session, get_session]", "FastAPI calls only a function wrapped in "
                   "`Depends(...)` and ignores a bare one inside `Annotated`"),
    "depends-empty": ("typing.Annotated[sqlmodel.Session, fastapi.Depends()]", "An empty `Depends()` makes FastAPI "
                      "build the type, `Session`, itself, on no engine, instead of calling `get_session`"),
}


@check("imports")
def imports(src):
    return all_of(
        imported(src, "sqlmodel.Session"),
        imported(src, "typing.Annotated"),
        imported(src, "fastapi.Depends"),
    )


@check("get-session-defined")
def get_session_defined(src):
    found = function(src, "get_session")
    if found.ok and found.node.asynchronous is not None:
        return failed("`get_session` is an `async def`, but the `Session` it opens is synchronous: write it as a "
                      "plain `def`. FastAPI runs a plain `def` dependency in a worker thread; an `async def` one runs "
                      "on the event loop, where the session's blocking database work (closing it included) would "
                      "hold up every other request", line=src.line(found.node), diagnosis="async-def",
                      node=found.node)
    if found.ok or found.diagnosis != "missing":
        return found
    # The right generator under another name is a common slip: say which function it is.
    for name, fn in module_functions(src).items():
        recognised = yields_inside(src, fn, OPEN_SESSION)
        if recognised.ok and recognised.node is not None:
            return failed(f"`{name}` looks like the session generator, but it must be called `get_session`: "
                          "that is the name the endpoints import", line=src.line(fn), diagnosis="misnamed")
    return found.otherwise("no function `get_session` is defined at the top level of database.py: the endpoints "
                           "import it to get their session; define it there, as a generator")


@check("get-session-yields")
def get_session_yields(src):
    return is_generator(src, function(src, "get_session").node)


@check("yield-inside-with")
def yield_inside_with(src):
    return yields_inside(src, function(src, "get_session").node, OPEN_SESSION)


@check("sessiondep-defined")
def sessiondep_defined(src):
    shape = assignment(src, "SessionDep", SESSION_DEP)
    if shape.diagnosis == "missing":
        # The right alias under another name is a common slip: say which one it is.
        for name, bound in bindings(src).items():
            stmt, value = bound[-1]
            if value is not None and find_mismatch(src, value, SESSION_DEP) is None:
                return failed(f"`{name}` looks like the session alias, but it must be called `SessionDep`: that is "
                              "the name the endpoints import", line=src.line(stmt), diagnosis="misnamed")
        return shape.otherwise("`SessionDep` is not defined at the top level of database.py: the endpoints import "
                               "it to ask for a session; define it below `get_session`")
    if shape.diagnosis in ("not-module-level", "misnamed"):
        return shape  # the name is not where it belongs: nothing more to say about its place or value
    slip = next((slip for slip, (value, _why) in ALIAS_SLIPS.items()
                 if shape.diagnosis == "pattern-mismatch" and find_mismatch(src, shape.node, value) is None), None)
    if slip is not None:
        shape = shape.otherwise(f"{{message}}. {ALIAS_SLIPS[slip][1]}", diagnosis=slip)
    if shape.diagnosis == "called-not-passed":
        shape = shape.otherwise("{message}. `Depends` wants the function so that FastAPI can call it once per "
                                "request; `get_session()` would run it once, now, and hand over a generator",
                                diagnosis="depends-called")
    return all_of(shape, defined_after(src, "SessionDep", "get_session"))

