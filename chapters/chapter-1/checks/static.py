"""Chapter 1's static checks: the models, the engine, create_db_and_tables and the lifespan."""

from dataclasses import replace

import libcst as cst

from grader.static import (
    all_of,
    app_objects,
    argument,
    assignment,
    call_path,
    calls_to,
    check,
    failed,
    function,
    is_async,
    is_generator,
    matches,
    module_functions,
    passed,
    refers_to,
    resolve_alias,
    walk,
    yields,
)

SCHEMAS = ("HeroCreate", "HeroPublic", "HeroUpdate")
CREATE_ENGINE = "sqlalchemy.create_engine(...)"
CREATE_ALL = ("sqlmodel.SQLModel.metadata.create_all(engine, **_)",
              "sqlmodel.SQLModel.metadata.create_all(bind=engine, **_)")
CREATES_TABLES = ("create_db_and_tables", "sqlmodel.SQLModel.metadata.create_all")


# -- models.py ------------------------------------------------------------------------------
def module_classes(src):
    return {n.name.value: n for n in walk(src.module, into_nested=False) if isinstance(n, cst.ClassDef)}


def class_keyword(cls, name):
    return next((k.value for k in cls.keywords if k.keyword is not None and k.keyword.value == name), None)


def is_sqlmodel(src, cls, classes, depth=5):
    """`cls` inherits from SQLModel, directly or through other classes of the file."""
    for base in cls.bases:
        if refers_to(src, base.value, "sqlmodel.SQLModel"):
            return True
        local = classes.get(src.code(base.value))
        if depth and local is not None and local is not cls and is_sqlmodel(src, local, classes, depth - 1):
            return True
    return False


def find_class(src, name):
    classes = module_classes(src)
    if name in classes:
        cls = classes[name]
        if not is_sqlmodel(src, cls, classes):
            return failed(f"`class {name}` (line {src.line(cls)}) does not inherit from SQLModel: write "
                          f"`class {name}(SQLModel...)` or base it on a class that does", line=src.line(cls),
                          diagnosis="not-sqlmodel", node=cls)
        return passed(f"`{name}` is defined", node=cls, line=src.line(cls))
    nested = [n for n in walk(src.module) if isinstance(n, cst.ClassDef) and n.name.value == name]
    if nested:
        return failed(f"`{name}` is defined inside something; define it at the top level of {src.name}",
                      line=src.line(nested[0]), diagnosis="not-module-level")
    return failed(f"there is no `class {name}` at the top level of {src.name}", diagnosis="missing")


def is_table(src, cls):
    value = class_keyword(cls, "table")
    return value is not None and src.code(value) == "True"


@check("hero-table-model")
def hero_table_model(src):
    found = find_class(src, "Hero")
    if not found:
        return found
    if not is_table(src, found.node):
        return failed(f"`class Hero` (line {found.line}) is a plain data model: add `table=True` to its class line, "
                      "e.g. `class Hero(HeroBase, table=True):`", line=found.line, diagnosis="not-a-table")
    return found


@check("schemas-defined")
def schemas_defined(src):
    results = []
    for name in SCHEMAS:
        found = find_class(src, name)
        if found and is_table(src, found.node):
            found = failed(f"`{name}` (line {found.line}) has `table=True`, but only Hero is a table; {name} describes "
                           "data the API reads or returns: remove `table=True`", line=found.line,
                           diagnosis="schema-is-table")
        results.append(found)
    return all_of(*results)


# -- database.py ----------------------------------------------------------------------------
def same_thread_setting(src, node):
    """The value given for "check_same_thread" in a dict display or dict(...) call (through aliases)."""
    node = resolve_alias(src, node) or node
    if isinstance(node, cst.Dict):
        for element in node.elements:
            if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString) \
                    and element.key.evaluated_value == "check_same_thread":
                return element.value
    if isinstance(node, cst.Call) and src.code(node.func) == "dict":
        return argument(node, "check_same_thread")
    return None


@check("engine-created")
def engine_created(src):
    found = assignment(src, "engine", CREATE_ENGINE)
    if not found:
        return found
    call = found.node
    connect_args = argument(call, "connect_args")
    if connect_args is None:
        return failed(f"`create_engine(...)` (line {found.line}) has no `connect_args`: SQLite only lets the thread "
                      "that opened a connection use it, and FastAPI serves requests from several threads; add "
                      "`connect_args={\"check_same_thread\": False}`", line=found.line, diagnosis="no-connect-args")
    value = same_thread_setting(src, connect_args)
    if value is None or src.code(value) != "False":
        shown = src.code(value) if value is not None else "missing"
        return failed(f"`connect_args` (line {found.line}) must hold `\"check_same_thread\": False`; "
                      f"check_same_thread is {shown}", line=found.line, diagnosis="check-same-thread")
    return found


def module_level_calls(src, target):
    return [c for c in calls_to(src, target)
            if not any(isinstance(a, (cst.FunctionDef, cst.Lambda)) for a in src.ancestors(c))]


def called_at_import(src, call):
    return failed(f"`{src.code(call)}` (line {src.line(call)}) runs as soon as {src.name} is imported: tests and "
                  "tools that only import the module would create a database; call it in the lifespan instead",
                  line=src.line(call), diagnosis="called-at-import")


