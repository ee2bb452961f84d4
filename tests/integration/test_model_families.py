"""The model families with real Keras models (TensorFlow, no Ray; tiny data, 1-2 epochs).

Each family (the CNN on images and on sequences, a user's builder returning an uncompiled or a
compiled model, one compiled with a learning-rate schedule) is built through the model seam,
trained through ``training.inputs.fit``, and checkpointed the way a trial does (the off-thread
weights writer): the file loads into a fresh build and gives what ``model.save_weights`` gives.
A cached CNN trains exactly like a fresh one; adamw and nadam build and train in every family;
``probe_model`` (what ``sweep validate`` runs) reports sizes, notes, unread hyperparameters and
each bad builder as one line naming the key.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.errors import SpecError
from orchestrator.decisions.space import resolve_config
from orchestrator.spec import parse_spec

keras = pytest.importorskip("keras")

from orchestrator.internals import WeightsWriter  # noqa: E402
from orchestrator.training import trainable as T  # noqa: E402
from orchestrator.training.builder import NO_CACHE_NOTE, BuilderError, BuilderFamily  # noqa: E402
from orchestrator.training.cnn import CNN  # noqa: E402
from orchestrator.training.inputs import ArraySplit, DataInfo, TrialData, fit  # noqa: E402
from orchestrator.training.mlp import MLP  # noqa: E402
from orchestrator.training.model import ModelCache, build, family_of  # noqa: E402
from orchestrator.training.optimizers import SCHEDULE_NOTE, current_learning_rate  # noqa: E402
from orchestrator.training.probe import probe_model  # noqa: E402
from orchestrator.training.reporting import WEIGHTS_FILE, checkpoint_saver, restore_checkpoint  # noqa: E402
from orchestrator.training.worker import configure_tensorflow  # noqa: E402

MODELS = '''
import keras


def conv(hp, data):
    inputs = keras.Input(data.input_shape)
    x = keras.layers.Conv2D(hp["filters"], hp["kernel_size"], padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(data.n_classes, activation="softmax")(x))


def gru(hp, data):
    model = keras.Sequential([keras.Input(data.input_shape), keras.layers.GRU(hp["units"]), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.RMSprop(0.5), loss="huber", metrics=["mae", "mse"])
    return model


def scheduled(hp, data):
    model = keras.Sequential([keras.Input(data.input_shape), keras.layers.Flatten(),
                              keras.layers.Dense(data.n_classes, activation="softmax")])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def acc_named(hp, data):
    model = keras.Sequential([keras.Input(data.input_shape), keras.layers.Flatten(),
                              keras.layers.Dense(data.n_classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    return model


class Tiny(keras.Model):
    def __init__(self, n_classes):
        super().__init__()
        self.flat = keras.layers.Flatten()
        self.out = keras.layers.Dense(n_classes, activation="softmax")

    def call(self, x):
        return self.out(self.flat(x))


def subclassed(hp, data):
    return Tiny(data.n_classes)


def wrong_shape(hp, data):
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(data.n_classes, activation="softmax")])


def broken(hp, data):
    raise ValueError(f"no layer called {hp['heads']}" + chr(10) + "second line")


def not_a_model(hp, data):
    return {"layers": 3}
'''


@pytest.fixture(scope="module", autouse=True)
def _tensorflow() -> None:
    configure_tensorflow(1)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("user")
    (d / "models.py").write_text(textwrap.dedent(MODELS))
    return d


def _data(shape: tuple[int, ...], task: str = "classification", n: int = 48, n_classes: int = 3) -> TrialData:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, *shape)).astype("float32")
    if task == "classification":
        y = (X.reshape(n, -1)[:, 0] > 0).astype("int64") + (X.reshape(n, -1)[:, 1] > 1).astype("int64")
    else:
        y = X.reshape(n, -1).mean(axis=1).astype("float32")
    cut = n * 3 // 4
    return TrialData(ArraySplit(X[:cut], y[:cut]), ArraySplit(X[cut:], y[cut:]), ArraySplit(X[:0], y[:0]), task,
                     math.prod(shape), n_classes if task == "classification" else 0, shape)


IMAGES = _data((8, 8, 1))
SEQUENCES = _data((12, 2), "regression")


def cnn_hp(**changes: Any) -> dict[str, Any]:
    out = {"conv_layers": 2, "filters": 4, "kernel_size": 3, "pooling": "max", "dense_units": 8,
           "activation": "relu", "dropout": 0.0, "l2": 0.0, "optimizer": "adam", "learning_rate": 0.01,
           "momentum": 0.0, "weight_decay": 0.004, "batch_size": 8, "epochs": 2, "lr_schedule": "constant",
           "lr_decay_rate": 0.5, "lr_decay_epochs": 1}
    out.update(changes)
    return out


def _train(model: Any, data: TrialData, batch_size: int = 8, seed: int = 0, epochs: int = 1) -> Any:
    fit(model, data, batch_size=batch_size, seed=seed, threads=1, epochs=epochs, callbacks=None)
    return model


def _optimizer_values(model: Any) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]


def _assert_checkpoint_round_trip(model: Any, fresh: Any, tmp_path: Path) -> None:
    """The trial's checkpoint (off-thread writer) loads into a fresh build as ``model.save_weights``' file does."""
    assert WeightsWriter.for_model(model) is not None  # the off-thread writer, not the fallback
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "keras").mkdir()
    checkpoint_saver(model, {"epoch": 1, "best": 0.5, "first_loss": 1.0})(str(tmp_path / "ckpt"))
    model.save_weights(str(tmp_path / "keras" / WEIGHTS_FILE))
    a, b = fresh(), fresh()
    assert restore_checkpoint(a, str(tmp_path / "ckpt")) == {"epoch": 1, "best": 0.5, "first_loss": 1.0}
    b.load_weights(str(tmp_path / "keras" / WEIGHTS_FILE))
    for loaded in (a, b):
        for x, y in zip(loaded.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(x, y)
        for x, y in zip(_optimizer_values(loaded), _optimizer_values(model), strict=True):
            np.testing.assert_array_equal(x, y)


# -- the CNN --------------------------------------------------------------------------------------


def test_cnn_on_images_is_conv2d_pooled_and_flattened_and_checkpoints_like_save_weights(tmp_path) -> None:
    hp = cnn_hp(dropout=0.2, l2=1e-3)
    info = DataInfo.of(IMAGES)
    model = CNN.build(hp, info)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout", "Dense"]
    # 3x3x1x4+4, 3x3x4x4+4, (2*2*4)x8+8, 8x3+3
    assert model.count_params() == 40 + 148 + 136 + 27
    assert model.loss == "sparse_categorical_crossentropy"
    CNN.reset(model, hp, seed=1)
    _train(model, IMAGES)
    assert model.predict(IMAGES.val.X, verbose=0).shape == (len(IMAGES.val), 3)
    _assert_checkpoint_round_trip(model, lambda: CNN.build(hp, info), tmp_path)


def test_cnn_on_sequences_is_conv1d_with_global_pooling_and_a_linear_output(tmp_path) -> None:
    hp = cnn_hp(pooling="avg", dense_units=0, optimizer="nadam")
    info = DataInfo.of(SEQUENCES)
    model = CNN.build(hp, info)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv1D", "AveragePooling1D", "Conv1D", "AveragePooling1D", "GlobalAveragePooling1D", "Dense"]
    assert model.loss == "mse" and model.output_shape == (None, 1)
    CNN.reset(model, hp, seed=1)
    _train(model, SEQUENCES)
    _assert_checkpoint_round_trip(model, lambda: CNN.build(hp, info), tmp_path)


@pytest.mark.parametrize("optimizer", ["sgd", "nadam", "adamw"])
def test_a_cached_cnn_trains_exactly_like_a_fresh_one(optimizer: str) -> None:
    hp = cnn_hp(optimizer=optimizer, momentum=0.9 if optimizer == "sgd" else 0.0, dropout=0.2, l2=1e-3)
    other = {**hp, "learning_rate": 0.05, "dropout": 0.4, "l2": 0.01, "batch_size": 4,
             "momentum": 0.5 if optimizer == "sgd" else 0.0}
    info = DataInfo.of(IMAGES)
    fresh, hit = ModelCache(0).get(hp, info, seed=11, family=CNN)
    assert not hit
    expected = _train(fresh, IMAGES, seed=3, epochs=2).get_weights()

    cache = ModelCache(2)
    _train(cache.get(other, info, seed=5, family=CNN)[0], IMAGES, batch_size=4, seed=9)
    cached, hit = cache.get(hp, info, seed=11, family=CNN)
    assert hit
    for x, y in zip(_train(cached, IMAGES, seed=3, epochs=2).get_weights(), expected, strict=True):
        np.testing.assert_array_equal(x, y)


def test_adamw_weight_decay_is_part_of_the_cache_key_and_other_values_are_not() -> None:
    info = DataInfo.of(IMAGES)
    hp = cnn_hp(optimizer="adamw", weight_decay=0.01)
    assert CNN.cache_key({**hp, "weight_decay": 0.02}, info) != CNN.cache_key(hp, info)
    assert CNN.cache_key({**hp, "learning_rate": 0.5, "batch_size": 3}, info) == CNN.cache_key(hp, info)


@pytest.mark.parametrize("name, cls", [("adamw", "AdamW"), ("nadam", "Nadam")])
def test_adamw_and_nadam_build_and_train_the_mlp(name: str, cls: str) -> None:
    hp = {"hidden_layers": 1, "units": 8, "activation": "relu", "dropout": 0.0, "l2": 0.0, "optimizer": name,
          "learning_rate": 0.02, "momentum": 0.0, "weight_decay": 0.03, "batch_size": 8}
    data = _data((5,))
    model = build(hp, DataInfo.of(data), family=MLP)
    assert isinstance(model.optimizer, getattr(keras.optimizers, cls))
    assert current_learning_rate(model) == pytest.approx(0.02)
    if name == "adamw":
        assert model.optimizer.weight_decay == pytest.approx(0.03)
    before = model.get_weights()
    MLP.reset(model, hp, seed=0)
    _train(model, data)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == math.ceil(len(data.train) / 8)


def test_the_mlp_flattens_examples_that_are_not_rows() -> None:
    hp = {"hidden_layers": 1, "units": 4, "activation": "relu", "dropout": 0.0, "l2": 0.0, "optimizer": "adam",
          "learning_rate": 0.01, "momentum": 0.0}
    info = DataInfo.of(IMAGES)
    model = MLP.build(hp, info)
    assert type(model.layers[0]).__name__ == "Flatten" and model.count_params() == 64 * 4 + 4 + 4 * 3 + 3
    assert MLP.cache_key(hp, info) != MLP.cache_key(hp, DataInfo((64,), "classification", 3))
    _train(model, IMAGES)


# -- a user's builder -----------------------------------------------------------------------------


def _builder(models_dir: Path, name: str) -> BuilderFamily:
    return BuilderFamily(f"models.py:{name}", str(models_dir))


def test_an_uncompiled_builder_model_is_compiled_with_the_spec_optimizer_and_checkpoints(models_dir, tmp_path) -> None:
    family = _builder(models_dir, "conv")
    hp = {"filters": 4, "kernel_size": 3, "optimizer": "adamw", "learning_rate": 0.02, "weight_decay": 0.01}
    info = DataInfo.of(IMAGES)
    model = family.build(hp, info, seed=3)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(0.01)
    assert current_learning_rate(model) == pytest.approx(0.02)
    assert model.loss == "sparse_categorical_crossentropy" and model.sweep_notes == ()
    _train(model, IMAGES)
    logs = model.evaluate(IMAGES.val.X, IMAGES.val.y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    _assert_checkpoint_round_trip(model, lambda: family.build(hp, info, seed=4), tmp_path)


def test_a_compiled_builder_model_keeps_its_loss_and_metrics_but_takes_the_learning_rate(models_dir,
                                                                                         tmp_path) -> None:
    family = _builder(models_dir, "gru")
    hp = {"units": 3, "optimizer": "adam", "learning_rate": 0.007}
    info = DataInfo.of(SEQUENCES)
    model = family.build(hp, info, seed=3)
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)  # the user's
    assert current_learning_rate(model) == pytest.approx(0.007)  # the product's
    assert model.loss == "huber"
    _train(model, SEQUENCES)
    _assert_checkpoint_round_trip(model, lambda: family.build(hp, info, seed=4), tmp_path)


def test_a_subclassed_builder_model_is_built_before_training_so_its_checkpoint_restores(models_dir,
                                                                                        tmp_path) -> None:
    family = _builder(models_dir, "subclassed")
    hp = {"optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.01}
    info = DataInfo.of(IMAGES)
    model = _train(family.build(hp, info, seed=1), IMAGES)
    _assert_checkpoint_round_trip(model, lambda: family.build(hp, info, seed=2), tmp_path)


def test_a_builder_model_is_built_fresh_from_the_trial_seed(models_dir) -> None:
    family = _builder(models_dir, "conv")
    hp = {"filters": 4, "kernel_size": 3, "optimizer": "adam", "learning_rate": 0.01}
    info = DataInfo.of(IMAGES)
    cache = ModelCache(2)
    a, hit_a = cache.get(hp, info, seed=7, family=family)
    b, hit_b = cache.get(hp, info, seed=7, family=family)
    c, _ = cache.get(hp, info, seed=8, family=family)
    assert not hit_a and not hit_b and len(cache) == 0 and a is not b
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_a_builder_that_raises_or_returns_no_model_fails_with_one_line_naming_it(models_dir) -> None:
    info = DataInfo.of(IMAGES)
    with pytest.raises(BuilderError) as raised:
        _builder(models_dir, "broken").build({"heads": 4, "learning_rate": 0.01}, info)
    assert str(raised.value) == "model.builder: models.py:broken raised ValueError: no layer called 4"
    assert isinstance(raised.value.__cause__, ValueError)  # the user's traceback stays chained
    with pytest.raises(BuilderError, match=r"^model.builder: models.py:not_a_model returned dict, not a Keras "
                                           r"model$"):
        _builder(models_dir, "not_a_model").build({"learning_rate": 0.01}, info)


def _spec(models_dir: Path, builder: str, *, dataset: str = "digits", metric: str = "val_accuracy",
          params: dict[str, Any] | None = None, **model: Any) -> Any:
    return parse_spec({"name": "b", "data": {"dataset": dataset}, "model": {"builder": f"models.py:{builder}",
                       "epochs": 2, "batch_size": 12, **model}, "params": params or {}, "metric": metric},
                      base_dir=str(models_dir))


def test_run_trial_with_a_compiled_schedule_leaves_the_rate_to_it(models_dir) -> None:
    spec = _spec(models_dir, "scheduled", learning_rate=0.3, lr_schedule="step", lr_decay_epochs=1)
    assert family_of(spec).name == "builder"
    rows: list[dict[str, Any]] = []
    T.run_trial(resolve_config(spec, {}), IMAGES, spec, 1, report=lambda row, d: rows.append(row),
                cache=ModelCache(1))
    steps = math.ceil(len(IMAGES.train) / 12)
    assert [r["learning_rate"] for r in rows] == pytest.approx([0.1 * 0.5 ** (steps * e) for e in (1, 2)])


def test_run_trial_with_a_compiled_model_follows_the_spec_schedule(models_dir) -> None:
    spec = _spec(models_dir, "gru", dataset="diabetes", metric="val_mae", learning_rate=0.02, lr_schedule="step",
                 lr_decay_epochs=1, units=3)
    rows: list[dict[str, Any]] = []
    T.run_trial(resolve_config(spec, {}), SEQUENCES, spec, 1, report=lambda row, d: rows.append(row),
                cache=ModelCache(1))
    assert [r["learning_rate"] for r in rows] == pytest.approx([0.02, 0.01])
    assert all(math.isfinite(r["val_mae"]) for r in rows)


def test_run_trial_of_a_raising_builder_fails_the_trial_naming_the_function(models_dir) -> None:
    spec = _spec(models_dir, "broken", heads=2)
    with pytest.raises(BuilderError, match="^model.builder: models.py:broken raised ValueError: no layer called 2$"):
        T.run_trial(resolve_config(spec, {}), IMAGES, spec, 1, report=lambda row, d: None, cache=ModelCache(1))


# -- probe_model: what sweep validate runs --------------------------------------------------------


def test_probe_counts_parameters_and_names_the_hyperparameters_the_builder_never_reads(models_dir) -> None:
    spec = _spec(models_dir, "conv", params={"filters": {"type": "choice", "values": [2, 4]},
                                             "heads": {"type": "choice", "values": [1, 2]}},
                 kernel_size=3, depth=2)
    hp = resolve_config(spec, {"filters": 4, "heads": 1})
    probe = probe_model(spec, DataInfo.of(IMAGES), hp)
    assert probe.params == (3 * 3 * 1 * 4 + 4) + (4 * 3 + 3)
    assert sorted(probe.unused) == ["depth", "heads"]
    assert probe.notes == [NO_CACHE_NOTE]


def test_probe_notes_a_compiled_schedule(models_dir) -> None:
    spec = _spec(models_dir, "scheduled")
    probe = probe_model(spec, DataInfo.of(IMAGES), resolve_config(spec, {}))
    assert probe.notes == [SCHEDULE_NOTE, NO_CACHE_NOTE] and probe.unused == []


@pytest.mark.parametrize("builder, key, message", [
    ("broken", "model.builder", "models.py:broken raised ValueError: no layer called 3"),
    ("not_a_model", "model.builder", "models.py:not_a_model returned dict, not a Keras model"),
    ("wrong_shape", "model.builder", "models.py:wrong_shape: its model cannot be evaluated on examples shaped "
                                     "(8, 8, 1) with integer class labels: "),
    ("acc_named", "metric", "val_accuracy: the model models.py:acc_named returns is compiled without 'accuracy' "
                            "(it reports acc, loss); compile it with metrics=['accuracy'] or return it uncompiled"),
    ("nowhere", "model.builder", "models.py:nowhere: models.py has no function 'nowhere'"),
])
def test_probe_refuses_a_bad_builder_in_one_line_naming_the_key(models_dir, builder, key, message) -> None:
    spec = _spec(models_dir, builder, heads=3)
    with pytest.raises(SpecError) as raised:
        probe_model(spec, DataInfo.of(IMAGES), resolve_config(spec, {}))
    assert raised.value.key == key
    assert raised.value.message.startswith(message)
    assert len(str(raised.value).splitlines()) == 1


def test_probe_refuses_a_cnn_on_rows() -> None:
    spec = parse_spec({"name": "c", "data": {"dataset": "digits"}, "model": {"family": "cnn"},
                       "metric": "val_accuracy"})
    with pytest.raises(SpecError) as raised:
        probe_model(spec, DataInfo((64,), "classification", 10), resolve_config(spec, {}))
    assert raised.value.key == "model.family"
    assert raised.value.message.endswith("these are (64,): set data.shape, e.g. [8, 8, 1]")
    ok = probe_model(spec, DataInfo((8, 8, 1), "classification", 10), resolve_config(spec, {}))
    assert ok.params > 0 and ok.notes == [] and ok.unused == []


# -- the parameter counts the spec computes without TensorFlow (decisions.sizes) -----------------


@pytest.mark.parametrize("family, hp, shape, n_classes", [
    ("mlp", {"hidden_layers": 0, "units": 8}, (64,), 10),
    ("mlp", {"hidden_layers": 2, "units": 7, "dropout": 0.2, "l2": 0.01}, (8, 8, 1), 3),
    ("mlp", {"hidden_layers": 1, "units": 5}, (6,), 0),
    ("cnn", {}, (8, 8, 1), 10),
    ("cnn", {"conv_layers": 3, "filters": 5, "kernel_size": 2, "pooling": "none", "dense_units": 0, "l2": 0.01},
     (7, 5, 3), 4),
    ("cnn", {"conv_layers": 4, "pooling": "avg", "dropout": 0.3}, (1, 9, 2), 3),
    ("cnn", {"conv_layers": 2, "filters": 6, "kernel_size": 5, "pooling": "max", "dense_units": 0}, (20, 2), 0),
    ("cnn", {"conv_layers": 1, "pooling": "avg", "dense_units": 3}, (11, 1), 5),
])
def test_param_count_equals_what_keras_counts(family, hp, shape, n_classes) -> None:
    from orchestrator.decisions.sizes import param_count

    base = cnn_hp() if family == "cnn" else {**cnn_hp(), "hidden_layers": 1, "units": 8, "activation": "relu"}
    config = {**base, **hp}
    info = DataInfo(shape, "classification" if n_classes else "regression", n_classes)
    keras.backend.clear_session()
    model = (CNN if family == "cnn" else MLP).build(config, info)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    # params (trainable) and params_total are the same number for the built-in families
    assert param_count(config, shape, n_classes, family=family) == trainable == model.count_params()


def test_probe_refuses_an_objective_the_builder_model_does_not_report(models_dir) -> None:
    spec = parse_spec({"name": "b", "data": {"dataset": "digits"}, "model": {"builder": "models.py:acc_named"},
                       "objectives": ["val_acc", "val_auc", "params"]}, base_dir=str(models_dir))
    with pytest.raises(SpecError) as raised:
        probe_model(spec, DataInfo.of(IMAGES), resolve_config(spec, {}))
    assert raised.value.key == "objectives[1].name"
    assert raised.value.message.startswith("val_auc: the model models.py:acc_named returns is compiled without 'auc'")
