#!/usr/bin/env python
"""Benchmark: this orchestrator against the tools users would pick instead, and against the physical bound.

Usage (from the repository root; ``pip install -e '.[bench]'`` first for KerasTuner)::

    python benchmarks/peers.py run [--budget 150] [--repeats 3] [--datasets hard,friedman]
                                   [--sections peers,throughput,bound]
    python benchmarks/peers.py smoke          # seconds per tool: checks the harness (CI)
    python benchmarks/peers.py report         # rewrite benchmarks/RESULTS.md from the JSON

``run`` writes ``benchmarks/results/peers.json`` and ``benchmarks/RESULTS.md`` (``smoke`` writes
both under ``benchmarks/results/smoke/``). Sections:

- ``peers``: the same data, model family (Keras MLP), search space (``peers_tools.SPACE``) and
  wall-clock budget for KerasTuner Hyperband, Optuna (TPE + HyperbandPruner, ``n_jobs=2``), a
  hand-written Ray Tune script (random + ASHA), a plain sequential random-search loop and
  ``sweep run`` (random + ASHA). Each tool runs in its own process, stopped hard at the budget
  (counted from the moment the process is started, so start-up counts); repeats are interleaved
  (A B C D E, A B C D E, ...) so drift in machine speed hits every tool alike. From each run: the
  best validation score so far over time, trials started, epochs trained, epochs and optimizer
  steps per second, the best score at 40%, 67% and 100% of the budget (60/100/150 s for a 150 s
  budget), the time to reach the data set's target score, and the configuration it selects,
  which one common procedure re-trains (same epochs, same seed) and scores on the test split.
- ``throughput``: the same list of configurations trained to full length (no early stopping)
  by ``sweep run`` and by a one-process sequential loop (TensorFlow's default threads, every core):
  optimizer steps per second, end to end.
- ``bound``: ``sweep run`` on 16, 64 and 256 tiny trials: sum of trial seconds / (wall seconds x
  slots), over the command's wall clock and over the Tune phase; and the same trivial workload
  through a hand-written Ray Tune script (the overhead over Ray Tune).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOOLS_PY = HERE / "peers_tools.py"
RESULTS_JSON = HERE / "results" / "peers.json"
RESULTS_MD = HERE / "RESULTS.md"
WORK = HERE / "results" / "peers_runs"
SMOKE_DIR = HERE / "results" / "smoke"
PY = sys.executable

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

TOOLS = ["orchestrator", "raytune", "optuna", "keras_tuner", "random"]
LABELS = {
    "orchestrator": "sweep run (random + ASHA)",
    "raytune": "Ray Tune by hand (random + ASHA)",
    "optuna": "Optuna (TPE + Hyperband pruner, n_jobs=2)",
    "keras_tuner": "KerasTuner Hyperband",
    "random": "sequential random search",
}
RAY_TOOLS = {"orchestrator", "raytune"}
CHECKPOINTS = (0.4, 2 / 3, 1.0)  # 60, 100, 150 s of a 150 s budget
TARGETS = {"throughput_ratio": 1.4, "efficiency": 0.90, "efficiency_from_trials": 64, "overhead_vs_raytune": 0.05}
EPOCHS = 27  # ASHA / Hyperband rungs at 1, 3, 9, 27 epochs (reduction factor 3)


# --------------------------------------------------------------------------------------------
# Data sets (generated or shipped with scikit-learn: no downloads)
# --------------------------------------------------------------------------------------------

def _hard(n: int) -> Any:
    """Many noisy, redundant features, 6 overlapping classes with 3 clusters each, 3% flipped labels."""
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=40, n_informative=12, n_redundant=8, n_repeated=0,
                               n_classes=6, n_clusters_per_class=3, class_sep=0.8, flip_y=0.03, random_state=0)
    df = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(X.shape[1])])
    df["y"] = y
    return df


def _friedman(n: int) -> Any:
    """Friedman #1: y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise; 5 of 10 features unused."""
    import pandas as pd
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=n, n_features=10, noise=1.0, random_state=0)
    df = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(X.shape[1])])
    df["y"] = y
    return df


# name -> (generator, rows, task, metric, mode, target score). Targets were fixed before the recorded
# run from a pilot of random configurations trained fully (about the top tenth of them reach it).
DATASETS: dict[str, dict[str, Any]] = {
    "hard": {"make": _hard, "rows": 4000, "task": "classification", "metric": "val_accuracy", "mode": "max",
             "target": 0.80, "about": "make_classification: 4000 rows, 40 features (12 informative, 8 redundant), "
                                      "6 classes x 3 clusters, class_sep 0.8, 3% labels flipped"},
    "friedman": {"make": _friedman, "rows": 3000, "task": "regression", "metric": "val_mse", "mode": "min",
                 "target": 2.0, "about": "make_friedman1: 3000 rows, 10 features (5 used), noise sd 1.0 "
                                        "(so the best possible val_mse is about 1.0)"},
}
SECTIONS = ("peers", "throughput", "bound", "compare")
SMOKE = {"rows": 600, "epochs": 3, "budget": 5.0}


def prepare_dataset(name: str, work: Path, rows: int | None = None, epochs: int = EPOCHS) -> dict[str, Any]:
    """Write the data file the orchestrator reads and the .npz every peer reads: the same split and
    preprocessing (the orchestrator's own ``load_raw`` + ``prepare``, as ``sweep run`` calls them)."""
    import numpy as np

    from orchestrator import data as data_mod

    d = DATASETS[name]
    work.mkdir(parents=True, exist_ok=True)
    df = d["make"](rows or d["rows"])
    path = work / f"{name}.parquet"
    df.to_parquet(path, index=False)
    raw = data_mod.load_raw(path=str(path), target="y", task=d["task"], seed=0)
    prep = data_mod.prepare(raw, fractions=(0.7, 0.2, 0.1), seed=0)
    npz = work / f"{name}.npz"
    np.savez(npz, X_train=prep.train.X, y_train=prep.train.y, X_val=prep.val.X, y_val=prep.val.y,
             X_test=prep.test.X, y_test=prep.test.y, task=d["task"], n_classes=prep.n_classes,
             metric=d["metric"], mode=d["mode"], epochs=epochs)
    return {"name": name, "parquet": str(path), "npz": str(npz), "rows_train": int(len(prep.train.y)),
            "rows_val": int(len(prep.val.y)), "rows_test": int(len(prep.test.y)), "features": int(prep.n_features),
            "n_classes": int(prep.n_classes), "task": d["task"], "metric": d["metric"], "mode": d["mode"],
            "target": d["target"], "about": d["about"], "epochs": epochs}


