"""The ``fairbench`` command line.

Exit codes: 0 everything asked for ran (or was reused); 1 a run crashed (a bug: the failure note keeps
the traceback) or ``check`` found a regression; 2 a user error (one line on stderr, no traceback);
3 ``reproduce`` left cells that the spec can run without a result (data missing, method not
implemented), unless ``--allow-missing``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import typer
import yaml
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .core import atomic, settings
from .core.errors import FairbenchError

try:  # typer >= 0.20 carries its own copy of click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer on top of click
    from click.exceptions import ClickException, NoArgsIsHelpError, UsageError

EXIT_CRASHED, EXIT_USER_ERROR, EXIT_PARTIAL = 1, 2, 3

app = typer.Typer(
    help="Reproduce the tables of fairness-aware unlearning and counterfactual-fairness papers. "
         "Exit codes: 0 done, 1 a run crashed or check failed, 2 user error, 3 reproduce left cells without a result.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: wraps at 80 columns, `--force / --no-force` without type boxes
)
console = Console(soft_wrap=True)  # long lines (claims, reasons) stay whole in logs
err_console = Console(stderr=True, soft_wrap=True)  # one line per error, whatever the width
_state = {"verbose": False}

LIST_KINDS = ("papers", "tables", "methods", "datasets", "protocols", "metrics")


@app.callback()
def _global(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more and show tracebacks of crashes.")):
    """Environment: FAIRBENCH_DATA (download cache, default ./data), FAIRBENCH_MIRROR (local mirror
    with <mirror>/<dataset>/<file>), FAIRBENCH_OFFLINE=1 (no network), FAIRBENCH_RESULTS (records,
    default ./results), FAIRBENCH_TABLES (tables rendered from your runs, default <results>/tables),
    FAIRBENCH_BASELINE (the committed reference tables check compares with, default the checkout's tables/)."""
    _state["verbose"] = verbose
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# ---------------------------------------------------------------- list
@app.command("list")
def list_(what: str = typer.Argument("tables", help="papers | tables | methods | datasets | protocols | metrics")):
    """List what fairbench knows about."""
    if what not in LIST_KINDS:
        raise FairbenchError(f"unknown kind '{what}'; known: {', '.join(LIST_KINDS)}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)  # light rules: more room for text at 80 columns
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
            table = _two_line_table()
            _table_availability(table, specs)
    elif what == "methods":
        from .catalog import catalog

        table = _two_line_table()
        for name, entry in catalog().methods.items():
            # descriptions are plain text: "[one-hot(s), a]" must not be read as rich markup
            _two_line_row(table, name, Text(f"{entry.kind}, task {entry.task}, papers {', '.join(entry.papers)}"),
                          Text(entry.description, style="dim"))
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


def _two_line_table() -> Table:
    """A listing whose entries are a name and two wrapped lines beside it: readable at 80 columns."""
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    return table


def _two_line_row(table: Table, name: str, first: Text, second: Text) -> None:
    table.add_row(Text(name), first)
    table.add_row("", second)


def _table_availability(table: Table, specs) -> None:
    """``list tables``: per table how many cells have their data here (cache or mirror), can fetch it
    from a source that answers now, or lack it (naming the datasets), and how many need a method that is
    not implemented. Nothing is planned or imported beyond the catalog and the dataset sources; with
    FAIRBENCH_OFFLINE=1 no source is asked."""
    from .catalog import catalog
    from .datasets.availability import GENERATED, OBTAINABLE, PRESENT, availability_of
    from .specs import cell_config

    known = catalog()  # what is implemented, read from the sources: nothing is imported or planned
    states: dict[str, str] = {}

    def state_of(dataset: str) -> str:
        name = dataset.partition("@")[0]
        if name not in states:
            states[name] = availability_of(name).state
        return states[name]

    for spec in specs:
        counts = {PRESENT: 0, OBTAINABLE: 0, "no method": 0}
        missing: dict[str, int] = {}
        for cell in spec.cells.values():
            if not cell.run:
                continue
            config = cell_config(spec, cell, "paper")
            if known.missing(config):
                counts["no method"] += 1
                continue
            dataset = str(config.get("dataset", ""))
            state = state_of(dataset) if dataset else GENERATED
            if state in (PRESENT, GENERATED):
                counts[PRESENT] += 1
            elif state == OBTAINABLE:
                counts[OBTAINABLE] += 1
            else:
                missing[dataset.partition("@")[0]] = missing.get(dataset.partition("@")[0], 0) + 1
        lacking = sum(missing.values())
        counted = (f"{len(spec.cells)} cells: {counts[PRESENT]} with data here, {counts[OBTAINABLE]} obtainable, "
                   f"{lacking} data missing" + (f" ({', '.join(sorted(missing))})" if lacking else "")
                   + f", {counts['no method']} method not implemented")
        _two_line_row(table, spec.ref, Text(spec.title), Text(counted, style="dim"))


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
    for option, value in (("--mirror", mirror), ("--from", from_)):
        if value is not None and value == Path(""):  # an empty value would silently mean the current folder
            raise FairbenchError(f"{option} needs a folder; got an empty value")
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
    """``key=value`` (value parsed as YAML); ``a.b=v`` nests; ``task`` names the task; any other key
    without a dot is a method parameter unless it is one of the task's own config keys (e.g. ``threshold``)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        parts = key.split(".")
        if not sep or not all(part.strip() for part in parts):
            raise FairbenchError(f"--set expects key=value (key like k or a.b), got '{pair}'")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise FairbenchError(f"--set {key}: '{raw}' is not a valid YAML value ({problem}); "
                                 "quote strings, write lists as [1, 2]") from None
        path = parts if len(parts) > 1 or key in task_keys or key == "task" else ["params", key]
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise FairbenchError(f"--set {key}: '{part}' was already set to a value, not a mapping")
        node[path[-1]] = value
    return out


def obtain_hint(dataset: str) -> str:
    """The exact way to get ``dataset`` (a variant suffix is ignored), for messages about missing data."""
    from .datasets.availability import EXTERNAL
    from .datasets.download import fix_for
    from .datasets.registry import DATASETS

    name = dataset.partition("@")[0]
    if name in EXTERNAL:
        return f"fairbench has no loader for {name}; the data comes from {EXTERNAL[name].url}"
    source = DATASETS.get(name).source
    if source.obtain_note:  # data that may not be fetched for you: what to put where
        return fix_for(source)
    network = " (with FAIRBENCH_OFFLINE unset: it is set now)" if settings.offline() else ""
    return f"`fairbench download {name}`{network}, or `fairbench download {name} --mirror DIR` from a local copy"


def _missing_data_error(outcome) -> FairbenchError:
    names = outcome.failure.missing_data if outcome.failure else ()
    if not names:
        return FairbenchError(outcome.message)
    if _state["verbose"]:
        err_console.print(outcome.message, markup=False, highlight=False)
    corrupt = [status for name in names for status in _cached_files(name) if status.state == "corrupt"]
    if corrupt:  # present but damaged: a different fix from absent data
        return FairbenchError(f"{outcome.job.label}: cached file {corrupt[0].path} is corrupt (sha256 mismatch); "
                              f"`fairbench download {corrupt[0].dataset}` re-fetches it")
    return FairbenchError(f"{outcome.job.label}: dataset {', '.join(names)} is not available here "
                          f"(the sources tried: --verbose); to get it: {'; '.join(map(obtain_hint, names))}")


def _cached_files(name: str):
    from .datasets.availability import EXTERNAL
    from .datasets.download import verify_source
    from .datasets.registry import DATASETS

    return [] if name in EXTERNAL else verify_source(DATASETS.get(name).source)


def _run_single(config: dict[str, Any], force: bool) -> tuple[dict[str, Any], Path]:
    """Run one configuration (checked in full first) and the runs it needs, in order, with a spinner
    on stderr; its record and run folder."""
    from rich.progress import SpinnerColumn

    from .runner.jobs import make_job

    job = make_job(config)  # checked in full before the runner (and the methods, torch) is imported
    from .core.status import RunStatus
    from .runner.reproduce import run_with_dependencies
    from .store import RecordStore

    store = RecordStore()
    where = store.run_dir(job.group, job.seed)
    if store.has(job.group, job.seed) and not force:
        console.print(f"reused cached record {where}")
        return store.load(job.group, job.seed), where

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True, disable=not err_console.is_terminal) as progress:
        spinner = progress.add_task(f"running {job.label}", total=None)

        def on_done(outcome) -> None:
            if outcome.status is RunStatus.RAN:
                console.print(f"stored {store.run_dir(outcome.job.group, outcome.job.seed)} "
                              f"({outcome.seconds:.1f} s)", markup=False, highlight=False)
            progress.update(spinner, description=f"running {job.label}")

        outcomes = run_with_dependencies(job, store, force, on_done=on_done)
    for outcome in outcomes:
        if outcome.status is RunStatus.CRASHED:
            note = store.failure_path(outcome.job.group, outcome.job.seed)
            err_console.print(f"error: {outcome.job.label} crashed: {_one_line(outcome.message)} "
                              f"(traceback in {note})", markup=False, highlight=False)
            raise typer.Exit(EXIT_CRASHED)
        if outcome.status is RunStatus.MISSING_DATA:
            raise _missing_data_error(outcome)
        if outcome.status is not RunStatus.RAN:
            raise FairbenchError(outcome.message)
    return store.load(job.group, job.seed), where


def _print_records(title: str, records: list[tuple[str, dict[str, Any]]]) -> None:
    """Metrics and timings of one or more runs, a column per run (its table column when it has one)."""
    table = Table(title=title)
    table.add_column("metric")
    for label, _ in records:
        table.add_column(label or "value", justify="right")
    names = list(dict.fromkeys(name for _, record in records for name in record["metrics"]))
    for name in names:
        values = [record["metrics"].get(name) for _, record in records]
        table.add_row(name, *("" if value is None else f"{value:.6g}" for value in values))
    timings = list(dict.fromkeys(name for _, record in records for name in record["timings"]))
    for name in timings:
        values = [record["timings"].get(name) for _, record in records]
        table.add_row(f"time: {name}", *("" if value is None else f"{value:.3f} s" for value in values))
    console.print(table)


def _task_keys(task: str) -> tuple[str, ...]:
    from .runner.tasks import TASKS

    return tuple(k for k in TASKS.get(task).config_keys if k != "params")


@app.command()
def train(
    dataset: str = typer.Option(..., help="dataset[@variant]"),
    model: str = typer.Option(..., help="a learner, e.g. logreg (see `fairbench list methods`)"),
    seed: int = typer.Option(0, min=0, help="seed of the split and of the training"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="model parameter key=value (repeatable)"),
    force: bool = typer.Option(False, "--force/--no-force", help="retrain even if a cached model exists"),
):
    """Train a base model and cache it; unlearning runs reuse it."""
    config = {"method": model, "dataset": dataset, "seed": seed, "task": "train_base", **_parse_sets(set_ or [])}
    record, where = _run_single(config, force)
    _print_records(f"{model} on {dataset} (seed {seed}, train_base)", [("", record)])
    console.print(f"record: {where}")


def _check_method_name(method: str) -> None:
    """An unknown method is refused from the catalog (read from the sources), before the runner
    imports anything of the methods (torch included) to plan the run: a typo answers at once."""
    from .catalog import catalog

    known = catalog().methods
    if method not in known:
        raise FairbenchError(f"unknown method '{method}'; known: {', '.join(known)}")


@app.command()
def run(
    method: str = typer.Option(..., help="method name (see `fairbench list methods`)"),
    dataset: str = typer.Option(..., help="dataset[@variant] (see `fairbench list datasets`)"),
    protocol: Optional[str] = typer.Option(None, help="deletion protocol (see `fairbench list protocols`)"),
    fraction: Optional[float] = typer.Option(None, help="deletion fraction, in (0, 1)"),
    group: Optional[str] = typer.Option(None, help="sensitive group for the subgroup protocol (minority, majority or a value)"),
    seed: int = typer.Option(0, min=0, help="seed"),
    set_: Optional[List[str]] = typer.Option(
        None, "--set", help="key=value; a.b=v nests; task=NAME picks the task; a bare key is a method parameter "
                            "unless the task takes it"
    ),
    force: bool = typer.Option(False, "--force/--no-force", help="recompute even if a record exists"),
):
    """Run one cell, print its metrics and store its record.

    The task is the method's own unless the tables run this method on this dataset under another one
    (OB on compas@flap: the discrete counterfactual task of OB Table 2); then the table's
    configurations run (narrowed by --set), and the numbers are the ones the table shows."""
    if fraction is not None and not 0.0 < fraction < 1.0:
        raise FairbenchError(f"--fraction must be in (0, 1), got {fraction}")
    if (fraction is not None or group is not None) and protocol is None:
        raise FairbenchError("--fraction and --group need a --protocol")
    _check_method_name(method)
    base: dict[str, Any] = {"method": method, "dataset": dataset, "seed": seed}
    if protocol is not None:
        from .catalog import protocols

        if protocol not in protocols():  # read from the sources: the protocols (scikit-learn) load when it runs
            raise FairbenchError(f"unknown protocol '{protocol}'; known: {', '.join(sorted(protocols()))}")
        base["protocol"] = {k: v for k, v in {"name": protocol, "fraction": fraction, "group": group}.items() if v is not None}
    from .runner.choose import choose_runs
    from .runner.tasks.config import method_entry
    from .specs import merge_blocks

    default_task = method_entry(method).task
    sets = set_ or []
    placed_for = _parse_sets(sets).get("task", default_task)
    config = merge_blocks(base, _parse_sets(sets, _task_keys(placed_for)))  # --set nests into --protocol
    choice = choose_runs(config, default_task)
    chosen_task = choice.configs[0][1].get("task", default_task)
    if chosen_task != placed_for and sets:  # bare keys go where the chosen task takes them
        config = merge_blocks({**base, "task": chosen_task}, _parse_sets(sets, _task_keys(chosen_task)))
        choice = choose_runs(config, default_task)
    results = [(label, *_run_single(run_config, force)) for label, run_config in choice.configs]
    _print_records(f"{method} on {dataset} (seed {seed}, {chosen_task})", [(label, record) for label, record, _ in results])
    for label, _, where in results:
        console.print(f"record{f' ({label})' if label else ''}: {where}", highlight=False)
    if choice.others:
        refs = ", ".join(dict.fromkeys(run.ref for run in choice.others))
        console.print(f"the tables also run {method} on {dataset} with other settings ({refs}): narrow with "
                      f"--set (e.g. --set {choice.example_set()}) or `fairbench reproduce REF`", highlight=False)


# ---------------------------------------------------------------- tables
def _refs(ref: str) -> list[str]:
    from .matrix import PAPER as MATRIX
    from .specs import resolve_ref, spec_paths, table_refs

    if ref == "all":  # the papers' tables (the matrix is named on its own: `matrix` or `matrix:all`)
        return list(spec_paths())
    if ref == MATRIX:
        ref = f"{MATRIX}:all"
    if ref.endswith(":all"):
        paper = ref[: -len(":all")]
        refs = [r for r in table_refs() if r.startswith(paper + ":")]
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


def _write_table_files(table, results, folder: Path, scale: str) -> None:
    """The markdown, LaTeX and CSV of a table (and its plots) into ``folder``."""
    from .report.plots import plot_table
    from .report.render import render

    for fmt_name, suffix in (("md", "md"), ("latex", "tex"), ("csv", "csv")):  # the first write makes the folder
        atomic.write_text(folder / f"{table.table}.{suffix}", render(table, results, fmt_name, scale))
    for plot in plot_table(table, results, folder):
        console.print(f"plotted {plot}")


def _write_rendered(ref: str, scale: str, out: Path | None = None) -> Path:
    """Render a table from the records into ``out`` (default: the tables folder of your results, never
    the committed reference tables unless ``out`` names them) and print its markdown."""
    from .report.render import render
    from .report.results import collect
    from .specs import load_table
    from .store import RecordStore

    table = load_table(ref)
    results = collect(table, RecordStore(), scale)
    folder = (out or settings.tables_dir()) / table.paper
    _write_table_files(table, results, folder, scale)
    sys.stdout.write(render(table, results, "md", scale))
    sys.stdout.flush()
    return folder / f"{table.table}.md"


EXECUTOR_HELP = ("local (a process pool with --jobs N > 1, else this process) | serial | process | ray (a Ray "
                 "cluster: pip install -e '.[ray]'; see README, Running on a cluster)")
ADDRESS_HELP = ("--executor ray: auto (the cluster this machine is part of) or ray://HOST:PORT (default: start Ray "
                "on this machine, with --jobs CPUs or all cores)")
RETRIES_HELP = "--executor ray: times a crashed or lost task is run again before its cell counts as failed (default 2)"
TASK_MEMORY_HELP = "--executor ray: GB of memory each task declares to the scheduler (default 2; 16 for GPU runs)"


def _executor(name: str, jobs: int, address: str | None, retries: int | None, task_memory: float | None):
    """The executor the options ask for (a user error for an unknown name, for a Ray option without
    --executor ray, or when Ray is not installed)."""
    from .runner.executor import executor_names, make_executor

    if name not in executor_names():
        raise FairbenchError(f"unknown executor '{name}'; known: {', '.join(executor_names())}")
    given = {"address": address, "retries": retries, "task_memory": task_memory}
    options = {option: value for option, value in given.items() if value is not None}
    if options and name != "ray":
        raise FairbenchError(f"--{next(iter(options)).replace('_', '-')} is an option of --executor ray")
    if address is not None and jobs > 1:
        raise FairbenchError("--jobs sets the CPUs of a Ray instance started here; with --address the cluster decides")
    if "task_memory" in options:
        options["task_memory_gb"] = options.pop("task_memory")
    return make_executor(jobs, name, **options)


@app.command()
def reproduce(
    ref: str = typer.Argument(..., help="PAPER:TABLE, PAPER:all, or all"),
    seeds: Optional[int] = typer.Option(None, help="number of seeds per cell (default: the spec's; at most 1000 without --yes)"),
    jobs: int = typer.Option(1, help="parallel worker processes (at most 4 per CPU core without --yes)"),
    scale: str = typer.Option("paper", help="paper | mini (shorter documented schedules)"),
    force: bool = typer.Option(False, help="recompute cached cells"),
    datasets: Optional[str] = typer.Option(None, help="only the cells on these datasets, comma-separated (e.g. adult,german)"),
    methods: Optional[str] = typer.Option(None, help="only the cells of these methods, comma-separated registry names"),
    out: Optional[Path] = typer.Option(
        None, help="write the rendered tables under this folder (default: $FAIRBENCH_TABLES or <results>/tables)"),
    allow_missing: bool = typer.Option(
        False, "--allow-missing/--no-allow-missing",
        help="exit 0 even when cells did not run for want of data or of a method (default: exit 3)"),
    yes: bool = typer.Option(False, "--yes/--no-yes",
                             help="run even above the size limits (1000 seeds, 4 jobs per core, 20000 runs)"),
    executor: str = typer.Option("local", help=EXECUTOR_HELP),
    address: Optional[str] = typer.Option(None, help=ADDRESS_HELP),
    retries: Optional[int] = typer.Option(None, help=RETRIES_HELP),
    task_memory: Optional[float] = typer.Option(None, help=TASK_MEMORY_HELP),
):
    """Run every missing cell of a table, then render it (markdown, LaTeX, CSV under <results>/tables/;
    the committed reference tables change only through `fairbench baseline update` or --out tables).

    With --datasets / --methods only the selected cells run; the whole table is still rendered, the
    other cells from whatever records exist (else "not run"). Ends with what did not run and why;
    exit 3 when a cell the spec can run has no result (data missing, method not implemented) unless
    --allow-missing, exit 1 when a run crashed."""
    from .core.status import RunStatus
    from .runner.plan import SCALES, check_bounds, check_selection, plan_table
    from .specs import load_table
    from .store import RecordStore

    if scale not in SCALES:
        raise FairbenchError(f"unknown scale '{scale}'; known: {', '.join(SCALES)}")
    if seeds is not None and seeds < 1:
        raise FairbenchError("--seeds must be at least 1")
    if jobs < 1:
        raise FairbenchError("--jobs must be at least 1")
    store = RecordStore()
    broken = missing = 0
    tables = [load_table(table_ref) for table_ref in _refs(ref)]
    only_datasets, only_methods = _names(datasets), _names(methods)
    check_selection(tables, only_datasets, only_methods)
    if not yes:  # counted before anything is planned: a huge --seeds is refused, not planned
        check_bounds(tables, seeds, jobs, only_datasets, only_methods)
    runner = _executor(executor, jobs, address, retries, task_memory)  # Ray missing: one line before planning
    # every selected cell of every table is configured (and checked) before any cell runs
    plans = {table.ref: plan_table(table, scale, seeds, only_datasets, only_methods) for table in tables}
    from .runner.reproduce import reproduce_table  # the executor and the methods' state (torch): once the plans hold
    for table in tables:
        if (only_datasets or only_methods) and not plans[table.ref].selected:
            console.print(f"{table.ref}: no cell matches --datasets/--methods; skipped")
            continue
        with _job_progress(table.ref, lambda total, ref=table.ref: f"{ref}: {total} job(s) to run") as (
                on_start, on_done, on_tally):
            summary = reproduce_table(
                table, store, scale=scale, seeds=seeds, n_jobs=jobs, force=force,
                datasets=only_datasets, methods=only_methods, on_start=on_start, on_done=on_done,
                plan=plans[table.ref], executor=runner, on_tally=on_tally,
            )
        failed = summary.count(RunStatus.INVALID, RunStatus.CRASHED)
        console.print(
            f"{table.ref}: reused {len(summary.reused)} cached run(s), ran {summary.count(RunStatus.RAN)}, "
            f"unavailable {summary.count(RunStatus.MISSING_DATA)}, failed {failed}"
            + (f"; {len(summary.plan.skipped)} cell(s) not runnable here" if summary.plan.skipped else "")
        )
        broken += failed
        path = _write_rendered(table.ref, scale, out)
        console.print(f"rendered {path.parent}/{table.table}.{{md,tex,csv}}")
        missing += _print_not_run(table.ref, summary, store)
    runner.close()  # a Ray instance started for these tables (on an error or Ctrl-C, Ray stops it at exit)
    if broken:
        raise typer.Exit(EXIT_CRASHED)
    if missing and not allow_missing:
        err_console.print(f"partial: {missing} run(s) or cell(s) the spec can run have no result (see above); "
                          f"exit {EXIT_PARTIAL} (--allow-missing: exit 0)", highlight=False)
        raise typer.Exit(EXIT_PARTIAL)


def _print_not_run(ref: str, summary, store) -> int:
    """What did not run in one table and why, grouped by cause (from the statuses, never the messages):
    per missing dataset the command that obtains it; the methods not implemented; per crashed run its
    failure note (traceback inside); invalid runs with their one-line reason. Returns how many of the
    table's runs and cells lack a result for want of data or of a method."""
    from .core.status import RunStatus

    requested = summary.plan.requested
    own = [o for o in summary.outcomes if o.job.key in requested and o.status is not RunStatus.RAN]
    data: dict[str, int] = {}
    methods: dict[str, int] = {}
    for outcome in own:
        if outcome.status is RunStatus.MISSING_DATA and outcome.failure:
            for name in outcome.failure.missing_data:
                data[name] = data.get(name, 0) + 1
    for failure in summary.plan.skipped.values():
        for name in failure.missing_methods:
            methods[name] = methods.get(name, 0) + 1
    for outcome in own:
        if outcome.status is RunStatus.NOT_IMPLEMENTED and outcome.failure:
            for name in outcome.failure.missing_methods:
                methods[name] = methods.get(name, 0) + 1
    crashed = [o for o in own if o.status is RunStatus.CRASHED]
    invalid = [o for o in own if o.status is RunStatus.INVALID]
    absent = len(summary.plan.skipped) + sum(
        o.status in (RunStatus.MISSING_DATA, RunStatus.NOT_IMPLEMENTED) for o in own)
    if not (data or methods or crashed or invalid):
        return absent
    console.print(f"[bold]{ref}: not run[/bold]")
    for name, count in sorted(data.items()):
        console.print(f"  data missing: {name} ({count} run(s)); to get it: {obtain_hint(name)}", highlight=False)
    if methods:
        listed = ", ".join(f"{name} ({count})" for name, count in sorted(methods.items()))
        console.print(f"  not implemented here (cells): {listed}", highlight=False)
    for outcome in crashed:
        console.print(f"  crashed: {outcome.job.label}: {_one_line(outcome.message)}; traceback in "
                      f"{store.failure_path(outcome.job.group, outcome.job.seed)}", markup=False, highlight=False)
    for outcome in invalid:
        console.print(f"  invalid: {outcome.job.label}: {_one_line(outcome.message)}", markup=False, highlight=False)
    return absent


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
    refs: Optional[List[str]] = typer.Argument(None, help="PAPER:TABLE ... or matrix (default: every table with records)"),
    scale: str = typer.Option("paper", help="which scale's records to check (mini: against a mini baseline only)"),
    baseline: Optional[Path] = typer.Option(
        None, help="folder of the committed tables to compare with (default: $FAIRBENCH_BASELINE or tables/)"),
    paper_only: bool = typer.Option(False, "--paper-only", help="compare with the paper only, not with the baseline"),
    strict: bool = typer.Option(False, help="claims evaluated on part of their scopes (data absent here) fail too"),
    junit: Optional[Path] = typer.Option(None, help="also write the results as JUnit XML to this file"),
):
    """Compare the records with the paper and with the committed baseline, and evaluate the claims.

    Exit 0 when nothing regressed; 1 when a cell leaves its tolerance or drifts from the baseline, a
    declared deviation or failing claim unexpectedly reproduces, a claim has scopes that were not run,
    or there are no records; 2 on a usage error."""
    from .report.check import Verdict, check_table, junit_xml
    from .report.claims import check_claims
    from .report.results import collect
    from .specs import SCALES, load_table, table_refs
    from .store import RecordStore

    if scale not in SCALES:
        raise FairbenchError(f"unknown scale '{scale}'; known: {', '.join(SCALES)}")
    baseline_root = None if paper_only else (baseline or settings.baseline_dir())
    if baseline is not None and not baseline.is_dir():
        raise FairbenchError(f"--baseline {baseline}: no such folder")
    store = RecordStore()
    names = [r for ref in refs for r in _refs(ref)] if refs else table_refs()
    reports = []
    for ref in names:
        table = load_table(ref)
        results = collect(table, store, scale)
        if not refs and not any(r.records for r in results.values()):
            continue
        report = check_table(table, results, check_claims(table, results), baseline_root, scale, strict)
        reports.append(report)
        colours = {Verdict.FAIL: "red", Verdict.PARTIAL: "yellow"}
        for finding in report.findings:
            if finding.verdict in colours:
                colour = colours[finding.verdict]
                console.print(f"[{colour}]{finding.verdict.value.upper()}[/{colour}] {ref} {finding.subject}: "
                              f"{finding.message}", highlight=False, markup=True)
        for note in report.notes:
            console.print(f"[yellow]note[/yellow] {ref}: {note}", highlight=False)
        for result in report.stale:
            console.print(f"[yellow]stale[/yellow] {ref} {result.cell.row}/{result.cell.column}: {result.stale}",
                          highlight=False)
        counts = {verdict: len(report.with_verdict(verdict)) for verdict in Verdict}
        console.print(
            f"{ref}: {counts[Verdict.OK]} ok, {counts[Verdict.FAIL]} failing, {counts[Verdict.PARTIAL]} partial, "
            f"{counts[Verdict.SKIPPED]} not checked" + (f", {len(report.stale)} from records of older code" if report.stale else ""),
            highlight=False)
    if junit is not None:
        atomic.write_text(junit, junit_xml(reports))
        console.print(f"wrote {junit}")
    if not reports:
        err_console.print("no records: run `fairbench reproduce PAPER:TABLE` first (or name the tables to check)",
                          highlight=False)
        raise typer.Exit(1)
    if not all(report.ok for report in reports):
        raise typer.Exit(1)


# ---------------------------------------------------------------- the unlearning matrix
@app.command()
def matrix(
    methods: Optional[str] = typer.Option(None, help="only these unlearners, comma-separated (also runs the "
                                                     "grid's excluded cells of these methods)"),
    datasets: Optional[str] = typer.Option(None, help="only these datasets, comma-separated (also runs the grid's "
                                                      "excluded cells on them)"),
    protocols: Optional[str] = typer.Option(None, help="only these protocols of benchmarks/matrix.yaml, comma-separated"),
    families: Optional[str] = typer.Option(None, help="only these base-learner families of benchmarks/matrix.yaml"),
    seeds: Optional[int] = typer.Option(None, help="seeds per cell (default: the grid's)"),
    jobs: int = typer.Option(1, help="parallel worker processes (at most 4 per CPU core without --yes)"),
    force: bool = typer.Option(False, help="recompute cached cells"),
    out: Optional[Path] = typer.Option(
        None, help="write the tables under this folder (default: $FAIRBENCH_TABLES or <results>/tables); "
                   "--out tables updates the committed ones"),
    readme: Optional[Path] = typer.Option(
        None, help="rewrite this README's \"Which unlearning method?\" block from the tables under --out"),
    yes: bool = typer.Option(False, "--yes/--no-yes", help="run even above the size limits"),
):
    """Run every compatible (unlearner, base learner, dataset, protocol) of benchmarks/matrix.yaml through the
    record store (cached, resumable), then render one table per (family, protocol), the rankings and the
    Pareto plots under <out>/matrix/."""
    from . import matrix as grid_module
    from .core.status import RunStatus
    from .runner.plan import check_bounds
    from .store import RecordStore

    if seeds is not None and seeds < 1:
        raise FairbenchError("--seeds must be at least 1")
    if jobs < 1:
        raise FairbenchError("--jobs must be at least 1")
    grid = grid_module.load_grid()
    if grid is None:
        raise FairbenchError(f"there is no matrix grid at {grid_module.grid_path()}")
    tables = grid_module.tables(families=_names(families), protocols=_names(protocols))
    only_methods, only_datasets = _names(methods), _names(datasets)
    _check_matrix_selection(tables, only_methods, only_datasets)
    from .runner.matrix import plan_matrix, selected_tables

    chosen = selected_tables(tables, grid, only_methods, only_datasets)
    if not yes:
        check_bounds(chosen, seeds, jobs)
    plan = plan_matrix(chosen, seeds)
    from .runner.reproduce import run_plan
    store = RecordStore()
    announce = lambda total: f"matrix: {plan.selected} cell(s) of {len(chosen)} table(s); {total} job(s) to run"  # noqa: E731
    with _job_progress("matrix", announce) as (on_start, on_done, on_tally):
        summary = run_plan(plan, store, jobs, force, on_start, on_done, on_tally=on_tally)
    failed = summary.count(RunStatus.INVALID, RunStatus.CRASHED)
    console.print(f"matrix: reused {len(summary.reused)} cached run(s), ran {summary.count(RunStatus.RAN)}, "
                  f"failed {failed}", highlight=False)
    _print_not_run(grid_module.PAPER, summary, store)
    folder = _write_matrix(grid, grid_module.tables(), out or settings.tables_dir(), store)
    console.print(f"rendered {folder}/ (tables, README.md with the rankings, Pareto plots)", highlight=False)
    if readme is not None:
        _write_readme_block(grid, readme, out or settings.tables_dir())
    if failed:
        raise typer.Exit(EXIT_CRASHED)


def _check_matrix_selection(tables, methods: set[str] | None, datasets: set[str] | None) -> None:
    """A method or dataset that no selected matrix table has a row for is a user error."""
    for kind, wanted, position in (("method", methods, 1), ("dataset", datasets, 0)):
        present = {row.id.split("/", 1)[position].split("@", 1)[0] for table in tables for row in table.rows}
        unknown = sorted((wanted or set()) - present)
        if unknown:
            raise FairbenchError(f"the matrix has no {kind} {', '.join(unknown)} in the selected families; "
                                 f"it has: {', '.join(sorted(present))}")


def _write_matrix(grid, tables, root: Path, store) -> Path:
    """Every matrix table (markdown, LaTeX, CSV; the whole grid, whatever ran this time, as `reproduce` renders
    whole tables), the rankings (README.md) and a Pareto plot per protocol."""
    from .matrix import PAPER
    from .report.matrix import plot_pareto, summarize, summary_markdown, values_from_results
    from .report.results import collect

    folder = root / PAPER
    sections, plots = [], {}
    for table in tables:
        results = collect(table, store)
        _write_table_files(table, results, folder, "paper")
        sections.append((table, summarize(table, grid, values_from_results(results))))
    for protocol in grid.protocols:
        panels = [(grid.parts(table)[0].label, summaries) for table, summaries in sections
                  if grid.parts(table)[1].id == protocol.id]
        if panels and plot_pareto(grid, protocol.label, panels, folder / f"pareto-{protocol.id}.png"):
            plots[protocol.id] = f"pareto-{protocol.id}.png"
    atomic.write_text(folder / "README.md", summary_markdown(grid, sections, plots))
    return folder


def _write_readme_block(grid, readme: Path, root: Path) -> None:
    """Rewrite the README's generated block from the committed-style CSVs under ``root``."""
    from .matrix import tables as matrix_tables
    from .report.matrix import readme_section, replace_readme_block

    if not readme.is_file():
        raise FairbenchError(f"--readme {readme}: no such file")
    text = readme.read_text()
    atomic.write_text(readme, replace_readme_block(text, readme_section(grid, root, matrix_tables())))
    console.print(f"rewrote the matrix block of {readme}", highlight=False)


baseline_app = typer.Typer(help="The committed reference tables that `check` compares with.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("update")
def baseline_update(
    refs: List[str] = typer.Argument(..., help="PAPER:TABLE ... (or PAPER:all, all)"),
    scale: str = typer.Option("paper", help="which scale's records become the baseline"),
    baseline: Optional[Path] = typer.Option(None, help="folder of the committed tables (default: $FAIRBENCH_BASELINE or tables/)"),
):
    """Rewrite the committed tables (CSV, markdown, LaTeX, plots) from the current records and print
    the cells that changed: the deliberate way to accept new numbers."""
    from .report.baseline import changed_cells, parse_baseline, read_baseline
    from .report.render import render
    from .report.results import collect
    from .specs import SCALES, load_table
    from .store import RecordStore

    if scale not in SCALES:
        raise FairbenchError(f"unknown scale '{scale}'; known: {', '.join(SCALES)}")
    root = baseline or settings.baseline_dir()
    store = RecordStore()
    for ref in [r for ref in refs for r in _refs(ref)]:
        table = load_table(ref)
        results = collect(table, store, scale)
        if not any(result.records for result in results.values()):
            raise FairbenchError(f"{ref}: no records at scale {scale}; run `fairbench reproduce {ref}` first")
        old = read_baseline(root, table)
        new = parse_baseline(render(table, results, "csv", scale), root / table.paper / f"{table.table}.csv")
        _write_table_files(table, results, root / table.paper, scale)
        changes = changed_cells(old, new)
        console.print(f"{ref}: wrote {root / table.paper / table.table}.{{csv,md,tex}}; "
                      f"{len(changes)} cell(s) changed", highlight=False)
        for line in changes:
            console.print(f"  {line}", highlight=False, markup=False)



@contextlib.contextmanager
def _job_progress(label: str, announce: Callable[[int], str]) -> Iterator[tuple[Callable, Callable, Callable]]:
    """The progress bar of a command that runs jobs, as ``(on_start, on_done, on_tally)`` for the runner:
    ``announce(total)`` is printed when the jobs are known; a job that did not run prints one line (a missing
    dataset once, not once per cell); the executor's tally (running / failed / retried) follows the bar."""
    from .core.status import RunStatus

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[tally]}"), console=console, transient=False,
    ) as progress:
        bar = progress.add_task(label, total=None, tally="")
        said: set[str] = set()

        def on_tally(tally) -> None:  # cells done are the bar's count
            progress.update(bar, tally=tally.describe())

        def on_start(total: int) -> None:
            progress.console.print(announce(total), highlight=False)
            progress.update(bar, total=total)

        def on_done(outcome) -> None:
            progress.advance(bar)
            if outcome.status is RunStatus.MISSING_DATA:  # one line per missing dataset, not per cell
                missing = ", ".join(outcome.failure.missing_data) if outcome.failure else outcome.message
                if missing not in said:
                    said.add(missing)
                    progress.console.print(f"[yellow]unavailable[/yellow] {outcome.message}")
            elif outcome.status is not RunStatus.RAN:
                progress.console.print(f"[yellow]{outcome.status.value}[/yellow] {outcome.job.label}: "
                                       f"{_one_line(outcome.message)}", highlight=False)

        yield on_start, on_done, on_tally

def _one_line(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    try:
        code = app(standalone_mode=False)  # click's own errors come back here to be printed as one line
    except FairbenchError as exc:
        err_console.print(f"error: {_one_line(str(exc))}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)
    except NoArgsIsHelpError as exc:  # `fairbench` or `fairbench list`-like commands alone: the help, as click gives it
        sys.stdout.write(exc.format_message() + "\n")
        sys.exit(exc.exit_code)
    except UsageError as exc:  # bad option values, unknown options, missing arguments
        command = exc.ctx.command_path if exc.ctx is not None else "fairbench"
        err_console.print(f"error: {_one_line(exc.format_message())} (see `{command} --help`)",
                          markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)
    except ClickException as exc:
        err_console.print(f"error: {_one_line(exc.format_message())}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    except Exception:
        if _state["verbose"]:
            traceback.print_exc()
        else:
            exc = sys.exc_info()[1]
            err_console.print(f"internal error: {type(exc).__name__}: {_one_line(str(exc))} "
                              "(rerun with --verbose for the traceback)", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_CRASHED)
    if code == 130:  # typer turns Ctrl-C into exit code 130
        err_console.print("interrupted; finished cells are stored and will be reused")
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
