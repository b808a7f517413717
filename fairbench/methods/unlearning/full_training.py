"""Full Training: the original model, kept unchanged after a deletion request.

The paper's reference lines "Full Training (BCE)" and "Full Training (Fair)" (Figs. 1, 3): what the
model looked like before anything was unlearned, evaluated next to the unlearners.

Registered a second time as ``ori``, cobum Table 2's Baseline row (cobum.md §3): ``unlearn`` returns the
model it is given (the same object), so the Baseline is evaluated with the unlearners' metrics, its DP and
EO "% drop" are 0 by construction and its time (metric ``time_s``) is the original training's, as the
paper's Baseline row reports.
"""

from __future__ import annotations

from typing import Any

from ...datasets.base import Split
from ..base import MethodEntry, Unlearner
from ..registry import register_method


class KeepOriginal(Unlearner):
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        return model


register_method(
    MethodEntry(
        name="full_training",
        kind="unlearner",
        factory=KeepOriginal,
        task="unlearn",
        version="1",
        description="no unlearning: the original model (reference line of fairunlearn Figs. 1 and 3)",
        papers=("fairunlearn",),
    )
)
register_method(
    MethodEntry(
        name="ori",
        kind="unlearner",
        factory=KeepOriginal,
        task="unlearn",
        version="1",
        description="the original model, unchanged (cobum's Baseline row; its time is the original training)",
        papers=("cobum",),
        # cobum's name for the Baseline row; on any other model that row is full_training (the same class), which
        # the unlearning matrix already lists as the original, so ori is declared for image networks only
        needs_model=("image_network",),
    )
)
