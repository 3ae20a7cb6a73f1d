"""Chapter 5's behavioural checks: run the learner's tests against the reference app and its mutants.

The app under test is the pinned reference app (this chapter's starter files, the chapter-4
solution), never the learner's copy: the learner's file is `tests/test_heroes.py` alone. Each run
happens in a fresh folder of its own (see grader.mutation), so each has its own database.db, and
an `Observer` (observe.py) watches it: the requests the tests send, the sessions and engines,
the writes to the real database, the override. A failure is explained from what it saw, at the
learner's line where the fix goes.
"""

import ast
import difflib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from observe import Observer, Request, Site

from grader.content import starter_dir
from grader.mutation import Run, TestRun, assemble, load_mutants, run_many, side_by_side
from grader.testing import check, fail

CHAPTER = Path(__file__).resolve().parent.parent
TESTS = "tests/test_heroes.py"
MUTANTS = load_mutants(CHAPTER / "checks" / "mutants")
NEAR = {
    "missing-200": (("DELETE", "delete_hero"), ("GET", "read_hero")),
    "patch-overwrites": (("PATCH", "update_hero"),),
    "patch-not-saved": (("PATCH", "update_hero"),),
    "no-limit-bound": (("GET", "read_heroes"),),
    "delete-nothing": (("DELETE", "delete_hero"),),
}
"""Per mutant, the requests (method, endpoint) after which a test would see its bug: where the check belongs."""
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Watched:
    run: TestRun
    seen: Observer
    rows_on_disk: int = 0


@pytest.fixture(scope="module")
def app_dir():
    """The reference app: this chapter's starter (identical to the chapter-4 solution)."""
    return starter_dir(CHAPTER.name, CHAPTER.parent.parent)


def plan(tmp_path_factory, app_dir, mutant=None):
    """How to make one run of the learner's tests: against the reference app, or against `mutant`."""
    def make() -> Run:
        folder = assemble(tmp_path_factory.mktemp(mutant.name if mutant else "reference"), app_dir, Path.cwd(),
                          [TESTS], mutant)
        seen = Observer(folder, [TESTS])
        # Against a mutant, the first failing test settles the check: the run stops there.
        return Run(folder, [TESTS], [seen], seen.snapshot, until_caught=mutant is not None)
    return make


def watched(run: Run) -> Watched:
    seen = run.plugins[0]
    try:
        seen.restore(run.result.observed or {})
    finally:
        seen.close()
    return Watched(run.result, seen, rows_in(run.folder / "database.db"))


class Runs:
    """The runs of the learner's tests, made as the checks ask for them, two at a time where the machine has
    the cores (`run_many`): the reference run with the first mutant's beside it, then the other mutants'
    together once a mutant check asks for one. When the tests fail against the reference app the mutant
    checks are skipped, and their runs are never made. A mutant that cannot be built has its error in
    its place."""

    def __init__(self, plans: dict):
        self.plans = plans
        self.made: dict = {}
        self.at_once = side_by_side()

    def __getitem__(self, name: str) -> Watched:
        if name not in self.made:
            waiting = [n for n in self.plans if n not in self.made]
            batch = waiting[:self.at_once] if name == "reference" else [n for n in waiting if n != "reference"]
            made = run_many([self.plans[n] for n in batch], self.at_once)
            self.made.update((n, watched(run) if isinstance(run, Run) else run) for n, run in zip(batch, made))
        found = self.made[name]
        if isinstance(found, Exception):
            raise found
        return found


@pytest.fixture(scope="module")
def runs(app_dir, tmp_path_factory) -> Runs:
    names = ["reference", *MUTANTS]
    return Runs({name: plan(tmp_path_factory, app_dir, MUTANTS.get(name)) for name in names})


@pytest.fixture(scope="module")
def reference(runs):
    return runs["reference"]


def rows_in(path):
    if not path.is_file():
        return 0
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("select name from sqlite_master where type = 'table'")]
        return sum(db.execute(f'select count(*) from "{name}"').fetchone()[0] for name in tables)


def test_name(nodeid: str) -> str:
    return nodeid.rsplit("::", 1)[-1]


def at(site: Site | None) -> dict:
    return {"file": site.file, "line": site.line} if site else {"file": TESTS}


