"""The multilayer perceptron: the model family every sweep trains today.

:func:`model_plan` and :func:`graph_key` are pure (no TensorFlow): they say which layers a
configuration builds and which configurations share one traced training graph, so both are
unit-testable. :func:`build_model` turns the plan into a compiled Keras model and
:func:`reset_model` puts a model in the state a trial starts from (weights drawn from the trial's
seed, optimizer state zeroed, hyperparameters set). :data:`MLP` offers them through the model
seam (:mod:`orchestrator.training.model`). TensorFlow is imported only when a model is built.

Why a cached model trains exactly like a fresh one: every trial starts with :func:`reset_model`,
fresh or cached, and the values that differ between trials sharing a graph (learning rate,
momentum, dropout rate, L2 factor) are variables the traced graph reads, not constants baked into
it (:func:`orchestrator.internals.keras_classes`; where one is baked after all, the cache key
holds its value). Weights come from each layer's initializer with an explicit per-variable seed
derived from the trial seed, and the dropout seed generators are reset from it too.
"""

from __future__ import annotations

import zlib
from typing import Any

from ..internals import keras_classes
from .epoch import task_metrics
from .inputs import DataInfo

__all__ = ["model_plan", "graph_key", "build_model", "reset_model", "MlpFamily", "MLP"]


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


def graph_key(hp: dict[str, Any], n_features: int, task: str, n_classes: int) -> tuple:
    """What shapes the traced training graph of a configuration (pure; no TensorFlow).

    Configurations with the same key build the same layers and the same optimizer update, so one
    built, compiled and traced model serves all of them: the learning rate, a non-zero momentum,
    the dropout rate and the L2 factor are variables of that graph, and the batch size is not part
    of it (Keras traces the training and validation steps with an unknown batch length, so neither
    a different batch size nor the last partial batch traces again). Whether momentum, dropout and
    L2 are zero or not does change the graph (no slots, no dropout layer, no penalty term).

    Returns:
        A hashable tuple.
    """
    plan = model_plan(hp, n_features, task, n_classes)
    layers: list[tuple] = []
    for layer in plan[1:]:
        if layer["layer"] == "dense":
            layers.append(("dense", int(layer["units"]), str(layer["activation"]), layer["l2"] > 0))
        else:
            layers.append(("dropout",))
    optimizer = str(hp["optimizer"])
    momentum = optimizer in ("sgd", "rmsprop") and float(hp.get("momentum") or 0.0) > 0
    return (int(n_features), task, tuple(layers), optimizer, momentum)


class _Tunables:
    """What :func:`reset_model` needs besides the model's layers (a plain object: Keras does not track it)."""

    def __init__(self, shape: tuple[int, str, int], key: tuple, dropout: Any, l2: Any,
                 optimizer_initial: list[Any]) -> None:
        self.shape = shape  # (n_features, task, n_classes)
        self.key = key
        self.dropout = dropout
        self.l2 = l2
        self.optimizer_initial = optimizer_initial


def build_model(hp: dict[str, Any], n_features: int, task: str, n_classes: int,
                steps_per_execution: int = 1) -> Any:
    """Build and compile the Keras model for ``hp`` (imports TensorFlow).

    The optimizer's variables are created here, eagerly (Keras would otherwise create them while
    tracing the first training step, which is slower), and their initial values kept for
    :func:`reset_model`.
    """
    import keras

    c = keras_classes()
    plan = model_plan(hp, n_features, task, n_classes)
    l2_value = float(hp["l2"] or 0.0)
    l2_knob = c["Knob"](l2_value, "l2") if l2_value > 0 else None
    rate = float(hp.get("dropout") or 0.0)
    dropout_knob = c["Knob"](rate, "dropout_rate") if rate > 0 else None
    model = keras.Sequential()
    model.add(keras.Input(shape=(plan[0]["shape"],)))
    for layer in plan[1:]:
        if layer["layer"] == "dense":
            reg = c["L2"](layer["l2"], knob=l2_knob) if layer["l2"] > 0 else None
            model.add(keras.layers.Dense(layer["units"], activation=layer["activation"], kernel_regularizer=reg))
        else:
            model.add(c["Dropout"](layer["rate"], knob=dropout_knob))
    lr = float(hp["learning_rate"])
    name = hp["optimizer"]
    if name == "sgd":
        opt = c["SGD"](learning_rate=lr, momentum=float(hp.get("momentum") or 0.0))
    elif name == "rmsprop":
        opt = c["RMSprop"](learning_rate=lr, momentum=float(hp.get("momentum") or 0.0))
    else:
        opt = c["Adam"](learning_rate=lr)
    loss = "sparse_categorical_crossentropy" if task == "classification" else "mse"
    model.compile(optimizer=opt, loss=loss, metrics=task_metrics(task), steps_per_execution=steps_per_execution)
    opt.build(model.trainable_variables)
    model.sweep_tunables = _Tunables((int(n_features), task, int(n_classes)),
                                     graph_key(hp, n_features, task, n_classes), dropout_knob, l2_knob,
                                     [keras.ops.convert_to_numpy(v) for v in opt.variables])
    return model


