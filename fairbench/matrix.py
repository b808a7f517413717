"""The unlearning matrix: every registered unlearner on every compatible base learner, dataset and deletion
protocol, as table specs generated from ``benchmarks/matrix.yaml`` and the method catalog.

Compatibility is declared by the methods themselves and read by the catalog without importing them: a
learner names the family of model it fits (``MethodEntry.model_family``: ``convex``, ``network``, ``image_network``,
``ensemble``), an unlearner the families it can unlearn (``needs_model``; empty: any model). A base-learner
family of the grid (logistic regression, the 3-layer DNN) gives one original model per model family it
offers, its first being its own; an unlearner joins the family when the family offers a model it can
unlearn, and runs on the first such model. So a new unlearner file shows up as a row with no other change.

One table per (family, protocol), ``matrix:<family>-<protocol>``: its rows are grouped by dataset, one per
(method, model) — the grid's ``original`` method (no unlearning) once on every model a row of the table
uses, the row every change is measured against — and its columns are the grid's criteria (one registered
metric each). The tables are ordinary specs: ``reproduce``, ``render``, ``check`` and ``baseline update``
treat them as the paper tables (there is no paper value: a cell's status is ``no-reference`` and its
committed CSV is the baseline). A criterion limited to some model families (the parameter distance) is
``reported-only`` elsewhere, with the reason; a (method, dataset, family) the grid excludes by a declared
rule is ``reported-only`` with that rule's reason, and ``fairbench matrix`` runs it only when the method or
the dataset is named explicitly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import Catalog, catalog
from .core import settings
from .core.errors import FairbenchError
from .specs import CellSpec, Header, TableSpec, Tolerance, merge_blocks, read_yaml

PAPER = "matrix"  # the "paper" part of every matrix table's reference
FILE = "matrix.yaml"
BETTER = ("lower", "higher", "reference", "")  # how a criterion orders methods ("": it is not ranked)


@dataclass(frozen=True)
class Family:
    id: str
    label: str
    models: dict[str, dict[str, Any]]  # model family -> the original model's {method, params}; the first is its own
    datasets: tuple[str, ...]

    @property
    def own_model(self) -> str:
        return next(iter(self.models))


@dataclass(frozen=True)
class Protocol:
    id: str
    label: str
    run: dict[str, Any]  # the unlearn run's protocol block


@dataclass(frozen=True)
class Criterion:
    id: str
    label: str
    metric: str
    models: tuple[str, ...] = ()  # the model families it is defined on (empty: every one)
    why_not: str = ""  # why it is undefined on the others
    better: str = ""  # how the ranking orders methods: lower | higher | reference ("" : not ranked)
    per: str = ""  # a criterion this one is divided by before ranking (time relative to retraining)
    change: bool = False  # its change vs the original model is reported


@dataclass(frozen=True)
class Exclusion:
    """A declared rule that keeps (methods × datasets × families) out of the default grid."""

    methods: tuple[str, ...]
    datasets: tuple[str, ...]
    families: tuple[str, ...]
    why: str

    def covers(self, method: str, dataset: str, family: str) -> bool:
        return all(not names or name in names for names, name in
                   ((self.methods, method), (self.datasets, dataset), (self.families, family)))


@dataclass(frozen=True)
class Row:
    """One row of a matrix table: a method unlearning one of the family's models on one dataset."""

    dataset: str
    method: str
    model: str  # the model family of the original model

    def id(self, family: Family) -> str:
        suffix = "" if self.model == family.own_model else f"@{self.model}"
        return f"{self.dataset}/{self.method}{suffix}"


