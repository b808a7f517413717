"""What is registered, known without importing it: every method's and task's name, version and description.

The registries (:data:`fairbench.methods.METHODS`, :data:`fairbench.runner.tasks.TASKS`) fill
themselves when their modules are imported, which may import torch. The report layer and ``fairbench
list`` only need the registrations' literal fields, and the registries themselves only the module
that registers a name (``module``: they import it when the name is asked for), so this module reads them from
the source with :mod:`ast`: the ``register_method(MethodEntry(...))`` calls (also through a helper
function that returns a ``MethodEntry``, e.g. ``entry(...)`` in ``methods/recsys/_residual.py``,
or a module-level name bound to one) and the ``register_task(...)`` calls under
``fairbench/runner/tasks/``. It follows the registries' own discovery rule
(:func:`fairbench.core.plugins.import_submodules`): modules and sub-packages whose names start with
``_``, and ``base`` / ``registry``, register nothing of their own.

A field the catalog needs (name, kind, task, version, description, papers, model_family, needs_model) must be a literal, a
module-level constant or a parameter of such a helper; anything else is reported with its file and
line. ``tests/test_catalog.py`` checks that the catalog equals the imported registries.

A run configuration is checked at plan time against the catalog too (``runner/tasks/config.py``), so a
typo answers before torch or scikit-learn is imported: each method's constructor signature
(:class:`Signature`: parameter names, literal defaults, annotations as the source writes them, and
``**kwargs`` followed to the base classes' ``__init__`` in method resolution order, as the method would
forward them, unless the class keeps them itself, ``_passthrough``), each protocol's keyword
parameters, each metric's :class:`~fairbench.metrics.registry.Needs` and each dataset's variants.
``tests/test_catalog.py`` checks these against ``inspect`` and the registries as well.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .core.errors import FairbenchError

PACKAGE = Path(__file__).resolve().parent
METHOD_FIELDS = ("name", "kind", "task", "version", "description", "papers", "model_family", "needs_model")
TASK_FIELDS = ("name", "version", "description")
NOT_DISCOVERED = {"base", "registry"}  # what import_submodules skips besides private modules
# Keys whose string value names a registered method, at any depth of a run configuration: the cell's
# method, its base model's (``model: {method: ...}``), a learner inside parameters (SISA's shards),
# the reference unlearner. ``none`` switches the reference off.
METHOD_KEYS = ("method", "learner", "reference")
NO_METHOD = "none"


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


REQUIRED = _Marker("REQUIRED")  # a parameter without a default
NOT_LITERAL = _Marker("NOT_LITERAL")  # a default the source computes (the catalog does not evaluate it)
OPAQUE = _Marker("OPAQUE")  # an annotation evaluated at import (no ``from __future__ import annotations``)


@dataclass(frozen=True)
class Parameter:
    """A named constructor (or protocol) parameter as the source declares it."""

    name: str
    default: Any = REQUIRED  # the literal default, REQUIRED or NOT_LITERAL
    annotation: Any = None  # the annotation's source text, None without one, OPAQUE when not postponed


@dataclass(frozen=True)
class Signature:
    """What a method's constructor accepts: its named parameters (a base's forwarded ones included) and
    whether it also keeps names of its own (``**kwargs`` not forwarded, e.g. SISA's shard parameters)."""

    parameters: tuple[Parameter, ...]
    open_ended: bool

    def named(self) -> dict[str, Parameter]:
        return {p.name: p for p in self.parameters}


@dataclass(frozen=True)
class MethodInfo:
    name: str
    kind: str
    task: str
    version: str
    description: str
    papers: tuple[str, ...] = ()
    model_family: str = ""  # a learner's model family (MethodEntry.model_family)
    needs_model: tuple[str, ...] = ()  # the model families an unlearner can unlearn (empty: any)
    signature: Signature | None = field(default=None, compare=False)  # its factory's, read from the source
    unreadable: str = field(default="", compare=False)  # why the signature could not be read (then None)
    module: str = field(default="", compare=False)  # the module that registers it (imported when it is asked for)


@dataclass(frozen=True)
class TaskInfo:
    name: str
    version: str
    description: str
    module: str = field(default="", compare=False)  # the module that registers it (imported when it runs)


@dataclass(frozen=True)
class ProtocolSignature:
    name: str
    parameters: tuple[Parameter, ...]  # its keyword-only parameters

    def named(self) -> dict[str, Parameter]:
        return {p.name: p for p in self.parameters}


@dataclass(frozen=True)
class MetricNeeds:
    """The parts of a metric's registered Needs that a configuration is checked against."""

    name: str
    inputs: tuple[str, ...]
    split: str = "test"

    def inputs_without_split(self) -> tuple[str, ...]:
        return tuple(name.partition(":")[0] for name in self.inputs)

    def splits(self) -> set[str]:
        """Every split the metric reads from (its own and those its qualified inputs name)."""
        return {self.split} | {name.partition(":")[2] for name in self.inputs if ":" in name}


class Catalog:
    """Registered methods and tasks by name, and the questions the report layer asks of them."""

    def __init__(self, methods: dict[str, MethodInfo], tasks: dict[str, TaskInfo]):
        self.methods = dict(sorted(methods.items()))
        self.tasks = dict(sorted(tasks.items()))

    def methods_named(self, run: dict[str, Any]) -> list[str]:
        """The methods a run configuration names (see :data:`METHOD_KEYS`), its own method first."""
        names: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in METHOD_KEYS and isinstance(value, str) and value != NO_METHOD and value not in names:
                        names.append(value)
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(run)
        return names

    def missing(self, run: dict[str, Any]) -> str:
        """Why a run cannot be made here because something it names is not implemented ("" if nothing is)."""
        for name in self.methods_named(run):
            if name not in self.methods:
                return f"method not implemented: '{name}'"
        task = run.get("task") or (self.methods[run["method"]].task if run.get("method") else None)
        if task is not None and task not in self.tasks:
            return f"task not implemented: '{task}'"
        dataset = run.get("dataset")
        if isinstance(dataset, str) and dataset:  # a spec may name a loader ahead of it (as cobum's table2 did)
            gap = unregistered_dataset(dataset)
            if gap == "dataset":
                return f"dataset not implemented: '{dataset.partition('@')[0]}'"
            if gap == "variant":
                return f"dataset variant not implemented: '{dataset}'"
        return ""

    def staleness(self, code: dict[str, Any]) -> str:
        """How a record's code versions (``record["code"]``) differ from the registered ones ("" if none)."""
        made_by = [("task", code.get("task"), code.get("task_version"), self.tasks),
                   ("method", code.get("method"), code.get("method_version"), self.methods)]
        made_by += [("component", name, version, self.methods) for name, version in (code.get("components") or {}).items()]
        differences = []
        for kind, name, version, registry in made_by:
            if name is None:
                continue
            if name not in registry:
                differences.append(f"{kind} {name} version {version}, no longer registered")
            elif str(version) != registry[name].version:
                differences.append(f"{kind} {name} version {version}, current {registry[name].version}")
        return "made by " + "; ".join(differences) if differences else ""


@functools.lru_cache(maxsize=None)
def catalog() -> Catalog:
    """The catalog of this installation's sources (parsed once per process)."""
    return Catalog(parse_methods(PACKAGE / "methods"), parse_tasks(PACKAGE / "runner" / "tasks"))


@functools.lru_cache(maxsize=None)
def protocols() -> dict[str, ProtocolSignature]:
    """The registered deletion protocols of this installation, read from the sources."""
    return parse_protocols(PACKAGE / "protocols")


@functools.lru_cache(maxsize=None)
def metrics() -> dict[str, MetricNeeds]:
    """The registered metrics of this installation and what they need, read from the sources."""
    return parse_metrics(PACKAGE / "metrics")


@functools.lru_cache(maxsize=None)
def datasets() -> dict[str, tuple[str, ...]]:
    """The registered datasets of this installation and their variants, read from the sources."""
    return parse_datasets(PACKAGE / "datasets")


def unregistered_dataset(spec: str) -> str:
    """What of ``name[@variant]`` has no loader here: "dataset", "variant", or "" when both are registered."""
    name, _, variant = spec.partition("@")
    known = datasets()
    if name not in known:
        return "dataset"
    return "" if (variant or "default") in known[name] else "variant"


# ---------------------------------------------------------------- parsing


class _Module:
    """One parsed source file: its module-level constants, functions and relative imports."""

    def __init__(self, path: Path, package: tuple[str, ...], text: str):
        self.path = path
        self.package = package  # e.g. ("methods", "recsys"), for relative imports
        self.tree = ast.parse(text, filename=str(path))
        self.functions = {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef)}
        self.classes = {n.name: n for n in self.tree.body if isinstance(n, ast.ClassDef)}
        # annotations stay the source's text (as inspect shows them) only under postponed evaluation
        self.postponed = any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
                             and any(a.name == "annotations" for a in n.names) for n in self.tree.body)
        self.constants: dict[str, ast.expr] = {}
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.constants[node.targets[0].id] = node.value
        self.imported: dict[str, tuple[str, ...]] = {}  # local name -> module parts + its name there
        for node in self.tree.body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = self.package[: len(self.package) - (node.level - 1)]
                module = base + tuple(node.module.split(".")) if node.module else base
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = module + (alias.name,)

    def where(self, node: ast.AST) -> str:
        return f"{self.path}:{getattr(node, 'lineno', '?')}"


