"""A fitted method as data: parameters, fitted attributes and arrays — nothing that can execute code.

:func:`export_state` turns a fitted registered method into ``(spec, arrays)``: ``spec`` is JSON (the
registry name, ``get_params()`` and the fitted attributes, i.e. the public attributes ending in ``_``,
scikit-learn's convention) and ``arrays`` maps short keys to numpy arrays referenced from ``spec``.
:func:`restore_state` rebuilds the method through its registered constructor
(``METHODS.get(name).factory(**params)``) and sets the fitted attributes back, so a restored model
predicts bit-identically. The class comes from the registry name only, never from an import path, and
must be a learner; the arrays are plain numbers (the runner stores them as ``.npz`` read with
``allow_pickle=False``).

Values are tagged in ``spec`` so that they come back with their type:

- ``None``, ``bool``, ``int``, ``float``, ``str``: themselves;
- numpy arrays and numpy scalars: ``{"array": key}`` (a scalar is a 0-d array);
- lists, tuples and string-keyed dicts: ``{"list": [...]}``, ``{"tuple": [...]}``, ``{"dict": {...}}``;
- a registered method (a SISA ensemble's shard models): ``{"estimator": name, "params", "fitted"}``;
- a torch module (a fitted ``network_``): ``{"module": {name: array key}, "training": bool}``, its state
  dict as arrays; the owning method rebuilds the architecture with ``module_from_state(attribute,
  state_dict)`` and the weights are loaded into it.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping

import numpy as np

from ..core.errors import FairbenchError
from .base import Method
from .registry import METHODS

STATE_FORMAT = 1


class StateError(FairbenchError):
    """A stored model that cannot be rebuilt (unknown method, malformed or unsupported content)."""


def registered_name(method: Any) -> str:
    # the method's class was imported, so its registration usually ran; every module only if it did not
    names = [name for name, entry in METHODS.loaded() if entry.factory is type(method)]
    if not names:
        names = [name for name, entry in METHODS.items() if entry.factory is type(method)]
    if len(names) != 1:
        raise TypeError(f"{type(method).__name__} is not registered once in the method registry "
                        f"({len(names)} entries): it cannot be stored as data")
    return names[0]


def fitted_attributes(method: Any) -> dict[str, Any]:
    """The attributes ``fit`` set: public names ending in ``_`` (scikit-learn's convention)."""
    return {k: v for k, v in vars(method).items() if k.endswith("_") and not k.startswith("_")}


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, value: np.ndarray) -> dict[str, str]:
        if value.dtype.hasobject:
            raise TypeError("an object array cannot be stored as data")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = value
        return {"array": key}

    def estimator(self, method: Any) -> dict[str, Any]:
        return {"estimator": registered_name(method),
                "params": {k: self.value(v, owner=None, attribute=k) for k, v in method.get_params(deep=False).items()},
                "fitted": {k: self.value(v, owner=method, attribute=k) for k, v in fitted_attributes(method).items()}}

    def value(self, value: Any, owner: Any, attribute: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (np.ndarray, np.generic)):
            return self.array(np.asarray(value))
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, (list, tuple)):
            tag = "list" if isinstance(value, list) else "tuple"
            return {tag: [self.value(v, owner, attribute) for v in value]}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"dict": {k: self.value(v, owner, attribute) for k, v in value.items()}}
        if isinstance(value, Method):
            return self.estimator(value)
        if _is_torch_module(value):
            if not hasattr(owner, "module_from_state"):
                raise TypeError(f"{type(owner).__name__}.{attribute} is a torch module but {type(owner).__name__} "
                                f"has no module_from_state to rebuild it")
            state = {k: self.array(t.detach().cpu().numpy())["array"] for k, t in value.state_dict().items()}
            return {"module": state, "training": bool(value.training)}
        raise TypeError(f"{attribute} holds a {type(value).__name__}, which cannot be stored as data")


