"""Canaries for the Keras half of the internals (orchestrator/internals/keras.py): one per entry of KERAS_REACHES.

Each fails, naming its entry, when an upgrade of Keras moved the private target the entry relies
on, or when the entry's copy of Keras code no longer computes what stock Keras computes. A second
set checks each fallback (the entry switched off, as when its target moved) still trains
correctly. TensorFlow, no Ray.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from orchestrator.internals import keras as keras_half  # noqa: E402
from orchestrator.internals import (KERAS_REACHES, WeightsWriter, keras_callback_list, keras_classes,  # noqa: E402
                                    keras_reach_ok)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 4)).astype("float32")
Y = RNG.normal(size=(24, 3)).astype("float32")


def _moved(name: str) -> str:
    return (f"Keras reach {name!r} ({KERAS_REACHES[name]}): its target moved in Keras {keras.__version__}; "
            "the product falls back to the public way. Update the entry in orchestrator/internals/keras.py.")


def _changed(name: str) -> str:
    return (f"Keras reach {name!r} ({KERAS_REACHES[name]}): its copy of Keras' code no longer computes what "
            f"Keras {keras.__version__} computes. Update the entry in orchestrator/internals/keras.py.")


def _model(optimizer: Any, *layers: Any, seed: int = 0) -> Any:
    """A small dense model compiled with ``optimizer``, weights drawn from ``seed``, optimizer built."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, activation="tanh"), *layers,
                              keras.layers.Dense(3)])
    model.compile(optimizer=optimizer, loss="mse")
    optimizer.build(model.trainable_variables)
    return model


def _fit(model: Any, epochs: int = 3) -> list[Any]:
    model.fit(X, Y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def _assert_same(ours: list[Any], stock: list[Any], name: str) -> None:
    assert len(ours) == len(stock), _changed(name)
    for a, b in zip(ours, stock):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=_changed(name))


def test_every_entry_has_a_canary() -> None:
    canaries = {"weights_writer", "callback_list", "local_apply", "sgd_momentum", "rmsprop_momentum",
                "dropout_rate", "l2_factor"}
    assert set(KERAS_REACHES) == canaries, "a Keras reach without a canary here, or a canary without its entry"


@pytest.mark.parametrize("name", sorted(KERAS_REACHES))
def test_target_is_where_the_entry_expects_it(name: str) -> None:
    assert keras_reach_ok(name), _moved(name)


# -- weights_writer ---------------------------------------------------------------------------


def _h5(path: str) -> dict[str, Any]:
    import h5py

    out: dict[str, Any] = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: out.__setitem__(n, np.asarray(o) if isinstance(o, h5py.Dataset) else dict(o.attrs)))
    return out


def test_weights_writer_writes_what_save_weights_writes_after_training(tmp_path) -> None:
    model = _model(keras.optimizers.Adam(0.01), keras.layers.Dropout(0.2))
    writer = WeightsWriter.for_model(model)  # recorded before training, as a trial's first checkpoint is
    assert writer is not None, _moved("weights_writer")
    _fit(model)
    ours, stock = str(tmp_path / "ours.weights.h5"), str(tmp_path / "stock.weights.h5")
    writer.write(ours, writer.snapshot())
    model.save_weights(stock)
    a, b = _h5(ours), _h5(stock)
    assert a.keys() == b.keys(), _changed("weights_writer")
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{k}: {_changed('weights_writer')}")
        else:
            assert a[k] == b[k], f"{k}: {_changed('weights_writer')}"
    fresh = _model(keras.optimizers.Adam(0.01), keras.layers.Dropout(0.2), seed=1)
    fresh.load_weights(ours)
    _assert_same([keras.ops.convert_to_numpy(w) for w in fresh.weights],
                 [keras.ops.convert_to_numpy(w) for w in model.weights], "weights_writer")


# -- callback_list ----------------------------------------------------------------------------


def test_callback_list_calls_the_hook_every_batch_without_a_thread_pool() -> None:
    model = _model(keras.optimizers.SGD(0.01))
    seen: list[Any] = []
    epochs: list[int] = []

    class Epochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            epochs.append(epoch)

    callbacks = keras_callback_list([Epochs()], model, 2, lambda: seen.append(callbacks._executor))
    assert callbacks._async_train is False, _changed("callback_list")
    model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
    assert epochs == [0, 1]
    assert len(seen) == 2 * math.ceil(len(X) / 8), _changed("callback_list")
    assert all(e is None for e in seen), f"a thread pool was started: {_changed('callback_list')}"
    assert model.history.history["loss"], "the list lost Keras' History callback"


# -- local_apply, sgd_momentum, rmsprop_momentum ----------------------------------------------


def test_local_apply_trains_like_stock_adam() -> None:
    c = keras_classes()
    ours = _model(c["Adam"](0.01))
    assert ours.optimizer._all_reduce_sum_gradients([(1, 2)]) == [(1, 2)], _changed("local_apply")
    _assert_same(_fit(ours), _fit(_model(keras.optimizers.Adam(0.01))), "local_apply")


def _knob_follows(name: str, make_ours: Any, make_stock: Any, set_value: Any) -> None:
    """Ours trains like stock Keras; then, after its traced graph exists, a new value set through
    the knob trains like stock Keras built with that value (the graph reads the knob)."""
    ours = _model(make_ours(0.9))
    _assert_same(_fit(ours), _fit(_model(make_stock(0.9))), name)
    again = _model(make_ours(0.9))
    weights = again.get_weights()
    start = [keras.ops.convert_to_numpy(v) for v in again.optimizer.variables]
    _fit(again, epochs=1)  # traces the training step with 0.9
    again.set_weights(weights)
    for var, value in zip(again.optimizer.variables, start):
        var.assign(value)
    set_value(again, 0.5)
    _assert_same(_fit(again), _fit(_model(make_stock(0.5))), name)


