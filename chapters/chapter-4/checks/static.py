"""Chapter 4's static checks: a sessionmaker, a get_session that commits, rolls back and closes, and a
SessionDep that runs get_session's exit code before the response is sent.

They fail only on positive evidence of a known mistake; a shape they do not read (the transaction
written in a helper get_session calls, say) passes, and the behavioural checks judge it.
"""

from __future__ import annotations

import difflib

import libcst as cst

from grader.static import (
    all_of,
    argument,
    assignment,
    calls_to,
    check,
    defined_after,
    endpoints,
    endpoints_owning_transactions,
    failed,
    function,
    imported,
    is_generator,
    module_functions,
    module_imports,
    passed,
    refers_to,
    resolved,
    TRANSACTION_CALLS,
    walk,
    yields,
    yields_inside,
)

OPENERS = ("SessionLocal(...)", "SessionLocal.begin(...)")
SESSION_DEP = 'typing.Annotated[sqlmodel.Session, fastapi.Depends(get_session, scope="function", **_), ...]'
"""Other metadata after the Depends is FastAPI's business, not this chapter's."""
SESSIONMAKER_KEYWORDS = frozenset({
    "bind", "class_", "autoflush", "expire_on_commit", "info",
    "future", "autobegin", "twophase", "binds", "enable_baked_queries", "query_cls", "autocommit",
    "join_transaction_mode", "close_resets_only", "execution_options",
})
"""What `sessionmaker(...)` accepts: its own parameters and the Session parameters it hands to every session
(tests/test_chapter4_checks.py holds this to the installed SQLAlchemy)."""
CONTEXT_HELPERS = ("contextlib.contextmanager",)
OLD_NAME = "get_db"
"""What older tutorials call the dependency; this course keeps `get_session`."""
DEPTH = 3
"""How far a check follows helper functions."""
TYPO = 0.7
"""How close a method name must be to the one meant to count as its misspelling (no real Session method is)."""


# -- reading get_session -----------------------------------------------------------------------------------------------
def method_calls(root: cst.CSTNode, method: str) -> list[cst.Call]:
    """Calls `x.method(...)` below `root`, not inside nested functions."""
    return [n for n in walk(root, into_nested=False) if isinstance(n, cst.Call)
            and isinstance(n.func, cst.Attribute) and n.func.attr.value == method]


def inside(src, node, block) -> bool:
    return node is block or any(a is block for a in src.ancestors(node))


def helper_of(src, call: cst.CSTNode) -> cst.FunctionDef | None:
    """The module-level function that `call` (`helper(...)`) calls."""
    if isinstance(call, cst.Call) and isinstance(call.func, cst.Name):
        return module_functions(src).get(call.func.value)
    return None


def reached(src, fn: cst.FunctionDef) -> list[cst.FunctionDef]:
    """`fn`, then the module-level functions it calls, directly or through each other."""
    found = [fn]
    for _ in range(DEPTH):
        new = [h for f in found for n in walk(f.body, into_nested=False)
               if (h := helper_of(src, n)) is not None and h not in found]
        if not new:
            break
        found += list(dict.fromkeys(new))
    return found


def transaction_function(src, fn: cst.FunctionDef, depth: int = DEPTH) -> cst.FunctionDef:
    """Where get_session's transaction is written: get_session itself, or the module-level helper that yields the
    session for it (`with session_scope() as session: yield session` of a `@contextmanager` helper, or
    `yield from helper()`)."""
    found = yields(src, fn)
    if not found or depth <= 0:
        return fn
    y = found[0]
    if isinstance(y.value, cst.From):
        helper = helper_of(src, y.value.item)
        return transaction_function(src, helper, depth - 1) if helper is not None and yields(src, helper) else fn
    for block in src.ancestors(y):
        if block is fn:
            break
        if not isinstance(block, cst.With):
            continue
        for item in block.items:
            helper = helper_of(src, item.item)
            if helper is not None and yields(src, helper) and any(
                    refers_to(src, d.decorator, h) for d in helper.decorators for h in CONTEXT_HELPERS):
                return transaction_function(src, helper, depth - 1)
    return fn


def guards(src, fn):
    """The try statements whose body holds the function's yield, innermost first."""
    ys = yields(src, fn)
    if not ys:
        return []
    return [a for a in src.ancestors(ys[0]) if isinstance(a, cst.Try) and inside(src, ys[0], a.body)]


