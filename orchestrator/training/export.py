"""The selected model as a file anyone can load: stock Keras layers, trained weights, no optimizer.

The built-in families train with a few Keras classes of this product's own
(:func:`orchestrator.internals.keras_classes`: a dropout layer and an L2 penalty that read a
shared variable, optimizers that read their rates from one). A ``.keras`` file holding them
would load only where this product is installed, so :func:`inference_copy` clones the trained
model with each of those layers replaced by the stock Keras layer it extends (the same
arithmetic at inference: dropout is off, a penalty adds nothing) and copies the weights across.
The copy is not compiled: it carries no optimizer (compile it to train on). A user's layers are
cloned as they are, and named in ``custom_objects`` (whoever loads the file must register them,
as Keras requires). A subclassed model that Keras cannot clone is saved as it is.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

__all__ = ["inference_copy", "custom_objects", "model_bytes", "output_kind"]

_REGULARIZERS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer")


def _is_ours(cls: type) -> bool:
    return hasattr(cls, "sweep_reads_knob") or cls.__module__.startswith("orchestrator.")


def _is_keras(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "keras"


def _stock(layer: Any) -> Any:
    """``layer`` rebuilt for the copy: this product's classes as their stock Keras base."""
    cls = type(layer)
    config = layer.get_config()
    for attr in _REGULARIZERS:
        reg = getattr(layer, attr, None)
        if reg is not None and _is_ours(type(reg)):
            config[attr] = None  # a training penalty: nothing at inference
    if _is_ours(cls):
        base = next(b for b in cls.__mro__[1:] if _is_keras(b))
        config.pop("knob", None)
        return base.from_config(config)
    return cls.from_config(config)


def inference_copy(model: Any) -> Any:
    """An uncompiled copy of ``model`` with stock Keras layers where it has this product's, same weights.

    A model Keras cannot clone (a subclassed ``keras.Model``) is returned as it is.
    """
    import keras

    compiled = getattr(model, "compiled", False)
    model.compiled = False  # Keras clones a compiled model compiled (with this product's optimizer)
    try:
        copy = keras.models.clone_model(model, clone_function=_stock)
    except Exception:  # noqa: BLE001 - subclassed models cannot be cloned: keep the trained one
        return model
    finally:
        model.compiled = compiled
    for src, dst in zip(model.layers, copy.layers):
        weights = src.get_weights()
        if len(weights) == len(dst.get_weights()):
            dst.set_weights(weights)
        else:  # only this product's layers hold extra state (a knob); the stock ones hold none
            raise ValueError(f"cannot copy the weights of layer {src.name!r} ({type(src).__name__})")
    return copy


def custom_objects(model: Any) -> list[dict[str, str]]:
    """Every layer class (nested ones included) that is not Keras' own: its name, the name Keras
    registered it under (what loading looks up; the class name when unregistered) and the file
    or module that defines it (what the user imports before loading)."""
    import sys

    import keras

    seen: dict[str, dict[str, str]] = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        cls = type(layer)
        if _is_keras(cls):
            continue
        module = sys.modules.get(cls.__module__)
        where = getattr(module, "__file__", None) or cls.__module__
        seen.setdefault(f"{cls.__module__}.{cls.__qualname__}", {
            "class": cls.__qualname__, "registered_name": keras.saving.get_registered_name(cls),
            "defined_in": str(where)})
    return list(seen.values())


def model_bytes(model: Any) -> bytes:
    """``model`` saved as a ``.keras`` file, its bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def output_kind(outputs: Any, task: str) -> str:
    """``"probabilities"`` when each row is a distribution, ``"logits"`` otherwise; ``"values"``
    for regression (a builder may end without a softmax, its loss taking logits)."""
    import numpy as np

    if task != "classification":
        return "values"
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim == 2 and len(out) and (out >= -1e-6).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        return "probabilities"
    return "logits"
