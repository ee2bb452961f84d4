"""Unit tests for the pure half of orchestrator.training.model: which layers a configuration builds,
the learning-rate schedule, the trivial-predictor loss and the compiled metrics. No TensorFlow.
"""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.spec import HYPERPARAMETERS
from orchestrator.spec import metric_names as _metric_names
from orchestrator.training.builder import BuilderError, BuilderFamily
from orchestrator.training.cnn import check_input, cnn_plan
from orchestrator.training.cnn import graph_key as cnn_graph_key
from orchestrator.training.epoch import baseline_loss, learning_rate_at, task_metrics
from orchestrator.training.inputs import DataInfo, TrialData
from orchestrator.training.mlp import graph_key as mlp_graph_key
from orchestrator.training.mlp import model_plan
from orchestrator.training.model import CNN, MLP, family_of
from orchestrator.training.optimizers import optimizer_key
from orchestrator.training.probe import RecordingDict


def hp(**changes: Any) -> dict[str, Any]:
    """A resolved configuration: every hyperparameter at its default, with ``changes``."""
    out = {name: default for name, (_kind, default, _rule) in HYPERPARAMETERS.items()}
    out.update(changes)
    return out


@pytest.mark.parametrize("code", [
    "import orchestrator.training.model, orchestrator.training.mlp as m; "
    "m.model_plan({'hidden_layers': 1, 'units': 4, 'activation': 'relu', 'l2': 0.0}, 3, 'regression', 0)",
    "import orchestrator.training.cnn, orchestrator.training.builder, orchestrator.training.probe, "
    "orchestrator.training.optimizers, orchestrator.training.tuned",
], ids=["model-and-mlp-plan", "families-probe-optimizers"])
def test_planning_a_model_does_not_import_tensorflow(code: str) -> None:
    """The driver and ``sweep validate`` plan models without paying for TensorFlow's import."""
    code = f"import sys; {code}; print(sorted(x for x in ('tensorflow', 'keras', 'ray') if x in sys.modules))"
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


# -- the CNN family, the optimizers and the family of a spec (pure: no TensorFlow) ----------------

IMAGES = DataInfo((8, 8, 1), "classification", 10)
SERIES = DataInfo((32, 2), "regression", 0)


def cnn_hp(**changes: Any) -> dict[str, Any]:
    """A resolved CNN configuration (the spec's defaults), with ``changes``."""
    out = {"conv_layers": 2, "filters": 32, "kernel_size": 3, "pooling": "max", "dense_units": 64,
           "activation": "relu", "dropout": 0.0, "l2": 0.0, "optimizer": "adam", "learning_rate": 1e-3,
           "momentum": 0.0, "weight_decay": 0.004, "batch_size": 32, "epochs": 20}
    out.update(changes)
    return out


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 3), (100, 1), (16, 4)])
def test_the_cnn_takes_sequences_and_images(shape: tuple[int, ...]) -> None:
    assert check_input(DataInfo(shape, "classification", 3)) is None


@pytest.mark.parametrize("shape, example", [((64,), "[8, 8, 1]"), ((10,), "[10, 1]"), ((2, 3, 4, 5), "[120, 1]")])
def test_the_cnn_refuses_rows_and_four_dimensional_examples_saying_what_to_set(shape, example) -> None:
    message = check_input(DataInfo(shape, "classification", 3))
    assert message == ("family cnn needs examples shaped (steps, channels) or (height, width, channels); "
                       f"these are {shape}: set data.shape, e.g. {example}")
    with pytest.raises(ValueError, match="family cnn needs"):
        cnn_plan(cnn_hp(), DataInfo(shape, "classification", 3))


