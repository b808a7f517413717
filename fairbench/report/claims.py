"""Executable claims: a paper's qualitative statements as relations between the cells of a table.

A table spec may carry a ``claims:`` list (papers whose numbers are lost, e.g. fairunlearn, are
checked this way)::

    claims:
      - id: c01_fu_tracks_retrain_fair
        statement: Fair Unlearning well-approximates the fairness of Retraining (Fair).
        source: Sec. 5.2, Fig. 1
        scope: column              # column (default): once per column | group: once per column group | table: once
        columns: {groups: [COMPAS, Adult]}   # optional: a list of column ids, or {groups: [...]} (default: all)
        relation: abs(v('fair_unlearning') - v('retrain_fair')) <= tol
        params: {tol: 0.02}        # names the relation may use
        expect: holds              # or 'fails: <why>' for a claim known not to hold on our data

The relation is a Python expression restricted to literals, arithmetic, comparisons, boolean logic,
indexing, conditional expressions, comprehensions and these functions (``row`` is a row id; ``col``
defaults to the current column in ``column`` scope):

- ``v(row, col)`` / ``sd(row, col)``: mean / std over seeds of the cell's metric;
- ``m(row, metric, col)`` / ``msd(row, metric, col)``: mean / std of any other metric of the same records
  (e.g. ``l2_to_retrain``, ``unlearn_seconds``); ``ms(row, metric, col)``: the per-seed values;
- ``vals(row)`` / ``sds(row)`` / ``mvals(row, metric)``: those over the scope's columns, in spec order;
  ``cols()``: the scope's column ids;
- ``abs min max sum len all any zip mean``, ``nonincreasing(seq, tol=0)``, ``nondecreasing(seq, tol=0)``.

A scope whose cells have no records (not run, data unavailable) is not evaluated. A claim ``fails``
when an evaluated scope fails, ``holds`` when every scope was evaluated and holds, is ``partial``
when the evaluated scopes hold but some scopes were not evaluated, and ``not-evaluable`` when no
scope could be evaluated. ``partial`` and ``not-evaluable`` are never "ok": ``fairbench check``
(:mod:`fairbench.report.check`) says which scopes are missing and whether they can run here.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.errors import FairbenchError
from ..specs import TableSpec, load_spec, read_yaml
from .results import CellResult

SCOPES = ("column", "group", "table")
STATUSES = ("holds", "fails", "partial", "not-evaluable")

_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow,
    ast.Mod, ast.FloorDiv, ast.UnaryOp, ast.USub, ast.UAdd, ast.Not, ast.Compare, ast.Eq, ast.NotEq, ast.Lt,
    ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Call, ast.Name, ast.Load, ast.Store, ast.Constant,
    ast.List, ast.Tuple, ast.Subscript, ast.Slice, ast.IfExp, ast.GeneratorExp, ast.ListComp,
    ast.comprehension, ast.keyword,
)


@dataclass
class ScopeResult:
    scope: str  # a column id, a column group, or "table"
    outcome: bool | None  # None: not evaluated (cells missing)
    values: dict[str, float] = field(default_factory=dict)  # what the relation read, e.g. "newton/compas-1"
    message: str = ""
    unavailable_here: bool = False  # not evaluated because a cell it needs cannot run here (data or method absent)


@dataclass
class ClaimResult:
    id: str
    statement: str
    source: str
    relation: str
    status: str  # holds | fails | partial | not-evaluable
    expect: str  # holds | fails
    reason: str = ""  # why a failure is expected (from the spec)
    scopes: list[ScopeResult] = field(default_factory=list)

    @property
    def failing(self) -> bool:
        """Fails although expected to hold: what ``fairbench check`` should count as a failure."""
        return self.status == "fails" and self.expect == "holds"

    @property
    def unevaluated(self) -> list[ScopeResult]:
        return [s for s in self.scopes if s.outcome is None]

    @property
    def evaluated(self) -> int:
        return sum(1 for s in self.scopes if s.outcome is not None)

    def summary(self) -> str:
        failed = [s.scope for s in self.scopes if s.outcome is False]
        skipped = [s.scope for s in self.scopes if s.outcome is None]
        text = f"{self.id}: {self.status}"
        if self.expect == "fails":
            text += f" (expected to fail: {self.reason})"
        text += f" — {self.evaluated} of {len(self.scopes)} scope(s) evaluated"
        if failed:
            text += f"; fails at {', '.join(failed)}"
        if skipped:
            text += f"; not evaluated: {', '.join(skipped)}"
        return text


class _Missing(Exception):
    """A cell the relation needs has no records."""

    def __init__(self, cell: str, runnable: bool):
        super().__init__(cell)
        self.runnable = runnable


def _validate(expression: str, where: str) -> ast.Expression:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise FairbenchError(f"{where}: relation is not a valid expression ({exc.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise FairbenchError(f"{where}: '{type(node).__name__}' is not allowed in a relation")
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            raise FairbenchError(f"{where}: only the listed functions may be called in a relation")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise FairbenchError(f"{where}: names starting with '_' are not allowed")
    return tree


def _monotone(sign: float) -> Callable[..., bool]:
    def check(seq, tol: float = 0.0) -> bool:
        seq = list(seq)
        return all(sign * (b - a) <= tol for a, b in zip(seq, seq[1:]))

    return check


def _mean(seq) -> float:
    seq = list(seq)
    return float(np.mean(seq)) if seq else math.nan


class _Scope:
    """The functions a relation sees, bound to one scope's columns."""

    def __init__(self, results: dict[tuple[str, str], CellResult], rows: set[str], columns: list[str],
                 current: str | None):
        self.results, self.rows, self.columns, self.current = results, rows, columns, current
        self.read: dict[str, float] = {}

    def _cell(self, row: str, col: str | None) -> CellResult:
        col = col if col is not None else self.current
        if col is None:
            raise FairbenchError("v()/sd()/m() need a column outside column scope: v(row, column)")
        if (row, col) not in self.results:
            raise FairbenchError(f"relation names a cell that is not in the table: {row}/{col}")
        cell = self.results[(row, col)]
        if not cell.records:
            raise _Missing(f"{row}/{col}", cell.runnable)
        return cell

    def _metric_values(self, row: str, metric: str, col: str | None) -> list[float]:
        cell = self._cell(row, col)
        return [float(r["metrics"].get(metric, math.nan)) for r in cell.records]

    def _note(self, label: str, value: float) -> float:
        self.read[label] = value
        return value

    def v(self, row: str, col: str | None = None) -> float:
        cell = self._cell(row, col)
        return self._note(f"{row}/{col or self.current}", math.nan if cell.value is None else cell.value)

    def sd(self, row: str, col: str | None = None) -> float:
        cell = self._cell(row, col)
        return self._note(f"sd {row}/{col or self.current}", math.nan if cell.std is None else cell.std)

    def ms(self, row: str, metric: str, col: str | None = None) -> list[float]:
        return self._metric_values(row, metric, col)

    def m(self, row: str, metric: str, col: str | None = None) -> float:
        return self._note(f"{metric} {row}/{col or self.current}", _mean(self._metric_values(row, metric, col)))

    def msd(self, row: str, metric: str, col: str | None = None) -> float:
        values = self._metric_values(row, metric, col)
        spread = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        return self._note(f"sd {metric} {row}/{col or self.current}", spread)

    def namespace(self, params: dict[str, Any]) -> dict[str, Any]:
        functions = {
            "v": self.v, "sd": self.sd, "m": self.m, "msd": self.msd, "ms": self.ms,
            "vals": lambda row: [self.v(row, c) for c in self.columns],
            "sds": lambda row: [self.sd(row, c) for c in self.columns],
            "mvals": lambda row, metric: [self.m(row, metric, c) for c in self.columns],
            "cols": lambda: list(self.columns),
            "abs": abs, "min": min, "max": max, "sum": sum, "len": len, "all": all, "any": any, "zip": zip,
            "mean": _mean,
            "nonincreasing": _monotone(1.0), "nondecreasing": _monotone(-1.0),
        }
        clash = set(params) & set(functions)
        if clash:
            raise FairbenchError(f"claim params shadow built-in names: {', '.join(sorted(clash))}")
        return {"__builtins__": {}, **functions, **params}


