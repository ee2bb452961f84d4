"""The convolutional network: the built-in family for images and sequences (``model: {family: cnn}``).

:func:`check_input`, :func:`cnn_plan` and :func:`graph_key` are pure (no TensorFlow). The
convolutions are 1-D for examples shaped ``(steps, channels)`` and 2-D for ``(height, width,
channels)``, picked from the data's shape. A plan is ``conv_layers`` blocks of a convolution
(``filters`` of ``kernel_size``, padding ``same``, ``activation``, L2 ``l2``) each followed by a
``pooling`` of 2 (max, avg or none; a side already 1 is not pooled, and a block pools nothing when
every side is), then the head:

- images are flattened: where a feature sits in a small map says something (a stroke at the top of
  a digit), and after the pooling the map is small;
- sequences are pooled over all their steps (global max pooling for ``pooling: max``, average
  otherwise): the head then has ``filters`` inputs however long a series is, where flattening a
  long one would give the dense layer thousands, and a pattern counts wherever it occurs;

then a dense layer of ``dense_units`` (none for 0), dropout, and the output as the MLP's (softmax
over the classes, or one linear unit). Dropout rate, L2 factor, learning rate and momentum are
graph variables and a cached model is reset exactly like a fresh one
(:mod:`orchestrator.training.tuned`). :data:`CNN` offers it through the model seam.
"""

from __future__ import annotations

import math
from typing import Any

from .inputs import DataInfo
from .optimizers import optimizer_key
from .tuned import compile_tuned, make_knobs, reset_tuned, tuned_cache_key

__all__ = ["check_input", "cnn_plan", "graph_key", "build_model", "CnnFamily", "CNN"]


def check_input(info: DataInfo) -> str | None:
    """Why the CNN cannot take examples shaped ``info.input_shape`` (None: it can). Pure."""
    shape = tuple(int(d) for d in info.input_shape)
    if len(shape) in (2, 3) and all(d >= 1 for d in shape):
        return None
    n = math.prod(shape)
    side = math.isqrt(n)
    example = f"[{side}, {side}, 1]" if side * side == n and side > 1 else f"[{n}, 1]"
    return (f"family cnn needs examples shaped (steps, channels) or (height, width, channels); these are {shape}: "
            f"set data.shape, e.g. {example}")


