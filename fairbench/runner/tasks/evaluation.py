"""One evaluator for every task: each metric gets the inputs its registry entry declares.

A task describes what it can give (:class:`Inputs`: its splits, a model's predictions on them, and
run-level values such as a predictor function or group maps); :func:`evaluate` looks each metric's
:class:`~fairbench.metrics.registry.Needs` up and calls it. The names of the inputs a task can give are
also what its configuration checks metric names against (``metric_names`` in ``tasks/config.py``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

from ...core.errors import FairbenchError

if TYPE_CHECKING:  # planning imports this module for provided(): the datasets and metrics load when a run evaluates
    from ...datasets.base import Split

SPLIT_INPUTS = ("y", "pred", "score", "proba", "s", "X", "y_rank")
# Other models of a run than the evaluated one (``Inputs.models``), and what is taken from them per split:
# ``pred_original`` is the original model's ``pred``.
MODEL_ROLES = ("original", "reference")
ROLE_INPUTS = ("pred", "proba")


def predicted_labels(model: Any, X: np.ndarray) -> np.ndarray:
    if hasattr(model, "predict"):
        return np.asarray(model.predict(X))
    return np.argmax(model.predict_proba(X), axis=1)


@dataclass
class Inputs:
    """What a task gives its metrics: ``splits`` by name, an optional ``model`` (predictions come from
    its ``predict`` / ``predict_proba``), run-level ``values``, the dataset's ``privileged`` group, and
    other ``models`` of the run by role (:data:`MODEL_ROLES`), whose predictions are ``pred_<role>`` /
    ``proba_<role>``."""

    splits: Mapping[str, Split]
    model: Any = None
    values: dict[str, Any] = field(default_factory=dict)
    privileged: int | None = None
    labels_for_ranking: Mapping[str, np.ndarray] = field(default_factory=dict)  # y_rank where it differs from y
    dataset: str = ""
    models: Mapping[str, Any] = field(default_factory=dict)
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    def get(self, name: str, split: str) -> Any:
        if name in self.values:
            return self.values[name]
        if (name, split) not in self._cache:
            self._cache[(name, split)] = self._compute(name, split)
        return self._cache[(name, split)]

    def _compute(self, name: str, split_name: str) -> Any:
        base, _, role = name.rpartition("_")
        if role in MODEL_ROLES and base in ROLE_INPUTS:
            if self.models.get(role) is None:
                raise FairbenchError(f"a metric needs the {role} model's predictions; this run has no {role} model")
            return Inputs(self.splits, self.models[role]).get(base, split_name)
        if name == "fairness":  # not among the values: the dataset carries no description
            raise FairbenchError(f"a metric needs the dataset's bias description (meta['fairness']); "
                                 f"{self.dataset} has none")
        split = self.splits[split_name]
        if name == "y":
            return split.y
        if name == "y_rank":
            return self.labels_for_ranking.get(split_name, split.y)
        if name == "X":
            return split.X
        if name == "s":
            if split.s is None:
                raise FairbenchError(f"a metric needs the sensitive attribute; {self.dataset} has none")
            return split.s
        if name == "pred":
            return predicted_labels(self.model, split.X)
        if name == "proba":
            return self.model.predict_proba(split.X)
        if name == "score":
            return self.get("proba", split_name)[:, 1]
        raise KeyError(name)


def provided(split_inputs: bool, values: Iterable[str] = ()) -> tuple[str, ...]:
    """The input names a task gives: the per-split ones when it evaluates a model on splits, plus ``values``."""
    return (SPLIT_INPUTS if split_inputs else ()) + tuple(values)


def evaluate(requested: Iterable[str] | Mapping[str, str], inputs: Inputs, seed: int = 0,
             options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, float]:
    """``{output name: value}`` for metric names (or ``{output name: metric name}``), each metric called
    with what its registry entry declares; ``seed`` is the run's evaluation stream for seeded metrics;
    ``options`` a run's keyword arguments per metric name (over its Needs' fixed ``options``)."""
    from ...metrics import METRICS

    pairs = requested.items() if isinstance(requested, Mapping) else ((name, name) for name in requested)
    out: dict[str, float] = {}
    for output, name in pairs:
        info = METRICS.get(name)
        needs = info.needs
        args = []
        for item in needs.inputs:
            input_name, _, split = item.partition(":")
            args.append(inputs.get(input_name, split or needs.split))
        kwargs: dict[str, Any] = {**needs.options, **_checked_options(info, (options or {}).get(name))}
        if needs.seeded:
            kwargs["seed"] = seed
        if needs.groups == "per_group":
            for code in np.unique(inputs.get("s", needs.split)):
                out[f"{output}_{int(code)}"] = info.fn(*args, group=code, **kwargs)
            continue
        if needs.groups == "privileged":
            if inputs.privileged is None:
                raise FairbenchError(f"metric {name} needs a privileged group; {inputs.dataset} defines none")
            kwargs["privileged"] = inputs.privileged
        out[output] = info.fn(*args, **kwargs)
    return out


def _checked_options(info: Any, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """A run's options of one metric: keyword-only parameters of its function (one-line error otherwise)."""
    if not given:
        return {}
    accepted = [p.name for p in inspect.signature(info.fn).parameters.values()
                if p.kind == p.KEYWORD_ONLY and p.name not in ("seed", "privileged", "group")]
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise FairbenchError(f"metric_options.{info.name}.{unknown[0]}: metric '{info.name}' takes no such option; "
                             f"accepted: {', '.join(accepted) or '(none)'}")
    return dict(given)
