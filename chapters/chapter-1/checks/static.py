"""Chapter 1's static checks: the models, the engine, create_db_and_tables and the lifespan.

They fail only on positive evidence of a known mistake, at the line where the fix goes; a shape they
do not read (a URL built at run time, connect_args passed through a helper's parameter) passes, and the
behavioural checks judge it.
"""

import ast
import difflib

import libcst as cst

from grader.static import (
    alias_value,
    all_of,
    app_objects,
    argument,
    assignment,
    call_path,
    called,
    calls_to,
    check,
    enclosing_function,
    failed,
    function,
    is_async,
    is_generator,
    matches,
    module_functions,
    passed,
    refers_to,
    walk,
    yields,
)

SCHEMAS = ("HeroCreate", "HeroPublic", "HeroUpdate")
CREATE_ENGINE = "sqlalchemy.create_engine(...)"
CREATE_ALL = ("sqlmodel.SQLModel.metadata.create_all(engine, **_)",
              "sqlmodel.SQLModel.metadata.create_all(bind=engine, **_)")
CREATES_TABLES = ("create_db_and_tables", "sqlmodel.SQLModel.metadata.create_all")
SAME_THREAD = "check_same_thread"


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
            return failed(f"`class {name}` does not inherit from SQLModel, so it is neither a table nor a model "
                          f"FastAPI can validate: base it on `SQLModel` or on a class that is", line=src.line(cls),
                          diagnosis="not-sqlmodel", node=cls)
        return passed(f"`{name}` is defined", node=cls, line=src.line(cls))
    nested = [n for n in walk(src.module) if isinstance(n, cst.ClassDef) and n.name.value == name]
    if nested:
        return failed(f"`{name}` is defined inside something; define it at the top level of {src.name}",
                      line=src.line(nested[0]), diagnosis="not-module-level")
    return failed(f"there is no `class {name}` at the top level of {src.name}", line=src.last_line,
                  diagnosis="missing")


def is_table(src, cls):
    value = class_keyword(cls, "table")
    return value is not None and src.code(value) == "True"


def fields(src, cls, classes, depth=5):
    """(name, statement) of every annotated field of `cls` and of its bases in the file, base first;
    None when a base is neither SQLModel nor a class of the file (its fields cannot be read)."""
    found = []
    for base in cls.bases:
        local = classes.get(src.code(base.value))
        if local is not None and local is not cls and depth:
            inherited = fields(src, local, classes, depth - 1)
            if inherited is None:
                return None
            found.extend(inherited)
        elif not refers_to(src, base.value, "sqlmodel.SQLModel"):
            return None
    for statement in walk(cls.body, into_nested=False):
        if isinstance(statement, cst.AnnAssign) and isinstance(statement.target, cst.Name):
            found.append((statement.target.value, statement))
        elif isinstance(statement, cst.Assign) and any(
                isinstance(t.target, cst.Name) and t.target.value.startswith("__") for t in statement.targets):
            if any(t.target.value in ("__table_args__", "__mapper_args__") for t in statement.targets):
                return None  # the key may be declared there
    return found


def may_be_primary_key(src, statement):
    """The field's value passes `primary_key` (not False) or a column of its own (`sa_column=...`)."""
    for node in walk(statement):
        if isinstance(node, cst.Arg) and node.keyword is not None:
            if node.keyword.value == "primary_key" and src.code(node.value) != "False":
                return True
            if node.keyword.value.startswith("sa_column"):
                return True
        if isinstance(node, cst.Arg) and node.star == "**":
            return True
    return False


def primary_key(src, cls):
    """Hero's fields, read through its bases in the file: fails only when every field can be read and none
    is the primary key (SQLAlchemy then refuses to map the class when models.py is imported)."""
    declared = fields(src, cls, module_classes(src))
    if declared is None or any(may_be_primary_key(src, statement) for _name, statement in declared):
        return passed("Hero has a primary key")
    named_id = [statement for name, statement in declared if name == "id"]
    if named_id:
        return failed("`id` is not marked as the primary key, and a table needs one: SQLAlchemy refuses to map "
                      "`Hero` without it; the database also fills the primary key in when a row is inserted",
                      line=src.line(named_id[-1]), diagnosis="no-primary-key", node=named_id[-1])
    return failed("`Hero` has no primary key, and a table needs one: SQLAlchemy refuses to map it; give Hero an "
                  "`id` field marked as the primary key", line=src.line(cls), diagnosis="no-primary-key", node=cls)


