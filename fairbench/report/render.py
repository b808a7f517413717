"""Render a table from stored records only (markdown, LaTeX, CSV, JSON); never trains.

Each cell reads "ours ± std (paper)" followed by its status mark; footnotes explain deviations and
cells that did not run, and a provenance block says which variant, seeds, code and data produced it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from ..core.errors import FairbenchError
from ..core.status import CellStatus
from ..specs import TableSpec
from .baseline import CSV_COLUMNS
from .claims import check_claims, render_claims_markdown
from .results import MARKS, STALE_MARK, CellResult

FORMATS = ("md", "latex", "csv", "json")


DEFAULT_DECIMALS = 4  # rows the paper prints no value in
NOT_RUN_TEXT = MARKS[CellStatus.NOT_RUN]  # stands in for "ours" where no run exists; the mark is the value


@dataclass(frozen=True)
class NumberFormat:
    """How every number of one table row is printed: fixed with ``decimals`` digits after the point, or
    scientific with ``decimals`` mantissa digits (the paper prints the row in scientific notation)."""

    decimals: int = DEFAULT_DECIMALS
    scientific: bool = False

    def __call__(self, value: float | None) -> str:
        if value is None:
            return ""
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if self.scientific:
            return "0" if value == 0 else f"{value:.{self.decimals}e}"
        text = f"{value:.{self.decimals}f}"
        return text.lstrip("-") if float(text) == 0 else text  # 1e-16 and -1e-16 both read 0.0000

    def paper(self, text: str) -> str:
        """A printed paper value in the row's format (kept verbatim when it is not a number)."""
        try:
            return self(float(text))
        except ValueError:
            return text


def _is_scientific(text: str) -> bool:
    return "e" in text.lower()


def row_format(printed: list[str]) -> NumberFormat:
    """The row's format from the paper's printed values in it: the most digits the paper prints; scientific only
    when every informative value is. A bare "0" says nothing about precision; no paper value: the default."""
    numbers = []
    for text in printed:
        try:
            float(text)
        except ValueError:
            continue
        if "." in text or _is_scientific(text) or float(text) != 0:
            numbers.append(text)
    if not numbers:
        return NumberFormat()
    fixed = [t for t in numbers if not _is_scientific(t)]
    if fixed:
        return NumberFormat(max(len(t.split(".", 1)[1]) if "." in t else 0 for t in fixed))
    return NumberFormat(max(len(re.split("[eE]", t)[0].partition(".")[2]) for t in numbers), scientific=True)


def row_formats(table: TableSpec, results: dict[tuple[str, str], CellResult]) -> dict[str, NumberFormat]:
    formats = {}
    for row in table.rows:
        cells = [results[(row.id, c.id)].cell for c in table.columns]
        formats[row.id] = row_format([t for cell in cells for t in (cell.reported, cell.reported_std) if t])
    return formats


def cell_text(result: CellResult, number: NumberFormat) -> str:
    paper = number.paper(result.cell.reported) if result.cell.reported else ""
    if result.cell.reported_std:
        paper += f" ± {number.paper(result.cell.reported_std)}"
    if result.value is None:
        ours = NOT_RUN_TEXT
    else:
        ours = number(result.value)
        if result.std is not None:
            ours += f" ± {number(result.std)}"
    text = ours + (f" ({paper})" if paper else "")
    status_mark = "" if result.value is None and result.status == CellStatus.NOT_RUN else MARKS[result.status]
    marks = " ".join(m for m in (status_mark, STALE_MARK if result.stale else "") if m)
    return f"{text} {marks}".strip()


def _footnotes(table: TableSpec, results: dict[tuple[str, str], CellResult]) -> list[str]:
    """One note per deviating cell; one per distinct not-run / reported-only / stale reason, naming
    whole columns where every cell of the column shares it."""
    notes: list[str] = []
    by_reason: dict[str, list[tuple[str, str]]] = {}
    for (row, column), result in results.items():
        if result.status == CellStatus.DEVIATES or (result.status == CellStatus.REPRODUCED and result.reason):
            mark = MARKS[result.status]
            notes.append(f"{mark} {_row_name(table, row)} / {_column_label(table, column)}: {result.reason}")
        elif result.status in (CellStatus.NOT_RUN, CellStatus.REPORTED_ONLY, CellStatus.STAND_IN) and result.reason:
            by_reason.setdefault(f"{MARKS[result.status]} {result.status.value}: {result.reason}", []).append((row, column))
    for (row, column), result in results.items():
        if result.stale:
            by_reason.setdefault(f"{STALE_MARK}: {result.stale}", []).append((row, column))
    for reason, cells in by_reason.items():
        notes.append(f"{reason} ({', '.join(_places(table, cells))})")
    return notes


