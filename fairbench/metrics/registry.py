"""The metric registry: one function per metric, registered with its orientation."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from ..core.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    name: str
    fn: Callable[..., float]
    kind: str  # "classification", "regression", "fairness", "unlearning", "privacy", "ranking", "counterfactual"
    higher_is_better: bool | None  # None where neither direction is better (signed gaps: closer to 0)
    signed: bool

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.fn) or ""
        return doc.splitlines()[0] if doc else ""


METRICS: Registry[MetricInfo] = Registry("metric")


def register_metric(name: str, *, kind: str, higher_is_better: bool | None, signed: bool = False):
    """Decorator: register ``fn`` as metric ``name``."""

    def decorate(fn: Callable[..., float]) -> Callable[..., float]:
        METRICS.register(name, MetricInfo(name, fn, kind, higher_is_better, signed))
        return fn

    return decorate
