"""The floors under a cold ``sweep run``'s first epoch on this machine (benchmarks/startup.md).

    .venv/bin/python benchmarks/startup_floor.py [--repeats 5] [--json PATH]

Each repeat, one after the other, each in a fresh process and under ``flock /tmp/integration.lock``:

- ``tf_import``: ``python -c`` importing TensorFlow as a trial's worker does
  (``orchestrator.training.worker.import_tensorflow``), timed inside the process;
- ``keras_script_imports``: the plain script's imports (keras, numpy, pandas, scikit-learn);
- ``ray_init``: ``ray.init`` as an embedded ``sweep run`` calls it (``connect_ray``: no dashboard, the
  loopback, no preloading), from the call to its return;
- ``actor_ready``: from ``ray.init``'s return to the first method call answered by an empty actor
  with one CPU (a new worker process, nothing imported in it);
- ``chain``: the steps no cold Ray Tune sweep can skip, one after the other in one fresh process,
  timed from its launch: the driver imports Ray and starts it as ``sweep run`` does, then one actor
  with one CPU (a worker Ray prestarted) imports what a trial's worker must (Ray Tune, our trainable,
  TensorFlow as ``import_tensorflow`` trims it), builds the plain script's model and trains its first
  epoch on arrays of the digits split's shapes. Left out, so the figure stays a floor: the CLI's
  other imports, the spec, the data, Tune's set-up and placement group, the trial's data transfer;
- ``tune_chain``: the same through Ray Tune, as ``sweep run`` starts it: Ray on a thread (and the
  same patches) while the driver imports Ray Tune, then ``Tuner.fit`` of one trial with one CPU that
  imports our trainable and TensorFlow, builds that model and reports after its first epoch (the
  figure: launch to the end of that epoch). Left out as in ``chain`` but for Tune's own set-up;
- ``tune_chain_preloaded``: ``tune_chain`` with ``SWEEP_PRELOAD=1``: the workers Ray prestarts import
  our trainable (so Ray Tune) and TensorFlow as they start, while the driver sets up;
- ``plain``: the plain Keras script of ``benchmarks/startup.py`` on digits, launch to its first
  finished epoch (as the ``plain`` path there).

A cold sweep cannot show its first epoch before the fastest of the three chains: the worker process
exists only once Ray does, and it must import Ray Tune and TensorFlow itself (``chain`` imports them
only once called; the preloaded one while the driver sets up, which can be sooner). Their ratios to
``plain`` (medians of the per-run ratios) are the lowest cold ratios this machine allows. Medians
over the repeats; the load average beside each.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
LOCK = "/tmp/integration.lock"

# The plain script's model and its first epoch, on arrays of the digits split's shapes (the chains' last step).
FIRST_EPOCH = ("def first_epoch():\n"
               "    import keras, numpy as np\n"
               "    rng = np.random.default_rng(0)\n"
               "    X, y = rng.normal(size=(1258, 64)).astype('float32'), rng.integers(0, 10, 1258)\n"
               "    Xv, yv = rng.normal(size=(359, 64)).astype('float32'), rng.integers(0, 10, 359)\n"
               "    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation='relu'),\n"
               "                              keras.layers.Dense(10, activation='softmax')])\n"
               "    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])\n"
               "    model.fit(X, y, validation_data=(Xv, yv), epochs=1, batch_size=32, verbose=0)\n")

PROBES = {
    "tf_import": "import time; t=time.time(); from orchestrator.training.worker import import_tensorflow; "
                 "import_tensorflow(); print(time.time()-t)",
    "keras_script_imports": "import time; t=time.time(); import keras, numpy, pandas, sklearn; print(time.time()-t)",
    "ray": ("import time, json\n"
            "from orchestrator.execution.ray_start import connect_ray\n"
            "t=time.time(); connect_ray(None, preload=False); t1=time.time()\n"
            "import ray\n"
            "@ray.remote(num_cpus=1)\n"
            "class A:\n"
            "    def ping(self): return 1\n"
            "a=A.remote(); ray.get(a.ping.remote()); t2=time.time()\n"
            "print(json.dumps({'ray_init': t1-t, 'actor_ready': t2-t1}))\n"),
    "chain": (FIRST_EPOCH + "import time, json, sys\n"
              "t0 = float(sys.argv[1])\n"
              "import ray\n"
              "from orchestrator.execution.ray_start import connect_ray\n"
              "connect_ray(None, preload=False); t_ray = time.time()\n"
              "@ray.remote(num_cpus=1)\n"
              "class Trial:\n"
              "    def run(self):\n"
              "        import time\n"
              "        t = time.time()\n"
              "        import ray.tune, orchestrator.training.trainable\n"
              "        t_tune = time.time()\n"
              "        from orchestrator.training.worker import import_tensorflow\n"
              "        import_tensorflow()\n"
              "        import keras, numpy as np\n"
              "        t_tf = time.time()\n"
              "        first_epoch()\n"
              "        return t, t_tune, t_tf, time.time()\n"
              "t_called, t_tune, t_tf, t_epoch = ray.get(Trial.remote().run.remote())\n"
              "print(json.dumps({'chain': t_epoch - t0, 'chain_ray_ready': t_ray - t0,\n"
              "                  'chain_worker_called': t_called - t_ray, 'chain_tune_import': t_tune - t_called,\n"
              "                  'chain_tf_import': t_tf - t_tune, 'chain_model_epoch': t_epoch - t_tf}))\n"),
    "tune_chain": (FIRST_EPOCH + "import time, json, sys\n"
                   "t0 = float(sys.argv[1])\n"
                   "from orchestrator.execution.ray_start import RayStart, one_shot\n"
                   "from orchestrator.internals import patched\n"
                   "one_shot()  # as sweep run: no preloading\n"
                   "ray_start = RayStart(None, None)  # as sweep run: Ray starts on a thread beside the driver\n"
                   "from ray import tune\n"
                   "def trial(config):\n"
                   "    import time\n"
                   "    import orchestrator.training.trainable\n"
                   "    from orchestrator.training.worker import import_tensorflow\n"
                   "    import_tensorflow()\n"
                   "    first_epoch()\n"
                   "    tune.report({'epoch_end': time.time()})\n"
                   "tuner = tune.Tuner(tune.with_resources(trial, {'cpu': 1}), tune_config=tune.TuneConfig(num_samples=1),\n"
                   "                   run_config=tune.RunConfig(storage_path=sys.argv[2], verbose=0))\n"
                   "ray_start.join(); t_ray = time.time()\n"
                   "with patched('tune_actors_without_runtime_env'):  # as sweep run: the actor takes a prestarted worker\n"
                   "    result = tuner.fit()[0]\n"
                   "name = sys.argv[3]  # tune_chain, or tune_chain_preloaded\n"
                   "print(json.dumps({name: result.metrics['epoch_end'] - t0, f'{name}_ray_ready': t_ray - t0}))\n"),
    "plain": None,  # benchmarks/startup.py's PLAIN_SCRIPT, written to a file
}
PROBES["tune_chain_preloaded"] = PROBES["tune_chain"]
PROBE_ENV = {"tune_chain_preloaded": {"SWEEP_PRELOAD": "1"}}


def probe(name: str, ws: Path) -> dict[str, float]:
    """One probe in a fresh process (``ws``: the benchmark's folder, with ``plain.py``)."""
    env = dict(os.environ, SWEEP_NO_RUNTIME="1", TF_CPP_MIN_LOG_LEVEL="3", **PROBE_ENV.get(name, {}))
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        load = os.getloadavg()[0]
        if name == "plain":
            cmd = [PYTHON, str(ws / "plain.py"), "digits"]
        else:
            cmd = [PYTHON, "-c", PROBES[name]] + ([str(time.time())] if "chain" in name else [])
            cmd += [tempfile.mkdtemp(prefix="tune-", dir=ws), name] if name.startswith("tune_chain") else []
        t0 = time.time()
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True, timeout=600).stdout.strip().splitlines()[-1]
    if name == "plain":
        return {"plain": json.loads(out)["epoch"] - t0, "load1": load}
    figures = json.loads(out) if out.startswith("{") else {name: float(out)}
    return {**figures, "load1": load}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--probes", default=",".join(PROBES), help="which probes, comma-separated (default: all)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "startup_floor.json"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from startup import PLAIN_SCRIPT

    ws = Path(tempfile.mkdtemp(prefix="startup-floor-"))
    (ws / "plain.py").write_text(PLAIN_SCRIPT)
    runs = []
    try:
        for i in range(args.repeats):
            row: dict[str, float] = {}
            for name in args.probes.split(","):
                got = probe(name, ws)
                row.update({k: v for k, v in got.items() if k != "load1"})
                row[f"load1_{name}"] = got["load1"]
            runs.append(row)
            print(f"[{i}] " + ", ".join(f"{k}={v:.2f}" for k, v in row.items()), flush=True)
    finally:
        shutil.rmtree(ws, ignore_errors=True)
    keys = [k for k in runs[0] if not k.startswith("load1_")]
    medians = {k: statistics.median(r[k] for r in runs) for k in keys}
    for chain in ("chain", "tune_chain", "tune_chain_preloaded"):
        if chain in medians and "plain" in medians:
            medians[f"{chain} / plain"] = statistics.median(r[chain] / r["plain"] for r in runs)
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
              "command": " ".join(["python", "benchmarks/startup_floor.py", *sys.argv[1:]]),
              "runs": runs, "medians": medians}
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print("medians: " + ", ".join(f"{k}={v:.2f}{'x' if '/' in k else ' s'}" for k, v in medians.items()))


if __name__ == "__main__":
    main()
