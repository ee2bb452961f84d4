"""What the terminal shows when a run does not end as planned: one line, never a traceback or Ray's logs.

- An unexpected failure once the run has started (seen under ``ray job submit``: Tune's end-of-run
  analysis raised FileNotFoundError) is one line naming what failed and the file its traceback was
  written to, exit code 1; run.json says ``incomplete`` and ``sweep resume`` completes the run.
- A time budget that stops trials prints the sweep's lines only: none of Ray's log lines (Ray Tune
  logged ``ERROR tune.py:1035 -- Trials did not complete: [...]`` there).
"""

from __future__ import annotations

import json
import logging
import os
import re

import pandas as pd

from tests.helpers import only_run_dir, run_cli, write_spec

# Ray's log format: "2026-12-03 18:51:29,143\tERROR tune.py:1035 -- Trials did not complete: [...]"
RAY_LOG_LINE = re.compile(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+\.py:\d+ -- ")

SMALL = {
    "name": "small", "data": {"dataset": "exam"}, "model": {"epochs": 3, "batch_size": 32},
    "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.05}},
    "metric": "val_accuracy", "search": {"algorithm": "random", "num_samples": 2, "seed": 0},
}


def test_a_failure_after_the_search_is_one_line_and_the_run_resumes(ray_session, tmp_path, capsys, monkeypatch):
    from orchestrator.execution import strategies

    spec = write_spec(tmp_path, SMALL)
    out = tmp_path / "out"

    def gone(self, ctx):  # the step right after tuner.fit, failing as Tune's analysis did
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "moved" / "experiment_state.json"))

    monkeypatch.setattr(strategies.ParallelStrategy, "after_search", gone)
    assert run_cli("run", spec, "--out", out) == 1
    captured = capsys.readouterr()
    run_dir = only_run_dir(out)
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert "the end of the search failed: FileNotFoundError" in err[0]
    assert str(run_dir / "traceback.txt") in err[0] and f"sweep resume {run_dir}" in err[0]
    assert "Traceback" not in captured.err + captured.out
    assert "FileNotFoundError" in (run_dir / "traceback.txt").read_text()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "incomplete"

    monkeypatch.undo()
    assert run_cli("resume", run_dir) == 0
    assert f"results: {run_dir}" in capsys.readouterr().out
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and len(info["resumed"]) == 1
    trials = pd.read_parquet(run_dir / "trials.parquet")
    assert len(trials) == 2 and trials["is_selected"].sum() == 1 and trials["test_accuracy"].notna().sum() == 1


def test_a_budget_that_stops_trials_prints_no_ray_log_line(ray_session, tmp_path, capsys, monkeypatch):
    before = {k: os.environ.get(k) for k in ("TUNE_DISABLE_STRICT_METRIC_CHECKING", "TUNE_MAX_PENDING_TRIALS_PG")}
    # Ray's terminal handler keeps the stream it was made with (not pytest's capture): what it would
    # print is what it is asked to emit.
    emitted: list[str] = []
    for handler in logging.getLogger("ray").handlers:
        monkeypatch.setattr(handler, "emit", lambda record: emitted.append(record.getMessage()))
    # far more epochs than the budget allows: the budget stops the trials (Tune then logged an ERROR)
    spec = write_spec(tmp_path, {**SMALL, "data": {"dataset": "digits"}, "model": {"epochs": 200, "batch_size": 16}})
    out = tmp_path / "out"
    run_cli("run", spec, "--out", out, "--budget", "12s")  # 0, or 1 when no trial finished an epoch in time
    captured = capsys.readouterr()
    trials = pd.read_parquet(only_run_dir(out) / "trials.parquet")
    assert (trials["stop_reason"] == "budget").any(), trials[["trial_id", "status", "stop_reason"]]
    ray_lines = [ln for ln in (captured.out + captured.err).splitlines() if RAY_LOG_LINE.search(ln)]
    assert ray_lines == [] and emitted == []
    assert "Traceback" not in captured.err
    # the environment set for Tune while the budget ran is restored
    assert {k: os.environ.get(k) for k in before} == before
