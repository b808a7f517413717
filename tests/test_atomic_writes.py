"""Every file fairbench writes appears whole or not at all (issue 13): a writer killed at random moments
leaves the old or the new file, a render cut by a file-size limit leaves the old table, and two
processes saving the same record key many times neither fail nor leave debris."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from fairbench.store import RecordStore

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def test_a_writer_killed_at_random_moments_leaves_the_old_or_the_new_file(tmp_path):
    target = tmp_path / "table.csv"
    versions = [(f"version {i}\n" + f"row,{i}\n" * 200_000) for i in range(2)]  # ~1.6 MB each
    target.write_text(versions[0])
    writer = textwrap.dedent(f"""
        import sys
        from fairbench.core.atomic import write_text
        versions = [(f"version {{i}}\\n" + f"row,{{i}}\\n" * 200_000) for i in range(2)]
        print("ready", flush=True)
        i = 1
        while True:
            write_text(sys.argv[1], versions[i])
            i = 1 - i
    """)
    rng = random.Random(13)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", writer, str(target)], env=_env(), stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert target.read_text() in versions  # never a cut file
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert all(name.startswith(".table.csv.") and name.endswith(".part") for name in leftovers)


def test_a_render_cut_by_a_file_size_limit_leaves_the_previous_table(tmp_path):
    out = tmp_path / "mixed.csv"
    out.write_text("the previous table\n")
    limit = 64  # bytes: far less than the rendered table
    script = (f"import resource; resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
              "from fairbench.cli import main; main()")
    env = _env(FAIRBENCH_BENCHMARKS=str(GOLDEN / "benchmarks"), FAIRBENCH_RESULTS=str(GOLDEN / "results"))
    whole = subprocess.run([sys.executable, "-m", "fairbench.cli", "render", "demo:mixed", "--format", "csv"],
                           env=env, capture_output=True, text=True, timeout=120).stdout
    assert len(whole) > 4 * limit
    proc = subprocess.run([sys.executable, "-c", script, "render", "demo:mixed", "--format", "csv", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "file-size limit" in proc.stderr and "Traceback" not in proc.stderr
    assert out.read_text() == "the previous table\n"
    assert [p.name for p in tmp_path.iterdir()] == ["mixed.csv"]  # the temporary file was removed

    proc = subprocess.run(  # without the limit the new table replaces the old one whole
        [sys.executable, "-m", "fairbench.cli", "render", "demo:mixed", "--format", "csv", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == whole


SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    from fairbench.store import RecordStore
    store, writer = RecordStore(sys.argv[1]), int(sys.argv[2])
    for n in range(int(sys.argv[3])):
        record = {"metrics": {"writer": float(writer), "n": float(n)}, "request": {"cell": "same"}}
        store.save("group", 0, record, arrays={"forget": np.arange(n + 1)})
""")


def test_two_processes_saving_one_key_many_times(tmp_path):
    saves = 200
    procs = [subprocess.Popen([sys.executable, "-c", SAVER, str(tmp_path), str(writer), str(saves)], env=_env(),
                              stderr=subprocess.PIPE, text=True) for writer in (0, 1)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err  # no exception in either writer
    store = RecordStore(tmp_path)
    group = tmp_path / "runs" / "group"
    assert sorted(p.name for p in group.iterdir()) == ["seed-0"]  # no orphan staging or trash folder
    record = store.load("group", 0)
    assert record["metrics"]["n"] == saves - 1  # one writer's last save, whole
    np.testing.assert_array_equal(store.load_array("group", 0, "forget"), np.arange(saves))
    assert set(record["artifacts"]) == {"forget.npy"}
    assert json.loads((store.run_dir("group", 0) / "record.json").read_text()) == record


def test_a_killed_writer_leaves_nothing_the_next_writer_keeps(tmp_path):
    store = RecordStore(tmp_path)
    group = tmp_path / "runs" / "g"
    (group / ".tmp-seed-0-abandoned").mkdir(parents=True)  # what a writer killed while staging leaves
    (group / ".trash-seed-0-abandoned").mkdir()
    store.save("g", 0, {"metrics": {"x": 1.0}})
    assert sorted(p.name for p in group.iterdir()) == ["seed-0"]
