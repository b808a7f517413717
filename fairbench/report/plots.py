"""Figures drawn from stored results only (never trains): the ``plot:`` section of a table spec.

A table whose cells are the points of a paper's figure says how to draw it::

    plot:
      file: fig1                     # <out_dir>/fig1.png and .pdf
      x: {key: protocol.fraction, label: fraction unlearned, scale: linear, percent: true}
      y: {label: AEOD}               # scale: linear | log, or a mapping {<row group>: log, default: linear}
      panels: {rows: row_groups}     # rows: row_groups (a panel per row group x column group) | none (a panel
                                     # per column group); wrap: panels per figure row (default: column groups)
      bands: std                     # shade mean ± std over seeds (std | none)
      styles:                        # matplotlib line kwargs by style name; a row takes the styles named
        bce: {linestyle: "--"}       # by its item's 'style' (a name or a list), then the one named by its id
        fair_unlearning: {color: green}

Each line is a row; its points are the columns of a panel, at x = the value at ``x.key`` (a dotted
path) in the cell's run configuration. Cells without records are left out of the line.

A trade-off between two columns (``kind: scatter``) draws each row as one point per panel::

    plot:
      file: table2-tradeoff
      kind: scatter
      x: {column: RA, label: RA}     # the point's x and y are the row's cells of these two columns,
      y: {column: DP, label: DP drop (%)}   # with mean ± std error bars
      size: {column: Time}           # optional: marker area grows with this column's value
      panels: {rows: row_groups}     # a panel per row group (default), or none: one panel

A row without a record in either column is left out of its panel.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..core.atomic import replacing
from ..core.errors import FairbenchError
from ..specs import TableSpec, read_yaml
from .results import CellResult

MAX_DATA_TICKS = 8


def _plot_section(table: TableSpec) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    doc = read_yaml(table.path) or {}
    raw_rows = doc.get("rows") or []
    blocks = raw_rows if raw_rows and isinstance(raw_rows[0], dict) and "items" in raw_rows[0] else [{"items": raw_rows}]
    items = {}
    for block in blocks:
        for item in block["items"]:
            item = {"id": item} if isinstance(item, str) else item
            items[item["id"]] = item
    return doc.get("plot"), items


def _lookup(run: dict[str, Any], key: str) -> Any:
    value: Any = run
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _yscale(spec: dict[str, Any], group: str | None) -> str:
    scale = spec.get("scale", "linear")
    if isinstance(scale, dict):
        return scale.get(group, scale.get("default", "linear"))
    return scale


# Each line gets its own hollow marker; a line that a later one covers (fair retraining under fair unlearning)
# gets a wide translucent halo of its colour behind it, so both stay visible where they coincide.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
COINCIDE = 0.015  # lines closer than this fraction of the panel's y range at every shared x cover each other
NO_DATA = "data not available"


def _line_style(index: int) -> dict[str, Any]:
    return {"marker": MARKERS[index % len(MARKERS)], "markersize": 5, "markerfacecolor": "none",
            "markeredgewidth": 1.1, "linewidth": 1.3}


def _covers(later: list[tuple], earlier: list[tuple], tolerance: float) -> bool:
    earlier_at = {p[0]: p[1] for p in earlier}
    shared = [(p[1], earlier_at[p[0]]) for p in later if p[0] in earlier_at]
    return bool(shared) and all(abs(a - b) <= tolerance for a, b in shared)


def draw_figure(table: TableSpec, results: dict[tuple[str, str], CellResult]):
    """The table's ``plot:`` as a matplotlib figure (None without a plot); panels without data say so."""
    spec, row_items = _plot_section(table)
    if not spec:
        return None, None
    kind = spec.get("kind", "lines")
    if kind not in ("lines", "scatter"):
        raise FairbenchError(f"{table.path}: plot.kind must be lines or scatter, not {kind!r}")
    if kind == "scatter":
        return _draw_scatter(table, results, spec, row_items)
    plt = _pyplot()
    x_spec = spec.get("x") or {}
    if "key" not in x_spec:
        raise FairbenchError(f"{table.path}: plot.x needs a key (a dotted path into a cell's run)")
    y_spec = spec.get("y") or {}
    panels = spec.get("panels") or {}
    row_blocks = _row_blocks(table, panels)
    column_blocks = table.groups(table.columns)
    bands = spec.get("bands", "std") == "std"
    row_order = {row.id: index for index, row in enumerate(table.rows)}

    panel_list = [(rg, rows, cg, columns) for rg, rows in row_blocks for cg, columns in column_blocks]
    fig, axes = _panels(plt, len(panel_list), int(panels.get("wrap") or len(column_blocks)))
    for ax, (row_group, rows, column_group, columns) in zip(axes.flat, panel_list):
        ax.set_title(" / ".join(t for t in (row_group, column_group) if t), fontsize=9)
        lines: list[tuple[Any, list[tuple]]] = []
        for row in rows:
            points = []
            for column in columns:
                result = _drawable(results, row.id, column.id)
                if result is None:
                    continue
                x = _lookup(result.cell.run, x_spec["key"])
                if x is None:
                    raise FairbenchError(f"{table.path}: cell {row.id}/{column.id} has no '{x_spec['key']}' in its run")
                points.append((float(x) * (100 if x_spec.get("percent") else 1), result.value, result.std))
            if points:
                lines.append((row, sorted(points)))
        panel_xs = {p[0] for _, points in lines for p in points}
        panel_ys = [p[1] for _, points in lines for p in points]
        tolerance = COINCIDE * (max(panel_ys) - min(panel_ys)) if panel_ys else 0.0
        drawn: list[tuple[Any, list[tuple]]] = []
        for row, points in lines:
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            style = _row_style(_line_style(row_order[row.id]), spec, row_items, row.id)
            line = ax.plot(xs, ys, label=row.label, **style)[0]
            for earlier, earlier_points in drawn:
                if _covers(points, earlier_points, tolerance):
                    ax.plot([p[0] for p in earlier_points], [p[1] for p in earlier_points], color=earlier.get_color(),
                            linewidth=6, alpha=0.35, solid_capstyle="round", zorder=earlier.get_zorder() - 0.1)
            drawn.append((line, points))
            if bands and all(p[2] is not None and not math.isnan(p[2]) for p in points):
                ax.fill_between(xs, [p[1] - p[2] for p in points], [p[1] + p[2] for p in points],
                                color=line.get_color(), alpha=0.15, linewidth=0)
        if not panel_xs:  # nothing ran for this panel: say so rather than draw empty axes
            _no_data(ax)
            continue
        ax.set_xscale(x_spec.get("scale", "linear"))
        if len(panel_xs) <= MAX_DATA_TICKS:  # few settings swept: tick exactly those, not round numbers between
            ax.set_xticks(sorted(panel_xs), [f"{x:g}" for x in sorted(panel_xs)])
            ax.minorticks_off()
        ax.set_yscale(_yscale(y_spec, row_group))
        ax.set_xlabel(x_spec.get("label", x_spec["key"]) + (" (%)" if x_spec.get("percent") else ""), fontsize=8)
        ax.set_ylabel(row_group or y_spec.get("label", ""), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    _legend_and_title(fig, axes, table)
    return fig, spec


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _row_blocks(table: TableSpec, panels: dict[str, Any]) -> list[tuple[str | None, list]]:
    """The rows per panel: a panel per row group (``panels.rows: row_groups``, the default) or all in one."""
    return table.groups(table.rows) if panels.get("rows", "row_groups") == "row_groups" else [(None, table.rows)]


def _drawable(results: dict[tuple[str, str], CellResult], row: str, column: str) -> CellResult | None:
    """The cell's result when it has a value from records (a point to draw), else None."""
    result = results.get((row, column))
    return result if result is not None and result.value is not None and result.records else None


def _row_style(base: dict[str, Any], spec: dict[str, Any], row_items: dict[str, dict[str, Any]],
               *names: str) -> dict[str, Any]:
    """``base`` updated with the plot's ``styles`` named by the row's item (its ``style``: a name or a list),
    then by each of ``names`` (the row's id, its label)."""
    styles = spec.get("styles") or {}
    named = row_items.get(names[0], {}).get("style", [])
    for name in ([named] if isinstance(named, str) else list(named)) + list(names):
        base.update(styles.get(name, {}))
    return base


def _panels(plt, count: int, wrap: int):
    """A figure with ``count`` panels, ``wrap`` to a figure row; the unused axes hidden."""
    ncols = min(wrap, count)
    nrows = math.ceil(count / ncols)
    # constrained layout keeps the figure legend ("outside") clear of every axis label
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows + 0.6), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, axes


