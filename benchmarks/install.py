"""Benchmark: the set-up step of "Two commands" (``make run`` / ``make test`` on a fresh machine).

Compares, interleaved, in fresh clones of a commit, each with empty package caches of its own (as on
a new machine, every wheel is downloaded):

- ``pip``: the recipe before ``uv`` (``python3 -m venv .venv``; ``pip install --upgrade pip``;
  ``pip install -e '.[test]'``);
- ``make``: the Makefile's ``make setup`` as it is in the clone (``uv pip install`` since
  benchmarks/install.md).

Each repeat then times the first import of the project, Ray Tune, TensorFlow and Keras in the new
virtualenv, counts TensorFlow's compiled modules (a virtualenv without them, under
``PYTHONDONTWRITEBYTECODE``, compiles them at every import), checks that ``sweep --help`` answers, and
records the installed distributions, so that the two recipes can be compared version for version. Prints
medians and writes every figure to ``--json``.

    python benchmarks/install.py --repeats 3 --json benchmarks/results/install.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = shutil.which("python3") or sys.executable  # the system interpreter, as on a fresh machine


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{cmd!r} failed ({done.returncode}) in {cwd}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def installed(venv: Path) -> dict[str, str]:
    """name -> version of every distribution in ``venv`` (names normalised as in PEP 503)."""
    code = ("import importlib.metadata as m, json, re; print(json.dumps({re.sub(r'[-_.]+', '-', "
            "d.metadata['Name']).lower(): d.version for d in m.distributions()}))")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def one(recipe: str, commit: str, work: Path) -> dict:
    clone = work / f"clone-{recipe}"
    caches = work / f"cache-{recipe}"
    shutil.rmtree(clone, ignore_errors=True)
    shutil.rmtree(caches, ignore_errors=True)
    _run(["git", "clone", "-q", str(ROOT), str(clone)], work, dict(os.environ))
    _run(["git", "checkout", "-q", commit], clone, dict(os.environ))
    env = dict(os.environ, PIP_CACHE_DIR=str(caches / "pip"), UV_CACHE_DIR=str(caches / "uv"))
    env.pop("VIRTUAL_ENV", None)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    start = time.perf_counter()
    if recipe == "pip":
        _run([PYTHON, "-m", "venv", ".venv"], clone, env)
        _run([".venv/bin/python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"], clone, env)
        _run([".venv/bin/python", "-m", "pip", "install", "--quiet", "-e", ".[test]"], clone, env)
    else:
        _run(["make", "setup", f"PYTHON={PYTHON}"], clone, env)
    seconds = time.perf_counter() - start
    # Compiled modules: with PYTHONDONTWRITEBYTECODE set (as on this machine), a virtualenv without
    # them compiles TensorFlow's Python files at every import.
    site = next((clone / ".venv" / "lib").glob("python3*/site-packages"))
    pyc = sum(1 for _ in (site / "tensorflow").rglob("*.pyc"))
    probe = ("import time; t = time.perf_counter(); import orchestrator, ray.tune, tensorflow, keras; "
             "print(time.perf_counter() - t)")
    imports = subprocess.run([".venv/bin/python", "-c", probe], cwd=clone, env=env, capture_output=True, text=True,
                             check=True)
    _run([".venv/bin/sweep", "--help"], clone, env)
    versions = installed(clone / ".venv")
    shutil.rmtree(clone, ignore_errors=True)
    shutil.rmtree(caches, ignore_errors=True)
    return {"recipe": recipe, "seconds": round(seconds, 1), "load_before": load, "tensorflow_pyc_files": pyc,
            "first_import_s": round(float(imports.stdout.split()[-1]), 2), "versions": versions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--commit", default="HEAD", help="the commit whose Makefile 'make' runs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", args.commit], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="install-bench-") as tmp:
        for i in range(args.repeats):
            order = ("pip", "make") if i % 2 == 0 else ("make", "pip")
            for recipe in order:
                run = one(recipe, commit, Path(tmp))
                runs.append(run)
                print(f"{recipe:5s} {run['seconds']:7.1f} s  (load {run['load_before']}); then the first import of "
                      f"orchestrator, Ray Tune, TensorFlow and Keras {run['first_import_s']:.2f} s, "
                      f"{run['tensorflow_pyc_files']} compiled TensorFlow modules", flush=True)
    medians = {r: statistics.median(x["seconds"] for x in runs if x["recipe"] == r) for r in ("pip", "make")}
    first = {r: next(x["versions"] for x in runs if x["recipe"] == r) for r in ("pip", "make")}
    differ = {name: (first["pip"][name], first["make"][name]) for name in first["pip"].keys() & first["make"].keys()
              if first["pip"][name] != first["make"][name]}
    only = sorted(first["pip"].keys() ^ first["make"].keys())
    print(f"median: pip {medians['pip']:.1f} s, make setup {medians['make']:.1f} s "
          f"({medians['pip'] / medians['make']:.1f}x faster)")
    print(f"versions that differ between the recipes: {differ or 'none'}; installed by one recipe only: {only or 'none'}")
    if args.json:
        args.json.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "processor": platform.processor() or platform.machine()},
            "medians_s": medians, "differing_versions": differ, "only_in_one_recipe": only,
            "runs": [{k: v for k, v in r.items() if k != "versions"} for r in runs],
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