@check("hero-table-model")
def hero_table_model(src):
    found = find_class(src, "Hero")
    if not found:
        return found
    if not is_table(src, found.node):
        return failed("`class Hero` is a plain data model, so no table is made from it: add `table=True` to its "
                      "class line, after its base", line=found.line, diagnosis="not-a-table")
    return primary_key(src, found.node)


@check("schemas-defined")
def schemas_defined(src):
    results = []
    for name in SCHEMAS:
        found = find_class(src, name)
        if found and is_table(src, found.node):
            found = failed(f"`{name}` has `table=True`, but only Hero is a table; {name} describes data the API reads "
                           "or returns: remove `table=True`", line=found.line, diagnosis="schema-is-table")
        results.append(found)
    return all_of(*results)


# -- database.py ----------------------------------------------------------------------------
def value_of(src, node):
    """What a name stands for (a module-level alias or a local assigned once), else the node itself."""
    for _ in range(4):
        alias = alias_value(src, node)
        if alias is None:
            break
        node = alias
    return node


def text_parts(src, node, depth=4):
    """The text a string expression makes, as parts: a str where it is known, None where it is not
    (`f"sqlite:///{Path(__file__).parent / name}"` is `["sqlite:///", None]`)."""
    node = value_of(src, node)
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return [value] if isinstance(value, str) else [None]
    if isinstance(node, cst.ConcatenatedString):
        return text_parts(src, node.left, depth) + text_parts(src, node.right, depth)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return text_parts(src, node.left, depth) + text_parts(src, node.right, depth)
    if isinstance(node, cst.FormattedString):
        parts = []
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                parts.append(part.value)
            elif part.conversion is None and part.format_spec is None and depth:
                parts.extend(text_parts(src, part.expression, depth - 1))
            else:
                parts.append(None)
        return parts
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "format":
        template = text_parts(src, node.func.value, depth)
        if template and isinstance(template[0], str) and "{" in template[0]:
            return [template[0].split("{")[0], None]
    return [None]


def known_text(parts):
    """(the text up to the first unknown part, whether that is the whole text)."""
    known = []
    for part in parts:
        if part is None:
            return "".join(known), False
        known.append(part)
    return "".join(known), True


def url_mistake(src, call):
    """A SQLite URL given to create_engine that cannot be the database file the lesson asks for: in memory,
    or not a valid SQLite URL (two slashes). Pointed at where the URL is written."""
    given = argument(call, "url", position=0)
    if given is None:
        return passed("the URL is not given directly")
    written = value_of(src, given)
    text, whole = known_text(text_parts(src, given))
    shown = f"`{src.code(written)}`" if whole and src.code(written).strip("\"'") == text else f"`{text}`"
    scheme = text.split("://")[0] if "://" in text else None
    if scheme is not None and scheme.split("+")[0] != "sqlite":
        return failed(f"the engine's URL {shown} is not a SQLite URL; this course's database is a SQLite file",
                      line=src.line(written), diagnosis="not-sqlite")
    if not text.startswith("sqlite:"):
        return passed("the URL is not known here")
    path = text[len("sqlite:///"):] if text.startswith("sqlite:///") else None
    if whole and (text == "sqlite://" or path in ("", ":memory:") or "mode=memory" in text):
        return failed(f"the engine's URL {shown} is an in-memory database: it disappears with its connection, so the "
                      "tables and heroes are lost; the app needs a database file", line=src.line(written),
                      diagnosis="in-memory")
    if path is None and (whole or len(text) > len("sqlite://")):
        return failed(f"the engine's URL {shown} is not a valid SQLite URL: a file needs three slashes after "
                      "`sqlite:`, then its path", line=src.line(written), diagnosis="bad-url")
    return passed("the URL names a SQLite file")