def export_state(method: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(spec, arrays)`` of a fitted registered method (TypeError for content that is not data)."""
    encoder = _Encoder()
    spec = encoder.estimator(method)
    return {"format": STATE_FORMAT, **spec}, encoder.arrays


class _Decoder:
    def __init__(self, arrays: Mapping[str, np.ndarray]):
        self.arrays = arrays

    def array(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise StateError(f"the stored model refers to an array {key!r} it does not hold")
        return self.arrays[key]

    def estimator(self, spec: Mapping[str, Any]) -> Any:
        name = spec.get("estimator")
        if not isinstance(name, str) or name not in METHODS:
            raise StateError(f"the stored model names no registered method ({name!r})")
        entry = METHODS.get(name)
        if entry.kind != "learner":
            raise StateError(f"the stored model names '{name}', a {entry.kind}; only learners are stored")
        params, fitted = spec.get("params"), spec.get("fitted")
        if not isinstance(params, dict) or not isinstance(fitted, dict):
            raise StateError(f"the stored {name} model lacks its parameters or fitted attributes")
        try:
            method = entry.factory(**{k: self.value(v, None, k) for k, v in params.items()})
        except TypeError as exc:
            raise StateError(f"the stored {name} model's parameters do not fit its constructor: {exc}") from None
        modules = {}
        for attribute, value in fitted.items():
            if not (attribute.isidentifier() and attribute.endswith("_") and not attribute.startswith("_")):
                raise StateError(f"the stored {name} model has a fitted attribute named {attribute!r}")
            if isinstance(value, dict) and "module" in value:
                modules[attribute] = value  # after the other attributes: the architecture may depend on them
            else:
                setattr(method, attribute, self.value(value, method, attribute))
        for attribute, value in modules.items():
            setattr(method, attribute, self.module(method, attribute, value))
        return method

    def module(self, owner: Any, attribute: str, spec: Mapping[str, Any]) -> Any:
        import torch

        if not hasattr(owner, "module_from_state") or not isinstance(spec["module"], dict):
            raise StateError(f"the stored {type(owner).__name__}.{attribute} cannot be rebuilt")
        state = {k: torch.from_numpy(np.array(self.array(v))) for k, v in spec["module"].items()}
        module = owner.module_from_state(attribute, state)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise StateError(f"the stored {type(owner).__name__}.{attribute} does not match its architecture: "
                             f"{str(exc).splitlines()[0]}") from None
        return module.train(bool(spec.get("training", False)))

    def value(self, value: Any, owner: Any, attribute: str) -> Any:
        if value is None or isinstance(value, (bool, str, int, float)):
            return value
        if isinstance(value, dict) and len(value) >= 1:
            if "array" in value:
                array = self.array(value["array"])
                return array[()] if array.ndim == 0 else array
            if "list" in value or "tuple" in value:
                items = [self.value(v, owner, attribute) for v in value.get("list", value.get("tuple", []))]
                return items if "list" in value else tuple(items)
            if "dict" in value and isinstance(value["dict"], dict):
                return {k: self.value(v, owner, attribute) for k, v in value["dict"].items()}
            if "estimator" in value:
                return self.estimator(value)
        raise StateError(f"the stored model holds an unreadable value for {attribute}")


def restore_state(spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray], expected: str | None = None) -> Any:
    """The method ``spec`` and ``arrays`` describe, rebuilt through its registered constructor;
    ``expected``: the registry name it must have (the record's method)."""
    if not isinstance(spec, dict) or spec.get("format") != STATE_FORMAT:
        raise StateError(f"the stored model is not in fairbench's model format {STATE_FORMAT}")
    if expected is not None and spec.get("estimator") != expected:
        raise StateError(f"the stored model is a {spec.get('estimator')!r}, its record says {expected!r}")
    try:
        return _Decoder(arrays).estimator(spec)
    except (TypeError, ValueError, KeyError) as exc:
        raise StateError(f"the stored model cannot be rebuilt: {exc}") from None


def _is_torch_module(value: Any) -> bool:
    torch_nn = sys.modules.get("torch.nn")  # a model holding a module has imported torch already
    return torch_nn is not None and isinstance(value, torch_nn.Module)
