"""Unit tests for the pure half of orchestrator.training.model: which layers a configuration builds,
the learning-rate schedule, the trivial-predictor loss and the compiled metrics. No TensorFlow.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest

from orchestrator.spec import HYPERPARAMETERS
from orchestrator.spec import metric_names as _metric_names
from orchestrator.training.epoch import baseline_loss, learning_rate_at, task_metrics
from orchestrator.training.mlp import model_plan


def hp(**changes: Any) -> dict[str, Any]:
    """A resolved configuration: every hyperparameter at its default, with ``changes``."""
    out = {name: default for name, (_kind, default, _rule) in HYPERPARAMETERS.items()}
    out.update(changes)
    return out


def test_importing_the_model_module_does_not_import_tensorflow() -> None:
    code = ("import sys, orchestrator.training.model, orchestrator.training.mlp as m; "
            "m.model_plan({'hidden_layers': 1, 'units': 4, 'activation': 'relu', 'l2': 0.0}, 3, 'regression', 0); "
            "print(sorted(x for x in ('tensorflow', 'keras', 'ray') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- model_plan ----------------------------------------------------------------------------------


def test_no_hidden_layers_is_input_then_output() -> None:
    plan = model_plan(hp(hidden_layers=0, dropout=0.5), n_features=64, task="classification", n_classes=10)
    assert plan == [
        {"layer": "input", "shape": 64},
        {"layer": "dense", "units": 10, "activation": "softmax", "l2": 0.0},
    ]


def test_two_hidden_layers_with_dropout() -> None:
    plan = model_plan(hp(hidden_layers=2, units=16, activation="tanh", dropout=0.25, l2=1e-4),
                      n_features=8, task="classification", n_classes=3)
    assert [layer["layer"] for layer in plan] == ["input", "dense", "dropout", "dense", "dropout", "dense"]
    assert plan[0] == {"layer": "input", "shape": 8}
    for dense in (plan[1], plan[3]):
        assert dense == {"layer": "dense", "units": 16, "activation": "tanh", "l2": 1e-4}
    assert plan[2] == plan[4] == {"layer": "dropout", "rate": 0.25}
    assert plan[-1] == {"layer": "dense", "units": 3, "activation": "softmax", "l2": 1e-4}


def test_no_dropout_layers_when_dropout_is_zero() -> None:
    plan = model_plan(hp(hidden_layers=3, units=32, dropout=0.0), 4, "classification", 2)
    assert [layer["layer"] for layer in plan] == ["input", "dense", "dense", "dense", "dense"]


def test_regression_output_is_one_linear_unit() -> None:
    plan = model_plan(hp(hidden_layers=1, units=8, l2=0.01), n_features=10, task="regression", n_classes=0)
    assert plan[-1] == {"layer": "dense", "units": 1, "activation": "linear", "l2": 0.01}
    assert plan[1] == {"layer": "dense", "units": 8, "activation": "relu", "l2": 0.01}


def test_classification_output_has_one_unit_per_class() -> None:
    for n in (2, 10, 26):
        out = model_plan(hp(), 5, "classification", n)[-1]
        assert (out["units"], out["activation"]) == (n, "softmax")


def test_plan_values_are_plain_numbers() -> None:
    # values that came through Ray or YAML as floats/strings of ints still build a valid plan
    plan = model_plan(hp(hidden_layers=2.0, units=16.0, l2=None, dropout=0.1), 4, "regression", 0)
    assert [type(layer.get("units", 0)) for layer in plan if layer["layer"] == "dense"] == [int, int, int]
    assert all(layer["l2"] == 0.0 for layer in plan if layer["layer"] == "dense")


# -- learning_rate_at ----------------------------------------------------------------------------


def test_constant_schedule_keeps_the_rate() -> None:
    cfg = hp(learning_rate=0.01, lr_schedule="constant", lr_decay_rate=0.5, lr_decay_epochs=2)
    assert [learning_rate_at(cfg, e) for e in (0, 1, 5, 100)] == [0.01] * 4


def test_step_schedule_halves_every_k_epochs() -> None:
    k = 4
    cfg = hp(learning_rate=0.08, lr_schedule="step", lr_decay_rate=0.5, lr_decay_epochs=k)
    assert learning_rate_at(cfg, 0) == pytest.approx(0.08)
    assert learning_rate_at(cfg, k - 1) == pytest.approx(0.08)
    assert learning_rate_at(cfg, k) == pytest.approx(0.04)
    assert learning_rate_at(cfg, 2 * k - 1) == pytest.approx(0.04)
    assert learning_rate_at(cfg, 2 * k) == pytest.approx(0.02)
    assert learning_rate_at(cfg, 3 * k) == pytest.approx(0.01)


def test_exponential_schedule_decays_smoothly() -> None:
    cfg = hp(learning_rate=0.1, lr_schedule="exponential", lr_decay_rate=0.5, lr_decay_epochs=10)
    assert learning_rate_at(cfg, 0) == pytest.approx(0.1)
    assert learning_rate_at(cfg, 5) == pytest.approx(0.1 * 0.5 ** 0.5)
    assert learning_rate_at(cfg, 10) == pytest.approx(0.05)
    assert learning_rate_at(cfg, 20) == pytest.approx(0.025)
    rates = [learning_rate_at(cfg, e) for e in range(30)]
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_base_lr_overrides_the_configured_rate() -> None:
    # PBT may hand the trial a perturbed rate; the schedule applies to that one
    cfg = hp(learning_rate=0.1, lr_schedule="step", lr_decay_rate=0.5, lr_decay_epochs=2)
    assert learning_rate_at(cfg, 2, base_lr=0.02) == pytest.approx(0.01)


# -- baseline_loss and task_metrics --------------------------------------------------------------


def test_baseline_loss_classification_is_log_of_the_class_count() -> None:
    assert baseline_loss("classification", 10, None) == pytest.approx(math.log(10))
    assert baseline_loss("classification", 2, None) == pytest.approx(math.log(2))


def test_baseline_loss_regression_is_the_variance() -> None:
    y = [1.0, 2.0, 3.0, 4.0]  # mean 2.5; squared deviations 2.25, .25, .25, 2.25 -> 5 / 4
    assert baseline_loss("regression", 0, y) == pytest.approx(1.25)
    assert baseline_loss("regression", 0, [7, 7, 7]) == 0.0


def test_task_metrics() -> None:
    assert task_metrics("classification") == ["accuracy"]
    assert task_metrics("regression") == ["mae", "mse"]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_selectable_metric_is_compiled(task: str) -> None:
    # a spec may select val_<m> only if the model reports it: loss, or a compiled metric
    for name in _metric_names(task):
        assert name.removeprefix("val_") in ["loss", *task_metrics(task)], name
