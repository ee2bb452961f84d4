"""The Keras MLP built from a trial's hyperparameters, and a per-worker cache of traced models.

:func:`model_plan` and :func:`graph_key` are pure (no TensorFlow): they say which layers a
configuration builds and which configurations share one traced training graph, so both are
unit-testable. :func:`build_model` turns the plan into a compiled Keras model, :func:`reset_model`
puts a model in the state a trial starts from (weights drawn from the trial's seed, optimizer state
zeroed, hyperparameters set), and :class:`ModelCache` keeps a few built, compiled and traced models
per worker so that a trial whose graph was already traced skips tracing (most of a short trial's
compute). TensorFlow is imported only when a model is built.

Why a cached model trains exactly like a fresh one: every trial starts with :func:`reset_model`,
fresh or cached, and the values that differ between trials sharing a graph (learning rate,
momentum, dropout rate, L2 factor) are variables the traced graph reads, not constants baked into
it. Weights come from each layer's initializer with an explicit per-variable seed derived from the
trial seed, and the dropout seed generators are reset from it too.
"""

from __future__ import annotations

import math
import os
import zlib
from collections import OrderedDict
from typing import Any

__all__ = ["model_plan", "graph_key", "build_model", "reset_model", "ModelCache", "freeze_imports", "task_metrics",
           "learning_rate_at", "baseline_loss", "DEFAULT_CACHE_SIZE"]

# Models kept per worker. A cached MLP with its traced train and validation functions costs about
# 15-18 MB of the worker's memory (benchmarks/placement.md: 4 models grew a worker by 53 MB), so 3
# keep a worker that runs trial after trial within 50 MB of its size after the first; the cache
# still pays whenever trials repeat an architecture and batch size (a search over rates, PBT).
DEFAULT_CACHE_SIZE = 3


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
    import numpy as np

    if task == "classification":
        return math.log(max(n_classes, 2))
    return float(np.var(np.asarray(y_train, dtype=float)))




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


_CLASSES: dict[str, Any] = {}


def _classes() -> dict[str, Any]:
    """Keras classes whose hyperparameters are graph variables (defined on first use: imports Keras).

    Each is the stock Keras class with one value read from a ``tf.Variable`` instead of a Python
    float baked into the traced graph; the arithmetic is the stock one, op for op.
    """
    if _CLASSES:
        return _CLASSES
    import keras
    import tensorflow as tf
    from keras import ops

    class Knob:
        """A float hyperparameter the traced graph reads. Not a Keras variable: never in the weights file."""

        def __init__(self, value: float, name: str) -> None:
            with tf.init_scope():
                self.var = tf.Variable(float(value), dtype=tf.float32, trainable=False, name=name)

        def assign(self, value: float) -> None:
            self.var.assign(float(value))

        def read(self, dtype: Any) -> Any:
            return ops.cast(self.var, dtype)

    class LocalApply:
        """Applies gradients without a cross-replica all-reduce when no distribution strategy is in use.

        With one replica that all-reduce is the identity, but TensorFlow registers a new custom
        gradient for it every time a training step is traced, and the registry keeps the traced
        graph alive: ~4 MB a traced model, never freed, even by ``clear_session``. Skipping it
        changes no number.
        """

        def _all_reduce_sum_gradients(self, grads_and_vars: Any) -> Any:
            if not tf.distribute.has_strategy():
                return list(grads_and_vars)
            return super()._all_reduce_sum_gradients(grads_and_vars)  # type: ignore[misc]

    class Adam(LocalApply, keras.optimizers.Adam):
        """Keras Adam (see :class:`LocalApply`)."""

    class SGD(LocalApply, keras.optimizers.SGD):
        """Keras SGD; a non-zero momentum is read from a variable (same update as Keras')."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sweep_momentum = Knob(self.momentum, "momentum")

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            if self.momentum == 0 or self.nesterov:
                return super().update_step(gradient, variable, learning_rate)
            learning_rate = ops.cast(learning_rate, variable.dtype)
            gradient = ops.cast(gradient, variable.dtype)
            m = self.momentums[self._get_variable_index(variable)]
            momentum = self.sweep_momentum.read(variable.dtype)
            self.assign(m, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate)))
            self.assign_add(variable, m)

    class RMSprop(LocalApply, keras.optimizers.RMSprop):
        """Keras RMSprop; a non-zero momentum is read from a variable (same update as Keras')."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sweep_momentum = Knob(self.momentum, "momentum")

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            if not self.momentum > 0 or self.centered:
                return super().update_step(gradient, variable, learning_rate)
            lr = ops.cast(learning_rate, variable.dtype)
            gradient = ops.cast(gradient, variable.dtype)
            index = self._get_variable_index(variable)
            velocity = self._velocities[index]
            momentum = self._momentums[index]
            rho = self.rho
            self.assign(velocity, ops.add(ops.multiply(rho, velocity), ops.multiply(1 - rho, ops.square(gradient))))
            denominator = ops.add(velocity, self.epsilon)
            increment = ops.divide(ops.multiply(lr, gradient), ops.sqrt(denominator))
            self.assign(momentum, ops.add(ops.multiply(self.sweep_momentum.read(variable.dtype), momentum), increment))
            self.assign_sub(variable, momentum)

    class Dropout(keras.layers.Dropout):
        """Keras Dropout whose rate is read from a variable (stateless dropout seeded like Keras')."""

        def __init__(self, rate: float, knob: Any = None, **kwargs: Any) -> None:
            super().__init__(rate, **kwargs)
            self.sweep_rate = knob or Knob(rate, "dropout_rate")

        def call(self, inputs: Any, training: bool = False) -> Any:
            if training and self.rate > 0:
                seed = self.seed_generator.next()
                if seed.dtype != tf.int32:  # as keras.src.backend.tensorflow.random._cast_seed
                    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), dtype="int32")
                return tf.nn.experimental.stateless_dropout(
                    inputs, rate=self.sweep_rate.read(inputs.dtype), noise_shape=self.noise_shape, seed=seed)
            return inputs

    class L2(keras.regularizers.L2):
        """Keras L2 whose factor is read from a variable."""

        def __init__(self, l2: float, knob: Any = None) -> None:
            super().__init__(l2)
            self.sweep_l2 = knob or Knob(l2, "l2")

        def __call__(self, x: Any) -> Any:
            return self.sweep_l2.read(x.dtype) * ops.sum(ops.square(x))

    _CLASSES.update(Knob=Knob, Adam=Adam, SGD=SGD, RMSprop=RMSprop, Dropout=Dropout, L2=L2)
    return _CLASSES


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

    c = _classes()
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


