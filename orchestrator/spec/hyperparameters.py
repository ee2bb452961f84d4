"""The hyperparameters the product owns: name -> (kind, default, rule), per model family.

The *training* ones (:data:`TRAINING_HYPERPARAMETERS`: optimizer, learning rate, batch size,
epochs, schedule) mean the same for every model; each family adds its own: the MLP
(:data:`HYPERPARAMETERS`, the default family) and the CNN (:data:`CNN_HYPERPARAMETERS`). A user's
builder gets the training ones plus whatever names its spec writes (kinds inferred from the
values: :mod:`orchestrator.spec.params`). ``kind`` is ``"int"``, ``"float"``, ``"cat"`` (strings)
or ``"bool"``; ``rule`` checks one value and returns an error text or None. :func:`check_value`
applies both to a value written in a spec.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Union

from ..errors import SpecError

__all__ = ["HYPERPARAMETERS", "MLP_HYPERPARAMETERS", "CNN_HYPERPARAMETERS", "TRAINING_HYPERPARAMETERS",
           "FAMILY_HYPERPARAMETERS", "OPTIMIZERS", "ACTIVATIONS", "LR_SCHEDULES", "POOLINGS", "Entry", "Scalar",
           "hyperparameters", "check_value"]

Scalar = Union[bool, int, float, str]
Rule = Callable[[Any], Union[str, None]]
Entry = tuple[str, Any, Rule]  # (kind, default, rule)

OPTIMIZERS = ("sgd", "adam", "rmsprop", "adamw", "nadam")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "linear")
LR_SCHEDULES = ("constant", "step", "exponential")
POOLINGS = ("max", "avg", "none")


def _range(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False) -> Rule:
    def rule(v: float) -> str | None:
        if lo is not None and (v <= lo if lo_open else v < lo):
            return f"must be {'>' if lo_open else '>='} {lo:g}, got {v:g}"
        if hi is not None and (v >= hi if hi_open else v > hi):
            return f"must be {'<' if hi_open else '<='} {hi:g}, got {v:g}"
        return None

    return rule


def _one_of(options: tuple[str, ...]) -> Rule:
    def rule(v: str) -> str | None:
        if v not in options:
            return f"must be one of {', '.join(options)}; got {v!r}"
        return None

    return rule


# The layers' shared rules (the MLP and the CNN both take them).
_SHARED: dict[str, Entry] = {
    "activation": ("cat", "relu", _one_of(ACTIVATIONS)),
    "dropout": ("float", 0.0, _range(0.0, 1.0, hi_open=True)),
    "l2": ("float", 0.0, _range(0.0, None)),
}
TRAINING_HYPERPARAMETERS: dict[str, Entry] = {
    "optimizer": ("cat", "adam", _one_of(OPTIMIZERS)),
    "learning_rate": ("float", 1e-3, _range(0.0, None, lo_open=True)),
    "momentum": ("float", 0.0, _range(0.0, 1.0, hi_open=True)),
    "weight_decay": ("float", 0.004, _range(0.0, None)),  # adamw's decoupled weight decay; others ignore it
    "batch_size": ("int", 32, _range(1, 1_000_000)),
    "epochs": ("int", 20, _range(1, 100_000)),
    "lr_schedule": ("cat", "constant", _one_of(LR_SCHEDULES)),
    # step: lr * decay_rate every decay_epochs; exponential: lr * decay_rate ** (epoch / decay_epochs)
    "lr_decay_rate": ("float", 0.5, _range(0.0, 1.0, lo_open=True)),
    "lr_decay_epochs": ("int", 10, _range(1, 100_000)),
}
# The MLP (the default family): its layers, then the training ones.
HYPERPARAMETERS: dict[str, Entry] = {
    "hidden_layers": ("int", 1, _range(0, 16)),
    "units": ("int", 64, _range(1, 65536)),
    **_SHARED,
    **TRAINING_HYPERPARAMETERS,
}
MLP_HYPERPARAMETERS = HYPERPARAMETERS
# The CNN: convolution blocks (conv_layers x [Conv, pooling]), one dense layer (0: none), then training.
CNN_HYPERPARAMETERS: dict[str, Entry] = {
    "conv_layers": ("int", 2, _range(1, 8)),
    "filters": ("int", 32, _range(1, 65536)),
    "kernel_size": ("int", 3, _range(1, 1024)),
    "pooling": ("cat", "max", _one_of(POOLINGS)),
    "dense_units": ("int", 64, _range(0, 65536)),
    **_SHARED,
    **TRAINING_HYPERPARAMETERS,
}
# The hyperparameter table of each model family (the family objects that build the models are
# orchestrator.training.model.FAMILIES).
FAMILY_HYPERPARAMETERS: dict[str, dict[str, Entry]] = {"mlp": HYPERPARAMETERS, "cnn": CNN_HYPERPARAMETERS}
# Every name the product owns, whichever family: check_value's default table.
_OWNED: dict[str, Entry] = {**HYPERPARAMETERS, **CNN_HYPERPARAMETERS}


def hyperparameters(kind: str) -> dict[str, Entry]:
    """The hyperparameters the product owns for a model ``kind`` (``mlp``, ``cnn``, ``builder``):
    the family's, or for a builder the training ones only (the rest are the user's)."""
    return FAMILY_HYPERPARAMETERS.get(kind, TRAINING_HYPERPARAMETERS)


def check_value(name: str, value: Any, key: str, entry: Entry | None = None) -> Scalar:
    """One value of hyperparameter ``name`` as the model takes it, or a SpecError naming ``key``.

    Integers written as whole floats (``64.0``) become ints; floats written as YAML 1.1 reads
    ``1e-3`` (a string, for want of a dot) become floats. ``entry``: the hyperparameter's
    ``(kind, default, rule)`` when it is not one the product owns (a builder's own).
    """
    kind, _default, rule = entry if entry is not None else _OWNED[name]
    if kind == "cat":
        if not isinstance(value, str):
            raise SpecError(key, f"must be a string, got {value!r}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(key, f"must be true or false, got {value!r}")
    elif kind == "int":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise SpecError(key, f"must be an integer, got {value!r}")
        value = int(value)
    else:
        if isinstance(value, str):
            try:
                value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
            except ValueError:
                raise SpecError(key, f"must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(key, f"must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise SpecError(key, f"must be finite, got {value!r}")
    problem = rule(value)
    if problem:
        raise SpecError(key, problem)
    return value
