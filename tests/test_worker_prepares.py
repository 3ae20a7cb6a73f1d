"""What the warm worker prepares once for all its children: pytest's configuration as it starts
(each child completes its own copy for its job, once), the chapter's test modules with their
asserts rewritten (used only while the file is unchanged, failing with pytest's explanation as
before) and the grader modules they import, and `inspect`'s index of loaded modules' files."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from _pytest.assertion import rewrite

from grader.sandbox import child, rewrites
from grader.sandbox.preload import index_module_files

CHECK = "def test_sum():\n    total = 1 + 1\n    assert total == {expected}\n"


@pytest.fixture
def check_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(rewrite, "_rewrite_test", rewrite._rewrite_test)  # put pytest's back afterwards
    monkeypatch.setattr(rewrites, "_REWRITTEN", {})
    path = tmp_path / "test_sum.py"
    path.write_text(CHECK.format(expected=3))
    return path


def run(code) -> str:
    namespace: dict = {}
    exec(code, namespace)
    with pytest.raises(AssertionError) as failed:
        namespace["test_sum"]()
    return str(failed.value)


def test_an_unchanged_module_is_rewritten_once(check_file):
    rewrites.prepare([str(check_file)])
    first = rewrite._rewrite_test(check_file, None)
    assert rewrite._rewrite_test(check_file, None) is first
    assert run(first[1]) == "assert 2 == 3"  # pytest's explanation: the asserts are rewritten


def test_a_module_changed_since_is_rewritten_again(check_file):
    rewrites.prepare([str(check_file)])
    prepared = rewrite._rewrite_test(check_file, None)
    check_file.write_text(CHECK.format(expected=4))
    fresh = rewrite._rewrite_test(check_file, None)
    assert fresh is not prepared and run(fresh[1]) == "assert 2 == 4"


def test_a_module_that_does_not_compile_is_left_to_pytest(check_file):
    check_file.write_text("def test_sum(:\n")
    rewrites.prepare([str(check_file)])  # no error here: the child's collection reports it
    with pytest.raises(SyntaxError):
        rewrite._rewrite_test(check_file, None)


def test_loaded_modules_are_indexed_by_file(monkeypatch):
    monkeypatch.setattr(inspect, "modulesbyfile", {})
    monkeypatch.setattr(inspect, "_filesbymodname", {})
    index_module_files()
    assert inspect.modulesbyfile[inspect.getabsfile(json)] == "json"
    assert inspect.modulesbyfile[inspect.getabsfile(rewrites)] == "grader.sandbox.rewrites"


def test_the_grader_modules_a_test_module_imports_are_named_for_the_worker(check_file):
    check_file.write_text("import ast\nimport grader.blame\nfrom grader.mutation import run_tests\n"
                          "from observe import Observer\nfrom . import helpers\n\n" + CHECK.format(expected=2))
    assert rewrites.prepare([str(check_file)]) == ["grader.blame", "grader.mutation"]


def test_a_child_takes_the_prepared_configuration_once_for_its_job(monkeypatch, tmp_path):
    from _pytest.config import get_config

    monkeypatch.setattr(child, "_prepared", {})
    child.prepare_config()
    prepared = child._prepared[child.EXCLUDED]
    take = child._take_prepared(get_config)
    monkeypatch.chdir(tmp_path)
    args = ["test_x.py", "-q", *child.EXCLUDED]
    config = take(args, None, prog=child.PROG)
    assert config is prepared and config.invocation_params.args == tuple(args)
    assert config.invocation_params.dir == tmp_path
    assert all(config.pluginmanager.is_blocked(plugin) for plugin in child.UNUSED_PLUGINS)
    again = take(args, None, prog=child.PROG)  # a second pytest run in the child starts from scratch
    assert again is not prepared and again.invocation_params.args == tuple(args)


def test_the_runs_of_the_learners_tests_take_a_configuration_prepared_for_them(monkeypatch, tmp_path):
    """With grader.mutation loaded (chapter 5), the worker also prepares the configuration of each run of
    the learner's tests: the job leaves it to the runs it forks, and each run takes its own copy."""
    from _pytest.config import get_config

    from grader import mutation

    monkeypatch.setattr(child, "_prepared", {})
    child.prepare_config()
    prepared = child._prepared[mutation.RUN_FLAGS]
    take = child._take_prepared(get_config)
    monkeypatch.chdir(tmp_path)
    job = take(["test_x.py", *child.EXCLUDED], None, prog=child.PROG)
    run = take(["tests/test_heroes.py", "-x", *mutation.RUN_FLAGS], None, prog=child.PROG)
    assert job is not prepared and run is prepared
    assert all(run.pluginmanager.is_blocked(p) for p in ("terminal", "cacheprovider", "stepwise"))


def test_other_arguments_get_a_configuration_of_their_own(monkeypatch):
    from _pytest.config import get_config

    monkeypatch.setattr(child, "_prepared", {})
    child.prepare_config()
    prepared = child._prepared[child.EXCLUDED]
    config = child._take_prepared(get_config)(["test_x.py", "-p", "no:doctest"], None, prog=child.PROG)
    assert config is not prepared and child._prepared[child.EXCLUDED] is prepared
    assert config.pluginmanager.is_blocked("doctest") and not config.pluginmanager.is_blocked("cacheprovider")


def test_a_pytest_whose_get_config_names_no_program_starts_each_childs_own(monkeypatch):
    """pytest 8.0 (the floor) calls `get_config(args, plugins)`: nothing is prepared, and the child's
    `get_config` hands pytest's own call on exactly as it was made."""
    import _pytest.config

    calls = []

    def older_get_config(args=None, plugins=None):
        calls.append((args, plugins))
        return "its own configuration"

    monkeypatch.setattr(_pytest.config, "get_config", older_get_config)
    monkeypatch.setattr(child, "_prepared", {})
    child.prepare_config()
    assert child._prepared == {} and calls == []
    assert child._take_prepared(older_get_config)(["test_x.py", *child.EXCLUDED], None) == "its own configuration"
    assert calls == [(["test_x.py", *child.EXCLUDED], None)]
