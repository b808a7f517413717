"""From a cell's run configuration to a stored record.

A job is ``(resolved config, seed)``; its key is ``(group, seed)`` where ``group`` hashes the
config without the seed together with the task's and the method's code versions. ``make_job`` checks
the whole configuration (the task's typed config, :mod:`fairbench.runner.tasks.config`) and adds the
jobs it depends on (``Job.needs``: e.g. an unlearning run's original model). ``run_job`` is a pure
function of the job and its dependencies' stored outputs to a record (plus its side effect of writing
it to the store), so any executor — serial, process pool, or a cluster launcher — can run it once the
jobs it needs have run.
"""

from __future__ import annotations

import datetime as _dt
import os
import resource
import time
import traceback
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import provenance
from ..core.determinism import limited_threads, seed_everything
from ..core.errors import DataError, FairbenchError
from ..core.hashing import canonical_json, config_hash, request_of
from ..core.status import RunFailure, RunStatus
from ..catalog import catalog
from ..store import RecordStore
from .artifacts import encode_objects, load_object
from .tasks import TASKS, Stored, TaskResult
from .tasks.config import BASE_KEYS, method_entry, refuse


@dataclass(frozen=True)
class Job:
    config: dict[str, Any]  # resolved, including the seed
    group: str
    seed: int
    request: dict[str, Any] = field(default_factory=dict)  # as asked for, seedless (hashing.request_of)
    needs: tuple[tuple[str, "Job"], ...] = ()  # (name the task knows it by, the job) of each dependency

    @property
    def key(self) -> tuple[str, int]:
        return (self.group, self.seed)

    @property
    def label(self) -> str:
        return f"{self.config['method']} on {self.config['dataset']} (seed {self.seed}, {self.config['task']})"


@dataclass
class Outcome:
    job: Job
    status: RunStatus
    message: str = ""
    seconds: float = 0.0
    failure: RunFailure | None = None  # what was stored beside the run when it produced no record


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill the task from the method's default and check every key; unknown names raise FairbenchError."""
    config = {k: v for k, v in config.items() if v is not None}
    for key in ("method", "dataset"):
        if key not in config:
            raise FairbenchError(f"a run needs a {key}")
    method = method_entry(config["method"])
    config.setdefault("task", method.task)
    if config["task"] not in TASKS:
        raise refuse("task", f"unknown task {config['task']!r}", TASKS.names())
    task = TASKS.get(config["task"])
    config.setdefault("seed", 0)
    unknown = sorted(set(config) - set(BASE_KEYS) - set(task.config_keys))
    if unknown:
        raise refuse(unknown[0], f"task '{task.name}' takes no such key", task.config_keys)
    for name in task.components(config):  # an unregistered base model makes the cell not runnable, not invalid
        method_entry(name)
    return config


def code_versions(config: dict[str, Any]) -> dict[str, str]:
    versions = {
        "task": config["task"],
        "task_version": TASKS.get(config["task"]).version,
        "method": config["method"],
        "method_version": catalog().methods[config["method"]].version,
    }
    components = TASKS.get(config["task"]).components(config)
    if components:  # absent otherwise, so the keys of runs without components stay as they were
        versions["components"] = {name: catalog().methods[name].version for name in components}
    return versions


def make_job(config: dict[str, Any], shared: dict[str, Job] | None = None) -> Job:
    """The job of one run configuration, checked in full (nothing is loaded or trained), with the jobs
    it needs; a configuration error raises FairbenchError, an unregistered method MethodNotImplemented.
    ``shared``: the dependency jobs made so far by one plan, by configuration, so that a dependency many
    runs share (an original model, a reference retrain) is checked once, not once per dependant."""
    request = request_of(config)
    config = resolve_config(config)
    task = TASKS.get(config["task"])
    typed = task.parse(config)
    needs = tuple((name, _needed_job(dependency, shared)) for name, dependency in sorted(task.needs(typed).items()))
    seedless = {k: v for k, v in config.items() if k != "seed"}
    group = config_hash({"config": seedless, "code": code_versions(config)})
    return Job(config=config, group=group, seed=config["seed"], request=request, needs=needs)


def _needed_job(config: dict[str, Any], shared: dict[str, Job] | None) -> Job:
    if shared is None:
        return make_job(config, shared)
    key = canonical_json(config)
    if key not in shared:
        shared[key] = make_job(config, shared)
    return shared[key]


def dependency_failure(job: Job, store: RecordStore) -> RunFailure | None:
    """Why ``job`` cannot run: a job it needs has no record. The dependency's stored failure is passed
    on with its status (missing data stays missing data); a dependency that never ran makes it INVALID."""
    for name, dependency in job.needs:
        if store.has(dependency.group, dependency.seed):
            continue
        failed = store.failure(dependency.group)
        message = f"needs {dependency.label} ({name}), which " + (
            f"failed: {failed.message}" if failed else "has not run")
        status = failed.status if failed else RunStatus.INVALID
        return RunFailure(status, message, missing_data=failed.missing_data if failed else (),
                          missing_methods=failed.missing_methods if failed else (),
                          extra={"dependency": {"name": name, "group": dependency.group, "seed": dependency.seed}})
    return None


