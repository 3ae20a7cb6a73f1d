"""Chapter 4's static checks: a sessionmaker, a get_db that commits, rolls back and closes, and a
SessionDep that runs get_db's exit code before the response is sent."""

import libcst as cst

from grader.static import (
    all_of,
    argument,
    assignment,
    calls_to,
    check,
    defined_after,
    endpoints,
    failed,
    function,
    imported,
    is_generator,
    passed,
    refers_to,
    walk,
    yields,
    yields_inside,
)

OPENERS = ("SessionLocal(...)", "SessionLocal.begin(...)")
SESSION_DEP = (
    'typing.Annotated[sqlmodel.Session, fastapi.Depends(get_db, scope="function", **_)]',
    'typing.Annotated[sqlmodel.Session, fastapi.Depends(dependency=get_db, scope="function", **_)]',
)
TRANSACTION_CALLS = ("commit", "rollback", "close")


def method_calls(root, method):
    """Calls `x.method(...)` below `root`, not inside nested functions."""
    return [n for n in walk(root, into_nested=False) if isinstance(n, cst.Call)
            and isinstance(n.func, cst.Attribute) and n.func.attr.value == method]


def inside(src, node, block):
    return node is block or any(a is block for a in src.ancestors(node))


@check("sessionmaker-imported")
def sessionmaker_imported(src):
    return imported(src, "sqlalchemy.orm.sessionmaker")


@check("sessionlocal-defined")
def sessionlocal_defined(src):
    found = assignment(src, "SessionLocal")
    if not found:
        return found
    call = found.node
    line = found.line
    if not (isinstance(call, cst.Call) and refers_to(src, call.func, "sqlalchemy.orm.sessionmaker")):
        return failed(f"`SessionLocal` is `{src.code(call)}` (line {line}); make it `sessionmaker(...)`",
                      line=line, diagnosis="not-sessionmaker")
    autocommit = argument(call, "autocommit")
    if autocommit is not None and src.code(autocommit) != "False":
        return failed(f"`autocommit={src.code(autocommit)}` (line {line}): SQLAlchemy 2 has no autocommit mode any more "
                      "and refuses anything but False; write `autocommit=False` or leave it out",
                      line=line, diagnosis="autocommit-true")
    bind = argument(call, "bind")
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    bound = bind if bind is not None else positional[0] if positional else None
    if bound is None or not refers_to(src, bound, "engine"):
        shown = src.code(bound) if bound is not None else "nothing"
        return failed(f"`SessionLocal` is bound to {shown} (line {line}); bind it to the module's engine: "
                      "`bind=engine`", line=line, diagnosis="wrong-bind")
    made = argument(call, "class_")
    if made is None:
        return failed(f"`SessionLocal` (line {line}) makes plain SQLAlchemy sessions, which have no `exec()`; "
                      "add `class_=Session` so it makes SQLModel sessions", line=line, diagnosis="no-session-class")
    if not refers_to(src, made, "sqlmodel.Session"):
        return failed(f"`class_={src.code(made)}` (line {line}) is not SQLModel's Session; import `Session` from "
                      "sqlmodel and pass `class_=Session`", line=line, diagnosis="wrong-session-class")
    return defined_after(src, "SessionLocal", "engine")


@check("get-db-defined")
def get_db_defined(src):
    found = function(src, "get_db")
    if not found:
        return found.otherwise("{message}: add `def get_db():` below `SessionLocal`")
    return is_generator(src, found.node)


def guards(src, fn):
    """The try statements whose body holds get_db's yield, innermost first."""
    ys = yields(src, fn)
    if not ys:
        return []
    return [a for a in src.ancestors(ys[0]) if isinstance(a, cst.Try) and inside(src, ys[0], a.body)]


@check("get-db-closes")
def get_db_closes(src):
    fn = function(src, "get_db").node
    found = yields_inside(src, fn, OPENERS)
    own = calls_to(src, ("sqlmodel.Session", "sqlalchemy.orm.Session"), within=fn) if found.ok and found.node is None \
        else []
    if own:  # a shape the block leaves to the behavioural checks, but the lesson asks for the factory
        found = failed(f"`{src.code(own[0])}` makes a session without the factory", line=src.line(own[0]))
    if found.diagnosis == "not-opened" or own:
        return found.otherwise("get_db must make its session with the factory: `db = SessionLocal()`, then "
                               "`yield db` inside `try:` with `db.close()` in `finally:`",
                               diagnosis="not-from-sessionlocal")
    if found or found.diagnosis not in {"close-without-finally", "never-closed"} or guards(src, fn):
        return found
    y = yields(src, fn)[0]
    commits = [c for c in method_calls(fn.body, "commit") if src.line(c) > src.line(y)]
    if not commits:
        return found
    return failed(f"`db.commit()` (line {src.line(commits[0])}) follows the yield with no error handling: when the "
                  "endpoint raises, the exception stops get_db at the yield, so nothing rolls back and the session "
                  "is never closed. Put the yield and the commit in `try:`, roll back and `raise` in "
                  "`except Exception:`, and close in `finally:`", line=src.line(commits[0]),
                  diagnosis="commit-without-error-handling")


def transaction_block(src, fn):
    """A `with ....begin():` around the yield: it commits and rolls back by itself."""
    y = yields(src, fn)[0]
    for a in src.ancestors(y):
        if isinstance(a, cst.With) and any(
                isinstance(i.item, cst.Call) and isinstance(i.item.func, cst.Attribute)
                and i.item.func.attr.value == "begin" for i in a.items):
            return a
    return None


