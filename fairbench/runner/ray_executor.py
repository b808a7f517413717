"""Run a table's jobs as Ray tasks, on this machine or on a cluster, with the same records as the local executors.

Each job is one Ray task declaring its resources (one CPU; one GPU for a run whose network may use one,
when the cluster has GPUs; memory). A task runs :func:`~fairbench.runner.jobs.run_job` against a
temporary store on its worker into which the records it depends on have been installed from bytes, and
returns its run folder as bytes (``record.json`` and the artifacts it lists with their sha256), or the
failure note of a run that produced no record. The driver verifies every file against the record and
installs the folder into its own store with :meth:`RecordStore.save` (staged, fsynced, renamed), so no
shared filesystem is needed and ``render`` / ``check`` cannot tell which executor ran a cell. Nothing
that comes back is unpickled from a results folder: runs travel as JSON and ``.npy``/``.npz`` bytes.

Dependencies become task dependencies: a job is submitted once the jobs it needs have finished, with
their results' object references as arguments, so Ray ships a base model to the nodes that need it
and no base model is trained twice. A run of a dependency that failed is failed on the driver with
that dependency's status, as :func:`run_job` does (nothing is shipped for it).

Faults: a task whose run crashed or whose worker (or node) was lost is submitted again, up to
``retries`` times (``--retries``, default 2), from the driver, so every retry is counted and ships the
driver's verified copies of its dependencies (a lost node may have held the first copies); then its
cell is recorded as crashed with the error and every other cell still runs. Missing data, a method not
implemented here and an invalid configuration are not retried: they would fail the same way again.
Ctrl-C cancels the outstanding tasks; finished records are already in the store, and a rerun runs
only what is missing.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..catalog import catalog
from ..core import settings
from ..core.determinism import limit_worker_threads
from ..core.errors import FairbenchError
from ..core.provenance import git_commit
from ..core.status import RunFailure, RunStatus
from ..store import RECORD, ArtifactError, RecordStore, sha256_of
from .executor import DependencyGate, Tracker, Watch
from .jobs import Job, Outcome, dependency_failure, run_job

INSTALL_HINT = "pip install -e '.[ray]' in the fairbench checkout, or pip install 'ray>=2.9'"
DEFAULT_RETRIES = 2
CPU_TASK_MEMORY_GB = 2.0  # what a tabular or recommender run is given by default (their peaks are well under 1 GB)
GPU_TASK_MEMORY_GB = 16.0  # an image run: the decoded image cache plus the network and its batches
SCRATCH_PREFIX = "fairbench-ray-"  # a task's temporary store: <tmp>/fairbench-ray-<worker pid>-<random>
MIN_WINDOW = 4  # tasks kept submitted at least, whatever the cluster reports
RETRIED = (RunStatus.CRASHED,)  # the statuses that may be transient (a bug, an out-of-memory kill, a lost worker)
# the settings a worker's data loading reads: the driver's are passed to every task, so each node keeps its
# own verified cache at the same path (created on first use) and reads the same mirror when it sees it
DATA_SETTINGS = ("FAIRBENCH_DATA", "FAIRBENCH_MIRROR", "FAIRBENCH_OFFLINE", "FAIRBENCH_TRACE_MEMORY")


def import_ray():
    """The ``ray`` module; a user error naming how to install it when it is absent (an optional extra)."""
    try:
        import ray
    except ImportError:
        raise FairbenchError(f"--executor ray needs Ray, which is not installed; {INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class ShippedRun:
    """A run as it travels between the driver and a worker: its folder's files by name (``record.json``
    and every artifact the record lists), or the failure that left it without a record."""

    status: RunStatus
    message: str = ""
    seconds: float = 0.0
    failure: dict[str, Any] | None = None  # RunFailure.to_json() of a run without a record
    files: dict[str, bytes] = field(default_factory=dict)

    def outcome(self, job: Job) -> Outcome:
        failure = RunFailure.from_json(self.failure) if self.failure is not None else None
        return Outcome(job, self.status, self.message, self.seconds, failure)


def crashed(message: str, trace: str = "") -> ShippedRun:
    failure = RunFailure(RunStatus.CRASHED, message, traceback=trace)
    return ShippedRun(RunStatus.CRASHED, message, failure=failure.to_json())


def read_run(store: RecordStore, group: str, seed: int) -> dict[str, bytes]:
    """The files of a stored run: its record and each artifact it lists, verified (ArtifactError otherwise)."""
    record_bytes = (store.run_dir(group, seed) / RECORD).read_bytes()
    record = json.loads(record_bytes)
    files = {RECORD: record_bytes}
    for name in record.get("artifacts") or {}:
        files[name] = store.load_artifact(group, seed, name, record)
    return files


def install_run(store: RecordStore, group: str, seed: int, files: dict[str, bytes]) -> None:
    """Write a run that travelled as ``files`` into ``store``, atomically through :meth:`RecordStore.save`,
    after checking that the files are exactly those its record lists, each with its sha256."""
    where = store.run_dir(group, seed)
    try:
        record = json.loads(files[RECORD])
    except (KeyError, ValueError) as exc:
        raise ArtifactError(f"the run {where} came back without a readable record: {exc}") from None
    listed = record.pop("artifacts", None) or {}
    artifacts = {name: data for name, data in files.items() if name != RECORD}
    if set(listed) != set(artifacts):
        raise ArtifactError(f"the run {where} came back with files {sorted(artifacts)}, its record lists {sorted(listed)}")
    for name, data in artifacts.items():
        if sha256_of(data) != listed[name].get("sha256"):
            raise ArtifactError(f"artifact {name} of the run {where} came back altered: its sha256 differs from its record's")
    store.save(group, seed, record, artifacts=artifacts)  # the same bytes, so the same listing and record.json


def data_settings() -> dict[str, str]:
    """The driver's data settings to give every task, paths made absolute (a relative one would resolve
    against the worker's folder)."""
    values = {name: os.environ[name] for name in DATA_SETTINGS if name in os.environ}
    values["FAIRBENCH_DATA"] = str(settings.data_dir().resolve())
    if settings.mirror_dir() is not None:
        values["FAIRBENCH_MIRROR"] = str(settings.mirror_dir().resolve())
    return values


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` holds ``values`` for :data:`DATA_SETTINGS` (the others unset) inside the block."""
    saved = {name: os.environ.get(name) for name in DATA_SETTINGS}
    try:
        for name in DATA_SETTINGS:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_worker_ready = False


def _remove_orphaned_scratch() -> None:
    """Remove the scratch stores of workers that were killed (a lost worker, a cancelled task): each is
    named after its worker's process id, and one whose process is gone is nobody's."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        pid = folder.name[len(SCRATCH_PREFIX):].partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(folder, ignore_errors=True)
            except OSError:  # another user's live process
                continue


def run_task(job: Job, data: dict[str, str], *dependencies: ShippedRun) -> ShippedRun:
    """The body of a Ray task: run ``job`` in a temporary store holding its ``dependencies`` (in the
    order of ``job.needs``) and return its run as :class:`ShippedRun`; never raises."""
    global _worker_ready
    if not _worker_ready:  # once per worker process
        limit_worker_threads(1)  # as the process pool's initializer does: one BLAS/torch thread per worker
        _remove_orphaned_scratch()
        _worker_ready = True
    try:
        scratch_folder = tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        with _environment(data), scratch_folder as scratch:
            store = RecordStore(Path(scratch))
            for (_, dependency), shipped in zip(job.needs, dependencies):
                install_run(store, dependency.group, dependency.seed, shipped.files)
            outcome = run_job(job, store.root)
            files = read_run(store, job.group, job.seed) if outcome.status is RunStatus.RAN else {}
            failure = outcome.failure.to_json() if outcome.failure is not None else None
            return ShippedRun(outcome.status, outcome.message, outcome.seconds, failure, files)
    except Exception as exc:  # outside run_job's own guard: shipping a dependency or the result failed
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return crashed(f"the Ray task failed: {detail}", traceback.format_exc())


def wants_gpu(config: dict[str, Any]) -> bool:
    """Whether a run names a method with a ``device`` parameter that is not set to ``cpu`` (an image
    learner under ``auto`` or ``cuda``): such a task asks the cluster for a GPU."""
    methods = catalog().methods

    def visit(node: Any) -> bool:
        if isinstance(node, dict):
            info = methods.get(node.get("method")) if isinstance(node.get("method"), str) else None
            parameter = info.signature.named().get("device") if info and info.signature else None
            if parameter is not None:
                device = (node.get("params") or {}).get("device", parameter.default)
                if device != "cpu":
                    return True
            return any(visit(value) for value in node.values())
        if isinstance(node, list):
            return any(visit(value) for value in node)
        return False

    return visit(config)


class RayExecutor:
    """Jobs as Ray tasks (see the module's docstring). ``address``: None starts a Ray instance on this
    machine with ``jobs`` CPUs (all cores when ``jobs`` is 1) unless this process is connected to one
    already; ``auto`` or ``ray://HOST:PORT`` joins an existing cluster, whose workers get this
    fairbench's code (``py_modules``). ``retries``: submissions after the first of a crashed or lost task."""

    def __init__(self, jobs: int = 1, address: str | None = None, retries: int | None = None,
                 task_memory_gb: float | None = None):
        self.ray = import_ray()
        self.connected_here = False  # this executor started (or joined) Ray, so close() lets go of it
        self.cpus = jobs if jobs > 1 else None
        self.address = address
        self.retries = DEFAULT_RETRIES if retries is None else retries
        if self.retries < 0:
            raise FairbenchError("--retries must be at least 0")
        if task_memory_gb is not None and task_memory_gb <= 0:
            raise FairbenchError("--task-memory must be positive (GB)")
        self.task_memory_gb = task_memory_gb

    # ------------------------------------------------------------ connection
    def _connect(self) -> None:
        """Connect to (or start) Ray unless this process is connected already (kept for the next map, e.g.
        the next table of ``reproduce PAPER:all``, until :meth:`close`)."""
        ray = self.ray
        if ray.is_initialized():
            return
        package = Path(__file__).resolve().parents[1]
        if self.address is None:  # workers of a local instance import fairbench from where the driver does
            path = os.pathsep.join(filter(None, [str(package.parent), os.environ.get("PYTHONPATH")]))
            options = {"num_cpus": self.cpus, "runtime_env": {"env_vars": {"PYTHONPATH": path}}}
        else:
            # the package travels as a folder without git: its records name the driver's commit instead
            options = {"address": self.address,
                       "runtime_env": {"py_modules": [str(package)], "excludes": ["__pycache__", "*.pyc"],
                                       "env_vars": {"FAIRBENCH_CODE_VERSION": git_commit()}}}
        try:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise FairbenchError(f"cannot connect to {where}: {' '.join(str(exc).split())}") from None
        self.connected_here = True

    def close(self) -> None:
        """Stop the Ray instance this executor started, or leave the cluster it joined."""
        if self.connected_here:
            self.ray.shutdown()
            self.connected_here = False

    def _options(self, job: Job, gpus: bool, largest_memory: float) -> dict[str, Any]:
        """A task's resources: one GPU for a run that may use one (when the cluster has GPUs), its memory,
        at most the largest node's (a task asking for more than any node has would wait forever)."""
        gpu = gpus and wants_gpu(job.config)
        memory = int((self.task_memory_gb or (GPU_TASK_MEMORY_GB if gpu else CPU_TASK_MEMORY_GB)) * 2**30)
        if largest_memory:
            memory = min(memory, int(largest_memory))
        # Ray retries nothing itself: the driver resubmits, counting each retry (see the module's docstring)
        return {"num_cpus": 1, "num_gpus": 1 if gpu else 0, "memory": memory, "max_retries": 0, "name": job.label}

    # ------------------------------------------------------------ running
    def map(self, jobs: Iterable[Job], store_root: Path, watch: Watch | None = None) -> Iterator[Outcome]:
        jobs = list(jobs)
        if not jobs:
            return
        self._connect()
        run = _Run(self, jobs, RecordStore(store_root), Tracker(watch))
        try:
            yield from run.outcomes()
        finally:  # also on Ctrl-C or when the caller stops early: nothing keeps running for nobody
            run.cancel()


class _Run:
    """One :meth:`RayExecutor.map`: the tasks in flight, their attempts, and the references of the
    finished runs that jobs still to start depend on."""

    def __init__(self, executor: RayExecutor, jobs: list[Job], store: RecordStore, progress: Tracker):
        ray = executor.ray
        self.ray, self.executor, self.store, self.progress = ray, executor, store, progress
        self.remote = ray.remote(run_task)
        self.gate = DependencyGate(jobs)
        self.data = data_settings()
        self.gpus = ray.cluster_resources().get("GPU", 0) > 0
        self.largest_memory = max((node["Resources"].get("memory", 0) for node in ray.nodes() if node["Alive"]), default=0)
        self.queue: deque[Job] = deque()  # released by the gate, not submitted yet
        self.in_flight: dict[Any, Job] = {}
        self.window, self.window_read = MIN_WINDOW, -math.inf
        self.attempts: Counter[tuple[str, int]] = Counter()
        self.shipped: dict[tuple[str, int], Any] = {}  # dependency key -> reference to its run's bytes
        self.waiting = Counter(dependency.key for job in jobs for _, dependency in job.needs)  # dependants not started

    def outcomes(self) -> Iterator[Outcome]:
        ray = self.ray
        while True:
            self.queue.extend(self.gate.ready())
            while self.queue and len(self.in_flight) < self._window():
                job = self.queue.popleft()
                if dependency_failure(job, self.store) is not None:
                    # a dependency has no record: run_job fails the job at once, with that dependency's status
                    yield self._finish(job, run_job(job, self.store.root))
                    self.queue.extend(self.gate.ready())
                else:
                    self._submit(job)
                self._release_dependencies(job)
            if not self.in_flight:
                return
            done, rest = ray.wait(list(self.in_flight), num_returns=1)
            if rest:  # everything else already finished: one pass over the in-flight list, not one per task
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                done += more
            for ref in done:
                job = self.in_flight.pop(ref)
                shipped = self._installed(job, self._result(ref), ref)
                if shipped.status in RETRIED and self.attempts[job.key] < self.executor.retries:
                    self.attempts[job.key] += 1
                    self.progress.retried()
                    self._submit(job, retry=True)
                    continue
                outcome = shipped.outcome(job)
                if outcome.failure is not None:  # the note run_job writes beside a run without a record
                    self.store.save_failure(job.group, job.seed, job.config, outcome.failure, request=job.request)
                yield self._finish(job, outcome)

    def _window(self) -> int:
        """How many tasks to keep submitted: twice the cluster's CPUs (re-read every minute, as nodes come and
        go), so that "running" counts tasks that run or are about to, and each wait scans a short list
        however large the sweep."""
        now = time.monotonic()
        if now - self.window_read > 60:
            cpus = int(self.ray.cluster_resources().get("CPU", 0))
            self.window, self.window_read = max(MIN_WINDOW, 2 * cpus), now
        return self.window

    def _result(self, ref: Any) -> ShippedRun:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # the worker or its node died, or the task was cancelled
            return crashed(f"the Ray task was lost: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}")

    def _dependency(self, dependency: Job, fresh: bool) -> Any:
        """The reference that ships ``dependency``'s run to a task: its own task's result when it ran in
        this map (``fresh``: the driver's stored copy instead), else the driver's stored copy, put once."""
        reference = None if fresh else self.shipped.get(dependency.key)
        if reference is None:
            reference = self.ray.put(ShippedRun(RunStatus.RAN, files=read_run(self.store, dependency.group, dependency.seed)))
            if not fresh:  # shared by the dependants still to start
                self.shipped[dependency.key] = reference
        return reference

    def _submit(self, job: Job, retry: bool = False) -> None:
        arguments = [self._dependency(dependency, fresh=retry) for _, dependency in job.needs]
        options = self.executor._options(job, self.gpus, self.largest_memory)
        ref = self.remote.options(**options).remote(job, self.data, *arguments)
        self.in_flight[ref] = job
        self.progress.running(len(self.in_flight))

    def _release_dependencies(self, job: Job) -> None:
        """Forget a dependency's reference once its last dependant has started (that task holds it; Ray
        frees the bytes after it): a sweep keeps only the base models still to be used."""
        for _, dependency in job.needs:
            self.waiting[dependency.key] -= 1
            if self.waiting[dependency.key] <= 0:
                self.waiting.pop(dependency.key, None)
                self.shipped.pop(dependency.key, None)

    def _installed(self, job: Job, shipped: ShippedRun, ref: Any) -> ShippedRun:
        """Install a run that came back with a record into the driver's store; a record whose files fail
        verification comes back as a crash (retried: the bytes may have been damaged on the way)."""
        if shipped.status is not RunStatus.RAN:
            return shipped
        try:
            install_run(self.store, job.group, job.seed, shipped.files)
        except ArtifactError as exc:
            return crashed(str(exc))
        if self.waiting[job.key] > 0:  # dependants still to start take the task's own result
            self.shipped[job.key] = ref
        return shipped

    def _finish(self, job: Job, outcome: Outcome) -> Outcome:
        self.gate.finished(job)
        self.progress.running(len(self.in_flight))
        self.progress.finished(outcome)
        return outcome

    def cancel(self) -> None:
        for ref in self.in_flight:
            with contextlib.suppress(Exception):  # already finished, or Ray is going away
                self.ray.cancel(ref, force=True)
        self.in_flight.clear()
