"""In one process (a notebook), the second ``orchestrator.run`` starts its first trials in warm workers.

The first run starts an embedded Ray; when it ends, the Ray stays for the process's next run and
one idle worker per CPU is started again, each importing TensorFlow as it starts; the second run's
test evaluation is in the first run's evaluator, warm since then. The case runs in
a fresh interpreter, as a notebook's kernel is one (an embedded Ray of its own; the session's is
not disturbed), with no warm runtime (``SWEEP_NO_RUNTIME=1``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import ROOT, assert_no_native_lines

PROBE = r"""
import json, os, sys, time
import orchestrator
import ray
from orchestrator.execution.ray_start import tensorflow_ready
from orchestrator.processes import idle_ray_workers
from orchestrator.execution.tune_setup import kept_evaluator
from orchestrator.internals import raylet_pid

spec = {"name": "nb", "data": {"dataset": "digits"}, "model": {"hidden_layers": 1, "epochs": 2},
        "params": {"learning_rate": {"type": "loguniform", "low": 1e-3, "high": 1e-2}},
        "search": {"algorithm": "random", "num_samples": 2, "seed": 0}, "resources": {"cpu": 1, "gpu": 0}}
first = orchestrator.run(spec, out=sys.argv[1])
evaluators = [ray.get(kept_evaluator().ready.remote())]
deadline = time.time() + 240
warm = []
while time.time() < deadline:  # the restock runs in the background; a user would be reading the first run
    warm = tensorflow_ready(idle_ray_workers(parent=raylet_pid()))
    if len(warm) >= 2:
        break
    time.sleep(1)
second = orchestrator.run(spec, out=sys.argv[1])
evaluators.append(ray.get(kept_evaluator().ready.remote()))
lines = [json.loads(x) for x in open(os.environ["SWEEP_TRIAL_STATS"]) if x.strip()]
search_start = min(x["at"] for x in lines if x.get("stamp") == "search_start")
born = {x["pid"]: x["worker_born_at"] for x in lines if "worker_born_at" in x}
print(json.dumps({"first": sorted(int(p) for p in first.trials["pid"]), "warm": warm,
                  "first_born_before_search": {str(p): born.get(int(p), 1e18) < search_start for p in first.trials["pid"]},
                  "second": sorted(int(p) for p in second.trials["pid"]), "evaluators": evaluators,
                  "tests": [first.test_metrics, second.test_metrics]}))
"""


def test_the_second_run_in_a_process_starts_in_warm_workers(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update({"PYTHONPATH": str(ROOT), "SWEEP_NO_RUNTIME": "1", "SWEEP_TRIAL_STATS": str(tmp_path / "stats.jsonl")})
    r = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "out")], capture_output=True, text=True,
                       timeout=900, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-4000:]
    assert_no_native_lines(r.stdout + r.stderr, "two orchestrator.run calls")
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    # the first run's trials ran in the workers Ray prestarted as it started (importing TensorFlow
    # then), not in workers started for them: Ray's idle-worker reaper no longer ends those
    assert all(seen["first_born_before_search"].values()), seen
    assert len(seen["warm"]) >= 2, seen
    assert not set(seen["first"]) & set(seen["warm"])  # new workers: the first run's ended with its trials
    assert set(seen["second"]) <= set(seen["warm"]), seen  # every trial of the second run in a warm one
    # one evaluator for both runs (it imported TensorFlow once), and each run has its one test score
    assert seen["evaluators"][0] == seen["evaluators"][1], seen
    assert all(t and "test_accuracy" in t for t in seen["tests"]), seen