def misspelt(src, fn: cst.FunctionDef, method: str) -> cst.Call | None:
    """A call `x.m(...)` in `fn` whose `m` is a misspelling of `method` (`session.comit()` for commit)."""
    for call in walk(fn.body, into_nested=False):
        if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value != method
                and difflib.SequenceMatcher(None, call.func.attr.value.lower(), method).ratio() >= TYPO):
            return call
    return None


def typo(src, call: cst.Call, method: str, consequence: str, diagnosis: str):
    receiver = src.code(call.func.value)
    return failed(f"`{src.code(call)}`: a session has no method `{call.func.attr.value}`, so this line raises "
                  f"AttributeError and {consequence}; did you mean `{receiver}.{method}()`?",
                  line=src.line(call), diagnosis=diagnosis, node=call)


# -- the checks -----------------------------------------------------------------------------------------------------
@check("sessionmaker-imported")
def sessionmaker_imported(src):
    return imported(src, "sqlalchemy.orm.sessionmaker")


def factory_arguments(src, call: cst.Call) -> dict[str, cst.Arg]:
    """The keyword arguments the factory is given: by `sessionmaker(...)` and any later module-level
    `SessionLocal.configure(...)`; a positional first argument is `bind`."""
    given = {a.keyword.value: a for a in call.args if a.keyword is not None}
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if positional:
        given.setdefault("bind", positional[0])
    for n in walk(src.module, into_nested=False):
        if (isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == "configure"
                and isinstance(n.func.value, cst.Name) and n.func.value.value == "SessionLocal"):
            given.update({a.keyword.value: a for a in n.args if a.keyword is not None})
    return given


def import_of(src, name: cst.CSTNode) -> tuple[str, cst.CSTNode] | None:
    """(qualified name, import statement) of the module-level import that binds a plain name."""
    if not isinstance(name, cst.Name):
        return None
    found = [(q, n) for bound, q, n in module_imports(src) if bound == name.value]
    return found[-1] if found else None


@check("sessionlocal-defined")
def sessionlocal_defined(src):
    found = assignment(src, "SessionLocal")
    if not found:
        return found
    call = found.node
    line = found.line
    if not (isinstance(call, cst.Call) and refers_to(src, call.func, "sqlalchemy.orm.sessionmaker")):
        return failed(f"`SessionLocal` is `{src.code(call)}`, not a factory of sessions: make it with "
                      "`sessionmaker(...)`", line=line, diagnosis="not-sessionmaker")
    given = factory_arguments(src, call)
    autocommit = given.get("autocommit")
    if autocommit is not None and src.code(autocommit.value) != "False":
        return failed(f"`autocommit={src.code(autocommit.value)}`: SQLAlchemy 2 has no autocommit mode any more, and "
                      "refuses to make a session with anything but False, the default: remove the argument",
                      line=src.line(autocommit), diagnosis="autocommit-true")
    for keyword, arg in given.items():
        if keyword not in SESSIONMAKER_KEYWORDS:
            close = difflib.get_close_matches(keyword.lower(), sorted(SESSIONMAKER_KEYWORDS), n=1, cutoff=0.6)
            meant = f"; did you mean `{close[0]}`?" if close else ""
            return failed(f"`{keyword}=` is not a setting of `sessionmaker`: it hands it on to every session it "
                          f"makes, and creating one then fails with a TypeError{meant}", line=src.line(arg),
                          diagnosis="unknown-argument")
    if any(a.star for a in call.args):
        return passed("`SessionLocal` is a sessionmaker given its settings from a dict; the behavioural checks "
                      "judge them")
    bind = given.get("bind")
    if bind is None or not refers_to(src, bind.value, "engine"):
        shown = f"`{src.code(bind.value)}`" if bind is not None else "nothing"
        return failed(f"`SessionLocal` is bound to {shown}, so its sessions do not talk to the module's `engine` "
                      "(the one whose tables `create_db_and_tables` makes): bind it to `engine`",
                      line=src.line(bind) if bind is not None else line, diagnosis="wrong-bind")
    made = given.get("class_")
    if made is None:
        return failed("`SessionLocal` makes plain SQLAlchemy sessions, which have no `exec()` (the endpoints call "
                      "`session.exec(...)`): tell it to make SQLModel's sessions with `class_=`", line=line,
                      diagnosis="no-session-class")
    if not refers_to(src, made.value, "sqlmodel.Session"):
        origin = import_of(src, made.value)
        if origin is not None:
            return failed(f"`{made.value.value}` is imported from `{origin[0].rsplit('.', 1)[0]}` here, so "
                          f"`class_={made.value.value}` on line {src.line(made)} makes plain SQLAlchemy sessions, "
                          f"which have no `exec()`: import `{made.value.value}` from sqlmodel",
                          line=src.line(origin[1]), diagnosis="wrong-session-class")
        return failed(f"`class_={src.code(made.value)}` is not SQLModel's Session, so the sessions have no `exec()`: "
                      "pass `class_=Session` with `Session` from sqlmodel", line=src.line(made),
                      diagnosis="wrong-session-class")
    return defined_after(src, "SessionLocal", "engine")


