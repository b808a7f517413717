"""Write the frozen records of the renderer's golden test.

Run from the repository root when a record-format or version change makes them stale:
``python tests/golden/make_golden.py && FAIRBENCH_UPDATE_GOLDEN=1 pytest tests/test_render_golden.py``.
The values are made up; they only need to exercise every status of the renderer.
"""
import os, sys, shutil
from pathlib import Path
root = Path("tests/golden")
os.environ["FAIRBENCH_BENCHMARKS"] = str(root / "benchmarks")
sys.path.insert(0, str(root))
from frozen_registry import register
register()
from fairbench.specs import load_table
from fairbench.runner.plan import cell_jobs
from fairbench.store import RecordStore
shutil.rmtree(root / "results", ignore_errors=True)
store = RecordStore(root / "results")
def record(job, metrics, seconds):
    return {"key": {"group": job.group, "seed": job.seed}, "config": job.config,
            "code": {"task": job.config["task"], "task_version": "1", "method": job.config["method"], "method_version": "1",
                     "fairbench": "0.1.0", "git_commit": "0123456789abcdef0123456789abcdef01234567"},
            "metrics": metrics, "timings": {"total_s": seconds, "fit_s": seconds},
            "memory": {"peak_traced_mb": 1.0, "max_rss_mb": 100.0},
            "data": {"dataset": "compas@flap", "files": {"compas-scores-two-years.csv": "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d"}},
            "info": {}, "arrays": [], "objects": [], "environment": {}, "started": "2026-01-01T00:00:00+00:00"}
demo = load_table("demo:mixed")
for col, base in (("ML", 0.5744), ("FTU", 0.58)):
    for job in cell_jobs(demo, demo.cell("acc", col), "paper"):
        m = {"expected_accuracy": base + 0.001 * (job.seed - 1), "cf_metric": 0.2274 + 0.0002 * job.seed, "fit_seconds": 1.5 + job.seed}
        store.save(job.group, job.seed, record(job, m, 1.5 + job.seed))
print("ok")
