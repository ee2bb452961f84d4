"""Nightly sweeps: one run per night into a history partitioned by date, warm-started, compared.

The history is nothing but run directories in Hive-style date partitions::

    HISTORY/date=2026-11-20/<run_id>/run.json, trials.parquet, epochs.parquet, events.parquet, tune/
    HISTORY/date=2026-11-21/<run_id>/...
    HISTORY/_staging/                  a night in progress (and its lock); never read as history

so pandas (:func:`load_history`) and DuckDB read it as one table::

    select * from read_parquet('HISTORY/*/*/trials.parquet', hive_partitioning=true, union_by_name=true)

even when the search space changed between nights: every trial row holds every hyperparameter
(a fixed one its value, an inactive conditional one null), and a column one night's files lack (a
hyperparameter added in a later version) is null in that night's rows.

A night (:func:`run_nightly`):

1. reads the previous nights (partitions dated *before* tonight, so re-running a date sees the
   same past);
2. warm-starts the search with their selected configurations (:func:`warm_start_points`): the
   ``K`` most recent nights and the best night so far, restricted to the hyperparameters tonight's
   spec searches and to values tonight's space allows;
3. runs the sweep into ``HISTORY/_staging/date=D.<token>/`` and, when it finished, swaps that in
   as ``HISTORY/date=D/`` (a rename; an earlier run of the same date is replaced, a failed night
   leaves it untouched). A history on a URI (``s3://``, ``gs://``) has no renames: the run is
   copied into the partition, run.json last, then the partition's other runs are deleted;
4. compares tonight's selected validation metric, and its test score, with the best previous
   night's (:func:`compare`): worse by more than the tolerance is a regression (a test accuracy is
   allowed at least two standard errors on the test split's rows, :func:`test_noise`); and its selected
   model's costs (``params``, ``model_bytes``, ``latency_ms``) with the last night's: bigger or
   slower by more than the tolerance when it is a percentage, else 10%, is one too.

This package imports neither Ray nor TensorFlow; the sweep itself is
:func:`orchestrator.execution.run_sweep`. Its modules: :mod:`.history` (reading the partitions),
:mod:`.rules` (warm start and regression, pure) and :mod:`.night` (running and publishing a night).
"""

from __future__ import annotations

from .history import (PARTITION_KEY, STAGING, Night, is_remote_uri, load_history, parse_date, partition_name,
                      read_nights, run_costs)
from .night import REGRESSION_EXIT_CODE, NightlyResult, run_nightly
from .rules import (COMPARED_COSTS, DEFAULT_COST_TOLERANCE, DEFAULT_TOLERANCE, DEFAULT_WARM_START, Comparison,
                    TEST_NOISE_STANDARD_ERRORS, compare, cost_tolerance, parse_tolerance, test_noise,
                    warm_start_points, watched_costs)

__all__ = [
    "PARTITION_KEY",
    "REGRESSION_EXIT_CODE",
    "Night",
    "Comparison",
    "NightlyResult",
    "parse_date",
    "parse_tolerance",
    "partition_name",
    "read_nights",
    "warm_start_points",
    "compare",
    "run_nightly",
    "load_history",
    "is_remote_uri",
    "STAGING",
    "DEFAULT_TOLERANCE",
    "DEFAULT_WARM_START",
    "DEFAULT_COST_TOLERANCE",
    "COMPARED_COSTS",
    "watched_costs",
    "cost_tolerance",
    "run_costs",
    "test_noise",
    "TEST_NOISE_STANDARD_ERRORS",
]
