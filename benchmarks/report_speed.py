#!/usr/bin/env python
"""Benchmark: ``sweep report`` on a run of 500 trials must finish in under 20 seconds.

Usage (from the repository root)::

    .venv/bin/python benchmarks/report_speed.py                  # 500 trials, up to 16 epochs, median of 3
    .venv/bin/python benchmarks/report_speed.py --trials 50 --repeats 1 --out /tmp/x   # a quick try

The run is fabricated with :class:`orchestrator.results.RunTables`, the same writer a sweep uses
(no Ray, no TensorFlow): 500 trials of a random search over 8 hyperparameters (optimizer,
learning rate and L2 on log scales, momentum only for SGD, units, batch size, dropout, hidden
layers), with plausible curves: accuracy rising towards a ceiling that depends on how close the
learning rate is to 3e-3, training above validation, noise, some overfitting. Like an ASHA run,
about a quarter of the trials are stopped at epoch 4, 15% at epoch 8, 5% diverge (NaN), 1% fail
with an error, the rest train all 16 epochs (about 11 epochs per trial, 5,500 epoch rows).

Each repeat times the installed command end to end, ``sweep report RUN_DIR --out FILE`` in a
fresh process (interpreter start, imports, reading the Parquet tables, every plot, writing the
page), and the median is compared with the 20-second target. Writes
``benchmarks/results/report_speed.json`` and ``benchmarks/report_speed.md`` (``--out DIR`` writes
both there instead, leaving the recorded figures alone). Exit status 0; with ``--check``, 1 when
the median misses the target.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET_S = 20.0
DEFAULT_JSON = HERE / "results" / "report_speed.json"
DEFAULT_MD = HERE / "report_speed.md"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PARAMS: dict[str, Any] = {
    "epochs": {"type": "constant", "value": 16, "when": None},
    "optimizer": {"type": "choice", "values": ["adam", "sgd", "rmsprop"], "when": None},
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 0.3, "when": None},
    "momentum": {"type": "uniform", "low": 0.0, "high": 0.95, "when": {"optimizer": "sgd"}},
    "units": {"type": "choice", "values": [16, 32, 64, 128], "when": None},
    "batch_size": {"type": "choice", "values": [16, 32, 64], "when": None},
    "dropout": {"type": "uniform", "low": 0.0, "high": 0.5, "when": None},
    "l2": {"type": "loguniform", "low": 1e-6, "high": 1e-2, "when": None},
    "hidden_layers": {"type": "int", "low": 1, "high": 3, "log": False, "when": None},
    "activation": {"type": "constant", "value": "relu", "when": None},
}
DIAGNOSES = [("good", "validation loss is at its minimum"), ("too_slow", "training loss still falling 8% per epoch"),
             ("overfit", "validation loss rose 12% from its minimum"), ("underfit", "training loss 60% of trivial"),
             ("oscillating", "validation loss went up and down 5 times")]


def fabricate(run_dir: Path, n_trials: int, max_epochs: int = 16, seed: int = 0) -> dict[str, Any]:
    """Write a plausible run directory of ``n_trials`` trials; returns its row counts."""
    import numpy as np

    from orchestrator.results import RunTables, write_json

    rng = np.random.default_rng(seed)
    run_id = run_dir.name
    tables = RunTables(run_id, "val_accuracy", "max")
    t0 = 1_795_000_000.0
    clock = 5.0
    for i in range(n_trials):
        tid = f"bench_{i:05d}"
        opt = str(rng.choice(["adam", "sgd", "rmsprop"]))
        lr = float(10 ** rng.uniform(-4, math.log10(0.3)))
        config = {"epochs": max_epochs, "optimizer": opt, "learning_rate": lr,
                  "momentum": float(rng.uniform(0, 0.95)) if opt == "sgd" else None,
                  "units": int(rng.choice([16, 32, 64, 128])), "batch_size": int(rng.choice([16, 32, 64])),
                  "dropout": float(rng.uniform(0, 0.5)), "l2": float(10 ** rng.uniform(-6, -2)),
                  "hidden_layers": int(rng.integers(1, 4)), "activation": "relu"}
        tables.trial_started(tid, config)
        fate = rng.random()
        diverges = lr > 0.05 and fate < 0.25 or fate < 0.05
        errors = not diverges and fate > 0.99
        n = (int(rng.integers(2, max_epochs)) if diverges else 1 + int(rng.integers(0, 3)) if errors
             else 4 if fate < 0.30 else 8 if fate < 0.45 else max_epochs)
        closeness = math.exp(-((math.log10(lr) - math.log10(3e-3)) ** 2) / 1.2)
        ceiling = 0.15 + 0.83 * closeness * (1 - 0.3 * config["dropout"]) * (0.96 if opt == "sgd" else 1.0)
        speed = 0.25 + 0.6 * closeness
        per_epoch = 0.3 + 0.002 * config["units"] * config["hidden_layers"] * 32 / config["batch_size"]
        for e in range(1, n + 1):
            clock += per_epoch / 4  # 4 trials at a time
            acc = ceiling * (1 - math.exp(-speed * e)) + rng.normal(0, 0.01)
            over = max(0.0, e - 8) * 0.004 * (1 - config["dropout"])
            val_loss = 2.3 * (1 - acc) + 0.05 + over + rng.normal(0, 0.01)
            div = diverges and e == n
            tables.epoch(tid, {
                "epoch": e, "elapsed_s": clock, "trial_elapsed_s": per_epoch * e + 1.0, "epoch_s": per_epoch,
                "train_loss": math.nan if div else max(0.01, val_loss - 0.1 - over * 2),
                "val_loss": math.nan if div else val_loss,
                "train_accuracy": math.nan if div else min(1.0, acc + 0.02 + over),
                "val_accuracy": math.nan if div else min(1.0, max(0.0, acc)),
                "learning_rate": lr, "diverged": div, "started_at": t0 + clock - per_epoch * e, "stop_reason": "",
            })
        if diverges:
            tables.trial_ended(tid, "diverged", "diverged")
        elif errors:
            tables.trial_ended(tid, "error", "error", error="ResourceExhaustedError: OOM when allocating <tensor>")
        elif n == max_epochs:
            tables.trial_ended(tid, "completed", "max_epochs")
        else:
            tables.trial_ended(tid, "stopped", "asha_rung_0" if n == 4 else "asha_rung_1")
        label, reason = DIAGNOSES[int(rng.integers(0, len(DIAGNOSES)))] if not diverges else ("diverged", "NaN loss")
        tables.diagnoses[tid] = {"label": label, "reason": reason, "stop_epoch": 7 if label == "overfit" else None}
    tables.selected = tables.select_best()
    tables.test_metrics = {"test_accuracy": 0.95, "test_loss": 0.2}
    tables.flush(run_dir)
    info = {
        "run_id": run_id, "name": "report_bench", "status": "complete", "strategy": "parallel",
        "spec": {"name": "report_bench", "params": PARAMS, "metric": {"name": "val_accuracy", "mode": "max"},
                 "search": {"algorithm": "random", "num_samples": n_trials, "seed": seed},
                 "scheduler": {"type": "asha", "grace_period": 4, "reduction_factor": 2}},
        "started_at": t0, "ended_at": t0 + clock,
        "budget": {"trials": n_trials, "metric": "val_accuracy", "mode": "max", "max_epochs": max_epochs},
        "compute": tables.compute(),
        "selected": {"trial_id": tables.selected, "config": tables.trials[tables.selected].config,
                     "best_val_accuracy": tables.best(tables.selected)[0], "best_epoch": tables.best(tables.selected)[1],
                     **tables.test_metrics},
    }
    write_json(info, run_dir / "run.json")
    return {"trials": len(tables.trials), "epoch_rows": len(tables.epochs), "events": len(tables.events)}


def _sweep() -> list[str]:
    exe = Path(sys.executable).with_name("sweep")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "orchestrator.cli"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=16, help="most epochs per trial")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, help="write the JSON and Markdown here (default: the recorded files)")
    ap.add_argument("--keep", type=Path, help="fabricate the run under this directory and keep it")
    ap.add_argument("--check", action="store_true", help="exit 1 when the median misses the target")
    args = ap.parse_args(argv)

    parent = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    run_dir = parent / f"report_bench-{args.trials}"
    run_dir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    counts = fabricate(run_dir, args.trials, args.epochs)
    fabricate_s = time.perf_counter() - t
    page = run_dir / "report.html"
    cmd = [*_sweep(), "report", str(run_dir), "--out", str(page)]
    times, cpu = [], []
    for i in range(args.repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        if r.returncode != 0:
            print(r.stdout + r.stderr, file=sys.stderr)
            return 2
        print(f"repeat {i + 1}: {times[-1]:.2f} s ({cpu[-1]:.2f} CPU-seconds)", flush=True)
    median = statistics.median(times)
    html = page.read_text(encoding="utf-8")
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "sweep report RUN_DIR --out RUN_DIR/report.html",
        "run": {**counts, "max_epochs": args.epochs, "hyperparameters_searched": 8},
        "seconds": [round(x, 3) for x in times], "median_s": round(median, 3), "target_s": TARGET_S,
        "cpu_seconds": [round(x, 3) for x in cpu], "median_cpu_s": round(statistics.median(cpu), 3),
        "met": median < TARGET_S, "page_bytes": len(html.encode()), "images": html.count("data:image/png;base64,"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
        "fabricate_s": round(fabricate_s, 2),
        "invocation": " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/report_speed.py",
                                                         *(argv if argv is not None else sys.argv[1:])]),
    }
    out_json = (args.out / "report_speed.json") if args.out else DEFAULT_JSON
    out_md = (args.out / "report_speed.md") if args.out else DEFAULT_MD
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    out_md.write_text(_markdown(result))
    print(f"median {median:.2f} s over {args.repeats} (target < {TARGET_S:.0f} s): "
          f"{'met' if result['met'] else 'MISSED'}; {out_md}")
    if not args.keep:
        import shutil

        shutil.rmtree(parent, ignore_errors=True)
    return 1 if args.check and not result["met"] else 0


def _markdown(r: dict[str, Any]) -> str:
    run = r["run"]
    secs = ", ".join(f"{s:.2f}" for s in r["seconds"])
    return f"""# `sweep report` on a 500-trial run

