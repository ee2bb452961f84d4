"""Benchmark: what one version of a dependency costs every TensorFlow import (a trial worker's first).

Loads ``ml_dtypes`` (TensorFlow's and Keras' numeric types) and then the product's trimmed
TensorFlow import (``orchestrator.training.worker.import_tensorflow``) in fresh interpreters, once
per version per repeat, the versions interleaved, each version's wheel put first on ``PYTHONPATH``
(downloaded with pip into ``--cache``; the installed packages are not touched). Prints medians and
writes every figure to ``--json``.

    python benchmarks/import_cost.py --versions 0.6.0,0.7.0 --repeats 7 --json benchmarks/results/import_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

PROBE = r"""
import json, sys, time
t = time.perf_counter()
import ml_dtypes
t1 = time.perf_counter()
from orchestrator.training.worker import import_tensorflow
import_tensorflow()
t2 = time.perf_counter()
print(json.dumps({"version": ml_dtypes.__version__, "ml_dtypes_s": t1 - t, "tensorflow_s": t2 - t}))
"""


def unpacked(version: str, cache: Path) -> Path:
    """A folder holding ml_dtypes ``version`` from its wheel for this interpreter."""
    target = cache / f"ml_dtypes-{version}"
    if (target / "ml_dtypes").is_dir():
        return target
    wheels = cache / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    f"ml_dtypes=={version}", "-d", str(wheels)], check=True)
    wheel = next(w for w in wheels.glob(f"ml_dtypes-{version}-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(target)
    return target


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.machine())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", default="0.6.0,0.7.0")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cache", default="/tmp/import-cost-cache")
    ap.add_argument("--json")
    args = ap.parse_args()
    versions = args.versions.split(",")
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    paths = {v: unpacked(v, cache) for v in versions}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1")
    runs: dict[str, list[dict]] = {v: [] for v in versions}
    for i in range(args.repeats):
        for v in versions:
            load = os.getloadavg()[0]
            out = subprocess.run([sys.executable, "-c", PROBE], env=dict(env, PYTHONPATH=str(paths[v])),
                                 capture_output=True, text=True, check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            assert row["version"] == v, f"loaded ml_dtypes {row['version']}, not {v}"
            row["load"] = load
            runs[v].append(row)
            print(f"[{i + 1}] ml_dtypes {v}: itself {row['ml_dtypes_s']:.3f} s, with TensorFlow {row['tensorflow_s']:.2f} s"
                  f" (load {load:.2f})", flush=True)
    summary = {v: {"ml_dtypes_s": statistics.median(r["ml_dtypes_s"] for r in rows),
                   "tensorflow_s": statistics.median(r["tensorflow_s"] for r in rows)} for v, rows in runs.items()}
    for v, s in summary.items():
        print(f"ml_dtypes {v}: medians of {args.repeats}: itself {s['ml_dtypes_s']:.3f} s, "
              f"ml_dtypes + TensorFlow {s['tensorflow_s']:.2f} s")
    if args.json:
        meta = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
                "cpu": cpu_model(), "cpus": os.cpu_count()}
        Path(args.json).write_text(json.dumps({"meta": meta, "runs": runs, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