def write_spec(ds: dict[str, Any], path: Path, seed: int, *, params: dict[str, Any] | None = None,
               scheduler: dict[str, Any] | None = None, num_samples: int = 10_000, epochs: int | None = None,
               name: str | None = None) -> Path:
    """The orchestrator's spec for a data set (the peers' search space unless ``params`` is given)."""
    import yaml

    from peers_tools import SPACE

    doc = {
        "name": name or f"peers-{ds['name']}",
        "data": {"path": ds["parquet"], "target": "y", "task": ds["task"], "split": {"train": 0.7, "val": 0.2, "test": 0.1},
                 "seed": 0},
        "model": {"epochs": int(epochs or ds["epochs"]), "activation": "relu"},
        "params": params if params is not None else SPACE,
        "metric": {"name": ds["metric"], "mode": ds["mode"]},
        "search": {"algorithm": "random", "num_samples": int(num_samples), "seed": int(seed)},
        "scheduler": scheduler if scheduler is not None else {"type": "asha", "grace_period": 1, "reduction_factor": 3},
        "resources": {"cpu": 1, "gpu": 0},
        "seed": int(seed),
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Running one tool
# --------------------------------------------------------------------------------------------

def _session_pids(sid: int) -> list[int]:
    """Processes in session ``sid`` (the tool's own session: everything it started and did not detach)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:  # fields after the name: state ppid pgrp session
                out.append(int(p.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def _kill_session(sid: int, sig: int) -> None:
    for pid in _session_pids(sid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def launch(tool: str, args: list[str], budget: float, logdir: Path, *, grace: float, kill_at_budget: bool,
           env: dict[str, str] | None = None) -> dict[str, Any]:
    """Start ``peers_tools.py TOOL`` in its own session; stop it at the budget (plus ``grace`` for tools
    that stop themselves), then make sure nothing it started is left running."""
    logdir.mkdir(parents=True, exist_ok=True)
    out = open(logdir / "stdout.txt", "w")
    full_env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **(env or {})}
    t0 = time.time()
    proc = subprocess.Popen([PY, str(TOOLS_PY), tool, "--t0", repr(t0), "--budget", repr(budget), *args],
                            stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT), env=full_env, start_new_session=True)
    deadline = t0 + budget + (0.0 if kill_at_budget else grace)
    killed = None
    while proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    if proc.poll() is None:
        killed = "SIGTERM" if not kill_at_budget else "SIGKILL"
        _kill_session(proc.pid, signal.SIGTERM if not kill_at_budget else signal.SIGKILL)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            killed = "SIGKILL"
            _kill_session(proc.pid, signal.SIGKILL)
            proc.wait()
    ended = time.time()
    # Ray's processes may outlive the driver for a moment; none may run into the next tool's budget.
    for _ in range(50):
        left = _session_pids(proc.pid)
        if not left:
            break
        time.sleep(0.2)
    else:
        _kill_session(proc.pid, signal.SIGKILL)
        time.sleep(1.0)
    out.close()
    return {"t0": t0, "ended": ended, "wall_s": ended - t0, "returncode": proc.returncode, "killed": killed,
            "pid": proc.pid, "left_running": len(_session_pids(proc.pid))}


def read_log(path: Path) -> list[dict[str, Any]]:
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def journal_events(workdir: Path, metric: str) -> tuple[list[dict[str, Any]], Path | None]:
    """The orchestrator's journal (``RUN_DIR/journal.jsonl``) as the peers' log format."""
    from peers_tools import SPACE

    runs = sorted(p for p in workdir.iterdir() if (p / "journal.jsonl").exists()) if workdir.exists() else []
    if not runs:
        return [], None
    run_dir = runs[-1]
    rows = []
    for e in read_log(run_dir / "journal.jsonl"):
        if e.get("kind") == "start":
            cfg = {k: v for k, v in (e.get("config") or {}).items() if k in SPACE and v is not None}
            rows.append({"ev": "start", "trial": e["trial_id"], "t": e["at"], "config": cfg})
        elif e.get("kind") == "epoch":
            r = e.get("result") or {}
            v = r.get(metric)
            if r.get("diverged"):
                v = None
            rows.append({"ev": "epoch", "trial": e["trial_id"], "t": e["at"], "epoch": int(r.get("epoch", 0)),
                         "val": v if isinstance(v, (int, float)) and math.isfinite(v) else None})
    return rows, run_dir


def analyse(events: list[dict[str, Any]], t0: float, budget: float, ds: dict[str, Any]) -> dict[str, Any]:
    """Figures of one tool's run from its events, counting only what happened within the budget."""
    mode, target = ds["mode"], ds["target"]
    better = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
    configs: dict[str, dict[str, Any]] = {}
    started = epochs = steps = 0
    best: float | None = None
    best_trial = None
    series: list[list[float]] = []
    first_epoch = None
    reached = None
    trial_epochs: dict[str, int] = {}
    trial_best: dict[str, float] = {}
    for e in sorted(events, key=lambda r: r.get("t", 0)):
        t = float(e.get("t", 0)) - t0
        if t > budget:
            break
        if e.get("ev") == "start":
            started += 1
            configs[e["trial"]] = e.get("config") or {}
        elif e.get("ev") == "epoch":
            epochs += 1
            tid = e["trial"]
            trial_epochs[tid] = trial_epochs.get(tid, 0) + 1
            bs = int((configs.get(tid) or {}).get("batch_size") or 32)
            steps += math.ceil(ds["rows_train"] / bs)
            first_epoch = t if first_epoch is None else first_epoch
            v = e.get("val")
            if v is None:
                continue
            if tid not in trial_best or better(v, trial_best[tid]):
                trial_best[tid] = v
            if best is None or better(v, best):
                best, best_trial = v, tid
                series.append([round(t, 3), v])
                if reached is None and not better(target, v):
                    reached = t

    def at(s: float) -> float | None:
        val = None
        for tt, v in series:
            if tt <= s:
                val = v
        return val

    return {
        "trials_started": started, "trials_with_epochs": len(trial_epochs), "epochs": epochs, "steps": steps,
        "epochs_per_s": epochs / budget, "steps_per_s": steps / budget, "first_epoch_s": first_epoch,
        "best": best, "best_at": {f"{f * budget:.0f}": at(f * budget) for f in CHECKPOINTS},
        "time_to_target_s": reached, "series": series,
        "selected": {"trial": best_trial, "config": configs.get(best_trial), "val": best} if best_trial else None,
        "trial_best": sorted(trial_best.values(), reverse=(mode == "max")),
        "full_trial_best": sorted((v for k, v in trial_best.items() if trial_epochs.get(k, 0) >= ds["epochs"]),
                                  reverse=(mode == "max")),
        "full_length_trials": sum(1 for n in trial_epochs.values() if n >= ds["epochs"]),
    }


def run_peer(tool: str, ds: dict[str, Any], repeat: int, seed: int, budget: float, work: Path,
             grace: float) -> dict[str, Any]:
    d = work / ds["name"] / f"r{repeat}" / tool
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    log = d / "log.jsonl"
    args = ["--data", ds["npz"], "--log", str(log), "--seed", str(seed), "--workdir", str(d)]
    if tool == "orchestrator":
        spec = write_spec(ds, d / "spec.yaml", seed)
        args += ["--spec", str(spec)]
    proc = launch(tool, args, budget, d, grace=grace, kill_at_budget=tool not in RAY_TOOLS)
    events = read_log(log)
    run_dir = None
    if tool == "orchestrator":
        j, run_dir = journal_events(d, ds["metric"])
        events = [e for e in events if e.get("ev") not in ("start", "epoch")] + j
    res = analyse(events, proc["t0"], budget, ds)
    res.update(tool=tool, dataset=ds["name"], repeat=repeat, seed=seed, process=proc,
               dir=rel(d), run_dir=rel(run_dir) if run_dir else None)
    return res


def evaluate(ds: dict[str, Any], configs: list[dict[str, Any]], work: Path, seed: int = 0) -> list[dict[str, Any]]:
    """The common procedure, in one process: see ``peers_tools._evaluate``."""
    if not configs:
        return []
    d = work / ds["name"] / "evaluate"
    d.mkdir(parents=True, exist_ok=True)
    (d / "configs.json").write_text(json.dumps(configs))
    res = d / "result.json"
    if res.exists():
        res.unlink()
    launch("evaluate", ["--data", ds["npz"], "--configs", str(d / "configs.json"), "--result", str(res),
                        "--seed", str(seed)], 3600, d, grace=0, kill_at_budget=True)
    return json.loads(res.read_text()) if res.exists() else [{"config": c, "test": None} for c in configs]


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------

def _median(xs: list[Any]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _median_best(xs: list[float | None], mode: str) -> float | None:
    """Median of best-so-far values, a run with none yet counting as the worst; None when the median
    run had none."""
    worst = -math.inf if mode == "max" else math.inf
    m = statistics.median([worst if x is None else x for x in xs]) if xs else None
    return None if m is None or math.isinf(m) else m


def _median_time(xs: list[float | None]) -> float | None:
    """Median with 'not reached' as +infinity; None when the median run did not reach it."""
    vals = sorted(math.inf if x is None else x for x in xs)
    if not vals:
        return None
    m = statistics.median(vals)
    return None if math.isinf(m) else m


def set_target(ds: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    """The data set's target validation score, by a rule fixed before looking at any tool's ranking:
    the score only the top tenth of random configurations reach when trained to full length (the
    90th percentile of the sequential random loop's full-length trials, pooled over its runs).
    Falls back to the fixed ``DATASETS`` target when that loop trained fewer than 5 full trials."""
    full = [v for x in runs if x["dataset"] == ds["name"] and x["tool"] == "random" for v in x.get("full_trial_best", [])]
    if len(full) >= 5:
        q = statistics.quantiles(full, n=10)
        ds["target"] = round(q[-1] if ds["mode"] == "max" else q[0], 4)
        ds["target_rule"] = (f"the score the best tenth of {len(full)} random configurations trained to full length "
                             "reach (the sequential loop's trials; their 90th percentile)")
    else:
        ds["target"] = DATASETS[ds["name"]]["target"]
        ds["target_rule"] = "fixed in peers.py (too few full-length random trials to set it from)"
    better = (lambda a, b: a > b) if ds["mode"] == "max" else (lambda a, b: a < b)
    for x in runs:
        if x["dataset"] == ds["name"]:
            x["time_to_target_s"] = next((t for t, v in x["series"] if not better(ds["target"], v)), None)


def summarize(runs: list[dict[str, Any]], datasets: list[dict[str, Any]], tools: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for ds in datasets:
        set_target(ds, runs)
        s: dict[str, Any] = {}
        for tool in tools:
            xs = [x for x in runs if x["dataset"] == ds["name"] and x["tool"] == tool]
            if not xs:
                continue
            keys = list(xs[0]["best_at"])
            s[tool] = {
                "repeats": len(xs),
                "trials_started": _median([x["trials_started"] for x in xs]),
                "epochs": _median([x["epochs"] for x in xs]),
                "epochs_per_s": _median([x["epochs_per_s"] for x in xs]),
                "steps_per_s": _median([x["steps_per_s"] for x in xs]),
                "first_epoch_s": _median([x["first_epoch_s"] for x in xs]),
                "best_at": {k: _median_best([x["best_at"][k] for x in xs], ds["mode"]) for k in keys},
                "best": _median_best([x["best"] for x in xs], ds["mode"]),
                "time_to_target_s": _median_time([x["time_to_target_s"] for x in xs]),
                "reached_target": sum(x["time_to_target_s"] is not None for x in xs),
                "test": _median([(x["selected"] or {}).get("test") for x in xs]),
            }
        # the target: the orchestrator reaches the target sooner than every peer (medians)
        o = s.get("orchestrator", {}).get("time_to_target_s")
        peers_t = {t: v["time_to_target_s"] for t, v in s.items() if t != "orchestrator"}
        s["_verdict"] = {"orchestrator_first": o is not None and all(v is None or o < v for v in peers_t.values()),
                         "fastest_peer": min(((v, t) for t, v in peers_t.items() if v is not None), default=(None, None))}
        summary[ds["name"]] = s
    return summary


def reanalyse(doc: dict[str, Any]) -> None:
    """Recompute every run's figures from the logs the tools left (``report``), keeping the test scores."""
    p = doc.get("peers")
    if not p:
        return
    dss = {d["name"]: d for d in doc["datasets"]}
    for x in p["runs"]:
        d = ROOT / x["dir"]
        ds = dss[x["dataset"]]
        if not d.exists():
            continue
        events = read_log(d / "log.jsonl")
        if x["tool"] == "orchestrator":
            j, _ = journal_events(d, ds["metric"])
            events = [e for e in events if e.get("ev") not in ("start", "epoch")] + j
        sel = x.get("selected") or {}
        x.update(analyse(events, x["process"]["t0"], p["budget"], ds))
        if x.get("selected") and sel.get("config") == x["selected"].get("config"):
            for k in ("test", "retrain_val", "retrain_best_epoch"):
                if k in sel:
                    x["selected"][k] = sel[k]
    p["summary"] = summarize(p["runs"], doc["datasets"], p["tools"])


def section_peers(a: argparse.Namespace, datasets: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for ds in datasets:
        for r in range(a.repeats):
            seed = 1000 + r
            order = TOOLS[r % len(TOOLS):] + TOOLS[:r % len(TOOLS)] if a.rotate else TOOLS
            for tool in order:
                if tool not in a.tools:
                    continue
                print(f"[peers] {ds['name']} repeat {r + 1}/{a.repeats}: {tool} ({a.budget:g} s) ...", flush=True)
                res = run_peer(tool, ds, r + 1, seed, a.budget, work, a.grace)
                runs.append(res)
                (work / "peers_partial.json").write_text(json.dumps(runs, default=str))  # if the command is cut short
                print(f"[peers]   {res['trials_started']} trials, {res['epochs']} epochs, best {res['best']}, "
                      f"target at {res['time_to_target_s']}, first epoch at {res['first_epoch_s']}", flush=True)
        # the common re-evaluation of every selected configuration, one process, after the runs
        sel = [x for x in runs if x["dataset"] == ds["name"] and x["selected"] and x["selected"]["config"]]
        uniq: list[dict[str, Any]] = []
        for x in sel:
            if x["selected"]["config"] not in uniq:
                uniq.append(x["selected"]["config"])
        print(f"[peers] {ds['name']}: re-evaluating {len(uniq)} selected configurations on the test split ...",
              flush=True)
        scores = evaluate(ds, uniq, work)
        for x in sel:
            e = scores[uniq.index(x["selected"]["config"])]
            x["selected"].update(test=e.get("test"), retrain_val=e.get("val"), retrain_best_epoch=e.get("best_epoch"))
    summary = summarize(runs, datasets, a.tools)
    return {"budget": a.budget, "repeats": a.repeats, "tools": a.tools, "runs": runs, "summary": summary}


def section_throughput(a: argparse.Namespace, ds: dict[str, Any], work: Path) -> dict[str, Any]:
    import numpy as np

    from peers_tools import sample

    rng = np.random.default_rng(123)
    configs = [sample(rng) for _ in range(a.throughput_trials)]
    d = work / "throughput"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    (d / "configs.json").write_text(json.dumps(configs))
    steps = sum(ds["epochs"] * math.ceil(ds["rows_train"] / int(c["batch_size"])) for c in configs)
    reps = []
    for r in range(a.throughput_repeats):
        rec: dict[str, Any] = {"repeat": r + 1}
        order = ["orch", "seq"] if r % 2 == 0 else ["seq", "orch"]
        for v in order:
            vd = d / f"r{r + 1}" / v
            vd.mkdir(parents=True)
            print(f"[throughput] repeat {r + 1}: {v}, {len(configs)} configurations x {ds['epochs']} epochs ...",
                  flush=True)
            log = vd / "log.jsonl"
            if v == "seq":
                p = launch("seq_fixed", ["--data", ds["npz"], "--configs", str(d / "configs.json"), "--log", str(log)],
                           3600, vd, grace=0, kill_at_budget=True)
                ev = read_log(log)
            else:
                spec = write_spec(ds, vd / "spec.yaml", 0, scheduler={"type": "none"}, num_samples=len(configs),
                                  name=f"throughput-{ds['name']}")
                p = launch("orch_fixed", ["--spec", str(spec), "--configs", str(d / "configs.json"),
                                          "--workdir", str(vd), "--cpus", str(a.cpus)], 3600, vd, grace=0,
                           kill_at_budget=True)
                ev, _ = journal_events(vd, ds["metric"])
            ep = [e for e in ev if e.get("ev") == "epoch"]
            first = min((e["t"] for e in ev if e.get("ev") == "start"), default=None)
            last = max((e["t"] for e in ep), default=None)
            rec[v] = {"wall_s": p["wall_s"], "epochs": len(ep), "steps_per_s": steps / p["wall_s"],
                      "training_phase_s": (last - first) if first and last else None,
                      "steps_per_s_training_phase": steps / (last - first) if first and last and last > first else None,
                      "returncode": p["returncode"]}
            print(f"[throughput]   {v}: {p['wall_s']:.1f} s, {len(ep)} epochs, {steps / p['wall_s']:.0f} steps/s",
                  flush=True)
        rec["ratio"] = rec["orch"]["steps_per_s"] / rec["seq"]["steps_per_s"]
        reps.append(rec)
    ratio = _median([r["ratio"] for r in reps])
    return {"dataset": ds["name"], "configs": configs, "epochs_per_trial": ds["epochs"], "steps": steps,
            "repeats": reps, "ratio": ratio,
            "orch_steps_per_s": _median([r["orch"]["steps_per_s"] for r in reps]),
            "seq_steps_per_s": _median([r["seq"]["steps_per_s"] for r in reps]),
            "ratio_training_phase": _median([r["orch"]["steps_per_s_training_phase"] / r["seq"]["steps_per_s_training_phase"]
                                             for r in reps if r["orch"]["steps_per_s_training_phase"]
                                             and r["seq"]["steps_per_s_training_phase"]]),
            "pass": ratio is not None and ratio >= TARGETS["throughput_ratio"]}


TINY_PARAMS = {"optimizer": "adam", "learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.1},
               "hidden_layers": 1, "units": 16, "dropout": 0.0, "batch_size": 128}


def _trial_seconds(events: list[dict[str, Any]]) -> tuple[float, float | None, float | None, int]:
    """Sum over trials of (last epoch report - start), first start, last report, trials (driver clock)."""
    start: dict[str, float] = {}
    last: dict[str, float] = {}
    for e in events:
        if e.get("ev") == "start":
            start.setdefault(e["trial"], e["t"])
        elif e.get("ev") == "epoch":
            last[e["trial"]] = max(last.get(e["trial"], 0.0), e["t"])
    total = sum(last[t] - start[t] for t in last if t in start)
    return total, min(start.values(), default=None), max(last.values(), default=None), len(last)


def section_bound(a: argparse.Namespace, ds: dict[str, Any], work: Path) -> dict[str, Any]:
    d = work / "bound"
    if d.exists():
        shutil.rmtree(d)
    rows = []
    for n in a.bound_sizes:
        for r in range(a.bound_repeats):
            order = ["orchestrator", "raytune"] if r % 2 == 0 else ["raytune", "orchestrator"]
            rec: dict[str, Any] = {"trials": n, "repeat": r + 1}
            for v in order:
                vd = d / f"n{n}" / f"r{r + 1}" / v
                vd.mkdir(parents=True)
                print(f"[bound] {n} tiny trials, repeat {r + 1}: {v} ...", flush=True)
                log = vd / "log.jsonl"
                if v == "orchestrator":
                    spec = write_spec(ds, vd / "spec.yaml", r, params=TINY_PARAMS, scheduler={"type": "none"},
                                      num_samples=n, epochs=a.bound_epochs, name=f"bound-{n}")
                    p = launch("orchestrator", ["--spec", str(spec), "--workdir", str(vd)], 3600, vd, grace=0,
                               kill_at_budget=True)
                    ev, run_dir = journal_events(vd, ds["metric"])
                    own = None
                    if run_dir is not None and (run_dir / "trials.parquet").exists():
                        import pandas as pd

                        own = float(pd.read_parquet(run_dir / "trials.parquet")["train_seconds"].sum())
                else:
                    p = launch("tiny_raytune", ["--data", ds["npz"].replace(".npz", "_tiny.npz"), "--log", str(log),
                                                "--trials", str(n), "--seed", str(r), "--workdir", str(vd),
                                                "--cpus", str(a.cpus)], 3600, vd, grace=0, kill_at_budget=True)
                    ev, own = read_log(log), None
                total, first, last, done = _trial_seconds(ev)
                tune_phase = (last - first) if first and last else None
                rec[v] = {"wall_s": p["wall_s"], "trials_done": done, "trial_seconds": total,
                          "trial_seconds_own_clock": own, "tune_phase_s": tune_phase,
                          "efficiency": total / (p["wall_s"] * a.cpus),
                          "efficiency_tune_phase": total / (tune_phase * a.cpus) if tune_phase else None,
                          "returncode": p["returncode"]}
                print(f"[bound]   {v}: {done}/{n} trials, wall {p['wall_s']:.1f} s, efficiency "
                      f"{rec[v]['efficiency']:.2f} (Tune phase {rec[v]['efficiency_tune_phase'] or float('nan'):.2f})",
                      flush=True)
            rec["overhead_vs_raytune"] = rec["orchestrator"]["wall_s"] / rec["raytune"]["wall_s"] - 1
            rows.append(rec)
    summary = {}
    for n in a.bound_sizes:
        xs = [r for r in rows if r["trials"] == n]
        summary[str(n)] = {
            "efficiency": _median([x["orchestrator"]["efficiency"] for x in xs]),
            "efficiency_tune_phase": _median([x["orchestrator"]["efficiency_tune_phase"] for x in xs]),
            "raytune_efficiency": _median([x["raytune"]["efficiency"] for x in xs]),
            "raytune_efficiency_tune_phase": _median([x["raytune"]["efficiency_tune_phase"] for x in xs]),
            "orchestrator_wall_s": _median([x["orchestrator"]["wall_s"] for x in xs]),
            "raytune_wall_s": _median([x["raytune"]["wall_s"] for x in xs]),
            "overhead_vs_raytune": _median([x["overhead_vs_raytune"] for x in xs]),
            "trial_seconds": _median([x["orchestrator"]["trial_seconds"] for x in xs]),
        }
    return {"epochs_per_trial": a.bound_epochs, "params": TINY_PARAMS, "rows": rows, "summary": summary,
            "slots": a.cpus}


# --------------------------------------------------------------------------------------------
# Environment and report
# --------------------------------------------------------------------------------------------

def section_compare(a: argparse.Namespace, datasets: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    """Parallel vs babysitting (issue "Panda vs caviar"): ``sweep compare`` on each data set, with
    the peers' space, ``--seeds``, each strategy on the same wall-clock budget; its plots are kept
    under ``results/compare/<data set>/``."""
    smoke = a.mode == "smoke"
    out: dict[str, Any] = {"budget": a.compare_budget, "seeds": a.compare_seeds, "datasets": {}}
    for ds in datasets:
        spec = write_spec(ds, work / f"compare_{ds['name']}.yaml", seed=2000, name=f"compare-{ds['name']}")
        parent = work / "compare"
        before = set(parent.iterdir()) if parent.exists() else set()
        cmd = [PY, "-c", "import sys; from orchestrator.cli import main; sys.exit(main(sys.argv[1:]))", "compare",
               str(spec), "--budget", f"{a.compare_budget:g}", "--seeds", str(a.compare_seeds), "--out", str(parent)]
        print(f"[compare] {ds['name']}: sweep compare --budget {a.compare_budget:g} --seeds {a.compare_seeds} ...",
              flush=True)
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if proc.returncode != 0:
            raise RuntimeError(f"sweep compare exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
        comp = next(p for p in sorted(parent.iterdir()) if p not in before and p.is_dir())
        summary = json.loads((comp / "summary.json").read_text())
        keep = (HERE / "results" / "compare" / ds["name"]) if not smoke else (comp / "plots")
        if not smoke:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(comp / "plots", keep)
        print("\n".join(f"[compare]   {ln}" for ln in proc.stdout.splitlines() if ln.strip() and not ln.startswith("==")),
              flush=True)
        out["datasets"][ds["name"]] = {"summary": summary, "wall_s": time.time() - t0, "dir": str(comp),
                                       "plots": sorted(rel(p) for p in keep.glob("*.png"))}
    return out


def _render_compare(c: dict[str, Any]) -> list[str]:
    L = [
        "## Parallel vs babysitting (panda vs caviar)",
        "",
        f"`sweep compare SPEC --budget {c['budget']:g} --seeds {c['seeds']}` on each data set, SPEC being the "
        "peers' spec above: `parallel` is the sweep (random search + ASHA, one CPU per trial, as many trials at once "
        "as the CPUs hold), `babysit` one model at a time on one CPU under the babysitter's rules (learning-rate "
        "cuts and rises, stop on overfitting or convergence, more capacity next). Each strategy and seed gets the "
        "same wall clock; the test split is scored once, for the configuration each run selects. Time to target: "
        "the level every run reached (`sweep compare`'s default), from the start of the search.",
        "",
    ]
    for name, d in c["datasets"].items():
        s = d["summary"]
        metric, target = s["metric"], s.get("target")
        test_key = next((k for k in (f"test_{metric.removeprefix('val_')}", "test_loss")
                         if any(r.get(k) is not None for r in s["runs"])), None)
        L += [f"### {name} ({metric}, {'lower' if s['mode'] == 'min' else 'higher'} is better; target "
              f"{_f(target, '.4f')})", "",
              f"| strategy | seed | best {metric} | {test_key or 'test'} | search s | over budget | trials | epochs | "
              "time to target s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in s["runs"]:
            L.append(f"| {r['strategy']} | {r['seed']} | {_f(r.get('best_val'), '.4f')} | "
                     f"{_f(r.get(test_key) if test_key else None, '.4f')} | {_f(r.get('search_elapsed_s'), '.1f')} | "
                     f"{_f(r.get('over_budget_pct'), '+.1f')}% | {r.get('trials_started')} | {r.get('epochs_trained')} | "
                     f"{_f(r.get('time_to_target_s'), '.1f')} |")
        L += ["", "| strategy | median best | median test | median time to target s (runs reaching it) |",
              "|---|---:|---:|---:|"]
        for strat in dict.fromkeys(r["strategy"] for r in s["runs"]):
            rs = [r for r in s["runs"] if r["strategy"] == strat]
            tt = [r.get("time_to_target_s") for r in rs]
            L.append(f"| {strat} | {_f(_median([r.get('best_val') for r in rs]), '.4f')} | "
                     f"{_f(_median([r.get(test_key) for r in rs]) if test_key else None, '.4f')} | "
                     f"{_f(_median_time(tt), '.1f')} ({sum(t is not None for t in tt)}/{len(tt)}) |")
        L.append("")
        for p in d["plots"]:
            if p.endswith(("best_vs_time.png", "babysit_curves_seed0.png")):
                link = p.removeprefix("benchmarks/")  # RESULTS.md sits in benchmarks/
                L.append(f"![{name}: {Path(p).stem.replace('_', ' ')}]({link})")
        L.append("")
    return L


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"hostname": platform.node(), "platform": platform.platform(), "cpu_count": os.cpu_count()}
    try:
        info["nproc"] = len(os.sched_getaffinity(0))
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        pass
    return info


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("ray", "tensorflow", "keras", "keras-tuner", "optuna", "numpy", "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_state() -> dict[str, Any]:
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()

        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {}


def rel(p: Path | str | None) -> str | None:
    if p is None:
        return None
    p = Path(p).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def _f(x: Any, fmt: str = ".3f", none: str = "—") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return none
    return format(x, fmt)


def render(doc: dict[str, Any]) -> str:
    from peers_tools import SPACE

    m = doc["machine"]
    L = [
        "# Benchmarks: peers and the physical bound",
        "",
        "_Written by `benchmarks/peers.py` from `benchmarks/results/peers.json`; every figure below comes from the "
        "command that follows, on this machine, on the date given. Rerun it to refresh them; `peers.py report` "
        "re-renders this page from the JSON._",
        "",
        f"- Command: `{doc['command']}`",
        *([f"- Peers section from: `{doc['peers_command']}` (that run was stopped after its peers section to fit the "
           "time available; `peers.py assemble` rebuilt the section from the logs it left)"]
          if doc.get("peers_command") and doc.get("peers_command") != doc.get("command") else []),
        *([f"- Assembled with: `{doc['assembled_with']}` (the run was stopped before it wrote its JSON; see the notes)"]
          if doc.get("assembled_with") else []),
        f"- Date: {doc['date']} (benchmark wall clock {doc['wall_s'] / 60:.1f} min)",
        f"- Machine: {m.get('nproc')} CPUs ({m.get('cpu_model', '?')}), {m.get('memory_gib', '?')} GiB RAM, "
        f"{m.get('platform')}; load average at start {m.get('load_average_at_start', 'not recorded (see the notes)')} "
        "(the machine is shared with other work: figures are medians over repeats, tools interleaved)",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in doc["versions"].items()),
        f"- Code: {doc['git'].get('commit', '?')[:12]}{' (with uncommitted changes)' if doc['git'].get('dirty') else ''}",
        "",
    ]
    targets_rows: list[str] = []
    p = doc.get("peers")
    if p:
        for ds in doc["datasets"]:
            s = p["summary"].get(ds["name"], {})
            v = s.get("_verdict", {})
            o = s.get("orchestrator", {})
            fp_t, fp = v.get("fastest_peer", (None, None)) if isinstance(v.get("fastest_peer"), (list, tuple)) else (None, None)
            ok = v.get("orchestrator_first")
            why = ""
            if not ok:
                if o.get("time_to_target_s") is None:
                    why = f" (sweep run's median run did not reach {ds['target']:g}"
                    why += f"; {fp} did in {_f(fp_t, '.0f')} s)" if fp else "; nor did any peer's)"
                else:
                    why = f" by {o['time_to_target_s'] - fp_t:.0f} s ({fp} {fp_t:.0f} s)"
            targets_rows.append(
                f"| {ds['name']}: sweep run reaches {ds['metric']} {'>=' if ds['mode'] == 'max' else '<='} "
                f"{ds['target']:g} sooner than every peer (median time to target) | "
                f"{(_f(o.get('time_to_target_s'), '.1f') + ' s') if o.get('time_to_target_s') is not None else 'not reached'} | "
                f"{'**PASS**' if ok else '**MISS**'}{why} |")
    t = doc.get("throughput")
    if t:
        r = t["ratio"]
        targets_rows.append(f"| throughput, trials to full length: sweep run / one-process loop >= "
                            f"{TARGETS['throughput_ratio']:g}x (optimizer steps/s, end to end) | {_f(r, '.2f')}x | "
                            f"{'**PASS**' if t['pass'] else '**MISS**'}"
                            + ("" if t["pass"] or r is None else f" by {TARGETS['throughput_ratio'] - r:.2f}x") + " |")
    b = doc.get("bound")
    if b:
        for n, s in b["summary"].items():
            if int(n) >= TARGETS["efficiency_from_trials"]:
                for label, e in (("command wall", s["efficiency"]), ("Tune phase", s["efficiency_tune_phase"])):
                    ok = e is not None and e >= TARGETS["efficiency"]
                    targets_rows.append(f"| {n} tiny trials: trial seconds / (wall x {b['slots']}) >= {TARGETS['efficiency']:g}, "
                                        f"wall = {label} | {_f(e, '.2f')} | {'**PASS**' if ok else '**MISS**'}"
                                        + ("" if ok or e is None else f" by {TARGETS['efficiency'] - e:.2f}") + " |")
        for n, s in b["summary"].items():
            o = s["overhead_vs_raytune"]
            ok = o is not None and o <= TARGETS["overhead_vs_raytune"]
            targets_rows.append(f"| {n} tiny trials: sweep run at most {TARGETS['overhead_vs_raytune']:.0%} slower than "
                                f"hand-written Ray Tune (wall) | {(_f(100 * o, '+.1f') + '%') if o is not None else 'not measured'} | "
                                f"{'**PASS**' if ok else ('**MISS**' if o is not None else '—')}"
                                + ("" if ok or o is None else f" by {100 * (o - TARGETS['overhead_vs_raytune']):.1f} points")
                                + " |")
    L += ["## Targets", "", "| target | measured (median) | verdict |", "|---|---:|---|", *targets_rows, ""]

    if p:
        L += [
            "## Peers on the same job",
            "",
            f"`{p['budget']:g}` s of wall clock per tool and run, counted from the moment the tool's process is "
            f"started (imports, Ray's start-up and data loading count), {p['repeats']} repeats per tool and data "
            "set, tools interleaved within each repeat (and the order rotated between repeats). 2 CPUs. Every tool "
            f"searches the same space with the same model family, the longest trial being {doc['datasets'][0]['epochs']} epochs:",
            "",
            "```yaml",
            *[f"{k}: {json.dumps(v)}" for k, v in SPACE.items()],
            "```",
            "",
            "How each tool runs (see `benchmarks/peers_tools.py`):",
            "",
            "- **sweep run**: the spec `peers.py` writes (the space above, random search, ASHA with grace period 1 "
            "and reduction factor 3, one CPU per trial), `sweep run SPEC --budget S` "
            "(S: what is left of the budget as the command starts; no trial starts after it and running ones "
            "stop at their next report).",
            "- **Ray Tune by hand**: an embedded Ray, a function trainable that builds a Keras model per trial "
            "(TensorFlow on one thread, the trial's CPU share), `BasicVariantGenerator`, `ASHAScheduler` (same "
            "settings), `num_samples=-1`, `TuneConfig(time_budget_s=...)`.",
            "- **Optuna**: `TPESampler`, `HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3)`, "
            "`study.optimize(n_jobs=2, timeout=...)`: two threads in one process sharing TensorFlow's thread pools "
            "(TensorFlow's default: as many threads as cores); the pruning callback reports each epoch "
            "(what `optuna-integration`'s `TFKerasPruningCallback` does). Running trials are not interrupted by "
            "the timeout; the harness stops the process at the budget.",
            "- **KerasTuner**: `kt.Hyperband(max_epochs=27, factor=3, hyperband_iterations=1000)`, `tuner.search(...)`, "
            "batch size tuned through `run_trial`; sequential, TensorFlow's default threads. It has no time budget: "
            "stopped at the budget.",
            "- **sequential random search**: a loop drawing configurations and training each to full length in "
            "one process (TensorFlow's default threads).",
            "",
            "Selection: each tool's configuration is the one with the best validation score at any epoch within "
            "the budget (what each tool reports as its best). The common re-evaluation trains that configuration "
            f"from scratch in one process (seed 0, {doc['datasets'][0]['epochs']} epochs), keeps the weights of its "
            "best validation epoch and scores the test split once.",
            "",
        ]
        for ds in doc["datasets"]:
            s = p["summary"].get(ds["name"])
            if not s:
                continue
            keys = next(iter(v for k, v in s.items() if not k.startswith("_")))["best_at"].keys()
            arrow = "higher" if ds["mode"] == "max" else "lower"
            test_name = "test accuracy" if ds["task"] == "classification" else "test MSE"
            L += [
                f"### {ds['name']} ({ds['task']}; {ds['metric']}, {arrow} is better; target {ds['target']:g})",
                "",
                f"{ds['about']}. Split 70/20/10: {ds['rows_train']} train / {ds['rows_val']} val / "
                f"{ds['rows_test']} test rows, {ds['features']} features. Target: {ds['target']:g}, "
                f"{ds.get('target_rule', 'fixed')}.",
                "",
                "| tool | trials started | epochs | epochs/s | steps/s | first epoch s | "
                + " | ".join(f"best @{k} s" for k in keys) + f" | time to target s (runs reaching it) | {test_name} of selected |",
                "|---|---:|---:|---:|---:|---:|" + "---:|" * len(keys) + "---:|---:|",
            ]
            for tool in p["tools"]:
                x = s.get(tool)
                if not x:
                    continue
                L.append(f"| {LABELS[tool]} | {_f(x['trials_started'], '.0f')} | {_f(x['epochs'], '.0f')} | "
                         f"{_f(x['epochs_per_s'], '.2f')} | {_f(x['steps_per_s'], '.0f')} | {_f(x['first_epoch_s'], '.1f')} | "
                         + " | ".join(_f(x["best_at"][k], ".4f") for k in keys)
                         + f" | {_f(x['time_to_target_s'], '.1f', 'not reached')} ({x['reached_target']}/{x['repeats']}) | "
                         f"{_f(x['test'], '.4f')} |")
            # spread of random configurations (the sequential loop trains each to full length)
            rs = [x for x in p["runs"] if x["dataset"] == ds["name"] and x["tool"] == "random"]
            full = [v for x in rs for v in x.get("full_trial_best", x.get("trial_best", []))]
            if len(full) >= 4:
                q = statistics.quantiles(full, n=10)
                L += ["", f"Spread of random configurations (the sequential loop's {len(full)} trials trained to full length, best "
                          f"{ds['metric']} of each): worst {_f(min(full) if ds['mode'] == 'max' else max(full), '.4f')}, "
                          f"10th/50th/90th percentile (worst to best) "
                          f"{' / '.join(f'{v:.4f}' for v in ((q[0], statistics.median(full), q[-1]) if ds['mode'] == 'max' else (q[-1], statistics.median(full), q[0])))}, "
                          f"best {_f(max(full) if ds['mode'] == 'max' else min(full), '.4f')}."]
            L += ["", "Per run:", "",
                  "| repeat | tool | trials | epochs | best | time to target s | selected configuration | val (retrain) | test |",
                  "|---:|---|---:|---:|---:|---:|---|---:|---:|"]
            for x in p["runs"]:
                if x["dataset"] != ds["name"]:
                    continue
                sel = x["selected"] or {}
                cfg = sel.get("config") or {}
                cs = ", ".join(f"{k}={_f(v, '.3g') if isinstance(v, float) else v}" for k, v in cfg.items())
                L.append(f"| {x['repeat']} | {x['tool']} | {x['trials_started']} | {x['epochs']} | {_f(x['best'], '.4f')} | "
                         f"{_f(x['time_to_target_s'], '.1f', '—')} | {cs} | {_f(sel.get('retrain_val'), '.4f')} | "
                         f"{_f(sel.get('test'), '.4f')} |")
            L.append("")
    if t:
        L += [
            "## Throughput with trials run to full length",
            "",
            f"The same {len(t['configs'])} configurations of the space above (drawn with seed 123), "
            f"{t['epochs_per_trial']} epochs each, no early stopping, on `{t['dataset']}`: {t['steps']} optimizer steps "
            "in all. `sweep run` (scheduler none, the configurations given as search points, one CPU per trial, "
            "2 at a time) against one process training them one after another with TensorFlow's default threads "
            "(both cores). Steps per second end to end (process start to exit), and over the training phase "
            "(first trial start to last epoch).",
            "",
            "| repeat | sweep run s | loop s | sweep run steps/s | loop steps/s | ratio | ratio, training phase |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in t["repeats"]:
            tp = (r["orch"]["steps_per_s_training_phase"] / r["seq"]["steps_per_s_training_phase"]
                  if r["orch"]["steps_per_s_training_phase"] and r["seq"]["steps_per_s_training_phase"] else None)
            L.append(f"| {r['repeat']} | {r['orch']['wall_s']:.1f} | {r['seq']['wall_s']:.1f} | {r['orch']['steps_per_s']:.0f} | "
                     f"{r['seq']['steps_per_s']:.0f} | {r['ratio']:.2f} | {_f(tp, '.2f')} |")
        L += ["", f"Median ratio {_f(t['ratio'], '.2f')}x end to end, {_f(t['ratio_training_phase'], '.2f')}x over the "
                  "training phase.", ""]
    if b:
        L += [
            "## The physical bound, and the overhead over Ray Tune",
            "",
            f"Tiny trials (1 x 16 units, Adam, batch 128, learning rate drawn per trial, {b['epochs_per_trial']} epochs "
            f"on the `hard` data) through `sweep run` (scheduler none) and through a hand-written Ray Tune script "
            f"(FIFO, a Keras model built per trial), {b['slots']} CPUs, one per trial. Trial seconds: from a trial's "
            "start to its last epoch's report, as the driver saw them (the same clock for both). Efficiency = trial "
            "seconds / (wall x slots), over the command (process start to exit) and over the Tune phase (first "
            "trial start to last report). `benchmarks/load_bench.py` (another benchmark, 2,000 trials) covers the "
            "large end.",
            "",
            "| trials | sweep run wall s | Ray Tune wall s | sweep run slower by | efficiency: sweep run (Tune phase) | "
            "Ray Tune (Tune phase) | trial-seconds |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n, s in b["summary"].items():
            L.append(f"| {n} | {_f(s['orchestrator_wall_s'], '.1f')} | {_f(s['raytune_wall_s'], '.1f')} | "
                     f"{(_f(100 * s['overhead_vs_raytune'], '+.1f') + '%') if s['overhead_vs_raytune'] is not None else '—'} | "
                     f"{_f(s['efficiency'], '.2f')} ({_f(s['efficiency_tune_phase'], '.2f')}) | "
                     f"{_f(s['raytune_efficiency'], '.2f')} ({_f(s['raytune_efficiency_tune_phase'], '.2f')}) | "
                     f"{_f(s['trial_seconds'], '.1f')} |")
        L.append("")
    if doc.get("compare"):
        L += _render_compare(doc["compare"])
    notes = doc.get("notes")
    if notes:
        L += ["## Notes", "", notes.strip(), ""]
    return "\n".join(L)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def sections_from_stdout(path: Path, a: argparse.Namespace) -> dict[str, Any]:
    """The throughput and bound sections of a ``run`` stopped before it wrote its JSON, from the lines it
    printed (wall clocks, efficiencies) and the logs it left (training phases)."""
    import re

    out: dict[str, Any] = {}
    text = path.read_text(encoding="utf-8")
    th = re.findall(r"\[throughput\] repeat (\d+): (\w+), .*\n\[throughput\]   \w+: ([\d.]+) s, (\d+) epochs", text)
    d = WORK / "throughput"
    if th and (d / "configs.json").exists():
        configs = json.loads((d / "configs.json").read_text())
        rows = int(__import__("numpy").load(WORK / "data" / "hard.npz")["y_train"].shape[0])
        steps = sum(EPOCHS * math.ceil(rows / int(c["batch_size"])) for c in configs)
        reps: dict[int, dict[str, Any]] = {}
        for r, v, wall, ep in th:
            vd = d / f"r{r}" / v
            ev = journal_events(vd, "val_accuracy")[0] if v == "orch" else read_log(vd / "log.jsonl")
            first = min((e["t"] for e in ev if e.get("ev") == "start"), default=None)
            last = max((e["t"] for e in ev if e.get("ev") == "epoch"), default=None)
            phase = (last - first) if first and last and last > first else None
            reps.setdefault(int(r), {"repeat": int(r)})[v] = {
                "wall_s": float(wall), "epochs": int(ep), "steps_per_s": steps / float(wall), "training_phase_s": phase,
                "steps_per_s_training_phase": steps / phase if phase else None}
        done = [x for x in reps.values() if "orch" in x and "seq" in x]
        for x in done:
            x["ratio"] = x["orch"]["steps_per_s"] / x["seq"]["steps_per_s"]
        ratio = _median([x["ratio"] for x in done])
        out["throughput"] = {
            "dataset": "hard", "configs": configs, "epochs_per_trial": EPOCHS, "steps": steps, "repeats": done,
            "ratio": ratio, "orch_steps_per_s": _median([x["orch"]["steps_per_s"] for x in done]),
            "seq_steps_per_s": _median([x["seq"]["steps_per_s"] for x in done]),
            "ratio_training_phase": _median([x["orch"]["steps_per_s_training_phase"] / x["seq"]["steps_per_s_training_phase"]
                                             for x in done if x["orch"]["steps_per_s_training_phase"]
                                             and x["seq"]["steps_per_s_training_phase"]]),
            "pass": ratio is not None and ratio >= TARGETS["throughput_ratio"], "from": "stdout"}
    bd = re.findall(r"\[bound\] (\d+) tiny trials, repeat (\d+): (\w+) \.\.\.\n\[bound\]   \w+: (\d+)/\d+ trials, wall ([\d.]+) s, "
                    r"efficiency ([\d.]+) \(Tune phase ([\d.na]+)\)", text)
    if bd:
        by: dict[str, dict[str, Any]] = {}
        for n, r, v, done_n, wall, eff, effp in bd:
            by.setdefault(n, {})[v] = {"wall_s": float(wall), "trials_done": int(done_n), "efficiency": float(eff),
                                       "efficiency_tune_phase": None if effp == "nan" else float(effp),
                                       "trial_seconds": float(eff) * float(wall) * a.cpus}
        summary = {}
        for n, x in by.items():
            o, r = x.get("orchestrator", {}), x.get("raytune", {})
            summary[n] = {"efficiency": o.get("efficiency"), "efficiency_tune_phase": o.get("efficiency_tune_phase"),
                          "raytune_efficiency": r.get("efficiency"), "raytune_efficiency_tune_phase": r.get("efficiency_tune_phase"),
                          "orchestrator_wall_s": o.get("wall_s"), "raytune_wall_s": r.get("wall_s"),
                          "overhead_vs_raytune": (o["wall_s"] / r["wall_s"] - 1) if o and r else None,
                          "trial_seconds": o.get("trial_seconds")}
        out["bound"] = {"epochs_per_trial": a.bound_epochs, "params": TINY_PARAMS, "rows": by, "summary": summary,
                        "slots": a.cpus, "from": "stdout"}
    return out


def assemble(a: argparse.Namespace, json_path: Path, md_path: Path) -> int:
    """Rebuild the peers section of a ``run`` that was stopped before it wrote its JSON: the runs from
    ``peers_partial.json``, the test scores from each data set's ``evaluate/`` folder, every figure
    re-derived from the tools' logs. Other sections already in ``json_path`` are kept."""
    work = WORK
    runs = json.loads((work / "peers_partial.json").read_text())
    names = sorted({x["dataset"] for x in runs}, key=list(DATASETS).index)
    datasets = []
    for n in names:
        z = __import__("numpy").load(work / "data" / f"{n}.npz")
        d = DATASETS[n]
        datasets.append({"name": n, "parquet": str(work / "data" / f"{n}.parquet"), "npz": str(work / "data" / f"{n}.npz"),
                         "rows_train": int(len(z["y_train"])), "rows_val": int(len(z["y_val"])),
                         "rows_test": int(len(z["y_test"])), "features": int(z["X_train"].shape[1]),
                         "n_classes": int(z["n_classes"]), "task": d["task"], "metric": d["metric"], "mode": d["mode"],
                         "target": d["target"], "about": d["about"], "epochs": int(z["epochs"])})
        ev = work / n / "evaluate"
        if (ev / "result.json").exists():
            cfgs = json.loads((ev / "configs.json").read_text())
            res = json.loads((ev / "result.json").read_text())
            for x in runs:
                if x["dataset"] == n and x.get("selected") and x["selected"].get("config") in cfgs:
                    e = res[cfgs.index(x["selected"]["config"])]
                    x["selected"].update(test=e.get("test"), retrain_val=e.get("val"),
                                         retrain_best_epoch=e.get("best_epoch"))
    old = json.loads(json_path.read_text()) if json_path.exists() else {}
    budget = runs[0]["process"]["wall_s"] if not runs else None
    doc = {**old, "datasets": datasets,
           "peers": {"budget": a.budget, "repeats": max(x["repeat"] for x in runs),
                     "tools": [t for t in TOOLS if any(x["tool"] == t for x in runs)], "runs": runs}}
    machine = machine_info()
    machine.pop("load_average_at_start", None)  # now is not when the run started
    for k, v in (("benchmark", "peers"), ("machine", machine), ("versions", versions()), ("git", git_state()),
                 ("targets", TARGETS), ("date", datetime.fromtimestamp(min(x["process"]["t0"] for x in runs),
                                                                        timezone.utc).isoformat(timespec="seconds"))):
        doc.setdefault(k, v)
    if a.stdout:
        doc.update(sections_from_stdout(a.stdout, a))
        doc["wall_s"] = a.stdout.stat().st_mtime - min(x["process"]["t0"] for x in runs)
        doc["assembled_with"] = command_line(sys.argv[1:])
    doc["peers_command"] = a.peers_command or doc.get("command")
    doc.setdefault("command", doc["peers_command"])
    doc.setdefault("wall_s", max(x["process"]["ended"] for x in runs) - min(x["process"]["t0"] for x in runs))
    del budget
    reanalyse(doc)
    if NOTES_FILE.exists():
        doc["notes"] = NOTES_FILE.read_text(encoding="utf-8")
    json_path.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    md_path.write_text(render(doc), encoding="utf-8")
    print(f"wrote {rel(json_path)} and {rel(md_path)}")
    return 0


def command_line(argv: list[str]) -> str:
    return shlex.join(["python", "benchmarks/peers.py", *argv])


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["run", "smoke", "report", "assemble"])
    ap.add_argument("--budget", type=float, default=150.0, help="seconds of wall clock per tool and run (default 150)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per tool and data set (default 3)")
    ap.add_argument("--datasets", default="hard,friedman", help=f"comma-separated, of {', '.join(DATASETS)}")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of the peers")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--compare-budget", type=float, default=60.0, help="compare: seconds per strategy and seed")
    ap.add_argument("--compare-seeds", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--grace", type=float, default=10.0,
                    help="seconds a Ray tool gets after the budget to stop by itself before it is stopped")
    ap.add_argument("--throughput-trials", type=int, default=12)
    ap.add_argument("--throughput-repeats", type=int, default=3)
    ap.add_argument("--bound-sizes", default="16,64,256")
    ap.add_argument("--bound-repeats", type=int, default=1)
    ap.add_argument("--bound-epochs", type=int, default=3)
    ap.add_argument("--no-rotate", dest="rotate", action="store_false", help="same tool order in every repeat")
    ap.add_argument("--stdout", type=Path, default=None,
                    help="assemble: the run's printed output, for its throughput and bound sections")
    ap.add_argument("--peers-command", default=None, help="assemble: the command whose peers section is assembled")
    ap.add_argument("--out", type=Path, default=None, help="directory of the JSON and RESULTS.md (default benchmarks/)")
    a = ap.parse_args(argv)
    a.datasets = [d for d in a.datasets.split(",") if d]
    a.tools = [t for t in a.tools.split(",") if t]
    a.sections = [s for s in a.sections.split(",") if s]
    a.bound_sizes = [int(x) for x in a.bound_sizes.split(",") if x]
    for d in a.datasets:
        if d not in DATASETS:
            ap.error(f"--datasets: unknown data set {d!r}; use {', '.join(DATASETS)}")
    for t in a.tools:
        if t not in TOOLS:
            ap.error(f"--tools: unknown tool {t!r}; use {', '.join(TOOLS)}")
    for s in a.sections:
        if s not in SECTIONS:
            ap.error(f"--sections: unknown section {s!r}; use {', '.join(SECTIONS)}")
    if a.mode == "smoke":
        a.budget = a.budget if "--budget" in argv else SMOKE["budget"]
        a.repeats, a.grace = 1, 3.0
        a.datasets = a.datasets[:1] if "--datasets" in argv else ["hard"]
        a.throughput_trials, a.throughput_repeats = 2, 1
        a.bound_sizes, a.bound_epochs = [4], 1
        a.compare_budget, a.compare_seeds = 10.0, 1
        # the peers only by default: a Ray start-up costs 10-40 s on a busy 2-core machine
        a.sections = a.sections if "--sections" in argv else ["peers"]
    return a


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse_args(argv)
    smoke = a.mode == "smoke"
    out = a.out or (SMOKE_DIR if smoke else HERE)
    json_path = (out / "peers.json") if (smoke or a.out) else RESULTS_JSON
    md_path = out / ("RESULTS.md" if not smoke else "RESULTS_smoke.md")
    if a.mode == "assemble":  # a run cut short: its peers section from what it left on disk
        return assemble(a, json_path, md_path)
    if a.mode == "report":
        doc = json.loads(json_path.read_text())
        reanalyse(doc)
        json_path.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
        if not smoke and NOTES_FILE.exists():
            doc["notes"] = NOTES_FILE.read_text(encoding="utf-8")
        md_path.write_text(render(doc), encoding="utf-8")
        print(f"wrote {rel(md_path)}")
        return 0
    t_start = time.time()
    work = (out / "runs") if smoke else WORK
    work.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"benchmark": "peers", "command": command_line(argv), "argv": argv, "smoke": smoke,
                           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "machine": machine_info(), "versions": versions(), "git": git_state(),
                           "targets": TARGETS}
    epochs = SMOKE["epochs"] if smoke else EPOCHS
    rows = SMOKE["rows"] if smoke else None
    need = list(a.datasets)
    if ("throughput" in a.sections or "bound" in a.sections) and "hard" not in need:
        need.append("hard")
    prepared = {n: prepare_dataset(n, work / "data", rows=rows, epochs=epochs) for n in need}
    if "bound" in a.sections:  # the tiny workload's data: the same arrays, bound_epochs per trial
        import numpy as np

        z = dict(np.load(prepared["hard"]["npz"]))
        z["epochs"] = np.array(a.bound_epochs)
        np.savez(prepared["hard"]["npz"].replace(".npz", "_tiny.npz"), **z)
    doc["datasets"] = [prepared[n] for n in a.datasets]
    if not smoke and NOTES_FILE.exists():
        doc["notes"] = NOTES_FILE.read_text(encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every section, so a run cut short keeps what it measured
        doc["wall_s"] = time.time() - t_start
        json_path.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
        md_path.write_text(render(doc), encoding="utf-8")

    if "peers" in a.sections:
        doc["peers"] = section_peers(a, doc["datasets"], work)
        save()
    if "throughput" in a.sections:
        doc["throughput"] = section_throughput(a, prepared["hard"], work)
        save()
    if "bound" in a.sections:
        ds = dict(prepared["hard"], epochs=a.bound_epochs)
        doc["bound"] = section_bound(a, ds, work)
        save()
    if "compare" in a.sections:
        doc["compare"] = section_compare(a, doc["datasets"], work)
        save()
    save()
    print(f"wrote {rel(json_path)} and {rel(md_path)} ({doc['wall_s'] / 60:.1f} min)")
    return 0


# The closing notes of RESULTS.md (why a target is missed, what would close it): kept beside the
# script so a rerun keeps them; written after looking at the recorded figures.
NOTES_FILE = HERE / "peers_notes.md"


if __name__ == "__main__":
    sys.exit(main())
