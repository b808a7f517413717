"""The regression gate: fresh records against the paper and against our committed baseline.

Every cell and every claim of a table becomes one :class:`Finding` (one JUnit test case):

- **paper**: a cell expected to reproduce fails when it has no record here or lies outside its
  tolerance; a cell declared ``deviates`` that now reproduces fails ("unexpectedly reproduces:
  update the spec", as pytest's strict xfail). Stand-in runs (``--scale mini``) are never compared
  with the paper.
- **baseline**: every cell with a value in the committed CSV (:mod:`fairbench.report.baseline`),
  deviating and no-reference cells included, fails when the fresh value drifts from it or is missing
  although the cell can run here. Baselines of another scale are not compared (the report says so).
- **claims**: a claim expected to hold fails when it fails; one declared ``fails`` fails when it
  holds. A claim with scopes that have no records is never ok: it fails when those cells could run
  here, and is ``partial`` (not failing, unless ``strict``) when they cannot (data or method absent).

A table without any record fails ("no records"): a gate that checked nothing did not pass.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from ..core.status import CellStatus
from ..specs import TableSpec
from .baseline import Baseline, drift_bound, is_wall_clock, read_baseline
from .claims import ClaimResult
from .results import CellResult

UNEXPECTED = "unexpectedly reproduces: update the spec"


class Verdict(str, enum.Enum):
    OK = "ok"
    FAIL = "fail"
    PARTIAL = "partial"  # evaluated on part of its scopes only, the rest cannot run here
    SKIPPED = "skipped"  # nothing to compare here (and the reason says why)


_SEVERITY = [Verdict.SKIPPED, Verdict.OK, Verdict.PARTIAL, Verdict.FAIL]


@dataclass
class Finding:
    """The outcome for one cell (``row/column``) or claim (``claim <id>``) of a table."""

    subject: str
    verdict: Verdict = Verdict.SKIPPED
    messages: list[tuple[Verdict, str]] = field(default_factory=list)

    def add(self, verdict: Verdict, message: str) -> None:
        if _SEVERITY.index(verdict) > _SEVERITY.index(self.verdict):
            self.verdict = verdict
        self.messages.append((verdict, message))

    @property
    def message(self) -> str:
        """What happened, the most severe first (a failure leads its line)."""
        ordered = sorted(self.messages, key=lambda item: -_SEVERITY.index(item[0]))
        return "; ".join(text for _, text in ordered)


@dataclass
class CheckReport:
    table: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # table-level remarks (baseline absent or of another scale)
    stale: list[CellResult] = field(default_factory=list)  # shown from records of older code (checked all the same)

    def with_verdict(self, verdict: Verdict) -> list[Finding]:
        return [finding for finding in self.findings if finding.verdict == verdict]

    @property
    def ok(self) -> bool:
        return not self.with_verdict(Verdict.FAIL)


def _number(value: float | None) -> str:
    return "no record" if value is None else f"{value:.6g}"


def _against_paper(result: CellResult, finding: Finding) -> None:
    cell = result.cell
    if result.status == CellStatus.STAND_IN:
        finding.add(Verdict.SKIPPED, result.reason)
        return
    if cell.expect == "deviates":
        if result.value is None:
            finding.add(Verdict.SKIPPED, result.reason)
        elif result.status == CellStatus.REPRODUCED:
            finding.add(Verdict.FAIL, f"declared deviation {UNEXPECTED} (ours {_number(result.value)}, paper "
                                      f"{cell.reported}, tolerance {cell.tolerance.describe()}; declared: {cell.reason})")
        else:
            finding.add(Verdict.SKIPPED, f"deviates from the paper as declared: {cell.reason}")
        return
    if cell.expect != "reproduce" or cell.reported is None:
        finding.add(Verdict.SKIPPED, "no paper value to compare with" if cell.reported is None else result.reason)
        return
    if not result.runnable:
        finding.add(Verdict.SKIPPED, f"cannot run here: {result.reason}")
    elif result.status == CellStatus.REPRODUCED:
        finding.add(Verdict.OK, f"reproduces the paper (ours {_number(result.value)}, paper {cell.reported})")
    else:
        finding.add(Verdict.FAIL, f"does not reproduce the paper: ours {_number(result.value)}, paper "
                                  f"{cell.reported}, tolerance {cell.tolerance.describe()} — {result.reason}")


def _against_baseline(result: CellResult, baseline: Baseline, finding: Finding) -> None:
    cell = result.cell
    base = baseline.cells.get((cell.row, cell.column))
    if base is None:
        finding.add(Verdict.SKIPPED, f"not in the baseline {baseline.path}")
    elif base.value is None:
        if result.value is not None:
            finding.add(Verdict.SKIPPED, f"new value {_number(result.value)}: the baseline has none "
                                         f"(`fairbench baseline update` records it)")
    elif is_wall_clock(cell.metric):
        finding.add(Verdict.SKIPPED, f"wall-clock metric {cell.metric}: not compared with the baseline")
    elif result.value is None:
        if result.runnable:
            finding.add(Verdict.FAIL, f"no record; the baseline has {_number(base.value)} — {result.reason}")
        else:
            finding.add(Verdict.SKIPPED, f"cannot run here ({result.reason}); the baseline has {_number(base.value)}")
    else:
        bound = drift_bound(result.std, result.n, base)
        drift = abs(result.value - base.value)
        if drift <= bound:
            finding.add(Verdict.OK, f"matches the baseline ({_number(result.value)})")
        else:
            finding.add(Verdict.FAIL, f"drifted from the committed baseline: ours {_number(result.value)} (n={result.n}), "
                                      f"baseline {_number(base.value)} (n={base.n}), |Δ| = {drift:.3g} > {bound:.3g}")


def _claim_finding(claim: ClaimResult, strict: bool) -> Finding:
    finding = Finding(f"claim {claim.id}")
    missing = claim.unevaluated
    if claim.status == "fails":
        if claim.expect == "holds":
            failed = ", ".join(s.scope for s in claim.scopes if s.outcome is False)
            finding.add(Verdict.FAIL, f"fails at {failed}: {claim.statement}")
        else:
            finding.add(Verdict.OK, f"fails as declared: {claim.reason}")
    elif claim.status == "holds":
        if claim.expect == "fails":
            finding.add(Verdict.FAIL, f"declared failing claim holds: {UNEXPECTED} (declared: {claim.reason})")
        else:
            finding.add(Verdict.OK, f"holds on all {len(claim.scopes)} scope(s)")
    if missing:
        not_run = [s for s in missing if not s.unavailable_here]
        evaluated = f"{claim.evaluated} of {len(claim.scopes)} scope(s) evaluated"
        label = "not evaluable" if claim.status == "not-evaluable" else "partial"
        if not_run:
            finding.add(Verdict.FAIL, f"{label}: {evaluated}; " + "; ".join(f"{s.scope}: {s.message}" for s in not_run))
        else:
            verdict = Verdict.FAIL if strict else Verdict.PARTIAL
            finding.add(verdict, f"{label}: {evaluated}; the others cannot run here: "
                        + "; ".join(f"{s.scope}: {s.message}" for s in missing))
    return finding


def check_table(table: TableSpec, results: dict[tuple[str, str], CellResult], claims: list[ClaimResult] = (),
                baseline_root: Path | None = None, scale: str = "paper", strict: bool = False) -> CheckReport:
    """One finding per cell and per claim; ``baseline_root`` None compares with the paper only."""
    report = CheckReport(table.ref)
    report.stale = [result for result in results.values() if result.stale]
    rerun = f"fairbench reproduce {table.ref}" + ("" if scale == "paper" else f" --scale {scale}")
    if not any(result.records for result in results.values()):
        report.findings.append(Finding("records", Verdict.FAIL, [(Verdict.FAIL, f"no records: run {rerun}")]))
    baseline = None
    if baseline_root is not None:
        baseline = read_baseline(baseline_root, table)
        if baseline is None:
            report.notes.append(f"no committed baseline at {baseline_root / table.paper / (table.table + '.csv')}")
        elif baseline.scale not in (None, scale) and not table.stand_in:  # a stand-in table's baseline reads as mini
            report.notes.append(f"the baseline {baseline.path} is at scale {baseline.scale}, these records at "
                                f"scale {scale}: not compared with it")
            baseline = None
    for result in results.values():
        finding = Finding(f"{result.cell.row}/{result.cell.column}")
        _against_paper(result, finding)
        if baseline is not None:
            _against_baseline(result, baseline, finding)
        report.findings.append(finding)
    report.findings += [_claim_finding(claim, strict) for claim in claims]
    return report


def junit_xml(reports: list[CheckReport]) -> str:
    """JUnit XML: one test suite per table, one test case per cell and claim (failures and skips with
    their messages), the format CI systems display."""
    from xml.etree import ElementTree

    root = ElementTree.Element("testsuites", name="fairbench check")
    for report in reports:
        suite = ElementTree.SubElement(root, "testsuite", name=report.table, tests=str(len(report.findings)),
                                       failures=str(len(report.with_verdict(Verdict.FAIL))),
                                       skipped=str(len(report.with_verdict(Verdict.SKIPPED))
                                                   + len(report.with_verdict(Verdict.PARTIAL))))
        for finding in report.findings:
            case = ElementTree.SubElement(suite, "testcase", classname=report.table, name=finding.subject)
            if finding.verdict == Verdict.FAIL:
                ElementTree.SubElement(case, "failure", message=finding.message)
            elif finding.verdict in (Verdict.SKIPPED, Verdict.PARTIAL):
                ElementTree.SubElement(case, "skipped", message=finding.message)
            else:
                ElementTree.SubElement(case, "system-out").text = finding.message
        if report.notes:
            ElementTree.SubElement(suite, "system-out").text = "\n".join(report.notes)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
