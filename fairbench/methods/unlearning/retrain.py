"""Retraining: refit the original model's learner from scratch on the remaining rows.

Exact unlearning and the target every approximate unlearner is compared with. The clone keeps every
parameter of the original, including the seed of its objective-perturbation noise b, so the
retrained model optimises the same objective with the same b (as the reference code does), with the
same solver and tolerance as the original fit.

``epochs`` (default None: the original's) retrains for another number of epochs, for a learner that
trains in epochs: cobum's CelebA oracle trains 10 epochs where its Baseline trained 5 (cobum.md §3).
"""

from __future__ import annotations

from typing import Any

from ...core.errors import FairbenchError
from ...datasets.base import Split
from .._checks import check_positive
from .._fitting import clone, fit_on
from ..base import MethodEntry, Unlearner
from ..registry import register_method


class Retrain(Unlearner):
    def __init__(self, epochs: int | None = None):
        self._store(locals())

    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        refit = clone(model)
        if self.epochs is not None:
            check_positive(epochs=self.epochs)
            if "epochs" not in refit.get_params():
                raise FairbenchError(f"retrain: epochs given, but the learner {type(model).__name__} trains without epochs")
            refit.set_params(epochs=int(self.epochs))
        return fit_on(refit, retain)


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
