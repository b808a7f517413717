"""The ``fairbench`` command line.

Errors a user can cause print one line and exit with code 2; a failed ``check`` exits 1.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any, List, Optional

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .core import atomic, settings
from .core.errors import FairbenchError

app = typer.Typer(
    help="Reproduce the tables of fairness-aware unlearning and counterfactual-fairness papers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)  # long lines (claims, reasons) stay whole in logs
err_console = Console(stderr=True)
_state = {"verbose": False}

LIST_KINDS = ("papers", "tables", "methods", "datasets", "protocols", "metrics")


@app.callback()
def _global(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more and show tracebacks of crashes.")):
    """Environment: FAIRBENCH_DATA (download cache, default ./data), FAIRBENCH_MIRROR (local mirror
    with <mirror>/<dataset>/<file>), FAIRBENCH_OFFLINE=1 (no network), FAIRBENCH_RESULTS (records,
    default ./results), FAIRBENCH_TABLES (rendered tables, default ./tables)."""
    _state["verbose"] = verbose
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# ---------------------------------------------------------------- list
@app.command("list")
def list_(what: str = typer.Argument("tables", help="papers | tables | methods | datasets | protocols | metrics")):
    """List what fairbench knows about."""
    if what not in LIST_KINDS:
        raise FairbenchError(f"unknown kind '{what}'; known: {', '.join(LIST_KINDS)}")
    table = Table(show_lines=False)
    if what in ("papers", "tables"):
        from .specs import all_tables

        specs = all_tables()
        if what == "papers":
            table.add_column("paper")
            table.add_column("tables")
            papers: dict[str, list[str]] = {}
            for spec in specs:
                papers.setdefault(spec.paper, []).append(spec.table)
            for paper, tables in papers.items():
                table.add_row(paper, ", ".join(tables))
        else:
            for col in ("table", "title", "cells", "runnable here"):
                table.add_column(col)
            from .catalog import catalog
            from .specs import cell_config

            known = catalog()  # what is implemented, read from the sources: nothing is imported or planned
            for spec in specs:
                runnable = sum(1 for cell in spec.cells.values()
                               if cell.run and not known.missing(cell_config(spec, cell, "paper")))
                table.add_row(spec.ref, spec.title, str(len(spec.cells)), str(runnable))
    elif what == "methods":
        from .catalog import catalog

        for col in ("method", "kind", "task", "papers", "description"):
            table.add_column(col)
        for name, entry in catalog().methods.items():
            table.add_row(name, entry.kind, entry.task, ", ".join(entry.papers), entry.description)
    elif what == "datasets":
        from .datasets.availability import availability_lines

        for line in availability_lines():
            console.print(line, highlight=False)
        return
    elif what == "protocols":
        from .protocols import PROTOCOLS

        for col in ("protocol", "parameters", "description"):
            table.add_column(col)
        for name, info in PROTOCOLS.items():
            table.add_row(name, ", ".join(info.params), info.description)
    else:
        from .metrics import METRICS

        for col in ("metric", "kind", "better", "signed", "summary"):
            table.add_column(col)
        for name, info in METRICS.items():
            better = {True: "higher", False: "lower", None: "closer to 0"}[info.higher_is_better]
            table.add_row(name, info.kind, better, "yes" if info.signed else "no", info.summary)
    console.print(table)


# ---------------------------------------------------------------- data
@app.command()
def download(
    names: Optional[List[str]] = typer.Argument(None, help="dataset names (see `fairbench list datasets`)"),
    all_: bool = typer.Option(False, "--all", help="every registered dataset (manual ones say what file to put where)"),
    mirror: Optional[Path] = typer.Option(None, help="local mirror directory (<mirror>/<dataset>/<file>)"),
    from_: Optional[Path] = typer.Option(
        None, "--from", help="a folder with your own copy of ONE dataset's files (e.g. Yahoo! R3, which may not be redistributed)"
    ),
):
    """Fetch datasets into the cache, verifying checksums; re-fetches missing or corrupt files. Tries every
    dataset, one line each, and exits 1 if any could not be obtained."""
    import os

    from .datasets.obtain import check_names, download_dataset

    names = check_names(names or [], all_)
    if mirror is not None:
        if not mirror.is_dir():
            raise FairbenchError(f"mirror directory {mirror} does not exist")
        os.environ["FAIRBENCH_MIRROR"] = str(mirror)  # the fetchers of KuaiRec / Yahoo! R3 read it too
    if from_ is not None and (len(names) != 1 or not from_.is_dir()):
        raise FairbenchError("--from takes an existing folder and exactly one dataset name")
    outcomes = []
    for name in names:
        with console.status(f"downloading {name}"):
            outcome = download_dataset(name, from_)
        outcomes.append(outcome)
        console.print(outcome.line(), markup=False, highlight=False)
    failed = [o for o in outcomes if not o.ok]
    console.print(f"{len(outcomes) - len(failed)} of {len(outcomes)} dataset(s) in {settings.data_dir()}"
                  + (f"; not obtained: {', '.join(o.name for o in failed)} (the fix is on each FAILED line)" if failed else ""))
    if failed:
        raise typer.Exit(1)


@app.command()
def verify():
    """Check the sha256 of every cached dataset file and show where each came from; exits 1 if any is
    corrupt. Temporary files left by an interrupted download are listed (the next download removes them)."""
    from .datasets.obtain import verify_rows

    rows, corrupt, strays = verify_rows()
    if not rows and not strays:
        console.print(f"no dataset files in {settings.data_dir()}; run `fairbench download NAME`")
        return
    table = Table()
    for col in ("dataset", "file", "state", "sha256", "source"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(f"cache: {settings.data_dir()}")
    console.print(table)
    for stray in strays:
        console.print(f"[yellow]stray[/yellow] {stray}: left by an interrupted download; "
                      f"`fairbench download {stray.parent.relative_to(settings.data_dir()).parts[0]}` removes it")
    if corrupt:
        err_console.print(f"{corrupt} corrupt file(s); `fairbench download NAME` re-fetches them")
        raise typer.Exit(1)


# ---------------------------------------------------------------- single runs
def _parse_sets(pairs: list[str], task_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """``key=value`` (value parsed as YAML); ``a.b=v`` nests; a key without a dot is a method
    parameter unless it is one of the task's own config keys (e.g. ``threshold``)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise FairbenchError(f"--set expects key=value, got '{pair}'")
        path = key.split(".") if "." in key or key in task_keys else ["params", key]
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw)
    return out


