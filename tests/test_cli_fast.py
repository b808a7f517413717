"""The commands a user types first answer without importing torch (issue 18, item 6), and so does a
misconfigured run (issue 10, acceptance 3): the configuration is checked against the catalog (read from
the sources), before the methods, torch or scikit-learn are imported and before anything trains.

Each command runs in a fresh interpreter, as the ``fairbench`` script does; on the way out the
subprocess reports which heavy modules are in ``sys.modules``. Importing torch alone costs seconds, so
this is what keeps ``--help``, ``list``, ``render`` and these errors under a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import data_source

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "fairbench.methods", "sklearn", "scipy")

# Runs fairbench's entry point, then prints which heavy modules it imported (after SystemExit too).
WRAPPER = f"""\
import sys
from fairbench.cli import main
sys.argv = ["fairbench", *sys.argv[1:]]
try:
    main()
finally:
    heavy = sorted(name for name in {HEAVY!r} if name in sys.modules)
    sys.stderr.write("IMPORTED:" + ",".join(heavy) + "\\n")
"""

COMMANDS = [
    (("--help",), 0),
    (("list", "methods"), 0),
    (("render", "ob:table2", "--format", "csv"), 0),
]

BT = ("run", "--method", "bt", "--dataset", "german@cfdebias")
UNLEARN = (*BT, "--set", "model.method=dnn", "--protocol", "uniform", "--fraction", "0.1")
# (arguments, what the one line of the error says)
CONFIGURATION_ERRORS = [
    (("run", "--method", "nosuch", "--dataset", "compas"), "error: unknown method 'nosuch'; known: "),
    ((*BT, "--set", "epochs=abc"), "error: params.epochs: 'abc' is not of type int; accepted: a value of type int"),
    ((*BT, "--set", "epochz=1"), "error: params.epochz: method 'bt' takes no such parameter; accepted: retain_share, "),
    ((*UNLEARN, "--set", "model.params.hiden=[8]"), "error: model.params.hiden: method 'dnn' takes no such parameter"),
    ((*UNLEARN, "--set", "protocol.fractoin=0.2"),
     "error: protocol.fractoin: protocol 'uniform' takes no such parameter; accepted: fraction, size"),
    ((*BT, "--set", "model.method=dnn", "--protocol", "unifrom"), "error: unknown protocol 'unifrom'; known: "),
    ((*UNLEARN, "--set", "metrics=[retain_acc]"), "error: metrics: unknown metric 'retain_acc'; accepted: "),
    ((*BT, "--set", "model.method=dnn", "--protocol", "subgroup", "--fraction", "0.1"),
     "error: protocol.group: protocol 'subgroup' needs it; accepted: group, fraction, fraction_of, cap"),
    (("run", "--method", "mf", "--dataset", "coat", "--set", "emb_dim=abc"), "error: params.emb_dim: 'abc' is not of type int"),
    (("run", "--method", "ob", "--dataset", "german@nope"), "error: unknown variant 'nope' of dataset 'german'; known: "),
]


def _run(args: tuple[str, ...], tmp_path: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "FAIRBENCH_RESULTS": str(tmp_path / "results"),
           "FAIRBENCH_TABLES": str(tmp_path / "tables"), "FAIRBENCH_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)
    imported = [line for line in done.stderr.splitlines() if line.startswith("IMPORTED:")]
    return done, imported


@pytest.mark.parametrize("args, code", COMMANDS, ids=lambda value: " ".join(value) if isinstance(value, tuple) else None)
def test_first_commands_do_not_import_torch(args, code, tmp_path):
    done, imported = _run(args, tmp_path)
    assert done.returncode == code, done.stderr
    assert imported == ["IMPORTED:"], f"{' '.join(args)} imported {imported}"
    assert done.stdout.strip()


@pytest.mark.parametrize("args, line", CONFIGURATION_ERRORS, ids=[" ".join(args[1:]) for args, _ in CONFIGURATION_ERRORS])
def test_a_configuration_error_exits_2_with_one_line_before_torch_or_sklearn_is_imported(args, line, tmp_path):
    done, imported = _run(args, tmp_path)
    errors = [text for text in done.stderr.splitlines() if not text.startswith("IMPORTED:")]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1 and errors[0].startswith(line), errors
    assert imported == ["IMPORTED:"], f"{' '.join(args)} imported {imported}"
    assert not (tmp_path / "results").exists()  # nothing ran, nothing was stored


def test_an_unknown_group_is_refused_from_the_data_before_anything_trains(tmp_path):
    """A group name belongs to the dataset: its data is loaded (scikit-learn comes with the loaders) to
    check it, but nothing is trained and torch is not imported."""
    if data_source("german") is None:
        pytest.skip("needs the german data (cache or FAIRBENCH_MIRROR)")
    done, imported = _run((*BT, "--set", "model.method=dnn", "--protocol", "subgroup", "--fraction", "0.1",
                           "--group", "nosuch"), tmp_path)
    errors = [text for text in done.stderr.splitlines() if not text.startswith("IMPORTED:")]
    assert done.returncode == 2, done.stderr
    assert errors == ["error: protocol.group: dataset 'german@cfdebias' has no group 'nosuch'; accepted: minority, "
                      "majority, privileged, unprivileged, 0 (female), 1 (male)"]
    assert "torch" not in imported[0] and "fairbench.methods" not in imported[0], imported
    assert not (tmp_path / "results").exists()


def test_every_task_module_imports_without_torch(tmp_path):
    """Planning imports a task's module for its configuration class: the methods, the data loaders and
    torch are imported inside the functions that run, never at the top of a task module."""
    code = ("import sys\nfrom fairbench.runner.tasks import TASKS\nnames = [name for name, _ in TASKS.items()]\n"
            f"print(names, sorted(m for m in {HEAVY[:3]!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("] []"), done.stdout
    assert "'unlearn'" in done.stdout and "'recommend'" in done.stdout
