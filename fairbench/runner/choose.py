"""Which runs ``fairbench run --method M --dataset D`` means.

A method is registered with one task (the experiment ``run`` puts it under), but the tables run some
methods under other tasks too: OB's default is the continuous counterfactual task, while OB Table 2
runs it on ``compas@flap`` under ``cf_discrete`` with the f1 / f2 predictors. The table specs are the
record of which task (and which parameters) a method is run with on a dataset, so when the method's
own task is not among the tasks the tables use for that method and dataset, ``run`` takes the
tables' configurations (the first table that has them, narrowed by the user's ``--set`` values): the
printed numbers are then the ones the table shows, and its records are shared with ``reproduce``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..core.errors import FairbenchError
from ..specs import all_tables, cell_config


@dataclass(frozen=True)
class TableRun:
    """One distinct run configuration a table cell asks for (without the seed)."""

    ref: str  # the table, e.g. "ob:table2"
    column: str  # the column's label, e.g. "OB-f1"
    config: dict[str, Any]


def table_runs(method: str, dataset: str, scale: str = "paper") -> list[TableRun]:
    """Every distinct configuration the table cells run ``method`` on ``dataset`` (exactly, variant
    included) with, in table order, each once (the first column that asks for it names it)."""
    runs: list[TableRun] = []
    seen: set[str] = set()
    # the paper's own tables (ids without a variant suffix such as -robust) first, so a run is labelled by them
    for table in sorted(all_tables(), key=lambda t: ("-" in t.table, t.paper, t.table)):
        labels = {header.id: header.label for header in table.columns}
        for cell in table.cells.values():
            if not cell.run:
                continue
            config = cell_config(table, cell, scale)
            if config.get("method") != method or config.get("dataset") != dataset:
                continue
            key = json.dumps(config, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                runs.append(TableRun(table.ref, labels.get(cell.column, cell.column), config))
    return runs


def _agrees(given: Any, wanted: Any) -> bool:
    """Whether everything the user set (``given``) has the same value in a table's run (``wanted``)."""
    if isinstance(given, dict):
        return isinstance(wanted, dict) and all(_agrees(v, wanted.get(k)) for k, v in given.items())
    return given == wanted


@dataclass(frozen=True)
class Choice:
    """The configurations ``run`` runs (one, or the columns of a table) and what else the tables hold."""

    configs: list[tuple[str, dict[str, Any]]]  # (label, config without seed)
    others: list[TableRun]  # further table runs of the same method and dataset, for a hint

    def example_set(self) -> str:
        """A ``--set`` that selects one of the other table runs: the first setting where it differs."""
        mine, other = _flat(self.configs[0][1]), _flat(self.others[0].config)
        for key, value in other.items():
            if mine.get(key) != value:
                return f"{key.removeprefix('params.')}={value}"
        return "task=NAME"


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def choose_runs(config: dict[str, Any], default_task: str, scale: str = "paper") -> Choice:
    """The runs meant by ``config`` (method, dataset and the user's settings; ``task`` when the user
    named one). The task is the user's, else the method's own when the tables never run the method on
    the dataset or run it under that task, else the one task the tables use. Under the method's own
    task ``config`` runs as given; under another, the table configurations of that task that agree with
    every setting the user gave (those of the first such table), or ``config`` itself when none agrees."""
    method, dataset = config["method"], config["dataset"]
    runs = table_runs(method, dataset, scale)
    tasks = sorted({str(run.config.get("task")) for run in runs})
    task = config.get("task")
    if task is None and tasks and default_task not in tasks:
        if len(tasks) > 1:
            raise FairbenchError(f"the tables run {method} on {dataset} under several tasks ({', '.join(tasks)}); "
                                 f"name one with --set task=NAME")
        task = tasks[0]
    if task is None or task == default_task:
        return Choice([("", config)], [])
    wanted = {k: v for k, v in config.items() if k not in ("seed",)}
    matching = [run for run in runs if run.config.get("task") == task and _agrees(wanted, run.config)]
    if not matching:
        return Choice([("", {**config, "task": task})], [r for r in runs if r.config.get("task") == task])
    first = matching[0].ref  # one table's columns: the numbers a user can compare with one table
    chosen = [run for run in matching if run.ref == first]
    seed = {"seed": config["seed"]} if "seed" in config else {}
    return Choice([(f"{run.ref} {run.column}", {**run.config, **seed}) for run in chosen],
                  [run for run in runs if run.config.get("task") == task and run not in chosen])