def _release_memory() -> None:
    """Free dropped models now and hand the freed heap back to the system.

    ``keras.backend.clear_session`` drops Keras' global state and TensorFlow's kernel cache, which
    otherwise keeps the instantiated functions of every model ever run (~0.6 MB each); the models
    still cached keep working (their next call instantiates its kernels again, ~0.1 s). Keras
    models hold reference cycles, so only the cyclic collector frees them; after
    :func:`freeze_imports` a full collection costs tens of milliseconds, not hundreds. glibc keeps
    freed memory otherwise, and the worker's resident memory would grow with every eviction.
    """
    import gc

    import keras

    keras.backend.clear_session(free_memory=False)
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def freeze_imports() -> None:
    """Move every object alive now (the imported modules: TensorFlow, Keras, Ray) out of the collector's sight.

    Called once per worker after the imports. A worker holds ~450k such objects, and every full
    collection, automatic or explicit, would scan them all (0.3-0.4 s each, during training too).
    """
    import gc

    gc.freeze()


class ModelCache:
    """Built, compiled and traced models of one worker, least recently used first out.

    ``get`` returns a model reset for the trial (:func:`reset_model`), reusing one with the same
    :func:`graph_key` when there is one. A full cache drops its least recently used model; Keras'
    global state is cleared (``keras.backend.clear_session``) only when the whole cache is, so
    memory stays flat however many trials a worker runs.

    Args:
        size: models kept; 0 builds a fresh model for every trial (clearing the session first, as
            without a cache). Default: ``SWEEP_MODEL_CACHE`` from the environment, else
            :data:`DEFAULT_CACHE_SIZE`.
    """

    def __init__(self, size: int | None = None) -> None:
        if size is None:
            size = int(os.environ.get("SWEEP_MODEL_CACHE", DEFAULT_CACHE_SIZE))
        self.size = max(0, int(size))
        self._models: OrderedDict[tuple, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._models)

    def get(self, hp: dict[str, Any], n_features: int, task: str, n_classes: int, seed: int,
            steps_per_execution: int = 1) -> tuple[Any, bool]:
        """A model for ``hp``, reset for a trial seeded ``seed``; True when it came from the cache."""
        key = (graph_key(hp, n_features, task, n_classes), int(steps_per_execution))
        model = self._models.pop(key, None)
        hit = model is not None
        if model is None:
            self.misses += 1
            if self.size == 0:
                self.clear()
            if self._models and len(self._models) >= self.size:
                while len(self._models) >= self.size:
                    self._models.popitem(last=False)
                _release_memory()
            model = build_model(hp, n_features, task, n_classes, steps_per_execution=steps_per_execution)
        else:
            self.hits += 1
        if self.size > 0:
            self._models[key] = model
        reset_model(model, hp, seed)
        return model, hit

    def clear(self) -> None:
        """Drop every model and clear Keras' global state."""
        self._models.clear()
        _release_memory()
