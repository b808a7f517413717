"""The original model as an "unlearner": cobum Table 2's Baseline row (cobum.md §3).

``unlearn`` returns the model it is given, unchanged (the same object), so the Baseline row is evaluated
with the same metrics as the unlearning methods: its DP and EO "% drop" are 0 by construction, and its
time (metric ``time_s``) is the original model's training time, as the paper's Baseline row reports.
"""

from __future__ import annotations

from typing import Any

from ...datasets.base import Split
from ..base import MethodEntry, Unlearner
from ..registry import register_method


class Original(Unlearner):
    def unlearn(self, model: Any, forget: Split, retain: Split) -> Any:
        return model


register_method(
    MethodEntry(
        name="ori",
        kind="unlearner",
        factory=Original,
        task="unlearn",
        version="1",
        description="the original model, unchanged (cobum's Baseline row; its time is the original training)",
        papers=("cobum",),
    )
)
