"""Typed run configurations: the pieces every task's configuration is made of, checked when a job is
planned (no data is loaded, nothing is built or trained).

Each task defines one frozen dataclass (``TrainBaseConfig``, ``UnlearnConfig``, ...) with a
``parse(config: dict)`` that builds it from a cell's resolved run block using the helpers here.
Every problem raises :class:`~fairbench.core.errors.FairbenchError` with one line naming the key and
what it accepts; a method that is not registered raises :class:`MethodNotImplemented` instead, which
the planner turns into a "not runnable here" cell rather than a configuration error.

The checks read the registrations from the sources (:mod:`fairbench.catalog`: methods' constructor
signatures, protocols' parameters, metrics' needs, datasets' variants), so planning imports neither
the methods nor torch nor scikit-learn: a typo answers in well under a second. Only building a method
(:meth:`MethodSpec.build`) and loading data (:meth:`RunConfig.load_data`) import them, when a job runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ... import catalog as sources
from ...catalog import NOT_LITERAL, REQUIRED, MethodInfo, Parameter
from ...core.errors import FairbenchError
from ...core.seeding import SeedStreams

BASE_KEYS = ("task", "method", "dataset", "seed")
GROUP_KEYWORDS = ("minority", "majority", "privileged", "unprivileged")  # groups a protocol picks from the data
MAX_SEED = 2**32  # numpy's legacy seeding (used by third-party code under the determinism guard) takes no more


class NotImplementedHere(FairbenchError):
    """A run names a piece (a method, a dataset variant) that is not built here: its cell is not runnable,
    not misconfigured."""

    def __init__(self, names: Iterable[str], message: str):
        super().__init__(message)
        self.names = tuple(names)


class MethodNotImplemented(NotImplementedHere):
    """A run names a method that is not registered here."""


def refuse(key: str, problem: str, accepted: Iterable[Any] | str) -> FairbenchError:
    """The one-line error for a bad key: what is wrong and what would be accepted."""
    listed = accepted if isinstance(accepted, str) else ", ".join(str(a) for a in accepted) or "(none)"
    return FairbenchError(f"{key}: {problem}; accepted: {listed}")


def check_keys(where: str, given: dict[str, Any], accepted: Iterable[str]) -> None:
    accepted = tuple(accepted)
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise refuse(f"{where}.{unknown[0]}" if where else unknown[0], "unknown key", accepted)


def as_dict(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise refuse(where, f"expected a mapping, got {value!r}", "{key: value, ...}")
    return dict(value)


def method_entry(name: Any, where: str = "method") -> MethodInfo:
    """The registered method ``name`` as the catalog reads it (nothing is imported)."""
    if not isinstance(name, str) or not name:
        raise refuse(where, f"expected a method name, got {name!r}", "a registered method (fairbench list methods)")
    known = sources.catalog().methods
    if name not in known:
        raise MethodNotImplemented([name], f"unknown method '{name}'; known: {', '.join(known)}")
    return known[name]


def load_dataset(spec: str, seed: int, params: dict[str, Any]) -> Any:
    """The dataset (imported here, when a job runs: planning never loads data)."""
    from ...datasets import load_dataset as load

    return load(spec, seed=seed, params=params)


_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str, "list": (list, tuple), "dict": dict,
          "tuple": (list, tuple), "None": type(None)}


def _accepts(parameter: Parameter, value: Any) -> bool:
    """Whether ``value`` fits ``parameter``: by its annotation (the source's text: only the simple forms
    used by the methods, ``int | None``, ``list[int]``, are read), else by the type of its literal
    default; anything not understood is accepted (the method checks it itself)."""
    annotation, default = parameter.annotation, parameter.default
    if isinstance(annotation, str) and annotation:
        names = [part.strip().split("[")[0] for part in annotation.split("|")]
        if all(name in _TYPES for name in names):
            if isinstance(value, bool) and "bool" not in names:
                return False
            return any(isinstance(value, _TYPES[name]) for name in names)
        return True
    if annotation is None and default not in (None, REQUIRED, NOT_LITERAL):
        if isinstance(default, bool) or isinstance(value, bool):
            return isinstance(value, bool) == isinstance(default, bool)
        if isinstance(default, (int, float)):
            return isinstance(value, (int, float))
        if isinstance(default, str):
            return isinstance(value, str)
    return True


def _expected(parameter: Parameter) -> str:
    if isinstance(parameter.annotation, str):
        return parameter.annotation
    return type(parameter.default).__name__


@dataclass(frozen=True)
class MethodSpec:
    """A method and the parameters a run gives it (the constructor's defaults fill the rest)."""

    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    accepted: tuple[str, ...] = ()  # the constructor's named parameters
    open_ended: bool = False  # the constructor takes **kwargs: names beyond ``accepted`` are its own to check

    @classmethod
    def parse(cls, name: Any, params: Any, *, where: str = "method", kinds: tuple[str, ...] = (),
              params_where: str | None = None) -> "MethodSpec":
        """Check ``params`` against the constructor of method ``name`` (``where``/``params_where``: the
        keys error messages name)."""
        entry = method_entry(name, where)
        if kinds and entry.kind not in kinds:
            raise refuse(where, f"'{entry.name}' is a {entry.kind}", f"a {' or '.join(kinds)}")
        params_where = params_where or ("params" if where == "method" else f"{where}.params")
        given = as_dict(params_where, params)
        if entry.signature is None:
            raise FairbenchError(f"method '{entry.name}': its parameters cannot be checked: {entry.unreadable}")
        named, open_ended = entry.signature.named(), entry.signature.open_ended
        for key, value in given.items():
            if key not in named:
                if not open_ended:
                    raise refuse(f"{params_where}.{key}", f"method '{entry.name}' takes no such parameter", named)
                continue
            if not _accepts(named[key], value):
                expected = _expected(named[key])
                raise refuse(f"{params_where}.{key}", f"{value!r} is not of type {expected}", f"a value of type {expected}")
        missing = [n for n, p in named.items() if p.default is REQUIRED and n not in given]
        if missing:
            raise refuse(f"{params_where}.{missing[0]}", f"method '{entry.name}' needs it", named)
        return cls(entry.name, entry.kind, given, tuple(named), open_ended)

    @property
    def takes_random_state(self) -> bool:
        return "random_state" in self.accepted

    def build(self, random_state: int | None = None) -> Any:
        """The method's object; ``random_state`` (its seed stream) is passed when the method takes one
        and the run does not set it explicitly."""
        params = dict(self.params)
        if random_state is not None and self.takes_random_state:
            params.setdefault("random_state", random_state)
        from ...methods import METHODS  # the methods (and torch) are imported when a job runs, not when it is planned

        try:
            return METHODS.get(self.name).factory(**params)
        except (TypeError, ValueError) as exc:  # a method's own check of a value (e.g. an unknown preset)
            raise FairbenchError(f"method '{self.name}' rejected its parameters {sorted(params)}: {exc}") from None


def dataset_name(value: Any) -> str:
    """``name[@variant]``, both registered (checked without loading anything). One that is not raises
    NotImplementedHere: a spec may name a dataset ahead of its loader (e.g. a new paper's data),
    and its cells render not run with the reason; on the command line it is still a one-line error."""
    if not isinstance(value, str) or not value:
        raise refuse("dataset", f"expected name[@variant], got {value!r}", "a registered dataset (fairbench list datasets)")
    gap = sources.unregistered_dataset(value)
    if not gap:
        return value
    known = sources.datasets()
    name, _, variant = value.partition("@")
    if gap == "dataset":  # the registry's own wording (datasets.parse_dataset_name)
        raise NotImplementedHere([name], f"unknown dataset '{name}'; known: {', '.join(sorted(known)) or '(none)'}")
    listed = ", ".join(f"{name}@{v}" if v != "default" else name for v in sorted(known[name]))
    raise NotImplementedHere([value], f"unknown variant '{variant or 'default'}' of dataset '{name}'; known: {listed}")


def metric_names(value: Any, task: str, provided: Iterable[str], default: Iterable[str],
                 splits: Iterable[str] = ("test",)) -> tuple[str, ...]:
    """Registered metric names whose declared inputs (and splits) task ``task`` can provide."""
    names = list(default) if value is None else value
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise refuse("metrics", f"expected a list of metric names, got {value!r}", "[name, ...]")
    provided, splits = set(provided), set(splits)
    registered = sources.metrics()

    def lacking(name: str) -> list[str]:
        needs = registered[name]
        return sorted(set(needs.inputs_without_split()) - provided) + sorted(
            f"{split} split" for split in needs.splits() - splits)

    usable = [n for n in sorted(registered) if not lacking(n)]
    for name in names:
        if name not in registered:
            raise refuse("metrics", f"unknown metric '{name}'", usable)
        if lacking(name):
            raise refuse("metrics", f"task '{task}' cannot give metric '{name}' its {', '.join(lacking(name))}", usable)
    return tuple(names)


@dataclass(frozen=True)
class ProtocolSpec:
    """A deletion protocol and its parameters (``size`` is turned into a fraction once the data is known)."""

    name: str
    params: dict[str, Any]
    size: int | None = None

    @classmethod
    def parse(cls, value: Any) -> "ProtocolSpec":
        block = as_dict("protocol", value)
        registered = sources.protocols()
        if "name" not in block:
            raise refuse("protocol.name", "missing", sorted(registered))
        name = block.pop("name")
        if name not in registered:
            raise refuse("protocol.name", f"unknown protocol {name!r}", sorted(registered))
        size = block.pop("size", None)
        named = registered[name].named()  # the keyword-only parameters of the protocol's function
        for key in block:
            if key not in named:
                raise refuse(f"protocol.{key}", f"protocol '{name}' takes no such parameter", [*named, "size"])
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise refuse("protocol.size", f"expected a positive integer, got {size!r}", "an integer >= 1")
            if "fraction" in block or block.get("fraction_of", "train") != "train":
                raise refuse("protocol.size", "size replaces a fraction of the training set; give one of them",
                             "size or fraction")
            if "fraction" not in named:
                raise refuse("protocol.size", f"protocol '{name}' has no fraction to replace", named)
        missing = [n for n, p in named.items() if p.default is REQUIRED and n not in block
                   and not (n == "fraction" and size is not None)]
        if missing:
            raise refuse(f"protocol.{missing[0]}", f"protocol '{name}' needs it", named)
        if "fraction" in block:  # (0, 1), or (0, 1] for protocols whose fraction defaults to all rows (pose, patch)
            _check_fraction(block["fraction"], allow_one=named["fraction"].default == 1)
        if "group" in block and (isinstance(block["group"], bool) or not isinstance(block["group"], (int, str))):
            raise refuse("protocol.group", f"expected a group name or code, got {block['group']!r}",
                         [*GROUP_KEYWORDS, "a group code or name"])
        return cls(name, block, size)

    def check_group(self, dataset: str, dataset_params: dict[str, Any], seed: int) -> None:
        """A group given by name or code must be one of the dataset's, which only its data knows: the data
        is loaded (not trained on) to check it, so a typo is refused before the original model trains.
        The keywords (minority, ...) need no data here; without the data the run reports it missing."""
        group = self.params.get("group")
        if group is None or (isinstance(group, str) and group.strip().lower() in GROUP_KEYWORDS):
            return
        from ...core.errors import DataError
        from ...protocols.tabular import resolve_group

        try:
            data = load_dataset(dataset, seed, dataset_params)
        except DataError:
            return
        if data.train.s is None:
            return  # the protocol itself says the dataset has no sensitive attribute
        try:
            resolve_group(self.name, data, data.train.s, group)
        except FairbenchError:
            codes = sorted({int(code) for code in data.train.s})
            named = [f"{code} ({data.group_names[code]})" if code in data.group_names else str(code) for code in codes]
            raise refuse("protocol.group", f"dataset '{dataset}' has no group {group!r}",
                         [*GROUP_KEYWORDS, *named]) from None

    def as_run(self) -> dict[str, Any]:
        """The ``protocol`` block this spec was parsed from (for a dependency's run config)."""
        return {"name": self.name, **self.params, **({"size": self.size} if self.size is not None else {})}

    def resolved(self, n_train: int) -> dict[str, Any]:
        """The protocol's parameters for a training split of ``n_train`` rows."""
        if self.size is None:
            return dict(self.params)
        return {**self.params, "fraction": self.size / n_train}


def _check_fraction(value: Any, allow_one: bool) -> None:
    upper_ok = isinstance(value, (int, float)) and (value <= 1 if allow_one else value < 1)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value and upper_ok):
        bounds = "0 < fraction <= 1" if allow_one else "0 < fraction < 1"
        raise refuse("protocol.fraction", f"expected a number with {bounds}, got {value!r}", bounds)


