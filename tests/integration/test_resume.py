"""Kill a sweep's driver (SIGKILL) mid-run, then `sweep resume`: complete tables, no duplicate rows."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd

from tests.helpers import assert_no_native_lines, kill_group, run_cli, start_sweep, write_spec


def _journal_lines(run_dir: Path) -> list[dict]:
    path = run_dir / "journal.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def test_driver_killed_then_resumed(ray_session, tmp_path):
    spec = write_spec(tmp_path, {
        "name": "crash",
        "data": {"dataset": "digits"},
        "model": {"epochs": 6, "units": 16, "batch_size": 64},
        "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.05}},
        "metric": "val_accuracy",
        "search": {"algorithm": "random", "num_samples": 6, "seed": 4},
    })
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    log = tmp_path / "driver.log"
    proc = start_sweep("run", str(spec), "--out", str(out), env=env, log=log)
    try:
        deadline = time.time() + 240
        run_dir = None
        # kill once a trial has finished and others are midway
        while time.time() < deadline:
            dirs = [p for p in out.iterdir() if p.is_dir()] if out.exists() else []
            if dirs:
                run_dir = dirs[0]
                lines = _journal_lines(run_dir)
                if sum(e["kind"] == "end" for e in lines) >= 1 and sum(e["kind"] == "epoch" for e in lines) >= 12:
                    break
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep finished before it could be killed"
    finally:
        kill_group(proc)
    assert_no_native_lines(log.read_text(errors="replace"), "the killed driver")
    assert run_dir is not None
    before = _journal_lines(run_dir)
    finished_before = {e["trial_id"] for e in before if e["kind"] == "end"}
    epochs_before = {(e["trial_id"], e["result"]["epoch"]) for e in before if e["kind"] == "epoch"}
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # died without a word

    assert run_cli("resume", run_dir) == 0

    info = json.loads((run_dir / "run.json").read_text())
    trials = pd.read_parquet(run_dir / "trials.parquet")
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    assert info["status"] == "complete" and len(info["resumed"]) == 1
    assert len(trials) == 6 and set(trials["status"]) == {"completed"}
    assert not epochs.duplicated(["trial_id", "epoch"]).any()
    assert (epochs.groupby("trial_id")["epoch"].agg(["count", "max"]).eq(6)).all().all()  # 1..6, no gaps
    assert finished_before <= set(trials["trial_id"])  # no finished trial lost
    assert epochs_before <= set(zip(epochs["trial_id"], epochs["epoch"]))  # progress never goes backwards
    assert trials["is_selected"].sum() == 1 and trials["test_accuracy"].notna().sum() == 1

