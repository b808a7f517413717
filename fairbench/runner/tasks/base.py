"""Tasks: the experiment kinds a cell can run (a pure function of its resolved config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ...core.errors import FairbenchError
from ...core.registry import Registry
from ...methods import METHODS


@dataclass
class TaskResult:
    metrics: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. forget indices, stored beside the record
    data: dict[str, Any] = field(default_factory=dict)  # dataset spec and file sha256 digests
    info: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping (convergence, sizes)
    objects: dict[str, Any] = field(default_factory=dict)  # pickled beside the record, e.g. a trained model


def _no_components(config: dict[str, Any]) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class TaskEntry:
    name: str
    fn: Callable[[dict[str, Any]], TaskResult]
    version: str
    description: str
    config_keys: tuple[str, ...]  # keys a config of this task may hold besides task/method/dataset/seed
    # Further methods a config runs besides its own (e.g. the base model an unlearner starts from): they are
    # checked when a job is made and their versions key the job, so changing one recomputes its runs.
    components: Callable[[dict[str, Any]], tuple[str, ...]] = _no_components


TASKS: Registry[TaskEntry] = Registry("task")


def register_task(name: str, version: str, description: str, config_keys: tuple[str, ...] = (),
                  components: Callable[[dict[str, Any]], tuple[str, ...]] | None = None):
    def decorate(fn: Callable[[dict[str, Any]], TaskResult]) -> Callable[[dict[str, Any]], TaskResult]:
        TASKS.register(name, TaskEntry(name, fn, version, description, config_keys, components or _no_components))
        return fn

    return decorate


def build_model(method: str, params: dict[str, Any]) -> Any:
    """The method's component from its parameters; a parameter it does not take is a user error."""
    entry = METHODS.get(method)
    try:
        return entry.factory(**params)
    except TypeError as exc:
        raise FairbenchError(f"method '{method}' rejected its parameters {sorted(params)}: {exc}") from None