def _select_columns(raw: Any, groups: list[tuple[str | None, list[str]]], where: str) -> list[tuple[str | None, list[str]]]:
    """The (group, column ids) blocks a claim covers, in spec order."""
    if raw is None or raw == "all":
        return groups
    if isinstance(raw, dict) and set(raw) == {"groups"}:
        wanted = list(raw["groups"])
        unknown = [g for g in wanted if g not in {name for name, _ in groups}]
        if unknown:
            raise FairbenchError(f"{where}: unknown column group(s) {', '.join(map(str, unknown))}")
        return [(name, cols) for name, cols in groups if name in wanted]
    if isinstance(raw, list):
        known = {c for _, cols in groups for c in cols}
        unknown = [c for c in raw if c not in known]
        if unknown:
            raise FairbenchError(f"{where}: unknown column(s) {', '.join(map(str, unknown))}")
        return [(name, [c for c in cols if c in raw]) for name, cols in groups if any(c in raw for c in cols)]
    raise FairbenchError(f"{where}: columns must be a list of column ids or {{groups: [...]}}")


def _parse_expect(raw: Any, where: str) -> tuple[str, str]:
    text = str(raw or "holds")
    kind, _, reason = text.partition(":")
    kind = kind.strip()
    if kind not in ("holds", "fails"):
        raise FairbenchError(f"{where}: expect must be 'holds' or 'fails: <why>', got '{text}'")
    if kind == "fails" and not reason.strip():
        raise FairbenchError(f"{where}: 'fails' needs a reason ('fails: <why>')")
    return kind, reason.strip()


def load_claims(table_spec_path: Path) -> list[dict[str, Any]]:
    doc = read_yaml(table_spec_path) or {}
    claims = doc.get("claims") or []
    if not isinstance(claims, list):
        raise FairbenchError(f"{table_spec_path}: claims must be a list")
    return claims


