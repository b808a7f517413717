"""The catalog (read from the sources) agrees exactly with the registries (filled by importing them)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fairbench.catalog import Catalog, MethodInfo, TaskInfo, catalog, parse_methods, parse_tasks
from fairbench.core.errors import FairbenchError


def test_catalog_equals_the_imported_registries():
    from fairbench.methods import METHODS
    from fairbench.runner.tasks import TASKS

    methods = {name: MethodInfo(e.name, e.kind, e.task, e.version, e.description, tuple(e.papers))
               for name, e in METHODS.items()}
    tasks = {name: TaskInfo(e.name, e.version, e.description) for name, e in TASKS.items()}
    assert catalog().methods == methods
    assert catalog().tasks == tasks


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


BASE = """\
    from dataclasses import dataclass
    @dataclass(frozen=True)
    class MethodEntry:
        name: str
        kind: str
        factory: object
        task: str
        version: str
        description: str
        papers: tuple = ()
"""


def test_helpers_constants_and_positional_arguments_are_followed(tmp_path):
    root = _package(tmp_path / "methods", {
        "__init__.py": "",
        "base.py": BASE,
        "family/__init__.py": "",
        "family/_shared.py": """\
            from ..base import MethodEntry
            VERSION = "7"
            def entry(name, factory, description, kind="learner"):
                return MethodEntry(name=name, kind=kind, factory=factory, task="train", version=VERSION,
                                   description=description, papers=("p",))
        """,
        "family/a.py": """\
            from ._shared import entry as make
            register_method(make("a", object, "made by a helper"))
        """,
        "family/b.py": """\
            from ..base import MethodEntry
            B = MethodEntry("b", "unlearner", object, "unlearn", "2", "positional " "and bound to a name")
            register_method(B)
        """,
        "_private.py": 'register_method(MethodEntry("hidden", "x", None, "t", "1", "never imported"))',
    })
    methods = parse_methods(root)
    assert methods == {
        "a": MethodInfo("a", "learner", "train", "7", "made by a helper", ("p",)),
        "b": MethodInfo("b", "unlearner", "unlearn", "2", "positional and bound to a name"),
    }


def test_a_registration_the_catalog_cannot_read_names_its_line(tmp_path):
    root = _package(tmp_path / "methods", {
        "base.py": BASE,
        "c.py": 'register_method(MethodEntry("c", "x", None, "t", str(1), "computed version"))',
    })
    with pytest.raises(FairbenchError, match=r"c\.py:1: the catalog needs 'version' as a literal"):
        parse_methods(root)


def test_tasks_are_read_from_their_decorators(tmp_path):
    root = _package(tmp_path / "tasks", {
        "base.py": "def register_task(name, version, description, config_keys=(), components=None): ...",
        "one.py": """\
            @register_task("one", version="3", description="first", components=lambda c: ())
            def run(config): ...
        """,
    })
    assert parse_tasks(root) == {"one": TaskInfo("one", "3", "first")}


KNOWN = Catalog({"bt": MethodInfo("bt", "unlearner", "unlearn", "2", ""),
                 "dnn": MethodInfo("dnn", "learner", "train_base", "1", "")},
                {"unlearn": TaskInfo("unlearn", "1", "")})


def test_missing_names_the_first_unregistered_method_of_a_run():
    run = {"task": "unlearn", "method": "bt", "model": {"method": "resnet18"}, "reference": "none"}
    assert KNOWN.methods_named(run) == ["bt", "resnet18"]
    assert KNOWN.missing(run) == "method not implemented: 'resnet18'"
    assert KNOWN.missing({"method": "bt", "model": {"method": "dnn"}}) == ""
    assert KNOWN.missing({"method": "dnn"}) == "task not implemented: 'train_base'"


def test_staleness_names_every_version_that_moved():
    code = {"task": "unlearn", "task_version": "1", "method": "bt", "method_version": "1",
            "components": {"dnn": "1", "gone": "4"}}
    assert KNOWN.staleness(code) == "made by method bt version 1, current 2; component gone version 4, no longer registered"
    assert KNOWN.staleness({**code, "method_version": "2", "components": {"dnn": "1"}}) == ""