def setting_in(src, node):
    """(the element or argument giving check_same_thread, its value) in a dict display or dict(...) call, looked
    through aliases; ("unknown", None) when the dict cannot be read, (None, the dict) when the key is absent."""
    node = value_of(src, node)
    if isinstance(node, cst.Dict):
        keys = []
        for element in node.elements:
            if isinstance(element, cst.StarredDictElement):
                return "unknown", None
            if isinstance(element.key, cst.SimpleString):
                if element.key.evaluated_value == SAME_THREAD:
                    return element, element.value
                keys.append((element.key.evaluated_value, element))
        return None, (node, keys)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "dict":
        keys = []
        for arg in node.args:
            if arg.keyword is None:
                return "unknown", None
            if arg.keyword.value == SAME_THREAD:
                return arg, arg.value
            keys.append((arg.keyword.value, arg))
        return None, (node, keys)
    return "unknown", None


def same_thread_mistake(src, call):
    given = argument(call, "connect_args")
    misplaced = argument(call, SAME_THREAD)
    if given is None and misplaced is not None:
        return failed(f"`{SAME_THREAD}` is given to `{src.code(call.func)}` itself, which refuses it: it is an option "
                      "of SQLite's connections, so it goes inside `connect_args`, a dict", line=src.line(misplaced),
                      diagnosis="no-connect-args")
    if given is None:
        return failed(f"`{src.code(call.func)}(...)` is not given `connect_args`: SQLite lets only the thread that "
                      "opened a connection use it, and FastAPI serves requests from several threads; pass "
                      f"connect_args with `\"{SAME_THREAD}\": False`", line=src.line(call), diagnosis="no-connect-args")
    where, value = setting_in(src, given)
    if where == "unknown":
        return passed("connect_args is built in a way this check does not read")
    if where is None:
        holder, keys = value
        close = difflib.get_close_matches(SAME_THREAD, [k for k, _ in keys], n=1, cutoff=0.8)
        if close:
            element = next(e for k, e in keys if k == close[0])
            return failed(f"`{close[0]}` is not an option sqlite3 knows (it refuses the connection): the option is "
                          f"`{SAME_THREAD}`", line=src.line(element), diagnosis="misspelt-option")
        return failed(f"`connect_args` has no `\"{SAME_THREAD}\"` entry, so SQLite keeps refusing connections used by "
                      f"another thread than their own: add `\"{SAME_THREAD}\": False`", line=src.line(holder),
                      diagnosis="no-check-same-thread")
    try:
        literal = ast.literal_eval(src.code(value))
    except (ValueError, SyntaxError):
        return passed("check_same_thread is given a value this check does not read (the behavioural checks open a "
                      "connection and see it)")
    if literal:
        return failed(f"`{SAME_THREAD}` is `{src.code(value)}`: it must be `False`, so that FastAPI's threads can use "
                      "a connection another thread opened", line=src.line(where), diagnosis="check-same-thread")
    return passed("check_same_thread is off")


@check("engine-created")
def engine_created(src):
    found = assignment(src, "engine", CREATE_ENGINE)
    if found.diagnosis == "not-module-level":
        owner = enclosing_function(src, found.node)
        inside = f"inside `{owner.name.value}`" if owner is not None else "inside a class"
        return found.otherwise(f"`engine` is made {inside}, so it is a local name there: main.py cannot import it, "
                               "and the app would not share one engine; create it once, at the top level of "
                               f"{src.name}")
    if not found:
        return found
    return all_of(url_mistake(src, found.node), same_thread_mistake(src, found.node))


def under_main_guard(src, node):
    """`node` is inside `if __name__ == "__main__":`, which does not run when the module is imported."""
    for ancestor in src.ancestors(node):
        if isinstance(ancestor, cst.If) and "".join(src.code(ancestor.test).split()).replace("'", '"') in (
                '__name__=="__main__"', '"__main__"==__name__'):
            return True
    return False


def runs_when_called(src, fn):
    """Calling `fn` runs its body: it is a plain function, not a generator or a coroutine function (calling
    `lifespan()` only makes the context manager)."""
    return fn is not None and fn.asynchronous is None and not yields(src, fn) and not fn.decorators


