"""Your model, your data: the shipped examples and a user's builder through every feature, via the CLI.

Each test copies a spec (and the Python files next to it) into its own directory, shrinks it (few
trials, few epochs, a subsample of the data), runs it as a user would (``sweep run``, ``resume``,
``nightly``) and reads the Parquet tables back: one row per trial with the user's ``hp_`` columns,
epochs keyed ``(trial_id, epoch)``, and the test metric on the selected row only.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from orchestrator.training.faults import ENV

from tests.helpers import SPECS, assert_no_native_lines, journal, kill_group, only_run_dir, run_cli, start_sweep

# A user's builder for the feature tests: digits as 8x8 images through a small Conv2D network.
# `width: 13` raises (a builder's trial that fails); `extra` is never read (validate warns).
BUILDER = '''
import keras


def build_model(hp, data):
    if hp["width"] == 13:
        raise ValueError("width 13 is not supported")
    inputs = keras.Input(shape=data.input_shape)
    x = keras.layers.Conv2D(hp["width"], 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(hp["drop"])(x)
    outputs = keras.layers.Dense(data.n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
'''

USER = {
    "name": "user_model",
    "data": {"dataset": "digits", "samples": 400, "shape": [8, 8, 1]},
    "model": {"builder": "user_models.py:build_model", "epochs": 3, "batch_size": 64},
    "params": {"width": {"type": "choice", "values": [4, 8]},
               "drop": {"type": "uniform", "low": 0.0, "high": 0.2},
               "learning_rate": {"type": "loguniform", "low": 3.0e-3, "high": 3.0e-2}},
    "metric": "val_accuracy",
    "search": {"algorithm": "random", "num_samples": 3, "seed": 0},
}


def _merge(doc: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with ``changes`` (dotted keys; None deletes) applied."""
    doc = json.loads(json.dumps(doc))
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = doc
        for k in parents:
            node = node.setdefault(k, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return doc


def _user_spec(where: Path, **changes: Any) -> Path:
    """The feature tests' builder spec, with ``changes``, written next to its builder file."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "user_models.py").write_text(BUILDER)
    path = where / "user_model.yaml"
    path.write_text(yaml.safe_dump(_merge(USER, {k.replace("__", "."): v for k, v in changes.items()}),
                                   sort_keys=False))
    return path


def _example(tmp_path: Path, name: str, changes: dict[str, Any]) -> Path:
    """A shipped example (with the files beside it) copied into tmp_path and shrunk by ``changes``."""
    source = SPECS / name
    target = tmp_path / "spec"
    shutil.copytree(source.parent, target, ignore=shutil.ignore_patterns("__pycache__"))
    path = target / source.name
    path.write_text(yaml.safe_dump(_merge(yaml.safe_load(source.read_text()), changes), sort_keys=False))
    return path


def _tables(run_dir: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    info = json.loads((run_dir / "run.json").read_text())
    return (info, pd.read_parquet(run_dir / "trials.parquet"), pd.read_parquet(run_dir / "epochs.parquet"),
            pd.read_parquet(run_dir / "events.parquet"))


def _check_tables(run_dir: Path, trials_expected: int, hp_names: list[str], test_metric: str = "test_accuracy") -> \
        tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What every run of a user's model must hold, whatever its features."""
    info, trials, epochs, events = _tables(run_dir)
    assert info["status"] == "complete", info.get("error")
    assert len(trials) == trials_expected and trials["trial_id"].is_unique
    for name in hp_names:
        assert f"hp_{name}" in trials, (name, list(trials.columns))
    assert not epochs.duplicated(["trial_id", "epoch"]).any()
    assert set(epochs["trial_id"]) <= set(trials["trial_id"])
    selected = trials[trials["is_selected"]]
    assert len(selected) == 1
    assert trials[test_metric].notna().sum() == 1 and selected[test_metric].notna().all()
    return info, trials, epochs, events


@pytest.mark.parametrize("name, changes, hp_names", [
    ("cnn_digits.yaml", {"data.samples": 400, "model.epochs": 2, "search.num_samples": 2,
                         "scheduler.grace_period": 1},
     ["conv_layers", "filters", "pooling", "dense_units", "optimizer"]),
    ("examples/digits_builder.yaml", {"data.samples": 400, "model.epochs": 2, "search.num_samples": 2,
                                      "scheduler.grace_period": 1},
     ["blocks", "filters", "kernel_size", "batch_norm", "dropout", "optimizer"]),
    ("examples/sequence.yaml", {"data.args.n": 240, "data.args.steps": 24, "model.epochs": 2,
                                "search.num_samples": 2}, ["rnn_layers", "rnn_units", "dropout"]),
], ids=["cnn_digits", "digits_builder", "sequence_loader_and_gru_builder"])
def test_shipped_examples_run_through_the_cli(ray_session, tmp_path, name, changes, hp_names):
    spec = _example(tmp_path, name, changes)
    assert run_cli("validate", spec) == 0
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    _info, trials, epochs, _events = _check_tables(only_run_dir(out), changes["search.num_samples"], hp_names)
    assert (epochs.groupby("trial_id")["epoch"].min() == 1).all()


def test_builder_with_asha_on_half_gpus_and_a_failing_builder(ray_session, tmp_path, capsys):
    """digits_builder's contract on a user's file: ASHA stops trials, two trials share each
    logical GPU, a configuration the builder refuses is a failed trial and the sweep goes on."""
    spec = _user_spec(tmp_path / "spec", **{
        "params.width": {"type": "grid", "values": [4, 8, 13]},
        "params.drop": 0.1, "model.epochs": 3,
        # a hopeless learning rate next to a good one: ASHA has someone to stop at every rung
        "params.learning_rate": {"type": "grid", "values": [0.03, 1.0e-5]},
        "search": {"algorithm": "grid", "num_samples": 1, "seed": 0},
        "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
        # one trial at a time, in order: the hopeless rate reaches each rung after the good one, so
        # ASHA's stop is certain (with trials side by side the order of reports is up to the machine)
        "resources": {"cpu": 0.25, "gpu": 0.5, "max_concurrent": 1},
        "max_failures": 1,
    })
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    info, trials, epochs, events = _tables(only_run_dir(out))
    assert info["status"] == "complete" and len(trials) == 6
    failed = trials[trials["hp_width"] == 13]
    assert (failed["status"] == "error").all()
    assert failed["error"].str.contains("width 13 is not supported").all()
    assert failed["error"].str.contains("build_model").all()
    ok = trials[trials["hp_width"] != 13]
    assert set(ok["status"]) <= {"completed", "stopped"}
    stopped = ok[ok["status"] == "stopped"]
    assert len(stopped) >= 1 and stopped["stop_reason"].str.startswith("asha_rung_").all()
    assert (ok["gpus"] == 0.5).all() and ok["gpu_ids"].isin(["0", "1", "2", "3"]).all()
    assert trials["test_accuracy"].notna().sum() == 1
    assert not epochs.duplicated(["trial_id", "epoch"]).any()


def test_builder_trials_that_fail_once_are_retried_from_their_checkpoint(ray_session, tmp_path, monkeypatch):
    plan = tmp_path / "faults.json"
    plan.write_text(json.dumps([{"trials": [1], "epoch": 2, "times": "once"}]))
    monkeypatch.setenv(ENV, str(plan))
    spec = _user_spec(tmp_path / "spec", max_failures=1)
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    _info, trials, epochs, events = _check_tables(only_run_dir(out), 3, ["width", "drop", "learning_rate"])
    assert set(trials["status"]) == {"completed"} and trials["retries"].sum() == 1
    retry = events[events["decision"] == "retry"]
    assert len(retry) == 1 and retry["detail"].str.startswith("InjectedFault: ").all()
    assert (epochs.groupby("trial_id")["epoch"].agg(sorted).map(lambda e: e == [1, 2, 3])).all()


def test_builder_with_pbt_perturbs_the_learning_rate(ray_session, tmp_path):
    spec = _user_spec(tmp_path / "spec", **{
        "model.epochs": 4,
        "params.learning_rate": {"type": "loguniform", "low": 1.0e-5, "high": 0.1},
        "search.num_samples": 4,
        "scheduler": {"type": "pbt", "perturbation_interval": 1, "quantile_fraction": 0.5,
                      "resample_probability": 0.5},
    })
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    _info, trials, epochs, events = _check_tables(only_run_dir(out), 4, ["width", "drop", "learning_rate"])
    exploits = events[events["reason"] == "pbt_exploit"]
    assert len(exploits) >= 1
    # the user's width changes the graph: PBT perturbs the learning rate only
    assert exploits["detail"].str.contains("learning_rate").all()
    assert not exploits["detail"].str.contains("width").any()
    lr_per_trial = epochs.groupby("trial_id")["learning_rate"].nunique()
    assert (lr_per_trial > 1).any()


def test_builder_babysat_one_model_at_a_time(ray_session, tmp_path):
    spec = _user_spec(tmp_path / "spec", **{
        "strategy": "babysit", "babysit": {"max_models": 2},
        "params": None, "model.width": 8, "model.drop": 0.1, "model.learning_rate": 3.0,
        "model.epochs": 4,
    })
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    info, trials, epochs, events = _check_tables(only_run_dir(out), 2, ["width", "drop", "learning_rate"])
    assert info["strategy"] == "babysit" and set(trials["strategy"]) == {"babysit"}
    spans = trials.sort_values("started_at")[["started_at", "ended_at"]].to_numpy()
    assert spans[1][0] >= spans[0][1]
    babysitter = events[events["source"] == "babysitter"]
    assert not babysitter.empty  # lr=3 is cut: the babysitter acted on the user's model
    # a builder's own names are never changed by the babysitter: only the learning rate moves
    assert (trials["hp_width"] == 8).all() and (trials["hp_drop"] == 0.1).all()


def test_builder_nightly_warm_starts_from_the_previous_night(ray_session, tmp_path, capsys):
    hist = tmp_path / "history"
    s1 = _user_spec(tmp_path / "n1", **{"search.num_samples": 2, "model.epochs": 2})
    assert run_cli("nightly", s1, "--history", hist, "--date", "2026-11-20") == 0
    capsys.readouterr()
    (run1,) = [p for p in (hist / "date=2026-11-20").iterdir() if p.is_dir()]
    best = json.loads((run1 / "run.json").read_text())["selected"]["config"]
    s2 = _user_spec(tmp_path / "n2", **{"search.num_samples": 2, "model.epochs": 2})
    assert run_cli("nightly", s2, "--history", hist, "--date", "2026-11-21", "--tolerance", "1") == 0
    out = capsys.readouterr().out
    assert "warm start with 1 configuration(s) from date=2026-11-20" in out
    (run2,) = [p for p in (hist / "date=2026-11-21").iterdir() if p.is_dir()]
    info2 = json.loads((run2 / "run.json").read_text())
    (point,) = info2["nightly"]["warm_start"]
    assert point["width"] == best["width"] and point["drop"] == best["drop"]  # the user's names carry over
    trials2 = pd.read_parquet(run2 / "trials.parquet")
    assert best["drop"] in set(trials2["hp_drop"])


def test_builder_run_killed_then_resumed(ray_session, tmp_path):
    spec = _user_spec(tmp_path / "spec", **{"model.epochs": 6, "search.num_samples": 4})
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    log = tmp_path / "driver.log"
    proc = start_sweep("run", str(spec), "--out", str(out), env=env, log=log, cwd=tmp_path)
    run_dir = None
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            dirs = [p for p in out.iterdir() if p.is_dir()] if out.exists() else []
            if dirs:
                run_dir = dirs[0]
                if sum(e["kind"] == "epoch" for e in journal(run_dir)) >= 6:
                    break
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep finished before it could be killed"
    finally:
        kill_group(proc)
    # the driver imported the user's Keras model (its check): TensorFlow's native lines stay off the terminal
    assert_no_native_lines(log.read_text(errors="replace"), "the killed driver")
    assert run_dir is not None
    before = {(e["trial_id"], e["result"]["epoch"]) for e in journal(run_dir) if e["kind"] == "epoch"}
    assert run_cli("resume", run_dir) == 0
    info, trials, epochs, _events = _check_tables(run_dir, 4, ["width", "drop", "learning_rate"])
    assert len(info["resumed"]) == 1 and set(trials["status"]) == {"completed"}
    assert (epochs.groupby("trial_id")["epoch"].agg(["count", "max"]).eq(6)).all().all()
    assert before <= set(zip(epochs["trial_id"], epochs["epoch"]))


def test_validate_builds_one_model_and_warns_of_an_unread_hyperparameter(tmp_path, capsys):
    spec = _user_spec(tmp_path / "spec", **{"params.extra": {"type": "choice", "values": [1, 2]}})
    assert run_cli("validate", spec) == 0
    captured = capsys.readouterr()
    assert "ok: 3 trials" in captured.out
    assert "model builder user_models.py:build_model on examples shaped (8, 8, 1)" in captured.out
    assert "parameters for one sampled configuration" in captured.out
    assert "warning: params.extra: the builder user_models.py:build_model never reads it" in captured.err
    assert "width" not in captured.err and "drop" not in captured.err
