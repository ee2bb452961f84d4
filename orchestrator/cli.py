"""The ``sweep`` command line.

``sweep --help``, ``sweep validate``, ``sweep show``, ``sweep importance`` and ``sweep report``
import neither Ray nor TensorFlow; only ``sweep run`` starts Ray.

Every failure is one line on stderr (:func:`main` is the one place that turns errors into lines
and exit codes): a bad spec (naming the file and key) or a bad argument (naming it), exit code 2;
a run that failed under way (naming its traceback file and how to resume), exit code 1; an
interrupt, 130. From the console script, anything unexpected is one line naming the file its
traceback was written to, exit code 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from .errors import RunFailed, SpecError, UsageError, first_line, one_line, write_traceback
from .runtime.commands import register as register_runtime_commands

if TYPE_CHECKING:
    from .execution import RunResult

__all__ = ["app", "main"]

DEFAULT_SPEC = "search_spaces/quickstart.yaml"

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Hyperparameter sweeps of Keras models on Ray Tune, from a YAML search space.",
)
register_runtime_commands(app)  # sweep up / down / status


def _error_line(message: str) -> None:
    typer.echo(f"sweep: error: {one_line(message)}", err=True)


def _fail(message: str, code: int = 2) -> None:
    _error_line(message)
    raise typer.Exit(code)


def _spec_failure(e: SpecError, spec: Any) -> str:
    """A SpecError raised once the spec was loaded (resources no node has) names the spec's file."""
    return str(e) if e.file or e.key.startswith("--") else str(e.with_file(Path(spec.source or "spec").name))


def _default_spec() -> Path:
    here = Path(DEFAULT_SPEC)
    return here if here.exists() else Path(__file__).resolve().parent.parent / DEFAULT_SPEC


def _load(file: Optional[Path], num_samples: Optional[int] = None, max_concurrent: Optional[int] = None,
          seed: Optional[int] = None):
    from .options import with_options
    from .spec import load_spec

    spec = load_spec(file or _default_spec())
    return with_options(spec, num_samples=num_samples, max_concurrent=max_concurrent, seed=seed,
                        names={"num_samples": "--num-samples", "max_concurrent": "--max-concurrent"})


@app.command()
def run(
    file: Optional[Path] = typer.Argument(None, help=f"Spec file (default: {DEFAULT_SPEC})."),
    out: str = typer.Option("results", "--out", help="Parent directory of run directories: a path, or a URI "
                            "pyarrow can write (s3://bucket/prefix, gs://bucket/prefix, file:///...)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS, "
                                          "else an embedded Ray on this machine)."),
    num_samples: Optional[int] = typer.Option(None, "--num-samples", help="Override search.num_samples."),
    max_concurrent: Optional[int] = typer.Option(None, "--max-concurrent", help="Override resources.max_concurrent."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override the search and training seeds."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="Also write each trial's per-epoch curves for "
                                     "TensorBoard (tensorboard --logdir RUN_DIR/tune)."),
    dashboard: bool = typer.Option(False, "--dashboard", help="Start Ray's dashboard (on 127.0.0.1) with an "
                                   "embedded Ray; off by default."),
    budget: Optional[str] = typer.Option(None, "--budget", help="Wall-clock budget from the command's start: "
                                         "300, 90s, 5m, 1.5h. No trial starts after it; running ones are "
                                         "stopped at their next report; the best so far is selected."),
    mlflow: Optional[str] = typer.Option(None, "--mlflow", help="Also log the run to this MLflow tracking URI "
                                         "(a parent run, one child per trial; default: the spec's tracking.mlflow)."),
    no_runtime: bool = typer.Option(False, "--no-runtime", help="Start an embedded Ray even when a warm runtime "
                                    "is up (`sweep up`; also SWEEP_NO_RUNTIME=1)."),
) -> None:
    """Run a sweep and write its run directory (trials, epochs, events as Parquet) and its selected model."""
    from . import api
    from .execution.ray_start import one_shot
    from .options import as_flag

    one_shot()  # one run, then the process exits: its Ray need not be kept warm for a next one
    # The one front door (orchestrator.run); the budget counts from its call, the spec's load inside it.
    try:
        done = api.run(file or _default_spec(), out=out, address=address, num_samples=num_samples,
                       max_concurrent=max_concurrent, seed=seed, budget=budget, tensorboard=tensorboard,
                       dashboard=dashboard, mlflow=mlflow, no_runtime=no_runtime)
    except UsageError as e:
        raise as_flag(e) from None
    except KeyboardInterrupt:
        _fail("interrupted; the run directory is marked incomplete", 130)
    _fail_without_result(done.result)  # orchestrator.run printed how it ended