Target (issue 2): `sweep report` on a run of 500 trials finishes in under {r['target_s']:.0f} seconds.

**Result: median {r['median_s']:.2f} s wall clock over {len(r['seconds'])} runs ({secs} s): {'met' if r['met'] else 'MISSED'}.**
The process itself used a median of {r['median_cpu_s']:.2f} CPU-seconds (user + system), the figure to
compare across machines: the wall clock depends on what else runs (see the load average below).

| | |
|---|---|
| run | {run['trials']} trials, {run['epoch_rows']} epoch rows, {run['events']} events, up to {run['max_epochs']} epochs, {run['hyperparameters_searched']} searched hyperparameters |
| page | {r['page_bytes'] / 1e6:.1f} MB, {r['images']} embedded PNG images |
| machine | {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, {r['machine']['platform']}; 1-minute load average {r['machine']['load_average_1m_at_end']} at the end (other work was running) |
| date | {r['date']} |

Reproduce (from the repository root):

```bash
{r['invocation'] or '.venv/bin/python benchmarks/report_speed.py'}
```

The script fabricates the run with `orchestrator.results.RunTables` (the writer a sweep uses:
plausible curves, about a quarter of the trials stopped at epoch 4, 15% at epoch 8, 5% diverged,
1% errors), then times `{r['command']}` end to end in a fresh process
each time (interpreter start, imports, reading Parquet, every plot, writing the page), and takes
the median. Raw figures: `benchmarks/results/report_speed.json`.
"""


if __name__ == "__main__":
    sys.exit(main())
