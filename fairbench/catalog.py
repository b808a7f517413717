"""What is registered, known without importing it: every method's and task's name, version and description.

The registries (:data:`fairbench.methods.METHODS`, :data:`fairbench.runner.tasks.TASKS`) fill
themselves when their modules are imported, which imports torch and every method. The report layer
and ``fairbench list`` only need the registrations' literal fields, so this module reads them from
the source with :mod:`ast`: the ``register_method(MethodEntry(...))`` calls (also through a helper
function that returns a ``MethodEntry``, e.g. ``entry(...)`` in ``methods/recsys/_residual.py``,
or a module-level name bound to one) and the ``register_task(...)`` calls under
``fairbench/runner/tasks/``. It follows the registries' own discovery rule
(:func:`fairbench.core.plugins.import_submodules`): modules and sub-packages whose names start with
``_``, and ``base`` / ``registry``, register nothing of their own.

A field the catalog needs (name, kind, task, version, description, papers) must be a literal, a
module-level constant or a parameter of such a helper; anything else is reported with its file and
line. ``tests/test_catalog.py`` checks that the catalog equals the imported registries.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .core.errors import FairbenchError

PACKAGE = Path(__file__).resolve().parent
METHOD_FIELDS = ("name", "kind", "task", "version", "description", "papers")
TASK_FIELDS = ("name", "version", "description")
NOT_DISCOVERED = {"base", "registry"}  # what import_submodules skips besides private modules
# Keys whose string value names a registered method, at any depth of a run configuration: the cell's
# method, its base model's (``model: {method: ...}``), a learner inside parameters (SISA's shards),
# the reference unlearner. ``none`` switches the reference off.
METHOD_KEYS = ("method", "learner", "reference")
NO_METHOD = "none"


@dataclass(frozen=True)
class MethodInfo:
    name: str
    kind: str
    task: str
    version: str
    description: str
    papers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskInfo:
    name: str
    version: str
    description: str


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


# ---------------------------------------------------------------- parsing


class _Module:
    """One parsed source file: its module-level constants, functions and relative imports."""

    def __init__(self, path: Path, package: tuple[str, ...], text: str):
        self.path = path
        self.package = package  # e.g. ("methods", "recsys"), for relative imports
        self.tree = ast.parse(text, filename=str(path))
        self.functions = {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef)}
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
        if name in module.functions:
            return module, module.functions[name]
        target = module.imported.get(name)
        if target is not None and target[:-1] in self.paths:
            return self.function(self.module(target[:-1]), target[-1])
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


def _method_entry(sources: _Sources, module: _Module, node: ast.expr, entry_fields: list[str],
                  scope: dict[str, Any]) -> dict[str, Any]:
    """The catalog fields of an expression that builds a MethodEntry: the call itself, a helper's call, or a
    module-level name bound to either."""
    if isinstance(node, ast.Name) and node.id in module.constants:
        return _method_entry(sources, module, module.constants[node.id], entry_fields, scope)
    name = _call_name(node)
    if name == "MethodEntry":
        return _fields(module, node, entry_fields, METHOD_FIELDS, scope)
    found = sources.function(module, name) if name else None
    if found is None:
        raise FairbenchError(f"{module.where(node)}: the catalog cannot read this registration (not a MethodEntry)")
    helper_module, helper = found
    parameters, defaults = _parameters(helper)
    arguments = {**defaults, **_bind(node, parameters, module.where(node))}
    helper_scope = {}
    for parameter in parameters:
        try:
            helper_scope[parameter] = _literal(arguments[parameter], scope, module, parameter)
        except (KeyError, FairbenchError):  # absent, or not a literal (e.g. a factory): never a catalog field
            pass
    returned = [n.value for n in ast.walk(helper) if isinstance(n, ast.Return) and n.value is not None]
    if len(returned) != 1:
        raise FairbenchError(f"{helper_module.where(helper)}: a registration helper must return one MethodEntry")
    return _method_entry(sources, helper_module, returned[0], entry_fields, helper_scope)


def _info(cls: type, values: dict[str, Any], where: str) -> Any:
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise FairbenchError(f"{where}: the registration gives no {', '.join(missing)}")
    if "papers" in values:
        values["papers"] = tuple(values["papers"])
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
            info = _info(MethodInfo, _method_entry(sources, module, node.args[0], entry_fields, {}), module.where(node))
            if info.name in methods:
                raise FairbenchError(f"{module.where(node)}: method '{info.name}' registered twice")
            methods[info.name] = info
    return methods


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
            info = _info(TaskInfo, _fields(module, node, signature, TASK_FIELDS, {}), module.where(node))
            if info.name in tasks:
                raise FairbenchError(f"{module.where(node)}: task '{info.name}' registered twice")
            tasks[info.name] = info
    return tasks