def _derived_seed(seed: int, index: int) -> int:
    return zlib.crc32(f"{int(seed)}:{index}".encode()) & 0x7FFFFFFF


def _reset_weights(model: Any, seed: int) -> None:
    """Every weight drawn again by its layer's initializer, seeded from ``seed`` and its position;
    dropout seed generators restarted from ``seed``."""
    import keras

    index = 0
    covered: set[int] = set()
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            pairs = [(layer.kernel, layer.kernel_initializer)]
            if layer.use_bias:
                pairs.append((layer.bias, layer.bias_initializer))
            for var, init in pairs:
                config = init.get_config()
                if "seed" in config:
                    config["seed"] = _derived_seed(seed, index)
                    init = type(init).from_config(config)
                var.assign(init(var.shape, dtype=var.dtype))
                covered.add(id(var))
                index += 1
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            generator.state.assign(keras.ops.convert_to_tensor(
                [_derived_seed(seed, 10_000 + index), 0], dtype=generator.state.dtype))
            index += 1
    missed = [v.path for v in model.trainable_variables if id(v) not in covered]
    if missed:
        raise ValueError(f"reset_model: no initializer known for {missed}")


def reset_model(model: Any, hp: dict[str, Any], seed: int) -> None:
    """Put a model from :func:`build_model` in the state a trial with ``hp`` and ``seed`` starts from.

    Every weight is drawn again by its layer's initializer with a seed derived from ``seed`` and
    the weight's position; the optimizer's variables (iterations, moments) go back to their initial
    values; learning rate, momentum, dropout rate and L2 factor are set from ``hp``; dropout seed
    generators restart from ``seed``. Fresh and cached models go through this same path, so a trial
    trains identically whichever it gets.

    Raises:
        ValueError: ``hp`` needs a different graph than the model's (see :func:`graph_key`).
    """
    import keras

    tunables: _Tunables = model.sweep_tunables
    if graph_key(hp, *tunables.shape) != tunables.key:
        raise ValueError("reset_model: this configuration needs another graph than the model's")
    _reset_weights(model, seed)
    opt = model.optimizer
    for var, value in zip(opt.variables, tunables.optimizer_initial):
        var.assign(value)
    opt.learning_rate.assign(float(hp["learning_rate"]))
    momentum = getattr(opt, "sweep_momentum", None)
    if momentum is not None and opt.momentum > 0:
        opt.momentum = float(hp.get("momentum") or 0.0)
        momentum.assign(opt.momentum)
    if tunables.dropout is not None:
        rate = float(hp.get("dropout") or 0.0)
        tunables.dropout.assign(rate)
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = rate
    if tunables.l2 is not None:
        l2 = float(hp["l2"] or 0.0)
        tunables.l2.assign(l2)
        for layer in model.layers:
            reg = getattr(layer, "kernel_regularizer", None)
            if reg is not None:
                reg.l2 = l2
    model.stop_training = False


class MlpFamily:
    """The MLP behind the model seam (see :class:`orchestrator.training.model.ModelFamily`)."""

    name = "mlp"

    def build(self, hp: dict[str, Any], info: DataInfo, *, steps_per_execution: int = 1) -> Any:
        """A compiled MLP for ``hp`` (:func:`build_model`)."""
        return build_model(hp, info.n_features, info.task, info.n_classes, steps_per_execution=steps_per_execution)

    def cache_key(self, hp: dict[str, Any], info: DataInfo) -> tuple:
        """:func:`graph_key`, plus the value of each hyperparameter this Keras bakes into the graph.

        Momentum, dropout rate and L2 factor are graph variables where their Keras reach holds
        (:func:`orchestrator.internals.keras_classes`); where one moved, a model serves only
        configurations with the same value.
        """
        c = keras_classes()
        baked: list[tuple[str, float]] = []
        optimizer = {"sgd": c["SGD"], "rmsprop": c["RMSprop"]}.get(str(hp["optimizer"]))
        if optimizer is not None and not optimizer.sweep_reads_knob:
            baked.append(("momentum", float(hp.get("momentum") or 0.0)))
        if not c["Dropout"].sweep_reads_knob:
            baked.append(("dropout", float(hp.get("dropout") or 0.0)))
        if not c["L2"].sweep_reads_knob:
            baked.append(("l2", float(hp["l2"] or 0.0)))
        return graph_key(hp, info.n_features, info.task, info.n_classes) + tuple(baked)

    def reset(self, model: Any, hp: dict[str, Any], seed: int) -> None:
        """:func:`reset_model`."""
        reset_model(model, hp, seed)


MLP = MlpFamily()
