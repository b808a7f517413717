"""OB / SOB fit time against the ML fit time on Crime and Adult (OB acceptance line 5; not a test; prints numbers).

For each data set, with the transform settings of the OB tables:

- Crime (``crime``, 1,794 x 121, s = racepctblack): OB (k = 4) and SOB (k = 4, t = 3) transforms, then the
  64-32-16-1 MLP on the transformed features, against ML = the same MLP on ``[x, a]``;
- Adult (``adult@flap``, 32,561 x 12, 10 race x sex groups): OB (k = 12) and SOB (k = 2, t = sqrt(12)/2)
  transforms, then the f1 / f2 logistic predictors, against ML = logistic regression on ``[one-hot(s), x]``.

Printed: the transform's own fit time (what OB adds to any learner), the whole pipeline's fit time, and
their ratio to ML's fit time (the paper's claim: OB costs about as much as ML, SOB a little more; Table 1
reports 69.3 s / 80.8 s against ML's 68.9 s on a T4 GPU). Times are medians over ``--repeats`` runs
with one torch thread.

Usage: FAIRBENCH_MIRROR=../shared/data FAIRBENCH_OFFLINE=1 python benchmarks/perf/ob_fit_time.py [--epochs 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from fairbench.datasets import load_dataset
from fairbench.methods import METHODS


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_time(fn, repeats: int) -> float:
    return statistics.median(timed(fn) for _ in range(repeats))


def report(name: str, ml_seconds: float, rows: list[tuple[str, float, float]]) -> None:
    print(f"\n{name}: ML fit {ml_seconds:.3f} s")
    print(f"  {'method':<22} {'transform fit (s)':>18} {'pipeline fit (s)':>17} {'pipeline / ML':>14}")
    for label, transform_s, pipeline_s in rows:
        print(f"  {label:<22} {transform_s:>18.4f} {pipeline_s:>17.3f} {pipeline_s / ml_seconds:>14.2f}")


def crime(epochs: int, repeats: int) -> None:
    data = load_dataset("crime", seed=0)
    X, a, y = data.train.X, data.train.s, data.train.y
    build = METHODS.get
    schedule = {"epochs": epochs, "lr": 1e-3}
    ml = median_time(lambda: build("mlp").factory(use_sensitive=True, **schedule).fit(X, y, a), repeats)
    rows = []
    for label, name, params in (("OB (k=4)", "ob", {"k": 4}), ("SOB (k=4, t=3)", "sob", {"k": 4, "t": 3.0})):
        model = build(name).factory(**params, **schedule)
        transform_s = median_time(lambda: model.build_preprocessor().fit(X, None, a).transform(X, a), repeats)
        pipeline_s = median_time(lambda: build(name).factory(**params, **schedule).fit(X, y, a), repeats)
        rows.append((label, transform_s, pipeline_s))
    report(f"Crime ({X.shape[0]} x {X.shape[1]}, MLP {epochs} epochs)", ml, rows)


def adult(repeats: int) -> None:
    data = load_dataset("adult@flap", seed=0)
    X, s, y = data.train.X, data.train.s, data.train.y
    build = METHODS.get
    ml = median_time(lambda: build("ml").factory().fit(X, y, s), repeats)
    rows = []
    settings = (("OB-f1 (k=12)", "ob", {"k": 12, "predictor": "f1"}),
                ("OB-f2 (k=12)", "ob", {"k": 12, "predictor": "f2"}),
                ("SOB-f1 (k=2, t=1.73)", "sob", {"k": 2, "t": float(np.sqrt(12) / 2), "predictor": "f1"}),
                ("SOB-f2 (k=2, t=1.73)", "sob", {"k": 2, "t": float(np.sqrt(12) / 2), "predictor": "f2"}))
    for label, name, params in settings:
        model = build(name).factory(**params)
        transform_s = median_time(lambda: model.build_preprocessor().fit(X, None, s).transform(X, s), repeats)
        pipeline_s = median_time(lambda: build(name).factory(**params).fit(X, y, s), repeats)
        rows.append((label, transform_s, pipeline_s))
    report(f"Adult ({X.shape[0]} x {X.shape[1]}, logistic)", ml, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="MLP epochs on Crime (the paper: 2000)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    crime(args.epochs, args.repeats)
    adult(args.repeats)


if __name__ == "__main__":
    main()
