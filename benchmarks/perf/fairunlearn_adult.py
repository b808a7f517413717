"""Fair Unlearning against fair retraining on Adult (fairunlearn Tables 2-3; not a test; prints numbers).

For 5 % and 20 % random deletion from ``adult@fairunlearn`` (37,157 training rows, 21 parameters), with the
hyper-parameters of ``fairunlearn:table2`` (λ = 1e-4, γ = 0.1, σ = 1):

- full training of the fair model (Newton to ‖∇(n·F)‖ ≤ n·1e-12, the solver and tolerance of every fit);
- fair retraining on the remaining rows: the same solver and tolerance (a fresh clone of the original model);
- the one-off precomputation of Fair Unlearning (Σ_D σ(1−σ)xxᵀ at θ* and the per-group, per-label sums);
- the Fair Unlearning step itself, its speed-up over retraining, and the traced peak memory of the step;
- ‖θ_FU − θ_retrain‖ and the remaining-data gradient before / after, as a sanity check.

Times are medians over ``--repeats`` deletion draws, measured without memory tracing; peak memory is
measured in a separate traced call. Targets (issue acceptance): speed-up ≥ 10× at 5 %, step < 50 ms,
step peak memory < 1 GB. The public reference code materialises a d × n_a × n_b float32 pair tensor
(printed for comparison, never allocated here).

Usage: FAIRBENCH_MIRROR=../shared/data FAIRBENCH_OFFLINE=1 python benchmarks/perf/fairunlearn_adult.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np

from fairbench.datasets import load_dataset
from fairbench.methods import METHODS
from fairbench.methods._fitting import clone, fit_on
from fairbench.protocols import make_deletion

PARAMS = {"l2": 1e-4, "gamma": 0.1, "sigma": 1.0, "random_state": 0}


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def traced_peak_mb(fn, *args) -> float:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dataset", default="adult@fairunlearn")
    args = parser.parse_args()

    data = load_dataset(args.dataset, seed=0)
    train = data.train
    n, d = train.X.shape[0], train.X.shape[1] + 1
    model = METHODS.get("fair_logreg").factory(**PARAMS)
    _, full_s = timed(fit_on, model, train)
    print(f"{args.dataset}: n = {n}, d = {d} (with intercept); λ = {PARAMS['l2']}, γ = {PARAMS['gamma']}, σ = {PARAMS['sigma']}")
    print(f"full training (fair): {full_s:.3f} s, {model.n_iter_} Newton steps, ‖∇(n·F)‖ = {model.grad_norm_:.2e}")

    unlearner = METHODS.get("fair_unlearning").factory()
    precompute = [timed(unlearner.prepare, model, train)[1] for _ in range(args.repeats)]
    print(f"precomputation (one-off, Table 3): {statistics.median(precompute) * 1e3:.2f} ms (median of {args.repeats})")
    n_a, n_b = int(np.sum(train.s == 0)), int(np.sum(train.s == 1))
    print(f"reference code's pair tensor d × n_a × n_b float32: {d * n_a * n_b * 4 / 2**30:.1f} GiB (not allocated)")

    print(f"\n{'deleted':>8s} {'m':>6s} {'retrain s':>10s} {'FU step ms':>11s} {'speed-up':>9s} {'step peak MB':>13s} "
          f"{'‖θ_FU−θ_re‖':>12s} {'‖∇‖ before':>11s} {'‖∇‖ after':>10s}")
    for fraction in (0.05, 0.20):
        retrain_s, step_s, distances, before, after = [], [], [], [], []
        for seed in range(args.repeats):
            deletion = make_deletion("uniform", data, seed, fraction=fraction)
            forget, retain = train.subset(deletion.forget), train.subset(deletion.retain)
            retrained, seconds = timed(fit_on, clone(model), retain)
            retrain_s.append(seconds)
            unlearned, seconds = timed(unlearner.unlearn, model, forget, retain)
            step_s.append(seconds)
            distances.append(np.linalg.norm(unlearned.coef_ - retrained.coef_))
            before.append(np.linalg.norm(model.objective_gradient(retain.X, retain.y, retain.s)))
            after.append(np.linalg.norm(unlearned.objective_gradient(retain.X, retain.y, retain.s)))
        peak = traced_peak_mb(unlearner.unlearn, model, forget, retain)
        r, u = statistics.median(retrain_s), statistics.median(step_s)
        print(f"{fraction:8.0%} {len(forget):6d} {r:10.3f} {u * 1e3:11.2f} {r / u:8.0f}× {peak:13.2f} "
              f"{np.mean(distances):12.2e} {np.mean(before):11.2e} {np.mean(after):10.2e}")
    print("\ntargets: speed-up ≥ 10× at 5 %; step < 50 ms; step peak memory < 1 GB")


if __name__ == "__main__":
    main()