def _merge(config: dict[str, Any], sets: dict[str, Any]) -> None:
    """``--set`` values into ``config``, nested blocks key by key: ``--protocol uniform --set
    protocol.fraction=0.1`` keeps the protocol's name."""
    for key, value in sets.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _merge(config[key], value)
        else:
            config[key] = value


def _run_single(config: dict[str, Any], force: bool) -> dict[str, Any]:
    """Run one configuration (checked in full first) and the runs it needs, in order."""
    from .core.status import RunStatus
    from .runner.jobs import make_job
    from .runner.reproduce import run_with_dependencies
    from .store import RecordStore

    job = make_job(config)
    store = RecordStore()
    if store.has(job.group, job.seed) and not force:
        console.print(f"reused cached record {store.run_dir(job.group, job.seed)}")
    for outcome in run_with_dependencies(job, store, force):
        if outcome.status is RunStatus.CRASHED:
            err_console.print(f"error: {outcome.job.label} crashed: {outcome.message}")
            raise typer.Exit(1)
        if outcome.status is not RunStatus.RAN:
            raise FairbenchError(outcome.message)
        console.print(f"stored {store.run_dir(outcome.job.group, outcome.job.seed)} ({outcome.seconds:.1f} s)")
    return store.load(job.group, job.seed)


