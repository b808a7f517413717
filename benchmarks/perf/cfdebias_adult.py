"""Unlearning time of every cfdebias method relative to Retrain on Adult (issue 5, acceptance 3; not a test).

The 3-layer DNN of ``cfdebias:fig5`` (d-64-32-2, 20 epochs) is trained once on ``adult@cfdebias``
(30,162 training rows, 103 features); for uniform deletion of ``--fractions`` of the rows (Fig. 5) and the
subgroup deletion of Table 2 (30 % of the women, on the fairness-penalised DNN of ``cfdebias:table2``),
each unlearner runs with its default parameters and the times are printed:

- ``prepare``: deletion-independent one-off work (Ours: the counterfactual generator's VAE;
  F-Unlearning: the full-data curvature of the head), not part of the unlearning time;
- ``unlearn``: the unlearning call, wall and CPU seconds (Ours: counterfactual search + optimisation, also
  shown split, with the search's result: share of forget rows with a counterfactual, their mean L1 distance
  and the shells the slowest row searched);
- ``× retrain``: unlearn time / retrain time, wall and CPU (< 1 means faster than retraining).

``--growth G`` adds a row for Ours with geometrically widening search shells (``cf_search.growth``; the
default 1 is CARLA's fixed-width shells), to show what the coarser radius saves and costs.

SISA unlearns its own base model, five shards of the same DNN (as ``cfdebias:fig5``), trained once;
Table 2 does not run SISA.

Median over ``--repeats`` deletion draws. Single-threaded torch, as the benchmark runs do; absolute times
depend on the machine and its load, the ratios much less.

Usage: FAIRBENCH_MIRROR=../shared/data FAIRBENCH_OFFLINE=1 python benchmarks/perf/cfdebias_adult.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from fairbench.datasets import load_dataset
from fairbench.methods import METHODS
from fairbench.methods.learners.dnn import DNNClassifier
from fairbench.protocols import make_deletion

METHODS_TIMED = ("retrain", "bt", "bs", "sisa", "puma", "scrub", "f_unlearning", "cfdebias")
PARAMS = {"cfdebias": {"background_columns": [0]}}  # age; sex is found as the column equal to s


def timed(fn, *args):
    """(result, wall seconds, CPU seconds of this process)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - start, time.process_time() - cpu


def run(data, model, protocol: dict, repeats: int, label: str, sisa_model=None, growth: float | None = None) -> None:
    rows = [(name, name, PARAMS.get(name, {})) for name in METHODS_TIMED]
    if growth is not None:
        rows.append((f"cfdebias g={growth:g}", "cfdebias", {**PARAMS["cfdebias"], "cf_search": {"growth": growth}}))
    keys = ("prepare", "unlearn", "unlearn_cpu", "cf", "update", "cf_found_share", "cf_mean_l1", "cf_shells")
    times = {label_: {k: [] for k in keys} for label_, _, _ in rows}
    for seed in range(repeats):
        deletion = make_deletion(protocol["name"], data, seed, **{k: v for k, v in protocol.items() if k != "name"})
        forget, retain = data.train.subset(deletion.forget), data.train.subset(deletion.retain)
        for row, name, params in rows:
            if name == "f_unlearning" and not model.fair:
                continue  # Fair Unlearning's step needs the fairness-penalised model of Table 2
            if name == "sisa" and sisa_model is None:
                continue
            unlearner = METHODS.get(name).factory(**params)
            if "random_state" in unlearner.get_params():
                unlearner.set_params(random_state=seed)
            times[row]["prepare"].append(timed(unlearner.prepare, model, data.train)[1])
            original = sisa_model if name == "sisa" else model
            _, wall, cpu = timed(unlearner.unlearn, original, forget, retain)
            times[row]["unlearn"].append(wall)
            times[row]["unlearn_cpu"].append(cpu)
            report = unlearner.report_
            if "cf_seconds" in report:
                times[row]["cf"].append(report["cf_seconds"])
                times[row]["update"].append(report["update_seconds"])
                for key in ("cf_found_share", "cf_mean_l1", "cf_shells"):
                    times[row][key].append(report[key])
    med = {row: {k: statistics.median(v) if v else None for k, v in t.items()} for row, t in times.items()}
    base, base_cpu = med["retrain"]["unlearn"], med["retrain"]["unlearn_cpu"]
    print(f"\n{label}: |D_f| = {len(forget)}, |D_r| = {len(retain)}, median of {repeats} draws")
    print(f"{'method':16s} {'prepare s':>10s} {'unlearn s':>10s} {'CPU s':>8s} {'x retrain':>10s} {'CPU x':>6s}  split")
    for row, _, _ in rows:
        m = med[row]
        if m["unlearn"] is None:
            continue
        split = (f"cf search {m['cf']:.2f} s + update {m['update']:.2f} s; counterfactuals for "
                 f"{m['cf_found_share']:.3f} of D_f, mean L1 {m['cf_mean_l1']:.3f}, {m['cf_shells']:.0f} shells"
                 if m["cf"] is not None else "")
        prepare = f"{m['prepare']:.2f}" if m["prepare"] is not None else "-"
        print(f"{row:16s} {prepare:>10s} {m['unlearn']:10.2f} {m['unlearn_cpu']:8.2f} {m['unlearn'] / base:10.2f} "
              f"{m['unlearn_cpu'] / base_cpu:6.2f}  {split}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.2, 0.4])
    parser.add_argument("--growth", type=float, default=None, help="also time Ours with this shell growth")
    parser.add_argument("--no-subgroup", action="store_true", help="skip Table 2's subgroup deletion")
    args = parser.parse_args()
    data = load_dataset("adult@cfdebias", seed=0)
    plain, fit_s, _ = timed(DNNClassifier(hidden=(64, 32), epochs=20).fit, data.train.X, data.train.y,
                            data.train.s)
    print(f"original DNN: {fit_s:.2f} s to train on {len(data.train)} rows")
    sisa = METHODS.get("sisa_ensemble").factory(shards=5, learner="dnn", hidden=[64, 32], epochs=20)
    sisa, sisa_s, _ = timed(sisa.fit, data.train.X, data.train.y, data.train.s, data.train.index)
    print(f"SISA base (5 DNN shards): {sisa_s:.2f} s to train")
    for fraction in args.fractions:
        run(data, plain, {"name": "uniform", "fraction": fraction}, args.repeats, f"uniform {fraction:.0%} (Fig. 5)",
            sisa_model=sisa, growth=args.growth)
    if args.no_subgroup:
        return
    fair = DNNClassifier(hidden=(64, 32), epochs=20, fairness_penalty="eo", fairness_weight=1.0)
    fair.fit(data.train.X, data.train.y, data.train.s)
    run(data, fair, {"name": "subgroup", "group": "unprivileged", "fraction": 0.3, "fraction_of": "group"},
        args.repeats, "30 % of the women (Table 2)", growth=args.growth)


if __name__ == "__main__":
    main()
