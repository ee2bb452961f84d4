"""``final: {refit: train+val}`` trains through the trials' own epoch path: its schedule, its rows.

Through the CLI, as a user runs it: a sweep with a step-decay learning-rate schedule, then the
selected configuration refit on train+val for the epochs at which it was best. The refit's epochs
are in ``RUN_DIR/refit_epochs.parquet`` (and ``orchestrator.load(RUN_DIR).refit_epochs``), one row
per epoch, the learning rate halving each epoch as the schedule says.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from tests.helpers import only_run_dir, run_cli, write_spec

pytestmark = pytest.mark.integration

STEP = {
    "name": "refit_step",
    "data": {"dataset": "digits"},
    "model": {"optimizer": "adam", "learning_rate": 0.01, "epochs": 4, "batch_size": 64, "hidden_layers": 1,
              "lr_schedule": "step", "lr_decay_rate": 0.5, "lr_decay_epochs": 1},
    "params": {"units": {"type": "choice", "values": [16, 32]}},
    "search": {"algorithm": "random", "num_samples": 2, "seed": 0},
    "metric": {"name": "val_accuracy", "mode": "max"},
    "final": {"refit": "train+val"},
}


def test_a_refit_with_a_step_schedule_follows_it_epoch_by_epoch(ray_session, tmp_path):
    import orchestrator

    out = tmp_path / "out"
    assert run_cli("run", write_spec(tmp_path, STEP), "--out", out) == 0
    run_dir = only_run_dir(out)
    sel = json.loads((run_dir / "run.json").read_text())["selected"]
    refit = pd.read_parquet(run_dir / "refit_epochs.parquet")
    epochs = pd.read_parquet(run_dir / "epochs.parquet")

    # the selected trial's configuration, for its best epoch's count of epochs
    assert sel["refit_epochs"] == sel["best_epoch"] >= 1
    assert set(refit["trial_id"]) == {sel["trial_id"]}
    assert list(refit["epoch"]) == list(range(1, sel["best_epoch"] + 1))
    # the schedule: 0.01, then halved every epoch (as the trials' own rows show it)
    assert list(refit["learning_rate"]) == pytest.approx([0.01 * 0.5 ** k for k in range(len(refit))])
    trial = epochs[epochs["trial_id"] == sel["trial_id"]].sort_values("epoch")
    assert list(trial["learning_rate"])[:len(refit)] == pytest.approx(list(refit["learning_rate"]))
    # trained on train+val: no validation split, a finite training loss, the guard never fired
    assert refit["val_loss"].isna().all() and refit["val_accuracy"].isna().all()
    assert all(math.isfinite(v) for v in refit["train_loss"]) and not refit["diverged"].any()
    # epochs.parquet's columns; elapsed_s since the run's start, so after every trial's epoch
    assert set(refit.columns) <= set(epochs.columns)
    assert refit["elapsed_s"].min() > epochs["elapsed_s"].max()

    run = orchestrator.load(run_dir)
    pd.testing.assert_frame_equal(run.refit_epochs, refit)
    # the suite declares GPUs to Ray without real ones: no trial used a GPU, the column is null
    assert "gpu_peak_mb" in run.trials and run.trials["gpu_peak_mb"].isna().all()