def _print_record(record: dict[str, Any]) -> None:
    table = Table(title=f"{record['config']['method']} on {record['config']['dataset']} (seed {record['key']['seed']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in record["metrics"].items():
        table.add_row(name, f"{value:.6g}")
    for name, value in record["timings"].items():
        table.add_row(f"time: {name}", f"{value:.3f} s")
    console.print(table)


@app.command()
def train(
    dataset: str = typer.Option(..., help="dataset[@variant]"),
    model: str = typer.Option(..., help="a learner, e.g. logreg (see `fairbench list methods`)"),
    seed: int = typer.Option(0, help="seed of the split and of the training"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="model parameter key=value (repeatable)"),
    force: bool = typer.Option(False, help="retrain even if a cached model exists"),
):
    """Train a base model and cache it; unlearning runs reuse it."""
    config = {"method": model, "dataset": dataset, "seed": seed, "task": "train_base", **_parse_sets(set_ or [])}
    _print_record(_run_single(config, force))


@app.command()
def run(
    method: str = typer.Option(..., help="method name (see `fairbench list methods`)"),
    dataset: str = typer.Option(..., help="dataset[@variant] (see `fairbench list datasets`)"),
    protocol: Optional[str] = typer.Option(None, help="deletion protocol (see `fairbench list protocols`)"),
    fraction: Optional[float] = typer.Option(None, help="deletion fraction, in (0, 1)"),
    group: Optional[str] = typer.Option(None, help="sensitive group for the subgroup protocol (minority, majority or a value)"),
    seed: int = typer.Option(0, help="seed"),
    set_: Optional[List[str]] = typer.Option(
        None, "--set", help="key=value; a.b=v nests; a bare key is a method parameter unless the task takes it"
    ),
    force: bool = typer.Option(False, help="recompute even if a record exists"),
):
    """Run one cell, print its metrics and store its record."""
    if fraction is not None and not 0.0 < fraction < 1.0:
        raise FairbenchError(f"--fraction must be in (0, 1), got {fraction}")
    if (fraction is not None or group is not None) and protocol is None:
        raise FairbenchError("--fraction and --group need a --protocol")
    config: dict[str, Any] = {"method": method, "dataset": dataset, "seed": seed}
    if protocol is not None:
        from .protocols import PROTOCOLS

        PROTOCOLS.get(protocol)
        config["protocol"] = {k: v for k, v in {"name": protocol, "fraction": fraction, "group": group}.items() if v is not None}
    from .methods import METHODS
    from .runner.tasks import TASKS

    task_keys = tuple(k for k in TASKS.get(METHODS.get(method).task).config_keys if k != "params")
    _merge(config, _parse_sets(set_ or [], task_keys))
    _print_record(_run_single(config, force))


# ---------------------------------------------------------------- tables
def _refs(ref: str) -> list[str]:
    from .specs import resolve_ref, spec_paths

    if ref == "all":
        return list(spec_paths())
    if ref.endswith(":all"):
        paper = ref[: -len(":all")]
        refs = [r for r in spec_paths() if r.startswith(paper + ":")]
        if not refs:
            raise FairbenchError(f"no tables for paper '{paper}'")
        return refs
    return [resolve_ref(ref)]


def _names(option: str | None) -> set[str] | None:
    """A comma-separated option as a set of names (None when not given)."""
    if option is None:
        return None
    names = {name.strip() for name in option.split(",") if name.strip()}
    if not names:
        raise FairbenchError("an empty list was given; name at least one, comma-separated")
    return names


def _write_rendered(ref: str, scale: str) -> Path:
    from .report.plots import plot_table
    from .report.render import render
    from .report.results import collect
    from .specs import load_table
    from .store import RecordStore

    table = load_table(ref)
    results = collect(table, RecordStore(), scale)
    folder = settings.tables_dir() / table.paper  # created by the first write (a read-only one: one line)
    for fmt_name, suffix in (("md", "md"), ("latex", "tex"), ("csv", "csv")):
        atomic.write_text(folder / f"{table.table}.{suffix}", render(table, results, fmt_name, scale))
    for plot in plot_table(table, results, folder):
        console.print(f"plotted {plot}")
    sys.stdout.write(render(table, results, "md", scale))
    sys.stdout.flush()
    return folder / f"{table.table}.md"


@app.command()
def reproduce(
    ref: str = typer.Argument(..., help="PAPER:TABLE, PAPER:all, or all"),
    seeds: Optional[int] = typer.Option(None, help="number of seeds per cell (default: the spec's; at most 1000 without --yes)"),
    jobs: int = typer.Option(1, help="parallel worker processes (at most 4 per CPU core without --yes)"),
    scale: str = typer.Option("paper", help="paper | mini (shorter documented schedules)"),
    force: bool = typer.Option(False, help="recompute cached cells"),
    datasets: Optional[str] = typer.Option(None, help="only the cells on these datasets, comma-separated (e.g. adult,german)"),
    methods: Optional[str] = typer.Option(None, help="only the cells of these methods, comma-separated registry names"),
    yes: bool = typer.Option(False, "--yes", help="run even above the size limits (1000 seeds, 4 jobs per core, 20000 runs)"),
):
    """Run every missing cell of a table, then render it (markdown, LaTeX, CSV under tables/).

    With --datasets / --methods only the selected cells run; the whole table is still rendered, the
    other cells from whatever records exist (else "not run")."""
    from .core.status import RunStatus
    from .runner.plan import SCALES, check_bounds, check_selection, plan_table
    from .runner.reproduce import reproduce_table
    from .specs import load_table
    from .store import RecordStore

    if scale not in SCALES:
        raise FairbenchError(f"unknown scale '{scale}'; known: {', '.join(SCALES)}")
    if seeds is not None and seeds < 1:
        raise FairbenchError("--seeds must be at least 1")
    if jobs < 1:
        raise FairbenchError("--jobs must be at least 1")
    store = RecordStore()
    broken = 0
    tables = [load_table(table_ref) for table_ref in _refs(ref)]
    only_datasets, only_methods = _names(datasets), _names(methods)
    check_selection(tables, only_datasets, only_methods)
    if not yes:  # counted before anything is planned: a huge --seeds is refused, not planned
        check_bounds(tables, seeds, jobs, only_datasets, only_methods)
    # every selected cell of every table is configured (and checked) before any cell runs
    plans = {table.ref: plan_table(table, scale, seeds, only_datasets, only_methods) for table in tables}
    for table in tables:
        if (only_datasets or only_methods) and not plans[table.ref].selected:
            console.print(f"{table.ref}: no cell matches --datasets/--methods; skipped")
            continue
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=False,
        ) as progress:
            bar = progress.add_task(table.ref, total=None)

            def on_start(total: int) -> None:
                progress.console.print(f"{table.ref}: {total} job(s) to run")
                progress.update(bar, total=total)

            said: set[str] = set()

            def on_done(outcome) -> None:
                progress.advance(bar)
                if outcome.status is RunStatus.MISSING_DATA:  # one line per missing dataset, not per cell
                    missing = ", ".join(outcome.failure.missing_data) if outcome.failure else outcome.message
                    if missing not in said:
                        said.add(missing)
                        progress.console.print(f"[yellow]unavailable[/yellow] {outcome.message}")
                elif outcome.status is not RunStatus.RAN:
                    progress.console.print(f"[yellow]{outcome.status.value}[/yellow] {outcome.job.label}: {outcome.message}")

            summary = reproduce_table(
                table, store, scale=scale, seeds=seeds, n_jobs=jobs, force=force,
                datasets=only_datasets, methods=only_methods, on_start=on_start, on_done=on_done,
                plan=plans[table.ref],
            )
        not_implemented = sorted({name for failure in summary.plan.skipped.values() for name in failure.missing_methods})
        failed = summary.count(RunStatus.INVALID, RunStatus.CRASHED)
        console.print(
            f"{table.ref}: reused {len(summary.reused)} cached run(s), ran {summary.count(RunStatus.RAN)}, "
            f"unavailable {summary.count(RunStatus.MISSING_DATA)}, failed {failed}"
            + (f"; {len(summary.plan.skipped)} cell(s) not runnable here" if summary.plan.skipped else "")
        )
        if not_implemented:
            console.print(f"  not runnable: not implemented here: {', '.join(not_implemented)}")
        broken += failed
        path = _write_rendered(table.ref, scale)
        console.print(f"rendered {path.parent}/{table.table}.{{md,tex,csv}}")
    if broken:
        raise typer.Exit(1)


