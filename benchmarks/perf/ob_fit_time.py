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

``--ensemble`` instead times ob:table1's MLPs of 10 seeds (Crime, and the synthetic insurance data) fitted one by
one and together as a batched ensemble (:func:`fairbench.methods.learners.mlp.fit_together`, what the
table's ``ensemble: 10`` runs), in CPU seconds (``time.process_time``: the machine may be shared), checks
that the weights are identical, and extrapolates to the paper's 2000 epochs.

Usage: FAIRBENCH_MIRROR=../shared/data FAIRBENCH_OFFLINE=1 python benchmarks/perf/ob_fit_time.py [--epochs 200] [--repeats 3] [--ensemble]
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


SYNTHETIC = {"c3_scale": 0.0161, "beta_a": 0.0, "sigma_y": 0.005}  # ob:table1's synthetic_insurance settings


def cpu_time(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def ensemble(epochs: int, seeds: int = 10) -> None:
    from fairbench.methods.learners.mlp import MLPRegressor, fit_together

    print(f"\nob:table1 MLPs of {seeds} seeds, {epochs} epochs (CPU seconds; x {2000 // epochs} for the paper's 2000)")
    for name, params in (("crime", None), ("synthetic_insurance", SYNTHETIC)):
        data = [load_dataset(name, seed=seed, params=params).train for seed in range(seeds)]
        fits = [(split.X, split.y, np.asarray(split.s, dtype=float).reshape(len(split.X), -1)) for split in data]

        def models():
            return [MLPRegressor(use_sensitive=True, epochs=epochs, random_state=seed) for seed in range(seeds)]

        alone, together = models(), models()
        one_by_one = cpu_time(lambda: [model.fit(*fit) for model, fit in zip(alone, fits)])
        batched = cpu_time(lambda: fit_together(together, fits))
        same = all(torch.equal(p, q) for a, b in zip(alone, together) for p, q in zip(a.net_.parameters(), b.net_.parameters()))
        print(f"  {name:<20} one by one {one_by_one:7.2f} s, together {batched:7.2f} s "
              f"({one_by_one / batched:.1f}x); identical weights: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="MLP epochs on Crime (the paper: 2000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ensemble", action="store_true", help="time ob:table1's batched MLP ensembles instead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.ensemble:
        ensemble(args.epochs)
        return
    crime(args.epochs, args.repeats)
    adult(args.repeats)


if __name__ == "__main__":
    main()
