"""What a sweep optimises and under which limits: ``metric``, ``objectives``, ``constraints``, ``select``.

A spec names one metric (``metric: val_accuracy``) or one to three ``objectives``, each a metric
the model reports (``val_<m>``/``train_<m>``) or one of the :data:`COSTS` every trial records
(``params``, ``latency_ms``, ...). ``constraints`` bound any of those names (``{max: x}`` and/or
``{min: x}``); ``select`` says which one trial the run keeps (:data:`SELECT_RULES`). This module
holds those sections' models and turns what a spec writes into resolved values
(:func:`resolve_goals`): every objective with its mode, ``metric`` equal to the first one, the
rule's defaults filled in. Pure: no Ray, no TensorFlow.

Which metric names a model reports is known here for the built-in families (the task's loss and
metrics); a user's builder may report any name, so its names are checked for their form here and
against the built model by the model check (:mod:`orchestrator.training.probe`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import Field

from ..errors import SpecError
from .distributions import Frozen
from .pydantic_errors import validate

__all__ = ["COSTS", "MODEL_COSTS", "MAX_OBJECTIVES", "SELECT_RULES", "DEFAULT_TOLERANCE", "Mode", "MetricSpec",
           "Objective", "Bound", "SelectSpec", "Goals", "is_cost", "default_mode", "known_mode", "metric_names",
           "task_metric_names", "objective_column", "resolve_metric", "resolve_goals", "describe_goals"]

Mode = Literal["min", "max"]

# What every trial records of its model, all better when lower. Definitions (measured by
# orchestrator.training): params = trainable parameters, params_total = all parameters,
# model_bytes = size of the weights file, latency_ms / latency_batch_ms = median time of one
# prediction on a batch of 1 / of the configuration's batch_size, train_seconds = training time.
COSTS: tuple[str, ...] = ("params", "params_total", "model_bytes", "latency_ms", "latency_batch_ms", "train_seconds")
# The costs known as soon as the model is built, before its first epoch (a constraint on one of
# these ends a trial before it trains); train_seconds is known only as the trial trains.
MODEL_COSTS: tuple[str, ...] = tuple(c for c in COSTS if c != "train_seconds")
MAX_OBJECTIVES = 3
SELECT_RULES: tuple[str, ...] = ("best", "within", "knee")
DEFAULT_TOLERANCE = 0.01  # select: {rule: within}: one point of accuracy

# Words of a metric's name that say it is better when higher (val_auc, val_f1_score, val_r2_score,
# val_top_k_categorical_accuracy) or lower (val_loss, val_mean_absolute_error).
_MAX_WORDS = frozenset({"accuracy", "auc", "precision", "recall", "f1", "r2"})
_MIN_WORDS = frozenset({"loss", "mae", "mse", "error", "crossentropy", "hinge", "mape", "msle", "rmse"})
_METRIC = re.compile(r"(val|train)_[A-Za-z_][A-Za-z0-9_]*")


class MetricSpec(Frozen):
    """The validation metric that selects; ``mode`` follows from the name when not given."""

    name: str = "val_loss"
    mode: Mode | None = None


class Objective(Frozen):
    """One objective: a metric or a cost, and whether it is better when lower or higher."""

    name: str
    mode: Mode | None = None


class Bound(Frozen):
    """A constraint on one metric or cost: at most ``max`` and/or at least ``min`` (both included)."""

    max: float | None = Field(None, allow_inf_nan=False)
    min: float | None = Field(None, allow_inf_nan=False)

    def allows(self, value: float | None) -> bool:
        """Whether ``value`` keeps the bound (a missing or NaN value does not)."""
        return self.excess(value) == 0.0

    def excess(self, value: float | None) -> float:
        """How far ``value`` lies outside the bound, in the value's units (0 inside; inf when missing)."""
        if value is None or not math.isfinite(float(value)):
            return math.inf
        v = float(value)
        over = v - self.max if self.max is not None and v > self.max else 0.0
        under = self.min - v if self.min is not None and v < self.min else 0.0
        return max(over, under)

    def text(self, name: str) -> str:
        """``params <= 200000``, ``val_accuracy >= 0.9``, ``0.1 <= latency_ms <= 2``."""
        if self.max is not None and self.min is not None:
            return f"{self.min:g} <= {name} <= {self.max:g}"
        return f"{name} <= {self.max:g}" if self.max is not None else f"{name} >= {self.min:g}"


class SelectSpec(Frozen):
    """Which one trial the run keeps among the feasible ones.

    - ``best``: the best first objective (the default);
    - ``within``: among the trials within ``tolerance`` (in its units) of the best ``of``, the best
      ``then`` (``{rule: within, of: val_accuracy, tolerance: 0.01, then: params}``: the smallest
      model within one point of the best accuracy);
    - ``knee``: the point of the Pareto front farthest from the line (plane) through its extremes.

    A resolved spec has ``of``, ``tolerance`` and ``then`` set for ``within`` and None otherwise.
    """

    rule: Literal["best", "within", "knee"] = "best"
    of: str | None = None
    tolerance: float | None = Field(None, ge=0, allow_inf_nan=False)
    then: str | None = None


