"""Kill a sweep's driver (SIGKILL) mid-run, or interrupt it (Ctrl-C), then `sweep resume`: complete
tables, no duplicate rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
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


def _start_and_wait_midway(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    """A 6-trial sweep as a process of its own, once a trial has finished and others are midway."""
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
    deadline = time.time() + 240
    run_dir = None
    try:
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
        assert proc.poll() is None, "the sweep finished before it could be stopped"
    except BaseException:
        kill_group(proc)
        raise
    assert run_dir is not None
    return proc, run_dir, log


def _resumed_whole(run_dir: Path, before: list[dict]) -> None:
    """`sweep resume` completes the run: every trial's 6 epochs once, nothing done before lost."""
    finished_before = {e["trial_id"] for e in before if e["kind"] == "end"}
    epochs_before = {(e["trial_id"], e["result"]["epoch"]) for e in before if e["kind"] == "epoch"}

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


def test_driver_killed_then_resumed(ray_session, tmp_path):
    proc, run_dir, log = _start_and_wait_midway(tmp_path)
    kill_group(proc)
    assert_no_native_lines(log.read_text(errors="replace"), "the killed driver")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # died without a word
    _resumed_whole(run_dir, _journal_lines(run_dir))


def test_ctrl_c_leaves_the_run_incomplete_untested_and_resumable(ray_session, tmp_path):
    """Ctrl-C in the terminal (SIGINT to the command's process group) mid-search: exit 130, one
    line, the run marked incomplete with no selection and no test score; `sweep resume` finishes it.
    (Ray Tune's own Ctrl-C handler used to end the search quietly: the run went on to select, test
    and mark itself complete, and could not be resumed.)"""
    proc, run_dir, log = _start_and_wait_midway(tmp_path)
    try:
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=90)
    finally:
        kill_group(proc)
    said = log.read_text(errors="replace")
    assert rc == 130, said
    assert said.rstrip().splitlines()[-1] == "sweep: error: interrupted; the run directory is marked incomplete"
    assert "Traceback" not in said and "test (once)" not in said
    assert_no_native_lines(said, "the interrupted driver")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "incomplete"
    trials = pd.read_parquet(run_dir / "trials.parquet")
    assert not trials["is_selected"].any()
    assert "test_accuracy" not in trials or trials["test_accuracy"].isna().all()  # the test split untouched
    before = _journal_lines(run_dir)
    assert any(e["kind"] == "end" for e in before)
    _resumed_whole(run_dir, before)



def test_sigterm_to_the_process_group_ends_it_at_once_and_leaves_it_incomplete(ray_session, tmp_path):
    """A container's stop or `kill -TERM -PGID` signals the driver and its embedded Ray at once: the
    command ends within seconds, the run marked incomplete (resumable, as the Ctrl-C test shows),
    nothing of Ray's left running. (Ray Tune's exit handler used to wait 60 s for the gone GCS and
    end the command with status 1 and Ray's error line.)"""
    proc, run_dir, log = _start_and_wait_midway(tmp_path)
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        t0 = time.monotonic()
        rc = proc.wait(timeout=90)
        took = time.monotonic() - t0
    finally:
        kill_group(proc)
    said = log.read_text(errors="replace")
    assert rc == 128 + signal.SIGTERM and took < 20, (rc, took, said)
    assert_no_native_lines(said, "the terminated driver")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "incomplete"