def learner_tree() -> ast.Module | None:
    try:
        return ast.parse((Path.cwd() / TESTS).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None


def last_line() -> int | None:
    """The learner's last non-blank line: where a missing test would go."""
    try:
        return len((Path.cwd() / TESTS).read_text(encoding="utf-8").rstrip().splitlines()) or None
    except OSError:
        return None


def untested_function() -> ast.FunctionDef | None:
    """A plain function that asks for a fixture of the file (as a test does) but is not named `test...`."""
    tree = learner_tree()
    if tree is None:
        return None
    functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]

    def is_fixture(fn):
        return any("fixture" in ast.unparse(d) for d in fn.decorator_list)

    fixtures = {fn.name for fn in functions if is_fixture(fn)} | {"client", "engine"}
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return next((fn for fn in functions if not is_fixture(fn) and not fn.name.startswith("test")
                 and fn.name not in called and fn.args.args and fn.args.args[0].arg in fixtures), None)


# -- explanations, from what the observer saw ------------------------------------------------------------------
def missing_override(seen: Observer, request: Request) -> tuple[str, Site | None, str]:
    """(message, where, diagnosis) for a request that reached the real get_session."""
    number = request.number
    mine = [c for c in seen.changes if c.test == request.test]
    removed = [c for c in mine if c.removed and c.before <= number and c.site]
    if removed:
        return (f"the override of `get_session` is removed here, before `{request.shown}` of "
                f"{request.name} is sent, so that request (and every one after it) used the real `get_session` and "
                "database.db: a fixture runs what comes before its `yield` (or `return`) before the test, and only "
                "what follows a `yield` after it",
                removed[-1].site, "override-removed-early")
    later = [c for c in mine if not c.removed and c.before > number and c.site]
    if later:
        return (f"the override of `get_session` is set here, after {request.name} has already sent "
                f"`{request.shown}`, which so used the real `get_session` and database.db: set the override before "
                "the first request", later[0].site, "override-set-late")
    return (f"`{request.shown}` of {request.name} was sent while `app.dependency_overrides` did not replace "
            "`get_session`, so it used the real database.db: set the override before the first request, and remove "
            "it only after the test", request.site, "no-override")


def override_statement(site: Site | None) -> Site | None:
    """The `return`/`yield` of the override function defined at `site`: where it hands out its session (and
    where a commit follows). The innermost function around `site`, so an override defined inside the client
    fixture is not mistaken for the fixture."""
    tree = learner_tree() if site else None
    if tree is None:
        return site
    around = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
              and node.lineno <= site.line <= (node.end_lineno or node.lineno)]
    if not around:
        return site
    function = min(around, key=lambda node: (node.end_lineno or node.lineno) - node.lineno)
    if isinstance(function, ast.Lambda):
        return Site(site.file, function.lineno)
    handed = [node for node in own_nodes(function) if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom))
              and node.value is not None]
    return Site(site.file, min(node.lineno for node in handed)) if handed else site