class _Sources:
    """The source files under one package folder, by their dotted parts relative to its parent
    (``("methods", "recsys", "ips")``), parsed when first needed (most files register nothing)."""

    def __init__(self, root: Path):
        self.root = root
        self.top = (root.name,)
        self.paths: dict[tuple[str, ...], Path] = {}
        for path in sorted(root.rglob("*.py")):
            package = path.parent.relative_to(root.parent).parts
            self.paths[package + (() if path.stem == "__init__" else (path.stem,))] = path
        self._parsed: dict[tuple[str, ...], _Module] = {}
        self._text: dict[tuple[str, ...], str] = {}

    def text(self, parts: tuple[str, ...]) -> str:
        if parts not in self._text:
            self._text[parts] = self.paths[parts].read_text()
        return self._text[parts]

    def module(self, parts: tuple[str, ...]) -> _Module:
        if parts not in self._parsed:
            path = self.paths[parts]
            self._parsed[parts] = _Module(path, path.parent.relative_to(self.root.parent).parts, self.text(parts))
        return self._parsed[parts]

    def registering(self, call: str) -> Iterator[_Module]:
        """The modules that call ``call`` and run on import, as import_submodules discovers them
        (a discovered package's ``__init__`` included)."""
        for parts in self.paths:
            discovered = not any(p.startswith("_") or p in NOT_DISCOVERED for p in parts[len(self.top):])
            if discovered and call in self.text(parts):
                yield self.module(parts)

    def defining(self, keyword: str, name: str) -> Iterator[_Module]:
        """The modules whose text defines ``name`` (``keyword`` is ``class`` or ``def``)."""
        for parts in self.paths:
            if f"{keyword} {name}" in self.text(parts):
                yield self.module(parts)

    def function(self, module: _Module, name: str) -> tuple[_Module, ast.FunctionDef] | None:
        found = self.definition(module, name)
        return found if found is not None and isinstance(found[1], ast.FunctionDef) else None

    def definition(self, module: _Module, name: str) -> tuple[_Module, ast.FunctionDef | ast.ClassDef] | None:
        """The module-level function or class ``name`` means in ``module`` (followed through relative
        imports within this package); None when it is defined elsewhere."""
        if name in module.functions:
            return module, module.functions[name]
        if name in module.classes:
            return module, module.classes[name]
        target = module.imported.get(name)
        if target is not None and target[:-1] in self.paths:
            return self.definition(self.module(target[:-1]), target[-1])
        return None


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return node.func.id
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
    return None