def old_name(src, fn: cst.FunctionDef | None) -> cst.FunctionDef | None:
    """A module-level generator `get_db` (the older tutorials' name for this dependency) that `fn` does not call."""
    old = module_functions(src).get(OLD_NAME)
    if old is None or not yields(src, old) or (fn is not None and old in reached(src, fn)):
        return None
    return old


def names_commit(src, fn: cst.FunctionDef) -> bool:
    """`fn`, or a module-level helper it calls, names a `commit`."""
    return any(isinstance(n, cst.Attribute) and n.attr.value == "commit"
               for h in reached(src, fn) for n in walk(h.body, into_nested=False))


def shadowing(src) -> cst.FunctionDef | None:
    """The last of several module-level `def get_session`, when it does not commit but an earlier one does: the old
    dependency left below the new one, which it replaces."""
    defs = [n for n in src.module.body if isinstance(n, cst.FunctionDef) and n.name.value == "get_session"]
    if len(defs) > 1 and not names_commit(src, defs[-1]) and any(names_commit(src, d) for d in defs[:-1]):
        return defs[-1]
    return None


@check("get-session-defined")
def get_session_defined(src):
    found = function(src, "get_session")
    last = shadowing(src)
    if last is not None:
        return failed("a second `def get_session`: Python keeps the last definition, so this old one, which never "
                      "commits, replaces the get_session written above it; delete it", line=src.line(last),
                      diagnosis="defined-twice", node=last)
    old = old_name(src, found.node if found else None)
    if old is not None:
        beside = " beside the old `get_session`" if found else ""
        return failed(f"`def {OLD_NAME}()` is written{beside}: `{OLD_NAME}` is the name older tutorials give this "
                      "dependency, but this course keeps `get_session` (SessionDep, the grader and the next chapters "
                      f"use it); write the transaction in `get_session` and remove `{OLD_NAME}`", line=src.line(old),
                      diagnosis="named-get-db", node=old)
    if not found:
        return found.otherwise("{message}: add `def get_session():` below `SessionLocal`")
    return is_generator(src, found.node)


@check("get-session-closes")
def get_session_closes(src):
    fn = function(src, "get_session").node
    found = yields_inside(src, fn, OPENERS)
    own = calls_to(src, ("sqlmodel.Session", "sqlalchemy.orm.Session"), within=fn) if found.ok and found.node is None \
        else []
    if own:  # a shape the block leaves to the behavioural checks, but the lesson asks for the factory
        return failed(f"`{src.code(own[0])}` makes a session without the factory: get_session makes its session with "
                      "`SessionLocal()`, so that every session is configured the same way", line=src.line(own[0]),
                      diagnosis="not-from-sessionlocal")
    if found.diagnosis == "not-opened":
        return found.otherwise("{message}. get_session makes a new session with `SessionLocal()` on every call",
                               diagnosis="not-from-sessionlocal")
    if found.diagnosis == "never-closed":
        call = misspelt(src, fn, "close")
        if call is not None:
            return typo(src, call, "close", "the session is never closed", "misspelt-close")
    if found or found.diagnosis not in {"close-without-finally", "never-closed"} or guards(src, fn):
        return found
    y = yields(src, fn)[0]
    later = [t for t in walk(fn.body, into_nested=False) if isinstance(t, cst.Try) and src.line(t) > src.line(y)]
    if later:
        return failed(f"`{src.code(y)}` is outside the `try:` below it (line {src.line(later[0])}): when the endpoint "
                      "raises, the exception arrives at the yield and leaves get_session right there, so neither the "
                      "rollback nor the close runs; move the yield into the `try:`", line=src.line(y),
                      diagnosis="yield-outside-try")
    commits = [c for c in method_calls(fn.body, "commit") if src.line(c) > src.line(y)]
    if not commits:
        return found
    return failed(f"`{src.code(commits[0])}` follows the yield with no error handling: when the endpoint raises, the "
                  "exception stops get_session at the yield, so nothing rolls back and the session is never closed. Put "
                  "the yield and the commit in `try:`, roll back and `raise` in `except Exception:`, and close in "
                  "`finally:`", line=src.line(commits[0]), diagnosis="commit-without-error-handling")


