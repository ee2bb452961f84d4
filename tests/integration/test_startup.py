"""Ray Tune's first trials start in the workers an embedded Ray prestarted as it came up.

Ray starts one idle worker per CPU during ``ray.init``, but hands an actor only an idle worker of
the same runtime_env, and Tune registers its trainable with one (a few environment variables). The
first trials then waited for new workers to start while the prestarted ones idled:
``runner._tune_actors_without_runtime_env`` registers the trainable without it when this process's
environment (which an embedded Ray's workers inherit) already holds those variables; ``sweep run``
does so whenever its Ray is the embedded one started in the same process (``runner._embedded_here``).

The case runs in a fresh interpreter (an embedded Ray of its own, the session's is not disturbed)
with a function trainable, no TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, os, sys, time
from orchestrator.runner import _RayStart, _embedded_here, _tune_actors_without_runtime_env
_RayStart(None, {"num_cpus": 2}).join()
embedded = _embedded_here()  # what sweep run checks before it runs Tune
import ray
import psutil  # Ray's vendored copy
from ray import tune

def idle_workers():
    return {p.pid for p in psutil.Process().children(recursive=True) if "ray::IDLE" in " ".join(p.cmdline())}

deadline = time.time() + 60
while len(idle_workers()) < 2 and time.time() < deadline:
    time.sleep(0.05)
prestarted = idle_workers()

def trial(config):
    tune.report({"pid": os.getpid(), "pl_disable_fork": os.environ.get("PL_DISABLE_FORK")})

undo = _tune_actors_without_runtime_env()
try:
    grid = tune.Tuner(trial, param_space={"i": tune.grid_search([0, 1, 2, 3])},
                      tune_config=tune.TuneConfig(reuse_actors=True),
                      run_config=tune.RunConfig(storage_path=os.getcwd(), verbose=0)).fit()
finally:
    if undo is not None:
        undo()
os.environ["PL_DISABLE_FORK"] = "0"  # differs from what Tune sets: it must keep its runtime_env
refused = _tune_actors_without_runtime_env() is None
print(json.dumps({"patched": undo is not None, "embedded": embedded, "prestarted": sorted(prestarted),
                  "trials": [{"pid": r.metrics["pid"], "pl_disable_fork": r.metrics["pl_disable_fork"]} for r in grid],
                  "refused_when_env_differs": refused}))
ray.shutdown()
"""


def test_first_trials_run_in_the_workers_ray_prestarted(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for k in ("RAY_ADDRESS", "PL_DISABLE_FORK"):
        env.pop(k, None)
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env=env)
    assert r.returncode == 0, r.stderr[-4000:]
    found = json.loads(r.stdout.strip().splitlines()[-1])
    assert found["embedded"] and found["patched"]
    assert len(found["prestarted"]) == 2
    pids = {t["pid"] for t in found["trials"]}
    assert len(found["trials"]) == 4
    # every trial ran in a worker that was up before Tune started: no worker was started for them
    assert pids <= set(found["prestarted"]), (pids, found["prestarted"])
    # what Tune's runtime_env would have set is in the trial's environment all the same
    assert {t["pl_disable_fork"] for t in found["trials"]} == {"1"}
    assert found["refused_when_env_differs"]
