"""Wall time of one multi-cell table under the local executor (``--jobs 2``) and under Ray on this machine's
cores, their ratio and Ray's overhead per task; and the driver's cost of planning 10,000 cell runs (not a
test; prints numbers).

Each reproduction runs from scratch into its own temporary results folder, as a child process
(``python -m fairbench.cli reproduce TABLE ... --executor E --jobs 2``); the Ray run starts a local Ray
instance with 2 CPUs itself, so its wall time includes that start, which is also measured on its own
(``ray.init`` + ``ray.shutdown`` in a fresh process). Overhead per task = (Ray wall - local wall) / tasks,
with and without the instance's start. Both runs must render the same CSV (checked, printed).

Planning: ``plan_table`` of ``fairunlearn:fig1`` (135 cells, each an unlearning run with an original model
and a reference retrain) with enough seeds for 10,000 cell runs, in this process: CPU and wall seconds.

Measured on the 2-core machine shared with other work (load ≈ 5.7; wall times stretch, compare the runs of
one invocation), ``fairunlearn:fig1 --datasets compas`` (278 tasks): local --jobs 2 20.2 s wall, Ray 30.5 s
(ratio 1.51; the instance's start alone 5.8 s; overhead per task 0.037 s with the start, 0.016 s without);
the same CSV. Planning 10,125 cell runs (12,384 jobs): 1.6 s CPU (2.1 s before a dependency shared by many
runs was checked once per plan).

Usage: FAIRBENCH_MIRROR=../shared/data FAIRBENCH_OFFLINE=1 python benchmarks/perf/executors.py
       [--table fairunlearn:fig1] [--select "--datasets compas"] [--runs 10000]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY_START = """
import time, ray
start = time.perf_counter()
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
ray.shutdown()
print(time.perf_counter() - start)
"""


def reproduce(table: str, selection: list[str], executor: str) -> tuple[float, int, bytes]:
    """(wall seconds, tasks run, rendered CSV) of one fresh reproduction."""
    paper, name = table.split(":")
    with tempfile.TemporaryDirectory(prefix="fairbench-executors-") as folder:
        env = {**os.environ, "FAIRBENCH_RESULTS": os.path.join(folder, "results"),
               "FAIRBENCH_TABLES": os.path.join(folder, "tables"), "RAY_USAGE_STATS_ENABLED": "0"}
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "fairbench.cli", "reproduce", table, *selection, "--jobs", "2",
                               "--executor", executor, "--allow-missing"], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode not in (0, 3):
            sys.exit(f"{executor}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        tasks = int(re.search(r"(\d+) job\(s\) to run", done.stdout).group(1))
        csv = (Path(folder) / "tables" / paper / f"{name}.csv").read_bytes()
    return wall, tasks, csv


def ray_start_seconds() -> float:
    done = subprocess.run([sys.executable, "-c", RAY_START], capture_output=True, text=True, check=True,
                          env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    return float(done.stdout.strip().splitlines()[-1])


def planning(runs: int) -> None:
    from fairbench.runner.plan import plan_table
    from fairbench.specs import load_table

    table = load_table("fairunlearn:fig1")
    seeds = math.ceil(runs / len(table.cells))
    cpu, wall = time.process_time(), time.perf_counter()
    plan = plan_table(table, seeds=seeds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"planning fairunlearn:fig1 x {seeds} seeds: {len(plan.requested)} cell runs, {len(plan.jobs)} jobs "
          f"in {cpu:.2f} s CPU, {wall:.2f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="fairunlearn:fig1")
    parser.add_argument("--select", default="--datasets compas", help="reproduce options narrowing the table")
    parser.add_argument("--runs", type=int, default=10_000, help="cell runs to plan (default 10000)")
    args = parser.parse_args()
    planning(args.runs)
    selection = shlex.split(args.select)
    local_wall, tasks, local_csv = reproduce(args.table, selection, "local")
    print(f"{args.table} {args.select}: {tasks} tasks; local --jobs 2: {local_wall:.1f} s wall", flush=True)
    ray_wall, ray_tasks, ray_csv = reproduce(args.table, selection, "ray")
    start = ray_start_seconds()
    print(f"ray (2 CPUs, started by the run): {ray_wall:.1f} s wall; ratio ray / local {ray_wall / local_wall:.2f}")
    print(f"Ray instance start alone: {start:.1f} s; overhead per task {(ray_wall - local_wall) / tasks:.3f} s, "
          f"{(ray_wall - start - local_wall) / tasks:.3f} s without the start")
    print("same CSV: " + ("yes" if ray_csv == local_csv and ray_tasks == tasks else "NO"))


if __name__ == "__main__":
    main()
