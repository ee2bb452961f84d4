"""The built-in CNN against the built-in MLP on digits read as 8x8 images: same split, same budget.

    .venv/bin/python benchmarks/cnn_vs_mlp.py [--repeats 3] [--samples N] [--epochs N]

Specs: ``search_spaces/cnn_digits.yaml`` (``family: cnn``, ``data.shape: [8, 8, 1]``) and
``search_spaces/mlp_digits.yaml`` (the MLP). Both read scikit-learn's digits with the same data
seed, so the same 70/20/10 stratified split and the same 180 test rows; both draw the same number
of configurations (``search.num_samples``) for the same number of epochs under the same ASHA
rule, so the budget is equal in trials and epochs. Each repeat runs both with one search seed
(``repeat``), alternating which goes first, as separate ``sweep run`` processes on an embedded
Ray; the machine's load is recorded before every run. What is compared is what a user gets: the
test accuracy of the one configuration each sweep selected on validation accuracy (the test
split is read once per sweep). Writes ``benchmarks/results/cnn_vs_mlp.json`` and prints the
medians.
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

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SWEEP = str(Path(sys.executable).with_name("sweep"))
JSON_PATH = HERE / "results" / "cnn_vs_mlp.json"
SPECS = {"cnn": ROOT / "search_spaces" / "cnn_digits.yaml", "mlp": ROOT / "search_spaces" / "mlp_digits.yaml"}


def spec_for(family: str, seed: int, where: Path, samples: int | None, epochs: int | None) -> Path:
    """The shipped spec with the repeat's search seed (and, for a quick check, fewer trials or epochs)."""
    doc = yaml.safe_load(SPECS[family].read_text())
    doc["search"]["seed"] = seed
    if samples:
        doc["search"]["num_samples"] = samples
    if epochs:
        doc["model"]["epochs"] = epochs
    path = where / f"{family}_{seed}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_once(spec: Path, out: Path) -> dict[str, Any]:
    """One ``sweep run``; the selected trial's validation and test accuracy, the sweep's wall time."""
    import pandas as pd

    load = os.getloadavg()[0]
    t0 = time.time()
    p = subprocess.run([SWEEP, "run", str(spec), "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError(f"sweep run {spec} failed ({p.returncode}): {p.stderr[-2000:]}")
    run_dir = next(d for d in out.iterdir() if d.is_dir())
    trials = pd.read_parquet(run_dir / "trials.parquet")
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    sel = trials[trials["is_selected"]].iloc[0]
    info = json.loads((run_dir / "run.json").read_text())
    return {"test_accuracy": float(sel["test_accuracy"]), "best_val_accuracy": float(sel["best_val_accuracy"]),
            "trials": int(len(trials)), "epochs_trained": int(len(epochs)), "wall_s": round(wall, 1),
            "load": round(load, 2), "rows_test": int(info["data"]["rows_test"]),
            "selected": {k.removeprefix("hp_"): (v.item() if hasattr(v, "item") else v)
                         for k, v in sel.items() if k.startswith("hp_")}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=None, help="override search.num_samples (quick checks)")
    ap.add_argument("--epochs", type=int, default=None, help="override model.epochs (quick checks)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="cnn-vs-mlp-"))
    runs: dict[str, list[dict[str, Any]]] = {"cnn": [], "mlp": []}
    for rep in range(args.repeats):
        order = ["cnn", "mlp"] if rep % 2 == 0 else ["mlp", "cnn"]
        for family in order:
            spec = spec_for(family, rep, tmp, args.samples, args.epochs)
            r = run_once(spec, tmp / f"out-{family}-{rep}")
            r["repeat"] = rep
            runs[family].append(r)
            print(f"repeat {rep} {family}: test_accuracy={r['test_accuracy']:.4f} "
                  f"val={r['best_val_accuracy']:.4f} ({r['trials']} trials, {r['epochs_trained']} epochs, "
                  f"{r['wall_s']} s, load {r['load']})", flush=True)
    medians = {f: {k: statistics.median(r[k] for r in rs) for k in ("test_accuracy", "best_val_accuracy", "wall_s")}
               for f, rs in runs.items()}
    wins = sum(c["test_accuracy"] > m["test_accuracy"] for c, m in zip(runs["cnn"], runs["mlp"]))
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_before": os.getloadavg()[0]},
        "specs": {f: str(p.relative_to(ROOT)) for f, p in SPECS.items()},
        "overrides": {"samples": args.samples, "epochs": args.epochs},
        "repeats": args.repeats, "runs": runs, "medians": medians,
        "cnn_beats_mlp_in_repeats": f"{wins}/{args.repeats}",
    }
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(result, indent=2) + "\n")
    for f, m in medians.items():
        print(f"median {f}: test_accuracy={m['test_accuracy']:.4f} val={m['best_val_accuracy']:.4f} "
              f"wall={m['wall_s']:.0f} s")
    print(f"cnn beats mlp on test accuracy in {wins}/{args.repeats} repeats; wrote {JSON_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