def _places(table: TableSpec, cells: list[tuple[str, str]]) -> list[str]:
    """Name whole columns, then whole rows, then single cells, in the table's order."""
    cells_set = set(cells)
    row_ids = [r.id for r in table.rows]
    full_columns = [c for c in table.columns if all((r, c.id) in cells_set for r in row_ids)]
    remaining = cells_set - {(r, c.id) for c in full_columns for r in row_ids}
    column_ids = [c.id for c in table.columns if c not in full_columns]
    full_rows = [r for r in table.rows if column_ids and all((r.id, c) in remaining for c in column_ids)]
    remaining -= {(r.id, c) for r in full_rows for c in column_ids}
    places = [_column_label(table, c.id) for c in full_columns]
    places += [f"row {_row_name(table, r.id)}" for r in full_rows]
    places += [
        f"{_row_name(table, r.id)} / {_column_label(table, c.id)}"
        for r in table.rows for c in table.columns if (r.id, c.id) in remaining
    ]
    return places


def _row_name(table: TableSpec, row_id: str) -> str:
    row = next(r for r in table.rows if r.id == row_id)
    return f"{row.group}: {row.label}" if row.group else row.label


def _column_label(table: TableSpec, column_id: str) -> str:
    return next(c.label for c in table.columns if c.id == column_id)


def provenance(results: dict[tuple[str, str], CellResult]) -> dict[str, Any]:
    commits, seeds, data, variants = set(), set(), {}, set()
    for result in results.values():
        for record in result.records:
            commits.add(record["code"]["git_commit"])
            seeds.add(record["key"]["seed"])
            for name, digest in record.get("data", {}).get("files", {}).items():
                data[name] = digest
            variants.add(record["config"]["dataset"])
    return {"code": sorted(commits), "seeds": sorted(seeds), "data_sha256": data, "datasets": sorted(variants)}


def _header_block(table: TableSpec, results: dict[tuple[str, str], CellResult], scale: str) -> list[str]:
    prov = provenance(results)
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    stale = sum(1 for result in results.values() if result.stale)
    lines = [
        f"Paper `{table.paper}`, {table.table}: {table.title}",
        f"Source of the paper's values: {table.source}",
        f"Variant: {table.variant}. Scale: {scale}" + (" (a stand-in table)" if table.stand_in else "")
        + (f" ({table.scales[scale].get('note', 'shorter schedules, see the spec')})" if scale in table.scales else "")
        + ". Cells: ours ± std (paper), status mark: "
        + ("~ stand-in (not compared with the paper at this scale), " if scale != "paper" or table.stand_in else "")
        + f"{MARKS[CellStatus.REPRODUCED]} reproduced, {MARKS[CellStatus.DEVIATES]} deviates, "
        + f"{NOT_RUN_TEXT} not run, {MARKS[CellStatus.REPORTED_ONLY]} reported only"
        + (f"; {STALE_MARK}: made by an older version of the code (see the notes)." if stale else "."),
    ]
    if table.cell_format:
        lines.append(f"Paper's cell format: {table.cell_format}")
    lines.append("Status counts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                 + (f"; {STALE_MARK} {stale}" if stale else ""))
    if prov["seeds"]:
        lines.append(
            f"Provenance: datasets {', '.join(prov['datasets'])}; seeds {', '.join(map(str, prov['seeds']))}; "
            f"code {', '.join(c[:12] for c in prov['code'])}; data sha256 "
            + ", ".join(f"{name} {digest[:12]}" for name, digest in sorted(prov["data_sha256"].items()))
        )
    return lines


def render(table: TableSpec, results: dict[tuple[str, str], CellResult], fmt_name: str, scale: str = "paper") -> str:
    if fmt_name == "md":
        return render_markdown(table, results, scale)
    if fmt_name == "latex":
        return render_latex(table, results, scale)
    if fmt_name == "csv":
        return render_csv(table, results)
    if fmt_name == "json":
        return render_json(table, results, scale)
    raise FairbenchError(f"unknown format '{fmt_name}'; known: {', '.join(FORMATS)}")


def _row_label(table: TableSpec, row_index: int) -> str:
    row = table.rows[row_index]
    first_of_group = row_index == 0 or table.rows[row_index - 1].group != row.group
    if row.group and first_of_group:
        return f"{row.group}: {row.label}"
    return row.label


def render_markdown(table: TableSpec, results: dict[tuple[str, str], CellResult], scale: str = "paper") -> str:
    headers = [""]
    for group, columns in table.groups(table.columns):
        for i, column in enumerate(columns):
            # plain text in a terminal and on GitHub: the group names its first column ("Baselines: ML")
            headers.append(f"{group}: {column.label}" if group and i == 0 else column.label)
    formats = row_formats(table, results)
    body = []
    for index, row in enumerate(table.rows):
        body.append([_row_label(table, index)]
                    + [cell_text(results[(row.id, c.id)], formats[row.id]) for c in table.columns])
    lines = [f"## {table.ref} — {table.title}", ""]
    lines += [f"- {line}" for line in _header_block(table, results, scale)]
    lines += ["", tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), ""]
    notes = _footnotes(table, results) + list(table.notes)
    if notes:
        lines += ["Notes:", ""] + [f"- {note}" for note in notes] + [""]
    claims = render_claims_markdown(check_claims(table, results))
    if claims:
        lines += [claims]
    return "\n".join(lines)


