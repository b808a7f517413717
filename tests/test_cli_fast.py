"""The commands a user types first answer without importing torch (issue 18, item 6).

Each command runs in a fresh interpreter, as the ``fairbench`` script does; on the way out the
subprocess reports whether ``torch`` (or the method registry, which imports it) is in ``sys.modules``.
Importing torch alone costs seconds, so this is what keeps ``--help``, ``list``, ``render`` and the
unknown-method error under a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Runs fairbench's entry point, then prints which heavy modules it imported (after SystemExit too).
WRAPPER = """\
import sys
from fairbench.cli import main
sys.argv = ["fairbench", *sys.argv[1:]]
try:
    main()
finally:
    heavy = sorted(name for name in ("torch", "fairbench.methods", "sklearn") if name in sys.modules)
    sys.stderr.write("IMPORTED:" + ",".join(heavy) + "\\n")
"""

COMMANDS = [
    (("--help",), 0),
    (("list", "methods"), 0),
    (("render", "ob:table2", "--format", "csv"), 0),
    (("run", "--method", "nosuch", "--dataset", "compas"), 2),
]


@pytest.mark.parametrize("args, code", COMMANDS, ids=lambda value: " ".join(value) if isinstance(value, tuple) else None)
def test_first_commands_do_not_import_torch(args, code, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "FAIRBENCH_RESULTS": str(tmp_path / "results"),
           "FAIRBENCH_TABLES": str(tmp_path / "tables")}
    done = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)
    assert done.returncode == code, done.stderr
    imported = [line for line in done.stderr.splitlines() if line.startswith("IMPORTED:")]
    assert imported == ["IMPORTED:"], f"{' '.join(args)} imported {imported}"
    if code == 2:
        assert "unknown method 'nosuch'; known: " in done.stderr and "Traceback" not in done.stderr
    else:
        assert done.stdout.strip()