@check("get-db-commits")
def get_db_commits(src):
    fn = function(src, "get_db").node
    y = yields(src, fn)[0]
    if transaction_block(src, fn) is not None:
        return passed("a `begin()` block commits when the endpoint succeeds")
    commits = method_calls(fn.body, "commit")
    if not commits:
        return failed("get_db never commits, so closing the session throws away everything the endpoint did: "
                      "call `db.commit()` right after `yield db`", line=src.line(y), diagnosis="no-commit")
    around = guards(src, fn)
    for call in commits:
        line = src.line(call)
        if line < src.line(y):
            return failed(f"`{src.code(call)}` (line {line}) runs before the yield, before the endpoint has done "
                          "anything; move it right after `yield db`", line=line, diagnosis="commit-before-yield")
        for guard in around:
            if guard.finalbody is not None and inside(src, call, guard.finalbody):
                return failed(f"`{src.code(call)}` (line {line}) is in `finally:`, so it also runs when the endpoint "
                              "failed and saves half its work; commit inside `try:`, right after the yield",
                              line=line, diagnosis="commit-in-finally")
            if any(inside(src, call, handler) for handler in guard.handlers):
                return failed(f"`{src.code(call)}` (line {line}) is in an `except` block: it saves the work of an "
                              "endpoint that failed; roll back there instead", line=line, diagnosis="commit-on-error")
            if guard.finalbody is not None and src.line(call) > src.line(guard.finalbody):
                return failed(f"`{src.code(call)}` (line {line}) comes after the `finally:` block has closed the "
                              "session, so there is nothing left to commit; move it right after `yield db`",
                              line=line, diagnosis="commit-after-close")
    return passed("get_db commits after the yield")


def catches_everything(src, handler):
    kind = handler.type
    return kind is None or refers_to(src, kind, "BaseException")


@check("get-db-reraises")
def get_db_reraises(src):
    fn = function(src, "get_db").node
    for guard in guards(src, fn):
        for handler in guard.handlers:
            if any(isinstance(n, cst.Raise) for n in walk(handler.body, into_nested=False)):
                continue
            line = src.line(handler)
            if catches_everything(src, handler):
                return failed(f"the bare `except:` on line {line} catches the endpoint's error (and even the signal "
                              "that closes the generator) and never re-raises it, so FastAPI answers as if nothing "
                              "went wrong; write `except Exception:` and end the block with `raise`",
                              line=line, diagnosis="bare-except-swallows")
            return failed(f"`{src.code(handler.type)}` is caught on line {line} but never re-raised: the error "
                          "stops inside get_db, and the client gets a wrong answer instead of the endpoint's "
                          "error; end the except block with `raise`", line=line, diagnosis="swallowed-error")
    return passed("get_db lets errors through")


def depends_call(src, node):
    return next((n for n in walk(node) if isinstance(n, cst.Call) and refers_to(src, n.func, "fastapi.Depends")), None)


@check("sessiondep-scope")
def sessiondep_scope(src):
    shape = assignment(src, "SessionDep", SESSION_DEP)
    if not shape.ok and shape.node is not None:
        depends = depends_call(src, shape.node)
        if depends is not None and depends.args:
            given = depends.args[0].value
            scope = argument(depends, "scope")
            line = src.line(depends)
            if isinstance(given, cst.Call):
                shape = shape.otherwise(f"`{src.code(depends)}` (line {line}) calls the function; give `Depends` "
                                        "the function itself: `Depends(get_db, scope=\"function\")`",
                                        diagnosis="depends-called")
            elif not refers_to(src, given, "get_db"):
                shape = shape.otherwise(f"`SessionDep` still depends on `{src.code(given)}` (line {line}); make it "
                                        "`Depends(get_db, scope=\"function\")`", diagnosis="not-get-db")
            elif scope is None:
                shape = shape.otherwise(f"`{src.code(depends)}` (line {line}) uses the default scope: FastAPI runs the "
                                        "code after the yield once the response is sent, so a commit that fails "
                                        "still answers 200; add `scope=\"function\"`", diagnosis="default-scope")
            elif src.code(scope).strip("'\"") != "function":
                shape = shape.otherwise(f"`scope={src.code(scope)}` (line {line}); the commit must run before the "
                                        "response is sent: `scope=\"function\"`", diagnosis="wrong-scope")
    return all_of(shape, defined_after(src, "SessionDep", "get_db")) if shape.ok else shape


@check("endpoints-leave-commit")
def endpoints_leave_commit(src):
    found = endpoints(src)
    if not found:
        return failed(f"{src.name} defines no endpoints: keep the five heroes endpoints of the starter",
                      diagnosis="no-endpoints")
    for endpoint in found:
        for method in TRANSACTION_CALLS:
            calls = method_calls(endpoint.node.body, method)
            if calls:
                call = calls[0]
                advice = ("replace it with `session.flush()`" if method == "commit"
                          else "remove it")
                return failed(f"{endpoint.label} calls `{src.code(call)}` (line {src.line(call)}): get_db owns the "
                              f"transaction now; {advice}", line=src.line(call), diagnosis=f"{method}-in-endpoint")
    return passed("the endpoints leave the transaction to get_db")