@app.command()
def render(
    ref: str = typer.Argument(..., help="PAPER:TABLE"),
    format_: str = typer.Option("md", "--format", help="md | latex | csv | json"),
    out: Optional[Path] = typer.Option(None, help="write here instead of standard output"),
    scale: str = typer.Option("paper", help="which scale's records to show"),
):
    """Render a table from stored records only (never trains)."""
    from .report.plots import plot_table
    from .report.render import FORMATS
    from .report.render import render as render_table
    from .report.results import collect
    from .specs import load_table
    from .store import RecordStore

    if format_ not in FORMATS:
        raise FairbenchError(f"unknown format '{format_}'; known: {', '.join(FORMATS)}")
    table = load_table(ref)
    results = collect(table, RecordStore(), scale)
    text = render_table(table, results, format_, scale)
    if out is None:
        sys.stdout.write(text)
    else:
        atomic.write_text(out, text)
        console.print(f"wrote {out}")
        for plot in plot_table(table, results, out.parent):
            console.print(f"plotted {plot}")


@app.command()
def check(
    refs: Optional[List[str]] = typer.Argument(None, help="PAPER:TABLE ... (default: every table with results)"),
    scale: str = typer.Option("paper", help="which scale's records to check"),
):
    """Compare stored results with the paper's values and evaluate the table's claims; exit 1 if a
    cell expected to reproduce does not, or a claim expected to hold fails."""
    from .report.check import check_table
    from .report.claims import check_claims
    from .report.results import collect
    from .specs import load_table, spec_paths
    from .store import RecordStore

    store = RecordStore()
    names = [r for ref in refs for r in _refs(ref)] if refs else list(spec_paths())
    failed = False
    for ref in names:
        table = load_table(ref)
        results = collect(table, store, scale)
        if not refs and not any(r.records for r in results.values()):
            continue
        report = check_table(table, results)
        claims = check_claims(table, results)
        for claim in claims:
            colour = "red" if claim.failing else ("green" if claim.status == "holds" else "yellow")
            console.print(f"[{colour}]claim[/{colour}] {ref} {claim.summary()}", highlight=False)
        for result in report.failing:
            cell = result.cell
            ours = "no result" if result.value is None else f"ours {result.value:.6g}"
            console.print(
                f"[red]FAIL[/red] {ref} {cell.row}/{cell.column}: {ours}, paper {cell.reported}, "
                f"tolerance {cell.tolerance.describe()} — {result.reason}"
            )
        for result in report.stale:
            console.print(f"[yellow]stale[/yellow] {ref} {result.cell.row}/{result.cell.column}: {result.stale}",
                          highlight=False)
        failing_claims = sum(claim.failing for claim in claims)
        console.print(
            f"{ref}: {len(report.passing)} reproduced, {len(report.failing)} failing, {len(report.skipped)} not checked"
            + (f", {len(report.stale)} from records of older code" if report.stale else "")
            + (f"; claims: {len(claims) - failing_claims} ok, {failing_claims} failing" if claims else "")
        )
        failed |= not report.ok or failing_claims > 0
    if failed:
        raise typer.Exit(1)


def main() -> None:
    try:
        app(standalone_mode=True)
    except FairbenchError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted; finished cells are stored and will be reused")
        sys.exit(130)
    except Exception:
        if _state["verbose"]:
            traceback.print_exc()
        else:
            exc = sys.exc_info()[1]
            err_console.print(f"internal error: {type(exc).__name__}: {exc} (rerun with --verbose for the traceback)")
        sys.exit(1)


if __name__ == "__main__":
    main()
