"""Hyperparameter sweep orchestrator: YAML search spaces → Ray Tune runs of Keras models → Parquet.

Importing the package is cheap: neither Ray nor TensorFlow is imported until a sweep runs.
"""

from __future__ import annotations

from .errors import DataError, SpecError
from .results import Run, read_run
from .spec import SweepSpec, load_spec

__all__ = ["SpecError", "DataError", "SweepSpec", "load_spec", "Run", "read_run", "load"]
__version__ = "0.1.0"


def load(run_dir: str) -> Run:
    """Load a run directory (run.json, trials, epochs, events) as pandas DataFrames."""
    return read_run(run_dir)
