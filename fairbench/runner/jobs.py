"""From a cell's run configuration to a stored record.

A job is ``(resolved config, seed)``; its key is ``(group, seed)`` where ``group`` hashes the
config without the seed together with the task's and the method's code versions. ``run_job`` is a
pure function of the job to a record (plus its side effect of writing it to the store), so any
executor — serial, process pool, or a cluster launcher — can run it.
"""

from __future__ import annotations

import datetime as _dt
import resource
import time
import traceback
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import provenance
from ..core.determinism import seed_everything
from ..core.errors import DataError, FairbenchError
from ..core.hashing import config_hash, request_of
from ..core.status import RunFailure, RunStatus
from ..methods import METHODS
from ..store import RecordStore, use_store
from .tasks import TASKS, TaskResult

BASE_KEYS = ("task", "method", "dataset", "seed")


@dataclass(frozen=True)
class Job:
    config: dict[str, Any]  # resolved, including the seed
    group: str
    seed: int
    request: dict[str, Any] = field(default_factory=dict)  # as asked for, seedless (hashing.request_of)

    @property
    def label(self) -> str:
        return f"{self.config['method']} on {self.config['dataset']} (seed {self.seed})"


@dataclass
class Outcome:
    job: Job
    status: str  # "ran", "reused", "unavailable" (data), "invalid" (bad input), "crashed" (a bug)
    message: str = ""
    seconds: float = 0.0


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill the task from the method's default and check every key; unknown names raise FairbenchError."""
    config = {k: v for k, v in config.items() if v is not None}
    for key in ("method", "dataset"):
        if key not in config:
            raise FairbenchError(f"a run needs a {key}")
    method = METHODS.get(config["method"])
    config.setdefault("task", method.task)
    task = TASKS.get(config["task"])
    config.setdefault("seed", 0)
    config["seed"] = int(config["seed"])
    unknown = sorted(set(config) - set(BASE_KEYS) - set(task.config_keys))
    if unknown:
        raise FairbenchError(
            f"task '{task.name}' does not take {', '.join(unknown)}; it takes: {', '.join(task.config_keys) or '(nothing else)'}"
        )
    for name in task.components(config):
        METHODS.get(name)  # an unimplemented base model makes the cell not runnable, not a failed run
    return config


def code_versions(config: dict[str, Any]) -> dict[str, str]:
    versions = {
        "task": config["task"],
        "task_version": TASKS.get(config["task"]).version,
        "method": config["method"],
        "method_version": METHODS.get(config["method"]).version,
    }
    components = TASKS.get(config["task"]).components(config)
    if components:  # absent otherwise, so the keys of runs without components stay as they were
        versions["components"] = {name: METHODS.get(name).version for name in components}
    return versions


def make_job(config: dict[str, Any]) -> Job:
    request = request_of(config)
    config = resolve_config(config)
    seedless = {k: v for k, v in config.items() if k != "seed"}
    group = config_hash({"config": seedless, "code": code_versions(config)})
    return Job(config=config, group=group, seed=config["seed"], request=request)


def run_job(job: Job, store_root: Path | None = None) -> Outcome:
    """Run one job and store its record; exceptions become a failed outcome (and a failure note)."""
    store = RecordStore(store_root)
    start = time.perf_counter()
    try:
        with use_store(store.root):  # nested jobs (e.g. a base model) write to the same store
            record, result = _execute(job)
    except DataError as exc:
        store.save_failure(job.group, job.seed, job.config, RunFailure(
            RunStatus.MISSING_DATA, f"data not available: {exc}", missing_data=(str(job.config["dataset"]).split("@")[0],)))
        return Outcome(job, "unavailable", str(exc), time.perf_counter() - start)
    except FairbenchError as exc:
        store.save_failure(job.group, job.seed, job.config, RunFailure(RunStatus.INVALID, str(exc)))
        return Outcome(job, "invalid", str(exc), time.perf_counter() - start)
    except Exception as exc:  # a crash in one cell must not take the others down
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        store.save_failure(job.group, job.seed, job.config,
                           RunFailure(RunStatus.CRASHED, detail, traceback=traceback.format_exc()))
        return Outcome(job, "crashed", detail, time.perf_counter() - start)
    try:
        store.save(job.group, job.seed, record, result.arrays, result.objects)
    except (TypeError, ValueError) as exc:  # e.g. a task returned something JSON cannot hold
        detail = f"record could not be stored: {exc}"
        store.save_failure(job.group, job.seed, job.config,
                           RunFailure(RunStatus.CRASHED, detail, traceback=traceback.format_exc()))
        return Outcome(job, "crashed", detail, time.perf_counter() - start)
    return Outcome(job, "ran", "", time.perf_counter() - start)


def _execute(job: Job) -> tuple[dict[str, Any], TaskResult]:
    seed_everything(job.seed)
    task = TASKS.get(job.config["task"])
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    outer = tracemalloc.is_tracing()  # a nested job (a base model) must not stop its caller's tracer
    if outer:
        tracemalloc.reset_peak()
    else:
        tracemalloc.start()
    wall = time.perf_counter()
    try:
        result = task.fn(job.config)
        seconds = time.perf_counter() - wall
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        if not outer:
            tracemalloc.stop()
    record = {
        "key": {"group": job.group, "seed": job.seed},
        "request": job.request,
        "config": job.config,
        "code": {**code_versions(job.config), **{"fairbench": provenance.package_versions()["fairbench"],
                                                  "git_commit": provenance.git_commit()}},
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "timings": {"total_s": seconds, **result.timings},
        "memory": {
            "peak_traced_mb": traced_peak / 2**20,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        "data": result.data,
        "info": result.info,
        "arrays": sorted(result.arrays),
        "objects": sorted(result.objects),
        "environment": provenance.environment(),
        "started": started,
    }
    return record, result
