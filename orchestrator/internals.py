"""Every reach into Ray's, Ray Tune's and Keras' internals, behind one door.

The product relies on a few private details of its dependencies, each to save real time or memory
(the figures are in each entry's docstring). They all live here, so that an upgrade of Ray or
Keras has one place to look:

- a *patch* replaces an attribute of a library for the duration of :func:`patched` (and puts it
  back after); each checks its target first and, when the target moved, does nothing (the library
  then runs as it is, a little slower);
- a *reach* uses a private name directly (a subclass hook, a private module); each falls back to
  the public way when the name is not there.

``tests/integration/test_internals.py`` (Ray, Tune) and ``test_internals_keras.py`` (Keras) hold one
canary per entry: it fails, naming the entry, when an upgrade moves its target, so the fallback is
never silently the only path.

The versions these were tested against are the upper bounds in ``pyproject.toml``; to move them,
install the new versions, run ``pytest tests/integration/test_internals.py`` and the suite, then
raise the bounds.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

__all__ = ["Patch", "PATCHES", "patched", "swap", "target_present"]

Undo = Callable[[], None]


@dataclass(frozen=True)
class Patch:
    """One patch: ``apply(**options)`` returns an undo function, or None when it did not patch."""

    name: str
    target: str  # dotted path of what is replaced, for messages and canaries
    apply: Callable[..., Undo | None]


PATCHES: dict[str, Patch] = {}


def register(name: str, target: str) -> Callable[[Callable[..., Undo | None]], Callable[..., Undo | None]]:
    """Decorator: register ``fn`` as the patch ``name`` of ``target``."""

    def wrap(fn: Callable[..., Undo | None]) -> Callable[..., Undo | None]:
        PATCHES[name] = Patch(name, target, fn)
        return fn

    return wrap


def swap(owner: Any, name: str, value: Any) -> Undo:
    """Set ``owner.name`` to ``value``; returns the function that puts the original back."""
    original = getattr(owner, name)
    setattr(owner, name, value)
    return lambda: setattr(owner, name, original)


def target_present(dotted: str) -> bool:
    """True when ``dotted`` (``package.module:Attr.attr`` or ``package.module.attr``) resolves.

    Only modules already imported are looked at (the package never imports by name: see
    ``tests/unit/test_security.py``): a caller imports the library first, as every patch does.
    """
    import sys

    module, _, attrs = dotted.partition(":")
    if not attrs:
        module, _, attrs = dotted.rpartition(".")
    obj: Any = sys.modules.get(module)
    if obj is None:
        return False
    for part in attrs.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


@contextlib.contextmanager
def patched(*names: str, **options: Any) -> Iterator[dict[str, bool]]:
    """Apply the named patches for the duration of the block, then undo them in reverse order.

    ``options`` are passed to every patch that takes them by name. Yields ``{name: applied}``:
    a patch whose target moved (or whose conditions do not hold) is not applied and the library
    runs as it is.
    """
    import inspect

    undos: list[Undo] = []
    applied: dict[str, bool] = {}
    try:
        for name in names:
            patch = PATCHES[name]
            accepted = inspect.signature(patch.apply).parameters
            try:
                undo = patch.apply(**{k: v for k, v in options.items() if k in accepted})
            except Exception:  # noqa: BLE001 - a moved target: run the library as it is
                undo = None
            applied[name] = undo is not None
            if undo is not None:
                undos.append(undo)
        yield applied
    finally:
        for undo in reversed(undos):
            undo()


# --------------------------------------------------------------------------------------------
# Ray and Ray Tune (driver side)
# --------------------------------------------------------------------------------------------
# RAY_START_PATCHES are applied around ``ray.init`` when the product starts an embedded Ray
# (execution/ray_start.py), the fourth around ``tuner.fit`` when that Ray was started in this
# process. Tested against Ray 2.60.

__all__ += ["RAY_START_PATCHES", "ray_init_private_kwargs", "trial_actor"]

RAY_START_PATCHES = ("ray_node_params", "ray_loopback", "ray_no_api_server")


def _taken_port_or_none(port: int) -> int | None:
    """None when ``port`` is free on this machine, else a free port to use instead."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("", port))
            return None
        except OSError:
            pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


@register("ray_node_params", "ray._private.parameter:RayParams.__init__")
def _node_params() -> Undo | None:
    """Defaults for the node an embedded Ray starts that ``ray.init`` has no argument for.

    No log monitor (it streams workers' output to the driver, which ``log_to_driver=False`` turns
    off anyway) and no autoscaler monitor (one machine): two Python processes that took 0.7
    CPU-seconds while the first trials started on 2 cores. When Ray's dashboard agent port is
    taken (another Ray on this machine), a free one: else the agent retries the taken port for
    about 3.5 s and the raylet waits for it before ``ray.init`` returns.
    """
    from ray._private import parameter, ray_constants

    defaults: dict[str, Any] = {"include_log_monitor": False, "no_monitor": True}
    instead = _taken_port_or_none(ray_constants.DEFAULT_DASHBOARD_AGENT_LISTEN_PORT)
    if instead is not None:
        defaults["dashboard_agent_listen_port"] = instead
    original = parameter.RayParams.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        for k, v in defaults.items():
            if kwargs.get(k) is None:
                kwargs[k] = v
        original(self, *args, **kwargs)

    return swap(parameter.RayParams, "__init__", init)


