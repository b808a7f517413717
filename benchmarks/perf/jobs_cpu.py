"""CPU seconds and wall time of one table reproduction under ``--jobs 1`` and ``--jobs 2`` (not a test; prints numbers).

Each run reproduces the table from scratch into its own temporary results folder, as a child process
(``python -m fairbench.cli reproduce TABLE --jobs N``); CPU seconds are the user + system time of that
process and every worker it started (``RUSAGE_CHILDREN``). The ratio CPU(--jobs 2) / CPU(--jobs 1) is
what parallelism costs in extra work: per-worker start-up (imports) and nothing else, since every job
runs single-threaded under either executor (issue 18 asks for at most 1.3).

On a machine shared with other work, wall times stretch and CPU seconds grow somewhat too; compare the
two runs of one invocation (they run one after the other) rather than numbers of different sessions.

Measured (issue 18; ``/usr/bin/time`` on the CLI, the same quantities) on the 2-core machine at load ≈ 2:
``ultd:table1`` 110 s CPU / 58 s wall with ``--jobs 2``, 99 s / 99 s with ``--jobs 1`` (ratio 1.11);
``fairunlearn:fig1`` 29 s / 21 s with ``--jobs 2``, 21 s / 22 s with ``--jobs 1`` (ratio 1.41: two workers'
start-up imports, about 4 s of CPU each, against 15 s of work). Every number of both tables was identical to
the committed renders. With the read-through method registry (a worker imports only the methods its jobs
name, torch only where one needs it), this script at load ≈ 3–4: ``fairunlearn:fig1`` 24.6 s CPU / 27 s wall
with ``--jobs 2``, 20.3 s / 47 s with ``--jobs 1`` (ratio 1.21; the code before measured 1.53);
``ultd:table1`` 134.9 s / 135 s with ``--jobs 2``, 104.0 s / 111 s with ``--jobs 1`` (ratio 1.30; the code before
150.7 s and 103.3 s CPU, ratio 1.46, measured right after in the same conditions). Under heavy load (12-17) ``ultd:table1 --jobs 2`` took 171 s of CPU, the code before
the speed-ups 313 s.

Usage: FAIRBENCH_MIRROR=../shared/data FAIRBENCH_OFFLINE=1 python benchmarks/perf/jobs_cpu.py [--table ultd:table1] [--jobs 1,2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def reproduce(table: str, jobs: int) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit code) of one fresh reproduction."""
    with tempfile.TemporaryDirectory(prefix="fairbench-jobs-cpu-") as folder:
        env = {**os.environ, "FAIRBENCH_RESULTS": os.path.join(folder, "results"),
               "FAIRBENCH_TABLES": os.path.join(folder, "tables")}
        cpu, wall = children_cpu(), time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "fairbench.cli", "reproduce", table, "--jobs", str(jobs),
                               "--allow-missing"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall, cpu = time.perf_counter() - wall, children_cpu() - cpu
    if done.returncode not in (0, 3):
        print(done.stderr[-2000:], file=sys.stderr)
    return wall, cpu, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="ultd:table1")
    parser.add_argument("--jobs", default="1,2", help="comma-separated worker counts (default 1,2)")
    args = parser.parse_args()
    counts = [int(n) for n in args.jobs.split(",")]
    print(f"{args.table}: {'jobs':>4s} {'wall s':>8s} {'CPU s':>8s} {'CPU / jobs ' + str(counts[0]):>12s}")
    first = None
    for jobs in counts:
        wall, cpu, code = reproduce(args.table, jobs)
        first = cpu if first is None else first
        print(f"{'':{len(args.table) + 1}s} {jobs:4d} {wall:8.1f} {cpu:8.1f} {cpu / first:12.2f}"
              + ("" if code in (0, 3) else f"  (exit {code})"))


if __name__ == "__main__":
    main()
