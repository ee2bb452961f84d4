"""The Python API: a sweep from a notebook or a script, with the CLI's options and its errors.

    import orchestrator
    run = orchestrator.run("search_spaces/quickstart.yaml", out="results", num_samples=4)
    run.trials, run.epochs, run.events      # DataFrames
    run.best, run.test_metrics              # the selected trial's row, its one test score
    run.importance                          # which hyperparameters mattered, per objective
    model = run.model()                     # the exported model
    model.predict(frame)                    # raw rows in, predictions out
    run.report()                            # the HTML report

:func:`run` takes a spec as a path, a YAML string, a dict or a loaded
:class:`~orchestrator.spec.SweepSpec`, and the options of ``sweep run`` as keyword arguments
(:data:`orchestrator.options.OPTIONS`). It raises what the CLI turns into its one-line messages
(:class:`~orchestrator.errors.SpecError`, :class:`~orchestrator.errors.DataError`,
:class:`~orchestrator.errors.UsageError`, :class:`~orchestrator.errors.RunFailed`) and returns
the run directory read back (:class:`NotebookRun`, a :class:`~orchestrator.results.Run`), even
when no trial produced a result (``run.status`` says ``no_result`` then). Progress is printed
with rich, which renders in Jupyter as in a terminal.

``sweep run`` and ``sweep resume`` are thin layers over :func:`run` and :func:`resume`: the
options are parsed, MLflow checked and the run logged here, once, for both.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SpecError, UsageError
from .options import OPTIONS, check_out_dir, parse_budget, with_options
from .results import Run

if TYPE_CHECKING:
    from .execution import RunResult

__all__ = ["run", "resume", "load", "as_spec", "with_options", "OPTIONS", "NotebookRun"]


def as_spec(spec: Any) -> Any:
    """A :class:`~orchestrator.spec.SweepSpec` from a path, a YAML string, a dict or a SweepSpec.

    A string is a path when it names a file or ends in ``.yaml``/``.yml`` with no line break; any
    other string is the spec's YAML text. A dict or YAML text resolves relative paths (data files,
    builders) against the current directory.

    Raises:
        SpecError: as :func:`orchestrator.spec.load_spec` (naming ``<dict>`` or ``<yaml>`` for
            a spec given inline).
    """
    from .errors import SpecError
    from .spec import SweepSpec, load_spec
    from .spec.checks import parse_spec
    from .spec.loading import read_yaml

    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and "\n" not in spec
                                          and (spec.endswith((".yaml", ".yml")) or Path(spec).is_file())):
        return load_spec(spec)
    if isinstance(spec, str):
        doc, label = None, "<yaml>"
        try:
            doc = read_yaml(spec)
        except SpecError as e:
            raise e.with_file(label) from None
    elif isinstance(spec, dict):
        doc, label = spec, "<dict>"
    else:
        raise UsageError("spec", f"a path, a YAML string, a dict or a SweepSpec, not {type(spec).__name__}")
    try:
        return parse_spec(doc, source=None, base_dir=str(Path.cwd()), default_name="sweep")
    except SpecError as e:
        raise e.with_file(label) from None


def run(spec: Any, **options: Any) -> NotebookRun:
    """Run a sweep and return its run directory read back (:class:`NotebookRun`): the one front door,
    ``sweep run`` calls it too.

    Args:
        spec: a spec file's path, its YAML text, a dict, or a :class:`~orchestrator.spec.SweepSpec`.
        **options: ``out`` (default ``"results"``; a path or a storage URI), ``address`` (a Ray
            cluster), ``num_samples``, ``max_concurrent``, ``seed``, ``budget`` (seconds, or text
            such as ``"5m"``, counted from this call), ``tensorboard``, ``dashboard``, ``mlflow``
            (a tracking URI; default: the spec's ``tracking.mlflow``), ``no_runtime`` (an embedded Ray
            even when a warm runtime is up; also ``SWEEP_NO_RUNTIME=1``).

    Raises:
        UsageError: an unknown option or a bad value (naming it as a keyword: ``num_samples``);
            SpecError/DataError: the spec or its data (naming the spec's file when it has one);
            RunFailed: the run failed under way (it can be resumed).
    """
    import time

    started = time.time()  # the budget counts from here: loading the spec is part of it
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UsageError(unknown[0], f"orchestrator.run has no option {unknown[0]!r}; its options: "
                                     f"{', '.join(OPTIONS)}")
    from .storage import resolve

    budget = options.get("budget")
    budget_s = None if budget is None else parse_budget(budget, "budget")
    check_out_dir(options.get("out", "results"), "out")  # a file there: said before Ray starts
    where = resolve(options.get("out", "results"), "out")
    sweep = with_options(as_spec(spec), num_samples=options.get("num_samples"),
                         max_concurrent=options.get("max_concurrent"), seed=options.get("seed"))
    mlflow_uri = _mlflow_uri(options.get("mlflow") or sweep.tracking.mlflow)
    from .runtime import client

    # A warm runtime on this machine (`sweep up`) takes the sweep unless another Ray was named,
    # `no_runtime` was asked for, or it cannot (then one line says why, and an embedded Ray runs it).
    warm = client.choose(options.get("address"), bool(options.get("no_runtime")), sweep.resources.cpu,
                         sweep.resources.gpu, dashboard=bool(options.get("dashboard")))
    left = None if budget_s is None else max(1.0, budget_s - (time.time() - started))
    try:
        if warm is not None:
            print(client.announce(warm), flush=True)
            run_dir = client.run_there(warm, sweep, where, budget_s=left, tensorboard=bool(options.get("tensorboard")))
        else:
            from .execution import run_sweep

            run_dir = run_sweep(sweep, where, address=options.get("address"),
                                tensorboard=bool(options.get("tensorboard")), budget_s=left,
                                dashboard=bool(options.get("dashboard"))).run_dir
    except SpecError as e:
        # raised once the spec was loaded (resources no node has, its data): name its file
        if e.file or not sweep.source:
            raise
        raise e.with_file(Path(sweep.source).name) from None
    return _said(finish(run_dir, mlflow_uri))


def resume(run_dir: Any, *, address: str | None = None, mlflow: str | None = None,
           no_runtime: bool = False) -> NotebookRun:
    """Resume an interrupted run (as ``sweep resume``, which calls it) and return it read back; in
    the warm runtime when one is up (as :func:`run`)."""
    from .runtime import client

    mlflow_uri = _mlflow_uri(mlflow)
    warm = client.choose(address, no_runtime)
    if warm is not None:
        print(client.announce(warm), flush=True)
        return _said(finish(client.resume_there(warm, str(run_dir)), mlflow_uri))
    from .execution import resume_sweep

    result = resume_sweep(str(run_dir), address=address)
    return _said(finish(result.run_dir, mlflow_uri))


def _mlflow_uri(uri: str | None) -> str | None:
    """The tracking URI a run will be logged to, once MLflow is known to be installed (before the
    run starts, so a missing MLflow costs nothing)."""
    if uri:
        from .tracking import require_mlflow

        require_mlflow("mlflow")
    return uri or None


@dataclasses.dataclass(frozen=True)
class NotebookRun(Run):
    """A run read back (:class:`~orchestrator.results.Run`: ``trials``, ``epochs``, ``events``,
    ``best``, ``test_metrics``, ``model()``) that also writes its HTML report and ranks its
    hyperparameters (``importance``).

    Attributes:
        mlflow_uri: the MLflow tracking URI the run was logged to by :func:`run`, else None.
        mlflow_parent: the MLflow id of the run's parent run there, else None.
    """

    mlflow_uri: str | None = None
    mlflow_parent: str | None = None

    def report(self, out: Any = None) -> Any:
        """Write the run's HTML report (default ``RUN_DIR/report.html``); returns its path."""
        from .report import write_report

        return write_report(self, out if out is not None else self.path / "report.html")

    @functools.cached_property
    def importance(self) -> Any:
        """Which hyperparameters mattered, per objective: a DataFrame ``objective, param,
        importance, rank`` (rank 1 the most important), from Optuna's evaluators on the trials that
        finished an epoch (:mod:`orchestrator.results.importance`; computed on first use, and cached in
        run.json for a finished local run).

        Raises:
            orchestrator.results.importance.ImportanceUnavailable: nothing to rank (no searched
                hyperparameter, too few trials).
        """
        from .results.importance import run_importance

        return run_importance(self)

    @property
    def result(self) -> RunResult:
        """What the run left behind, from its run.json, as :func:`orchestrator.run_sweep` returns it:
        its trials' counts by status, the selected trial, its score and test scores, the model file
        (what ``sweep run`` prints)."""
        from .execution import RunResult

        info = self.info
        sel = info.get("selected") or {}
        metric = str((info.get("budget") or {}).get("metric", ""))
        model_file = (info.get("model") or {}).get("file")
        return RunResult(run_dir=self.path, run_id=str(info.get("run_id") or self.path.name), status=self.status,
                         selected=sel.get("trial_id"),
                         best_value=_number(sel.get(f"best_{metric}")) if sel else None,
                         test_metrics={k: _number(v) for k, v in self.test_metrics.items()},
                         counts={str(k): int(v) for k, v in (info.get("counts") or {}).items()}, metric=metric,
                         model=None if not model_file else f"{self.path}/{model_file}",
                         reason=info.get("no_result_reason"), why=(info.get("select") or {}).get("why"),
                         test_line=self.test_line)


def _number(value: Any) -> float:
    # run.json holds a score that was not finite as null (strict JSON): NaN again, as the run had it
    return math.nan if value is None else float(value)


def load(run_dir: Any) -> NotebookRun:
    """A run directory read back as a :class:`NotebookRun` (a :class:`~orchestrator.results.Run`
    that also writes its report): a local path or a storage URI."""
    from .results import load as load_run
    from .storage import Location, is_uri

    if not isinstance(run_dir, Location) and not is_uri(str(run_dir)) and not Path(run_dir, "run.json").is_file():
        raise UsageError("run_dir", f"{run_dir}: not a run directory (no run.json)")
    base = load_run(run_dir)
    return NotebookRun(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})


