"""Table specs: ``benchmarks/<paper>/<table>.yaml`` — layout, cells, reported values, tolerances.

A cell's run configuration is the merge of ``defaults.run``, its row's ``run``, its column's
``run`` and its own ``run``; its metric comes from the cell, else the row, else the column. Only
the seed is left out: a cell aggregates the runs of its seeds.

Cell expectations: ``reproduce`` (``check`` fails if it does not), ``deviates: <why>`` (known not
to match; rendered and explained; ``check`` fails when it reproduces after all, as a strict xfail) and
``reported-only: <why>`` (the paper's number is shown, ours is informative at most, e.g.
hardware-dependent run times). :class:`Tolerance` states when a value reproduces.

A column with ``paper_only: true`` holds the paper's numbers and nothing of ours (a value whose formula is
lost, e.g. cobum's Co-BUM): its cells are reported-only, run nothing and need no metric; our counterpart
is a column of its own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .core import settings
from .core.errors import FairbenchError

EXPECTATIONS = ("reproduce", "deviates", "reported-only")


DEFAULT_K = 2.0  # standard errors of the difference within which a value reproduces
FLOAT_SLACK = 1e-12  # differences this small are floating-point noise, never a deviation
NEAR_ZERO_UNITS = 10  # a paper value under this many units of its last printed digit is "near zero"


def standard_error_of_difference(ours_std: float | None, ours_n: int, paper_std: float | None,
                                 paper_n: int | None) -> float:
    """SE of (mean of ours − mean of theirs) = sqrt(s_ours²/n_ours + s_paper²/N_paper).

    A side without a spread (one run, no printed std, or an unknown number of runs behind the printed
    std) contributes nothing: it is taken as exact."""
    variance = 0.0
    if ours_std is not None and ours_n >= 2:
        variance += ours_std ** 2 / ours_n
    if paper_std is not None and paper_n:
        variance += paper_std ** 2 / paper_n
    return variance ** 0.5


@dataclass
class Tolerance:
    """When ours reproduces the paper: |ours − paper| ≤ max(abs, rel·|paper|, k·SE of the difference).

    ``abs`` and ``rel`` are justified per metric in the spec; ``k`` multiplies the standard error of
    the difference of the two means (:func:`standard_error_of_difference`), so our own spread never
    widens the window by itself: it enters divided by √n, as the paper's does by √N."""

    abs: float | None = None
    rel: float | None = None
    k: float = DEFAULT_K

    def bound(self, paper: float, standard_error: float) -> float:
        bounds = [self.k * standard_error]
        if self.abs is not None:
            bounds.append(self.abs)
        if self.rel is not None:
            bounds.append(self.rel * abs(paper))
        return max(bounds)

    def allows(self, ours: float, paper: float, standard_error: float) -> bool:
        return abs(ours - paper) <= self.bound(paper, standard_error) + FLOAT_SLACK

    def describe(self) -> str:
        parts = []
        if self.abs is not None:
            parts.append(f"±{self.abs:g}")
        if self.rel is not None:
            parts.append(f"±{self.rel:.0%} rel")
        parts.append(f"±{self.k:g}·SE")
        return " or ".join(parts)


def printed_unit(text: str) -> float:
    """One unit of the last printed digit of a number as printed: '0.5744' → 1e-4, '1.7e-06' → 1e-7, '12' → 1."""
    mantissa, _, exponent = text.strip().lower().partition("e")
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    return 10.0 ** (int(exponent or 0) - decimals)


@dataclass
class CellSpec:
    row: str
    column: str
    metric: str
    run: dict[str, Any]
    seeds: int
    reported: str | None
    reported_std: str | None
    tolerance: Tolerance
    expect: str
    reason: str = ""
    source: str = ""
    factor: float = 1.0  # our metric × factor is what the paper prints (e.g. 100 for percentages)
    reported_n: int | None = None  # runs behind the paper's std (None: unknown, the paper value is taken as exact)


@dataclass
class Header:
    id: str
    label: str
    group: str | None = None


@dataclass
class TableSpec:
    paper: str
    table: str
    title: str
    source: str
    path: Path
    rows: list[Header]
    columns: list[Header]
    cells: dict[tuple[str, str], CellSpec]
    notes: list[str] = field(default_factory=list)
    cell_format: str = ""
    scales: dict[str, dict[str, Any]] = field(default_factory=dict)
    variant: str = "paper"
    stand_in: bool = False  # a stand-in spec (e.g. cfdebias:table3-mini): its cells are never compared with the paper

    @property
    def ref(self) -> str:
        return f"{self.paper}:{self.table}"

    def cell(self, row: str, column: str) -> CellSpec:
        return self.cells[(row, column)]

    def groups(self, headers: list[Header]) -> list[tuple[str | None, list[Header]]]:
        """Consecutive headers sharing a group label, in order."""
        out: list[tuple[str | None, list[Header]]] = []
        for header in headers:
            if out and out[-1][0] == header.group:
                out[-1][1].append(header)
            else:
                out.append((header.group, [header]))
        return out


