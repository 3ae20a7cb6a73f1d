"""Chapter 5's static checks, on the learner's tests/test_heroes.py."""

import ast

import libcst as cst

from grader.static import (
    alias_value, argument, bindings, calls_to, check, enclosing_function, failed, find_mismatch, is_generator,
    module_imports, passed, refers_to, walk,
)

CREATE_ENGINE = "sqlalchemy.create_engine"
STATIC_POOL = "sqlalchemy.pool.StaticPool"
IN_MEMORY = {"sqlite://", "sqlite:///:memory:", "sqlite+pysqlite://", "sqlite+pysqlite:///:memory:"}
TEST_CLIENT = ("fastapi.testclient.TestClient", "starlette.testclient.TestClient")
OVERRIDES = "main.app.dependency_overrides"
KEY = "database.get_session"


def literal(src, node):
    """The value of a literal, or of a module-level name bound once to a literal; None if unknown."""
    if isinstance(node, cst.Name):
        bound = bindings(src).get(node.value, [])
        if len(bound) != 1 or bound[0][1] is None:
            return None
        node = bound[0][1]
    try:
        return ast.literal_eval(src.code(node))
    except (ValueError, SyntaxError):
        return None


def engine_calls(src):
    return calls_to(src, CREATE_ENGINE)


@check("test-engine")
def test_engine(src):
    calls = engine_calls(src)
    if not calls:
        missing = fixture_asked_for(src)
        if missing is not None:
            test, name = missing
            return failed(f"tests/test_heroes.py never calls `create_engine(...)`, and `{test.name.value}` asks for "
                          f"the fixture `{name}`, which this file does not define: the grader runs this one file, so "
                          "its fixtures belong here, before the tests (a conftest.py is not graded)",
                          line=src.line(test), diagnosis="no-test-engine", node=test)
        return failed("tests/test_heroes.py never calls `create_engine(...)`: the tests need their own engine, "
                      'on an in-memory database: `create_engine("sqlite://", ...)`', line=src.last_line,
                      diagnosis="no-test-engine")
    urls = [(call, literal(src, argument(call, "url", 0))) for call in calls]
    memory = [call for call, url in urls if url in IN_MEMORY]
    if not memory:
        call, url = urls[0]
        shown = f"`{url}`" if isinstance(url, str) else f"`{src.code(argument(call, 'url', 0) or call)}`"
        return failed(f"the test engine uses {shown}, not an in-memory database: use `\"sqlite://\"`, which lives "
                      "only as long as the engine, so every test starts empty and no file on disk is touched",
                      line=src.line(call), diagnosis="file-database", node=call)
    call = memory[0]
    pool = argument(call, "poolclass")
    unpacked = any(arg.star == "**" for arg in call.args)  # options from a dict: not read here
    if pool is None and unpacked:
        return passed("the engine's options come from a `**` dict this check does not read (the behavioural "
                      "checks see the engine the tests use)", node=call, line=src.line(call))
    if pool is None:
        return failed("the in-memory engine has no `poolclass=StaticPool`: every new connection to `sqlite://` opens "
                      "a new, empty database, so the requests (run in other threads) would not find the tables your "
                      "fixture creates; StaticPool keeps one connection for everyone",
                      line=src.line(call), diagnosis="no-static-pool", node=call)
    miss = find_mismatch(src, pool, STATIC_POOL)
    if miss is not None:
        really = f" (which is `{miss.found_is}`)" if miss.found_is else ""
        return failed(f"the in-memory engine has `poolclass={src.code(pool)}`{really}, not StaticPool: every new "
                      "connection to `sqlite://` opens a new, empty database, so the requests would not find the "
                      "tables your fixture creates; StaticPool keeps one connection for everyone",
                      line=src.line(pool), diagnosis="no-static-pool", node=pool)
    connect_args = argument(call, "connect_args")
    value = literal(src, connect_args) if connect_args is not None else None if unpacked else {}
    if isinstance(value, dict) and value.get("check_same_thread") is not False:
        return failed("the in-memory engine needs `connect_args={\"check_same_thread\": False}`: TestClient runs "
                      "plain `def` endpoints in worker threads, and by default SQLite refuses a connection made in "
                      "another thread", line=src.line(call), diagnosis="check-same-thread", node=call)
    return passed("an in-memory engine with StaticPool", node=call, line=src.line(call))


