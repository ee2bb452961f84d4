"""What one epoch of a trial produces: its row, whether it diverged, its objective, its stop reason.

Pure (no TensorFlow, no Ray): the training skeleton (:mod:`orchestrator.training.loop`: a
parallel trial, a babysat model, the refit) hands :class:`EpochPath` Keras' logs after every
epoch and gets back an :class:`Epoch` whose ``row`` is what each reports (epochs.parquet's
columns, plus ``objective`` and ``stop_reason``).

The two strategies differ in one rule, on purpose, and both are here (:class:`Divergence`):

- a parallel trial diverged when a loss is not finite or its training loss is past
  ``explode_factor`` x its first finite value (kept in its checkpoint, so a resumed trial keeps
  it). It then stops: Ray Tune's schedulers see its objective as the worst value. The refit
  follows it on its training loss only (it has no validation split).
- the babysitter also counts a training loss past ``explode_factor`` x the trivial predictor's
  loss (:func:`orchestrator.decisions.babysit_rules.blown_up`, the rule its decider applies), because it reverts
  and cuts the learning rate instead of stopping, and must not keep such an epoch as its best.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..decisions.babysit_rules import blown_up
from ..spec import objective_column

__all__ = ["OBJECTIVE", "WORST_OBJECTIVE", "task_loss", "task_metrics", "learning_rate_at", "baseline_loss", "finite",
           "json_float", "worst_objective", "improves", "stop_reason", "metric_columns", "objective_value",
           "Divergence", "Epoch", "EpochPath"]

OBJECTIVE = "objective"  # the finite copy of the spec's metric that Ray's schedulers/searchers read
# The objective of a diverged epoch (or one without the metric): finite, so that schedulers and
# searchers can rank it, and worse than any real value.
WORST_OBJECTIVE = 1e30


def task_loss(task: str) -> str:
    """The Keras loss the product compiles for a task (integer class labels, or real targets)."""
    return "sparse_categorical_crossentropy" if task == "classification" else "mse"


def task_metrics(task: str) -> list[str]:
    """Keras metric names compiled for a task (besides the loss)."""
    return ["accuracy"] if task == "classification" else ["mae", "mse"]


def metric_columns(logs: Mapping[str, Any], names: Sequence[str]) -> dict[str, float]:
    """An epoch's metric columns from Keras' ``logs``: ``train_<m>`` and ``val_<m>`` for each of
    ``names`` (NaN when not logged), then for every other scalar the model logged (a builder's
    compiled metric: ``auc`` and ``val_auc`` -> ``train_auc``, ``val_auc``), so any metric a model
    reports can be an objective or a constraint."""
    row: dict[str, float] = {}
    for n in names:
        row[f"train_{n}"] = float(logs.get(n, math.nan))
        row[f"val_{n}"] = float(logs.get(f"val_{n}", math.nan))
    for k, v in logs.items():
        column = k if k.startswith("val_") else f"train_{k}"
        if column in row or k == "learning_rate":  # a scheduler callback's; the row has its own
            continue
        try:
            row[column] = float(v)
        except (TypeError, ValueError):  # a metric with one value per class: not a column
            continue
    return row


def objective_value(value: Any, mode: str, *, diverged: bool = False) -> float:
    """An objective as its column holds it: ``value``, or the worst one (:func:`worst_objective`)
    when it is missing, not finite, or its epoch diverged (a diverged trial ranks last on every
    objective, its costs included, or it could sit on a Pareto front by being small)."""
    return float(value) if (finite(value) and not diverged) else worst_objective(mode)


def learning_rate_at(hp: dict[str, Any], epoch: int, base_lr: float | None = None) -> float:
    """The learning rate for 0-based ``epoch`` under the configured schedule.

    ``step`` multiplies by ``lr_decay_rate`` every ``lr_decay_epochs`` epochs; ``exponential``
    by ``lr_decay_rate ** (epoch / lr_decay_epochs)``; ``constant`` keeps it.
    """
    lr = float(hp["learning_rate"] if base_lr is None else base_lr)
    schedule = hp.get("lr_schedule") or "constant"
    rate = float(hp.get("lr_decay_rate") or 1.0)
    every = int(hp.get("lr_decay_epochs") or 1)
    if schedule == "step":
        return lr * rate ** (epoch // every)
    if schedule == "exponential":
        return lr * rate ** (epoch / every)
    return lr


def baseline_loss(task: str, n_classes: int, y_train: Any) -> float:
    """The loss of a trivial predictor: ln(n_classes) for a uniform guess, the variance for regression."""
    import numpy as np

    if task == "classification":
        return math.log(max(n_classes, 2))
    return float(np.var(np.asarray(y_train, dtype=float)))


def finite(x: Any) -> bool:
    """True when ``x`` is a finite number (False for NaN, inf, None and non-numbers)."""
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def json_float(x: float) -> float | None:
    """``x`` for a JSON file: None when it is not finite (JSON has no NaN or infinity)."""
    return float(x) if math.isfinite(x) else None


def worst_objective(mode: str) -> float:
    """The objective of an epoch that must rank last: ``+1e30`` when minimising, ``-1e30`` when maximising."""
    return WORST_OBJECTIVE if mode == "min" else -WORST_OBJECTIVE


def improves(value: float, best: float, mode: str) -> bool:
    """Whether finite ``value`` beats ``best`` (a ``best`` that is not finite means none yet)."""
    if not finite(value):
        return False
    if not finite(best):
        return True
    return value < best if mode == "min" else value > best


def stop_reason(*, epoch: int, max_epochs: int, epoch_s: float, now: float, deadline: float | None,
                decided: str = "", past_deadline: bool = False, callback_stopped: bool = False) -> str:
    """Why training stops after 1-based ``epoch`` ("" to go on), first reason first.

    Args:
        decided: a stop decided on this epoch (a divergence, a babysitter's decision).
        past_deadline: a batch of this epoch ran past the time budget's end.
        callback_stopped: a Keras callback (EarlyStopping) stopped training: ``patience``.
        deadline: the time budget's end: stop when the next epoch would end past it.
    """
    if decided:
        return decided
    if past_deadline:
        return "budget"  # stopped at a batch past the deadline
    if callback_stopped:
        return "patience"
    if epoch >= max_epochs:
        return "max_epochs"
    if deadline is not None and now + epoch_s > deadline:
        return "budget"  # the next epoch would end past the deadline
    return ""


@dataclass
class Divergence:
    """Whether each epoch diverged, by the parallel or the babysitter's rule (see the module).

    Attributes:
        explode_factor: how many times the reference loss a training loss may reach.
        first_loss: the first finite training loss (a parallel trial keeps it in its checkpoint).
        baseline: the trivial predictor's loss, for the babysitter's rule (None: the parallel rule).
        validation: whether there is a validation split (the refit on train+val has none: its
            validation loss is NaN by design, not a divergence).
    """

    explode_factor: float
    first_loss: float | None = None
    baseline: float | None = None
    babysit: bool = False
    validation: bool = True
    train: list[float] = field(default_factory=list)
    val: list[float] = field(default_factory=list)

    @classmethod
    def parallel(cls, explode_factor: float, first_loss: float | None = None, *,
                 validation: bool = True) -> "Divergence":
        """The parallel trial's rule: a non-finite loss, or training loss > factor x its first."""
        return cls(explode_factor, first_loss, validation=validation)

    @classmethod
    def babysitter(cls, explode_factor: float, baseline: float | None) -> "Divergence":
        """The babysitter's rule (:func:`orchestrator.decisions.babysit_rules.blown_up`): also > factor x ``baseline``."""
        return cls(explode_factor, baseline=baseline, babysit=True)

    def __call__(self, train_loss: float, val_loss: float) -> bool:
        """Add one epoch's losses; True when that epoch diverged."""
        self.train.append(train_loss)
        self.val.append(val_loss)
        if self.first_loss is None and finite(train_loss):
            self.first_loss = float(train_loss)
        if self.babysit:
            return blown_up(self.train, self.val, self.baseline, self.explode_factor)[-1]
        return not (finite(train_loss) and (finite(val_loss) or not self.validation)) or (
            self.first_loss is not None and train_loss > self.explode_factor * max(self.first_loss, 1e-12))


@dataclass
class Epoch:
    """One epoch's outcome: its ``row`` (what is reported), the metric's ``value`` and two flags."""

    number: int  # 1-based
    at: float  # when it ended
    row: dict[str, Any]
    value: float
    diverged: bool
    improved: bool  # the metric beat every earlier healthy epoch of the trial


class EpochPath:
    """A trial's epochs, one after the other: builds each epoch's row, flags and stop reason.

    Args:
        metric, mode: the spec's validation metric and its direction.
        task: for the metric columns (``train_<m>``/``val_<m>`` for the loss and each task metric).
        max_epochs: the trial's epochs.
        divergence: the strategy's :class:`Divergence` rule.
        run_started_at, started: clocks of the run and of the trial (for the timing columns).
        deadline: the time budget's end, or None.
        baseline_column: the trivial predictor's loss, reported in every row as ``baseline_loss``
            (None: no such column).
        best: the best metric so far (a resumed trial's; NaN for none).
        first_epoch: the first epoch of this attempt (1, or one past a checkpoint's epoch).
        first_row: columns added to the first epoch's row (the trial's placement).
        costs: the model's costs (:func:`orchestrator.training.costs.costs`), in every row.
        objectives: the objectives after the first, ``(name, mode)`` each (a metric or a cost):
            each epoch's row holds them as ``objective_1``, ``objective_2`` (finite, as ``objective``).
    """

    def __init__(self, *, metric: str, mode: str, task: str, max_epochs: int, divergence: Divergence,
                 run_started_at: float, started: float, deadline: float | None = None,
                 baseline_column: float | None = None, best: float = math.nan, first_epoch: int = 1,
                 first_row: Mapping[str, Any] | None = None, costs: Mapping[str, Any] | None = None,
                 objectives: Sequence[tuple[str, str]] = ()) -> None:
        self.metric, self.mode, self.max_epochs, self.divergence = metric, mode, max_epochs, divergence
        self.names = ["loss", *task_metrics(task)]
        self.run_started_at, self.started, self.deadline = run_started_at, started, deadline
        self.baseline_column = baseline_column
        self.best, self.best_epoch = best, 0
        self.first_epoch, self.first_row = first_epoch, dict(first_row or {})
        self.costs, self.objectives = dict(costs or {}), tuple(objectives)
        self.epoch_started = started
        self.past_deadline = False

    def begin(self, now: float) -> None:
        """An epoch begins (its ``epoch_s`` counts from now)."""
        self.epoch_started = now

    def batch_past_deadline(self) -> bool:
        """Called after a training batch: True (and remembered) once the time budget is over."""
        if self.deadline is not None and time.time() >= self.deadline:
            self.past_deadline = True
        return self.past_deadline

    def end(self, epoch: int, logs: Mapping[str, Any] | None, learning_rate: float, now: float) -> Epoch:
        """1-based ``epoch`` ended with Keras' ``logs``: its row (without its stop reason yet) and flags."""
        logs = dict(logs or {})
        row: dict[str, Any] = {"epoch": epoch, "learning_rate": learning_rate,
                               "elapsed_s": now - self.run_started_at, "trial_elapsed_s": now - self.started,
                               "epoch_s": now - self.epoch_started}
        if self.baseline_column is not None:
            row["baseline_loss"] = self.baseline_column
        row.update(metric_columns(logs, self.names))
        row.update(self.costs)
        value = row.get(self.metric, math.nan)
        diverged = self.divergence(row["train_loss"], row["val_loss"])
        improved = not diverged and improves(value, self.best, self.mode)
        if improved:
            self.best, self.best_epoch = float(value), epoch
        return Epoch(epoch, now, row, value, diverged, improved)

    def conclude(self, e: Epoch, *, decided: str = "", callback_stopped: bool = False) -> str:
        """Complete ``e``'s row (``diverged``, ``objective``, ``stop_reason``); returns the stop reason."""
        row = e.row
        reason = stop_reason(epoch=e.number, max_epochs=self.max_epochs, epoch_s=row["epoch_s"],
                             now=e.at, deadline=self.deadline, decided=decided,
                             past_deadline=self.past_deadline, callback_stopped=callback_stopped)
        row["diverged"] = bool(e.diverged)
        row[OBJECTIVE] = objective_value(e.value, self.mode, diverged=e.diverged)
        self._other_objectives(row, diverged=e.diverged)
        row["stop_reason"] = reason
        if e.number == self.first_epoch:
            row.update(self.first_row)
            row["started_at"] = self.started
        return reason

    def _other_objectives(self, row: dict[str, Any], *, diverged: bool) -> None:
        """``objective_1``, ``objective_2``: each objective after the first from ``row`` (a metric
        column or a cost), as :func:`objective_value` holds it."""
        for i, (name, mode) in enumerate(self.objectives, start=1):
            row[objective_column(i)] = objective_value(row.get(name, math.nan), mode, diverged=diverged)

    def infeasible_row(self, broken: Sequence[str], now: float) -> dict[str, Any]:
        """The one row of a trial whose model broke the cost constraints ``broken`` (it never trains):
        ``infeasible`` True, epoch 0, its costs, the worst ``objective`` (a cost objective keeps its
        value: what the model costs is known), ``stop_reason`` ``infeasible``, the placement."""
        row: dict[str, Any] = {"epoch": 0, "infeasible": True, "broken": ",".join(broken),
                               "elapsed_s": now - self.run_started_at, "trial_elapsed_s": now - self.started,
                               "epoch_s": 0.0, **self.costs, "train_seconds": now - self.started,
                               "diverged": False, OBJECTIVE: worst_objective(self.mode)}
        self._other_objectives(row, diverged=False)
        row["stop_reason"] = "infeasible"
        row.update(self.first_row)
        row["started_at"] = self.started
        return row
