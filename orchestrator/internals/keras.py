"""Keras' internals (worker side): reaches only, no patches.

The training code (orchestrator/training/) subclasses or calls these through the functions below.
Each entry of KERAS_REACHES is checked by keras_reach_ok; when its target moved, the code using it
takes the public way (slower, or a model cached for fewer configurations, never different
numbers). Canaries: tests/integration/test_internals_keras.py.
"""

from __future__ import annotations

from typing import Any, Callable

from .patches import target_present

__all__ = ["KERAS_REACHES", "keras_reach_ok", "WeightsWriter", "keras_callback_list", "keras_classes"]

KERAS_REACHES: dict[str, str] = {
    # name -> the private target it relies on, and what it buys
    "weights_writer": "keras.src.saving.saving_lib:H5IOStore, _save_state",  # checkpoints off the training thread
    "callback_list": "keras.callbacks:CallbackList._configure_async_dispatch",  # no per-batch thread pool
    "local_apply": "keras.optimizers:Optimizer._all_reduce_sum_gradients",  # ~4 MB a traced model kept
    "sgd_momentum": "keras.optimizers:SGD.update_step, .momentums",  # momentum a graph variable (cache)
    "rmsprop_momentum": "keras.optimizers:RMSprop.update_step, ._velocities, ._momentums",  # same
    "dropout_rate": "keras.layers:Dropout.seed_generator, tf.nn.experimental.stateless_dropout",  # rate a variable
    "l2_factor": "keras.regularizers:L2.l2, L2.__call__",  # the L2 factor a graph variable (cache)
}


def _uses(owner: Any, method: str, *names: str) -> bool:
    """True when ``owner.method``'s code refers to every attribute in ``names``."""
    code = getattr(getattr(owner, method, None), "__code__", None)
    return code is not None and all(n in code.co_names for n in names)


_REACH_OK: dict[str, bool] = {}


def keras_reach_ok(name: str) -> bool:
    """Whether the Keras reach ``name`` (a key of :data:`KERAS_REACHES`) finds its target (imports Keras)."""
    if name not in _REACH_OK:
        _REACH_OK[name] = _check_keras_reach(name)
    return _REACH_OK[name]


def _check_keras_reach(name: str) -> bool:
    import keras

    opt, layers = keras.optimizers, keras.layers
    checks: dict[str, Callable[[], bool]] = {
        "weights_writer": lambda: (target_present("keras.src.saving.saving_lib:H5IOStore.make")
                                   and target_present("keras.src.saving.saving_lib:_save_state")),
        "callback_list": lambda: _uses(keras.callbacks.CallbackList, "__init__", "_configure_async_dispatch",
                                       "_async_train", "_async_test", "_async_predict"),
        "local_apply": lambda: (_uses(opt.Adam, "_backend_update_step", "_all_reduce_sum_gradients")
                                and callable(getattr(opt.Adam, "_all_reduce_sum_gradients", None))),
        "sgd_momentum": lambda: (_uses(opt.SGD, "build", "momentums")
                                 and _uses(opt.SGD, "update_step", "momentums", "_get_variable_index")),
        "rmsprop_momentum": lambda: (_uses(opt.RMSprop, "build", "_velocities", "_momentums")
                                     and _uses(opt.RMSprop, "update_step", "_velocities", "_momentums")),
        "dropout_rate": lambda: (_uses(layers.Dropout, "__init__", "seed_generator", "noise_shape")
                                 and target_present("tensorflow:nn.experimental.stateless_dropout")),
        "l2_factor": lambda: _uses(keras.regularizers.L2, "__init__", "l2")
        and "__call__" in vars(keras.regularizers.L2),
    }
    try:
        return bool(checks[name]())
    except Exception:  # noqa: BLE001 - any failure means the target moved
        return False


# What a weights file holds: (group path, its metadata, [(dataset name, variable)]) in file order
_Entries = list[tuple[str, dict[str, Any] | None, list[tuple[str, Any]]]]


