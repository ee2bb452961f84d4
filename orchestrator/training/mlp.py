"""The multilayer perceptron: the default model family (``model: {family: mlp}``).

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
derived from the trial seed, and the dropout seed generators are reset from it too
(:mod:`orchestrator.training.tuned`, shared with the CNN).
"""

from __future__ import annotations

from typing import Any

from .inputs import DataInfo
from .optimizers import optimizer_key
from .tuned import compile_tuned, make_knobs, reset_tuned, tuned_cache_key

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
    return (int(n_features), task, tuple(layers), *optimizer_key(hp))


def _key_of(hp: dict[str, Any], info: DataInfo) -> tuple:
    return graph_key(hp, info.n_features, info.task, info.n_classes)


def build_model(hp: dict[str, Any], n_features: int, task: str, n_classes: int,
                steps_per_execution: int = 1, input_shape: tuple[int, ...] | None = None) -> Any:
    """Build and compile the Keras model for ``hp`` (imports TensorFlow).

    ``input_shape`` (default ``(n_features,)``): examples of another shape (images, sequences)
    are flattened first. Compiled by :func:`orchestrator.training.tuned.compile_tuned`.
    """
    import keras

    shape = tuple(int(d) for d in (input_shape or (n_features,)))
    plan = model_plan(hp, n_features, task, n_classes)
    knobs = make_knobs(hp)
    model = keras.Sequential()
    model.add(keras.Input(shape=shape))
    if len(shape) > 1:
        model.add(keras.layers.Flatten())
    for layer in plan[1:]:
        if layer["layer"] == "dense":
            model.add(keras.layers.Dense(layer["units"], activation=layer["activation"],
                                         kernel_regularizer=knobs.regularizer(layer["l2"])))
        else:
            model.add(knobs.dropout_layer(layer["rate"]))
    info = DataInfo(shape, task, int(n_classes))
    return compile_tuned(model, hp, info, key_of=_key_of, knobs=knobs, steps_per_execution=steps_per_execution)


def reset_model(model: Any, hp: dict[str, Any], seed: int) -> None:
    """Put a model from :func:`build_model` in the state a trial with ``hp`` and ``seed`` starts from.

    Every weight is drawn again by its layer's initializer with a seed derived from ``seed`` and
    the weight's position; the optimizer's variables (iterations, moments) go back to their initial
    values; learning rate, momentum, dropout rate and L2 factor are set from ``hp``; dropout seed
    generators restart from ``seed`` (:func:`orchestrator.training.tuned.reset_tuned`). Fresh and
    cached models go through this same path, so a trial trains identically whichever it gets.

    Raises:
        ValueError: ``hp`` needs a different graph than the model's (see :func:`graph_key`).
    """
    reset_tuned(model, hp, seed)


class MlpFamily:
    """The MLP behind the model seam (see :class:`orchestrator.training.model.ModelFamily`)."""

    name = "mlp"

    def build(self, hp: dict[str, Any], info: DataInfo, *, steps_per_execution: int = 1,
              seed: int | None = None) -> Any:
        """A compiled MLP for ``hp`` (:func:`build_model`; ``seed`` unused: :meth:`reset` draws the weights)."""
        return build_model(hp, info.n_features, info.task, info.n_classes, steps_per_execution=steps_per_execution,
                           input_shape=info.input_shape)

    def cache_key(self, hp: dict[str, Any], info: DataInfo) -> tuple:
        """:func:`graph_key` (and the input shape when examples are not rows), plus the value of each
        hyperparameter this Keras bakes into the graph (:func:`orchestrator.training.tuned.tuned_cache_key`)."""
        graph = graph_key(hp, info.n_features, info.task, info.n_classes)
        if len(info.input_shape) > 1:
            graph += (("input_shape", tuple(info.input_shape)),)
        return tuned_cache_key(hp, graph)

    def reset(self, model: Any, hp: dict[str, Any], seed: int) -> None:
        """:func:`reset_model`."""
        reset_model(model, hp, seed)


MLP = MlpFamily()
