"""Full Training: the original model, kept unchanged after a deletion request.

The paper's reference lines "Full Training (BCE)" and "Full Training (Fair)" (Figs. 1, 3): what the
model looked like before anything was unlearned, evaluated next to the unlearners.
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
