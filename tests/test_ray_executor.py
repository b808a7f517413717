"""The Ray executor (issue 16), on a Ray instance started in this process with 2 CPUs: the same CSVs as the
local executor, a crashing cell and a killed worker, no Ray installed, and records that travel as bytes."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest
import ray

import fairbench
from fairbench.runner.jobs import make_job
from fairbench.runner.ray_executor import install_run, read_run, wants_gpu
from fairbench.store import ArtifactError, RecordStore
from test_crash_resume import SPEC as CRASH_SPEC

FAULTS = "FAIRBENCH_TEST_FAULTS"  # a folder: `raise` names the seed on which FTU raises, `kill` kills one ML fit
# the crash-and-resume fixture's cells (two counterfactual cells, an unlearning cell with its original model),
# 3 seeds, FTU's cell with one
FAULT_SPEC = (CRASH_SPEC.replace("paper: crash\ntable: resume", "paper: rayfault\ntable: cells").replace("seeds: 6", "seeds: 3")
              + "cells:\n  ftu: {value: {seeds: 1}}\n")


def _install_faults() -> None:
    """Run in every Ray worker as it starts: FTU raises on the seed named in ``<faults>/raise``, and while
    ``<faults>/kill`` exists the first ML fit kills its own worker (SIGKILL), once."""
    folder = Path(os.environ[FAULTS])
    from fairbench.methods.fairness import ftu, ml
    from fairbench.runner import jobs

    seeding, running = jobs.seed_everything, {}

    def seed_everything(seed):  # the seed of the job this worker runs now
        running["seed"] = seed
        return seeding(seed)

    def failing(fit):
        def fit_or_raise(self, *args, **kwargs):
            raising = folder / "raise"
            if raising.exists() and int(raising.read_text()) == running.get("seed"):
                raise RuntimeError(f"injected fault on seed {running['seed']}")
            return fit(self, *args, **kwargs)
        return fit_or_raise

    def dying(fit):
        def fit_or_die(self, *args, **kwargs):
            if (folder / "kill").exists():
                try:
                    os.close(os.open(folder / "killed", os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    pass
                else:
                    os.kill(os.getpid(), signal.SIGKILL)
            return fit(self, *args, **kwargs)
        return fit_or_die

    jobs.seed_everything = seed_everything
    ftu.Unaware.fit = failing(ftu.Unaware.fit)
    ml.FullModel.fit = dying(ml.FullModel.fit)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray instance of 2 CPUs for this module, its workers importing this checkout's fairbench and
    carrying the fault hooks (inactive until a test writes a fault file)."""
    faults = tmp_path_factory.mktemp("faults")
    package_root = str(Path(fairbench.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the hook travels as code, not as a name
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}.items():
            patch.setenv(name, value)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 object_store_memory=200 * 2**20,
                 runtime_env={"env_vars": {"PYTHONPATH": path, FAULTS: str(faults)},
                              "worker_process_setup_hook": _install_faults})
        try:
            yield faults
        finally:
            ray.shutdown()


def _tables(fb_env: Path, name: str, monkeypatch) -> Path:
    """Point the results and tables at a fresh folder ``name``; the tables folder."""
    monkeypatch.setenv("FAIRBENCH_RESULTS", str(fb_env / name / "results"))
    monkeypatch.setenv("FAIRBENCH_TABLES", str(fb_env / name / "tables"))
    return fb_env / name / "tables"


@pytest.mark.parametrize("ref, selection", [
    ("ob:table2", ()),
    ("fairunlearn:fig1", ("--datasets", "compas", "--methods", "newton,sisa,fair_unlearning", "--seeds", "2")),
])
def test_ray_renders_the_same_csv_as_the_local_executor(cluster, cli, fb_env, monkeypatch, ref, selection):
    paper, table = ref.split(":")
    csvs = {}
    for executor in ("local", "ray"):
        tables = _tables(fb_env, executor, monkeypatch)
        code, out, err = cli("reproduce", ref, *selection, "--executor", executor)
        assert code == 0, out + err
        assert "failed 0" in out and "retried 0" in out or executor == "local", out
        csvs[executor] = (tables / paper / f"{table}.csv").read_text()
    assert "not-run" not in csvs["ray"] or selection  # the selection leaves the other cells of fig1 not run
    assert csvs["ray"] == csvs["local"]
    local, remote = RecordStore(fb_env / "local" / "results"), RecordStore(fb_env / "ray" / "results")
    keys = {(r["key"]["group"], r["key"]["seed"]) for r in local.iter_records()}
    assert keys == {(r["key"]["group"], r["key"]["seed"]) for r in remote.iter_records()}
    for group, seed in keys:  # every metric but the timings, every artifact (models, forget indices) byte for byte
        ours, theirs = local.load(group, seed), remote.load(group, seed)
        assert _untimed(ours["metrics"]) == _untimed(theirs["metrics"]) and ours["artifacts"] == theirs["artifacts"]


