"""Counterfactual fairness with a discrete sensitive attribute (OB Tables 2-5, FLAP's protocol).

Fit a group-aware predictor f(s, a) on the training split; on the test split report expected
accuracy, thresholded accuracy, AUC, and the CF / EO / AA fairness metrics with counterfactual maps
fitted on the training split.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...core.groupmaps import GroupMeans, GroupQuantileMap
from ...datasets import load_dataset
from ...methods import METHODS
from ...metrics import METRICS
from .base import TaskResult, register_task


def _metric(name: str):
    return METRICS.get(name).fn


@register_task(
    "cf_discrete",
    version="1",
    description="fit f(s, a) on train; ACC (expected), AUC, CF-metric, EO and AA fairness on test",
    config_keys=("params", "dataset_params"),
)
def run(config: dict[str, Any]) -> TaskResult:
    data = load_dataset(config["dataset"], seed=config["seed"], params=config.get("dataset_params"))
    if data.train.s is None or data.train.s.ndim != 1:
        raise ValueError(f"task cf_discrete needs a discrete sensitive attribute; {data.name} has none")
    method = METHODS.get(config["method"])
    model = method.factory(**config.get("params", {}))
    start = time.perf_counter()
    model.fit(data.train.X, data.train.s, data.train.y)
    fit_seconds = time.perf_counter() - start

    def predict(X: np.ndarray, s: np.ndarray) -> np.ndarray:
        return model.predict_proba(X, s)[:, 1]

    test = data.test
    p = predict(test.X, test.s)
    quantile_map = GroupQuantileMap().fit(data.train.X, data.train.s)
    group_means = GroupMeans().fit(data.train.X, data.train.s)
    groups = quantile_map.groups_
    metrics = {
        "expected_accuracy": _metric("expected_accuracy")(test.y, p),
        "accuracy": _metric("accuracy")(test.y, (p >= 0.5).astype(int)),
        "roc_auc": _metric("roc_auc")(test.y, p),
        "cf_metric": _metric("cf_metric")(predict, test.X, test.s, quantile_map),
        "cf_metric_per_instance": _metric("cf_metric")(predict, test.X, test.s, quantile_map, per_instance=True),
        "eo_fairness": _metric("eo_fairness")(predict, test.X, groups),
        "aa_fairness": _metric("aa_fairness")(predict, test.X, test.s, group_means),
    }
    return TaskResult(
        metrics=metrics,
        timings={"fit_s": fit_seconds},
        data={"dataset": data.name, "files": data.meta.get("files", {}), "n_train": len(data.train), "n_test": len(data.test)},
        info={"notes": data.meta.get("notes", [])},
    )