def fixture_asked_for(src):
    """(the first test, a fixture name it asks for) when the file defines none of the fixtures its tests need."""
    defined = {fn.name.value for fn in walk(src.module) if isinstance(fn, cst.FunctionDef) and is_fixture(src, fn)}
    for fn in walk(src.module):
        if isinstance(fn, cst.FunctionDef) and fn.name.value.startswith("test"):
            for param in fn.params.params:
                if param.name.value in ("engine", "client", "session") and param.name.value not in defined:
                    return fn, param.name.value
    return None


def override_sites(src):
    """(holder, key or None, node) for every write to a `....dependency_overrides` in the tests: a subscript,
    a dict assigned or given to `update`, or `monkeypatch.setitem(...)`."""
    sites = []
    for node in walk(src.module):
        if isinstance(node, (cst.Assign, cst.AnnAssign)):
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            for target in targets:
                if isinstance(target, cst.Subscript) and _overrides(target.value, src):
                    index = target.slice[0].slice
                    sites.append((_holder(src, target.value), index.value if isinstance(index, cst.Index) else None, target))
                elif _overrides(target) and isinstance(node.value, cst.Dict):
                    sites.extend((target, e.key, node) for e in node.value.elements if isinstance(e, cst.DictElement))
        elif (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "update"
              and _overrides(node.func.value, src) and node.args and isinstance(node.args[0].value, cst.Dict)):
            sites.extend((_holder(src, node.func.value), e.key, node) for e in node.args[0].value.elements
                         if isinstance(e, cst.DictElement))
        elif (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "setitem"
              and len(node.args) >= 2 and _overrides(node.args[0].value, src)):
            sites.append((_holder(src, node.args[0].value), node.args[1].value, node))  # monkeypatch.setitem(overrides, key, f)
    return sites


def _holder(src, node):
    """The `X.dependency_overrides` a name stands for (the node itself otherwise)."""
    return (alias_value(src, node) or node) if isinstance(node, cst.Name) else node


def _overrides(node, src=None):
    """`X.dependency_overrides`, or a name given it (`overrides = app.dependency_overrides`)."""
    if src is not None and isinstance(node, cst.Name):
        node = alias_value(src, node) or node
    return isinstance(node, cst.Attribute) and node.attr.value == "dependency_overrides"


def another_app(src, holder):
    """Positive evidence that `holder` (`X.dependency_overrides`) is not main.py's app's: X refers to a name from
    another module, or is a `FastAPI(...)` made in the tests (directly or through a name it is assigned to).
    Anything else the tests reach the app through (`client.app`, a fixture's parameter) is left to the
    behavioural checks, which see whether the requests were overridden."""
    miss = find_mismatch(src, holder, OVERRIDES)
    if miss is None:
        return False
    if miss.found_is:
        return True
    made = calls_to(src, "fastapi.FastAPI")
    named = {target.target.value for node in walk(src.module) if isinstance(node, cst.Assign) and
             any(node.value is call for call in made) for target in node.targets if isinstance(target.target, cst.Name)}
    base = holder.value
    return any(base is call for call in made) or (isinstance(base, cst.Name) and base.value in named)


