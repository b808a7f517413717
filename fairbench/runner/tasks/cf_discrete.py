"""Counterfactual fairness with a discrete sensitive attribute (OB Tables 2-5, FLAP's protocol).

Fit a group-aware predictor f(s, a) on the training split; on the test split report expected
accuracy, thresholded accuracy, AUC, and the CF / EO / AA fairness metrics with counterfactual maps
fitted on the training split.

EO fairness of a pre-processing method (FLAP, OB, SOB: a model with ``preprocess`` and
``predict_processed``) comes in two modes (ob.md §6.7): ``eo_fairness`` holds the processed test
features fixed and switches only the predictor's group input ("predictor-only", what Tables 2, 4
and 5 print); ``eo_fairness_pipeline`` switches the group in the pre-processing too (what the FLAP
code computes, and Table 3's FLAP columns print). For every other predictor the two are equal.

AUC is scored against ``extra["test_labels_corrected"]`` where a dataset variant provides it: a
variant that keeps a label quirk leaving one test class (adult@flap: every test label 0, ob.md
§6.2) would make AUC undefined, and the paper prints one.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...core.groupmaps import GroupMeans, GroupQuantileMap
from ...datasets import load_dataset
from ...metrics import METRICS
from .base import TaskResult, build_model, register_task


def _metric(name: str):
    return METRICS.get(name).fn


@register_task(
    "cf_discrete",
    version="3",
    description="fit f(s, a) on train; ACC (expected), AUC, CF-metric, EO and AA fairness on test",
    config_keys=("params", "dataset_params"),
)
def run(config: dict[str, Any]) -> TaskResult:
    data = load_dataset(config["dataset"], seed=config["seed"], params=config.get("dataset_params"))
    if data.train.s is None or data.train.s.ndim != 1:
        raise ValueError(f"task cf_discrete needs a discrete sensitive attribute; {data.name} has none")
    model = build_model(config["method"], config.get("params", {}))
    start = time.perf_counter()
    model.fit(data.train.X, data.train.y, data.train.s)
    fit_seconds = time.perf_counter() - start

    def predict(X: np.ndarray, s: np.ndarray) -> np.ndarray:
        return model.predict_proba(X, s)[:, 1]

    test = data.test
    p = predict(test.X, test.s)
    if hasattr(model, "preprocess"):
        processed = model.preprocess(test.X, test.s)

        def predict_group_only(X: np.ndarray, s: np.ndarray) -> np.ndarray:
            return model.predict_processed(X, s)[:, 1]
    else:
        processed, predict_group_only = test.X, predict
    quantile_map = GroupQuantileMap().fit(data.train.X, data.train.s)
    group_means = GroupMeans().fit(data.train.X, data.train.s)
    groups = quantile_map.groups_
    metrics = {
        "expected_accuracy": _metric("expected_accuracy")(test.y, p),
        "accuracy": _metric("accuracy")(test.y, (p >= 0.5).astype(int)),
        "roc_auc": _metric("roc_auc")(data.extra.get("test_labels_corrected", test).y, p),
        "cf_metric": _metric("cf_metric")(predict, test.X, test.s, quantile_map),
        "cf_metric_per_instance": _metric("cf_metric")(predict, test.X, test.s, quantile_map, per_instance=True),
        "eo_fairness": _metric("eo_fairness")(predict_group_only, processed, groups),
        "eo_fairness_pipeline": _metric("eo_fairness")(predict, test.X, groups),
        "aa_fairness": _metric("aa_fairness")(predict, test.X, test.s, group_means),
    }
    return TaskResult(
        metrics=metrics,
        timings={"fit_s": fit_seconds},
        data={"dataset": data.name, "files": data.meta.get("files", {}), "n_train": len(data.train), "n_test": len(data.test)},
        info={"notes": data.meta.get("notes", [])},
    )