def _no_data(ax) -> None:
    ax.text(0.5, 0.5, NO_DATA, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _legend_and_title(fig, axes, table: TableSpec) -> None:
    """One legend for the figure (each label once, in the order first drawn) and the table's title."""
    handles, labels = {}, []
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    if handles:
        fig.legend([handles[k] for k in labels], labels, loc="outside lower center", ncol=min(len(labels), 4),
                   fontsize=8, frameon=False)
    fig.suptitle(f"{table.ref}: {table.title}", fontsize=10)


def _axis_column(table: TableSpec, spec: dict[str, Any], axis: str) -> str:
    column = (spec.get(axis) or {}).get("column")
    if column not in {c.id for c in table.columns}:
        raise FairbenchError(f"{table.path}: plot.{axis}.column must name one of the table's columns, not {column!r}")
    return column


def _draw_scatter(table: TableSpec, results: dict[tuple[str, str], CellResult], spec: dict[str, Any],
                  row_items: dict[str, dict[str, Any]]):
    """``kind: scatter``: per panel (row group), each row one point at (its x column, its y column) with
    std error bars; marker area from the ``size`` column when given (scaled to the largest in the figure)."""
    plt = _pyplot()
    x_column, y_column = _axis_column(table, spec, "x"), _axis_column(table, spec, "y")
    size_column = _axis_column(table, spec, "size") if spec.get("size") else None
    panels = spec.get("panels") or {}
    row_blocks = _row_blocks(table, panels)
    # one marker per label, so a method keeps its marker (and its legend entry) in every panel
    label_order = {label: index for index, label in enumerate(dict.fromkeys(row.label for row in table.rows))}

    def cell(row_id: str, column: str) -> CellResult | None:
        return _drawable(results, row_id, column)

    sizes = [cell(r.id, size_column).value for r in table.rows if size_column and cell(r.id, size_column)]
    largest = max((abs(v) for v in sizes), default=0.0) or 1.0
    fig, axes = _panels(plt, len(row_blocks), int(panels.get("wrap") or min(len(row_blocks), 3)))
    for ax, (row_group, rows) in zip(axes.flat, row_blocks):
        ax.set_title(row_group or "", fontsize=9)
        drawn = 0
        for row in rows:
            x, y = cell(row.id, x_column), cell(row.id, y_column)
            if x is None or y is None:
                continue
            marker = {"marker": MARKERS[label_order[row.label] % len(MARKERS)], "markersize": 6, "linestyle": "none",
                      "capsize": 2, "elinewidth": 0.8}
            style = _row_style(marker, spec, row_items, row.id, row.label)
            size = cell(row.id, size_column) if size_column else None
            if size is not None:  # area, not radius, proportional to the value
                style["markersize"] = 4 + 14 * math.sqrt(abs(size.value) / largest)
            ax.errorbar(x.value, y.value, xerr=_finite(x.std), yerr=_finite(y.std), label=row.label, **style)
            drawn += 1
        if not drawn:
            _no_data(ax)
            continue
        ax.set_xlabel(spec["x"].get("label", x_column), fontsize=8)
        ax.set_ylabel(spec["y"].get("label", y_column), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    _legend_and_title(fig, axes, table)
    return fig, spec


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def plot_table(table: TableSpec, results: dict[tuple[str, str], CellResult], out_dir: Path | str) -> list[Path]:
    """Draw the table's ``plot:`` (PNG + PDF) under ``out_dir``; returns the files written ([] without a plot)."""
    fig, spec = draw_figure(table, results)
    if fig is None:
        return []
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = spec.get("file", table.table)
    written = []
    for suffix in ("png", "pdf"):
        path = out / f"{stem}.{suffix}"
        with replacing(path) as tmp:  # rendered beside the plot, then renamed: never a cut file
            fig.savefig(tmp, format=suffix, dpi=150, metadata={"CreationDate": None} if suffix == "pdf" else None)
        written.append(path)
    plt.close(fig)
    return written
