"""Schedulers, stoppers, the divergence guard and curve diagnosis on real (tiny) sweeps."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.helpers import check_run_dir, only_run_dir, run_cli, write_spec

BASE = {"name": "es", "data": {"dataset": "digits"}, "model": {"units": 16, "batch_size": 64}}


def _run(tmp_path, doc, *extra):
    spec = write_spec(tmp_path, {**BASE, **doc})
    out = tmp_path / "out"
    code = run_cli("run", spec, "--out", out, *extra)
    run_dir = only_run_dir(out) if out.exists() else None
    return code, run_dir


def _tables(run_dir):
    return (pd.read_parquet(run_dir / "trials.parquet"), pd.read_parquet(run_dir / "epochs.parquet"),
            pd.read_parquet(run_dir / "events.parquet"), json.loads((run_dir / "run.json").read_text()))


def test_median_stopping_rule_stops_weak_trials(ray_session, tmp_path):
    code, run_dir = _run(tmp_path, {
        "model": {**BASE["model"], "epochs": 5},
        "params": {"learning_rate": {"type": "grid", "values": [0.01, 0.02, 1.0e-6, 2.0e-6, 3.0e-6]}},
        "metric": "val_accuracy",
        "search": {"algorithm": "grid"},
        "scheduler": {"type": "median", "grace_period": 1, "min_samples_required": 2},
        "resources": {"cpu": 1, "max_concurrent": 2},
    })
    assert code == 0
    trials, epochs, events, info = _tables(run_dir)
    stopped = trials[trials["stop_reason"] == "median"]
    assert len(stopped) >= 1
    assert (stopped["status"] == "stopped").all() and (stopped["epochs"] < 5).all()
    assert (stopped["hp_learning_rate"] < 1e-4).all()  # only the hopeless learning rates
    assert set(stopped["trial_id"]) <= set(events.loc[events["reason"] == "median", "trial_id"])
    assert info["compute"]["epochs_trained"] < info["compute"]["epochs_full"] == 25


def test_pbt_changes_learning_rate_mid_run(ray_session, tmp_path):
    code, run_dir = _run(tmp_path, {
        "model": {**BASE["model"], "epochs": 6},
        "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-5, "high": 0.3}},
        "metric": "val_accuracy",
        "search": {"algorithm": "random", "num_samples": 4, "seed": 1},
        "scheduler": {"type": "pbt", "perturbation_interval": 2, "quantile_fraction": 0.5,
                      "resample_probability": 0.5},
    })
    assert code == 0
    trials, epochs, events, _ = _tables(run_dir)
    exploits = events[events["reason"] == "pbt_exploit"]
    assert len(exploits) >= 1
    assert exploits["detail"].str.contains("learning_rate").all()
    lr_per_trial = epochs.groupby("trial_id")["learning_rate"].nunique()
    changed = set(lr_per_trial[lr_per_trial > 1].index)
    assert changed and changed <= set(exploits["trial_id"])
    assert (trials["status"] != "error").all()
    assert not epochs.duplicated(["trial_id", "epoch"]).any()
    # the configuration a trial's row names is the one its last epoch trained with (PBT decides
    # nothing at a trial's last report, where its new configuration would never train)
    last = epochs.sort_values("epoch").groupby("trial_id").tail(1).set_index("trial_id")["learning_rate"]
    named = trials.set_index("trial_id")["hp_learning_rate"]
    assert named.to_numpy() == pytest.approx(last.loc[named.index].to_numpy(), rel=1e-5), (named, last)
    # perturbed (x0.8, x1.2) or resampled, a learning rate stays within the spec's range
    assert epochs["learning_rate"].between(1.0e-5 * (1 - 1e-6), 0.3 * (1 + 1e-6)).all()
    # a trial's seconds span all its attempts (PBT pauses and restarts it at every exploit)
    spent = epochs.groupby("trial_id")["epoch_s"].sum()
    assert (trials.set_index("trial_id")["train_seconds"] >= spent.loc[named.index] - 1e-6).all(), spent
    assert (trials["attempts"] > 1).any()  # some trial was paused and restarted


def test_plateau_stopper_ends_flat_trial(ray_session, tmp_path):
    code, run_dir = _run(tmp_path, {
        "model": {**BASE["model"], "epochs": 8},
        "params": {"learning_rate": {"type": "grid", "values": [0.01, 1.0e-7]}},
        "metric": "val_loss",
        "search": {"algorithm": "grid"},
        "stoppers": {"plateau": {"patience": 2, "min_delta": 0.01, "grace_period": 2}},
    })
    assert code == 0
    trials, _, events, _ = _tables(run_dir)
    flat = trials[trials["hp_learning_rate"] < 1e-6].iloc[0]
    good = trials[trials["hp_learning_rate"] > 1e-3].iloc[0]
    assert flat["status"] == "stopped" and flat["stop_reason"] == "plateau" and flat["epochs"] < 8
    assert good["stop_reason"] != "plateau"
    assert flat["diagnosis"] == "too_slow"
    assert "plateau" in set(events["reason"])


def test_asha_with_plateau_and_patience_combined(ray_session, tmp_path):
    code, run_dir = _run(tmp_path, {
        "model": {**BASE["model"], "epochs": 9},
        "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-6, "high": 0.1}},
        "metric": "val_accuracy",
        "search": {"algorithm": "random", "num_samples": 6, "seed": 2},
        "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 3},
        "stoppers": {"plateau": {"patience": 3, "min_delta": 0.001}},
        "early_stopping": {"monitor": "val_loss", "patience": 2},
    })
    assert code == 0
    trials, epochs, _, info = _tables(run_dir)
    assert trials["stop_reason"].str.match(r"^(asha_rung_\d|plateau|patience|max_epochs)$").all()
    assert (trials["stop_reason"].str.startswith("asha_rung_")).any()
    assert info["compute"]["epochs_trained"] < info["compute"]["epochs_full"] == 54


def test_hyperband_runs_end_to_end(ray_session, tmp_path):
    code, run_dir = _run(tmp_path, {
        "model": {**BASE["model"], "epochs": 4},
        "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-5, "high": 0.1}},
        "metric": "val_accuracy",
        "search": {"algorithm": "random", "num_samples": 4, "seed": 3},
        "scheduler": {"type": "hyperband", "reduction_factor": 2},
    })
    assert code == 0
    trials, epochs, _, _ = _tables(run_dir)
    assert len(trials) == 4 and (trials["status"] != "error").all()
    assert not epochs.duplicated(["trial_id", "epoch"]).any()


def test_exploding_learning_rate_is_diverged_and_never_selected(ray_session, tmp_path, capsys):
    code, run_dir = _run(tmp_path, {
        "model": {**BASE["model"], "epochs": 4, "optimizer": "sgd"},
        "params": {"learning_rate": {"type": "grid", "values": [10.0, 0.05]}},
        "metric": "val_accuracy",
        "search": {"algorithm": "grid"},
    })
    assert code == 0
    trials, epochs, events, _ = _tables(run_dir)
    bad = trials[trials["hp_learning_rate"] == 10.0].iloc[0]
    assert bad["status"] == "diverged" and bad["stop_reason"] == "diverged" and bad["diagnosis"] == "diverged"
    assert bad["epochs"] < 4 and not bad["is_selected"]
    assert trials.loc[trials["is_selected"], "hp_learning_rate"].item() == 0.05
    assert ((events["trial_id"] == bad["trial_id"]) & (events["reason"] == "diverged")).any()
    assert epochs.loc[epochs["trial_id"] == bad["trial_id"], "diverged"].iloc[-1]


def test_all_trials_diverging_ends_with_a_message(ray_session, tmp_path, capsys):
    code, run_dir = _run(tmp_path, {
        "model": {**BASE["model"], "epochs": 3, "optimizer": "sgd"},
        "params": {"learning_rate": {"type": "grid", "values": [20.0, 50.0]}},
        "search": {"algorithm": "grid"},
    })
    captured = capsys.readouterr()
    assert code == 1
    assert "every trial diverged or failed" in captured.err
    assert "Traceback" not in captured.err + captured.out
    trials, _, _, info = _tables(run_dir)
    assert set(trials["status"]) == {"diverged"} and info["status"] == "no_result"


def test_learning_rate_spec_diagnoses_the_course_experiment(ray_session, tmp_path):
    spec = write_spec(tmp_path, "learning_rate.yaml")
    assert run_cli("validate", spec) == 0
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    trials = check_run_dir(only_run_dir(out), 3)[0].set_index("hp_learning_rate")  # the shipped spec, whole
    assert trials.loc[1.0, "diagnosis"] in ("oscillating", "diverged")
    assert trials.loc[1e-7, "diagnosis"] == "too_slow"
    assert trials.loc[0.01, "diagnosis"] == "good"
    assert trials.loc[0.01, "is_selected"]