@check("override-set")
def override_set(src):
    sites = override_sites(src)
    if not sites and any(_overrides(n) for n in walk(src.module)):
        return passed("the tests change app.dependency_overrides in a way this check does not read (the behavioural "
                      "checks see whether the requests were overridden)")
    if not sites:
        clients = [call for target in TEST_CLIENT for call in calls_to(src, target)]
        where = "this TestClient sends its requests to the app as it is: " if clients else ""
        return failed(f"the tests never set `app.dependency_overrides[get_session]`: {where}without the override every "
                      "request uses the real `get_session`, and so the real database.db",
                      line=src.line(clients[0]) if clients else src.last_line, diagnosis="no-override",
                      node=clients[0] if clients else None)
    for holder, key, node in sites:
        if not another_app(src, holder) and key is not None and find_mismatch(src, key, KEY) is None:
            called = _called_value(src, node)
            if called is not None:
                return failed(f"the override stored is `{src.code(called)}`: that calls your function once, here, and "
                              "stores what it returned (a generator), which FastAPI cannot call for each request; "
                              f"store the function itself, `{src.code(called.func)}`", line=src.line(called),
                              diagnosis="value-called", node=called)
            return passed("the override replaces get_session", node=node, line=src.line(node))
    holder, key, node = sites[0]
    line = src.line(node)
    if another_app(src, holder):
        return failed(f"this override is set on `{src.code(holder)}`, but the app under test is `app` from main.py: "
                      "import it (`from main import app`) and set the override on its `dependency_overrides`",
                      line=line, diagnosis="wrong-app", node=node)
    if key is None:
        return failed("write the override as `app.dependency_overrides[get_session] = ...`",
                      line=line, diagnosis="wrong-key", node=node)
    if refers_to(src, key, "database.SessionDep"):
        return failed(f"the key is `{src.code(key)}`: that is the Annotated alias, but FastAPI looks overrides up by "
                      "the dependency function itself; the key must be `get_session` (`from database import "
                      "get_session`)", line=line, diagnosis="wrong-key", node=node)
    if isinstance(key, cst.Call) and refers_to(src, key.func, KEY):
        return failed(f"the key is `{src.code(key)}`: that calls the function and uses the generator it returns; the "
                      "key must be the function itself, `get_session`", line=line, diagnosis="called-not-passed",
                      node=node)
    miss = find_mismatch(src, key, KEY)
    really = miss.found_is if miss else None
    source = imported_from(src, key)
    if really and really.endswith(".get_session") and source is not None:
        module = really.rsplit(".", 1)[0]
        return failed(f"`get_session` is imported from `{module}`, but it is defined in database.py (main.py only uses "
                      "it through `SessionDep`), so this import fails: import it from `database`",
                      line=src.line(source), diagnosis="wrong-module", node=source)
    shown = f" (which is `{really}`)" if really else ""
    return failed(f"the key is `{src.code(key)}`{shown}; FastAPI only replaces a dependency whose function is the "
                  "key: use `get_session` imported from database.py", line=line, diagnosis="wrong-key", node=node)


def _called_value(src, node):
    """`f()` when `node` (a `...[get_session]` target) is given a call of a function the file defines."""
    holder = src.parent(node)
    statement = src.parent(holder) if isinstance(holder, cst.AssignTarget) else None
    value = statement.value if isinstance(statement, cst.Assign) else None
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and any(
            isinstance(n, cst.FunctionDef) and n.name.value == value.func.value and is_generator(src, n)
            for n in walk(src.module)):
        return value  # a factory that returns a function is fine: only a generator's call is no dependency
    return None


def imported_from(src, key):
    """The module-level import statement that binds the name `key`, if `key` is a plain name."""
    if not isinstance(key, cst.Name):
        return None
    return next((node for name, _, node in module_imports(src) if name == key.value), None)


def is_fixture(src, fn):
    for decorator in fn.decorators:
        target = decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator
        if refers_to(src, target, "pytest.fixture"):
            return True
    return False


@check("client-fixture")
def client_fixture(src):
    calls = [call for target in TEST_CLIENT for call in calls_to(src, target)]
    if not calls:
        return failed("the tests never create a `TestClient(app)`: it is how a test sends requests to the app "
                      "without a server; create it in a `client` fixture", line=src.last_line, diagnosis="no-client")
    for call in calls:
        owner = enclosing_function(src, call)
        if owner is not None and is_fixture(src, owner):
            return passed(f"`{owner.name.value}` is a fixture that creates the client", node=owner,
                          line=src.line(owner))
    call = calls[0]
    owner = enclosing_function(src, call)
    where = f"inside `{owner.name.value}`, which is not a fixture" if owner is not None else "at module level"
    return failed(f"this TestClient is created {where}: create it in a function decorated with `@pytest.fixture` "
                  "that sets the override, yields the client, and removes the override afterwards, so every test "
                  "gets the same careful set-up and clean-up", line=src.line(call), diagnosis="client-not-fixture",
                  node=call)
