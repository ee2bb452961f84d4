"""Runs on storage URIs: the driver is killed mid-run, ``sweep resume URI`` finishes the run, and
show, report and ``orchestrator.load`` read it at the URI.

``file://`` goes through pyarrow's filesystem layer exactly as ``s3://``/``gs://`` do; with moto
installed (``pip install 'moto[server]'``, in the ``test`` extra) the same run also goes to a local
S3 endpoint (an object store: no directories, no renames).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pandas as pd

import orchestrator
from orchestrator.storage import resolve

from tests.helpers import ROOT, assert_no_native_lines, journal, kill_group, run_cli, start_sweep, write_spec

SPEC = {
    "name": "crashuri",
    "data": {"dataset": "digits"},
    "model": {"epochs": 6, "units": 16, "batch_size": 64},
    "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.05}},
    "metric": "val_accuracy",
    "search": {"algorithm": "random", "num_samples": 6, "seed": 4},
}


def _run_then_kill(spec, out_uri: str, env: dict[str, str]) -> Any:
    """Start ``sweep run --out URI`` in its own session; SIGKILL it once the copy at the URI shows a
    finished trial and others midway. Returns the run's Location."""
    out = resolve(out_uri, check=False)
    log = spec.parent / "driver.log"
    proc = start_sweep("run", str(spec), "--out", out_uri, env=env, log=log)
    run = None
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            runs = [d for d in out.iterdir() if d.is_dir()]
            if runs:
                run = runs[0]
                lines = journal(run)
                if sum(e["kind"] == "end" for e in lines) >= 1 and sum(e["kind"] == "epoch" for e in lines) >= 12:
                    break
            if proc.poll() is not None:
                break
            time.sleep(0.3)
        assert proc.poll() is None, "the sweep finished before it could be killed"
    finally:
        kill_group(proc)
    assert_no_native_lines(log.read_text(errors="replace"), "the killed driver")
    assert run is not None
    return run


def _check_resumed(run: Any, before: list[dict]) -> dict:
    info = json.loads((run / "run.json").read_text())
    trials = orchestrator.load(str(run)).trials
    epochs = orchestrator.load(str(run)).epochs
    assert info["status"] == "complete" and len(info["resumed"]) == 1
    assert len(trials) == 6 and set(trials["status"]) == {"completed"}
    assert not epochs.duplicated(["trial_id", "epoch"]).any()
    assert (epochs.groupby("trial_id")["epoch"].agg(["count", "max"]).eq(6)).all().all()  # 1..6, no gaps
    assert {e["trial_id"] for e in before if e["kind"] == "end"} <= set(trials["trial_id"])  # none lost
    assert ({(e["trial_id"], e["result"]["epoch"]) for e in before if e["kind"] == "epoch"}
            <= set(zip(epochs["trial_id"], epochs["epoch"])))
    assert trials["is_selected"].sum() == 1 and trials["test_accuracy"].notna().sum() == 1
    # the selected model went to the URI with the tables, and loads from there
    assert info["model"]["path"] == "model" and (run / "model" / "model.keras").is_file()
    model = orchestrator.load_model(str(run))
    assert model.info["trial_id"] == info["selected"]["trial_id"] and model.keras_model.count_params() > 0
    return info


def test_file_uri_run_killed_resumed_shown_and_reported(ray_session, tmp_path, capsys, monkeypatch):
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "bucket" / "runs"
    driver_tmp, resume_tmp = tmp_path / "driver-tmp", tmp_path / "resume-tmp"
    driver_tmp.mkdir()
    resume_tmp.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SWEEP_STAGING_DIR": str(driver_tmp)}
    env.pop("RAY_ADDRESS", None)
    run = _run_then_kill(spec, out.as_uri(), env)
    run_dir = out / run.name
    # what the driver put there before it died: tables, journal, Ray Tune's state
    assert {"run.json", "trials.parquet", "epochs.parquet", "journal.jsonl", "tune"} <= {p.name for p in run_dir.iterdir()}
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    # the driver staged the journal and tables locally (a SIGKILL leaves that copy behind)
    assert [p.name for p in driver_tmp.glob("sweep-staging-*/*/journal.jsonl")] == ["journal.jsonl"]
    before = journal(run)

    monkeypatch.setenv("SWEEP_STAGING_DIR", str(resume_tmp))
    assert run_cli("resume", str(run)) == 0
    assert f"results: {run}" in capsys.readouterr().out
    assert not list(resume_tmp.glob("sweep-staging-*"))  # the resume's staging copy is gone

    info = _check_resumed(run, before)
    pd.testing.assert_frame_equal(orchestrator.load(str(run)).trials, pd.read_parquet(run_dir / "trials.parquet"))
    assert run_cli("show", str(run)) == 0
    assert f"run {info['run_id']} · status complete · 6 trials" in capsys.readouterr().out
    assert run_cli("report", str(run)) == 0
    assert capsys.readouterr().out.strip() == f"report: {run}/report.html"
    assert info["run_id"] in (run_dir / "report.html").read_text()


def test_s3_run_killed_resumed_and_shown(s3_root, tmp_path, capsys):
    spec = write_spec(tmp_path, SPEC)
    # the drivers run as their own processes (their embedded Ray's workers get the credentials)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SWEEP_STAGING_DIR": str(tmp_path / "staging")}
    env.pop("RAY_ADDRESS", None)
    run = _run_then_kill(spec, s3_root, env)
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    assert (run / "tune").is_dir()
    before = journal(run)
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "resume", str(run)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_no_native_lines(done.stdout + done.stderr, "sweep resume")
    assert f"results: {run}" in done.stdout
    info = _check_resumed(run, before)
    assert run_cli("show", str(run)) == 0
    assert f"run {info['run_id']} · status complete · 6 trials" in capsys.readouterr().out


def test_nightly_into_a_uri_history_twice_the_same_date(ray_session, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SWEEP_STAGING_DIR", str(tmp_path / "staging"))
    spec = write_spec(tmp_path, {
        "name": "nighturi", "data": {"dataset": "digits"}, "model": {"epochs": 2, "batch_size": 64},
        "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.05}},
        "metric": "val_accuracy", "search": {"algorithm": "random", "num_samples": 2, "seed": 0},
    })
    hist = tmp_path / "bucket" / "nightly"
    assert run_cli("nightly", spec, "--history", hist.as_uri(), "--date", "2026-11-20") == 0
    first = capsys.readouterr().out
    assert "first night with val_accuracy" in first
    assert run_cli("nightly", spec, "--history", hist.as_uri(), "--date", "2026-11-20") == 0
    out = capsys.readouterr().out
    assert "replaced the earlier run of this date" in out
    (run_dir,) = (hist / "date=2026-11-20").iterdir()  # one run: the second
    assert f"results: {hist.as_uri()}/date=2026-11-20/{run_dir.name}" in out
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and info["nightly"]["date"] == "2026-11-20"
    assert (run_dir / "tune").is_dir() and (run_dir / "journal.jsonl").is_file()
    assert not list((hist / "_staging").iterdir())
    assert not list((tmp_path / "staging").iterdir())  # the drivers' local staging copies are gone
    h = orchestrator.load_history(hist.as_uri())
    assert list(h.runs["run_id"]) == [info["run_id"]] and len(h.trials) == 2
    assert h.trials["date"].dt.strftime("%Y-%m-%d").unique().tolist() == ["2026-11-20"]