def own_nodes(function: ast.AST):
    """The nodes of `function`'s body, without those of the functions (and lambdas) defined inside it."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def scope_of(site: Site | None) -> Site | None:
    """The decorator line of the fixture around `site` when it gives the fixture a `scope=`."""
    tree = learner_tree() if site else None
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= site.line <= (
                node.end_lineno or node.lineno):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and any(k.arg == "scope" for k in decorator.keywords):
                    return Site(site.file, decorator.lineno)
    return None


def failing_tests(run: TestRun) -> list[str]:
    return [t.nodeid for t in run.failures]


def no_tables(seen: Observer, run: TestRun) -> tuple[str, Site | None, str] | None:
    failing = set(failing_tests(run))
    for request in seen.requests:
        if request.test not in failing or "no such table" not in request.error:
            continue
        engines = [seen.engines[e] for e in {seen.sessions[s].engine for s in request.sessions} if e is not None]
        mine = [e for e in engines if not e.real and e.created]
        unshared = [e for e in mine if e.memory and e.pool != "StaticPool"]
        if unshared:
            return (f"`{request.shown}` of {request.name} found no tables: this in-memory engine has no "
                    "`poolclass=StaticPool`, so each new connection (the request runs in another thread) opens its "
                    "own empty database, not the one your fixture created the tables in",
                    unshared[0].created, "no-static-pool")
        if mine:
            table = request.error.split("no such table:", 1)[-1].split()[0].strip("'\"") or "hero"
            return (f"the test engine created here has no tables: `{request.shown}` of {request.name} failed with "
                    f"\"no such table: {table}\". An in-memory database starts empty, and the app's lifespan creates "
                    "the tables only in database.db: create them on the test engine, before the fixture hands it out",
                    mine[0].created, "no-tables")
    return None


def override_never_commits(seen: Observer, run: TestRun) -> tuple[str, Site | None, str] | None:
    """A failing test whose writes went through an override that never commits: the app's get_session commits
    after the yield, and the override replaces it whole, so nothing the endpoints wrote was saved."""
    if any(r.commits for r in seen.requests if r.overridden):
        return None
    failing = set(failing_tests(run))
    for test in [r.test for r in seen.requests if r.test in failing]:
        writes = [r for r in seen.requests if r.test == test and r.overridden and r.override
                  and r.method in WRITE_METHODS and r.status is not None and r.status < 400]
        if not writes:
            continue
        first = writes[0]
        sessions = [seen.sessions[i] for r in writes for i in r.sessions]
        shown = ", ".join(dict.fromkeys(f"`{r.shown}`" for r in writes[:3]))
        if any(s.in_request is None or len(s.requests) > 1 for s in sessions):
            lead = "your override hands the requests a session opened before them, and nothing commits it"
            lost = "stayed uncommitted (a DELETE is not even sent to the database before the commit)"
            fix = "Make the override open a new session for each request, yield it, and commit after the `yield`"
        elif any(r.unclosed for r in writes):
            lead = "your override gives each request a session that nothing commits (or closes)"
            lost = "stayed uncommitted (a DELETE is not even sent to the database before the commit)"
            fix = ("Make the override a generator: open `Session(engine)` in a `with` block, yield it, and commit "
                   "after the `yield`")
        else:
            lead = "your override never commits"
            lost = "were rolled back, uncommitted, when each request's session closed"
            fix = "Commit after the override's `yield`, as `get_session` does"
        return (f"{lead}: in this app `get_session` commits after its `yield` (the endpoints only flush), and your "
                f"override replaces it whole, so the writes of {first.name} ({shown}) {lost}, and a later read "
                f"did not see them. {fix}", override_statement(first.override), "override-no-commit")
    return None


def shared_database(seen: Observer, run: TestRun) -> tuple[str, Site | None, str] | None:
    for test in failing_tests(run):
        for engine in seen.engines:
            if test in engine.tests and engine.tests.index(test) > 0 and not engine.real and engine.created:
                earlier = test_name(engine.tests[0])
                scoped = scope_of(engine.created)
                why = ("this fixture's `scope=` makes one engine for several tests" if scoped else
                       "the engine created here serves several tests")
                return (f"{test_name(test)} failed on a database that {earlier} had already used: {why}, so a test "
                        "finds what the tests before it left behind. Each test needs a new, empty database: create "
                        "the engine in a function-scoped fixture (plain `@pytest.fixture`)", scoped or engine.created,
                        "shared-database")
    return None


# -- the checks -------------------------------------------------------------------------------------------------
@check("tests-pass")
def test_tests_pass(reference):
    run, seen = reference.run, reference.seen
    if seen.source_reads:
        site, name, test = seen.source_reads[0]
        fail(f"{test_name(test) or 'your test file'} reads {name}'s source here instead of sending the app requests: "
             "the grader runs your tests against copies of the app with a bug in them, and a test must find the bug "
             "by what the app answers, whatever its code looks like", **at(site), diagnosis="reads-source")
    if run.all_passed:
        return
    if run.exited is not None:  # the tests ended their own process (their run is apart from the checks)
        first = run.failures[0] if run.failures else None
        fail(f"your tests ended their own process (exit status {run.exited}) before pytest finished"
             + (f", in {first.name}" if first else "") + ": a test must not call `os._exit()`",
             file=(first.file if first else None) or TESTS, line=first.line if first else None,
             diagnosis="process-exit")
    if run.collect_errors or run.crashed:
        first = (run.collect_errors or [None])[0]
        line = first.line if first else None
        fail(f"pytest could not load {TESTS}:\n{run.describe(shown=(TESTS, line))}", file=TESTS, line=line,
             diagnosis="collect-error")
    if not run.ran and run.inert():
        fail(f"none of your tests ran: {'; '.join(run.inert())}", file=TESTS, diagnosis="no-tests")
    if not run.ran:
        misnamed = untested_function()
        if misnamed is not None:
            fail(f"pytest found no tests to run in {TESTS}: `{misnamed.name}` asks for fixtures like a test, but "
                 "pytest runs only functions whose names start with `test` (at the top level of the file, or in a "
                 "class named `Test...`)", file=TESTS, line=misnamed.lineno, diagnosis="no-tests")
        fail(f"pytest found no tests to run in {TESTS}: write test functions after the fixtures, each named "
             "`test_...` (at the top level of the file, or in a class named `Test...`)", file=TESTS,
             line=last_line(), diagnosis="no-tests")
    failing = set(failing_tests(run))
    unreplaced = next((r for r in seen.requests if r.overridden is False and r.test in failing), None)
    explained = (missing_override(seen, unreplaced) if unreplaced else None) or no_tables(seen, run) \
        or override_never_commits(seen, run) or shared_database(seen, run)
    failed = (f"{len(run.failures)} of your {len(run.ran)} tests {'fails' if len(run.failures) == 1 else 'fail'} "
              "against the reference app")
    if explained:
        message, site, diagnosis = explained
        shown = (site.file, site.line) if site else None
        fail(f"{failed}: {message}.\n{run.describe(shown=shown)}", **at(site), diagnosis=diagnosis)
    first = run.failures[0]
    fail(f"{failed} (the chapter-4 solution, which is correct), so the tests are wrong, not the app:\n"
         f"{run.describe(shown=(first.file, first.line))}", file=first.file or TESTS, line=first.line,
         diagnosis="tests-fail")


@check("real-database-untouched")
def test_real_database_untouched(reference):
    seen = reference.seen
    if not seen.writes and not reference.rows_on_disk:
        return
    wrote = (f"your tests changed the app's real database, database.db ({len(seen.writes)} writes through "
             f"database.py's engine, first: `{seen.writes[0].statement[:80]}`)" if seen.writes else
             f"your tests left {reference.rows_on_disk} rows in the app's real database, database.db")
    write = seen.writes[0] if seen.writes else None
    request = seen.requests[write.request] if write and write.request is not None else None
    if request is not None and request.overridden is False:
        message, site, diagnosis = missing_override(seen, request)
        fail(f"{wrote}: {message}", **at(site), diagnosis=diagnosis)
    if request is not None:
        opened = [seen.sessions[s] for s in request.sessions]
        real = next((s for s in opened if s.created and s.engine is not None and seen.engines[s.engine].real), None)
        if real:
            fail(f"{wrote}: the session your override opens here is on database.py's `engine`; open it on the "
                 "in-memory test engine of your fixture instead", **at(real.created), diagnosis="real-engine")
    if write is not None and write.site is not None and request is None:
        fail(f"{wrote}: this line of your tests writes through database.py's `engine`; use the in-memory test "
             "engine", **at(write.site), diagnosis="real-engine")
    fail(f"{wrote}: the override must be in place before the first request, and the session it yields must come "
         "from your in-memory test engine, not from database.py's `engine`", file=TESTS, diagnosis="real-database")


@check("override-cleared")
def test_override_cleared(reference):
    seen = reference.seen
    if seen.left_over:
        key, (name, file, line) = next(iter(seen.left_over.items()))
        sets = [c.site for c in seen.changes if not c.removed and c.site] if key == "get_session" else []
        site = sets[-1] if sets else Site(file, line) if file and line else None
        fail(f"after your tests finished, `app.dependency_overrides` still replaced `{key}` with `{name}` (set here): "
             "any code that uses the app afterwards (another test file, for one) would silently get your test "
             "database; remove the override when the test is over, after the fixture's `yield`", **at(site),
             diagnosis="override-not-cleared")


@check("session-per-request")
def test_session_per_request(reference):
    seen = reference.seen
    for request in seen.requests:
        if not request.overridden:
            continue
        for index in request.sessions:
            session = seen.sessions[index]
            if session.created is None:
                continue
            if session.in_request is None or len(session.requests) > 1:
                others = [seen.requests[r] for r in session.requests if r != request.number]
                also = f", and `{others[0].shown}` used it too" if others else ""
                fail(f"your override hands `{request.shown}` of {request.name} a session that was opened "
                     f"before the request{also}: a shared session carries over to the next request whatever an "
                     "earlier one left in it (objects it loaded or changed, work a failed request never rolled back), "
                     "which the next may read, or even commit. In the app every request gets a new session from "
                     "`get_session`, so your tests would check something the app never does. The override must open "
                     "a new session for each request",
                     **at(override_statement(request.override) or session.created), diagnosis="shared-session")
            if index in request.unclosed:
                fail(f"the session opened here for `{request.shown}` of {request.name} was still open after the "
                     "response: nothing closes it, so whatever it did not commit (everything, when the request fails "
                     "before the commit) stays in an open transaction on the one shared connection, where the next "
                     "request may see it, until Python happens to collect the session. Open it in a `with` block "
                     "that yields it, so it is closed after each request", **at(session.created),
                     diagnosis="session-not-closed")


def closest_route(seen: Observer, request: Request) -> str | None:
    """The app's route most like the request's path: as many segments, the most alike once its parameters are
    filled in from the path."""
    asked = [s for s in request.path.split("/") if s]

    def likeness(route: str) -> float:
        segments = [s for s in route.split("/") if s]
        filled = [mine if theirs.startswith("{") else theirs for theirs, mine in zip(segments, asked)]
        return difflib.SequenceMatcher(None, "/".join(filled), "/".join(asked)).ratio()

    routes = [path for methods, path, _ in seen.routes if request.method in methods]
    same = [p for p in routes if len([s for s in p.split("/") if s]) == len(asked)] or routes
    return max(same, key=likeness, default=None)


def pinpoint(reference: Observer, mutant: Observer, near: tuple[tuple[str, str], ...]) -> tuple[str, Site | None,
                                                                                              str]:
    """Where the learner's tests came closest to seeing the mutant's bug, and what to say there."""
    before = {(r.test, r.phase, r.index): r for r in reference.requests}
    pairs = [(before[key], r) for r in mutant.requests
             if (key := (r.test, r.phase, r.index)) in before and (before[key].method, before[key].path) ==
             (r.method, r.path)]
    for old, new in pairs:
        if old.status != new.status:
            return (f": `{new.shown}` of {new.name} answered {new.status} there instead of {old.status}, and the "
                    "test did not notice", new.site, "answer-unchecked")
    for old in reference.requests:
        if old.status is None or old.status < 400:
            continue
        if old.route is None:
            route = closest_route(reference, old)
            like = f" (the closest is `{route}`)" if route else ""
            return (f". `{old.shown}` of {old.name} matches no route of the app{like}: its {old.status} came from "
                    "FastAPI's router before any endpoint ran, so it says nothing about heroes", old.site,
                    "no-such-route")
        if not old.method_allowed:
            return (f". `{old.shown}` of {old.name} uses a method the route `{old.route_path}` does not take: its "
                    f"{old.status} came from FastAPI's router before any endpoint ran", old.site, "no-such-route")
    for old, new in pairs:
        if old.body != new.body:
            return (f": the answer to `{new.shown}` of {new.name} changed there, and the test did not notice",
                    new.site, "answer-unchecked")
    for method, endpoint in near:
        found = next((r for r in reference.requests if (r.method, r.route) == (method, endpoint) and r.site), None)
        if found:
            return f"; {found.name} comes closest: it sends `{found.shown}` here", found.site, "mutant-survived"
    return "", None, "mutant-survived"


def catches(mutant_id, reference, runs):
    """The learner's tests must fail against the mutant `mutant_id` (checks/mutants/MUTANT_ID.diff)."""
    mutant = MUTANTS[mutant_id]
    watched = runs[mutant_id]
    if watched.run.caught:
        return
    specific, site, diagnosis = pinpoint(reference.seen, watched.seen, NEAR[mutant_id])
    inert = "".join(f". {why}" for why in watched.run.inert())
    if diagnosis == "mutant-survived":
        message = (f"your tests all passed against a copy of the app where {mutant.about}. So no test checks "
                   f"{mutant.untested}{specific}{inert}")
    else:
        message = (f"your tests all passed against a copy of the app where {mutant.about}{specific}. Check "
                   f"{mutant.untested}{inert}")
    fail(message, **at(site), diagnosis=diagnosis)


@check("catches-patch-not-saved")
def test_catches_patch_not_saved(reference, runs):
    catches("patch-not-saved", reference, runs)


@check("catches-missing-200")
def test_catches_missing_200(reference, runs):
    catches("missing-200", reference, runs)


@check("catches-patch-overwrites")
def test_catches_patch_overwrites(reference, runs):
    catches("patch-overwrites", reference, runs)


@check("catches-no-limit-bound")
def test_catches_no_limit_bound(reference, runs):
    catches("no-limit-bound", reference, runs)


@check("catches-delete-nothing")
def test_catches_delete_nothing(reference, runs):
    catches("delete-nothing", reference, runs)