def _where(option: str, location: str) -> Any:
    """A local path, or the storage Location of a URI; an unknown scheme or unreachable store is a
    UsageError naming ``option`` (exit 2)."""
    from .storage import resolve

    return resolve(location, option)


def _check_local(option: str, location: Path) -> None:
    """Refuse a storage URI where only a local path (or a mounted shared filesystem) works, and a file."""
    from .options import check_out_dir
    from .storage import unfold_uri

    shown = unfold_uri(str(location))  # typer folds "s3://" to "s3:/"
    if _is_uri(shown):
        _fail(f"{option}: {shown}: sweep compare writes to a local path or a mounted shared filesystem, "
              "not a storage URI")
    check_out_dir(location, option)


def _run_dir(location: str) -> Any:
    """The run directory argument of show/report: a path or a URI holding a run.json (else exit 2)."""
    where: Any = _where("RUN_DIR", location) if _is_uri(location) else Path(location)  # as given, for messages
    try:
        ok = (where / "run.json").is_file()
    except OSError as e:
        _fail(f"RUN_DIR: {where}: cannot read: {str(e).splitlines()[0]}")
    if not ok:
        _fail(f"{where}: not a run directory (no run.json)")
    return where


def _is_uri(text: str) -> bool:
    from .storage import is_uri

    return is_uri(text)


def _fail_without_result(result: "RunResult") -> None:
    """Exit 1 naming why, when the run selected no trial (its lines are printed already)."""
    if result.selected is None:
        why = (f"no feasible trial: {result.reason}" if result.reason
               else "no trial produced a usable result (every trial diverged or failed)")
        _fail(f"{why}; see {result.run_dir / 'trials.parquet'}", 1)


@app.command()
def resume(run_dir: str = typer.Argument(..., help="The run directory of an interrupted run (a path or a URI)."),
           address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (as for run)."),
           no_runtime: bool = typer.Option(False, "--no-runtime", help="As for run.")) -> None:
    """Continue an interrupted run in place: finished trials are kept, unfinished ones continue."""
    from . import api
    from .execution.ray_start import one_shot

    one_shot()
    try:
        done = api.resume(run_dir, address=address, no_runtime=no_runtime)
    except KeyboardInterrupt:
        _fail("interrupted; the run directory is marked incomplete", 130)
    _fail_without_result(done.result)  # orchestrator.resume printed how it ended


