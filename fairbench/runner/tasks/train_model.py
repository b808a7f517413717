"""Train a base model on a dataset's training split and keep it (reused by unlearning runs)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...datasets import load_dataset
from ...methods import METHODS
from ...metrics import METRICS
from .base import TaskResult, register_task


@register_task(
    "train_model",
    version="1",
    description="fit a learner on the training split; store it with train/test accuracy",
    config_keys=("params", "dataset_params"),
)
def run(config: dict[str, Any]) -> TaskResult:
    data = load_dataset(config["dataset"], seed=config["seed"], params=config.get("dataset_params"))
    entry = METHODS.get(config["method"])
    if entry.kind != "learner":
        raise ValueError(f"'{entry.name}' is a {entry.kind}, not a learner that can be trained as a base model")
    model = entry.factory(**{**entry.defaults, **config.get("params", {})})
    X_train = data.train.X.reshape(len(data.train), -1)
    start = time.perf_counter()
    model.fit(X_train, data.train.y)
    fit_seconds = time.perf_counter() - start
    accuracy = METRICS.get("accuracy").fn
    metrics = {}
    for name, split in (("train", data.train), ("test", data.test)):
        predicted = np.argmax(model.predict_proba(split.X.reshape(len(split), -1)), axis=1)
        metrics[f"{name}_accuracy"] = accuracy(split.y, predicted)
    return TaskResult(
        metrics=metrics,
        timings={"fit_s": fit_seconds},
        data={"dataset": data.name, "files": data.meta.get("files", {}), "n_train": len(data.train), "n_test": len(data.test)},
        info={"grad_norm": getattr(model, "grad_norm_", None)},
        objects={"model": model},
    )