class WeightsWriter:
    """Writes what ``model.save_weights`` writes, from a snapshot of the values, off the training thread.

    The file layout (groups, names, order) is recorded once per model by walking it the way Keras'
    saver does, with a recording store; writing replays it into Keras' own HDF5 store. When Keras'
    saving internals are not what this expects, :meth:`for_model` returns None and the caller uses
    ``model.save_weights``. The optimizer's entry is bound to its variables (:meth:`_bind_copies`),
    so a snapshot holds the optimizer state of the moment too, as ``save_weights`` would.
    """

    def __init__(self, entries: _Entries) -> None:
        self.entries = entries

    @classmethod
    def for_model(cls, model: Any) -> "WeightsWriter | None":
        """The writer of ``model`` (recorded on first use, kept on the model), or None: use ``save_weights``."""
        cached = getattr(model, "sweep_weights_writer", False)
        if cached is not False:
            return cached
        writer = None
        try:
            if keras_reach_ok("weights_writer"):
                writer = cls(cls._record(model))
        except Exception:  # noqa: BLE001 - Keras internals changed: fall back to model.save_weights
            writer = None
        model.sweep_weights_writer = writer
        return writer

    @staticmethod
    def _record(model: Any) -> _Entries:
        from keras.src.saving import saving_lib

        entries: _Entries = []

        class _Entry(dict):
            def __init__(self, items: list[tuple[str, Any]]) -> None:
                super().__init__()
                self.items_ = items

            def __setitem__(self, key: str, value: Any) -> None:
                self.items_.append((str(key), value))

        class _Recorder(saving_lib.H5IOStore):
            def __init__(self) -> None:  # no file
                self.mode = "w"

            def __bool__(self) -> bool:
                return True

            def make(self, path: str, metadata: dict[str, Any] | None = None) -> Any:
                items: list[tuple[str, Any]] = []
                entries.append((path, dict(metadata) if metadata else None, items))
                return _Entry(items)

        saving_lib._save_state(model, weights_store=_Recorder(), assets_store=None, inner_path="",
                               visited_saveables=set())
        return WeightsWriter._bind_copies(model, entries)

    @staticmethod
    def _bind_copies(model: Any, entries: _Entries) -> _Entries:
        """Keras' optimizer saves copies of its variables' values, not the variables: bind such an
        entry to the optimizer's variables (same name, count and shapes), so that a snapshot holds
        their values of the moment. Copied values of anything else: ValueError (use save_weights)."""
        import numpy as np

        opt = getattr(model, "optimizer", None)
        variables = list(getattr(opt, "variables", None) or [])
        bound = []
        for path, metadata, items in entries:
            if any(isinstance(v, np.ndarray) for _, v in items):
                if not ((metadata or {}).get("name") == getattr(opt, "name", None) and len(items) == len(variables)
                        and all(np.shape(v) == tuple(var.shape) for (_, v), var in zip(items, variables))):
                    raise ValueError(f"copied values in {path!r} that are not the optimizer's")
                items = [(key, var) for (key, _), var in zip(items, variables)]
            bound.append((path, metadata, items))
        return bound

    def snapshot(self) -> list[list[Any]]:
        """The values to write, copied now (training goes on changing the variables)."""
        import keras

        return [[keras.ops.convert_to_numpy(v) for _, v in items] for _, _, items in self.entries]

    def write(self, path: str, values: list[list[Any]]) -> None:
        """Write a :meth:`snapshot` to ``path``: the file ``model.save_weights(path)`` would have written."""
        from keras.src.saving import saving_lib

        store = saving_lib.H5IOStore(path, mode="w")
        try:
            for (inner, metadata, items), vals in zip(self.entries, values):
                entry = store.make(inner, metadata=metadata)
                for (key, _), value in zip(items, vals):
                    entry[key] = value
        finally:
            store.close()


def keras_callback_list(callbacks: list[Any], model: Any, epochs: int, on_train_batch_end: Callable[[], None]) -> Any:
    """A ``keras.callbacks.CallbackList`` whose batch hooks only call ``on_train_batch_end()``.

    Keras would otherwise hand every batch's logs to a thread pool (or convert them on the
    training thread) for callbacks that ignore them; the trial's callbacks use epoch hooks only,
    and ``on_train_batch_end`` checks for a stop. Without the private hook (``callback_list``)
    the list may start Keras' thread pool, which then has nothing to do.
    """
    import keras

    no_async = keras_reach_ok("callback_list")

    class _List(keras.callbacks.CallbackList):
        if no_async:
            def _configure_async_dispatch(self, callbacks: Any) -> None:
                self._async_train = self._async_test = self._async_predict = False

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            on_train_batch_end()

    def ignore(self: Any, batch: int, logs: Any = None) -> None:
        pass

    for hook in ("on_train_batch_begin", "on_test_batch_begin", "on_test_batch_end", "on_batch_begin", "on_batch_end"):
        setattr(_List, hook, ignore)
    return _List(callbacks, add_history=True, add_progbar=False, model=model, verbose=0, epochs=epochs)


_KERAS_CLASSES: dict[str, Any] = {}


