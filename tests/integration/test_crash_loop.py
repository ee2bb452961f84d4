"""The driver of `sweep run` is SIGKILLed at three random moments and `sweep resume`d each time.

At the end every (trial_id, epoch) is recorded exactly once, every Parquet file reads, no trial that
had finished before a kill is lost or changes status, and progress (finished trials, recorded
epochs) never goes backwards from one kill to the next.

Epochs are slowed to ~0.4 s with the test-only fault plan (kind ``slow``) so that three kills
land while trials train, not after the sweep. Set SWEEP_CRASH_SEED to replay a failure's moments.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path

import pandas as pd

from orchestrator.training.faults import ENV

from tests.helpers import assert_no_native_lines, journal, kill_group, start_sweep, write_spec

TRIALS, EPOCHS = 6, 8
TERMINAL = {"completed", "stopped", "diverged", "error"}


def _journal(run_dir: Path) -> tuple[set[tuple[str, int]], dict[str, str]]:
    """(trial_id, epoch) pairs and the last end status of each trial, from the journal."""
    pairs: set[tuple[str, int]] = set()
    ended: dict[str, str] = {}
    for e in journal(run_dir):  # a line torn by the kill (the last one) is skipped
        if e["kind"] == "epoch":
            pairs.add((e["trial_id"], int(e["result"]["epoch"])))
        elif e["kind"] == "end":
            ended[e["trial_id"]] = e["status"]
    return pairs, ended


def _parquet(run_dir: Path) -> tuple[set[tuple[str, int]], dict[str, str]]:
    """The same from the Parquet files, each of which must read."""
    trials = pd.read_parquet(run_dir / "trials.parquet")
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    pd.read_parquet(run_dir / "events.parquet")
    assert not epochs.empty or len(trials) == 0 or "epoch" in epochs
    pairs = set(zip(epochs["trial_id"], epochs["epoch"].astype(int))) if len(epochs) else set()
    assert len(pairs) == len(epochs), "a duplicated (trial_id, epoch) row"
    finished = dict(zip(trials["trial_id"], trials["status"])) if len(trials) else {}
    return pairs, {t: s for t, s in finished.items() if s in TERMINAL}


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _await_moment(out: Path, proc: subprocess.Popen, log: Path, seen_pairs: set[tuple[str, int]], new_epochs: int,
                  need_finished: bool, where: str) -> Path:
    """Wait until the journal holds ``new_epochs`` epochs not in ``seen_pairs`` (and, with
    ``need_finished``, a finished trial); the run directory."""
    deadline = time.time() + 120
    while time.time() < deadline:
        run_dir = next((p for p in out.iterdir() if p.is_dir()), None) if out.exists() else None
        if run_dir is not None:
            pairs, finished = _journal(run_dir)
            if len(pairs - seen_pairs) >= new_epochs and (not need_finished or finished):
                return run_dir
        assert proc.poll() is None, \
            f"{where}: the driver ended (code {proc.returncode}) before the kill:\n{_tail(log)}"
        time.sleep(0.1)
    raise AssertionError(f"{where}: no {new_epochs} new epochs in 120 s")


def test_driver_killed_three_times_at_random_and_resumed(tmp_path):
    seed = int(os.environ.get("SWEEP_CRASH_SEED") or random.randrange(1_000_000))
    rng = random.Random(seed)
    spec = write_spec(tmp_path, {
        "name": "crashloop",
        "data": {"dataset": "digits"},
        "model": {"epochs": EPOCHS, "units": 8, "batch_size": 128},
        "params": {"learning_rate": {"type": "loguniform", "low": 3.0e-3, "high": 0.05}},
        "metric": "val_accuracy",
        "search": {"algorithm": "random", "num_samples": TRIALS, "seed": 4},
    })
    plan = tmp_path / "slow.json"
    plan.write_text(json.dumps({"trials": "all", "kind": "slow", "seconds": 0.4}))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", ENV: str(plan)}
    env.pop("RAY_ADDRESS", None)

    started = time.time()
    log = tmp_path / "driver.log"
    proc = start_sweep("run", str(spec), "--out", str(out), env=env, log=log)
    run_dir: Path | None = None
    moments: list[str] = []
    seen_pairs: set[tuple[str, int]] = set()
    seen_finished: dict[str, str] = {}
    parquet_pairs: set[tuple[str, int]] = set()
    parquet_finished: dict[str, str] = {}
    try:
        for kill in range(3):
            where = f"seed {seed}, kill {kill + 1}"
            # at a random moment after 1-8 epochs not recorded before the last kill; the last kill
            # also waits for a finished trial, so that there is one whose status must survive
            new_epochs = rng.randint(1, 8)
            run_dir = _await_moment(out, proc, log, seen_pairs, new_epochs, kill == 2, where)
            time.sleep(rng.uniform(0.0, 0.8))
            assert proc.poll() is None, f"{where}: the sweep finished before it could be killed"
            kill_group(proc)
            assert run_dir is not None
            moments.append(f"{time.time() - started:.0f}s")

            pairs, finished = _journal(run_dir)
            p_pairs, p_finished = _parquet(run_dir)
            # progress never goes backwards; a finished trial stays finished, with the same status
            assert pairs >= seen_pairs and len(pairs) > len(seen_pairs), where
            assert all(finished.get(t) == s for t, s in seen_finished.items()), (where, seen_finished, finished)
            assert p_pairs >= parquet_pairs, where
            assert all(p_finished.get(t) == s for t, s in parquet_finished.items()), where
            assert p_pairs <= pairs, where  # the Parquet files never hold what the journal lacks
            seen_pairs, seen_finished = pairs, finished
            parquet_pairs, parquet_finished = p_pairs, p_finished
            assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # died without a word

            proc = start_sweep("resume", str(run_dir), env=env, log=log)
        assert proc.wait(timeout=240) == 0, f"seed {seed}: the last resume failed:\n{_tail(log)}"
    finally:
        if proc.poll() is None:
            kill_group(proc)
    wall = time.time() - started
    assert_no_native_lines(log.read_text(errors="replace"), "the drivers")

    assert run_dir is not None
    info = json.loads((run_dir / "run.json").read_text())
    trials = pd.read_parquet(run_dir / "trials.parquet")
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    pd.read_parquet(run_dir / "events.parquet")
    assert info["status"] == "complete" and len(info["resumed"]) == 3, seed
    assert len(trials) == TRIALS and trials["trial_id"].is_unique and set(trials["status"]) == {"completed"}, seed
    # every (trial_id, epoch) exactly once, epochs 1..EPOCHS
    assert not epochs.duplicated(["trial_id", "epoch"]).any(), seed
    assert epochs.groupby("trial_id")["epoch"].apply(sorted).map(lambda e: e == list(range(1, EPOCHS + 1))).all()
    assert set(epochs["trial_id"]) == set(trials["trial_id"])
    final = dict(zip(trials["trial_id"], trials["status"]))
    assert all(final.get(t) == s for t, s in seen_finished.items()), seed  # no finished trial lost or changed
    assert seen_pairs <= set(zip(epochs["trial_id"], epochs["epoch"])), seed
    assert trials["is_selected"].sum() == 1 and trials["test_accuracy"].notna().sum() == 1
    print(f"crash loop: seed {seed}, kills at {', '.join(moments)}, {len(seen_pairs)} of {TRIALS * EPOCHS} epochs "
          f"recorded and {len(seen_finished)} trials finished by the last kill, {wall:.0f} s wall")