@check("create-tables-defined")
def create_tables_defined(src):
    found = function(src, "create_db_and_tables")
    if not found:
        return found
    calls = calls_to(src, "sqlmodel.SQLModel.metadata.create_all", within=found.node)
    if not calls:
        return failed("`create_db_and_tables` never calls `SQLModel.metadata.create_all(engine)`",
                      line=found.line, diagnosis="no-create-all")
    early = [c for target in CREATES_TABLES for c in module_level_calls(src, target)]
    if early:
        return called_at_import(src, early[0])
    return matches(src, calls[0], CREATE_ALL, what="the create_all call")


# -- main.py ----------------------------------------------------------------------------------
def the_app(src):
    """The `FastAPI(...)` call that makes `app` (None if there is none)."""
    call = app_objects(src).get("app")
    return call if call is not None and refers_to(src, call.func, "fastapi.FastAPI") else None


def lifespan_function(src):
    """(file, function) given as `FastAPI(lifespan=...)`, in main.py or imported from another graded
    file; else a function of main.py named `lifespan`; (None, None) if there is none."""
    functions = module_functions(src)
    app = the_app(src)
    given = argument(app, "lifespan") if app is not None else None
    if isinstance(given, cst.Name):
        if given.value in functions:
            return src, functions[given.value]
        for qualified in src.qualified_names(given):
            module, _, name = qualified.rpartition(".")
            other = src.sibling(f"{module}.py")
            if other is not None and name in module_functions(other):
                return other, module_functions(other)[name]
    return (src, functions["lifespan"]) if "lifespan" in functions else (None, None)


def located(finding, owner, src):
    """A failure found in another file than the check's: name that file, drop the line."""
    if finding.ok or owner is src:
        return finding
    return replace(finding, message=f"in {owner.name}, line {finding.line}: {finding.message}", line=None)


@check("lifespan-defined")
def lifespan_defined(src):
    owner, fn = lifespan_function(src)
    if fn is None:
        return failed("main.py has no lifespan function: write `@asynccontextmanager` and "
                      "`async def lifespan(app: FastAPI):` above `app = FastAPI(...)`", diagnosis="missing")
    decorators = [d.decorator for d in fn.decorators]
    if not any(refers_to(owner, d, "contextlib.asynccontextmanager") for d in decorators):
        sync = any(refers_to(owner, d, "contextlib.contextmanager") for d in decorators)
        return located(failed(
            f"`{fn.name.value}` (line {owner.line(fn)}) is decorated with `@contextmanager`; a lifespan must be an "
            "async context manager: `@asynccontextmanager` on `async def`" if sync else
            f"`{fn.name.value}` (line {owner.line(fn)}) is not decorated with `@asynccontextmanager` "
            "(from contextlib): FastAPI needs an async context manager",
            line=owner.line(fn), diagnosis="sync-contextmanager" if sync else "no-asynccontextmanager"), owner, src)
    return located(all_of(is_async(owner, fn), is_generator(owner, fn)), owner, src)


@check("lifespan-creates-tables")
def lifespan_creates_tables(src):
    owner, fn = lifespan_function(src)
    early = [c for target in CREATES_TABLES for c in module_level_calls(src, target)]
    if early:
        return called_at_import(src, early[0])
    calls = [c for target in CREATES_TABLES for c in calls_to(owner, target, within=fn)]
    if not calls:
        return located(failed(f"`{fn.name.value}` (line {owner.line(fn)}) never calls `create_db_and_tables()`: "
                              "call it before the yield, so the tables exist before the first request",
                              line=owner.line(fn), diagnosis="not-called"), owner, src)
    first_yield = yields(owner, fn)[0]
    call = call_path(owner, calls[0], fn)[0]  # made here, or the call of the helper that makes it
    if owner.line(call) > owner.line(first_yield):
        return located(failed(f"`{owner.code(call)}` (line {owner.line(call)}) comes after the yield, so it runs "
                              "when the app shuts down; move it above the yield", line=owner.line(call),
                              diagnosis="after-yield"), owner, src)
    return passed("the lifespan creates the tables at startup")


@check("app-uses-lifespan")
def app_uses_lifespan(src):
    for node in walk(src.module):
        if isinstance(node, cst.Decorator) and isinstance(node.decorator, cst.Call) \
                and isinstance(node.decorator.func, cst.Attribute) and node.decorator.func.attr.value == "on_event":
            return failed(f"`@{src.code(node.decorator)}` (line {src.line(node)}) is the deprecated way to run code "
                          "at startup; move that code into a lifespan and pass it: `FastAPI(lifespan=lifespan)`",
                          line=src.line(node), diagnosis="on-event")
    app = the_app(src)
    if app is None:
        return failed("main.py never creates `app = FastAPI(...)`", diagnosis="no-app")
    given = argument(app, "lifespan")
    _owner, fn = lifespan_function(src)
    if given is None or fn is None or not refers_to(src, given, fn.name.value):
        return failed(f"`{src.code(app)}` (line {src.line(app)}) is not given the lifespan: write "
                      "`app = FastAPI(lifespan=lifespan)`", line=src.line(app), diagnosis="no-lifespan-arg")
    return passed("the app uses the lifespan", line=src.line(app))
