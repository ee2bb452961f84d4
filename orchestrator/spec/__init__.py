"""Sweep spec: a YAML file in ``search_spaces/`` turned into a typed, immutable :class:`SweepSpec`.

Loading is safe YAML only (:mod:`~orchestrator.spec.loading`). Structure is checked by pydantic
(unknown keys, wrong types: :mod:`~orchestrator.spec.sections`, :mod:`~orchestrator.spec.distributions`);
the model (a family or the user's builder) and the meaning (ranges, log bounds, conditions,
metric vs task) by :mod:`~orchestrator.spec.params` and :mod:`~orchestrator.spec.checks`, what the
sweep optimises (objectives, constraints, select) by :mod:`~orchestrator.spec.objectives`, against
the tables of the hyperparameters the product owns (:mod:`~orchestrator.spec.hyperparameters`).
A builder named in a spec is only checked for its form here, never imported. Every problem is a
:class:`~orchestrator.errors.SpecError` whose text is one line naming the file and key path, e.g.
``quickstart.yaml: params.learning_rate.low: must be > 0 for a log scale, got 0``.

This package imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

from .checks import MAX_GRID_TRIALS, parse_spec
from .distributions import (GRAPH_KEEPING, Choice, Constant, Grid, IntRange, LogUniform, Param, Uniform, active,
                            pbt_mutable)
from .hyperparameters import (ACTIVATIONS, CNN_HYPERPARAMETERS, FAMILY_HYPERPARAMETERS, HYPERPARAMETERS,
                              LR_SCHEDULES, MLP_HYPERPARAMETERS, OPTIMIZERS, POOLINGS, TRAINING_HYPERPARAMETERS, Scalar,
                              check_value, hyperparameters)
from .loading import MAX_SPEC_BYTES, MAX_YAML_ALIASES, MAX_YAML_DEPTH, MAX_YAML_NODES, load_spec
from .objectives import (COSTS, DEFAULT_TOLERANCE, MAX_OBJECTIVES, MODEL_COSTS, SELECT_RULES, Bound, MetricSpec,
                         Objective, SelectSpec, default_mode, is_cost, known_mode, metric_names, objective_column)
from .sections import (DEFAULT_ALGORITHM_IS_TPE, DEFAULT_NUM_SAMPLES, STRATEGIES, BabysitSpec, DataSpec,
                       DivergenceSpec, EarlyStoppingSpec, ExperimentPlateauSpec, ModelSpec, ResourcesSpec,
                       SchedulerSpec, SearchSpec, SplitSpec, StoppersSpec, StrategyName, SweepSpec, TrialPlateauSpec,
                       count_trials, default_algorithm)

__all__ = [
    # the hyperparameters the product owns, per model family
    "HYPERPARAMETERS", "MLP_HYPERPARAMETERS", "CNN_HYPERPARAMETERS", "TRAINING_HYPERPARAMETERS",
    "FAMILY_HYPERPARAMETERS",
    "hyperparameters", "OPTIMIZERS", "ACTIVATIONS", "LR_SCHEDULES", "POOLINGS", "Scalar", "check_value",
    # distributions
    "Constant", "Grid", "Choice", "Uniform", "LogUniform", "IntRange", "Param", "active", "pbt_mutable",
    "GRAPH_KEEPING",
    # sections and the whole
    "SplitSpec", "DataSpec", "ModelSpec", "MetricSpec", "SearchSpec", "SchedulerSpec", "TrialPlateauSpec",
    "ExperimentPlateauSpec", "StoppersSpec", "EarlyStoppingSpec", "DivergenceSpec", "ResourcesSpec",
    "BabysitSpec", "SweepSpec",
    # the names a spec's strategy accepts
    "STRATEGIES", "StrategyName",
    # what the sweep optimises: objectives, constraints, the select rule, the costs a trial records
    "Objective", "Bound", "SelectSpec", "COSTS", "MODEL_COSTS", "MAX_OBJECTIVES", "SELECT_RULES", "DEFAULT_TOLERANCE",
    "is_cost", "default_mode", "known_mode", "objective_column",
    # how many trials, and the search a spec gets when it names none
    "DEFAULT_NUM_SAMPLES", "count_trials", "MAX_GRID_TRIALS", "DEFAULT_ALGORITHM_IS_TPE", "default_algorithm",
    # loading and validation
    "load_spec", "parse_spec", "metric_names",
    "MAX_SPEC_BYTES", "MAX_YAML_NODES", "MAX_YAML_ALIASES", "MAX_YAML_DEPTH",
]
