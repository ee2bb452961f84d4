"""strategy: babysit end to end: one model at a time on one slot, interventions in events.parquet."""

from __future__ import annotations

import json

import pandas as pd

from tests.helpers import only_run_dir, run_cli, write_spec

HOT = {
    "name": "hot",
    "data": {"dataset": "digits"},
    "strategy": "babysit",
    # Adam at lr=3 blows up on digits from the first epoch (loss in the hundreds)
    "model": {"optimizer": "adam", "learning_rate": 3.0, "epochs": 6, "units": 32, "hidden_layers": 1},
    "metric": "val_accuracy",
    "babysit": {"max_models": 2},
}


def test_a_learning_rate_started_too_high_is_cut_and_recorded(ray_session, tmp_path):
    out = tmp_path / "out"
    assert run_cli("run", write_spec(tmp_path, HOT), "--out", out) == 0
    run = only_run_dir(out)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and info["strategy"] == "babysit"
    trials = pd.read_parquet(run / "trials.parquet")
    epochs = pd.read_parquet(run / "epochs.parquet")
    events = pd.read_parquet(run / "events.parquet")

    # models ran one after the other, each a trial row, never two at once
    assert len(trials) == 2 and set(trials.strategy) == {"babysit"}
    spans = trials.sort_values("started_at")[["started_at", "ended_at"]].to_numpy()
    assert spans[1][0] >= spans[0][1]

    # the first epoch at lr=3 was cut: an event row with the old and new learning rate
    cuts = events[(events.decision == "revert_and_cut_lr") & (events.source == "babysitter")]
    assert not cuts.empty
    first = cuts.sort_values(["trial_id", "epoch"]).iloc[0]
    assert first.old_value == 3.0 and 0 < first.new_value < 3.0
    # ... and the learning rate the next epoch trained with is the new one (visible per epoch)
    nxt = epochs[(epochs.trial_id == first.trial_id) & (epochs.epoch == first.epoch + 1)]
    assert float(nxt.learning_rate.iloc[0]) == first.new_value

    # selection on validation (never a blown-up epoch) and the test split evaluated once
    sel = trials[trials.is_selected]
    assert len(sel) == 1 and sel.test_accuracy.notna().all()
    assert trials.test_accuracy.notna().sum() == 1
    best_epoch = int(sel.best_epoch.iloc[0])
    row = epochs[(epochs.trial_id == sel.trial_id.iloc[0]) & (epochs.epoch == best_epoch)]
    assert not bool(row.diverged.iloc[0])

    # sweep show and sweep report work on the run directory as for a parallel run
    assert run_cli("show", run) == 0
    assert run_cli("report", run) == 0 and (run / "report.html").is_file()