def _untimed(metrics: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in metrics.items() if not name.endswith("_seconds")}


def test_a_crashing_cell_and_a_killed_worker_then_a_rerun_runs_only_that_cell(cluster, cli, fb_env, monkeypatch):
    benchmarks = fb_env / "benchmarks" / "rayfault"
    benchmarks.mkdir(parents=True)
    (benchmarks / "cells.yaml").write_text(FAULT_SPEC)
    monkeypatch.setenv("FAIRBENCH_BENCHMARKS", str(fb_env / "benchmarks"))
    (cluster / "raise").write_text("0")
    (cluster / "kill").touch()
    code, out, err = cli("reproduce", "rayfault:cells", "--executor", "ray")
    assert code == 1, out + err  # a run crashed
    assert (cluster / "killed").exists()  # a worker was killed mid-fit ...
    # ... and its task ran again; FTU's only run crashed on its first attempt and both retries
    assert re.search(r"failed 1, retried 3\b", out), out
    assert "ran 10," in out and "failed 1" in out  # 7 cell runs, the original model and 3 reference retrains
    assert "crashed: ftu on compas@flap (seed 0, cf_discrete): RuntimeError: injected fault on seed 0" in out
    tables = Path(os.environ["FAIRBENCH_TABLES"]) / "rayfault"
    rendered = (tables / "cells.md").read_text()
    assert "injected fault on seed 0" in rendered, rendered

    (cluster / "raise").unlink()
    (cluster / "kill").unlink()
    code, out, err = cli("reproduce", "rayfault:cells", "--executor", "ray")
    assert code == 0, out + err
    assert "rayfault:cells: 1 job(s) to run" in out and "ran 1," in out and "failed 0" in out
    assert "injected fault" not in (tables / "cells.md").read_text()


def test_without_ray_the_executor_says_how_to_install_it(cli, fb_env_no_data, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as where it is not installed
    code, out, err = cli("reproduce", "ob:table2", "--executor", "ray")
    assert code == 2 and out == ""
    assert err.strip() == ("error: --executor ray needs Ray, which is not installed; pip install -e '.[ray]' in the "
                           "fairbench checkout, or pip install 'ray>=2.9'")


@pytest.mark.parametrize("args, message", [
    (("--address", "auto"), "--address is an option of --executor ray"),
    (("--executor", "ray", "--retries", "-1"), "--retries must be at least 0"),
    (("--executor", "ray", "--address", "auto", "--jobs", "2"), "--jobs sets the CPUs of a Ray instance started here"),
    (("--executor", "dask"), "unknown executor 'dask'; known: local, process, ray, serial"),
])
def test_executor_options_are_checked(cli, fb_env_no_data, args, message):
    code, _, err = cli("reproduce", "ob:table2", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_run_travels_as_verified_bytes(fb_env, tmp_path):
    from fairbench.runner.jobs import run_job

    job = make_job({"task": "train_base", "method": "fair_logreg", "dataset": "compas@fairunlearn",
                    "params": {"penalty": "none", "sigma": 1.0}})
    source = RecordStore(tmp_path / "worker")
    run_job(job, source.root)
    files = read_run(source, job.group, job.seed)
    assert set(files) == {"record.json", "model.json", "model.npz"}
    target = RecordStore(tmp_path / "driver")
    install_run(target, job.group, job.seed, files)
    assert read_run(target, job.group, job.seed) == files  # the same folder, record.json byte for byte
    with pytest.raises(ArtifactError, match="model.npz of the run .* came back altered"):
        install_run(RecordStore(tmp_path / "other"), job.group, job.seed, {**files, "model.npz": files["model.npz"] + b"x"})
    with pytest.raises(ArtifactError, match="came back with files"):
        install_run(RecordStore(tmp_path / "other"), job.group, job.seed, {"record.json": files["record.json"]})
    assert not RecordStore(tmp_path / "other").has(job.group, job.seed)


def test_image_runs_ask_for_a_gpu_and_tabular_runs_do_not():
    tabular = make_job({"task": "cf_discrete", "method": "ml", "dataset": "compas@flap"})
    assert not wants_gpu(tabular.config)
    assert wants_gpu({"task": "train_base", "method": "resnet18", "dataset": "cifar100"})
    assert not wants_gpu({"task": "train_base", "method": "resnet18", "params": {"device": "cpu"}})
    assert wants_gpu({"task": "unlearn", "method": "retrain", "model": {"method": "resnet18"}})