def transaction_block(src, fn):
    """A `with ....begin():` around the yield: it commits and rolls back by itself."""
    y = yields(src, fn)[0]
    for a in src.ancestors(y):
        if isinstance(a, cst.With) and any(
                isinstance(i.item, cst.Call) and isinstance(i.item.func, cst.Attribute)
                and i.item.func.attr.value == "begin" for i in a.items):
            return a
    return None


def misplaced_commit(src, fn, call, y):
    """Why `call` (a commit of the transaction function) is in the wrong place, as a failed finding; None if
    it runs once the endpoint has succeeded."""
    line = src.line(call)
    code = src.code(call)
    if line < src.line(y):
        return failed(f"`{code}` runs before the yield, before the endpoint has done anything; the commit belongs "
                      "right after the yield", line=line, diagnosis="commit-before-yield")
    for guard in guards(src, fn):
        if guard.finalbody is not None and inside(src, call, guard.finalbody):
            return failed(f"`{code}` is in `finally:`, so it also runs when the endpoint failed and saves half its "
                          "work; commit inside `try:`, right after the yield", line=line, diagnosis="commit-in-finally")
        if any(inside(src, call, handler) for handler in guard.handlers):
            return failed(f"`{code}` is in an `except` block: it saves the work of an endpoint that failed; roll "
                          "back there instead", line=line, diagnosis="commit-on-error")
        if guard.finalbody is not None and line > src.line(guard.finalbody):
            return failed(f"`{code}` comes after the `finally:` block has closed the session, so there is nothing "
                          "left to commit; the commit belongs right after the yield", line=line,
                          diagnosis="commit-after-close")
    return None


@check("get-session-commits")
def get_session_commits(src):
    fn = transaction_function(src, function(src, "get_session").node)
    y = yields(src, fn)[0]
    if transaction_block(src, fn) is not None:
        return passed("a `begin()` block commits when the endpoint succeeds")
    commits = method_calls(fn.body, "commit")
    if not commits:
        call = misspelt(src, fn, "commit")
        if call is not None:
            return typo(src, call, "commit", "the endpoint's work is never saved", "misspelt-commit")
        if names_commit(src, fn):
            return passed("get_session commits in a way this check does not read (through a helper, or a name for "
                          "`db.commit`); the behavioural checks judge when")
        return failed(f"get_session never commits: when the endpoint succeeds, closing the session throws away everything "
                      f"it did; the commit belongs right after `{src.code(y)}`", line=src.line(y),
                      diagnosis="no-commit")
    wrong = [misplaced_commit(src, fn, call, y) for call in commits]
    always_wrong = [w for w in wrong if w is not None and w.diagnosis in {"commit-in-finally", "commit-on-error"}]
    if always_wrong:
        return always_wrong[0]
    if all(w is not None for w in wrong):  # a commit before the yield or after the close is harmless beside a right one
        return wrong[0]
    return passed("get_session commits after the yield")


def catches_everything(src, handler):
    kind = handler.type
    return kind is None or refers_to(src, kind, "BaseException")


def reraises(src, handler: cst.ExceptHandler, statement: cst.Raise) -> bool:
    """`statement` sends on what `handler` caught: a bare `raise`, `raise exc` (its `as` name), or anything this
    check cannot read; not a new exception (`raise HTTPException(...)`)."""
    exc = statement.exc
    if exc is None or not isinstance(exc, cst.Call):
        return True
    if isinstance(exc.func, cst.Attribute) and exc.func.attr.value == "with_traceback":
        return True
    return helper_of(src, exc) is not None


