"""Table specs: every committed spec loads; malformed ones fail with the file named."""

import pytest

from fairbench.core.errors import FairbenchError
from fairbench.specs import all_tables, load_spec

MINIMAL = """
paper: p
table: t
rows: [{id: r, metric: accuracy}]
columns: [{id: c, run: {method: ml}}]
"""


def test_every_committed_spec_loads():
    tables = all_tables()
    assert any(t.ref == "ob:table2" for t in tables)
    for table in tables:
        assert table.rows is not None and table.title, table.ref


@pytest.mark.parametrize(
    "extra, message",
    [
        ("cells: {r: {nope: {reported: '1'}}}", "unknown column(s) nope"),
        ("cells: {nope: {c: {reported: '1'}}}", "unknown row 'nope'"),
        ("defaults: {expect: 'deviates'}", "needs a reason"),
        ("defaults: {expect: 'maybe'}", "expect must start with"),
        ("cells: {r: {c: [unbalanced}", "invalid YAML"),
    ],
)
def test_malformed_specs_name_the_problem(tmp_path, extra, message):
    path = tmp_path / "t.yaml"
    path.write_text(MINIMAL + extra + "\n")
    with pytest.raises(FairbenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_spec(path)