def choice(key: str, value: Any, accepted: tuple[Any, ...]) -> Any:
    if value not in accepted:
        raise refuse(key, f"unknown value {value!r}", accepted)
    return value


def positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise refuse(key, f"expected a positive integer, got {value!r}", "an integer >= 1")
    return value


@dataclass(frozen=True)
class RunConfig:
    """What every task's configuration holds: the method, the dataset, the seed and its streams."""

    method: MethodSpec
    dataset: str
    dataset_params: dict[str, Any]
    seed: int
    streams: SeedStreams

    def load_data(self) -> Any:
        """The dataset, split by the ``split`` stream."""
        return load_dataset(self.dataset, seed=self.streams.seed("split"), params=self.dataset_params)

    @classmethod
    def common(cls, config: dict[str, Any], *, kinds: tuple[str, ...], held: Iterable[str] = ()) -> dict[str, Any]:
        """The shared fields, checked, as keyword arguments for a subclass."""
        seed = config.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
            raise refuse("seed", f"expected a non-negative integer below 2**32, got {seed!r}", "0, 1, 2, ...")
        return {
            "method": MethodSpec.parse(config.get("method"), config.get("params"), kinds=kinds),
            "dataset": dataset_name(config.get("dataset")),
            "dataset_params": as_dict("dataset_params", config.get("dataset_params")),
            "seed": seed,
            "streams": SeedStreams(seed, frozenset(held)),
        }
