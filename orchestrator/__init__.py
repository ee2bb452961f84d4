"""Hyperparameter sweep orchestrator: YAML search spaces → Ray Tune runs of Keras models → Parquet.

Importing the package is cheap: neither Ray nor TensorFlow (nor pandas) is imported until used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DataError, SpecError

if TYPE_CHECKING:
    from .results import Run
    from .spec import SweepSpec

__all__ = ["SpecError", "DataError", "SweepSpec", "load_spec", "Run", "read_run", "load"]
__version__ = "0.1.0"


def load(run_dir: str) -> "Run":
    """Load a run directory (run.json, trials, epochs, events) as pandas DataFrames."""
    from .results import read_run

    return read_run(run_dir)


def __getattr__(name: str) -> Any:
    if name in ("SweepSpec", "load_spec"):
        from . import spec

        return getattr(spec, name)
    if name in ("Run", "read_run"):
        from . import results

        return getattr(results, name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
