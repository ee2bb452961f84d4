"""The peers benchmark's harness (benchmarks/peers.py smoke): runs end to end and records every field.

Checks the machinery, not the figures: a few seconds per tool on a busy 2-core machine are mostly
start-up. Two tools stand in for the five (one in-process TensorFlow loop stopped hard at the budget,
one Ray Tune script that stops itself), so the test stays well under a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

RUN_FIELDS = {"tool", "dataset", "repeat", "seed", "trials_started", "epochs", "steps", "epochs_per_s",
              "steps_per_s", "first_epoch_s", "best", "best_at", "time_to_target_s", "series", "selected",
              "process"}
SUMMARY_FIELDS = {"trials_started", "epochs", "epochs_per_s", "steps_per_s", "best_at", "time_to_target_s",
                  "reached_target", "test"}


def test_smoke_writes_every_field(tmp_path: Path) -> None:
    env_pp = f"{ROOT}"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peers.py"), "smoke", "--tools", "random,raytune",
         "--budget", "4", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=110, env={**__import__("os").environ, "PYTHONPATH": env_pp})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads((tmp_path / "peers.json").read_text())
    assert doc["smoke"] is True and doc["command"].startswith("python benchmarks/peers.py smoke")
    assert {"machine", "versions", "date", "datasets", "peers"} <= set(doc)
    runs = doc["peers"]["runs"]
    assert sorted(r["tool"] for r in runs) == ["random", "raytune"]
    for r in runs:
        assert RUN_FIELDS <= set(r), RUN_FIELDS - set(r)
        assert len(r["best_at"]) == 3  # 40%, 67%, 100% of the budget
        assert r["process"]["wall_s"] < 4 + 3 + 15  # stopped at the budget (+ grace, + the stop itself)
        assert r["process"]["left_running"] == 0  # nothing the tool started is still running
    summary = doc["peers"]["summary"]["hard"]
    for tool in ("random", "raytune"):
        assert SUMMARY_FIELDS <= set(summary[tool])
    assert "orchestrator_first" in summary["_verdict"]
    md = (tmp_path / "RESULTS_smoke.md").read_text()
    assert "## Peers on the same job" in md and "sequential random search" in md