def _load_dependencies(job: Job, store: RecordStore) -> dict[str, Stored]:
    loaded = {}
    for name, dependency in job.needs:
        record = store.load(dependency.group, dependency.seed)
        objects = {obj: load_object(store, dependency.group, dependency.seed, record, obj)
                   for obj in record.get("objects", [])}
        arrays = {array: store.load_array(dependency.group, dependency.seed, array) for array in record.get("arrays", [])}
        loaded[name] = Stored(record, objects, arrays)
    return loaded


def _fail(store: RecordStore, job: Job, failure: RunFailure, seconds: float) -> Outcome:
    store.save_failure(job.group, job.seed, job.config, failure, request=job.request)
    return Outcome(job, failure.status, failure.message, seconds, failure)


def run_job(job: Job, store_root: Path | None = None) -> Outcome:
    """Run one job (its dependencies must have run) and store its record; exceptions become a failed
    outcome with a failure note whose status says what happened."""
    store = RecordStore(store_root)
    start = time.perf_counter()
    blocked = dependency_failure(job, store)
    if blocked is not None:
        return _fail(store, job, blocked, 0.0)
    try:
        record, result = _execute(job, _load_dependencies(job, store))
    except DataError as exc:
        dataset = str(job.config["dataset"]).split("@")[0]
        return _fail(store, job, RunFailure(RunStatus.MISSING_DATA, f"data not available: {exc}",
                                            missing_data=(dataset,)), time.perf_counter() - start)
    except FairbenchError as exc:  # input the plan could not check (e.g. a dataset without the attribute needed)
        return _fail(store, job, RunFailure(RunStatus.INVALID, str(exc)), time.perf_counter() - start)
    except Exception as exc:  # a crash in one cell must not take the others down
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return _fail(store, job, RunFailure(RunStatus.CRASHED, detail, traceback=traceback.format_exc()),
                     time.perf_counter() - start)
    try:
        store.save(job.group, job.seed, record, result.arrays, encode_objects(result.objects))
    except (TypeError, ValueError) as exc:  # e.g. a task returned something JSON (or the model format) cannot hold
        detail = f"record could not be stored: {exc}"
        return _fail(store, job, RunFailure(RunStatus.CRASHED, detail, traceback=traceback.format_exc()),
                     time.perf_counter() - start)
    return Outcome(job, RunStatus.RAN, "", time.perf_counter() - start)


def _reset_peak_memory() -> bool:
    """Reset the process's peak resident memory (Linux: ``/proc/self/clear_refs``), so ``ru_maxrss``
    read after a job is that job's peak even in a pool worker that ran others before; False where the
    OS does not allow it (the record then holds the process's peak so far).

    Python's ``tracemalloc`` measured this before, but tracing every allocation doubled the CPU time
    of the tasks that run small steps in a Python loop (the recommenders), and it never saw torch's
    tensor memory; ``FAIRBENCH_TRACE_MEMORY=1`` still records its peak as ``peak_traced_mb``.
    """
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _load_methods(job: Job) -> None:
    """Import the modules of the methods the job names (only those: the registry is read through), so
    that what they load (torch, scikit-learn) is loaded before the job's seeding and thread limits."""
    from ..methods import METHODS

    for name in catalog().methods_named(job.config):
        if name in METHODS:
            METHODS.get(name)


def _execute(job: Job, deps: dict[str, Stored]) -> tuple[dict[str, Any], TaskResult]:
    _load_methods(job)
    seed_everything(job.seed)  # a guard for third-party code; our own draws come from the seed streams
    task = TASKS.get(job.config["task"])
    config = task.parse(job.config)
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    traced = os.environ.get("FAIRBENCH_TRACE_MEMORY") == "1"
    job_peak = _reset_peak_memory()
    if traced:
        tracemalloc.start()
    wall = time.perf_counter()
    try:
        with limited_threads(1):  # the same thread counts under every executor: same floating-point sums
            result = task.fn(config, deps)
        seconds = time.perf_counter() - wall
        traced_peak = tracemalloc.get_traced_memory()[1] if traced else None
    finally:
        if traced:
            tracemalloc.stop()
    info = dict(result.info)
    if job.needs:  # the records this run was made from, by key
        info["dependencies"] = {name: {"group": dep.group, "seed": dep.seed, "task": dep.config["task"]}
                                for name, dep in job.needs}
    record = {
        "key": {"group": job.group, "seed": job.seed},
        "request": job.request,
        "config": job.config,
        "code": {**code_versions(job.config), **{"fairbench": provenance.package_versions()["fairbench"],
                                                  "git_commit": provenance.git_commit()}},
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "timings": {"total_s": seconds, **result.timings},
        "memory": {
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "max_rss_scope": "job" if job_peak else "process",
            **({"peak_traced_mb": traced_peak / 2**20} if traced_peak is not None else {}),
        },
        "data": result.data,
        "info": info,
        "arrays": sorted(result.arrays),
        "objects": sorted(result.objects),
        "environment": provenance.environment(),
        "started": started,
    }
    return record, result