def test_cnn_plan_on_images_convolves_pools_flattens_then_dense_dropout_softmax() -> None:
    plan = cnn_plan(cnn_hp(conv_layers=2, filters=16, kernel_size=3, dense_units=32, dropout=0.25, l2=1e-4), IMAGES)
    assert [layer["layer"] for layer in plan] == ["input", "conv", "pool", "conv", "pool", "flatten", "dense",
                                                  "dropout", "dense"]
    assert plan[0] == {"layer": "input", "shape": (8, 8, 1)}
    assert plan[1] == {"layer": "conv", "dims": 2, "filters": 16, "kernel_size": 3, "activation": "relu", "l2": 1e-4}
    assert plan[2] == plan[4] == {"layer": "pool", "kind": "max", "size": (2, 2)}
    assert plan[6] == {"layer": "dense", "units": 32, "activation": "relu", "l2": 1e-4}
    assert plan[7] == {"layer": "dropout", "rate": 0.25}
    assert plan[-1] == {"layer": "dense", "units": 10, "activation": "softmax", "l2": 1e-4}


def test_cnn_plan_never_pools_a_side_below_one() -> None:
    # 8 -> 4 -> 2 -> 1: the fourth block has nothing left to pool
    plan = cnn_plan(cnn_hp(conv_layers=4, pooling="avg"), IMAGES)
    assert [layer["layer"] for layer in plan[1:9]] == ["conv", "pool", "conv", "pool", "conv", "pool", "conv",
                                                      "flatten"]
    assert all(layer["kind"] == "avg" for layer in plan if layer["layer"] == "pool")
    # a one-pixel-high strip is pooled along its width only
    strip = cnn_plan(cnn_hp(conv_layers=2), DataInfo((1, 6, 3), "classification", 2))
    assert [layer["size"] for layer in strip if layer["layer"] == "pool"] == [(1, 2), (1, 2)]


def test_cnn_plan_on_sequences_pools_over_all_steps_and_outputs_one_linear_unit_for_regression() -> None:
    plan = cnn_plan(cnn_hp(conv_layers=3, dense_units=0), SERIES)
    assert [layer["layer"] for layer in plan] == ["input", "conv", "pool", "conv", "pool", "conv", "pool",
                                                  "global_pool", "dense"]
    assert plan[1]["dims"] == 1 and plan[2]["size"] == (2,)
    assert plan[-2] == {"layer": "global_pool", "kind": "max"}
    assert plan[-1] == {"layer": "dense", "units": 1, "activation": "linear", "l2": 0.0}
    flat = cnn_plan(cnn_hp(pooling="none"), SERIES)
    assert [layer["layer"] for layer in flat] == ["input", "conv", "conv", "global_pool", "dense", "dense"]
    assert flat[3] == {"layer": "global_pool", "kind": "avg"}


def test_cnn_plan_values_are_plain_numbers() -> None:
    plan = cnn_plan(cnn_hp(conv_layers=1.0, filters=8.0, kernel_size=3.0, dense_units=4.0), IMAGES)
    assert [type(plan[1][k]) for k in ("filters", "kernel_size")] == [int, int]
    assert type(plan[-2]["units"]) is int


def test_cnn_configurations_differing_in_graph_variables_share_a_graph_key() -> None:
    base = cnn_hp(optimizer="sgd", momentum=0.9, dropout=0.2, l2=1e-3)
    key = cnn_graph_key(base, IMAGES)
    for change in ({"learning_rate": 0.5}, {"momentum": 0.3}, {"dropout": 0.4}, {"l2": 0.1}, {"batch_size": 7},
                   {"epochs": 3}, {"weight_decay": 0.1}):
        assert cnn_graph_key({**base, **change}, IMAGES) == key, change
    for change in ({"filters": 8}, {"kernel_size": 5}, {"conv_layers": 3}, {"pooling": "avg"}, {"dense_units": 0},
                   {"activation": "tanh"}, {"dropout": 0.0}, {"l2": 0.0}, {"momentum": 0.0}, {"optimizer": "nadam"}):
        assert cnn_graph_key({**base, **change}, IMAGES) != key, change
    assert cnn_graph_key(base, DataInfo((4, 16, 1), "classification", 10)) != key
    assert cnn_graph_key(base, DataInfo((8, 8, 1), "classification", 3)) != key


