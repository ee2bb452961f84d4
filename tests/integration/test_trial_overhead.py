"""The per-worker model cache and the non-blocking reporter, in-process (TensorFlow, no Ray).

A trial must train exactly the same whether its model was built for it or reused from the cache
after other trials trained it: same seed and configuration, identical per-epoch losses.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from orchestrator import data as data_mod
from orchestrator.decisions.space import resolve_config
from orchestrator.spec import parse_spec

keras = pytest.importorskip("keras")

from orchestrator.training import trainable as T  # noqa: E402
from orchestrator.internals import WeightsWriter  # noqa: E402
from orchestrator.training.inputs import datasets  # noqa: E402
from orchestrator.training.mlp import build_model, graph_key  # noqa: E402
from orchestrator.training.model import ModelCache  # noqa: E402
from orchestrator.training.reporting import TrialStopped  # noqa: E402
from orchestrator.training.worker import configure_tensorflow  # noqa: E402

COLUMNS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")


@pytest.fixture(scope="module")
def digits() -> data_mod.Prepared:
    configure_tensorflow(1)
    raw = data_mod.load_raw(dataset="digits")
    return data_mod.prepare(raw, seed=0).without_test()


def _spec(**model: Any) -> Any:
    return parse_spec({"name": "overhead", "data": {"dataset": "digits"}, "model": {"epochs": 3, **model},
                       "metric": "val_accuracy"})


def _train(spec: Any, data: Any, hp: dict[str, Any], seed: int, cache: ModelCache,
           checkpoints: list[str] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def report(row: dict[str, Any], checkpoint_dir: str | None) -> None:
        rows.append(row)
        if checkpoint_dir is not None and checkpoints is not None:
            checkpoints.append(sorted(os.listdir(checkpoint_dir)))

    info = T.run_trial(hp, data, spec, seed, report=report, cache=cache)
    return np.array([[r[c] for c in COLUMNS] for r in rows]), info


CASES = [
    # (hyperparameters of the trial, what a previous trial with the same graph changed)
    ({"optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.05, "units": 16, "dropout": 0.3, "l2": 1e-3,
      "batch_size": 16},
     {"momentum": 0.3, "learning_rate": 0.2, "dropout": 0.1, "l2": 0.02, "batch_size": 64}),
    ({"optimizer": "rmsprop", "momentum": 0.5, "learning_rate": 0.001, "units": 16, "batch_size": 32},
     {"momentum": 0.8, "learning_rate": 0.01, "batch_size": 10}),
    ({"optimizer": "adam", "learning_rate": 0.01, "units": 8, "hidden_layers": 2, "dropout": 0.2, "batch_size": 64},
     {"learning_rate": 0.05, "dropout": 0.4, "batch_size": 16, "lr_schedule": "step", "lr_decay_epochs": 1}),
    ({"optimizer": "sgd", "learning_rate": 0.05, "units": 16, "batch_size": 50},
     {"learning_rate": 0.5, "batch_size": 7}),
]


@pytest.mark.parametrize("trial, other", CASES, ids=[c[0]["optimizer"] for c in CASES])
def test_cached_model_trains_exactly_like_a_fresh_one(digits, trial, other) -> None:
    spec = _spec()
    hp = {**resolve_config(spec, {}), **trial}
    fresh, info = _train(spec, digits, hp, seed=11, cache=ModelCache(0))
    assert not info["cache_hit"]

    cache = ModelCache(4)
    previous = {**hp, **other}
    assert graph_key(previous, digits.n_features, digits.task, digits.n_classes) == \
        graph_key(hp, digits.n_features, digits.task, digits.n_classes)
    _, first = _train(spec, digits, previous, seed=5, cache=cache)  # trains the model the trial will reuse
    assert not first["cache_hit"]
    cached, info = _train(spec, digits, hp, seed=11, cache=cache)
    assert info["cache_hit"]
    assert fresh.shape == (3, len(COLUMNS))
    np.testing.assert_array_equal(cached, fresh)
    # and again, after trials of other graphs evicted a model (which clears Keras' session and
    # TensorFlow's kernel cache) while this one stayed cached
    small = ModelCache(2)
    _train(spec, digits, previous, seed=5, cache=small)
    for units in (3, 4):
        _train(spec, digits, {**hp, "units": units}, seed=1, cache=small)
        again, info = _train(spec, digits, hp, seed=11, cache=small)
        assert info["cache_hit"]
        np.testing.assert_array_equal(again, fresh)
    assert small.misses == 3 and small.hits == 2


def test_different_seeds_train_differently(digits) -> None:
    spec = _spec(units=16, batch_size=32)
    hp = resolve_config(spec, {})
    cache = ModelCache(2)
    a, _ = _train(spec, digits, hp, seed=1, cache=cache)
    b, _ = _train(spec, digits, hp, seed=2, cache=cache)
    assert not np.array_equal(a, b)


def test_batch_size_and_rates_share_one_traced_graph(digits) -> None:
    spec = _spec(units=16)
    base = resolve_config(spec, {})
    key = graph_key(base, digits.n_features, digits.task, digits.n_classes)
    for change in ({"batch_size": 7}, {"learning_rate": 0.3}, {"epochs": 40}, {"lr_schedule": "exponential"}):
        assert graph_key({**base, **change}, digits.n_features, digits.task, digits.n_classes) == key
    for change in ({"units": 17}, {"hidden_layers": 2}, {"optimizer": "sgd"}, {"dropout": 0.1}, {"l2": 0.1},
                   {"activation": "tanh"}):
        assert graph_key({**base, **change}, digits.n_features, digits.task, digits.n_classes) != key
    sgd = {**base, "optimizer": "sgd"}
    assert graph_key({**sgd, "momentum": 0.5}, 64, "classification", 10) == \
        graph_key({**sgd, "momentum": 0.9}, 64, "classification", 10)
    assert graph_key({**sgd, "momentum": 0.0}, 64, "classification", 10) != \
        graph_key({**sgd, "momentum": 0.9}, 64, "classification", 10)

    cache = ModelCache(2)
    for bs in (16, 7, 1258):
        model, _ = cache.get({**base, "batch_size": bs}, digits.n_features, digits.task, digits.n_classes, seed=0)
        pipes = datasets(digits, bs, seed=0, threads=1)
        model.fit(pipes[0], validation_data=pipes[1], epochs=1, verbose=0, shuffle=False)
        traces = [c.cell_contents.experimental_get_tracing_count() for fn in (model.train_function, model.test_function)
                  for c in fn.__closure__ or [] if hasattr(c.cell_contents, "experimental_get_tracing_count")]
        assert traces == [1, 1], (bs, traces)  # one trace each, whatever the batch size or last batch
    assert len(cache) == 1 and cache.hits == 2


def test_cache_is_bounded(digits) -> None:
    spec = _spec()
    cache = ModelCache(2)
    for units in (4, 5, 6, 7, 4):
        hp = {**resolve_config(spec, {}), "units": units}
        cache.get(hp, digits.n_features, digits.task, digits.n_classes, seed=0)
        assert len(cache) <= 2
    assert cache.misses == 5 and cache.hits == 0  # 4 was evicted by 6
    cache.clear()
    assert len(cache) == 0


def test_checkpoint_written_off_thread_is_what_save_weights_writes(digits, tmp_path) -> None:
    import h5py

    spec = _spec(units=8, hidden_layers=2, dropout=0.2, optimizer="rmsprop", momentum=0.5)
    hp = resolve_config(spec, {})
    model = build_model(hp, digits.n_features, digits.task, digits.n_classes)
    model.fit(digits.train.X[:64], digits.train.y[:64], epochs=1, verbose=0)
    writer = WeightsWriter.for_model(model)
    assert writer is not None
    ours, keras_file = str(tmp_path / "ours.weights.h5"), str(tmp_path / "keras.weights.h5")
    writer.write(ours, writer.snapshot())
    model.save_weights(keras_file)

    def content(path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with h5py.File(path) as f:
            f.visititems(lambda name, obj: out.__setitem__(
                name, np.asarray(obj) if isinstance(obj, h5py.Dataset) else dict(obj.attrs)))
        return out

    a, b = content(ours), content(keras_file)
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k], k
    fresh = build_model(hp, digits.n_features, digits.task, digits.n_classes)
    fresh.load_weights(ours)
    for u, v in zip(fresh.weights, model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(u), keras.ops.convert_to_numpy(v))


def test_checkpoints_and_resume(digits, tmp_path) -> None:
    spec = _spec(units=8, epochs=4)
    hp = resolve_config(spec, {})
    saved: list[str] = []
    rows: list[dict[str, Any]] = []

    def report(row: dict[str, Any], checkpoint_dir: str | None) -> None:
        rows.append(row)
        if checkpoint_dir is not None and row["epoch"] == 2:
            import shutil

            shutil.copytree(checkpoint_dir, tmp_path / "ckpt")
            saved.append(str(tmp_path / "ckpt"))

    T.run_trial(hp, digits, spec, 3, report=report, cache=ModelCache(1))
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert saved, "epoch 2 improved on epoch 1, so it carried a checkpoint"
    resumed: list[dict[str, Any]] = []
    T.run_trial(hp, digits, spec, 3, report=lambda row, d: resumed.append(row), cache=ModelCache(1),
                restore_dir=saved[0])
    assert [r["epoch"] for r in resumed] == [3, 4]


def test_a_stop_from_the_driver_interrupts_training_at_once(digits) -> None:
    """Ray Tune's report raises SystemExit when the driver ends a trial: no further epoch is reported."""
    spec = _spec(units=8, epochs=50, batch_size=8)
    hp = resolve_config(spec, {})
    rows: list[int] = []

    def report(row: dict[str, Any], checkpoint_dir: str | None) -> None:
        rows.append(row["epoch"])
        if row["epoch"] == 2:
            raise SystemExit(0)

    with pytest.raises(TrialStopped):
        T.run_trial(hp, digits, spec, 0, report=report, cache=ModelCache(1))
    assert rows == [1, 2]
