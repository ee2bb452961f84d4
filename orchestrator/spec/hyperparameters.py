"""The model's hyperparameters: name -> (kind, default, rule). Every one of them can be searched.

``kind`` is ``"int"``, ``"float"`` or ``"cat"``; ``rule`` checks one value and returns an error
text or None. :func:`check_value` applies both to a value written in a spec.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Union

from ..errors import SpecError

__all__ = ["HYPERPARAMETERS", "OPTIMIZERS", "ACTIVATIONS", "LR_SCHEDULES", "Scalar", "check_value"]

Scalar = Union[bool, int, float, str]
Rule = Callable[[Any], Union[str, None]]

OPTIMIZERS = ("sgd", "adam", "rmsprop")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "linear")
LR_SCHEDULES = ("constant", "step", "exponential")


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


HYPERPARAMETERS: dict[str, tuple[str, Any, Rule]] = {
    "hidden_layers": ("int", 1, _range(0, 16)),
    "units": ("int", 64, _range(1, 65536)),
    "activation": ("cat", "relu", _one_of(ACTIVATIONS)),
    "dropout": ("float", 0.0, _range(0.0, 1.0, hi_open=True)),
    "l2": ("float", 0.0, _range(0.0, None)),
    "optimizer": ("cat", "adam", _one_of(OPTIMIZERS)),
    "learning_rate": ("float", 1e-3, _range(0.0, None, lo_open=True)),
    "momentum": ("float", 0.0, _range(0.0, 1.0, hi_open=True)),
    "batch_size": ("int", 32, _range(1, 1_000_000)),
    "epochs": ("int", 20, _range(1, 100_000)),
    "lr_schedule": ("cat", "constant", _one_of(LR_SCHEDULES)),
    # step: lr * decay_rate every decay_epochs; exponential: lr * decay_rate ** (epoch / decay_epochs)
    "lr_decay_rate": ("float", 0.5, _range(0.0, 1.0, lo_open=True)),
    "lr_decay_epochs": ("int", 10, _range(1, 100_000)),
}


def check_value(name: str, value: Any, key: str) -> Scalar:
    """One value of hyperparameter ``name`` as the model takes it, or a SpecError naming ``key``.

    Integers written as whole floats (``64.0``) become ints; floats written as YAML 1.1 reads
    ``1e-3`` (a string, for want of a dot) become floats.
    """
    kind, _default, rule = HYPERPARAMETERS[name]
    if kind == "cat":
        if not isinstance(value, str):
            raise SpecError(key, f"must be a string, got {value!r}")
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