def test_optimizer_key_names_the_update_and_whether_momentum_is_on() -> None:
    assert optimizer_key({"optimizer": "sgd", "momentum": 0.9}) == ("sgd", True)
    assert optimizer_key({"optimizer": "rmsprop", "momentum": 0.0}) == ("rmsprop", False)
    assert optimizer_key({"optimizer": "adamw", "momentum": 0.9}) == ("adamw", False)  # momentum: sgd/rmsprop only
    assert optimizer_key({"optimizer": "nadam"}) == ("nadam", False)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'; known: sgd, adam, rmsprop, adamw, nadam"):
        optimizer_key({"optimizer": "lbfgs"})


def test_mlp_graph_key_is_unchanged_for_the_old_optimizers_and_tells_the_new_ones_apart() -> None:
    cfg = hp(optimizer="sgd", momentum=0.9, hidden_layers=1, units=4)
    assert mlp_graph_key(cfg, 3, "regression", 0) == (3, "regression", (("dense", 4, "relu", False),
                                                                       ("dense", 1, "linear", False)), "sgd", True)
    keys = {mlp_graph_key({**cfg, "optimizer": name}, 3, "regression", 0) for name in ("adam", "adamw", "nadam")}
    assert len(keys) == 3


def test_the_family_comes_from_the_spec_not_from_the_configuration() -> None:
    assert family_of(SimpleNamespace(base_dir=".")) is MLP  # a spec from before families: the MLP
    assert family_of(SimpleNamespace(model=SimpleNamespace(kind="mlp"), base_dir=".")) is MLP
    assert family_of(SimpleNamespace(model=SimpleNamespace(kind="cnn"), base_dir=".")) is CNN
    spec = SimpleNamespace(model=SimpleNamespace(kind="builder", builder="models.py:build_model"), base_dir="/specs")
    family = family_of(spec)
    assert isinstance(family, BuilderFamily)
    assert (family.name, family.ref, family.base_dir) == ("builder", "models.py:build_model", "/specs")
    assert family.cache_key(cnn_hp(), IMAGES) is None  # a user's model is never reused


def test_trial_data_carries_the_example_shape_to_the_model() -> None:
    import numpy as np

    class Split:
        def __init__(self, n: int) -> None:
            self.X, self.y = np.zeros((n, 8, 8, 1), "float32"), np.zeros(n, "int64")

    prepared = SimpleNamespace(train=Split(5), val=Split(2), test=Split(3), task="classification", n_features=64,
                               n_classes=10, input_shape=(8, 8, 1))
    data = TrialData.of(prepared)
    assert data.input_shape == (8, 8, 1) and len(data.test) == 0
    assert DataInfo.of(data) == DataInfo((8, 8, 1), "classification", 10)
    table = SimpleNamespace(task="regression", n_features=7, n_classes=0)  # no input_shape: a table's rows
    assert DataInfo.of(table) == DataInfo((7,), "regression", 0)


def test_recording_dict_counts_lookups_membership_and_iteration_as_reads() -> None:
    r = RecordingDict({"filters": 8, "heads": 2, "depth": 3, "unused": 1})
    assert r["filters"] == 8 and r.get("heads") == 2 and "missing" not in r
    assert r.read == {"filters", "heads", "missing"}
    r.read.clear()
    copied = dict(r)
    assert copied == {"filters": 8, "heads": 2, "depth": 3, "unused": 1} and r.read == set(copied)
    for reading in (lambda d: {**d}, lambda d: list(d.items()), lambda d: [k for k in d], lambda d: d.copy()):
        r.read.clear()
        reading(r)
        assert r.read == set(copied)


def test_a_builder_error_is_one_line_naming_the_key_and_the_function() -> None:
    import pickle

    e = BuilderError("models.py:build_model raised ValueError: no such layer")
    assert str(e) == "model.builder: models.py:build_model raised ValueError: no such layer"
    again = pickle.loads(pickle.dumps(e))  # it crosses from a Ray worker to the driver
    assert str(again) == str(e) and again.key == "model.builder"
