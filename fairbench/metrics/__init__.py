"""Metrics, fairlearn style: one function per metric with formula, sign convention and edge cases.

Undefined values (e.g. a rate over an empty group) are NaN with a warning, never a silent 0.
"""

from .registry import METRICS, MetricInfo, Needs, register_metric

from ..core.plugins import import_submodules

import_submodules(__name__, __path__)  # metric modules register themselves

__all__ = ["METRICS", "MetricInfo", "Needs", "register_metric"]
