"""The Python API: a sweep from a notebook or a script, with the CLI's options and its errors.

    import orchestrator
    run = orchestrator.run("search_spaces/quickstart.yaml", out="results", num_samples=4)
    run.trials, run.epochs, run.events      # DataFrames
    run.best, run.test_metrics              # the selected trial's row, its one test score
    model = run.model()                     # the exported model
    model.predict(frame)                    # raw rows in, predictions out
    run.report()                            # the HTML report

:func:`run` takes a spec as a path, a YAML string, a dict or a loaded
:class:`~orchestrator.spec.SweepSpec`, and the options of ``sweep run`` as keyword arguments. It
raises what the CLI turns into its one-line messages (:class:`~orchestrator.errors.SpecError`,
:class:`~orchestrator.errors.DataError`, :class:`~orchestrator.errors.UsageError`,
:class:`~orchestrator.errors.RunFailed`) and returns the run directory read back
(:class:`~orchestrator.results.Run`), even when no trial produced a result (``run.status``
says ``no_result`` then). Progress is printed with rich, which renders in Jupyter as in a terminal.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from .errors import UsageError
from .results import Run

__all__ = ["run", "resume", "load", "as_spec", "with_options", "OPTIONS", "NotebookRun"]

OPTIONS = ("out", "address", "num_samples", "max_concurrent", "seed", "budget", "tensorboard", "dashboard",
           "mlflow")


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


def with_options(spec: Any, *, num_samples: int | None = None, max_concurrent: int | None = None,
                 seed: int | None = None, names: dict[str, str] | None = None) -> Any:
    """``spec`` with the overrides ``sweep run`` and :func:`run` accept.

    ``names``: how the user spelled each option (``--num-samples`` on the command line), for errors.

    Raises:
        UsageError: an override out of range, naming the option.
    """
    names = names or {}
    changes: dict[str, Any] = {}
    if num_samples is not None:
        if int(num_samples) < 1:
            raise UsageError(names.get("num_samples", "num_samples"), f"must be >= 1, got {num_samples}")
        changes["search"] = spec.search.model_copy(update={"num_samples": int(num_samples)})
    if seed is not None:
        changes["search"] = changes.get("search", spec.search).model_copy(update={"seed": int(seed)})
        changes["seed"] = int(seed)
    if max_concurrent is not None:
        if int(max_concurrent) < 1:
            raise UsageError(names.get("max_concurrent", "max_concurrent"), f"must be >= 1, got {max_concurrent}")
        changes["resources"] = spec.resources.model_copy(update={"max_concurrent": int(max_concurrent)})
    return spec.with_overrides(**changes) if changes else spec


def run(spec: Any, **options: Any) -> Any:
    """Run a sweep and return its run directory read back (:class:`~orchestrator.results.Run`).

    Args:
        spec: a spec file's path, its YAML text, a dict, or a :class:`~orchestrator.spec.SweepSpec`.
        **options: ``out`` (default ``"results"``; a path or a storage URI), ``address`` (a Ray
            cluster), ``num_samples``, ``max_concurrent``, ``seed``, ``budget`` (seconds, or text
            such as ``"5m"``), ``tensorboard``, ``dashboard``, ``mlflow`` (a tracking URI).

    Raises:
        UsageError: an unknown option or a bad value (naming it); SpecError/DataError: the spec
            or its data; RunFailed: the run failed under way (it can be resumed).
    """
    import time

    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UsageError(unknown[0], f"orchestrator.run has no option {unknown[0]!r}; its options: "
                                     f"{', '.join(OPTIONS)}")
    started = time.time()
    from .compare import parse_budget
    from .storage import resolve

    budget = options.get("budget")
    budget_s = None if budget is None else (parse_budget(budget) if isinstance(budget, str) else float(budget))
    if budget_s is not None and budget_s <= 0:
        raise UsageError("budget", f"must be positive, got {budget!r}")
    where = resolve(options.get("out", "results"), "out")
    sweep = with_options(as_spec(spec), num_samples=options.get("num_samples"),
                         max_concurrent=options.get("max_concurrent"), seed=options.get("seed"))
    mlflow_uri = options.get("mlflow") or sweep.tracking.mlflow
    if mlflow_uri:
        from .tracking import require_mlflow

        require_mlflow("mlflow")
    if options.get("dashboard"):
        os.environ["SWEEP_DASHBOARD"] = "1"
    from .execution import run_sweep

    left = None if budget_s is None else max(1.0, budget_s - (time.time() - started))
    result = run_sweep(sweep, where, address=options.get("address"), tensorboard=bool(options.get("tensorboard")),
                       budget_s=left)
    return finish(result.run_dir, mlflow_uri)


def resume(run_dir: Any, *, address: str | None = None, mlflow: str | None = None) -> Any:
    """Resume an interrupted run (as ``sweep resume``) and return it read back."""
    from .execution import resume_sweep

    if mlflow:
        from .tracking import require_mlflow

        require_mlflow("mlflow")
    result = resume_sweep(str(run_dir), address=address)
    return finish(result.run_dir, mlflow)


@dataclasses.dataclass(frozen=True)
class NotebookRun(Run):
    """A run read back (:class:`~orchestrator.results.Run`: ``trials``, ``epochs``, ``events``,
    ``best``, ``test_metrics``, ``model()``) that also writes its HTML report."""

    def report(self, out: Any = None) -> Any:
        """Write the run's HTML report (default ``RUN_DIR/report.html``); returns its path."""
        from .report import write_report

        return write_report(self, out if out is not None else self.path / "report.html")


def load(run_dir: Any) -> Any:
    """A run directory read back as a :class:`NotebookRun` (a :class:`~orchestrator.results.Run`
    that also writes its report)."""
    from .results import read_run

    base = read_run(run_dir)
    return NotebookRun(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})


def finish(run_dir: Any, mlflow_uri: str | None) -> Any:
    """The run read back, logged to MLflow first when a tracking URI is given."""
    done = load(run_dir)
    if mlflow_uri:
        from .tracking import log_run

        log_run(done, mlflow_uri)
    return done
