"""Chapter 8's static checks: the batch endpoint commits once, after its loop; the import endpoint opens a
savepoint per hero."""

from grader.static import all_of, check, endpoint, failed, in_loop, method_calls, outside_loop, parameter

SESSION_DEP = "database.SessionDep"


@check("batch-commits-once")
def batch_commits_once(src):
    batch = endpoint(src, "POST", "/heroes/batch")
    if not batch:
        return batch
    session = parameter(src, batch.node, annotation=SESSION_DEP).node
    commits = method_calls(src, batch.node, "commit", on=session)
    return all_of(outside_loop(src, commit) for commit in commits)


@check("import-uses-savepoints")
def import_uses_savepoints(src):
    found = endpoint(src, "POST", "/heroes/import")
    if not found:
        return found
    fn = found.node
    session = parameter(src, fn, annotation=SESSION_DEP).node
    savepoints = method_calls(src, fn, "begin_nested", on=session)
    adds = method_calls(src, fn, "add", on=session)
    if not savepoints and adds:  # the heroes are added, with no savepoint: where the fix goes is the first add
        return failed(f"`{fn.name.value}` never opens a savepoint: one taken name makes the whole import fail; add "
                      "each hero inside `with session.begin_nested():`", line=src.line(adds[0]),
                      diagnosis="no-savepoint")
    return all_of(in_loop(src, savepoint).otherwise(
        f"`{src.code(savepoint)}` opens one savepoint for the whole import, so one taken name undoes every hero; "
        "open it inside the loop, once per hero", diagnosis="savepoint-outside-loop") for savepoint in savepoints)
