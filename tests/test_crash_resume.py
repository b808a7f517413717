"""Crash and resume (issue 13): a small multi-cell table — two counterfactual cells and an unlearning
cell whose original model is a dependency stored as an artifact — is killed with SIGKILL at several
random moments (fixed seeds) and resumed each time; the final CSV equals an uninterrupted run's byte for
byte, and no half-written run is left behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from fairbench.store import RecordStore

REPO = Path(__file__).resolve().parents[1]
SPEC = """\
paper: crash
table: resume
title: crash-and-resume fixture
defaults:
  seeds: 6
rows:
  - {id: ml, label: ML, metric: expected_accuracy, run: {task: cf_discrete, dataset: compas@flap, method: ml}}
  - {id: ftu, label: FTU, metric: expected_accuracy, run: {task: cf_discrete, dataset: compas@flap, method: ftu}}
  - id: newton
    label: Newton
    metric: test_accuracy
    run:
      task: unlearn
      method: newton
      dataset: compas@fairunlearn
      model: {method: fair_logreg, params: {penalty: none, sigma: 1.0}}
      protocol: {name: uniform, fraction: 0.05}
columns:
  - {id: value, label: value}
"""


def _started(env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    """A ``reproduce`` of the fixture, returned once it has planned and starts running its jobs."""
    proc = subprocess.Popen([sys.executable, "-m", "fairbench.cli", "reproduce", "crash:resume"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "job(s) to run" in line:
            break
    return proc, time.monotonic()


def _env(fb_env: Path, name: str) -> dict[str, str]:
    benchmarks = fb_env / "benchmarks" / "crash"
    benchmarks.mkdir(parents=True, exist_ok=True)
    (benchmarks / "resume.yaml").write_text(SPEC)
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), "FAIRBENCH_BENCHMARKS": str(fb_env / "benchmarks"),
            "FAIRBENCH_RESULTS": str(fb_env / name / "results"), "FAIRBENCH_TABLES": str(fb_env / name / "tables")}


def _completed(env: dict[str, str]) -> float:
    """Seconds the jobs took (after start-up and planning), the process run to its end."""
    proc, start = _started(env)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return time.monotonic() - start


def _done(env: dict[str, str]) -> int:
    return len(list(Path(env["FAIRBENCH_RESULTS"]).glob("runs/*/seed-*/done")))


def test_sigkill_at_random_moments_then_resume_gives_the_same_csv(fb_env):
    clean = _env(fb_env, "clean")
    duration = _completed(clean)
    expected = (Path(clean["FAIRBENCH_TABLES"]) / "crash" / "resume.csv").read_bytes()
    assert b"not-run" not in expected

    total = _done(clean)
    crashed = _env(fb_env, "crashed")
    rng = random.Random(2026)
    progress = [0]
    for _ in range(4):
        if progress[-1] >= total - 1:
            break
        target = rng.randint(progress[-1] + 1, min(progress[-1] + total // 4, total - 1))  # kill after this many runs ...
        extra = rng.uniform(0.0, 0.2) * duration / total  # ... plus a random part of the next one
        proc, _ = _started(crashed)
        while _done(crashed) < target and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=300)
        progress.append(_done(crashed))
    mid_table = [n for n in progress[1:] if 0 < n < total]  # the kills landed while the table ran
    assert len(mid_table) >= 3, (progress, total)
    _completed(crashed)  # the resume
    assert (Path(crashed["FAIRBENCH_TABLES"]) / "crash" / "resume.csv").read_bytes() == expected

    runs = Path(crashed["FAIRBENCH_RESULTS"]) / "runs"
    store = RecordStore(runs.parent)
    for group in runs.iterdir():
        for child in group.iterdir():
            if child.name.startswith("seed-"):  # every run folder is whole: a record, its listed artifacts
                seed = int(child.name[len("seed-"):])
                assert store.has(group.name, seed), child
                record = store.load(group.name, seed)
                assert all(store.artifact_problem(group.name, seed, name, record) is None for name in record["artifacts"])
