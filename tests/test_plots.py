"""Figures stay readable: a panel without data says so, a covered line stays visible, the legend clears the
axis labels."""

from fairbench.report.plots import NO_DATA, draw_figure
from tests.test_fairunlearn_task import _toy


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_a_panel_without_data_says_so(tmp_path):
    table, results = _toy(tmp_path, {("a", "g1-1"): [0.1, 0.2], ("a", "g1-2"): [0.3, 0.3]})
    fig, _ = draw_figure(table, results)
    with_data, without = fig.axes[0], fig.axes[1]
    assert _texts(without) == [NO_DATA] and not without.get_lines()
    assert NO_DATA not in _texts(with_data) and with_data.get_lines()


def test_a_line_under_an_identical_one_gets_a_halo_and_its_own_marker(tmp_path):
    same = {("a", "g1-1"): [0.2], ("a", "g1-2"): [0.3], ("b", "g1-1"): [0.2], ("b", "g1-2"): [0.3]}
    table, results = _toy(tmp_path, same)
    ax = draw_figure(table, results)[0].axes[0]
    labelled = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    halos = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    assert [line.get_label() for line in labelled] == ["A", "B"]
    assert labelled[0].get_marker() != labelled[1].get_marker()
    assert len(halos) == 1 and halos[0].get_color() == labelled[0].get_color()
    assert halos[0].get_linewidth() > labelled[1].get_linewidth() and halos[0].get_zorder() < labelled[1].get_zorder()


def test_distinct_lines_get_no_halo(tmp_path):
    apart = {("a", "g1-1"): [0.2], ("a", "g1-2"): [0.3], ("b", "g1-1"): [0.8], ("b", "g1-2"): [0.9]}
    table, results = _toy(tmp_path, apart)
    ax = draw_figure(table, results)[0].axes[0]
    assert all(not line.get_label().startswith("_") for line in ax.get_lines())


def test_the_legend_clears_every_axis_label(tmp_path):
    values = {("a", "g1-1"): [0.1, 0.2], ("a", "g1-2"): [0.3, 0.3], ("b", "g1-1"): [0.2, 0.2], ("b", "g2-1"): [0.4]}
    table, results = _toy(tmp_path, values)
    fig, _ = draw_figure(table, results)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        assert legend.y1 < ax.xaxis.label.get_window_extent(renderer).y0
        assert legend.y1 < ax.get_tightbbox(renderer).y0


def _scatter_toy(tmp_path, values, plot: str):
    from fairbench.specs import load_spec
    from tests import test_fairunlearn_task as toy_module

    _, results = _toy(tmp_path, values)  # writes the toy spec with its line plot: replaced below
    (tmp_path / "t1.yaml").write_text(toy_module.TOY.split("plot:")[0] + plot)
    return load_spec(tmp_path / "t1.yaml"), results


def test_a_scatter_puts_each_row_at_its_two_columns_with_error_bars(tmp_path):
    import numpy as np

    values = {("a", "g1-1"): [0.1, 0.3], ("a", "g1-2"): [0.5, 0.5], ("b", "g1-1"): [0.7], ("b", "g1-2"): None}
    plot = "plot:\n  kind: scatter\n  x: {column: g1-1, label: first}\n  y: {column: g1-2}\n  panels: {rows: none}\n"
    table, results = _scatter_toy(tmp_path, values, plot)
    ax = draw_figure(table, results)[0].axes[0]
    assert [bars.get_label() for bars in ax.containers] == ["A"]  # b has no record in the y column: left out
    point, _, _ = ax.containers[0]
    assert np.allclose(point.get_xydata(), [[0.2, 0.5]])  # the mean over seeds
    assert ax.get_xlabel() == "first" and ax.get_ylabel() == "g1-2"
    assert ax.collections  # the x error bar of a's two seeds


def test_a_scatter_without_points_says_so_and_a_bad_column_is_refused(tmp_path):
    import pytest

    from fairbench.core.errors import FairbenchError

    plot = "plot:\n  kind: scatter\n  x: {column: g1-1}\n  y: {column: g1-2}\n  panels: {rows: none}\n"
    table, results = _scatter_toy(tmp_path, {}, plot)
    assert _texts(draw_figure(table, results)[0].axes[0]) == [NO_DATA]
    table, results = _scatter_toy(tmp_path, {}, plot.replace("column: g1-2", "column: nosuch"))
    with pytest.raises(FairbenchError, match="plot.y.column"):
        draw_figure(table, results)