def import_time_calls(src, targets=CREATES_TABLES):
    """(the call, the helper call that leads to it or None) for each call of `targets` that runs when the
    module is imported: made outside any function, or by a module-level helper that such a call calls."""
    functions = module_functions(src)
    found = []
    for call in walk(src.module):
        if not isinstance(call, cst.Call) or under_main_guard(src, call) \
                or any(isinstance(a, (cst.FunctionDef, cst.Lambda)) for a in src.ancestors(call)):
            continue
        if any(refers_to(src, call.func, t) for t in targets):
            found.append((call, None))
        elif isinstance(call.func, cst.Name) and runs_when_called(src, functions.get(call.func.value)):
            reached = [c for t in targets for c in calls_to(src, t, within=functions[call.func.value])]
            if reached:
                found.append((reached[0], call))
    return found


def called_at_import(src):
    early = import_time_calls(src)
    if not early:
        return passed("nothing creates the tables at import")
    call, through = early[0]
    shown = (f"`{src.code(through)}` (which calls `{src.code(call)}`)" if through is not None
             else f"`{src.code(call)}`")
    return failed(f"{shown} runs as soon as {src.name} is imported, so merely importing the app creates the "
                  "database file and its tables (tests and tools import it too): only the lifespan should create them, "
                  "when the app starts", line=src.line(through or call), diagnosis="called-at-import")


def other_create_all(fn):
    """A `....create_all(...)` call in `fn` on something other than `SQLModel.metadata` (`Hero.metadata`, the same
    MetaData reached through a table model)."""
    return any(isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == "create_all"
               for n in walk(fn))


@check("create-tables-defined")
def create_tables_defined(src):
    found = function(src, "create_db_and_tables")
    if not found:
        return found
    made = called(src, "sqlmodel.SQLModel.metadata.create_all", within=found.node)
    if not made:
        if made.diagnosis == "not-called" and made.node is None and other_create_all(found.node):
            return passed("create_db_and_tables calls a `create_all` this check does not read (the behavioural "
                          "checks start the app and look for the table)")
        if made.diagnosis == "not-called" and made.node is None:
            return failed("`create_db_and_tables` never calls `SQLModel.metadata.create_all(...)`, which is what "
                          "creates the tables", line=found.line, diagnosis="no-create-all")
        return made.otherwise(diagnosis="no-create-all")
    early = called_at_import(src)
    if not early:
        return early
    bind = argument(made.node, "bind", position=0)
    owner = enclosing_function(src, made.node)
    if isinstance(bind, cst.Name) and owner is not None and bind.value in parameter_names(owner):
        return passed(f"create_all is given the parameter `{bind.value}`: its callers decide the engine (the "
                      "behavioural checks start the app and look for the table)")
    return matches(src, made.node, CREATE_ALL, what="the create_all call")


def parameter_names(fn):
    params = fn.params
    every = (*params.posonly_params, *params.params, *params.kwonly_params)
    return {p.name.value for p in every}


# -- main.py ----------------------------------------------------------------------------------
def the_app(src):
    """The `FastAPI(...)` call that makes `app`, also when a helper of the file returns it (`app = create_app()`);
    None if there is none."""
    call = app_objects(src).get("app")
    if call is not None and refers_to(src, call.func, "fastapi.FastAPI"):
        return call
    found = assignment(src, "app", "fastapi.FastAPI(...)")
    return found.node if found and isinstance(found.node, cst.Call) else None


def app_assigned(src):
    """main.py binds `app` at its top level, to something."""
    return bool(assignment(src, "app"))


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


def lifespan_given(src):
    """What the app is given as `lifespan=` (None if it is given nothing, or there is no app this check reads)."""
    app = the_app(src)
    return argument(app, "lifespan") if app is not None else None


NOT_READ = "the app is given a lifespan made in a way this check does not read (the behavioural checks start the app)"


def startup_events(src):
    """The `@app.on_event(...)` decorators of the file."""
    return [node for node in walk(src.module)
            if isinstance(node, cst.Decorator) and isinstance(node.decorator, cst.Call)
            and isinstance(node.decorator.func, cst.Attribute) and node.decorator.func.attr.value == "on_event"]


def in_file(finding, owner, src):
    """A finding about a function of another graded file than the check's points into that file."""
    if finding.ok or owner is src:
        return finding
    return failed(finding.message, line=finding.line, column=finding.column, diagnosis=finding.diagnosis,
                  node=finding.node, file=owner.name)


