"""The floors under a cold ``sweep run``'s first epoch on this machine (benchmarks/startup.md).

    .venv/bin/python benchmarks/startup_floor.py [--repeats 5] [--json PATH]

Each repeat, one after the other, each in a fresh process and under ``flock /tmp/integration.lock``:

- ``tf_import``: ``python -c`` importing TensorFlow as a trial's worker does
  (``orchestrator.training.worker.import_tensorflow``), timed inside the process;
- ``keras_script_imports``: the plain script's imports (keras, numpy, pandas, scikit-learn);
- ``ray_init``: ``ray.init`` as an embedded ``sweep run`` calls it (``connect_ray``: no dashboard, the
  loopback, no preloading), from the call to its return;
- ``actor_ready``: from ``ray.init``'s return to the first method call answered by an empty actor
  with one CPU (a new worker process, nothing imported in it).

A cold sweep cannot show its first epoch before the sum of the last three plus the TensorFlow
import, a model build and an epoch: the worker process exists only once Ray does, and it must import
TensorFlow itself. Medians over the repeats; the load average beside each.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
LOCK = "/tmp/integration.lock"

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
}


def probe(name: str) -> dict[str, float]:
    env = dict(os.environ, SWEEP_NO_RUNTIME="1", TF_CPP_MIN_LOG_LEVEL="3")
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        load = os.getloadavg()[0]
        out = subprocess.run([PYTHON, "-c", PROBES[name]], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True, timeout=600).stdout.strip().splitlines()[-1]
    figures = json.loads(out) if out.startswith("{") else {name: float(out)}
    return {**figures, "load1": load}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "startup_floor.json"))
    args = ap.parse_args()
    runs = []
    for i in range(args.repeats):
        row: dict[str, float] = {}
        for name in PROBES:
            got = probe(name)
            row.update({k: v for k, v in got.items() if k != "load1"})
            row[f"load1_{name}"] = got["load1"]
        runs.append(row)
        print(f"[{i}] " + ", ".join(f"{k}={v:.2f}" for k, v in row.items()), flush=True)
    keys = ("tf_import", "keras_script_imports", "ray_init", "actor_ready")
    medians = {k: statistics.median(r[k] for r in runs) for k in keys}
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
              "command": " ".join(["python", "benchmarks/startup_floor.py", *sys.argv[1:]]),
              "runs": runs, "medians": medians}
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print("medians: " + ", ".join(f"{k}={v:.2f} s" for k, v in medians.items()))


if __name__ == "__main__":
    main()
