"""Sweep spec: a YAML file in ``search_spaces/`` turned into a typed, immutable :class:`SweepSpec`.

Loading is safe YAML only (:mod:`~orchestrator.spec.loading`). Structure is checked by pydantic
(unknown keys, wrong types: :mod:`~orchestrator.spec.sections`, :mod:`~orchestrator.spec.distributions`);
the meaning (ranges, log bounds, conditions, metric vs task) by :mod:`~orchestrator.spec.params`
and :mod:`~orchestrator.spec.checks`, against the table of the model's hyperparameters
(:mod:`~orchestrator.spec.hyperparameters`). Every problem is a
:class:`~orchestrator.errors.SpecError` whose text is one line naming the file and key path, e.g.
``quickstart.yaml: params.learning_rate.low: must be > 0 for a log scale, got 0``.

This package imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

from .checks import MAX_GRID_TRIALS, metric_names, parse_spec
from .distributions import Choice, Constant, Grid, IntRange, LogUniform, Param, Uniform, active, pbt_mutable
from .hyperparameters import ACTIVATIONS, HYPERPARAMETERS, LR_SCHEDULES, OPTIMIZERS, Scalar, check_value
from .loading import MAX_SPEC_BYTES, MAX_YAML_ALIASES, MAX_YAML_DEPTH, MAX_YAML_NODES, load_spec
from .sections import (DEFAULT_NUM_SAMPLES, BabysitSpec, DataSpec, DivergenceSpec, EarlyStoppingSpec,
                       ExperimentPlateauSpec, MetricSpec, ResourcesSpec, SchedulerSpec, SearchSpec, SplitSpec,
                       StoppersSpec, SweepSpec, TrialPlateauSpec, count_trials)

__all__ = [
    # the model's hyperparameters
    "HYPERPARAMETERS", "OPTIMIZERS", "ACTIVATIONS", "LR_SCHEDULES", "Scalar", "check_value",
    # distributions
    "Constant", "Grid", "Choice", "Uniform", "LogUniform", "IntRange", "Param", "active", "pbt_mutable",
    # sections and the whole
    "SplitSpec", "DataSpec", "MetricSpec", "SearchSpec", "SchedulerSpec", "TrialPlateauSpec",
    "ExperimentPlateauSpec", "StoppersSpec", "EarlyStoppingSpec", "DivergenceSpec", "ResourcesSpec",
    "BabysitSpec", "SweepSpec",
    # how many trials
    "DEFAULT_NUM_SAMPLES", "count_trials", "MAX_GRID_TRIALS",
    # loading and validation
    "load_spec", "parse_spec", "metric_names",
    "MAX_SPEC_BYTES", "MAX_YAML_NODES", "MAX_YAML_ALIASES", "MAX_YAML_DEPTH",
]