@dataclass(frozen=True)
class Goals:
    """The resolved ``metric``, ``objectives``, ``constraints`` and ``select`` of a spec."""

    metric: MetricSpec
    objectives: tuple[Objective, ...]
    constraints: dict[str, Bound]
    select: SelectSpec


def is_cost(name: str) -> bool:
    """Whether ``name`` is one of the :data:`COSTS` a trial records of its model."""
    return name in COSTS


def known_mode(name: str) -> Mode | None:
    """The direction of a metric or cost when its name says it (None: a name it cannot tell)."""
    if is_cost(name):
        return "min"
    words = set(name.removeprefix("val_").removeprefix("train_").lower().split("_"))
    if words & _MAX_WORDS:
        return "max"
    if words & _MIN_WORDS:
        return "min"
    return None


def default_mode(name: str) -> Mode:
    """The mode an objective gets when the spec gives none: ``max`` for accuracy, auc, precision,
    recall, f1 (and r2), ``min`` for everything else (losses, errors, every cost)."""
    return known_mode(name) or "min"


def task_metric_names(task: str) -> list[str]:
    """The metrics the built-in families compile for ``task``, the loss first (without a prefix)."""
    return ["loss", "accuracy"] if task == "classification" else ["loss", "mae", "mse"]


def metric_names(task: str) -> list[str]:
    """The validation metrics a sweep of ``task`` can select by (and early stopping can watch)."""
    return [f"val_{m}" for m in task_metric_names(task)]


def objective_column(index: int) -> str:
    """The column of a trial's row holding objective ``index`` as a finite number: ``objective``
    for the first (as with one objective), ``objective_1``, ``objective_2`` for the others."""
    return "objective" if index == 0 else f"objective_{index}"


def _check_mode(name: str, mode: Mode | None, key: str) -> Mode:
    """``mode`` as written, checked against what the name says; the name's default when not written."""
    known = known_mode(name)
    if mode is None:
        return known or "min"
    if known is not None and mode != known:
        raise SpecError(key, f"{name} is better when it is {'higher' if known == 'max' else 'lower'}: "
                        f"mode must be {known!r}, got {mode!r}")
    return mode


def _check_name(name: str, key: str, task: str, kind: str, *, first: bool = False) -> None:
    """``name`` is a cost or a metric the model reports; the first objective a validation metric."""
    if first and is_cost(name):
        raise SpecError(key, f"the first objective picks each trial's best epoch and drives early stopping: "
                        f"it must be a validation metric, got the cost {name!r} (list it after the metric)")
    if is_cost(name):
        return
    if name.startswith("test_"):
        raise SpecError(key, f"got {name!r}: the test split is never used for selection (use val_...)")
    prefixes = ("val",) if first else ("val", "train")
    if kind != "builder":
        allowed = [f"{p}_{m}" for p in prefixes for m in task_metric_names(task)]
        if name not in allowed:
            costs = "" if first else f"a cost ({', '.join(COSTS)}) or "
            raise SpecError(key, f"must be {costs}one of {', '.join(allowed)} for {task}, got {name!r}")
        return
    if not _METRIC.fullmatch(name) or (first and not name.startswith("val_")):
        what = "val_<name>" if first else f"a cost ({', '.join(COSTS)}) or val_<name> / train_<name>"
        raise SpecError(key, f"must be {what}, a metric the builder's model reports (e.g. val_auc), got {name!r}")


def resolve_metric(m: Union[str, MetricSpec], task: str, kind: str = "mlp") -> MetricSpec:
    """The ``metric`` section resolved: the name checked for the task (a builder's model may report
    any ``val_<name>``; the model check looks), the mode from the name."""
    if isinstance(m, str):
        m = MetricSpec(name=m)
    allowed = metric_names(task)
    if kind == "builder":
        _check_name(m.name, "metric.name", task, kind, first=True)
    elif m.name not in allowed:
        hint = " (the test split is never used for selection)" if m.name.startswith("test") else ""
        raise SpecError("metric.name", f"must be one of {', '.join(allowed)} for {task}, got {m.name!r}{hint}")
    return MetricSpec(name=m.name, mode=_check_mode(m.name, m.mode, "metric.mode"))