def _latex_escape(text: str) -> str:
    for char, repl in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(char, repl)
    return (text.replace("±", r"$\pm$").replace("✓", r"\checkmark").replace("✗", r"$\times$")
            .replace("—", "---").replace("–", "--").replace("†", r"$\dagger$").replace("−", "-").replace("·", r"$\cdot$")
            .replace("|", r"$|$").replace(">", r"$>$").replace("~", r"$\sim$"))  # ~ is a space in LaTeX


def render_latex(table: TableSpec, results: dict[tuple[str, str], CellResult], scale: str = "paper") -> str:
    n = len(table.columns)
    lines = [
        f"% {table.ref}: {table.title} -- rendered by fairbench from stored records",
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{l" + "c" * n + "}",
        r"\toprule",
    ]
    groups = table.groups(table.columns)
    if any(group for group, _ in groups):
        spans, rules, start = [""], [], 2
        for group, columns in groups:
            spans.append(rf"\multicolumn{{{len(columns)}}}{{c}}{{{_latex_escape(group or '')}}}")
            if group:
                rules.append(rf"\cmidrule(lr){{{start}-{start + len(columns) - 1}}}")
            start += len(columns)
        lines.append(" & ".join(spans) + r" \\")
        lines.append(" ".join(rules))
    lines.append(" & ".join([""] + [_latex_escape(c.label) for c in table.columns]) + r" \\")
    lines.append(r"\midrule")
    formats = row_formats(table, results)
    previous_group = None
    for index, row in enumerate(table.rows):
        if row.group and row.group != previous_group:
            if index:
                lines.append(r"\midrule")
            lines.append(rf"\multicolumn{{{n + 1}}}{{l}}{{\textit{{{_latex_escape(row.group)}}}}} \\")
        previous_group = row.group
        cells = [_latex_escape(cell_text(results[(row.id, c.id)], formats[row.id])) for c in table.columns]
        lines.append(" & ".join([_latex_escape(row.label)] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    caption = f"{table.title}. Variant: {table.variant}; scale: {scale}. Cells: ours ± std (paper)."
    lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    notes = _footnotes(table, results)
    if notes:
        lines.append(r"\par\smallskip\footnotesize " + r" \\ ".join(_latex_escape(note) for note in notes))
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _plain(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def render_csv(table: TableSpec, results: dict[tuple[str, str], CellResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in table.rows:
        for column in table.columns:
            r = results[(row.id, column.id)]
            writer.writerow([
                table.paper, table.table, row.id, column.id, _plain(r.value), _plain(r.std), r.n,
                r.cell.reported or "", r.cell.reported_std or "", r.status.value,
            ])
    return buffer.getvalue()


def render_json(table: TableSpec, results: dict[tuple[str, str], CellResult], scale: str = "paper") -> str:
    cells = []
    for row in table.rows:
        for column in table.columns:
            r = results[(row.id, column.id)]
            cells.append({
                "row": row.id, "column": column.id, "metric": r.cell.metric, "value": r.value, "std": r.std,
                "n": r.n, "reported": r.cell.reported, "reported_std": r.cell.reported_std, "status": r.status.value,
                "stale": r.stale or None, "reason": r.reason, "expect": r.cell.expect, "tolerance": r.cell.tolerance.describe(),
                "run": r.cell.run,
            })
    claims = [
        {"id": c.id, "statement": c.statement, "status": c.status, "expect": c.expect, "relation": c.relation,
         "scopes": [{"scope": x.scope, "outcome": x.outcome, "values": x.values} for x in c.scopes]}
        for c in check_claims(table, results)
    ]
    doc = {
        "paper": table.paper, "table": table.table, "title": table.title, "variant": table.variant,
        "scale": scale, "source": table.source, "provenance": provenance(results), "cells": cells, "notes": table.notes,
        "claims": claims,
    }
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"
