"""The optimizer of a configuration, for every model family, and the learning rate the product owns.

:func:`make_optimizer` builds the ``optimizer`` a configuration names (sgd, adam, rmsprop, adamw,
nadam) at its ``learning_rate`` (and ``momentum`` for sgd and rmsprop, ``weight_decay`` for
adamw), from :func:`orchestrator.internals.keras_classes` so that momentum is a variable of the
traced graph. :func:`optimizer_key` is what of the optimizer shapes that graph and
:func:`baked_values` what this Keras bakes into it (both pure: a model cache key holds them).
:func:`set_learning_rate` is how the trainable, the babysitter and PBT change a model's rate: an
optimizer compiled with a learning-rate schedule has none to set. TensorFlow is imported only
when an optimizer is built.
"""

from __future__ import annotations

from typing import Any

from ..internals import keras_classes

__all__ = ["OPTIMIZER_NAMES", "DEFAULT_WEIGHT_DECAY", "SCHEDULE_NOTE", "weight_decay", "make_optimizer", "optimizer_key",
           "baked_values", "rate_is_settable", "set_learning_rate", "current_learning_rate"]

OPTIMIZER_NAMES = ("sgd", "adam", "rmsprop", "adamw", "nadam")
DEFAULT_WEIGHT_DECAY = 0.004  # Keras' AdamW default
SCHEDULE_NOTE = ("compiled with a learning-rate schedule: learning_rate, lr_schedule, PBT and the babysitter "
                 "cannot change it")

# optimizer name -> its class in keras_classes()
_CLASSES = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop", "adamw": "AdamW", "nadam": "Nadam"}
_MOMENTUM = ("sgd", "rmsprop")


def _name(hp: dict[str, Any]) -> str:
    name = str(hp.get("optimizer") or "adam")
    if name not in _CLASSES:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZER_NAMES)}")
    return name


def weight_decay(hp: dict[str, Any]) -> float:
    """The configuration's AdamW weight decay (:data:`DEFAULT_WEIGHT_DECAY` when it has none)."""
    value = hp.get("weight_decay")
    return DEFAULT_WEIGHT_DECAY if value is None else float(value)


def make_optimizer(hp: dict[str, Any]) -> Any:
    """A new optimizer for the configuration ``hp`` (imports Keras).

    sgd and rmsprop take ``momentum`` (0 when absent), adamw takes ``weight_decay``; adam and
    nadam take the learning rate only.
    """
    name = _name(hp)
    cls = keras_classes()[_CLASSES[name]]
    lr = float(hp["learning_rate"])
    if name in _MOMENTUM:
        return cls(learning_rate=lr, momentum=float(hp.get("momentum") or 0.0))
    if name == "adamw":
        return cls(learning_rate=lr, weight_decay=weight_decay(hp))
    return cls(learning_rate=lr)


def optimizer_key(hp: dict[str, Any]) -> tuple[str, bool]:
    """What of the optimizer shapes the traced graph: its name, and whether a momentum is non-zero (pure)."""
    name = _name(hp)
    return name, name in _MOMENTUM and float(hp.get("momentum") or 0.0) > 0


def baked_values(hp: dict[str, Any]) -> list[tuple[str, float]]:
    """The optimizer's hyperparameters this Keras bakes into the traced graph, with their values.

    AdamW's weight decay always (Keras reads it as a Python float); momentum when the SGD or
    RMSprop class could not make it a variable (its reach moved). Imports Keras.
    """
    name = _name(hp)
    if name == "adamw":
        return [("weight_decay", weight_decay(hp))]
    if name in _MOMENTUM and not keras_classes()[_CLASSES[name]].sweep_reads_knob:
        return [("momentum", float(hp.get("momentum") or 0.0))]
    return []


def rate_is_settable(optimizer: Any) -> bool:
    """Whether the optimizer's learning rate is a variable (not a schedule or a function of the step)."""
    import keras

    return isinstance(optimizer.learning_rate, keras.Variable)


def set_learning_rate(model: Any, value: float) -> bool:
    """Set the compiled ``model``'s learning rate; False (nothing done) when it follows a schedule."""
    opt = model.optimizer
    if not rate_is_settable(opt):
        return False
    opt.learning_rate.assign(float(value))
    return True


def current_learning_rate(model: Any) -> float:
    """The learning rate the next step of ``model`` uses (a schedule's value at the current step)."""
    import keras

    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
