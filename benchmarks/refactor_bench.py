"""Before/after: the quickstart's wall time and first epoch, the current tree against an older one.

    .venv/bin/python benchmarks/refactor_bench.py --baseline-src DIR [--repeats 3] [--spec FILE]

``DIR`` is a source tree of the previous code (``git worktree add /tmp/before COMMIT``). Each
repeat runs ``sweep run SPEC`` once with each tree, alternating which goes first, as separate
processes on an embedded Ray; the machine's load is recorded before every run. Writes
``benchmarks/results/refactor.json`` and prints the medians.

A change that only moves code should leave both figures within the noise of the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SWEEP = str(Path(sys.executable).with_name("sweep"))
JSON_PATH = HERE / "results" / "refactor.json"


def run_once(tree: Path, spec: Path, out: Path) -> dict[str, Any]:
    """One ``sweep run`` from ``tree`` (its package first on the path; Ray's workers follow the cwd)."""
    import pandas as pd

    env = dict(os.environ, PYTHONPATH=str(tree))
    load = os.getloadavg()[0]
    t0 = time.time()
    p = subprocess.run([SWEEP, "run", str(spec), "--out", str(out)], env=env, cwd=tree, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError(f"sweep run from {tree} failed ({p.returncode}): {p.stderr[-2000:]}")
    run_dir = next(d for d in out.iterdir() if d.is_dir())
    info = json.loads((run_dir / "run.json").read_text())
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    return {"wall_s": wall, "first_epoch_s": info["started_at"] + float(epochs["elapsed_s"].min()) - t0,
            "epochs": int(len(epochs)), "load": load, "stdout_lines": len(p.stdout.splitlines())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-src", required=True, type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--spec", type=Path, default=ROOT / "search_spaces" / "quickstart.yaml")
    args = ap.parse_args(argv)
    trees = {"after": ROOT, "before": args.baseline_src.resolve()}
    tmp = Path(tempfile.mkdtemp(prefix="refactor-bench-"))
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in trees}
    for rep in range(args.repeats):
        order = list(trees) if rep % 2 == 0 else list(reversed(trees))
        for name in order:
            r = run_once(trees[name], args.spec.resolve(), tmp / f"{name}{rep}")
            runs[name].append(r)
            print(f"[{rep}] {name}: wall {r['wall_s']:.1f} s, first epoch {r['first_epoch_s']:.2f} s, "
                  f"{r['epochs']} epochs (load {r['load']:.1f})", flush=True)
    med = {k: {m: statistics.median(r[m] for r in rs) for m in ("wall_s", "first_epoch_s")} for k, rs in runs.items()}
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "spec": str(args.spec.relative_to(ROOT)),
           "command": " ".join([Path(sys.executable).name, *sys.argv]), "cpus": os.cpu_count(),
           "python": platform.python_version(), "runs": runs, "median": med,
           "ratio_after_over_before": {m: med["after"][m] / med["before"][m] for m in ("wall_s", "first_epoch_s")}}
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(doc, indent=1, sort_keys=True))
    for m in ("wall_s", "first_epoch_s"):
        print(f"median {m}: before {med['before'][m]:.2f}, after {med['after'][m]:.2f} "
              f"(after/before {doc['ratio_after_over_before'][m]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
