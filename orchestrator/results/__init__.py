"""Results: the run directory's tables, kept in memory while a sweep runs and written atomically.

Layout (see the README's "Results schema"):

    <out>/<run_id>/run.json         resolved spec, versions, hosts, start/end, status, budget
    <out>/<run_id>/trials.parquet   one row per trial
    <out>/<run_id>/epochs.parquet   one row per trial and epoch
    <out>/<run_id>/events.parquet   interventions: scheduler stops, divergence, patience
    <out>/<run_id>/refit_epochs.parquet  the refit's epochs (final: {refit: train+val}), if any

Every file is written to a temporary name in the same directory and renamed over the old one, so
a crash leaves the previous complete file, never a truncated one. (A run on a storage URI is
written so to a local staging copy, which :class:`orchestrator.storage.Mirror` copies there
whole.) Epoch rows are keyed by ``(trial_id, epoch)``: recording the same epoch twice replaces it
instead of duplicating it.

The modules: :mod:`.tables` (the live tables, :class:`RunTables`), :mod:`.goals` (the objectives,
constraints and select rule they rank trials by), :mod:`.status` (how a trial
ended, pure), :mod:`.files` (run ids, atomic writes, strict JSON) and :mod:`.reading` (runs read
back: :func:`load`, :func:`load_many`); on a finished run, :mod:`.front` (its objectives,
constraints and Pareto front as tables) and :mod:`.importance` (which hyperparameters mattered,
Optuna's evaluators on the trials table; imported on demand). This package imports neither Ray
nor TensorFlow.
"""

from __future__ import annotations

from .files import clean_json, new_run_id, write_json, write_parquet
from .goals import COST_COLUMNS, Goals
from .reading import Run, Runs, iter_hp_columns, load, load_many
from .status import asha_rung, classify_failure, end_status
from .tables import EPOCH_FIELDS, RunTables

__all__ = [
    "RunTables",
    "Goals",
    "COST_COLUMNS",
    "new_run_id",
    "write_parquet",
    "write_json",
    "load",
    "load_many",
    "Runs",
    "end_status",
    "asha_rung",
    "EPOCH_FIELDS",
    "classify_failure",
    "Run",
    "clean_json",
    "iter_hp_columns",
]