def _registrations(module: _Module, call: str) -> Iterator[ast.Call]:
    """Module-level calls of ``call``: statements, and decorators of module-level functions and classes."""
    for statement in module.tree.body:
        candidates = [statement.value] if isinstance(statement, ast.Expr) else []
        if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            candidates = statement.decorator_list
        yield from (node for node in candidates if _call_name(node) == call)


def _bind(call: ast.Call, parameters: list[str], where: str) -> dict[str, ast.expr]:
    """The argument expressions of ``call`` by parameter name."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        raise FairbenchError(f"{where}: catalog cannot read *args / **kwargs in a registration")
    if len(call.args) > len(parameters):
        raise FairbenchError(f"{where}: more positional arguments than {parameters}")
    bound = dict(zip(parameters, call.args))
    bound.update({k.arg: k.value for k in call.keywords})
    return bound


def _parameters(function: ast.FunctionDef) -> tuple[list[str], dict[str, ast.expr]]:
    args = function.args
    names = [a.arg for a in args.posonlyargs + args.args]
    defaults = dict(zip(names[len(names) - len(args.defaults):], args.defaults))
    names += [a.arg for a in args.kwonlyargs]
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    return names, defaults


def _literal(node: ast.expr, scope: dict[str, Any], module: _Module, field: str) -> Any:
    """A literal, a name bound in ``scope`` (a helper's argument, already evaluated) or a module constant."""
    if isinstance(node, ast.Name):
        if node.id in scope:
            return scope[node.id]
        if node.id in module.constants:
            return _literal(module.constants[node.id], {}, module, field)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise FairbenchError(f"{module.where(node)}: the catalog needs '{field}' as a literal") from None


def _dataclass_fields(sources: _Sources, class_name: str) -> list[str]:
    for module in sources.defining("class", class_name):
        for node in module.tree.body:
            if isinstance(node, ast.ClassDef) and node.name == class_name:
                return [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
    raise FairbenchError(f"the catalog found no class {class_name} under {sources.root}")


def _fields(module: _Module, call: ast.Call, signature: list[str], wanted: tuple[str, ...],
            scope: dict[str, Any]) -> dict[str, Any]:
    bound = _bind(call, signature, module.where(call))
    return {name: _literal(bound[name], scope, module, name) for name in wanted if name in bound}


Expression = tuple[_Module, ast.expr]  # an expression and the module whose names it uses


def _method_entry(sources: _Sources, module: _Module, node: ast.expr, entry_fields: list[str],
                  scope: dict[str, Any], expressions: dict[str, Expression] | None = None
                  ) -> tuple[dict[str, Any], Expression | None]:
    """The catalog fields of an expression that builds a MethodEntry (the call itself, a helper's call, or a
    module-level name bound to either), and its factory's expression where it was written."""
    expressions = expressions or {}
    if isinstance(node, ast.Name) and node.id in module.constants:
        return _method_entry(sources, module, module.constants[node.id], entry_fields, scope, expressions)
    name = _call_name(node)
    if name == "MethodEntry":
        factory = _bind(node, entry_fields, module.where(node)).get("factory")
        if isinstance(factory, ast.Name) and factory.id in expressions:  # a helper's parameter: the caller's argument
            located: Expression | None = expressions[factory.id]
        else:
            located = None if factory is None else (module, factory)
        return _fields(module, node, entry_fields, METHOD_FIELDS, scope), located
    found = sources.function(module, name) if name else None
    if found is None:
        raise FairbenchError(f"{module.where(node)}: the catalog cannot read this registration (not a MethodEntry)")
    helper_module, helper = found
    parameters, defaults = _parameters(helper)
    arguments = {**defaults, **_bind(node, parameters, module.where(node))}
    helper_scope, helper_expressions = {}, {}
    for parameter in parameters:
        if parameter in arguments:
            argument = arguments[parameter]
            helper_expressions[parameter] = (expressions[argument.id] if isinstance(argument, ast.Name)
                                             and argument.id in expressions else (module, argument))
        try:
            helper_scope[parameter] = _literal(arguments[parameter], scope, module, parameter)
        except (KeyError, FairbenchError):  # absent, or not a literal (e.g. a factory): never a catalog field
            pass
    returned = [n.value for n in ast.walk(helper) if isinstance(n, ast.Return) and n.value is not None]
    if len(returned) != 1:
        raise FairbenchError(f"{helper_module.where(helper)}: a registration helper must return one MethodEntry")
    return _method_entry(sources, helper_module, returned[0], entry_fields, helper_scope, helper_expressions)


# ---------------------------------------------------------------- signatures


def _default(node: ast.expr | None, module: _Module) -> Any:
    if node is None:
        return REQUIRED
    try:
        return _literal(node, {}, module, "default")
    except FairbenchError:
        return NOT_LITERAL


def _annotation(node: ast.expr | None, module: _Module) -> Any:
    if node is None:
        return None
    return ast.unparse(node) if module.postponed else OPAQUE


def _named_parameters(function: ast.FunctionDef, module: _Module, skip: int = 0,
                      keyword_only: bool = False) -> list[Parameter]:
    """The parameters that can be passed by name (positional-or-keyword ones after the first ``skip``,
    unless ``keyword_only``, and keyword-only ones), with their defaults and annotations."""
    args = function.args
    positional = args.posonlyargs + args.args
    defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
    named = [] if keyword_only else [a for a in args.args if a not in positional[:skip]]
    out = [Parameter(a.arg, _default(defaults.get(a.arg), module), _annotation(a.annotation, module)) for a in named]
    out += [Parameter(a.arg, _default(d, module), _annotation(a.annotation, module))
            for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    return out


_External = str  # a base class defined outside the package, by its source text
_Class = tuple[_Module, ast.ClassDef]


def _linearization(sources: _Sources, module: _Module, node: ast.ClassDef) -> list[_Class | _External]:
    """The class's method resolution order (C3), as Python computes it; bases defined outside the
    package end it as opaque names (assumed to add no ``__init__`` parameters: the test against
    ``inspect`` says otherwise if one does)."""

    def key(item: _Class | _External) -> Any:
        return item if isinstance(item, str) else (item[0].path, item[1].name)

    def of(item: _Class | _External) -> list[_Class | _External]:
        if isinstance(item, str):
            return [item]
        where, klass = item
        bases: list[_Class | _External] = []
        for base in klass.bases:
            found = sources.definition(where, base.id) if isinstance(base, ast.Name) else None
            bases.append(found if found is not None and isinstance(found[1], ast.ClassDef) else ast.unparse(base))
        sequences = [of(base) for base in bases] + [bases]
        result: list[_Class | _External] = [item]
        while any(sequences):
            for sequence in sequences:
                if not sequence:
                    continue
                head = sequence[0]
                if not any(key(head) in map(key, other[1:]) for other in sequences):
                    break
            else:
                raise FairbenchError(f"{where.where(klass)}: no consistent method resolution order")
            result.append(head)
            sequences = [other[1:] if other and key(other[0]) == key(head) else other for other in sequences]
        return result

    return of((module, node))


def _class_attribute(classes: list[_Class | _External], name: str) -> Any:
    for item in classes:
        if isinstance(item, str):
            continue
        module, klass = item
        for statement in klass.body:
            if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id == name):
                return _literal(statement.value, {}, module, name)
    return None


def _signature(sources: _Sources, located: Expression) -> Signature:
    """The constructor signature of a factory expression: a class (its ``__init__`` and those it forwards
    ``**kwargs`` to, up the method resolution order) or a function."""
    module, node = located
    if isinstance(node, ast.Name) and node.id in module.constants:
        return _signature(sources, (module, module.constants[node.id]))
    found = sources.definition(module, node.id) if isinstance(node, ast.Name) else None
    if found is None:
        raise FairbenchError(f"{module.where(node)}: the catalog cannot find the factory "
                             f"{ast.unparse(node)!r} (a class or function of the methods package)")
    where, definition = found
    if isinstance(definition, ast.FunctionDef):
        return Signature(tuple(_named_parameters(definition, where)), definition.args.kwarg is not None)
    classes = _linearization(sources, where, definition)
    named: dict[str, Parameter] = {}
    for item in classes:
        if isinstance(item, str):
            continue
        klass_module, klass = item
        init = next((n for n in klass.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if init is None:
            continue
        for parameter in _named_parameters(init, klass_module, skip=1):  # without self
            named.setdefault(parameter.name, parameter)
        if init.args.kwarg is None:
            return Signature(tuple(named.values()), False)
        if _class_attribute(classes, "_passthrough"):  # the **kwargs are the method's own (kept, not forwarded)
            return Signature(tuple(named.values()), True)
    return Signature(tuple(named.values()), True)


def _info(cls: type, values: dict[str, Any], where: str) -> Any:
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise FairbenchError(f"{where}: the registration gives no {', '.join(missing)}")
    for name in ("papers", "needs_model"):
        if name in values:
            values[name] = tuple(values[name])
    return cls(**values)


def parse_methods(root: Path) -> dict[str, MethodInfo]:
    """Every ``register_method(...)`` call of the method package at ``root``."""
    sources = _Sources(root)
    entry_fields = _dataclass_fields(sources, "MethodEntry")
    methods: dict[str, MethodInfo] = {}
    for module in sources.registering("register_method"):
        for node in _registrations(module, "register_method"):
            if len(node.args) != 1 or node.keywords:
                raise FairbenchError(f"{module.where(node)}: register_method takes one MethodEntry")
            values, factory = _method_entry(sources, module, node.args[0], entry_fields, {})
            try:  # a signature the catalog cannot read fails that method's runs, not the listing or the report
                values["signature"] = _signature(sources, factory) if factory is not None else None
            except FairbenchError as exc:
                values["unreadable"] = str(exc)
            values["module"] = _module_name(module.path, root)
            info = _info(MethodInfo, values, module.where(node))
            if info.name in methods:
                raise FairbenchError(f"{module.where(node)}: method '{info.name}' registered twice")
            methods[info.name] = info
    return methods


def _module_name(path: Path, root: Path) -> str:
    """The dotted name a source file is imported by (within fairbench, else relative to ``root``'s parent)."""
    top = PACKAGE.parent if path.is_relative_to(PACKAGE) else root.parent
    parts = path.relative_to(top).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)  # a package registers in its __init__


def parse_tasks(root: Path) -> dict[str, TaskInfo]:
    """Every ``register_task(...)`` call (usually a decorator) of the task package at ``root``."""
    sources = _Sources(root)
    definitions = [m.functions["register_task"] for m in sources.defining("def", "register_task")
                   if "register_task" in m.functions]
    if len(definitions) != 1:
        raise FairbenchError(f"the catalog needs exactly one register_task under {root}, found {len(definitions)}")
    signature, _ = _parameters(definitions[0])
    tasks: dict[str, TaskInfo] = {}
    for module in sources.registering("register_task"):
        for node in _registrations(module, "register_task"):
            values = _fields(module, node, signature, TASK_FIELDS, {})
            values["module"] = _module_name(module.path, root)
            info = _info(TaskInfo, values, module.where(node))
            if info.name in tasks:
                raise FairbenchError(f"{module.where(node)}: task '{info.name}' registered twice")
            tasks[info.name] = info
    return tasks


def _calls_in(function: ast.FunctionDef, call: str) -> bool:
    return any(_call_name(node) == call for node in ast.walk(function))


def parse_protocols(root: Path) -> dict[str, ProtocolSignature]:
    """Every protocol function decorated with ``register_protocol(name, ...)`` or with a helper of the
    package that calls it (``protocol(name, ...)`` in ``protocols/tabular.py``), and its keyword-only
    parameters."""
    sources = _Sources(root)
    decorators = {"register_protocol"} | {
        name for parts in sources.paths for name, function in sources.module(parts).functions.items()
        if name != "register_protocol" and _calls_in(function, "register_protocol")}
    found: dict[str, ProtocolSignature] = {}
    for parts in sources.paths:
        if any(p.startswith("_") or p in NOT_DISCOVERED for p in parts[len(sources.top):]):
            continue
        module = sources.module(parts)
        for function in module.functions.values():
            for decorator in function.decorator_list:
                if _call_name(decorator) not in decorators or not isinstance(decorator, ast.Call):
                    continue
                given = decorator.args[0] if decorator.args else next(
                    (k.value for k in decorator.keywords if k.arg == "name"), None)
                if given is None:
                    raise FairbenchError(f"{module.where(decorator)}: the catalog needs the protocol's name")
                name = _literal(given, {}, module, "name")
                found[name] = ProtocolSignature(name, tuple(_named_parameters(function, module, keyword_only=True)))
    return found


def parse_metrics(root: Path) -> dict[str, MetricNeeds]:
    """Every ``register_metric(name, ..., needs=Needs(...))`` of the metric package: as a decorator or
    applied to a function at module level (``register_metric(...)(fn)``)."""
    sources = _Sources(root)
    definition = sources.function(sources.module(sources.top + ("registry",)), "register_metric")
    signature, _ = _parameters(definition[1])
    needs_fields = _dataclass_fields(sources, "Needs")
    found: dict[str, MetricNeeds] = {}
    for module in sources.registering("register_metric"):
        calls = [d for n in module.functions.values() for d in n.decorator_list if _call_name(d) == "register_metric"]
        calls += [n.value.func for n in module.tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                  and _call_name(n.value.func) == "register_metric"]
        for call in calls:
            bound = _bind(call, signature, module.where(call))
            name = _literal(bound["name"], {}, module, "name")
            needs = bound["needs"]
            if isinstance(needs, ast.Name) and needs.id in module.constants:
                needs = module.constants[needs.id]
            if _call_name(needs) != "Needs":
                raise FairbenchError(f"{module.where(call)}: the catalog needs 'needs' as a Needs(...) call")
            values = _fields(module, needs, needs_fields, ("inputs", "split"), {})
            found[name] = MetricNeeds(name, tuple(values["inputs"]), values.get("split", "test"))
    return found


def parse_datasets(root: Path) -> dict[str, tuple[str, ...]]:
    """Every ``register_dataset(source, variants, ...)`` of the dataset package: its source's name and
    the variants' names (the keys of a literal mapping)."""
    sources = _Sources(root)
    definition = sources.function(sources.module(sources.top + ("registry",)), "register_dataset")
    signature, _ = _parameters(definition[1])
    source_fields = _dataclass_fields(sources, "DatasetSource")
    found: dict[str, tuple[str, ...]] = {}
    for module in sources.registering("register_dataset"):
        statements = [n.value for n in module.tree.body if isinstance(n, (ast.Expr, ast.Assign))]
        for call in (n for n in statements if _call_name(n) == "register_dataset"):
            bound = _bind(call, signature, module.where(call))
            source = bound["source"]
            if isinstance(source, ast.Name) and source.id in module.constants:
                source = module.constants[source.id]
            if _call_name(source) != "DatasetSource" or not isinstance(bound.get("variants"), ast.Dict):
                raise FairbenchError(f"{module.where(call)}: the catalog needs a DatasetSource(...) and a literal "
                                     "mapping of variants")
            name = _fields(module, source, source_fields, ("name",), {})["name"]
            found[name] = tuple(_literal(key, {}, module, "variant") for key in bound["variants"].keys)
    return found
