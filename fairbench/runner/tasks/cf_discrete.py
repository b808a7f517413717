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
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ...core.errors import FairbenchError
from ...core.groupmaps import GroupMeans, GroupQuantileMap
from .base import Stored, TaskResult, data_summary, register_task
from .config import BASE_KEYS, RunConfig, check_keys, metric_names
from .evaluation import Inputs, evaluate

DEFAULT_METRICS = ("expected_accuracy", "accuracy", "roc_auc", "cf_metric", "cf_metric_per_instance",
                   "eo_fairness", "eo_fairness_pipeline", "aa_fairness")
# what this task gives its metrics, all on the test split
CF_DISCRETE_INPUTS = ("y", "score", "pred", "y_rank", "X", "s", "predict", "predict_group_only", "X_processed",
                      "quantile_map", "group_means", "groups")


@dataclass(frozen=True)
class CfDiscreteConfig(RunConfig):
    KEYS = ("params", "dataset_params", "metrics")

    metrics: tuple[str, ...]

    @classmethod
    def parse(cls, config: dict[str, Any]) -> "CfDiscreteConfig":
        check_keys("", config, BASE_KEYS + cls.KEYS)
        common = cls.common(config, kinds=("predictor",))
        return cls(**common, metrics=metric_names(config.get("metrics"), "cf_discrete", CF_DISCRETE_INPUTS,
                                                  DEFAULT_METRICS))


@register_task("cf_discrete", version="3", config=CfDiscreteConfig,
               description="fit f(s, a) on train; ACC (expected), AUC, CF-metric, EO and AA fairness on test")
def run(config: CfDiscreteConfig, deps: Mapping[str, Stored]) -> TaskResult:
    data = config.load_data()
    if data.train.s is None or data.train.s.ndim != 1:
        raise FairbenchError(f"task cf_discrete needs a discrete sensitive attribute; {data.name} has none")
    model = config.method.build(random_state=config.streams.seed("method"))
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
    inputs = Inputs({"test": test}, dataset=data.name, values={
        "y": test.y, "score": p, "pred": (p >= 0.5).astype(int),
        "y_rank": data.extra.get("test_labels_corrected", test).y, "X": test.X, "s": test.s,
        "predict": predict, "predict_group_only": predict_group_only, "X_processed": processed,
        "quantile_map": quantile_map, "group_means": GroupMeans().fit(data.train.X, data.train.s),
        "groups": quantile_map.groups_,
    })
    return TaskResult(
        metrics=evaluate(config.metrics, inputs, seed=config.streams.seed("evaluation")),
        timings={"fit_s": fit_seconds},
        data=data_summary(data),
        info={"notes": data.meta.get("notes", [])},
    )