def cnn_plan(hp: dict[str, Any], info: DataInfo) -> list[dict[str, Any]]:
    """The layers of the CNN for a configuration on the data ``info`` describes, as plain dicts.

    Returns:
        ``{"layer": "input", "shape"}``, then ``conv`` (``dims``, ``filters``, ``kernel_size``,
        ``activation``, ``l2``) and ``pool`` (``kind``, ``size``: per side) entries, ``flatten`` or
        ``global_pool`` (``kind``), ``dense`` (``units``, ``activation``, ``l2``) and ``dropout``
        (``rate``) entries; the last entry is the output layer.

    Raises:
        ValueError: :func:`check_input`'s message.
    """
    problem = check_input(info)
    if problem:
        raise ValueError(problem)
    shape = tuple(int(d) for d in info.input_shape)
    dims = len(shape) - 1
    sides = list(shape[:-1])
    l2 = float(hp.get("l2") or 0.0)
    pooling = str(hp["pooling"])
    layers: list[dict[str, Any]] = [{"layer": "input", "shape": shape}]
    for _ in range(int(hp["conv_layers"])):
        layers.append({"layer": "conv", "dims": dims, "filters": int(hp["filters"]),
                       "kernel_size": int(hp["kernel_size"]), "activation": str(hp["activation"]), "l2": l2})
        size = tuple(2 if s >= 2 else 1 for s in sides)
        if pooling != "none" and max(size) > 1:
            layers.append({"layer": "pool", "kind": pooling, "size": size})
            sides = [s // p for s, p in zip(sides, size)]
    if dims == 2:
        layers.append({"layer": "flatten"})
    else:
        layers.append({"layer": "global_pool", "kind": "max" if pooling == "max" else "avg"})
    if int(hp["dense_units"]) > 0:
        layers.append({"layer": "dense", "units": int(hp["dense_units"]), "activation": str(hp["activation"]),
                       "l2": l2})
    if hp.get("dropout"):
        layers.append({"layer": "dropout", "rate": float(hp["dropout"])})
    if info.task == "classification":
        layers.append({"layer": "dense", "units": int(info.n_classes), "activation": "softmax", "l2": l2})
    else:
        layers.append({"layer": "dense", "units": 1, "activation": "linear", "l2": l2})
    return layers


def graph_key(hp: dict[str, Any], info: DataInfo) -> tuple:
    """What shapes the traced training graph of a configuration (pure; see :func:`orchestrator.training.mlp.graph_key`).

    The layers (with whether each is penalised), the input shape and the optimizer's update;
    not the learning rate, momentum value, dropout rate or L2 factor (graph variables), nor the
    batch size.
    """
    layers: list[tuple] = []
    for layer in cnn_plan(hp, info)[1:]:
        kind = layer["layer"]
        if kind == "conv":
            layers.append((kind, layer["dims"], layer["filters"], layer["kernel_size"], layer["activation"],
                           layer["l2"] > 0))
        elif kind == "pool":
            layers.append((kind, layer["kind"], layer["size"]))
        elif kind == "global_pool":
            layers.append((kind, layer["kind"]))
        elif kind == "dense":
            layers.append((kind, layer["units"], layer["activation"], layer["l2"] > 0))
        else:  # flatten, dropout
            layers.append((kind,))
    return (tuple(int(d) for d in info.input_shape), info.task, tuple(layers), *optimizer_key(hp))


def _keras_layer(layer: dict[str, Any], dims: int, knobs: Any) -> Any:
    """The Keras layer of one plan entry (not the input)."""
    import keras

    L = keras.layers
    kind = layer["layer"]
    if kind == "conv":
        conv = L.Conv1D if dims == 1 else L.Conv2D
        return conv(layer["filters"], layer["kernel_size"], padding="same", activation=layer["activation"],
                    kernel_regularizer=knobs.regularizer(layer["l2"]))
    if kind == "pool":
        pools = {("max", 1): L.MaxPooling1D, ("max", 2): L.MaxPooling2D,
                 ("avg", 1): L.AveragePooling1D, ("avg", 2): L.AveragePooling2D}
        size = layer["size"]
        return pools[(layer["kind"], dims)](pool_size=size[0] if dims == 1 else size)
    if kind == "flatten":
        return L.Flatten()
    if kind == "global_pool":
        return L.GlobalMaxPooling1D() if layer["kind"] == "max" else L.GlobalAveragePooling1D()
    if kind == "dense":
        return L.Dense(layer["units"], activation=layer["activation"], kernel_regularizer=knobs.regularizer(layer["l2"]))
    return knobs.dropout_layer(layer["rate"])


def build_model(hp: dict[str, Any], info: DataInfo, steps_per_execution: int = 1) -> Any:
    """Build and compile the CNN for ``hp`` on the data ``info`` describes (imports TensorFlow)."""
    import keras

    plan = cnn_plan(hp, info)
    knobs = make_knobs(hp)
    dims = len(plan[0]["shape"]) - 1
    model = keras.Sequential()
    model.add(keras.Input(shape=plan[0]["shape"]))
    for layer in plan[1:]:
        model.add(_keras_layer(layer, dims, knobs))
    return compile_tuned(model, hp, info, key_of=graph_key, knobs=knobs, steps_per_execution=steps_per_execution)


class CnnFamily:
    """The CNN behind the model seam (see :class:`orchestrator.training.model.ModelFamily`)."""

    name = "cnn"

    def build(self, hp: dict[str, Any], info: DataInfo, *, steps_per_execution: int = 1,
              seed: int | None = None) -> Any:
        """A compiled CNN for ``hp`` (:func:`build_model`; ``seed`` unused: :meth:`reset` draws the weights)."""
        return build_model(hp, info, steps_per_execution=steps_per_execution)

    def cache_key(self, hp: dict[str, Any], info: DataInfo) -> tuple:
        """:func:`graph_key`, plus the value of each hyperparameter this Keras bakes into the graph."""
        return tuned_cache_key(hp, graph_key(hp, info))

    def reset(self, model: Any, hp: dict[str, Any], seed: int) -> None:
        """:func:`orchestrator.training.tuned.reset_tuned`: the same reset a fresh model gets."""
        reset_tuned(model, hp, seed)


CNN = CnnFamily()