def result_lines(result: RunResult) -> list[str]:
    """What a run says when it has ended (``sweep run``, ``resume``, ``nightly``, and
    :func:`run` and :func:`resume` from Python): its trials' counts, then the selected trial with its
    one test score, why a rule chose it, its exported model and how to predict with it, and where the
    results are. Only the counts when nothing was selected (the command then fails naming why)."""
    from .serving import predict_hint

    counts = ", ".join(f"{v} {k}" for k, v in sorted(result.counts.items()))
    lines = [f"run {result.run_id}: {counts}"]
    if result.selected is None:
        return lines
    lines.append(f"selected {result.selected}: {result.metric}={result.best_value:.4f}; {result.test_line}")
    if result.why:  # a rule other than "the best first objective" chose it: say how
        lines.append(f"  chosen: {result.why}")
    if result.model:
        lines.append(f"model: {result.model} ({predict_hint(result.run_dir)})")
    lines.append(f"results: {result.run_dir}")
    return lines


def _said(done: NotebookRun) -> NotebookRun:
    """Print how ``done`` ended (its MLflow parent run first, then :func:`result_lines`), as the CLI
    shows it; a notebook's cell or a script then shows the selected trial and where it went."""
    if done.mlflow_parent:
        print(f"mlflow: {done.mlflow_uri} (parent run {done.mlflow_parent})", flush=True)
    for line in result_lines(done.result):
        print(line, flush=True)
    return done


def finish(run_dir: Any, mlflow_uri: str | None) -> NotebookRun:
    """The run read back, logged to MLflow first when a tracking URI is given (its parent run's id
    in :attr:`NotebookRun.mlflow_parent`)."""
    done = load(run_dir)
    if not mlflow_uri:
        return done
    from .tracking import log_run

    return dataclasses.replace(done, mlflow_uri=mlflow_uri, mlflow_parent=log_run(done, mlflow_uri))