def check_claims(table: TableSpec | Path | str, results: dict[tuple[str, str], CellResult]) -> list[ClaimResult]:
    """Evaluate the ``claims:`` of a table spec (loaded, or its path) against its collected cell results
    (``report.results.collect``)."""
    path = table.path if isinstance(table, TableSpec) else Path(table)
    claims = load_claims(path)
    if not claims:
        return []
    spec = table if isinstance(table, TableSpec) else load_spec(path)
    groups = [(group, [c.id for c in columns]) for group, columns in spec.groups(spec.columns)]
    rows = {row for row, _ in results}
    out = []
    seen: set[str] = set()
    for number, claim in enumerate(claims):
        where = f"{path}: claim {claim.get('id', number)}"
        for key in ("id", "statement", "relation"):
            if not claim.get(key):
                raise FairbenchError(f"{where}: needs '{key}'")
        unknown = set(claim) - {"id", "statement", "source", "scope", "columns", "relation", "params", "expect"}
        if unknown:
            raise FairbenchError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if claim["id"] in seen:
            raise FairbenchError(f"{where}: duplicate claim id")
        seen.add(claim["id"])
        scope_kind = claim.get("scope", "column")
        if scope_kind not in SCOPES:
            raise FairbenchError(f"{where}: scope must be one of {', '.join(SCOPES)}")
        code = compile(_validate(str(claim["relation"]), where), where, "eval")
        expect, reason = _parse_expect(claim.get("expect"), where)
        blocks = _select_columns(claim.get("columns"), groups, where)
        if scope_kind == "column":
            scopes = [(c, [c], c) for _, cols in blocks for c in cols]
        elif scope_kind == "group":
            scopes = [(str(name), cols, None) for name, cols in blocks]
        else:
            scopes = [("table", [c for _, cols in blocks for c in cols], None)]
        scope_results = [_evaluate(code, results, rows, cols, current, label, claim.get("params") or {}, where)
                         for label, cols, current in scopes]
        outcomes = [s.outcome for s in scope_results if s.outcome is not None]
        status = _claim_status(outcomes, len(scope_results))
        out.append(ClaimResult(
            id=str(claim["id"]), statement=str(claim["statement"]), source=str(claim.get("source", "")),
            relation=str(claim["relation"]), status=status, expect=expect, reason=reason, scopes=scope_results,
        ))
    return out


def _claim_status(outcomes: list[bool], scopes: int) -> str:
    if not outcomes:
        return "not-evaluable"
    if not all(outcomes):
        return "fails"
    return "holds" if len(outcomes) == scopes else "partial"


def _evaluate(code, results, rows, columns, current, label, params, where) -> ScopeResult:
    scope = _Scope(results, rows, columns, current)
    try:
        value = eval(code, scope.namespace(dict(params)))  # noqa: S307 - validated, builtins removed
    except _Missing as missing:
        why = "no records" if missing.runnable else "cannot run here"
        return ScopeResult(label, None, dict(scope.read), f"{why}: {missing}", unavailable_here=not missing.runnable)
    except FairbenchError:
        raise
    except Exception as exc:  # a relation that cannot be computed on these numbers is a spec error
        raise FairbenchError(f"{where}: relation failed at {label}: {type(exc).__name__}: {exc}") from None
    if isinstance(value, (np.bool_, bool)):
        outcome = bool(value)
    else:
        raise FairbenchError(f"{where}: relation must give true/false, gave {value!r} at {label}")
    return ScopeResult(label, outcome, dict(scope.read), "holds" if outcome else "fails")


def format_claim_lines(claims: list[ClaimResult]) -> list[str]:
    """One line per claim for terminal output (``fairbench check``)."""
    return [claim.summary() for claim in claims]


def render_claims_markdown(claims: list[ClaimResult], max_values: int = 8) -> str:
    """A markdown section listing every claim, its status and, for failing scopes, the numbers read."""
    if not claims:
        return ""
    marks = {"holds": "✓ holds", "fails": "✗ fails", "partial": "~ holds on the evaluated scopes only",
             "not-evaluable": "– not evaluated"}
    lines = ["### Claims", "", "| claim | statement | status | detail |", "|---|---|---|---|"]
    for claim in claims:
        status = marks[claim.status] + (" (expected)" if claim.expect == "fails" and claim.status == "fails" else "")
        detail = []
        if claim.expect == "fails":
            detail.append(f"known: {claim.reason}")
        for scope in claim.scopes:
            if scope.outcome is False:
                shown = list(scope.values.items())[:max_values]
                detail.append(f"{scope.scope}: " + ", ".join(f"{k} = {v:.4g}" for k, v in shown))
        skipped = [s.scope for s in claim.scopes if s.outcome is None]
        if skipped:
            detail.append("not evaluated: " + ", ".join(skipped))
        detail.append(f"{claim.evaluated}/{len(claim.scopes)} scopes; relation `{claim.relation}`")
        text = "; ".join(detail).replace("|", "\\|")
        lines.append(f"| {claim.id} | {claim.statement.replace('|', '/')} | {status} | {text} |")
    return "\n".join(lines) + "\n"
