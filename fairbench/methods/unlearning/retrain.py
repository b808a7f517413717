"""Retraining: refit the original model's learner from scratch on the remaining rows.

Exact unlearning and the target every approximate unlearner is compared with. The clone keeps every
parameter of the original, including the seed of its objective-perturbation noise b, so the
retrained model optimises the same objective with the same b (as the reference code does), with the
same solver and tolerance as the original fit.
"""

from __future__ import annotations

from typing import Any

from ...datasets.base import Split
from .._fitting import clone, fit_on
from ..base import MethodEntry, Unlearner
from ..registry import register_method


class Retrain(Unlearner):
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        return fit_on(clone(model), retain)


register_method(
    MethodEntry(
        name="retrain",
        kind="unlearner",
        factory=Retrain,
        task="unlearn",
        version="1",
        description="retrain the original learner (same parameters and noise) on the remaining rows",
        papers=("fairunlearn",),
    )
)