def no_lifespan(src):
    events = startup_events(src)
    if events:
        return failed(f"main.py has no lifespan; `@{src.code(events[0].decorator)}` is FastAPI's deprecated way to run "
                      "code at startup: move its body into a lifespan, before the `yield`, and give the lifespan to "
                      "`FastAPI(...)`", line=src.line(events[0]), diagnosis="on-event")
    app = the_app(src)
    return failed("main.py has no lifespan: FastAPI runs startup code in an async generator function decorated with "
                  "`@asynccontextmanager`, given to the app as `lifespan=`; write one above the app",
                  line=src.line(app) if app is not None else src.last_line, diagnosis="missing")


def positional_parameters(fn):
    """(required positional parameters, whether it takes *args)."""
    params = fn.params
    required = [p for p in (*params.posonly_params, *params.params) if p.default is None]
    return required, isinstance(params.star_arg, cst.Param)


def decorated_right(owner, fn):
    decorators = [d.decorator for d in fn.decorators]
    name = fn.name.value
    if any(refers_to(owner, d, "contextlib.asynccontextmanager") for d in decorators):
        return passed("decorated with @asynccontextmanager")
    if any(refers_to(owner, d, "contextlib.contextmanager") for d in decorators):
        return failed(f"`{name}` is decorated with `@contextmanager`, which makes a synchronous context manager; "
                      "FastAPI enters a lifespan with `async with`, so it needs `@asynccontextmanager` on an "
                      "`async def`", line=owner.line(fn), diagnosis="sync-contextmanager")
    return failed(f"`{name}` is not decorated with `@asynccontextmanager` (from contextlib): FastAPI expects a "
                  "lifespan to be an async context manager, which that decorator makes of an `async def` generator",
                  line=owner.line(fn), diagnosis="no-asynccontextmanager")


BRANCHES = (cst.If, cst.Try, cst.TryStar, cst.Match, cst.For, cst.While)


def yields_once(owner, fn):
    """The lifespan's body yields once on its way through: fails on a second `yield` that always runs after the
    first, or a `yield` in a loop (FastAPI stops the app by resuming the generator, which must then end)."""
    found = yields(owner, fn)
    looped = [y for y in found if any(isinstance(a, (cst.For, cst.While)) for a in ancestors_within(owner, y, fn))]
    if looped:
        return failed(f"`{fn.name.value}` yields inside a loop, but a lifespan yields exactly once: FastAPI resumes it "
                      "once, when the app stops, and it must then end", line=owner.line(looped[0]),
                      diagnosis="yields-twice")
    straight = [y for y in found if not any(isinstance(a, BRANCHES) for a in ancestors_within(owner, y, fn))]
    if len(straight) > 1:
        return failed(f"`{fn.name.value}` yields a second time, but a lifespan yields exactly once: what follows the "
                      "first `yield` runs when the app stops, and the app cannot stop at a second one",
                      line=owner.line(straight[1]), diagnosis="yields-twice")
    return passed("yields once")


def ancestors_within(src, node, fn):
    """The ancestors of `node` up to (not including) the function `fn`."""
    for ancestor in src.ancestors(node):
        if ancestor is fn:
            return
        yield ancestor


def takes_the_app(owner, fn):
    required, star = positional_parameters(fn)
    name = fn.name.value
    if not star and not fn.params.params and not fn.params.posonly_params:
        return failed(f"`{name}` takes no parameter, but FastAPI calls the lifespan with the app: give it one, "
                      "`app: FastAPI`", line=owner.line(fn), diagnosis="no-app-parameter")
    if len(required) > 1:
        return failed(f"`{name}` requires {len(required)} arguments, but FastAPI calls the lifespan with one, the "
                      "app: keep only that parameter", line=owner.line(fn), diagnosis="too-many-parameters")
    return passed("takes the app")


@check("lifespan-defined")
def lifespan_defined(src):
    owner, fn = lifespan_function(src)
    if fn is None and lifespan_given(src) is not None:
        return passed(NOT_READ)
    if fn is None:
        return no_lifespan(src)
    found = decorated_right(owner, fn)
    if found:
        generator = is_generator(owner, fn)
        if generator.diagnosis == "no-yield":
            generator = generator.otherwise(f"`{fn.name.value}` never yields: a lifespan yields once, and what comes "
                                            "before its `yield` runs at startup")
        generator = generator if not generator else yields_once(owner, fn)
        found = all_of(is_async(owner, fn).otherwise(
            f"`{fn.name.value}` is defined with `def`: `@asynccontextmanager` needs an async generator, so make it "
            "`async def`"), generator, takes_the_app(owner, fn))
    return in_file(found, owner, src)


