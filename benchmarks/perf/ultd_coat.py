"""Speed of the ULTD Table 1 recommenders (not a test; prints numbers).

1. Coat: one run (seed 0) of every row of ``ultd:table1`` with the spec's hyper-parameters:
   fit seconds (wall), CPU seconds of the whole run (fit and evaluation), epochs run, seconds per
   epoch. The whole Coat column is 13 rows x 5 seeds; the estimate assumes ``--jobs 2`` on two cores.
   ``benchmarks/perf/jobs_cpu.py`` measures the whole table under ``--jobs 1`` and ``--jobs 2``.
2. Scale: seconds per epoch of MF and ULTD-JL on a synthetic Yahoo!-sized problem (15,400 x 1,000,
   311,704 biased ratings, batch 4096) — the embedding lookups are batched and D is only sampled.

Usage: FAIRBENCH_MIRROR=../shared/data FAIRBENCH_OFFLINE=1 python benchmarks/perf/ultd_coat.py [--rows MF,Ours-JL]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fairbench.core.determinism import limited_threads, seed_everything
from fairbench.methods import METHODS
from fairbench.runner.jobs import resolve_config
from fairbench.runner.plan import cell_config
from fairbench.runner.tasks.recommend import RecommendConfig, run
from fairbench.specs import load_table


def coat(rows: list[str] | None) -> None:
    table = load_table("ultd:table1")
    total = 0.0
    print(f"{'row':12s} {'fit s':>7s} {'CPU s':>7s} {'epochs':>6s} {'s/epoch':>8s} {'AUC':>6s}")
    for row in table.rows:
        if rows and row.id not in rows:
            continue
        config = RecommendConfig.parse(resolve_config({**cell_config(table, table.cell(row.id, "coat/AUC"), "paper"),
                                                       "seed": 0}))
        seed_everything(0)
        cpu = time.process_time()
        with limited_threads(1):  # as the runner runs every job
            result = run(config, {})
        cpu = time.process_time() - cpu
        total += cpu
        epochs = result.info["early_stopping"]["epochs_run"]
        print(f"{row.id:12s} {result.timings['fit_s']:7.2f} {cpu:7.2f} {epochs:6d} {result.timings['fit_s'] / epochs:8.4f} "
              f"{result.metrics['auc']:6.3f}")
    print(f"one seed of every row: {total:.1f} CPU s (the first row includes one-off imports); the Coat column is "
          f"5 seeds: about {5 * total:.0f} CPU s, {5 * total / 2 / 60:.1f} min wall with --jobs 2 on 2 idle cores")


def scale() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items, n = 15_400, 1_000, 311_704
    X = np.column_stack([rng.integers(0, n_users, n), rng.integers(0, n_items, n)])
    y = (rng.random(n) < 0.5).astype(int)
    Xa = np.column_stack([rng.integers(0, n_users, 2_700), rng.integers(0, n_items, 2_700)])
    ya = (rng.random(2_700) < 0.4).astype(int)
    for name in ("mf", "ultd-jl"):
        seed_everything(0)
        model = METHODS.get(name).factory(emb_dim=64, batch_size=4096, max_epochs=2, patience=2)
        start = time.perf_counter()
        model.fit(X, y, n_users=n_users, n_items=n_items, X_unbiased=Xa, y_unbiased=ya, X_valid=Xa, y_valid=ya)
        print(f"Yahoo!-sized synthetic, {name}: {(time.perf_counter() - start) / 2:.2f} s per epoch (batch 4096, emb 64)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", help="comma-separated row ids of ultd:table1 (default: all)")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    coat(args.rows.split(",") if args.rows else None)
    if not args.skip_scale:
        scale()


if __name__ == "__main__":
    main()
