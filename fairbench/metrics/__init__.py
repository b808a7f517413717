"""Metrics, fairlearn style: one function per metric with formula, sign convention and edge cases.

Undefined values (e.g. a rate over an empty group) are NaN with a warning, never a silent 0.
"""

from .registry import METRICS, MetricInfo, register_metric

# Metric modules register themselves on import.
from . import classification, counterfactual, fairness, mia, ranking, unlearning  # noqa: E402,F401

__all__ = ["METRICS", "MetricInfo", "register_metric"]
