"""What a trial reports of its model's costs and its objectives, without TensorFlow (importing
orchestrator.training.costs imports none: the unit tests' guard fails any test here that would).

The pure parts of orchestrator.training.costs (the timing median, the batch it times, which cost
constraints a model breaks, the per-worker figures) and of orchestrator.training.epoch (every row
carries the costs and one finite column per objective after the first; a model that broke a cost
constraint reports one ``infeasible`` row; a builder's compiled metric becomes a column).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from orchestrator.spec import Bound
from orchestrator.training import costs as C
from orchestrator.training.epoch import (
    OBJECTIVE,
    WORST_OBJECTIVE,
    Divergence,
    EpochPath,
    metric_columns,
    objective_value,
)
from orchestrator.training.probe import metric_columns_of

COSTS = {"params": 4810, "params_total": 4810, "model_bytes": 34248, "latency_ms": 0.8, "latency_batch_ms": 1.1}


def _path(objectives=(), costs=COSTS, **kw) -> EpochPath:
    options: dict = {"metric": "val_accuracy", "mode": "max", "task": "classification", "max_epochs": 3,
                     "divergence": Divergence.parallel(10.0), "run_started_at": 100.0, "started": 110.0,
                     "costs": costs, "objectives": objectives}
    options.update(kw)
    return EpochPath(**options)


def _logs(loss: float, val_loss: float, acc: float = 0.5, val_acc: float = 0.5, **more: float) -> dict[str, float]:
    return {"loss": loss, "val_loss": val_loss, "accuracy": acc, "val_accuracy": val_acc, **more}


def test_latency_is_the_median_of_the_timed_calls_after_the_warm_up() -> None:
    ticks = iter([0.0, 0.010, 1.0, 1.002, 2.0, 2.003, 3.0, 3.050, 4.0, 4.004])
    calls: list[int] = []
    ms = C.median_ms(lambda: calls.append(1), warmup=2, repeats=5, budget_s=10.0, clock=lambda: next(ticks))
    assert len(calls) == 7  # two untimed, five timed
    assert ms == pytest.approx(4.0)  # median of 10, 2, 3, 50, 4 ms: one slow call does not move it


def test_timing_stops_once_its_budget_is_spent_but_not_before_the_minimum_calls() -> None:
    clock = iter(float(i) for i in range(100))  # every call takes one second
    calls: list[int] = []
    ms = C.median_ms(lambda: calls.append(1), warmup=1, repeats=9, min_repeats=3, budget_s=0.5,
                     clock=lambda: next(clock))
    assert len(calls) == 1 + 3 and ms == pytest.approx(1000.0)


def test_the_timed_batch_takes_the_first_examples_and_repeats_them_when_there_are_too_few() -> None:
    X = np.arange(12, dtype="float32").reshape(3, 2, 2)
    assert C.batch_of(X, 1).shape == (1, 2, 2) and (C.batch_of(X, 1)[0] == X[0]).all()
    big = C.batch_of(X, 7)
    assert big.shape == (7, 2, 2) and big.flags["C_CONTIGUOUS"]
    assert (big[3] == X[0]).all() and (big[6] == X[0]).all()
    with pytest.raises(ValueError, match="no examples"):
        C.batch_of(X[:0], 4)


def test_a_cost_constraint_is_broken_by_a_value_outside_its_bound_and_a_metric_one_is_not_judged_here() -> None:
    bounds = {"params": Bound(max=4000), "latency_ms": Bound(max=2.0), "model_bytes": Bound(min=1e6),
              "val_loss": Bound(max=0.5)}
    assert C.broken_constraints(COSTS, bounds) == ["params", "model_bytes"]
    assert C.broken_constraints(COSTS, {"params": Bound(max=4810)}) == []  # the bound itself is allowed
    assert C.broken_constraints({**COSTS, "latency_ms": math.nan}, {"latency_ms": Bound(max=2.0)}) == ["latency_ms"]
    assert C.broken_constraints({}, bounds) == []  # nothing measured (the refit): nothing judged


def test_figures_are_kept_per_graph_key_and_measured_again_without_one() -> None:
    C.clear_cost_cache()
    measured: list[str] = []

    def measure(value: float):
        return lambda: measured.append("x") or value

    assert C.kept_figure(("mlp", 1), "model_bytes", measure(10.0)) == 10.0
    assert C.kept_figure(("mlp", 1), "model_bytes", measure(99.0)) == 10.0  # the same graph: not measured again
    assert C.kept_figure(("mlp", 1), ("latency", 32), measure(2.0)) == 2.0  # another batch size is
    assert C.kept_figure(("mlp", 2), "model_bytes", measure(20.0)) == 20.0
    assert C.kept_figure(None, "model_bytes", measure(30.0)) == 30.0  # a builder's model: measured every time
    assert C.kept_figure(None, "model_bytes", measure(31.0)) == 31.0
    assert len(measured) == 5
    C.clear_cost_cache()
    assert C.kept_figure(("mlp", 1), "model_bytes", measure(11.0)) == 11.0


def test_every_row_carries_the_costs_and_a_cost_objective_is_the_cost() -> None:
    path = _path(objectives=(("params", "min"), ("val_loss", "min")))
    path.begin(111.0)
    e = path.end(1, _logs(2.0, 2.1, val_acc=0.25), 0.01, 113.0)
    path.conclude(e)
    assert {k: e.row[k] for k in COSTS} == COSTS
    assert e.row[OBJECTIVE] == 0.25
    assert e.row["objective_1"] == 4810.0  # params
    assert e.row["objective_2"] == 2.1  # val_loss
    assert "objective_3" not in e.row


def test_a_missing_metric_or_a_diverged_epoch_gives_every_objective_its_worst_value() -> None:
    path = _path(objectives=(("params", "min"), ("val_auc", "max")))
    path.begin(111.0)
    e = path.end(1, _logs(2.0, 2.1), 0.01, 113.0)  # no auc logged
    path.conclude(e)
    assert e.row["objective_1"] == 4810.0 and e.row["objective_2"] == -WORST_OBJECTIVE
    e = path.end(2, _logs(math.nan, 2.1, val_auc=0.9), 0.01, 114.0)  # diverged
    path.conclude(e)
    assert e.diverged
    # a diverged trial ranks last on every objective, its size too (or it could sit on a front)
    assert (e.row[OBJECTIVE], e.row["objective_1"], e.row["objective_2"]) == (
        -WORST_OBJECTIVE, WORST_OBJECTIVE, -WORST_OBJECTIVE)
    assert objective_value(3.0, "min") == 3.0 and objective_value(None, "min") == WORST_OBJECTIVE


def test_without_costs_or_other_objectives_a_row_is_what_it_was() -> None:
    path = _path(costs=None)
    path.begin(111.0)
    e = path.end(1, _logs(2.0, 2.1), 0.01, 113.0)
    path.conclude(e)
    assert not set(COSTS) & set(e.row) and not [k for k in e.row if k.startswith("objective_")]


def test_a_model_that_broke_a_cost_constraint_reports_one_infeasible_row_at_epoch_zero() -> None:
    path = _path(objectives=(("params", "min"), ("val_loss", "min")), first_row={"pid": 7})
    row = path.infeasible_row(["params"], 112.5)
    assert row["infeasible"] is True and row["epoch"] == 0 and row["broken"] == "params"
    assert row["stop_reason"] == "infeasible" and row["diverged"] is False
    assert {k: row[k] for k in COSTS} == COSTS
    assert row[OBJECTIVE] == -WORST_OBJECTIVE  # no accuracy: the worst
    assert row["objective_1"] == 4810.0 and row["objective_2"] == WORST_OBJECTIVE  # a cost is known; a loss is not
    assert row["train_seconds"] == 2.5 and row["trial_elapsed_s"] == 2.5 and row["elapsed_s"] == 12.5
    assert row["pid"] == 7 and row["started_at"] == 110.0


def test_a_builder_compiled_metric_becomes_train_and_val_columns() -> None:
    logs = {"loss": 0.5, "auc": 0.8, "val_loss": 0.6, "val_auc": 0.75, "val_accuracy": 0.7, "accuracy": 0.72,
            "learning_rate": 0.01, "f1_per_class": [0.1, 0.2]}
    cols = metric_columns(logs, ["loss", "accuracy"])
    assert cols == {"train_loss": 0.5, "val_loss": 0.6, "train_accuracy": 0.72, "val_accuracy": 0.7,
                    "train_auc": 0.8, "val_auc": 0.75}  # no learning rate, no per-class vector
    # the task's metrics are columns even when the model does not log them
    assert math.isnan(metric_columns({"loss": 1.0}, ["loss", "accuracy"])["val_accuracy"])
    # and the model check names the same columns for what the probed model logs
    assert set(metric_columns_of(["loss", "auc"])) == {"train_loss", "val_loss", "train_auc", "val_auc"}


def test_an_objective_on_a_builder_metric_follows_it() -> None:
    path = _path(objectives=(("val_auc", "max"),), metric="val_loss", mode="min")
    path.begin(111.0)
    e = path.end(1, _logs(0.5, 0.6, val_auc=0.75, auc=0.8), 0.01, 113.0)
    path.conclude(e)
    assert e.row["val_auc"] == 0.75 and e.row["objective_1"] == 0.75 and e.row[OBJECTIVE] == 0.6
