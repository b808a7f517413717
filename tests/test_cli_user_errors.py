"""Every user error is one line on stderr and exit 2, with no traceback: malformed values for every
command and option of the CLI (bad YAML, wrong types, negative, huge, empty, path-like names).

The CLI runs in-process through its real entry point (``fairbench.cli.main``), so what is checked is
exactly what a user sees; no case loads data or trains (every value is refused before that).
"""

from __future__ import annotations

import pytest

HUGE = "1" + "0" * 30
PATHLIKE = "../../etc"

CASES = [
    # list
    ("list", PATHLIKE),
    ("list", ""),
    # download / verify
    ("download", PATHLIKE),
    ("download", ""),
    ("download", "compas", "--mirror", ""),
    ("download", "compas", "--mirror", PATHLIKE + "/nothing-here"),
    ("download", "compas", "german", "--from", "."),
    ("verify", "--bogus"),
    # train
    ("train", "--dataset", PATHLIKE, "--model", "logreg"),
    ("train", "--dataset", "compas@fairunlearn", "--model", ""),
    ("train", "--dataset", "compas@fairunlearn", "--model", "logreg", "--seed", "-1"),
    ("train", "--dataset", "compas@fairunlearn", "--model", "logreg", "--seed", "abc"),
    ("train", "--dataset", "compas@fairunlearn", "--model", "logreg", "--set", "lam=["),
    ("train", "--dataset", "compas@fairunlearn", "--model", "logreg", "--set", "=3"),
    # run
    ("run", "--method", PATHLIKE, "--dataset", "compas@flap"),
    ("run", "--method", "ml", "--dataset", PATHLIKE),
    ("run", "--method", "ml", "--dataset", ""),
    ("run", "--method", "", "--dataset", "compas@flap"),
    ("run", "--method", "ml", "--dataset", "compas@flap", "--set", "k=["),
    ("run", "--method", "ml", "--dataset", "compas@flap", "--set", "k"),
    ("run", "--method", "ml", "--dataset", "compas@flap", "--set", "a..b=1"),
    ("run", "--method", "ml", "--dataset", "compas@flap", "--set", "task=" + PATHLIKE),
    ("run", "--method", "ml", "--dataset", "compas@flap", "--set", "nosuchparam=1"),
    ("run", "--method", "ob", "--dataset", "compas@flap", "--set", "k=2.5"),
    ("run", "--method", "ob", "--dataset", "compas@flap", "--set", "k=-3"),
    ("run", "--method", "ob", "--dataset", "compas@flap", "--set", "k=" + HUGE),
    ("run", "--method", "ob", "--dataset", "compas@flap", "--set", "k=''"),
    ("run", "--method", "ml", "--dataset", "compas@flap", "--seed", "-1"),
    ("run", "--method", "ml", "--dataset", "compas@flap", "--seed", "x"),
    ("run", "--method", "ml", "--dataset", "compas@flap", "--seed", HUGE),
    ("run", "--method", "sisa", "--dataset", "adult@cfdebias", "--protocol", PATHLIKE),
    ("run", "--method", "sisa", "--dataset", "adult@cfdebias", "--protocol", "uniform", "--fraction", "2"),
    ("run", "--method", "sisa", "--dataset", "adult@cfdebias", "--protocol", "uniform", "--fraction", "-0.1"),
    ("run", "--method", "sisa", "--dataset", "adult@cfdebias", "--protocol", "uniform", "--fraction", "nan"),
    ("run", "--method", "sisa", "--dataset", "adult@cfdebias", "--protocol", "uniform", "--fraction", "half"),
    ("run", "--method", "sisa", "--dataset", "adult@cfdebias", "--fraction", "0.1"),
    ("run", "--method", "ml", "--dataset", "compas@flap", "--bogus"),
    ("run", "--dataset", "compas@flap"),
    # reproduce
    ("reproduce", PATHLIKE),
    ("reproduce", ""),
    ("reproduce", "table2"),
    ("reproduce", "ob:table2", "--seeds", "0"),
    ("reproduce", "ob:table2", "--seeds", "-1"),
    ("reproduce", "ob:table2", "--seeds", "1000000"),
    ("reproduce", "ob:table2", "--seeds", HUGE),
    ("reproduce", "ob:table2", "--seeds", "two"),
    ("reproduce", "ob:table2", "--jobs", "0"),
    ("reproduce", "ob:table2", "--jobs", "-3"),
    ("reproduce", "ob:table2", "--scale", "huge"),
    ("reproduce", "ob:table2", "--scale", ""),
    ("reproduce", "ob:table2", "--datasets", ""),
    ("reproduce", "ob:table2", "--datasets", ","),
    ("reproduce", "ob:table2", "--datasets", PATHLIKE),
    ("reproduce", "ob:table2", "--methods", PATHLIKE),
    ("reproduce", PATHLIKE + ":all"),
    # render / check
    ("render", PATHLIKE),
    ("render", "ob:table2", "--format", ""),
    ("render", "ob:table2", "--format", "docx"),
    ("render", "ob:table2", "--scale", "huge"),
    ("check", PATHLIKE),
    ("check", "ob:table2", "--scale", ""),
    # the command itself
    ("nosuchcommand",),
    ("--bogus",),
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(case) or "(empty)" for case in CASES])
def test_user_error_is_one_line_and_exit_2(cli, fb_env_no_data, args):
    code, out, err = cli(*args)
    text = out + err
    lines = [line for line in text.splitlines() if line.strip()]
    assert code == 2, (args, code, text)
    assert "Traceback" not in text and "internal error" not in text, text
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines


def test_a_float_for_an_int_parameter_is_refused_not_truncated(cli, fb_env_no_data):
    code, _, err = cli("run", "--method", "ob", "--dataset", "compas@flap", "--set", "k=2.5")
    assert code == 2 and "params.k" in err and "2.5" in err


def test_huge_seed_count_names_the_bound_and_the_number_of_jobs(cli, fb_env_no_data):
    code, _, err = cli("reproduce", "ob:table2", "--seeds", "1000000")
    assert code == 2
    assert "66000000 cell runs" in err and "1000 seeds" in err and "--yes" in err