@check("get-session-reraises")
def get_session_reraises(src):
    fn = transaction_function(src, function(src, "get_session").node)
    for guard in guards(src, fn):
        for handler in guard.handlers:
            raises = [n for n in walk(handler.body, into_nested=False) if isinstance(n, cst.Raise)]
            if any(reraises(src, handler, r) for r in raises):
                continue
            caught = "the bare `except:`" if handler.type is None else f"`except {src.code(handler.type)}:`"
            if raises:
                new = raises[0].exc
                shown = f"{src.code(new.func)}(...)" if isinstance(new, cst.Call) else src.code(new)
                return failed(f"`raise {shown}` replaces the exception {caught} caught with a new one: an endpoint's "
                              "`HTTPException(404)` then reaches the client as this error instead, and the real "
                              "error is lost; send the caught exception on with a bare `raise`",
                              line=src.line(raises[0]), diagnosis="replaced-error")
            if catches_everything(src, handler):
                return failed(f"{caught} catches the endpoint's error (and even the signal that closes the generator) "
                              "and never re-raises it, so FastAPI answers as if nothing went wrong; catch "
                              "`Exception` and end the block with `raise`", line=src.line(handler),
                              diagnosis="bare-except-swallows")
            return failed(f"{caught} catches the endpoint's error and never re-raises it: the error stops inside "
                          "get_session, and the client gets a wrong answer instead of the endpoint's error; end the block "
                          "with `raise`", line=src.line(handler), diagnosis="swallowed-error")
    return passed("get_session lets errors through")


def depends_call(src, node):
    """The `Depends(...)` call in `node`, also behind a module-level alias (`_dep = Depends(get_session)`)."""
    for n in walk(node):
        n = resolved(src, n) if isinstance(n, cst.Name) else n
        if isinstance(n, cst.Call) and refers_to(src, n.func, "fastapi.Depends"):
            return n
    return None


@check("sessiondep-scope")
def sessiondep_scope(src):
    shape = assignment(src, "SessionDep", SESSION_DEP)
    if not shape.ok and shape.node is not None:
        depends = depends_call(src, shape.node)
        given = argument(depends, "dependency", 0) if depends is not None else None
        if given is not None:
            scope = argument(depends, "scope")
            line = src.line(depends)
            if isinstance(given, cst.Call):
                shape = failed(f"`{src.code(depends)}` calls `{src.code(given.func)}` once, when the module "
                               "loads, and hands `Depends` what that call returned; give `Depends` the "
                               "function itself, without parentheses", line=line, diagnosis="depends-called")
            elif not refers_to(src, given, "get_session"):
                shape = failed(f"`SessionDep` depends on `{src.code(given)}`, not on `get_session`: the "
                               "endpoints get sessions that get_session's commit, rollback and close never see",
                               line=line, diagnosis="not-get-session")
            elif scope is None and len([a for a in depends.args if a.keyword is None]) > 1:
                shape = failed(f"`{src.code(depends)}` passes a second argument by position, but `Depends` takes "
                               "`scope` by name only (Python refuses the call): write `scope=\"function\"`",
                               line=line, diagnosis="wrong-scope")
            elif scope is None:
                shape = failed(f"`{src.code(depends)}` uses the default scope: FastAPI runs get_session's code "
                               "after the yield once the response is sent, so a commit that fails still "
                               "answers 200; add `scope=\"function\"`", line=line, diagnosis="default-scope")
            elif src.code(scope).strip("'\"") != "function":
                shape = failed(f"`scope={src.code(scope)}` runs get_session's commit after the response is sent, "
                               "so a commit that fails still answers 200; the commit must run before: "
                               "`scope=\"function\"`", line=line, diagnosis="wrong-scope")
    return all_of(shape, defined_after(src, "SessionDep", "get_session")) if shape.ok else shape


def transaction_calls(src, fn):
    """(method, call, the function that makes it) for each commit, rollback and close that `fn` makes, itself
    first, then through the module-level helpers it calls."""
    return [(method, call, f) for f in reached(src, fn)
            for method, call in sorted(((m, c) for m in TRANSACTION_CALLS for c in method_calls(f.body, m)),
                                       key=lambda found: src.line(found[1]))]


@check("endpoints-leave-commit")
def endpoints_leave_commit(src):
    found = endpoints(src)
    if not found:
        return failed(f"{src.name} defines no endpoints: keep the five heroes endpoints of the starter",
                      diagnosis="no-endpoints")
    owning = endpoints_owning_transactions(src, found, flush="session.flush()", owner="get_session owns the "
                                           "transaction now", calls=transaction_calls)
    return owning if owning is not None else passed("the endpoints leave the transaction to get_session")
