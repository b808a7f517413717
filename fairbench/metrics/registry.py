"""The metric registry: one function per metric, registered with its orientation and what it needs.

A metric's :class:`Needs` says which inputs it takes, in order, so every task evaluates every metric
through one evaluator (:func:`fairbench.runner.tasks.evaluation.evaluate`) and a configuration can be
checked before anything runs (a metric whose inputs a task cannot give is refused at plan time).

Inputs (a task provides the ones it can; ``name:split`` takes it from another split than the metric's):

- per split (``test``, ``retain``, ``forget``): ``y`` labels, ``pred`` predicted labels, ``score``
  P(y = 1), ``proba`` class probabilities, ``s`` the sensitive attribute, ``X`` features, ``users`` /
  ``items`` of a ranking, ``y_rank`` the labels a ranking score is judged against (a dataset variant's
  corrected labels where it has them, else ``y``);
- per split, from another model of the run than the evaluated one (task ``unlearn``): ``pred_original`` /
  ``proba_original`` (the original model's), ``pred_reference`` / ``proba_reference`` (the reference's, the
  model retrained on D_r);
- per run: ``predict`` f(X, s) -> P(y = 1), ``predict_group_only`` (the group switched only at the
  predictor), ``X_processed``, ``quantile_map``, ``group_means``, ``groups``, ``k``, ``theta`` /
  ``theta_reference`` (parameter vectors); ``fairness`` (the dataset's bias description, ``meta["fairness"]``:
  ``bias``, ``target_class``, ``groups``); ``unlearn_seconds``, ``train_seconds``, ``reference_seconds``
  (an unlearning run's timings) and ``is_original`` (its evaluated model is the original, unchanged).

Options: a run may give a metric keyword arguments (``metric_options: {name: {key: value}}``, e.g. Co-BUM's
coefficients), on top of the fixed ``options`` of its Needs.

``groups`` of a Needs: ``"privileged"`` passes the dataset's privileged group as ``privileged=``,
``"per_group"`` calls the metric once per group (stored as ``<name>_<code>``). ``seeded`` passes the
run's ``evaluation`` seed stream as ``seed=``. ``options`` are fixed keyword arguments (a variant of a
metric registered under its own name, e.g. ``cf_metric_per_instance``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from ..core.registry import Registry


SPLITS = ("test", "retain", "forget")
GROUPINGS = (None, "privileged", "per_group")


@dataclass(frozen=True)
class Needs:
    """What a metric takes (see the module docstring for the input names)."""

    inputs: tuple[str, ...]
    split: str = "test"
    groups: str | None = None
    seeded: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.split not in SPLITS or self.groups not in GROUPINGS:
            raise ValueError(f"bad metric needs: split {self.split!r}, groups {self.groups!r}")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    fn: Callable[..., float]
    kind: str  # "classification", "regression", "fairness", "unlearning", "privacy", "ranking", "counterfactual"
    higher_is_better: bool | None  # None where neither direction is better (signed gaps: closer to 0)
    signed: bool
    needs: Needs

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.fn) or ""
        return doc.splitlines()[0] if doc else ""


METRICS: Registry[MetricInfo] = Registry("metric")


def register_metric(name: str, *, kind: str, higher_is_better: bool | None, needs: Needs, signed: bool = False):
    """Decorator: register ``fn`` as metric ``name`` taking ``needs``."""

    def decorate(fn: Callable[..., float]) -> Callable[..., float]:
        METRICS.register(name, MetricInfo(name, fn, kind, higher_is_better, signed, needs))
        return fn

    return decorate
