"""What the product's own families (MLP, CNN) share: hyperparameters as graph variables, and the reset.

A built-in model is compiled by :func:`compile_tuned`: the configuration's optimizer
(:func:`~orchestrator.training.optimizers.make_optimizer`), built eagerly, its initial state kept,
and :class:`Tunables` on the model (the graph key it was built for, and the dropout and L2
:class:`Knobs` its layers read). :func:`reset_tuned` puts such a model, fresh or cached, in the
state a trial starts from: every weight of every layer with a kernel or bias initializer (Dense,
Conv1D, Conv2D) drawn again from a seed derived from the trial's seed and the weight's position
(:func:`reset_weights`), the optimizer's variables back to their initial values, learning rate,
momentum, dropout rate and L2 factor set from the configuration, dropout seed generators
restarted. Fresh and cached models go through this same path, so a trial trains identically
whichever it gets. TensorFlow is imported only when a model is compiled or reset.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable

from ..internals import keras_classes
from .epoch import task_loss, task_metrics
from .inputs import DataInfo
from .optimizers import baked_values, make_optimizer

__all__ = ["Knobs", "Tunables", "make_knobs", "compile_tuned", "tuned_cache_key", "derived_seed", "reset_weights",
           "reset_tuned"]

KeyOf = Callable[[dict[str, Any], DataInfo], tuple]


@dataclass
class Knobs:
    """The dropout rate and L2 factor every layer of one model reads (None: that value is 0, no knob)."""

    dropout: Any = None
    l2: Any = None

    def regularizer(self, l2: float) -> Any:
        """The kernel regularizer of a layer penalised by ``l2`` (None for 0), reading the model's knob."""
        return keras_classes()["L2"](l2, knob=self.l2) if l2 > 0 else None

    def dropout_layer(self, rate: float) -> Any:
        """A dropout layer reading the model's dropout knob."""
        return keras_classes()["Dropout"](rate, knob=self.dropout)


def make_knobs(hp: dict[str, Any]) -> Knobs:
    """The knobs of a model for ``hp``: one for a non-zero ``dropout``, one for a non-zero ``l2`` (imports Keras)."""
    c = keras_classes()
    l2 = float(hp.get("l2") or 0.0)
    rate = float(hp.get("dropout") or 0.0)
    return Knobs(c["Knob"](rate, "dropout_rate") if rate > 0 else None, c["Knob"](l2, "l2") if l2 > 0 else None)


class Tunables:
    """What :func:`reset_tuned` needs besides the model's layers (a plain object: Keras does not track it)."""

    def __init__(self, info: DataInfo, key_of: KeyOf, key: tuple, knobs: Knobs, optimizer_initial: list[Any]) -> None:
        self.info = info
        self.key_of = key_of  # the family's graph key of (hp, info)
        self.key = key
        self.dropout = knobs.dropout
        self.l2 = knobs.l2
        self.optimizer_initial = optimizer_initial


def compile_tuned(model: Any, hp: dict[str, Any], info: DataInfo, *, key_of: KeyOf, knobs: Knobs,
                  steps_per_execution: int = 1) -> Any:
    """Compile ``model`` with the configuration's optimizer, the task's loss and metrics; returns it.

    The optimizer's variables are created here, eagerly (Keras would otherwise create them while
    tracing the first training step, which is slower), and their initial values kept for
    :func:`reset_tuned`.
    """
    import keras

    opt = make_optimizer(hp)
    model.compile(optimizer=opt, loss=task_loss(info.task), metrics=task_metrics(info.task),
                  steps_per_execution=steps_per_execution)
    opt.build(model.trainable_variables)
    model.sweep_tunables = Tunables(info, key_of, key_of(hp, info), knobs,
                                    [keras.ops.convert_to_numpy(v) for v in opt.variables])
    return model


def tuned_cache_key(hp: dict[str, Any], graph: tuple) -> tuple:
    """``graph`` (a family's graph key) plus the value of each hyperparameter this Keras bakes into the graph.

    Momentum, dropout rate and L2 factor are graph variables where their Keras reach holds
    (:func:`orchestrator.internals.keras_classes`), AdamW's weight decay never is; where one is
    baked, a model serves only configurations with the same value.
    """
    c = keras_classes()
    baked = baked_values(hp)
    if not c["Dropout"].sweep_reads_knob:
        baked.append(("dropout", float(hp.get("dropout") or 0.0)))
    if not c["L2"].sweep_reads_knob:
        baked.append(("l2", float(hp.get("l2") or 0.0)))
    return graph + tuple(baked)


def derived_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th random draw of a trial seeded ``seed``."""
    return zlib.crc32(f"{int(seed)}:{index}".encode()) & 0x7FFFFFFF


def reset_weights(model: Any, seed: int) -> None:
    """Every weight drawn again by its layer's initializer, seeded from ``seed`` and its position;
    dropout seed generators restarted from ``seed``.

    Knows the layers with ``kernel``/``bias`` and their initializers (Dense, Conv1D, Conv2D);
    ValueError naming any trainable variable it did not reset.
    """
    import keras

    index = 0
    covered: set[int] = set()
    for layer in model.layers:
        for attr in ("kernel", "bias"):
            init = getattr(layer, f"{attr}_initializer", None)
            var = getattr(layer, attr, None) if init is not None else None
            if var is None:
                continue
            config = init.get_config()
            if "seed" in config:
                config["seed"] = derived_seed(seed, index)
                init = type(init).from_config(config)
            var.assign(init(var.shape, dtype=var.dtype))
            covered.add(id(var))
            index += 1
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            generator.state.assign(keras.ops.convert_to_tensor(
                [derived_seed(seed, 10_000 + index), 0], dtype=generator.state.dtype))
            index += 1
    missed = [v.path for v in model.trainable_variables if id(v) not in covered]
    if missed:
        raise ValueError(f"reset_model: no initializer known for {missed}")


def reset_tuned(model: Any, hp: dict[str, Any], seed: int) -> None:
    """Put a model from :func:`compile_tuned` in the state a trial with ``hp`` and ``seed`` starts from.

    Raises:
        ValueError: ``hp`` needs a different graph than the model's (its family's graph key).
    """
    import keras

    tunables: Tunables = model.sweep_tunables
    if tunables.key_of(hp, tunables.info) != tunables.key:
        raise ValueError("reset_model: this configuration needs another graph than the model's")
    reset_weights(model, seed)
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
        l2 = float(hp.get("l2") or 0.0)
        tunables.l2.assign(l2)
        for layer in model.layers:
            reg = getattr(layer, "kernel_regularizer", None)
            if reg is not None:
                reg.l2 = l2
    model.stop_training = False
