"""Real sweeps through the CLI on the session's Ray: what a user checks in the run directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import SPECS, check_run_dir, only_run_dir, run_cli, write_spec


def test_quickstart_through_cli(ray_session, tmp_path, capsys):
    spec = write_spec(tmp_path, "quickstart.yaml", **{"model.epochs": 4, "scheduler.grace_period": 1})
    assert run_cli("validate", spec) == 0
    capsys.readouterr()  # what follows is the run's output alone
    out = tmp_path / "out"
    code = run_cli("run", spec, "--out", out, "--num-samples", "5", "--seed", "3")
    printed = capsys.readouterr().out
    assert code == 0, printed
    run_dir = only_run_dir(out)
    trials, epochs = check_run_dir(run_dir, 5)
    assert "selected" in printed and "test (once)" in printed
    # momentum exists only where the optimizer is sgd
    assert trials.loc[trials["hp_optimizer"] != "sgd", "hp_momentum"].isna().all()
    assert trials.loc[trials["hp_optimizer"] == "sgd", "hp_momentum"].notna().all()
    # ASHA stops trials early and says so
    stopped = trials[trials["status"] == "stopped"]
    assert (stopped["stop_reason"].str.startswith("asha_rung_")).all()
    assert (trials.loc[trials["status"] == "completed", "epochs"] == 4).all()
    # TensorFlow's threads in each trial follow its CPU share (1 CPU)
    assert (trials["tf_intra_op_threads"] == 1).all()
    # the same figure is printed and stored
    sel = trials[trials["is_selected"]].iloc[0]
    assert f"{sel['best_val_accuracy']:.4f}" in printed
    # a finished run keeps at most each trial's best and latest checkpoints (all are kept while it runs)
    trial_dirs = [d for d in (run_dir / "tune").iterdir() if d.is_dir() and list(d.glob("checkpoint_*"))]
    assert len(trial_dirs) == len(trials)
    assert max(len(list(d.glob("checkpoint_*"))) for d in trial_dirs) <= 2


# Shipped specs whose run a test elsewhere validates and checks as the test below does, and more:
# cnn_digits.yaml in test_your_model.py::test_shipped_examples_run_through_the_cli, quickstart.yaml in
# test_quickstart_through_cli above, learning_rate.yaml (whole) in
# test_early_stopping.py::test_learning_rate_spec_diagnoses_the_course_experiment.
COVERED_ELSEWHERE = {"cnn_digits.yaml", "quickstart.yaml", "learning_rate.yaml"}


@pytest.mark.parametrize("name", sorted(p.name for p in SPECS.glob("*.yaml") if p.name not in COVERED_ELSEWHERE))
def test_every_shipped_spec_runs(ray_session, tmp_path, name):
    import yaml

    doc = yaml.safe_load((SPECS / name).read_text())
    changes = {"model.epochs": 2}
    if "epochs" in doc.get("params", {}):
        changes["params.epochs"] = None
    if doc.get("search", {}).get("algorithm", "random") != "grid":
        changes["search.num_samples"] = 3
    if doc.get("early_stopping"):
        changes["early_stopping.patience"] = 1
    if doc.get("scheduler", {}).get("grace_period", 1) > 2:  # a decision within the 2 epochs
        changes["scheduler.grace_period"] = 1
    if int((doc.get("data", {}).get("args") or {}).get("n", 0)) > 3000:  # a generated set: its size changes nothing checked here
        changes["data.args.n"] = 3000
    spec = write_spec(tmp_path, name, **changes)
    assert run_cli("validate", spec) == 0
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    run_dir = only_run_dir(out)
    from orchestrator.decisions.space import count_trials
    from orchestrator.spec import load_spec

    check_run_dir(run_dir, count_trials(load_spec(spec)))


def _exam_csv(path: Path, poison_test: bool) -> None:
    """The exam data as a CSV; with ``poison_test`` the test rows' features are scrambled and absurd.

    Labels stay as they are: the split is stratified on them, so changing them would move rows
    between splits.
    """
    from orchestrator.data import load_raw, split_indices

    raw = load_raw(dataset="exam", samples=600, seed=5)
    df = raw.X.copy()
    df["passed"] = raw.y.to_numpy()
    _, _, test_idx = split_indices(df["passed"].to_numpy(), task="classification", seed=0)
    if poison_test:
        rows = df.index[test_idx]
        scrambled = df.loc[rows, ["hours_studied", "hours_slept"]].to_numpy()[::-1] * -50.0
        df.loc[rows, ["hours_studied", "hours_slept"]] = scrambled
    df.to_csv(path, index=False)


def test_test_split_is_not_read_before_selection(ray_session, tmp_path):
    """Poisoning the test rows changes the test score and nothing else: selection never read them."""
    results = {}
    for poisoned in (False, True):
        d = tmp_path / ("poisoned" if poisoned else "clean")
        d.mkdir()
        _exam_csv(d / "exam.csv", poisoned)
        spec = write_spec(d, {
            "name": "poison",
            "data": {"path": "exam.csv", "target": "passed", "task": "classification"},
            "model": {"epochs": 3, "units": 8, "batch_size": 32},
            "params": {"learning_rate": {"type": "grid", "values": [0.001, 0.01, 0.1]}},
            "metric": "val_loss",
            "search": {"algorithm": "grid"},
        })
        assert run_cli("run", spec, "--out", d / "out") == 0
        run_dir = only_run_dir(d / "out")
        trials = pd.read_parquet(run_dir / "trials.parquet").sort_values("hp_learning_rate")
        results[poisoned] = trials
    clean, poisoned = results[False], results[True]
    np.testing.assert_allclose(clean["best_val_loss"].to_numpy(), poisoned["best_val_loss"].to_numpy(), rtol=1e-4)
    sel_clean = clean.loc[clean["is_selected"], "hp_learning_rate"].item()
    sel_poisoned = poisoned.loc[poisoned["is_selected"], "hp_learning_rate"].item()
    assert sel_clean == sel_poisoned
    acc_clean = clean.loc[clean["is_selected"], "test_accuracy"].item()
    acc_poisoned = poisoned.loc[poisoned["is_selected"], "test_accuracy"].item()
    assert acc_clean > 0.6 and acc_poisoned < acc_clean - 0.2


def test_a_seeded_tpe_search_trains_the_same_again(ray_session, tmp_path):
    """tpe names its trials with random ids, another each run; with the same seed a run draws the
    same configurations and trains each to the same losses (its training seed follows the
    configuration, not the id)."""
    spec = write_spec(tmp_path, {
        "name": "tpe_again", "data": {"dataset": "digits", "samples": 600},
        "model": {"epochs": 2, "units": 16, "batch_size": 64},
        "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.05}},
        "metric": "val_accuracy", "search": {"algorithm": "tpe", "num_samples": 3},
        "resources": {"max_concurrent": 1},  # the same order each run: tpe's next draw sees the same results
    })
    runs = []
    for out in ("one", "two"):
        assert run_cli("run", spec, "--out", tmp_path / out, "--seed", "5") == 0
        trials = pd.read_parquet(only_run_dir(tmp_path / out) / "trials.parquet")
        runs.append(trials.sort_values("hp_learning_rate")[["trial_id", "hp_learning_rate", "best_val_accuracy"]])
    one, two = runs
    assert set(one["trial_id"]).isdisjoint(two["trial_id"])  # Ray's ids differ from run to run
    assert one["hp_learning_rate"].tolist() == two["hp_learning_rate"].tolist()
    assert one["best_val_accuracy"].tolist() == two["best_val_accuracy"].tolist()