def _resolve_objectives(raw: Any, metric: Union[str, MetricSpec], metric_given: bool, task: str,
                        kind: str) -> tuple[Objective, ...]:
    if raw is None:
        m = resolve_metric(metric, task, kind)
        return (Objective(name=m.name, mode=m.mode),)
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_OBJECTIVES:
        got = f"{len(raw)}" if isinstance(raw, list) else f"a {type(raw).__name__}"
        raise SpecError("objectives", f"must be a list of 1 to {MAX_OBJECTIVES} objectives "
                        f"(e.g. [{{name: val_accuracy}}, {{name: params}}]), got {got}")
    out: list[Objective] = []
    for i, item in enumerate(raw):
        key = f"objectives[{i}]"
        obj = Objective(name=item) if isinstance(item, str) else validate(Objective, item, key)
        _check_name(obj.name, f"{key}.name", task, kind, first=i == 0)
        if any(o.name == obj.name for o in out):
            raise SpecError(f"{key}.name", f"{obj.name} is already an objective; each may be listed once")
        out.append(Objective(name=obj.name, mode=_check_mode(obj.name, obj.mode, f"{key}.mode")))
    if metric_given:
        m = MetricSpec(name=metric) if isinstance(metric, str) else metric
        if m.name != out[0].name:
            raise SpecError("metric", f"is {m.name} but the first objective is {out[0].name}; the metric is the "
                            "first objective: leave metric out or make them the same")
        if m.mode is not None and m.mode != out[0].mode:
            raise SpecError("metric.mode", f"is {m.mode} but objectives[0] is {out[0].mode}; give the mode once")
    return tuple(out)


def _resolve_constraints(raw: Any, task: str, kind: str) -> dict[str, Bound]:
    if not isinstance(raw, dict):
        raise SpecError("constraints", f"must be a mapping of names to bounds (e.g. {{params: {{max: 200000}}}}), "
                        f"got a {type(raw).__name__}")
    out: dict[str, Bound] = {}
    for name, value in raw.items():
        key = f"constraints.{name}"
        _check_name(str(name), key, task, kind)
        bound = validate(Bound, value, key)
        if bound.max is None and bound.min is None:
            raise SpecError(key, "give max and/or min, e.g. {max: 200000}")
        if bound.max is not None and bound.min is not None and bound.min > bound.max:
            raise SpecError(f"{key}.min", f"must be at most max ({bound.max:g}), got {bound.min:g}")
        out[str(name)] = bound
    return out


def _resolve_select(raw: SelectSpec, objectives: tuple[Objective, ...], task: str, kind: str) -> SelectSpec:
    if raw.rule != "within":
        for field in ("of", "tolerance", "then"):
            if getattr(raw, field) is not None:
                raise SpecError(f"select.{field}", f"only with rule: within (the rule is {raw.rule})")
        if raw.rule == "knee" and len(objectives) < 2:
            raise SpecError("select.rule", "knee picks a point of the Pareto front: it needs two or three "
                            "objectives, got one")
        return raw
    of = raw.of or objectives[0].name
    then = raw.then or (objectives[1].name if len(objectives) > 1 else "params")
    _check_name(of, "select.of", task, kind)
    _check_name(then, "select.then", task, kind)
    if then == of:
        raise SpecError("select.then", f"must differ from select.of ({of}): it picks among the trials near the best {of}")
    tolerance = DEFAULT_TOLERANCE if raw.tolerance is None else raw.tolerance
    return SelectSpec(rule="within", of=of, tolerance=tolerance, then=then)


def resolve_goals(*, objectives: Any, metric: Union[str, MetricSpec], metric_given: bool, constraints: Any,
                  select: SelectSpec, task: str, kind: str) -> Goals:
    """What a spec optimises, resolved (see the module's docstring).

    Args:
        objectives: the ``objectives`` section as written (None: absent; then ``metric`` is the one objective).
        metric: the ``metric`` section; ``metric_given``: whether the spec wrote it (it must then
            be the first objective).
        constraints: the ``constraints`` section as written (a mapping of names to ``{max, min}``).
        select: the ``select`` section (structure validated).
        task: ``classification`` or ``regression`` (the built-in families' metric names).
        kind: the model's kind (``mlp``, ``cnn``, ``builder``: a builder may report any metric name).

    Raises:
        SpecError: naming the key (``objectives[1].name``, ``constraints.params.min``, ``select.then``...).
    """
    objs = _resolve_objectives(objectives, metric, metric_given, task, kind)
    return Goals(metric=MetricSpec(name=objs[0].name, mode=objs[0].mode), objectives=objs,
                 constraints=_resolve_constraints(constraints, task, kind),
                 select=_resolve_select(select, objs, task, kind))


def describe_goals(objectives: tuple[Objective, ...], constraints: dict[str, Bound], select: SelectSpec) -> str:
    """What ``sweep validate`` says of them: ``metric val_loss (min)`` for one objective and nothing
    else, else the objectives, the constraints and a rule other than ``best``."""
    if len(objectives) == 1:
        parts = [f"metric {objectives[0].name} ({objectives[0].mode})"]
    else:
        parts = ["objectives " + ", ".join(f"{o.name} ({o.mode})" for o in objectives)]
    if constraints:
        parts.append("constraints " + ", ".join(b.text(n) for n, b in constraints.items()))
    if select.rule == "within" and select.then is not None:
        mode = next((o.mode for o in objectives if o.name == select.then), None) or default_mode(select.then)
        parts.append(f"select the {'lowest' if mode == 'min' else 'highest'} {select.then} within "
                     f"{select.tolerance:g} of the best {select.of}")
    elif select.rule == "knee":
        parts.append("select the knee of the front")
    return "; ".join(parts)