@dataclass
class Grid:
    """``benchmarks/matrix.yaml``: the base-learner families, protocols, criteria, seeds and exclusions."""

    path: Path
    title: str
    original: str
    reference: str
    seeds: int
    metrics: tuple[str, ...]  # what the unlearn runs evaluate besides the distances and timings they always give
    families: list[Family]
    protocols: list[Protocol]
    criteria: list[Criterion]
    exclusions: list[Exclusion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pareto: dict[str, str] = field(default_factory=dict)  # x, y, size: criterion ids
    dataset_labels: dict[str, str] = field(default_factory=dict)

    def family(self, family_id: str) -> Family:
        return _one(self.families, family_id, "family")

    def protocol(self, protocol_id: str) -> Protocol:
        return _one(self.protocols, protocol_id, "protocol")

    def refs(self) -> list[str]:
        return [table_ref(f.id, p.id) for f in self.families for p in self.protocols]

    def parts(self, table: TableSpec) -> tuple[Family, Protocol]:
        """The family and protocol of one of this grid's tables."""
        for family in self.families:
            for protocol in self.protocols:
                if table_ref(family.id, protocol.id) == table.ref:
                    return family, protocol
        raise FairbenchError(f"{table.ref} is not a table of the matrix {self.path}")

    def excluded(self, method: str, dataset: str, family: str) -> Exclusion | None:
        return next((rule for rule in self.exclusions if rule.covers(method, dataset, family)), None)


def _one(items: list[Any], wanted: str, kind: str) -> Any:
    for item in items:
        if item.id == wanted:
            return item
    raise FairbenchError(f"the matrix has no {kind} '{wanted}'; known: {', '.join(i.id for i in items)}")


def table_ref(family: str, protocol: str) -> str:
    return f"{PAPER}:{family}-{protocol}"


def grid_path(root: Path | None = None) -> Path:
    return (root or settings.benchmarks_dir()) / FILE


def _names(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    return (str(raw),) if isinstance(raw, str) else tuple(str(x) for x in raw)


def read_grid(path: Path) -> Grid:
    doc = read_yaml(path) or {}
    try:
        grid = Grid(
            path=path,
            title=str(doc.get("title", "Unlearning matrix")),
            original=str(doc["original"]),
            reference=str(doc.get("reference", "retrain")),
            seeds=int(doc.get("seeds", 3)),
            metrics=_names(doc.get("metrics")),
            families=[Family(str(f["id"]), str(f.get("label", f["id"])), dict(f["models"]), _names(f["datasets"]))
                      for f in doc["families"]],
            protocols=[Protocol(str(p["id"]), str(p.get("label", p["id"])), dict(p["protocol"])) for p in doc["protocols"]],
            criteria=[Criterion(str(c["id"]), str(c.get("label", c["id"])), str(c["metric"]), _names(c.get("models")),
                                str(c.get("why_not", "")), str(c.get("better", "")), str(c.get("per", "")),
                                bool(c.get("change", False))) for c in doc["criteria"]],
            pareto={str(k): str(v) for k, v in (doc.get("pareto") or {}).items()},
            exclusions=[Exclusion(_names(e.get("methods")), _names(e.get("datasets")), _names(e.get("families")),
                                  str(e["why"])) for e in doc.get("exclude") or []],
            notes=[str(n) for n in doc.get("notes") or []],
            dataset_labels={str(k): str(v) for k, v in (doc.get("dataset_labels") or {}).items()},
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise FairbenchError(f"{path}: malformed matrix grid ({type(exc).__name__}: {exc})") from None
    for family in grid.families:
        if not family.models:
            raise FairbenchError(f"{path}: family '{family.id}' gives no model")
    ids = {c.id for c in grid.criteria}
    for criterion in grid.criteria:
        if criterion.better not in BETTER:
            raise FairbenchError(f"{path}: criterion '{criterion.id}': better must be one of "
                                 f"{', '.join(repr(b) for b in BETTER)}, got '{criterion.better}'")
        if criterion.per and criterion.per not in ids:
            raise FairbenchError(f"{path}: criterion '{criterion.id}' is divided by an unknown criterion '{criterion.per}'")
        if criterion.models and not criterion.why_not:
            raise FairbenchError(f"{path}: criterion '{criterion.id}' is limited to {', '.join(criterion.models)}: "
                                 "say why it is undefined elsewhere (why_not)")
    unknown = sorted(set(grid.pareto.values()) - ids)
    if unknown or (grid.pareto and set(grid.pareto) != {"x", "y", "size"}):
        raise FairbenchError(f"{path}: pareto needs x, y and size, each a criterion id (unknown: {', '.join(unknown)})")
    return grid


@functools.lru_cache(maxsize=8)
def _cached_grid(path: Path, mtime: float) -> Grid:
    return read_grid(path)


def load_grid(root: Path | None = None) -> Grid | None:
    """The grid of ``root`` (default: the benchmarks folder); None when it declares none."""
    path = grid_path(root)
    if not path.is_file():
        return None
    return _cached_grid(path, path.stat().st_mtime)


def unlearners(known: Catalog) -> list[str]:
    """Every registered unlearner with the unlearn task, in name order (the catalog's)."""
    return [name for name, info in known.methods.items() if info.kind == "unlearner" and info.task == "unlearn"]


def model_for(method: str, family: Family, known: Catalog) -> str | None:
    """The model family of ``family`` that ``method`` unlearns: its own model when the method takes any
    model, else the first the family offers among those the method declares; None when there is none."""
    needs = known.methods[method].needs_model
    if not needs:
        return family.own_model
    offered = [kind for kind in family.models if kind in needs and _fits(family.models[kind], kind, known)]
    return offered[0] if offered else None


def _fits(model: dict[str, Any], kind: str, known: Catalog) -> bool:
    """The family's model for ``kind`` is a registered learner of that model family."""
    info = known.methods.get(str(model.get("method")))
    return info is not None and info.model_family == kind


def rows(grid: Grid, family: Family, known: Catalog) -> list[Row]:
    """The rows of one family's tables: per dataset the original model (on every model a row uses), then
    every compatible unlearner in name order."""
    methods = [m for m in unlearners(known) if m != grid.original]
    pairs = [(m, model_for(m, family, known)) for m in methods]
    pairs = [(m, kind) for m, kind in pairs if kind is not None]
    models_used = [family.own_model] + [k for k in family.models if k != family.own_model and any(kind == k for _, kind in pairs)]
    out = []
    for dataset in family.datasets:
        out += [Row(dataset, grid.original, kind) for kind in models_used]
        out += [Row(dataset, method, kind) for method, kind in pairs]
    return out


def _row_run(grid: Grid, family: Family, protocol: Protocol, row: Row) -> dict[str, Any]:
    return {"task": "unlearn", "method": row.method, "dataset": row.dataset,
            "model": merge_blocks(family.models[row.model]), "protocol": merge_blocks(protocol.run),
            "reference": grid.reference, "metrics": list(grid.metrics)}


def _row_label(family: Family, row: Row, original: str) -> str:
    label = "no unlearning (original)" if row.method == original else row.method
    if row.model != family.own_model:
        label += f" on {family.models[row.model]['method']}"
    return label


def build_table(grid: Grid, family: Family, protocol: Protocol, known: Catalog | None = None) -> TableSpec:
    known = known or catalog()
    table_rows = rows(grid, family, known)
    headers = [Header(row.id(family), _row_label(family, row, grid.original),
                      grid.dataset_labels.get(row.dataset, row.dataset)) for row in table_rows]
    # a criterion limited to some model families is a column where a row's model is one of them
    criteria = [c for c in grid.criteria if not c.models or any(row.model in c.models for row in table_rows)]
    columns = [Header(c.id, c.label) for c in criteria]
    cells: dict[tuple[str, str], CellSpec] = {}
    for row, header in zip(table_rows, headers):
        run = _row_run(grid, family, protocol, row)
        rule = grid.excluded(row.method, row.dataset, family.id)
        for criterion in criteria:
            expect, reason, cell_run = "reproduce", "", run
            if criterion.models and row.model not in criterion.models:
                expect, reason, cell_run = "reported-only", criterion.why_not, {}
            elif rule is not None:
                expect, reason = "reported-only", (f"excluded from the default grid: {rule.why} (`fairbench matrix "
                                                   f"--methods {row.method} --datasets {row.dataset}` runs it)")
            cells[(header.id, criterion.id)] = CellSpec(
                row=header.id, column=criterion.id, metric=criterion.metric, run=cell_run, seeds=grid.seeds,
                reported=None, reported_std=None, tolerance=Tolerance(), expect=expect, reason=reason,
                source="fairbench's own comparison (no paper value)")
    notes = list(grid.notes) + [_exclusion_note(rule) for rule in grid.exclusions
                                if any(rule.covers(row.method, row.dataset, family.id) for row in table_rows)]
    models = ", ".join(f"{kind}: {model['method']}" for kind, model in family.models.items())
    settings_text = ", ".join(f"{key}={value}" for key, value in protocol.run.items())
    return TableSpec(
        paper=PAPER, table=f"{family.id}-{protocol.id}",
        title=f"{grid.title}: {family.label}, {protocol.label}",
        source=f"fairbench's own comparison, generated from {grid.path.name} and the method catalog (no paper values)",
        path=grid.path, rows=headers, columns=columns, cells=cells, notes=notes,
        cell_format=f"mean ± std over {grid.seeds} seeds (deletion draws, unlearner and evaluation seeds of one "
                    "original model)",
        variant=f"{family.label} ({models}); {protocol.label} ({settings_text}); reference {grid.reference}",
    )


def _exclusion_note(rule: Exclusion) -> str:
    scope = "; ".join(f"{kind} {', '.join(names)}" for kind, names in
                      (("methods", rule.methods), ("datasets", rule.datasets), ("families", rule.families)) if names)
    return (f"Excluded from the default grid ({scope}): {rule.why}. `fairbench matrix` runs these cells when their "
            "method or dataset is named (--methods / --datasets); their cells are marked reported-only (†).")


def table_refs(root: Path | None = None) -> list[str]:
    grid = load_grid(root)
    return grid.refs() if grid else []


def load_table(ref: str, root: Path | None = None) -> TableSpec:
    """The matrix table ``matrix:<family>-<protocol>``."""
    grid = load_grid(root)
    if grid is None:
        raise FairbenchError(f"unknown table '{ref}': there is no {grid_path(root)}")
    for family in grid.families:
        for protocol in grid.protocols:
            if table_ref(family.id, protocol.id) == ref:
                return build_table(grid, family, protocol)
    raise FairbenchError(f"unknown table '{ref}'; known: {', '.join(grid.refs())}")


def tables(root: Path | None = None, families: set[str] | None = None,
           protocols: set[str] | None = None) -> list[TableSpec]:
    """The matrix tables (of the named families and protocols only, when given)."""
    grid = load_grid(root)
    if grid is None:
        raise FairbenchError(f"there is no matrix grid at {grid_path(root)}")
    for kind, wanted, known in (("family", families, grid.families), ("protocol", protocols, grid.protocols)):
        unknown = sorted((wanted or set()) - {item.id for item in known})
        if unknown:
            raise FairbenchError(f"the matrix has no {kind} {', '.join(unknown)}; known: "
                                 f"{', '.join(item.id for item in known)}")
    return [build_table(grid, f, p) for f in grid.families for p in grid.protocols
            if (not families or f.id in families) and (not protocols or p.id in protocols)]


def default_cells(table: TableSpec, grid: Grid, methods: set[str] | None,
                  datasets: set[str] | None) -> dict[tuple[str, str], CellSpec]:
    """The cells of ``table`` that ``fairbench matrix`` runs: those with a run, on the selected methods and
    datasets; a cell excluded by a rule of the grid only when its method or dataset is named explicitly."""
    family, _ = grid.parts(table)
    chosen = {}
    for key, cell in table.cells.items():
        if not cell.run:
            continue
        method, dataset = str(cell.run["method"]), str(cell.run["dataset"]).split("@", 1)[0]
        if (methods and method not in methods) or (datasets and dataset not in datasets):
            continue
        named = bool(methods and method in methods) or bool(datasets and dataset in datasets)
        if grid.excluded(method, dataset, family.id) and not named:
            continue
        chosen[key] = cell
    return chosen