def named_not_called(owner, fn):
    """`create_db_and_tables` written on its own line in the lifespan, without the parentheses."""
    found = called(owner, CREATES_TABLES, within=fn)
    return found if not found and found.node is not None else None


def sibling_function(owner, call):
    """(file, function) of another graded file that `call` calls (`database.init_db()`, or `init_db()`
    imported from database), else None."""
    for qualified in owner.qualified_names(call.func):
        module, _, name = qualified.rpartition(".")
        other = owner.sibling(f"{module}.py")
        if other is not None and other is not owner and name in module_functions(other):
            return other, module_functions(other)[name]
    return None


def table_creation(owner, fn):
    """The call the lifespan makes that creates the tables (itself, through a helper of its file, or through a
    function of another graded file), or None; "maybe" when it hands one of them to something else to call
    (`await asyncio.to_thread(create_db_and_tables)`)."""
    calls = [c for target in CREATES_TABLES for c in calls_to(owner, target, within=fn)]
    if calls:
        return call_path(owner, calls[0], fn)[0]  # made here, or the call of the helper that makes it
    for call in (n for n in walk(fn) if isinstance(n, cst.Call)):
        found = sibling_function(owner, call)
        if found is not None and any(calls_to(found[0], target, within=found[1]) for target in CREATES_TABLES):
            return call
    names = [n for n in walk(fn) if isinstance(n, (cst.Name, cst.Attribute))]
    if any(refers_to(owner, n, target) for n in names for target in CREATES_TABLES):
        return "maybe"
    return None


@check("lifespan-creates-tables")
def lifespan_creates_tables(src):
    owner, fn = lifespan_function(src)
    early = called_at_import(src)
    if not early:
        return early
    if fn is None:
        return passed(NOT_READ)
    first_yield = yields(owner, fn)[0]
    call = table_creation(owner, fn)
    if call is None or call == "maybe":
        found = named_not_called(owner, fn)
        if found is None and call is None:
            found = failed(f"`{fn.name.value}` never calls `create_db_and_tables()`, so the app starts without its "
                           "tables: call it before this `yield`, so that it runs at startup",
                           line=owner.line(first_yield), diagnosis="not-called")
        return in_file(found, owner, src) if found is not None else passed("the lifespan hands the call on")
    if owner.line(call) > owner.line(first_yield):
        return in_file(failed(f"`{owner.code(call)}` comes after the `yield`, so it runs when the app shuts down, not "
                              "when it starts: move it above the `yield`", line=owner.line(call),
                              diagnosis="after-yield"), owner, src)
    return passed("the lifespan creates the tables at startup")


@check("app-uses-lifespan")
def app_uses_lifespan(src):
    events = startup_events(src)
    if events:
        return failed(f"`@{src.code(events[0].decorator)}` is FastAPI's deprecated way to run code at startup: move "
                      "that code into the lifespan and give the lifespan to the app", line=src.line(events[0]),
                      diagnosis="on-event")
    app = the_app(src)
    if app is None:
        if app_assigned(src):
            return passed("the app is made in a way this check does not read")
        return failed("main.py never creates `app = FastAPI(...)`, the app the lifespan belongs to", line=src.last_line,
                      diagnosis="no-app")
    given = argument(app, "lifespan")
    _owner, fn = lifespan_function(src)
    if isinstance(given, cst.Call) and fn is not None and refers_to(src, given.func, fn.name.value):
        return failed(f"`lifespan=` is given `{src.code(given)}`, a call: FastAPI calls the lifespan itself when the "
                      f"app starts, so give it the function, `{src.code(given.func)}`", line=src.line(given),
                      diagnosis="lifespan-called")
    if given is not None and fn is None:
        return passed(NOT_READ)
    if given is None or not refers_to(src, given, fn.name.value):
        return failed(f"`{src.code(app)}` is not given the lifespan, so FastAPI never runs it and the tables are "
                      "never created: pass it as `lifespan=`", line=src.line(app), diagnosis="no-lifespan-arg")
    return passed("the app uses the lifespan", line=src.line(app))
