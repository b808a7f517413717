"""The catalog (read from the sources) agrees exactly with the registries (filled by importing them)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import inspect

from fairbench import catalog as sources
from fairbench.catalog import (
    OPAQUE, REQUIRED, Catalog, MethodInfo, Parameter, Signature, TaskInfo, catalog, parse_methods, parse_tasks,
)
from fairbench.core.errors import FairbenchError


def test_catalog_equals_the_imported_registries():
    from fairbench.methods import METHODS
    from fairbench.runner.tasks import TASKS

    methods = {name: MethodInfo(e.name, e.kind, e.task, e.version, e.description, tuple(e.papers),
                                e.model_family, tuple(e.needs_model))
               for name, e in METHODS.items()}
    tasks = {name: TaskInfo(e.name, e.version, e.description) for name, e in TASKS.items()}
    assert catalog().methods == methods
    assert catalog().tasks == tasks


def _as_read(parameter: inspect.Parameter) -> Parameter:
    """A parameter as the catalog reads it from the source (a default it cannot read from the source
    is compared as the value inspect sees: the test fails where the catalog would not know it)."""
    annotation = parameter.annotation
    if annotation is parameter.empty:
        annotation = None
    elif not isinstance(annotation, str):
        annotation = OPAQUE
    return Parameter(parameter.name, REQUIRED if parameter.default is parameter.empty else parameter.default, annotation)


def _inspected_signature(factory) -> Signature:
    """What a method's constructor accepts, by ``inspect`` on the imported class: named parameters up the
    MRO while each ``__init__`` forwards ``**kwargs``, unless the class keeps them (``_passthrough``)."""
    if not isinstance(factory, type):
        parameters = inspect.signature(factory).parameters.values()
        return Signature(tuple(_as_read(p) for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)),
                         any(p.kind is p.VAR_KEYWORD for p in parameters))
    named: dict[str, Parameter] = {}
    for klass in factory.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        parameters = list(inspect.signature(init).parameters.values())[1:]
        for p in parameters:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                named.setdefault(p.name, _as_read(p))
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return Signature(tuple(named.values()), False)
        if getattr(factory, "_passthrough", None):
            return Signature(tuple(named.values()), True)
    return Signature(tuple(named.values()), True)


def test_the_signatures_read_from_the_sources_equal_inspect_on_every_registered_method():
    """Parameter validation uses the catalog's signatures (nothing imported): they must be what the
    imported constructors take, defaults and annotations included, so the two cannot drift apart."""
    from fairbench.methods import METHODS

    for name, entry in METHODS.items():
        assert catalog().methods[name].signature == _inspected_signature(entry.factory), name


def test_protocols_metrics_and_datasets_read_from_the_sources_equal_their_registries():
    from fairbench.datasets import DATASETS
    from fairbench.metrics import METRICS
    from fairbench.protocols import PROTOCOLS

    protocols = {name: tuple(_as_read(p) for p in inspect.signature(info.fn).parameters.values()
                             if p.kind is p.KEYWORD_ONLY) for name, info in PROTOCOLS.items()}
    assert {name: read.parameters for name, read in sources.protocols().items()} == protocols
    assert {name: (read.inputs, read.split) for name, read in sources.metrics().items()} == {
        name: (info.needs.inputs, info.needs.split) for name, info in METRICS.items()}
    assert sources.datasets() == {name: tuple(entry.variants) for name, entry in DATASETS.items()}


def test_each_task_is_found_in_the_module_that_registers_it():
    from fairbench.runner.tasks import TASKS

    for name, entry in TASKS.items():
        assert catalog().tasks[name].module == entry.fn.__module__, name


def test_a_signature_follows_forwarded_kwargs_up_the_hierarchy_and_stops_at_a_passthrough(tmp_path):
    root = _package(tmp_path / "methods", {
        "__init__.py": "",
        "base.py": BASE,
        "_shared.py": """\
            from __future__ import annotations
            SIZE = 4
            class Root:
                def __init__(self, size: int = SIZE, *, random_state: int | None = 0):
                    self.size, self.random_state = size, random_state
            class Middle(Root):
                def __init__(self, lr=0.1, **base):
                    super().__init__(**base)
            class Keeps(Root):
                _passthrough = "extra"
                def __init__(self, depth=2, **extra):
                    self.extra = extra
        """,
        "a.py": """\
            from ._shared import Keeps, Middle
            class Leaf(Middle):
                pass
            register_method(MethodEntry("leaf", "learner", Leaf, "t", "1", "two levels up"))
            register_method(MethodEntry("keeps", "learner", Keeps, "t", "1", "kwargs of its own"))
        """,
    })
    methods = parse_methods(root)
    assert methods["leaf"].signature == Signature(
        (Parameter("lr", 0.1), Parameter("size", 4, "int"), Parameter("random_state", 0, "int | None")), False)
    assert methods["keeps"].signature == Signature((Parameter("depth", 2),), True)


def test_a_factory_the_catalog_cannot_read_fails_its_runs_only(tmp_path):
    root = _package(tmp_path / "methods", {
        "base.py": BASE,
        "d.py": 'register_method(MethodEntry("d", "x", make(), "t", "1", "a computed factory"))',
    })
    info = parse_methods(root)["d"]
    assert info.signature is None and "d.py:1: the catalog cannot find the factory 'make()'" in info.unreadable


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
            class A:
                def __init__(self, k=3): ...
            register_method(make("a", A, "made by a helper"))
        """,
        "family/b.py": """\
            from ..base import MethodEntry
            def build(size=1, **options): ...
            B = MethodEntry("b", "unlearner", build, "unlearn", "2", "positional " "and bound to a name")
            register_method(B)
        """,
        "_private.py": 'register_method(MethodEntry("hidden", "x", None, "t", "1", "never imported"))',
    })
    methods = parse_methods(root)
    assert methods == {
        "a": MethodInfo("a", "learner", "train", "7", "made by a helper", ("p",)),
        "b": MethodInfo("b", "unlearner", "unlearn", "2", "positional and bound to a name"),
    }
    # the factory is found where the helper's caller wrote it; a function's own signature is its constructor's
    assert methods["a"].signature == Signature((Parameter("k", 3),), False)
    assert methods["b"].signature == Signature((Parameter("size", 1),), True)


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


def test_a_run_naming_a_dataset_or_variant_without_a_loader_is_reported_missing():
    from fairbench.catalog import catalog

    known = catalog()
    base = {"task": "unlearn", "method": "retrain"}
    assert known.missing({**base, "dataset": "cub200"}) == ""
    assert known.missing({**base, "dataset": "cub200@cobum"}) == ""
    assert known.missing({**base, "dataset": "cub200@nosuch"}) == "dataset variant not implemented: 'cub200@nosuch'"
    assert known.missing({**base, "dataset": "imagenet"}) == "dataset not implemented: 'imagenet'"
