"""Ray Tune's trial actors do without Tune's runtime_env on an embedded Ray started in this process.

Ray starts one idle worker per CPU during ``ray.init``, but hands an actor only an idle worker of
the same runtime_env, and Tune registers its trainable with one (a few environment variables). The
first trials then waited for new workers to start while the prestarted ones idled. The patch
``tune_actors_without_runtime_env`` (``orchestrator/internals/ray.py``) registers the trainable without
it when this process's environment (which an embedded Ray's workers inherit) already holds those
variables; ``sweep run`` applies it whenever its Ray is the embedded one started in the same process
(``execution.ray_start.embedded_here``).

Whether the first trials then land in the prestarted workers depends on the machine's timing (on a
machine where ``ray.init`` takes 7 s they did not always: Ray started a new worker, as it would
unpatched). What holds on any machine is checked here: the patch applies, the trials run without a
runtime_env and still see what Tune's runtime_env would have set, and when a variable differs the
patch stands aside and Tune's runtime_env is used (the clean fallback).

The case runs in a fresh interpreter (an embedded Ray of its own, the session's is not disturbed)
with a function trainable, no TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import ROOT, assert_no_native_lines

PROBE = r"""
import json, os, sys, time
from orchestrator.execution.ray_start import RayStart, embedded_here
from orchestrator.internals import patched
RayStart(None, {"num_cpus": 2}).join()
embedded = embedded_here()  # what sweep run checks before it runs Tune
import ray
import psutil  # Ray's vendored copy
from ray import tune

def idle_workers():
    return {p.pid for p in psutil.Process().children(recursive=True) if "ray::IDLE" in " ".join(p.cmdline())}

deadline = time.time() + 60
while len(idle_workers()) < 2 and time.time() < deadline:
    time.sleep(0.05)
prestarted = idle_workers()

def seen():
    env_vars = dict(ray.get_runtime_context().runtime_env.get("env_vars") or {})
    return {"pid": os.getpid(), "pl_disable_fork": os.environ.get("PL_DISABLE_FORK"), "env_vars": json.dumps(env_vars)}

def trial(config):
    tune.report(seen())

def fallback_trial(config):
    tune.report(seen())

def fit(trainable, n):
    grid = tune.Tuner(trainable, param_space={"i": tune.grid_search(list(range(n)))},
                      tune_config=tune.TuneConfig(reuse_actors=True),
                      run_config=tune.RunConfig(storage_path=os.getcwd(), verbose=0)).fit()
    return [{**r.metrics, "env_vars": json.loads(r.metrics["env_vars"])} for r in grid]

with patched("tune_actors_without_runtime_env") as applied:
    trials = fit(trial, 4)
undone = ray.tune.execution.class_cache._ActorClassCache.get.__module__ == "ray.tune.execution.class_cache"
os.environ["PL_DISABLE_FORK"] = "0"  # differs from what Tune sets: it must keep its runtime_env
with patched("tune_actors_without_runtime_env") as refused:
    fallback = fit(fallback_trial, 1)
print(json.dumps({"patched": applied["tune_actors_without_runtime_env"], "embedded": embedded,
                  "prestarted": sorted(prestarted), "undone": undone,
                  "trials": [{k: t[k] for k in ("pid", "pl_disable_fork", "env_vars")} for t in trials],
                  "refused_when_env_differs": not refused["tune_actors_without_runtime_env"],
                  "fallback": [{k: t[k] for k in ("pl_disable_fork", "env_vars")} for t in fallback]}))
ray.shutdown()
"""


def test_first_trials_run_without_tunes_runtime_env_on_an_embedded_ray(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for k in ("RAY_ADDRESS", "PL_DISABLE_FORK"):
        env.pop(k, None)
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env=env)
    assert r.returncode == 0, r.stderr[-4000:]
    assert_no_native_lines(r.stdout + r.stderr, "an embedded Ray's start and its trials")
    found = json.loads(r.stdout.strip().splitlines()[-1])
    assert found["embedded"] and found["patched"] and found["undone"]
    assert len(found["prestarted"]) == 2  # Ray prestarted one worker per CPU (which ones run the trials is timing)
    assert len(found["trials"]) == 4
    # the patch took effect: no runtime_env for the trial actors ...
    assert [t["env_vars"] for t in found["trials"]] == [{}] * 4
    # ... and what Tune's runtime_env would have set is in the trial's environment all the same
    assert {t["pl_disable_fork"] for t in found["trials"]} == {"1"}
    # when the driver's environment differs, the patch stands aside and Tune's runtime_env is used
    assert found["refused_when_env_differs"]
    assert [t["env_vars"].get("PL_DISABLE_FORK") for t in found["fallback"]] == ["1"]
    assert [t["pl_disable_fork"] for t in found["fallback"]] == ["1"]
