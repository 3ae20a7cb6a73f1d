"""Building blocks for static checks, on libcst metadata.

A chapter's `checks/static.py` reads like the lesson's instructions::

    from grader.static import check, imported, all_of

    @check("imports")
    def imports(src):
        return all_of(imported(src, "sqlmodel.Session"), imported(src, "typing.Annotated"))

Every block returns a :class:`Finding` (ok, message, line, diagnosis, node); use
``finding.otherwise("your message")`` to replace the default failure message.
The catalogue, with the pattern language, is in docs/AUTHORING.md ("Static checks").
"""

from grader.static.assignments import (
    alias_value, assignment, bindings, defined_after, mutated_names, resolve_alias, resolved, resolves_to,
)
from grader.static.calls import argument, call_path, called, calls_to, not_called
from grader.static.context import yields_inside
from grader.static.endpoints import Endpoint, app_objects, endpoint, endpoints, parameter, parameters
from grader.static.finding import LINE, MESSAGE, Finding, all_of, failed, passed
from grader.static.functions import function, is_async, is_generator, yields
from grader.static.imports import imported, module_imports
from grader.static.patterns import alternatives, display, find_mismatch, matches, refers_to, spelled
from grader.static.places import (
    calls_method, held, in_finally, in_loop, in_with, method_calls, outside_finally, outside_loop,
)
from grader.static.registry import check
from grader.static.source import Source, enclosing_function, module_functions, walk
from grader.static.transactions import (
    TRANSACTION_CALLS, endpoints_owning_transactions, own_method_calls, transaction_calls,
)

__all__ = [
    "LINE", "MESSAGE", "TRANSACTION_CALLS", "Endpoint", "Finding", "Source", "alias_value", "all_of",
    "alternatives", "app_objects", "argument", "assignment", "bindings", "call_path", "called", "calls_method",
    "calls_to", "check", "defined_after", "display", "enclosing_function", "endpoint", "endpoints",
    "endpoints_owning_transactions", "failed", "find_mismatch", "function", "held", "imported", "in_finally",
    "in_loop", "in_with", "is_async", "is_generator", "matches", "method_calls", "module_functions",
    "module_imports", "mutated_names", "not_called", "outside_finally", "outside_loop", "own_method_calls",
    "parameter", "parameters", "passed", "refers_to", "resolve_alias", "resolved", "resolves_to", "spelled",
    "transaction_calls", "walk", "yields", "yields_inside"
]
