"""Integration tests for orchestrator.training.model.build_model: the compiled Keras model matches
its plan (parameter count, optimizer, learning rate, loss). Imports TensorFlow; no Ray, no training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from orchestrator.spec import HYPERPARAMETERS
from orchestrator.training.mlp import build_model

keras = pytest.importorskip("keras")


def hp(**changes: Any) -> dict[str, Any]:
    out = {name: default for name, (_kind, default, _rule) in HYPERPARAMETERS.items()}
    out.update(changes)
    return out


def _lr(optimizer: Any) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def test_parameter_count_of_two_hidden_layers() -> None:
    model = build_model(hp(hidden_layers=2, units=16, dropout=0.2), n_features=64, task="classification",
                        n_classes=10)
    expected = (64 * 16 + 16) + (16 * 16 + 16) + (16 * 10 + 10)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == expected == 1482
    assert model.count_params() == expected  # dropout adds nothing
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert model.layers[1].rate == pytest.approx(0.2)
    assert model.layers[-1].units == 10
    assert model.layers[-1].activation.__name__ == "softmax"


def test_no_hidden_layers_is_a_softmax_regression() -> None:
    model = build_model(hp(hidden_layers=0), n_features=64, task="classification", n_classes=10)
    assert model.count_params() == 64 * 10 + 10


@pytest.mark.parametrize("name, cls, momentum", [
    ("sgd", "SGD", 0.9),
    ("rmsprop", "RMSprop", 0.5),
    ("adam", "Adam", None),
])
def test_optimizer_class_learning_rate_and_momentum(name: str, cls: str, momentum: float | None) -> None:
    model = build_model(hp(optimizer=name, learning_rate=0.0123, momentum=momentum or 0.0),
                        n_features=4, task="classification", n_classes=3)
    opt = model.optimizer
    assert isinstance(opt, getattr(keras.optimizers, cls))
    assert _lr(opt) == pytest.approx(0.0123)
    if momentum is not None:
        assert opt.momentum == pytest.approx(momentum)


def test_classification_compiles_with_sparse_crossentropy_and_accuracy() -> None:
    model = build_model(hp(hidden_layers=1, units=8), n_features=4, task="classification", n_classes=3)
    assert model.loss == "sparse_categorical_crossentropy"
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    probs = model.predict(x, verbose=0)
    assert probs.shape == (6, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_regression_outputs_one_value_per_row_and_compiles_with_mse() -> None:
    model = build_model(hp(hidden_layers=2, units=8), n_features=5, task="regression", n_classes=0)
    assert model.loss == "mse"
    x = np.random.default_rng(1).normal(size=(7, 5)).astype("float32")
    assert model.predict(x, verbose=0).shape == (7, 1)
    logs = model.evaluate(x, np.zeros(7), verbose=0, return_dict=True)
    assert set(logs) == {"loss", "mae", "mse"}


def test_l2_regularises_every_dense_kernel() -> None:
    model = build_model(hp(hidden_layers=2, units=8, l2=0.01), n_features=4, task="regression", n_classes=0)
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert len(dense) == 3
    for layer in dense:
        assert isinstance(layer.kernel_regularizer, keras.regularizers.L2)
        assert layer.kernel_regularizer.l2 == pytest.approx(0.01)
    plain = build_model(hp(hidden_layers=1, units=8, l2=0.0), n_features=4, task="regression", n_classes=0)
    assert all(layer.kernel_regularizer is None for layer in plain.layers if hasattr(layer, "kernel_regularizer"))
