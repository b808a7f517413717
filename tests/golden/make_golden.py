"""Write the frozen records of the renderer's golden test (``tests/golden/results``).

Run from the repository root when the record format changes:
``python tests/golden/make_golden.py && FAIRBENCH_UPDATE_GOLDEN=1 pytest tests/test_render_golden.py``,
then review the diff. Records are written the way the runner stores them (request, resolved config,
code versions, metrics, seed under ``key``), without the runner: the methods and the task named here
exist only in ``catalog.json``. The values are made up; they only need to exercise every status.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent
os.environ["FAIRBENCH_BENCHMARKS"] = str(GOLDEN / "benchmarks")

from fairbench.core.hashing import config_hash, request_of  # noqa: E402
from fairbench.core.status import RunFailure, RunStatus  # noqa: E402
from fairbench.specs import cell_config, load_table  # noqa: E402
from fairbench.store import RecordStore  # noqa: E402

COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMPAS_SHA = "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d"
CATALOG = json.loads((GOLDEN / "catalog.json").read_text())


def _code(config: dict, method_version: str) -> dict:
    return {"task": config["task"], "task_version": CATALOG["tasks"][config["task"]]["version"],
            "method": config["method"], "method_version": method_version}


def write_runs(store: RecordStore, request: dict, method_version: str, accuracy: float, started: str) -> None:
    """Three seeds of one request made by ``method_version``, as ``run_job`` stores them."""
    code = _code(request, method_version)
    group = config_hash({"config": request, "code": code})
    for seed in range(3):
        metrics = {"expected_accuracy": accuracy + 0.001 * (seed - 1), "cf_metric": 0.2274 + 0.0002 * seed,
                   "fit_seconds": 1.5 + seed}
        store.save(group, seed, {
            "key": {"group": group, "seed": seed}, "request": request, "config": {**request, "seed": seed},
            "code": {**code, "fairbench": "0.1.0", "git_commit": COMMIT},
            "metrics": metrics, "timings": {"total_s": 1.5 + seed, "fit_s": 1.5 + seed},
            "memory": {"peak_traced_mb": 1.0, "max_rss_mb": 100.0},
            "data": {"dataset": request["dataset"], "files": {"compas-scores-two-years.csv": COMPAS_SHA}},
            "info": {}, "arrays": [], "objects": [], "environment": {}, "started": started,
        })


def main() -> None:
    shutil.rmtree(GOLDEN / "results", ignore_errors=True)
    store = RecordStore(GOLDEN / "results")
    demo = load_table("demo:mixed")

    def request(column: str) -> dict:
        return request_of(cell_config(demo, demo.cell("acc", column), "paper"))

    current = CATALOG["methods"]
    write_runs(store, request("ML"), current["golden_ml"]["version"], 0.5744, "2026-01-01T00:00:00+00:00")
    # FTU: an older version's runs (other values) beside the current ones; only the current ones are shown
    write_runs(store, request("FTU"), "0", 0.1, "2025-06-01T00:00:00+00:00")
    write_runs(store, request("FTU"), current["golden_ftu"]["version"], 0.58, "2026-01-01T00:00:00+00:00")
    # Old: only runs of version 1 while the catalog has version 2: shown with a stale mark
    write_runs(store, request("OLD"), "1", 0.5702, "2025-06-01T00:00:00+00:00")
    # HSLS: the data is absent here; the failure note says so as data (status, missing_data)
    hsls = request("HSLS")
    group = config_hash({"config": hsls, "code": _code(hsls, current["golden_ml"]["version"])})
    store.save_failure(group, 0, {**hsls, "seed": 0}, RunFailure(
        RunStatus.MISSING_DATA, "data not available: hsls: data not present", missing_data=("hsls",)))
    print(f"wrote {store.root}")


if __name__ == "__main__":
    main()