@app.command()
def nightly(
    file: Path = typer.Argument(..., help="Spec file (tonight's search space; it may change between nights)."),
    history: str = typer.Option(..., "--history", help="The history: one date=YYYY-MM-DD/ partition per night "
                                "(a path, or a URI such as s3://bucket/nightly)."),
    date: Optional[str] = typer.Option(None, "--date", help="The night, YYYY-MM-DD (default: today, local time). "
                                       "Re-running a date replaces its partition."),
    tolerance: str = typer.Option("0.01", "--tolerance", help="Worse than the best previous night by more than "
                                  "this is a regression: absolute (0.01) or relative (2%)."),
    warm_start: int = typer.Option(3, "--warm-start", help="Try the selected configurations of this many recent "
                                   "nights (and of the best night) first; 0: off."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (as for run)."),
    num_samples: Optional[int] = typer.Option(None, "--num-samples", help="Override search.num_samples."),
    max_concurrent: Optional[int] = typer.Option(None, "--max-concurrent", help="Override resources.max_concurrent."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override the search and training seeds."),
) -> None:
    """Run tonight's sweep into a date-partitioned history, warm-started; exit 3 on a regression."""
    from .execution.ray_start import one_shot
    from .nightly import REGRESSION_EXIT_CODE, parse_date, parse_tolerance, run_nightly

    one_shot()
    where = _where("--history", history)
    night = parse_date(date)
    parse_tolerance(tolerance)
    spec = _load(file, num_samples, max_concurrent, seed)
    try:
        outcome = run_nightly(spec, where, night, tolerance=tolerance, warm_start=warm_start, address=address,
                              log=typer.echo)
    except SpecError as e:
        _fail(_spec_failure(e, spec))
    except KeyboardInterrupt:
        _fail("interrupted; the history is unchanged", 130)
    from .api import result_lines

    for line in result_lines(outcome.result):
        typer.echo(line)
    _fail_without_result(outcome.result)
    assert outcome.comparison is not None  # a usable result (otherwise the line above exited 1)
    if outcome.regressed:
        typer.echo(outcome.comparison.summary, err=True)
        raise typer.Exit(REGRESSION_EXIT_CODE)
    typer.echo(outcome.comparison.summary)


@app.command()
def compare(
    file: Path = typer.Argument(..., help="Spec file: the parallel sweep, and the space the babysitter moves in."),
    budget: str = typer.Option(..., "--budget", help="Wall-clock budget per strategy and seed: 300, 90s, 5m, 1.5h."),
    strategies: str = typer.Option("parallel,babysit", "--strategies", help="Comma-separated: parallel, babysit."),
    seeds: int = typer.Option(1, "--seeds", help="Runs per strategy, with seeds 0..K-1 added to the spec's."),
    target: Optional[float] = typer.Option(None, "--target", help="Metric level for time-to-target (default: "
                                           "the level every run reached)."),
    out: Path = typer.Option(Path("results"), "--out", help="Parent directory of the comparison directory."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (as for run)."),
) -> None:
    """Parallel sweep vs babysitting one model at a time, on the same budget (Parquet, plots, HTML)."""
    import math

    from .compare import run_compare, summary_table
    from .options import parse_budget, parse_strategies

    _check_local("--out", out)
    budget_s = parse_budget(budget)
    names = parse_strategies(strategies)
    if seeds < 1 or seeds > 100:
        raise UsageError("--seeds", f"must be between 1 and 100, got {seeds}")
    if target is not None and not math.isfinite(target):
        raise UsageError("--target", f"must be a finite number, got {target}")
    spec = _load(file)
    try:
        result = run_compare(spec, budget_s, strategies=names, seeds=seeds, target=target, out=out,
                             address=address, log=typer.echo)
    except SpecError as e:
        _fail(_spec_failure(e, spec))
    except KeyboardInterrupt:
        _fail("interrupted; the comparison directory is incomplete", 130)
    rows = summary_table(result.summary)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    t = result.summary["target"]
    typer.echo(f"target {spec.metric_name}={'-' if t is None else format(t, '.4f')} "
               f"({result.summary['target_source']})")
    typer.echo(f"comparison: {result.path}  (index.html, comparison.parquet, summary.json, plots/, runs/)")


@app.command()
def validate(file: Path = typer.Argument(..., help="Spec file to check.")) -> None:
    """Check a spec and its data without running it; print how many trials it would run."""
    from . import data as data_mod
    from .training.probe import check_model, lines_before
    from .decisions.space import count_trials

    try:
        spec = _load(file)
        # Read and split the data as `sweep run` would: a bad value or a class too rare to
        # stratify is found here, not when the sweep starts.
        raw, prepared = data_mod.load_for(spec)
        # Build one model as a trial would (a builder is imported and called here).
        model = check_model(spec, prepared)
    except SpecError as e:
        _fail(str(e) if e.file else str(e.with_file(file.name)))
    n = count_trials(spec)
    searched = ", ".join(f"{k} ({p.type})" for k, p in spec.searched.items()) or "nothing"
    rep = prepared.report
    shape = rep.get("input_shape")
    example = f", examples shaped {tuple(shape)}" if shape and len(shape) > 1 else ""
    typer.echo(f"{file}: ok: {n} trial{'' if n == 1 else 's'}; {spec.search.algorithm} search over {searched}; "
               f"{spec.describe_goals()}; scheduler {spec.describe_scheduler()}; "
               f"data {raw.name}: {rep['rows_train']}/{rep['rows_val']}/{rep['rows_test']} rows, "
               f"{rep['n_features']} features{example}")
    for line in lines_before(spec, prepared, model):
        typer.echo(line, err=line.startswith("warning:"))


@app.command()
def show(run_dir: str = typer.Argument(..., help="A run directory (a path or a URI)."),
         top: int = typer.Option(10, "--top", help="How many trials to list.")) -> None:
    """Print a run's top trials as a table; with several objectives or constraints, its Pareto front;
    and which hyperparameters mattered (their importance per objective)."""
    from rich.console import Console
    from rich.table import Table

    from .options import at_least

    at_least(top, 1, "--top")
    run = _loaded(_run_dir(run_dir))
    df = run.trials
    metric = run.info.get("budget", {}).get("metric", "val_loss")
    mode = run.info.get("budget", {}).get("mode", "min")
    col = f"best_{metric}"
    console = Console(width=None if sys.stdout.isatty() else 240)
    console.print(f"run {run.info.get('run_id')} · status {run.info.get('status')} · {len(df)} trials")
    if df.empty or col not in df:
        return
    keys = [col, "is_selected"] if "is_selected" in df else [col]  # among equals, the selected trial first
    df = df.sort_values(keys, ascending=[mode == "min", False][:len(keys)], na_position="last", kind="stable").head(top)
    hp_cols = [c for c in df.columns if c.startswith("hp_") and df[c].nunique(dropna=True) > 1]
    test_cols = [c for c in df.columns if c.startswith("test_")]
    table = Table()
    for c in ["trial_id", "status", "stop_reason", "epochs", col, "diagnosis", *test_cols, *hp_cols]:
        table.add_column(c.removeprefix("hp_"), no_wrap=True)
    for _, r in df.iterrows():
        cells = []
        for c in ["trial_id", "status", "stop_reason", "epochs", col, "diagnosis", *test_cols, *hp_cols]:
            v = r.get(c)
            cells.append("" if v is None or (isinstance(v, float) and v != v) else
                         (f"{v:.4g}" if isinstance(v, float) else str(v)))
        if r.get("is_selected"):
            cells[0] = f"* {cells[0]}"
        table.add_row(*cells)
    console.print(table)
    _show_front(console, run)
    _show_importance(console, run)


def _show_front(console: Any, run: Any) -> None:
    """The front's trials (objectives, costs, feasible, rank; the selected one marked ``*``), for a
    run with several objectives or constraints."""
    from rich.table import Table

    from .report.page import format_value  # 4 significant digits (a whole number in full), yes/no
    from .results.front import bound_text, constraints_of, front_table, has_front, objectives_of

    if not has_front(run.info):
        return
    front = front_table(run.trials, run.info)
    objectives = ", ".join(f"{n} ({m})" for n, m in objectives_of(run.info))
    limits = "; ".join(bound_text(n, b) for n, b in constraints_of(run.info).items())
    feasible = int(run.trials["feasible"].fillna(False).astype(bool).sum()) if "feasible" in run.trials else 0
    console.print(f"front: {len(front)} trial(s) of {feasible} feasible · objectives {objectives}"
                  + (f" · constraints {limits}" if limits else ""))
    if front.empty:
        return
    table = Table()
    shown = [c for c in front.columns if c != "is_selected"]
    for c in shown:
        table.add_column(c, no_wrap=True)
    for _, r in front.iterrows():
        cells = [format_value(r[c]) for c in shown]
        if r["is_selected"]:
            cells[0] = f"* {cells[0]}"
        table.add_row(*cells)
    console.print(table)


def _show_importance(console: Any, run: Any, top: int = 5) -> None:
    """The most important hyperparameters per objective (a note when they cannot be ranked)."""
    from .results.importance import ImportanceUnavailable, run_importance, terminal_table

    try:
        ranking = run_importance(run)
    except ImportanceUnavailable as e:
        console.print(f"importance: not computed ({e})", style="dim")
        return
    console.print("importance (which hyperparameters mattered, per objective; sweep importance RUN_DIR for all):")
    console.print(terminal_table(ranking, top))


@app.command()
def importance(sources: list[str] = typer.Argument(..., metavar="RUN_DIR...",
                                                   help="A run directory, or several, or a nightly history "
                                                        "(a directory of runs; a glob pattern)."),
               evaluator: str = typer.Option("auto", "--evaluator", help="auto (fANOVA; PED-ANOVA for many "
                                             "trials), fanova or ped_anova."),
               seed: int = typer.Option(0, "--seed", help="The evaluator's seed (the same ranking every time).")
               ) -> None:
    """Which hyperparameters mattered: Optuna's importance per objective, over one run or many."""
    from .results.importance import (EVALUATORS, ImportanceUnavailable, history_importance, run_importance,
                                     terminal_table)

    if evaluator not in EVALUATORS:
        raise UsageError("--evaluator", f"must be one of {', '.join(EVALUATORS)}, got {evaluator!r}")
    try:
        if len(sources) == 1 and _holds_run(sources[0]):
            run = _loaded(_run_dir(sources[0]))
            ranking, what = run_importance(run, evaluator, seed), f"run {run.info.get('run_id')}"
            n = len(run.trials)
        else:
            runs = _loaded_many(sources)
            ranking, what = history_importance(runs.paths, runs.trials, evaluator, seed), f"{len(runs.paths)} runs"
            n = len(runs.trials)
    except ImportanceUnavailable as e:
        _fail(f"{' '.join(sources)}: cannot rank: {e}")
    typer.echo(f"importance over {n} trials of {what} ({evaluator}, seed {seed}); 1 = the most important")
    from rich.console import Console

    Console(width=None if sys.stdout.isatty() else 240).print(terminal_table(ranking))


def _holds_run(source: str) -> bool:
    """Whether ``source`` is one run directory (a run.json in it), not a history or a pattern."""
    if _is_uri(source):
        try:
            return (_where("RUN_DIR", source) / "run.json").is_file()
        except OSError:
            return False
    return (Path(source) / "run.json").is_file()


def _loaded(where: Any) -> Any:
    from .results import load

    try:
        return load(where)
    except Exception as e:  # unreadable table: say which
        _fail(f"{where}: cannot read: {e}".splitlines()[0])


def _loaded_many(sources: list[str]) -> Any:
    from .results import load_many

    try:
        return load_many(sources)
    except FileNotFoundError as e:
        _fail(f"RUN_DIR: {e}".splitlines()[0])
    except Exception as e:  # an unreadable run.json or table
        _fail(f"RUN_DIR: cannot read: {e}".splitlines()[0])


@app.command()
def report(run_dir: str = typer.Argument(..., help="A run directory (a path or a URI)."),
           out: Optional[str] = typer.Option(None, "--out", help="HTML file to write, a path or a URI "
                                             "(default: RUN_DIR/report.html; not one of the run's own files)."),
           open_page: bool = typer.Option(False, "--open", help="Open the page in a web browser.")) -> None:
    """Write a self-contained HTML report of a run (curves, Goldilocks plots, trials table, test score)."""
    from .results import load
    from .storage import Location

    where = _run_dir(run_dir)
    try:
        run = load(where)
    except Exception as e:  # unreadable run.json or table: say which
        _fail(f"{where}: cannot read: {e}".splitlines()[0])
    from .report import write_report

    target = (_where("--out", out) if out is not None and _is_uri(out) else Path(out) if out is not None
              else where / "report.html")
    if not target.parent.is_dir():  # say so before spending seconds on the plots
        _fail(f"{target}: cannot write: no such directory {target.parent}")
    try:
        path = write_report(run, target)
    except OSError as e:
        _fail(f"{target}: cannot write: {getattr(e, 'strerror', None) or e}".splitlines()[0])
    typer.echo(f"report: {path}")
    if open_page:
        import webbrowser

        webbrowser.open(path.resolve().as_uri() if not isinstance(path, Location) else str(path))


@app.command()
def predict(run_dir: str = typer.Argument(..., help="A completed run directory (a path or a URI)."),
            input_file: str = typer.Argument(..., metavar="INPUT", help="What to predict, as the run was trained "
                                             "on: a table's .csv or .parquet file of rows with the training "
                                             "columns (the target and other columns are passed through); for "
                                             "an image folder's run, a folder of images (any depth) or one "
                                             "image (rows: its path); for arrays, a .npz with an array x."),
            out: Optional[str] = typer.Option(None, "--out", help="Where to write the predictions, .csv or .parquet "
                                              "(default: INPUT's name with .predictions.csv); not one of "
                                              "RUN_DIR's own files.")) -> None:
    """Predict with a run's exported model: what it was trained on in (rows, images, arrays), a class
    and its probabilities (or a value) out."""
    from .serving import predict_file

    target, n, notes = predict_file(run_dir, input_file, out)
    for note in notes:
        typer.echo(f"note: {note}")
    typer.echo(f"predicted {n} rows: {target}")


def main(argv: Optional[list[str]] = None, *, catch_internal: bool = False) -> int:
    """Run one command; returns its exit code. The one place errors become lines and exit codes.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        catch_internal: turn an unexpected exception into one line naming the file its traceback
            was written to, exit code 1, as the console script does (:func:`entry`). Off, it
            propagates: tests and programs that call ``main`` see the exception itself.

    Returns:
        0; 2 for a bad spec or argument; 1 for a failed run (or an internal error); 130 for an
        interrupt; a command's own code (3: a nightly regression).
    """
    # A builder, a loader or the model check may import TensorFlow in this process: its C++ logs
    # would fill the user's terminal (the workers get the same setting from WORKER_ENV).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        # Outside standalone mode click *returns* the code of a typer.Exit (from _fail) instead
        # of raising it: keep it, or every error would exit 0.
        rv = app(args=argv, prog_name="sweep", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except SystemExit as e:
        return int(e.code or 0)
    except (SpecError, UsageError) as e:
        _error_line(str(e))
        return 2
    except RunFailed as e:  # says what failed, where its traceback is, and how to resume
        _error_line(str(e))
        return 1
    except Exception as e:
        code = _click_exit_code(e)
        if code is not None:
            return code
        if not catch_internal:
            raise
        _internal_error(e)
        return 1
    return rv if isinstance(rv, int) else 0


def _click_exit_code(e: Exception) -> int | None:
    """The exit code of click's own errors (a usage error is one line, :func:`.options.usage_line`: 2; an
    abort: 130), else None."""
    from .options import usage_line

    # Recent typer vendors its own click (typer._click), whose exceptions derive from
    # typer.TyperException, not from click's: accept both.
    usage: tuple[type, ...] = tuple(c for c in (getattr(typer, "TyperException", None),) if c)
    aborts: tuple[type, ...] = tuple(c for c in (getattr(typer, "Abort", None),) if c)
    try:
        import click

        usage += (click.exceptions.ClickException,)
        aborts += (click.exceptions.Abort,)
    except ImportError:  # pragma: no cover - click is optional with a vendoring typer
        pass
    if isinstance(e, usage) and hasattr(e, "show"):  # one line, as every error (`sweep` alone: its help)
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()
        else:
            _error_line(usage_line(e))
        return int(getattr(e, "exit_code", 2))
    if isinstance(e, aborts):  # click turns Ctrl-C into Abort
        return 130
    return None


def _internal_error(e: BaseException) -> None:
    """One line for an exception nobody expected: its type, its first line, its traceback's file."""
    try:
        where = str(write_traceback(e))
    except OSError as w:  # an unwritable $SWEEP_ERROR_DIR must not hide the error itself
        where = f"not written: {first_line(w)}"
    what = type(e).__name__ + (f": {first_line(e)}" if str(e).strip() else "")
    typer.echo(f"sweep: internal error: {one_line(what)} (traceback: {where})", err=True)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main(catch_internal=True))


if __name__ == "__main__":
    entry()