def _set_momentum(model: Any, value: float) -> None:
    model.optimizer.momentum = value
    model.optimizer.sweep_momentum.assign(value)


def test_sgd_momentum_copy_trains_like_stock_sgd() -> None:
    c = keras_classes()
    _knob_follows("sgd_momentum", lambda m: c["SGD"](0.05, momentum=m),
                  lambda m: keras.optimizers.SGD(0.05, momentum=m), _set_momentum)


def test_rmsprop_momentum_copy_trains_like_stock_rmsprop() -> None:
    c = keras_classes()
    _knob_follows("rmsprop_momentum", lambda m: c["RMSprop"](0.01, momentum=m),
                  lambda m: keras.optimizers.RMSprop(0.01, momentum=m), _set_momentum)


# -- dropout_rate, l2_factor ------------------------------------------------------------------


def test_dropout_copy_drops_what_stock_dropout_drops() -> None:
    import tensorflow as tf

    c = keras_classes()
    x = tf.ones((16, 32))
    ours = c["Dropout"](0.3, seed=5)
    stock_first, stock_second = keras.layers.Dropout(0.3, seed=5), keras.layers.Dropout(0.6, seed=5)
    stock_second(x, training=True)  # the second draw of a generator seeded 5
    call = tf.function(lambda t: ours(t, training=True))

    def same(a: Any, b: Any) -> None:
        # the same units dropped; the kept ones scaled alike, but for the rate's rounding to float32
        np.testing.assert_array_equal(np.asarray(a) == 0, np.asarray(b) == 0, err_msg=_changed("dropout_rate"))
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=_changed("dropout_rate"))

    same(call(x), stock_first(x, training=True))
    ours.sweep_rate.assign(0.6)  # the traced call reads the new rate
    same(call(x), stock_second(x, training=True))
    np.testing.assert_array_equal(ours(x, training=False), x)


def test_l2_copy_penalises_like_stock_l2() -> None:
    import tensorflow as tf

    c = keras_classes()
    w = tf.constant(RNG.normal(size=(4, 3)).astype("float32"))
    ours = c["L2"](0.01)
    call = tf.function(lambda t: ours(t))
    np.testing.assert_allclose(call(w), keras.regularizers.L2(0.01)(w), rtol=1e-6, err_msg=_changed("l2_factor"))
    ours.sweep_l2.assign(0.05)
    np.testing.assert_allclose(call(w), keras.regularizers.L2(0.05)(w), rtol=1e-6, err_msg=_changed("l2_factor"))


# -- fallbacks: each entry switched off, as when its target moved ----------------------------


@pytest.fixture
def all_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Keras reach reported as moved, and the classes defined again under that."""
    monkeypatch.setattr(keras_half, "_REACH_OK", {name: False for name in KERAS_REACHES})
    monkeypatch.setattr(keras_half, "_KERAS_CLASSES", {})


def test_without_the_reaches_the_classes_are_stock_keras(all_moved) -> None:
    import tensorflow as tf

    c = keras_classes()
    assert not any(c[k].sweep_reads_knob for k in ("SGD", "RMSprop", "Dropout", "L2"))
    _assert_same(_fit(_model(c["SGD"](0.05, momentum=0.9))), _fit(_model(keras.optimizers.SGD(0.05, momentum=0.9))),
                 "sgd_momentum")
    _assert_same(_fit(_model(c["RMSprop"](0.01, momentum=0.5))),
                 _fit(_model(keras.optimizers.RMSprop(0.01, momentum=0.5))), "rmsprop_momentum")
    _assert_same(_fit(_model(c["Adam"](0.01))), _fit(_model(keras.optimizers.Adam(0.01))), "local_apply")
    x = tf.ones((8, 8))
    np.testing.assert_array_equal(c["Dropout"](0.3, seed=2)(x, training=True),
                                  keras.layers.Dropout(0.3, seed=2)(x, training=True))
    np.testing.assert_allclose(c["L2"](0.01)(x), keras.regularizers.L2(0.01)(x))


def test_without_the_reaches_a_baked_value_is_part_of_the_cache_key(all_moved) -> None:
    from orchestrator.spec import HYPERPARAMETERS
    from orchestrator.training.inputs import DataInfo
    from orchestrator.training.mlp import MLP

    hp = {n: d for n, (_k, d, _r) in HYPERPARAMETERS.items()}
    hp.update(optimizer="sgd", momentum=0.9, dropout=0.2, l2=0.01)
    info = DataInfo((4,), "classification", 3)
    for change in ({"momentum": 0.5}, {"dropout": 0.3}, {"l2": 0.02}):
        assert MLP.cache_key({**hp, **change}, info) != MLP.cache_key(hp, info), change
    assert MLP.cache_key({**hp, "learning_rate": 0.3}, info) == MLP.cache_key(hp, info)


def test_without_the_reaches_checkpoints_and_batch_hooks_still_work(all_moved, tmp_path) -> None:
    from orchestrator.training.reporting import WEIGHTS_FILE, checkpoint_saver

    model = _model(keras.optimizers.SGD(0.01))
    assert WeightsWriter.for_model(model) is None
    save = checkpoint_saver(model, {"epoch": 1})
    save(str(tmp_path))
    fresh = _model(keras.optimizers.SGD(0.01), seed=3)
    fresh.load_weights(str(tmp_path / WEIGHTS_FILE))
    _assert_same(fresh.get_weights(), model.get_weights(), "weights_writer")
    seen: list[int] = []
    callbacks = keras_callback_list([], model, 1, lambda: seen.append(1))
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
    assert len(seen) == math.ceil(len(X) / 8)
