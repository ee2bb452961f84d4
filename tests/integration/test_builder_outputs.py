"""A builder's model that does not fit the task is refused before the sweep, naming the function and
the widths; a TensorFlow error inside a trial is recorded by the line that says why.

Through the CLI, as a user runs it: a Dense(1) head for two classes, uncompiled (the sweep compiles
it with sparse categorical cross-entropy) and compiled by the user with that loss; then a layer
that fails only in training, whose trials fail with TensorFlow's generic ``Graph execution error:``
first line unless the informative line is lifted.
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from tests.helpers import only_run_dir, run_cli

pytestmark = pytest.mark.integration

MODELS = '''
import keras
import tensorflow as tf


def one_output(hp, data):
    inputs = keras.Input(shape=data.input_shape)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))


def one_output_compiled(hp, data):
    model = one_output(hp, data)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class OneAtATime(keras.layers.Layer):
    def call(self, x, training=None):
        if training:
            tf.debugging.assert_less(tf.shape(x)[0], 2, message="this layer takes one example at a time")
        return x


def fails_in_training(hp, data):
    inputs = keras.Input(shape=data.input_shape)
    return keras.Model(inputs, keras.layers.Dense(data.n_classes, activation="softmax")(OneAtATime()(inputs)))
'''

DATA = '''
import numpy as np


def load():
    x = np.random.default_rng(0).normal(size=(200, 5)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")
'''


def _spec(tmp_path, builder: str):
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "two_class.py").write_text(DATA)
    doc = {"name": "outputs", "data": {"loader": "two_class.py:load", "task": "classification"},
           "model": {"builder": f"models.py:{builder}", "epochs": 2, "batch_size": 32, "learning_rate": 0.01},
           "search": {"algorithm": "random", "num_samples": 2, "seed": 0},
           "metric": {"name": "val_accuracy", "mode": "max"}}
    path = tmp_path / f"{builder}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("builder, says", [
    ("one_output", "model.builder: models.py:one_output: its model outputs 1 value per example, expected 2 for "
                   "2 classes (the sweep compiles it with sparse categorical cross-entropy, one output per class): "
                   'end it with Dense(2, activation="softmax"), or compile it with a loss of your own'),
    ("one_output_compiled", "model.builder: models.py:one_output_compiled: its model cannot be evaluated on examples "
                            "shaped (5,) with integer class labels: InvalidArgumentError: Received a label value of 1 "
                            "which is outside the valid range of [0, 1)."),
])
def test_a_model_with_too_few_outputs_is_refused_before_the_sweep(tmp_path, capsys, builder, says):
    assert run_cli("validate", _spec(tmp_path, builder)) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sweep: error:")]
    assert len(err) == 1 and says in err[0]


def test_a_trial_that_tensorflow_fails_records_why(ray_session, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli("run", _spec(tmp_path, "fails_in_training"), "--out", out) == 1  # every trial failed
    why = "InvalidArgumentError: assertion failed: [this layer takes one example at a time]"
    run_dir = only_run_dir(out)
    trials = pd.read_parquet(run_dir / "trials.parquet")
    assert (trials["status"] == "error").all()
    assert trials["error"].str.startswith(why).all(), list(trials["error"])
    events = pd.read_parquet(run_dir / "events.parquet")
    assert events[events["source"] == "error"]["detail"].str.startswith(why).all()
    assert "Graph execution error" not in capsys.readouterr().out
