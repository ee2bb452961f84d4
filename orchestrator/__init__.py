"""Hyperparameter sweep orchestrator: YAML search spaces → Ray Tune runs of Keras models → Parquet.

Importing the package is cheap: neither Ray nor TensorFlow (nor pandas) is imported until used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DataError, RunFailed, SpecError, UsageError

if TYPE_CHECKING:
    from .api import NotebookRun
    from .execution import RunResult, resume_sweep, run_sweep
    from .results import Run, Runs
    from .spec import SweepSpec

__all__ = ["SpecError", "DataError", "UsageError", "RunFailed", "SweepSpec", "load_spec", "run", "resume",
           "load_model", "run_sweep", "resume_sweep", "RunResult", "Run", "load", "Runs", "load_many", "load_history"]
__version__ = "0.1.0"


def run(spec: Any, **options: Any) -> "NotebookRun":
    """Run a sweep from a notebook or a script; returns the run read back (see :func:`orchestrator.api.run`).

    ``spec`` is a path, a YAML string, a dict or a SweepSpec; ``options`` are ``sweep run``'s
    (``out``, ``address``, ``num_samples``, ``max_concurrent``, ``seed``, ``budget``,
    ``tensorboard``, ``dashboard``, ``mlflow``). Raises what the CLI reports in one line.
    """
    from .api import run as _run

    return _run(spec, **options)


def resume(run_dir: Any, *, address: str | None = None, mlflow: str | None = None) -> "NotebookRun":
    """Resume an interrupted run (``sweep resume``); returns it read back."""
    from .api import resume as _resume

    return _resume(run_dir, address=address, mlflow=mlflow)


def load_model(run_dir: Any) -> Any:
    """A run's exported model (``RUN_DIR/model/``): ``.predict(DataFrame)`` takes raw rows, as
    ``sweep predict`` does; ``.keras_model`` is the Keras model; ``.info`` its model.json."""
    from .serving import load_model as _load_model

    return _load_model(run_dir)


def load(run_dir: str) -> "NotebookRun":
    """Load a run directory (run.json, trials, epochs, events) as pandas DataFrames
    (:func:`orchestrator.api.load`, which reads it with :func:`orchestrator.results.load`).

    ``run_dir`` is a local path or a storage URI (``s3://bucket/results/<run_id>``, ``gs://...``).
    """
    from .api import load as _load

    return _load(run_dir)


def load_many(sources: Any) -> "Runs":
    """Load many runs as one: run directories, a parent directory (any depth), or a glob pattern.

    Returns :class:`~orchestrator.results.Runs`: ``.runs`` (one row per run), and ``.trials``,
    ``.epochs``, ``.events`` stacked across the runs (``run_id`` says which; a hyperparameter a run
    did not have is null there). ``orchestrator.load_many("nightly/")`` reads a nightly history.
    A directory may be a storage URI (``s3://bucket/results``); glob patterns need a local path.
    """
    from .results import load_many as load_runs

    return load_runs(sources)


def load_history(history: str) -> "Runs":
    """Load a nightly history (``sweep nightly --history DIR``) as one: a ``date`` column on every row.

    Only the ``date=YYYY-MM-DD`` partitions are read; see :func:`orchestrator.nightly.load_history`.
    """
    from .nightly import load_history as _load_history

    return _load_history(history)


def __getattr__(name: str) -> Any:
    # run_sweep / resume_sweep: a sweep's run and resume (orchestrator.execution.run), which start Ray
    # only when called.
    if name in ("run_sweep", "resume_sweep", "RunResult"):
        from . import execution

        return getattr(execution, name)
    if name in ("SweepSpec", "load_spec"):
        from . import spec

        return getattr(spec, name)
    if name in ("Run", "Runs"):
        from . import results

        return getattr(results, name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
