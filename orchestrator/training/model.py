"""The Keras MLP built from a trial's hyperparameters.

:func:`model_plan` is pure (no TensorFlow): it says which layers the model has, so the shape of
what a configuration builds is unit-testable. :func:`build_model` turns the plan into a compiled
Keras model; TensorFlow is imported only there.
"""

from __future__ import annotations

from typing import Any

__all__ = ["model_plan", "build_model", "task_metrics", "learning_rate_at", "baseline_loss"]


def task_metrics(task: str) -> list[str]:
    """Keras metric names compiled for a task (besides the loss)."""
    return ["accuracy"] if task == "classification" else ["mae", "mse"]


def model_plan(hp: dict[str, Any], n_features: int, task: str, n_classes: int) -> list[dict[str, Any]]:
    """The layers of the MLP for a configuration, as plain dicts.

    Args:
        hp: resolved hyperparameters (see ``orchestrator.spec.HYPERPARAMETERS``).
        n_features: input width.
        task: ``classification`` or ``regression``.
        n_classes: number of classes (ignored for regression).

    Returns:
        One dict per layer: ``{"layer": "dense", "units", "activation", "l2"}`` or
        ``{"layer": "dropout", "rate"}``; the last entry is the output layer.
    """
    layers: list[dict[str, Any]] = [{"layer": "input", "shape": n_features}]
    for _ in range(int(hp["hidden_layers"])):
        layers.append({"layer": "dense", "units": int(hp["units"]), "activation": hp["activation"],
                       "l2": float(hp["l2"] or 0.0)})
        if hp.get("dropout"):
            layers.append({"layer": "dropout", "rate": float(hp["dropout"])})
    if task == "classification":
        layers.append({"layer": "dense", "units": int(n_classes), "activation": "softmax",
                       "l2": float(hp["l2"] or 0.0)})
    else:
        layers.append({"layer": "dense", "units": 1, "activation": "linear", "l2": float(hp["l2"] or 0.0)})
    return layers


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
    import math

    import numpy as np

    if task == "classification":
        return math.log(max(n_classes, 2))
    return float(np.var(np.asarray(y_train, dtype=float)))


def build_model(hp: dict[str, Any], n_features: int, task: str, n_classes: int) -> Any:
    """Build and compile the Keras model for ``hp`` (imports TensorFlow)."""
    import keras

    plan = model_plan(hp, n_features, task, n_classes)
    model = keras.Sequential()
    model.add(keras.Input(shape=(plan[0]["shape"],)))
    for layer in plan[1:]:
        if layer["layer"] == "dense":
            reg = keras.regularizers.L2(layer["l2"]) if layer["l2"] > 0 else None
            model.add(keras.layers.Dense(layer["units"], activation=layer["activation"], kernel_regularizer=reg))
        else:
            model.add(keras.layers.Dropout(layer["rate"]))
    lr = float(hp["learning_rate"])
    name = hp["optimizer"]
    if name == "sgd":
        opt = keras.optimizers.SGD(learning_rate=lr, momentum=float(hp.get("momentum") or 0.0))
    elif name == "rmsprop":
        opt = keras.optimizers.RMSprop(learning_rate=lr, momentum=float(hp.get("momentum") or 0.0))
    else:
        opt = keras.optimizers.Adam(learning_rate=lr)
    loss = "sparse_categorical_crossentropy" if task == "classification" else "mse"
    model.compile(optimizer=opt, loss=loss, metrics=task_metrics(task))
    return model