def keras_classes() -> dict[str, Any]:
    """Keras classes whose hyperparameters are graph variables (defined on first use: imports Keras).

    ``Knob`` (a float the traced graph reads), ``Adam``, ``AdamW``, ``Nadam``, ``SGD``, ``RMSprop``,
    ``Dropout``, ``L2`` (``AdamW`` bakes its weight decay in: a cache key holds it):
    each is the stock Keras class with one value read from a ``Knob`` instead of a Python float
    baked into the traced graph; the arithmetic is the stock one, op for op. Each class says in
    ``sweep_reads_knob`` whether it does (False: its reach moved, the stock class runs and the
    value is baked in, so a model is reused only for the same value).
    """
    if not _KERAS_CLASSES:
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

        _KERAS_CLASSES.update(Knob=Knob, **_optimizer_classes(Knob), **_layer_classes(Knob))
    return _KERAS_CLASSES


def _optimizer_classes(Knob: Any) -> dict[str, Any]:  # noqa: N803 - a class
    import keras
    import tensorflow as tf
    from keras import ops

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

    local = (LocalApply,) if keras_reach_ok("local_apply") else ()

    class Adam(*local, keras.optimizers.Adam):  # type: ignore[misc]
        """Keras Adam (see ``LocalApply``)."""

        sweep_reads_knob = True  # nothing to read: the learning rate is a Keras variable already

    class MomentumKnob:
        """The optimizer's momentum, also held in a ``Knob`` (``sweep_momentum``) for the copies to read."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sweep_momentum = Knob(self.momentum, "momentum")  # type: ignore[attr-defined]

    class SGD(MomentumKnob, *local, keras.optimizers.SGD):  # type: ignore[misc]
        """Keras SGD; a non-zero momentum is read from a variable (same update as Keras')."""

        sweep_reads_knob = keras_reach_ok("sgd_momentum")

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            if not self.sweep_reads_knob or self.momentum == 0 or self.nesterov:
                return super().update_step(gradient, variable, learning_rate)
            learning_rate = ops.cast(learning_rate, variable.dtype)
            gradient = ops.cast(gradient, variable.dtype)
            m = self.momentums[self._get_variable_index(variable)]
            momentum = self.sweep_momentum.read(variable.dtype)
            self.assign(m, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate)))
            self.assign_add(variable, m)

    class RMSprop(MomentumKnob, *local, keras.optimizers.RMSprop):  # type: ignore[misc]
        """Keras RMSprop; a non-zero momentum is read from a variable (same update as Keras')."""

        sweep_reads_knob = keras_reach_ok("rmsprop_momentum")

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            if not self.sweep_reads_knob or not self.momentum > 0 or self.centered:
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

    plain = {n: type(n, (*local, getattr(keras.optimizers, n)), {"sweep_reads_knob": True}) for n in ("AdamW", "Nadam")}
    return {"Adam": Adam, "SGD": SGD, "RMSprop": RMSprop, **plain}


def _layer_classes(Knob: Any) -> dict[str, Any]:  # noqa: N803 - a class
    import keras
    import tensorflow as tf
    from keras import ops

    class Dropout(keras.layers.Dropout):
        """Keras Dropout whose rate is read from a variable (stateless dropout seeded like Keras')."""

        sweep_reads_knob = keras_reach_ok("dropout_rate")

        def __init__(self, rate: float, knob: Any = None, **kwargs: Any) -> None:
            super().__init__(rate, **kwargs)
            self.sweep_rate = knob or Knob(rate, "dropout_rate")

        def call(self, inputs: Any, training: bool = False) -> Any:
            if not self.sweep_reads_knob:
                return super().call(inputs, training=training)
            if training and self.rate > 0:
                seed = self.seed_generator.next()
                if seed.dtype != tf.int32:  # as keras.src.backend.tensorflow.random._cast_seed
                    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), dtype="int32")
                return tf.nn.experimental.stateless_dropout(
                    inputs, rate=self.sweep_rate.read(inputs.dtype), noise_shape=self.noise_shape, seed=seed)
            return inputs

    class L2(keras.regularizers.L2):
        """Keras L2 whose factor is read from a variable."""

        sweep_reads_knob = keras_reach_ok("l2_factor")

        def __init__(self, l2: float, knob: Any = None) -> None:
            super().__init__(l2)
            self.sweep_l2 = knob or Knob(l2, "l2")

        def __call__(self, x: Any) -> Any:
            if not self.sweep_reads_knob:
                return super().__call__(x)
            return self.sweep_l2.read(x.dtype) * ops.sum(ops.square(x))

    return {"Dropout": Dropout, "L2": L2}