@register("ray_loopback", "ray._private.ray_constants:ENABLE_RAY_CLUSTER")
def _loopback() -> Undo | None:
    """Make an embedded Ray bind its servers to 127.0.0.1 instead of every interface.

    Ray (2.60) turns ``_node_ip_address="127.0.0.1"`` into the machine's address unless it runs
    in its single-machine mode (the default on macOS and Windows, ``ENABLE_RAY_CLUSTER`` false);
    on Linux its GCS, raylet and workers then listen on all interfaces. This switches that mode on
    for the duration of ``ray.init``. Unpatched, the caller passes no address (Ray's default).
    """
    from ray._private import ray_constants

    if not hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
        return None
    return swap(ray_constants, "ENABLE_RAY_CLUSTER", False)


@register("ray_no_api_server", "ray._private.node:Node.start_api_server")
def _no_api_server() -> Undo | None:
    """Start an embedded Ray without its API server process when no dashboard is wanted.

    Ray (2.60) starts its dashboard head even with ``include_dashboard=False`` (then loading only
    its usage statistics, off here) and ``ray.init`` polls until it is up: 0.5-1 s on 2 cores.
    Nothing a sweep uses needs it (Tune talks to the GCS and the raylet).
    """
    from ray._private import node

    return swap(node.Node, "start_api_server", lambda self, **kwargs: None)


@register("tune_actors_without_runtime_env", "ray.tune.execution.class_cache:_ActorClassCache.get")
def _tune_actors_without_runtime_env() -> Undo | None:
    """Let Ray Tune's trial actors start in the workers an embedded Ray has prestarted.

    Tune registers its trainable with a runtime_env of a few environment variables
    (``PL_DISABLE_FORK=1`` and those it copies from the driver's environment). Ray hands an actor
    only an idle worker of the same runtime_env, so it started two new workers for the first
    trials while the two it prestarted (one per CPU) sat idle: 1.7 s later to the first trial on 2
    cores. An embedded Ray's workers inherit this process's environment, which holds those
    variables already: this registers the trainable without the runtime_env, only when every
    variable Tune would set has that value here (else None: Tune keeps its runtime_env). Whether a
    prestarted worker is idle when the first trial asks is up to Ray's timing; when none is, Ray
    starts a new worker, as it would unpatched.
    """
    import os

    import ray
    from ray.tune.execution import class_cache

    wanted = dict(class_cache.DEFAULT_ENV_VARS)
    wanted.update({k: os.environ[k] for k in class_cache.ENV_VARS_TO_PROPAGATE if k in os.environ})
    if any(os.environ.get(k) != v for k, v in wanted.items()):
        return None

    def get(self: Any, trainable_cls: Any) -> Any:
        if trainable_cls not in self._cache:
            self._cache[trainable_cls] = ray.remote(trainable_cls)
        return self._cache[trainable_cls]

    return swap(class_cache._ActorClassCache, "get", get)


def ray_init_private_kwargs(*, node_ip_address: str | None = None,
                            system_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """``ray.init``'s private keyword arguments for an embedded Ray, those this Ray still reads.

    ``_node_ip_address`` (127.0.0.1, with ``ray_loopback``) and ``_system_config`` (Ray's
    ``worker_niceness``, ``preload_python_modules``). One ``ray.init`` no longer reads is left out
    (Ray's default then) rather than passed to be refused.
    """
    import inspect

    import ray

    try:
        known = set(inspect.unwrap(ray.init).__code__.co_varnames)
    except Exception:  # noqa: BLE001 - not a plain function any more: pass nothing private
        known = set()
    given = {"_node_ip_address": node_ip_address, "_system_config": dict(system_config or {}) or None}
    return {k: v for k, v in given.items() if v is not None and k in known}


def trial_actor(trial: Any) -> Any:
    """The Ray actor running a Ray Tune trial (``trial.temporary_state.ray_actor``), or None.

    Used to kill a trial that has not reported yet when a time budget ends; None (the trial then
    stops by itself) when Tune moved it.
    """
    return getattr(getattr(trial, "temporary_state", None), "ray_actor", None)


# --------------------------------------------------------------------------------------------
# Keras (worker side)
# --------------------------------------------------------------------------------------------
# Reaches only (no patches): the training code (orchestrator/training/) subclasses or calls these
# through the functions below. Each entry of KERAS_REACHES is checked by keras_reach_ok; when its
# target moved, the code using it takes the public way (slower, or a model cached for fewer
# configurations, never different numbers). Canaries: tests/integration/test_internals_keras.py.

__all__ += ["KERAS_REACHES", "keras_reach_ok", "WeightsWriter", "keras_callback_list", "keras_classes"]

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
