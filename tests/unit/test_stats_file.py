"""$SWEEP_TRIAL_STATS: the benchmarks' JSON-lines file (orchestrator/stats_file.py)."""

from __future__ import annotations

import json
import os

from orchestrator import stats_file


def test_stamps_append_one_line_each_with_the_moment_and_the_process(tmp_path, monkeypatch):
    path = tmp_path / "stats.jsonl"
    monkeypatch.setenv(stats_file.ENV, str(path))
    stats_file.stamp("ray_ready", started=True)
    stats_file.append({"trial_id": "t1", "tf_ready_s": 1.5})
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["stamp"] == "ray_ready" and lines[0]["started"] is True and lines[0]["pid"] == os.getpid()
    assert lines[0]["at"] > 0 and lines[1] == {"trial_id": "t1", "tf_ready_s": 1.5}


def test_unset_or_unwritable_writes_nothing_and_never_raises(tmp_path, monkeypatch):
    monkeypatch.delenv(stats_file.ENV, raising=False)
    stats_file.stamp("data_ready")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(stats_file.ENV, str(tmp_path / "missing" / "stats.jsonl"))
    stats_file.stamp("data_ready")
    stats_file.append({"x": object()})  # not JSON: dropped, not raised
    assert list(tmp_path.iterdir()) == []