def merge_blocks(*parts: dict[str, Any] | None) -> dict[str, Any]:
    """Nested dicts merged key by key, later parts winning (copies: the parts are left as they are)."""
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in (part or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge_blocks(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
    return merged


SCALES = ("paper", "mini")


def cell_config(table: "TableSpec", cell: "CellSpec", scale: str) -> dict[str, Any]:
    """The run a cell asks for at ``scale``: its ``run`` block merged with the scale's ``run`` block."""
    if scale not in SCALES:
        raise FairbenchError(f"unknown scale '{scale}'; known: {', '.join(SCALES)}")
    return merge_blocks(cell.run, (table.scales.get(scale) or {}).get("run"))


def _headers(raw: Any, kind: str, path: Path) -> tuple[list[Header], dict[str, dict[str, Any]]]:
    """Headers from ``[{group: G, run: {...}, items: [...]}, ...]`` or a plain list of items.

    A group's ``run`` is merged under each of its items' ``run``."""
    headers: list[Header] = []
    extras: dict[str, dict[str, Any]] = {}
    blocks = raw if raw and isinstance(raw[0], dict) and "items" in raw[0] else [{"group": None, "items": raw}]
    for block in blocks:
        for item in block["items"]:
            if isinstance(item, str):
                item = {"id": item}
            if "id" not in item:
                raise FairbenchError(f"{path}: every {kind} needs an id")
            headers.append(Header(item["id"], str(item.get("label", item["id"])), block.get("group")))
            if block.get("run"):
                item = {**item, "run": merge_blocks(block["run"], item.get("run"))}
            extras[item["id"]] = item
    return headers, extras


def _parse_expect(raw: str | None, path: Path, where: str) -> tuple[str, str]:
    raw = raw or "reproduce"
    kind, _, reason = raw.partition(":")
    kind = kind.strip()
    if kind not in EXPECTATIONS:
        raise FairbenchError(f"{path}: {where}: expect must start with one of {', '.join(EXPECTATIONS)}, got '{raw}'")
    if kind != "reproduce" and not reason.strip():
        raise FairbenchError(f"{path}: {where}: '{kind}' needs a reason ('{kind}: <why>')")
    return kind, reason.strip()


TOLERANCE_KEYS = ("abs", "rel", "k")


def _tolerance(raw: dict[str, Any] | None, reported: str | None, path: Path, where: str) -> Tolerance:
    raw = raw or {}
    if "k_std" in raw:
        raise FairbenchError(
            f"{path}: {where}: tolerance 'k_std' was removed (k × max(our std, paper std) let our own noise "
            f"widen the window); use 'k', standard errors of the difference (benchmarks/README.md)")
    unknown = sorted(set(raw) - set(TOLERANCE_KEYS))
    if unknown:
        raise FairbenchError(f"{path}: {where}: unknown tolerance key(s) {', '.join(unknown)}; known: "
                             f"{', '.join(TOLERANCE_KEYS)}")
    tolerance = Tolerance(abs=raw.get("abs"), rel=raw.get("rel"), k=float(raw.get("k", DEFAULT_K)))
    if tolerance.rel is not None and reported is not None:
        try:
            paper = float(reported)
        except ValueError:
            paper = None
        if paper is not None and abs(paper) < NEAR_ZERO_UNITS * printed_unit(reported):
            raise FairbenchError(
                f"{path}: {where}: a relative tolerance on a paper value near zero ('{reported}', under "
                f"{NEAR_ZERO_UNITS} units of its last printed digit) allows almost nothing; give an absolute one")
    return tolerance


# libyaml's loader when PyYAML was built with it: the same documents, parsed about ten times faster
# (a spec with thousands of cells is read on every render)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """A YAML file's document (specs, and the claims and plot sections the report layer reads from them)."""
    with open(path) as handle:
        return yaml.load(handle, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader


def load_spec(path: Path) -> TableSpec:
    try:
        doc = read_yaml(path)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()
        raise FairbenchError(f"{path}: invalid YAML ({' '.join(line.strip() for line in first[:3])})") from None
    try:
        rows, row_extra = _headers(doc["rows"], "row", path)
        columns, column_extra = _headers(doc["columns"], "column", path)
        defaults = doc.get("defaults", {})
        cells_doc = doc.get("cells") or {}
        row_ids, column_ids = {r.id for r in rows}, {c.id for c in columns}
        for row_id, row_cells in cells_doc.items():
            if row_id not in row_ids:
                raise FairbenchError(f"{path}: cells name an unknown row '{row_id}'")
            stray = sorted(set(row_cells or {}) - column_ids)
            if stray:
                raise FairbenchError(f"{path}: cells of row '{row_id}' name unknown column(s) {', '.join(map(str, stray))}")
        cells: dict[tuple[str, str], CellSpec] = {}
        for row in rows:
            for column in columns:
                raw = (cells_doc.get(row.id) or {}).get(column.id) or {}
                where = f"cell {row.id}/{column.id}"
                paper_only = bool(column_extra[column.id].get("paper_only"))
                metric = raw.get("metric") or row_extra[row.id].get("metric") or column_extra[column.id].get("metric")
                if not metric and not paper_only:
                    raise FairbenchError(f"{path}: {where} has no metric (set it on the row, column or cell)")
                expect, reason = _parse_expect(
                    raw.get("expect") or column_extra[column.id].get("expect") or row_extra[row.id].get("expect")
                    or defaults.get("expect"), path, where)
                if paper_only and expect != "reported-only":
                    raise FairbenchError(f"{path}: {where}: a paper_only column's cells are reported-only (say why)")
                tolerance = merge_blocks(defaults.get("tolerance"), row_extra[row.id].get("tolerance"),
                                   column_extra[column.id].get("tolerance"), raw.get("tolerance"))
                reported = raw.get("reported")
                reported = None if reported is None else str(reported)
                reported_n = (raw.get("reported_n") or column_extra[column.id].get("reported_n")
                              or row_extra[row.id].get("reported_n") or defaults.get("reported_n"))
                cells[(row.id, column.id)] = CellSpec(
                    row=row.id,
                    column=column.id,
                    metric=metric or "",
                    run={} if paper_only else merge_blocks(defaults.get("run"), row_extra[row.id].get("run"),
                                                           column_extra[column.id].get("run"), raw.get("run")),
                    seeds=int(raw.get("seeds") or column_extra[column.id].get("seeds") or defaults.get("seeds", 1)),
                    reported=reported,
                    reported_std=None if raw.get("reported_std") is None else str(raw["reported_std"]),
                    tolerance=_tolerance(tolerance, reported, path, where),
                    expect=expect,
                    reason=reason,
                    source=raw.get("source") or doc.get("source", ""),
                    factor=float(
                        raw.get("factor") or column_extra[column.id].get("factor")
                        or row_extra[row.id].get("factor") or defaults.get("factor", 1.0)
                    ),
                    reported_n=None if reported_n is None else int(reported_n),
                )
        return TableSpec(
            paper=doc["paper"],
            table=doc["table"],
            title=doc.get("title", ""),
            source=doc.get("source", ""),
            path=path,
            rows=rows,
            columns=columns,
            cells=cells,
            notes=list(doc.get("notes", [])),
            cell_format=doc.get("cell_format", ""),
            scales=doc.get("scales", {}),
            variant=doc.get("variant", "paper"),
            stand_in=bool(doc.get("stand_in", False)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise FairbenchError(f"{path}: malformed table spec ({exc})") from None


def spec_paths(root: Path | None = None) -> dict[str, Path]:
    root = root or settings.benchmarks_dir()
    found = {}
    for path in sorted(root.glob("*/*.yaml")):
        if path.parent.name == "perf":
            continue
        found[f"{path.parent.name}:{path.stem}"] = path
    return found


def table_refs(root: Path | None = None) -> list[str]:
    """Every table's reference: the specs' (``benchmarks/<paper>/<table>.yaml``) and the unlearning
    matrix's, generated from ``benchmarks/matrix.yaml`` (:mod:`fairbench.matrix`)."""
    from . import matrix

    return list(spec_paths(root)) + matrix.table_refs(root)


def resolve_ref(ref: str, root: Path | None = None) -> str:
    """Check a ``paper:table`` reference. Table ids repeat across papers, so a bare id is always
    rejected with the list of ``paper:table`` candidates."""
    known = table_refs(root)
    if ref in known:
        return ref
    if ":" in ref:
        paper = ref.split(":", 1)[0]
        same_paper = [k for k in known if k.startswith(paper + ":")]
        raise FairbenchError(f"unknown table '{ref}'; known: {', '.join(same_paper or known)}")
    candidates = [k for k in known if k.split(":", 1)[1] == ref]
    if candidates:
        raise FairbenchError(f"'{ref}' is ambiguous: name the paper, one of: {', '.join(candidates)}")
    raise FairbenchError(f"unknown table '{ref}'; known: {', '.join(known)}")


def load_table(ref: str, root: Path | None = None) -> TableSpec:
    from . import matrix

    ref = resolve_ref(ref, root)
    if ref.startswith(matrix.PAPER + ":"):
        return matrix.load_table(ref, root)
    return load_spec(spec_paths(root)[ref])


def all_tables(root: Path | None = None) -> list[TableSpec]:
    return [load_spec(path) for path in spec_paths(root).values()]
