"""Tasks: the experiment kinds a cell can run.

A task is registered with

- ``parse(config: dict) -> <its config dataclass>``: the typed, fully checked run configuration
  (``tasks/config.py``), built when a job is planned and again in the worker;
- ``needs(config) -> {name: run config}``: the runs it depends on (an unlearning run needs its
  original model's ``train_base`` run); the runner plans, orders and runs them first;
- ``fn(config, deps) -> TaskResult``: the run itself, a pure function of its configuration and of its
  dependencies' stored outputs (``deps[name]``: a :class:`Stored` loaded by the runner). A task never
  imports or calls the runner, and draws its seeds from ``config.streams`` (:mod:`fairbench.core.seeding`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ...core.registry import Registry


@dataclass
class TaskResult:
    metrics: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. forget indices, stored beside the record
    data: dict[str, Any] = field(default_factory=dict)  # dataset spec and file sha256 digests
    info: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping (convergence, sizes)
    # fitted models of the run's method, stored as data beside the record (runner/artifacts.py), e.g. "model"
    objects: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """A dependency's stored output, as the runner hands it to a task: its record, its objects, rebuilt
    from verified data files (never unpickled), and its arrays (``TaskResult.arrays``, e.g. trained weights)."""

    record: dict[str, Any]
    objects: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)


def _no_components(config: dict[str, Any]) -> tuple[str, ...]:
    return ()


def _no_needs(config: Any) -> dict[str, dict[str, Any]]:
    return {}


@dataclass(frozen=True)
class TaskEntry:
    name: str
    fn: Callable[[Any, Mapping[str, Stored]], TaskResult]
    version: str
    description: str
    config_keys: tuple[str, ...]  # keys a config of this task may hold besides task/method/dataset/seed
    parse: Callable[[dict[str, Any]], Any]  # the resolved config dict -> the task's typed config (checked)
    # Further methods a config runs besides its own (e.g. the base model an unlearner starts from): they are
    # checked when a job is made and their versions key the job, so changing one recomputes its runs.
    components: Callable[[dict[str, Any]], tuple[str, ...]] = _no_components
    needs: Callable[[Any], dict[str, dict[str, Any]]] = _no_needs  # typed config -> {name: dependency config}


TASKS: Registry[TaskEntry] = Registry("task")


def register_task(name: str, version: str, description: str, *, config: Any,
                  components: Callable[[dict[str, Any]], tuple[str, ...]] | None = None,
                  needs: Callable[[Any], dict[str, dict[str, Any]]] | None = None):
    """Register ``fn(config, deps)`` as task ``name``; ``config`` is its configuration class (with
    ``KEYS``, the keys a run block may hold besides task/method/dataset/seed, and ``parse``)."""
    def decorate(fn: Callable[[Any, Mapping[str, Stored]], TaskResult]) -> Callable[[Any, Mapping[str, Stored]], TaskResult]:
        TASKS.register(name, TaskEntry(name, fn, version, description, config.KEYS, config.parse,
                                       components or _no_components, needs or _no_needs))
        return fn

    return decorate


def data_summary(data: Any, **sizes: int) -> dict[str, Any]:
    """The record's ``data`` block: dataset spec, file digests and split sizes (train/test unless given)."""
    sizes = sizes or {"n_train": len(data.train), "n_test": len(data.test)}
    return {"dataset": data.name, "files": data.meta.get("files", {}), **sizes}
