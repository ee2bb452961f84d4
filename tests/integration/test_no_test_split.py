"""``data.split.test: 0``: no test split to score, and the selected model is exported all the same.

Through the CLI, as a user runs it: the run completes, says there was no test split, leaves
``RUN_DIR/model/`` (a model Keras loads, its test predictions an empty table) and null test columns.
Keras' ``predict`` fails on no rows; the export must not depend on it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers import only_run_dir, run_cli, write_spec

pytestmark = pytest.mark.integration

NO_TEST = {
    "name": "no_test",
    "data": {"dataset": "digits", "split": {"train": 0.8, "val": 0.2, "test": 0}},
    "model": {"hidden_layers": 1, "epochs": 2, "batch_size": 64, "learning_rate": 0.01},
    "params": {"units": {"type": "choice", "values": [16, 32]}},
    "search": {"algorithm": "random", "num_samples": 2, "seed": 0},
    "metric": {"name": "val_accuracy", "mode": "max"},
}


def test_a_run_without_a_test_split_exports_its_model_unscored(ray_session, tmp_path, capsys):
    import keras

    import orchestrator

    out = tmp_path / "out"
    assert run_cli("run", write_spec(tmp_path, NO_TEST), "--out", out) == 0
    printed = capsys.readouterr().out
    assert "no test split (data.split.test is 0)" in printed and "not exported" not in printed
    run_dir = only_run_dir(out)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and info["model"]["path"] == "model"
    assert info["selected"]["test_accuracy"] is None and info["selected"]["test_loss"] is None
    trials = pd.read_parquet(run_dir / "trials.parquet")
    assert trials["test_accuracy"].isna().all()
    assert len(pd.read_parquet(run_dir / "model" / "test_predictions.parquet")) == 0
    assert json.loads((run_dir / "model" / "model.json").read_text())["output_kind"] == "probabilities"
    model = keras.saving.load_model(run_dir / "model" / "model.keras")  # plain Keras loads it
    assert model.output_shape == (None, 10)
    rows = pd.DataFrame(np.zeros((3, 64)), columns=[f"pixel_{i}_{j}" for i in range(8) for j in range(8)])
    assert len(orchestrator.load_model(run_dir).predict(rows)) == 3  # and it predicts raw rows
