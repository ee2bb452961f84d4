"""Trials that fail: retried from their last checkpoint up to ``max_failures``, then ``error`` with
the reason kept; out of memory (a real failed allocation, a real SIGKILL of the trial's worker)
recorded as such. Faults come from the test-only SWEEP_FAULT_INJECTION plan.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd

from orchestrator.training.faults import ENV, trial_index

from tests.helpers import only_run_dir, run_cli, write_spec


def _spec(tmp_path: Path, samples: int, epochs: int, max_failures: int) -> Path:
    return write_spec(tmp_path, {
        "name": "faults",
        "data": {"dataset": "digits"},
        "model": {"epochs": epochs, "units": 8, "batch_size": 128},
        "params": {"learning_rate": {"type": "loguniform", "low": 3.0e-3, "high": 0.05}},
        "metric": "val_accuracy",
        "search": {"algorithm": "random", "num_samples": samples, "seed": 2},
        "max_failures": max_failures,
    })


def _plan(tmp_path: Path, monkeypatch, faults: list[dict]) -> Path:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(faults))
    monkeypatch.setenv(ENV, str(path))
    return tmp_path / "faults.json.state"


def _fired(state: Path) -> list[dict]:
    f = state / "fired.jsonl"
    return [json.loads(x) for x in f.read_text().splitlines()] if f.exists() else []


def _journal_epochs(run_dir: Path, trial_id: str) -> list[int]:
    out = []
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["kind"] == "epoch" and e["trial_id"] == trial_id:
            out.append(int(e["result"]["epoch"]))
    return out


def _tables(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    trials = pd.read_parquet(run_dir / "trials.parquet")
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    events = pd.read_parquet(run_dir / "events.parquet")
    trials["index"] = trials["trial_id"].map(trial_index)
    return trials.set_index("index"), epochs, events


def test_trials_that_fail_once_are_retried_from_their_checkpoint(ray_session, tmp_path, monkeypatch):
    n, epochs = 14, 4
    seed = random.randrange(10_000)
    chosen = sorted(random.Random(seed).sample(range(n), 2))  # ~10% of the trials
    state = _plan(tmp_path, monkeypatch, [{"trials": chosen, "epoch": "random", "seed": seed, "times": "once"}])
    out = tmp_path / "out"
    assert run_cli("run", _spec(tmp_path, n, epochs, max_failures=1), "--out", out) == 0, f"seed {seed}"

    run_dir = only_run_dir(out)
    trials, epoch_rows, events = _tables(run_dir)
    fired = _fired(state)
    assert sorted(trial_index(f["trial_id"]) for f in fired) == chosen, f"seed {seed}"
    assert all(2 <= f["epoch"] <= epochs for f in fired)
    # every trial ran to its end; the two that failed were retried once each
    assert len(trials) == n and set(trials["status"]) == {"completed"}
    assert trials["retries"].to_dict() == {i: int(i in chosen) for i in trials.index}
    assert trials.loc[chosen, "attempts"].tolist() == [2, 2]
    retry = events[events["decision"] == "retry"]
    assert sorted(retry["trial_id"].map(trial_index)) == chosen
    assert set(retry["reason"]) == {"error"} and retry["detail"].str.startswith("InjectedFault: ").all()
    # the failure came as the fault's epoch began, after the epoch before it was recorded
    assert sorted(zip(retry["trial_id"], retry["epoch"])) == sorted((f["trial_id"], f["epoch"] - 1) for f in fired)
    # one row per (trial, epoch), epochs 1..4 with no gap
    assert not epoch_rows.duplicated(["trial_id", "epoch"]).any()
    assert epoch_rows.groupby("trial_id")["epoch"].apply(sorted).map(lambda e: e == [1, 2, 3, 4]).all()
    # the retry went on from the checkpoint of the epoch before the failure, not from epoch 1:
    # every epoch was reported exactly once
    for f in fired:
        assert _journal_epochs(run_dir, f["trial_id"]) == [1, 2, 3, 4], f
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"


def test_a_trial_that_always_fails_ends_as_error_and_the_sweep_goes_on(ray_session, tmp_path, monkeypatch):
    state = _plan(tmp_path, monkeypatch, [{"trials": [1], "epoch": 2, "times": "always"}])
    out = tmp_path / "out"
    code = run_cli("run", _spec(tmp_path, 4, 3, max_failures=2), "--out", out)
    assert code == 0  # a trial was selected despite the failure

    run_dir = only_run_dir(out)
    trials, epoch_rows, events = _tables(run_dir)
    failed = trials.loc[1]
    assert failed["status"] == "error" and failed["stop_reason"] == "error"
    assert failed["error"] == f"InjectedFault: injected failure in trial {failed['trial_id']} at epoch 2"
    assert failed["attempts"] == 3 and failed["retries"] == 2  # max_failures + 1 attempts
    assert len(_fired(state)) == 3
    ev = events[events["trial_id"] == failed["trial_id"]]
    assert ev["decision"].tolist() == ["retry", "retry", "stop"] and (ev["source"] == "error").all()
    # each attempt resumed from the epoch-1 checkpoint: epoch 1 was trained and reported once
    assert _journal_epochs(run_dir, failed["trial_id"]) == [1]
    others = trials.drop(index=1)
    assert set(others["status"]) == {"completed"} and (others["retries"] == 0).all()
    assert not failed["is_selected"] and trials["is_selected"].sum() == 1
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and info["counts"] == {"error": 1, "completed": 3}


def test_out_of_memory_is_recorded_as_error_with_the_reason(ray_session, tmp_path, monkeypatch):
    """Trial 1 allocates far more than its (per-process) memory limit allows; trial 2's worker is
    SIGKILLed as the kernel's OOM killer would. No retries: both end as errors, the others finish."""
    _plan(tmp_path, monkeypatch, [{"trials": [1], "epoch": 2, "times": "always", "kind": "memory"},
                                  {"trials": [2], "epoch": 2, "times": "always", "kind": "kill"}])
    out = tmp_path / "out"
    assert run_cli("run", _spec(tmp_path, 5, 3, max_failures=0), "--out", out) == 0

    trials, _, events = _tables(only_run_dir(out))
    assert trials.loc[1, "status"] == "error" and trials.loc[1, "stop_reason"] == "out_of_memory"
    assert trials.loc[1, "error"].startswith("out of memory: MemoryError: Unable to allocate")
    assert trials.loc[2, "status"] == "error" and trials.loc[2, "stop_reason"] == "worker_died"
    assert trials.loc[2, "error"].startswith("worker process died (killed, possibly out of memory)")
    assert set(trials.drop(index=[1, 2])["status"]) == {"completed"}
    assert (trials["retries"] == 0).all()
    stops = events[events["decision"] == "stop"].set_index("trial_id")["reason"]
    assert stops.to_dict() == {trials.loc[1, "trial_id"]: "out_of_memory", trials.loc[2, "trial_id"]: "worker_died"}
