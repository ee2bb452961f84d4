"""Fronts of (val_accuracy, params): our multi-objective sweep against two ways a user gets one today.

    .venv/bin/python benchmarks/pareto.py [--repeats 3] [--quick] [--sets digits,generated]
                                          [--lock /tmp/integration.lock] [--no-constrained]

Two data sets: scikit-learn's digits (shipped, ``search_spaces/pareto_digits.yaml``) and a
generated table where accuracy costs parameters (``search_spaces/pareto_generated.yaml`` with its
loader ``search_spaces/pareto_data.py``). Both specs search the same MLP space (hidden_layers,
units, dropout, learning_rate; batch size 32) for two objectives, val_accuracy (max) and params
(min). Three methods, each with the SAME budget in trials and epochs (``search.num_samples``
trials of at most ``model.epochs`` epochs; early stopping may spend fewer, never more):

- ``ours``: ``sweep run`` of the spec as shipped: multi-objective TPE + multi-objective ASHA;
- ``random_asha``: ``sweep run`` of the same spec with the objectives replaced by ``metric:
  val_accuracy`` and ``search: random``: random search + ASHA on val_accuracy alone (its trials'
  best val_accuracy and params still give a front);
- ``optuna``: Optuna's multi-objective TPE run by hand in this process
  (``optuna.create_study(directions=["maximize", "minimize"], sampler=TPESampler(seed=repeat))``),
  one plain Keras MLP per trial trained for ``model.epochs`` epochs on the same split (read through
  the spec's own data section), scored at its best epoch; no pruning (Optuna prunes single-objective
  studies only).

The score of a method's run is the hypervolume (``orchestrator.decisions.pareto.hypervolume``) of
its feasible trials in (val_accuracy, size), with size = log10(params) scaled to [0, 1] between the
smallest and the largest model of the space, and the fixed reference point (val_accuracy 0.5,
size 1.05). Then, with ``constraints: {params: {max: M}}`` (M = the median parameter count of the
space's architectures), ``ours`` and ``optuna`` (Optuna's documented way: the constraint value set
on the trial after it trained) run again and the epochs spent on infeasible trials are counted
(ours: from ``epochs.parquet``). Every repeat uses search seed ``repeat`` for all methods, the
methods' order rotating between repeats; every run (sweep or Optuna study) holds ``--lock`` while
it runs, so other users of the machine interleave between runs, not during one. The load average
is recorded before each run. Writes ``benchmarks/results/pareto.json`` and prints the medians.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
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
sys.path.insert(0, str(ROOT))
SWEEP = str(Path(sys.executable).with_name("sweep"))
JSON_PATH = HERE / "results" / "pareto.json"
SPECS = {"digits": ROOT / "search_spaces" / "pareto_digits.yaml",
         "generated": ROOT / "search_spaces" / "pareto_generated.yaml"}
METHODS = ("ours", "random_asha", "optuna")
REF_ACCURACY, REF_SIZE = 0.5, 1.05


def space_sizes(doc: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> list[int]:
    """Parameter count of every architecture of the space (hidden_layers x units), pure."""
    from orchestrator.decisions.sizes import mlp_param_count

    p = doc["params"]
    return sorted(mlp_param_count({"hidden_layers": h, "units": u}, input_shape, n_classes)
                  for h in p["hidden_layers"]["values"] for u in p["units"]["values"])


def size_scale(sizes: list[int]) -> tuple[float, float]:
    """log10 of the smallest and the largest model: the ends of the [0, 1] size axis."""
    return math.log10(min(sizes)), math.log10(max(sizes))


def hypervolume_of(points: list[tuple[float, float]], scale: tuple[float, float]) -> float:
    """Hypervolume of (val_accuracy, params) points against (REF_ACCURACY, REF_SIZE) on the log size axis."""
    from orchestrator.decisions.pareto import hypervolume

    lo, hi = scale
    rows = [(acc, (math.log10(p) - lo) / (hi - lo)) for acc, p in points
            if math.isfinite(acc) and p and math.isfinite(p)]
    return hypervolume(rows, ["max", "min"], (REF_ACCURACY, REF_SIZE)) if rows else 0.0


def front_of(points: list[tuple[float, float]]) -> list[tuple[float, int]]:
    """The non-dominated (val_accuracy, params) points, smallest model first."""
    from orchestrator.decisions.pareto import non_dominated_ranks

    if not points:
        return []
    ranks = non_dominated_ranks(points, ["max", "min"])
    return sorted({(round(a, 4), int(p)) for (a, p), r in zip(points, ranks) if r == 0}, key=lambda t: t[1])


def sweep_spec(doc: dict[str, Any], method: str, seed: int, where: Path, tag: str,
               constraint: int | None, quick: bool) -> Path:
    """The spec a sweep method runs: the shipped one, or random + ASHA on val_accuracy alone."""
    d = json.loads(json.dumps(doc))
    d["search"]["seed"] = seed
    if method == "random_asha":
        d.pop("objectives")
        d["metric"] = {"name": "val_accuracy", "mode": "max"}
        d["search"]["algorithm"] = "random"
    if constraint is not None:
        d["constraints"] = {"params": {"max": constraint}}
    if quick:
        d["search"]["num_samples"], d["model"]["epochs"] = 4, 2
        d["scheduler"]["grace_period"] = 1
    if "loader" in d["data"]:  # the loader file is named relative to the spec: keep it found
        d["data"]["loader"] = str(ROOT / "search_spaces" / d["data"]["loader"])
    path = where / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def run_sweep(spec: Path, out: Path, lock: str) -> dict[str, Any]:
    """One ``flock LOCK sweep run``; its trials' points, epochs (and those of infeasible trials)."""
    import pandas as pd

    load = os.getloadavg()[0]
    t0 = time.time()
    cmd = ["flock", lock, SWEEP, "run", str(spec), "--out", str(out)]
    p = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    run_dir = next(d for d in out.iterdir() if d.is_dir())
    info = json.loads((run_dir / "run.json").read_text())
    trials = pd.read_parquet(run_dir / "trials.parquet")
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    feasible = trials["feasible"].fillna(True).astype(bool) if "feasible" in trials else True
    ok = trials[feasible & (trials["status"] != "infeasible")]
    bad_ids = set(trials.loc[trials["status"] == "infeasible", "trial_id"])
    return {"points": [(float(a), float(n)) for a, n in zip(ok["best_val_accuracy"], ok["params"])],
            "trials": len(trials), "infeasible_trials": len(bad_ids),
            "epochs": len(epochs), "infeasible_epochs": int(epochs["trial_id"].isin(bad_ids).sum()),
            "wall_s": round(float(info["ended_at"] - info["started_at"]), 1),
            "wall_with_lock_wait_s": round(time.time() - t0, 1), "load": round(load, 2),
            "run_dir": str(run_dir)}


def keras_mlp(hp: dict[str, Any], n_features: int, n_classes: int) -> Any:
    """The same MLP our family builds (relu, dropout after each hidden layer, softmax), compiled with Adam."""
    import keras

    layers: list[Any] = [keras.Input((n_features,))]
    for _ in range(hp["hidden_layers"]):
        layers.append(keras.layers.Dense(hp["units"], activation="relu"))
        if hp["dropout"] > 0:
            layers.append(keras.layers.Dropout(hp["dropout"]))
    layers.append(keras.layers.Dense(n_classes, activation="softmax"))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(hp["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def suggest(trial: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The spec's searched hyperparameters through Optuna's own distributions (choice, uniform, loguniform)."""
    hp: dict[str, Any] = {}
    for name, p in params.items():
        if not isinstance(p, dict):
            hp[name] = p
        elif p["type"] == "choice":
            hp[name] = trial.suggest_categorical(name, p["values"])
        else:
            hp[name] = trial.suggest_float(name, p["low"], p["high"], log=p["type"] == "loguniform")
    return hp


def run_optuna(spec_path: Path, doc: dict[str, Any], seed: int, lock: str, constraint: int | None,
               quick: bool, n_trials: int | None = None) -> dict[str, Any]:
    """Optuna's multi-objective TPE by hand: one Keras model trained in this process per trial
    (``n_trials`` of them where given instead of the spec's ``search.num_samples``)."""
    import keras
    import optuna

    from orchestrator.data.pipeline import load_for
    from orchestrator.spec import load_spec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _, data = load_for(load_spec(spec_path))
    max_epochs = 2 if quick else doc["model"]["epochs"]
    n_trials = n_trials or (4 if quick else doc["search"]["num_samples"])
    spent: dict[int, int] = {}

    def objective(trial: Any) -> tuple[float, float]:
        hp = suggest(trial, doc["params"])
        keras.utils.set_random_seed(seed * 1000 + trial.number)
        model = keras_mlp(hp, data.n_features, data.n_classes)
        n = int(sum(math.prod(w.shape) for w in model.trainable_weights))
        h = model.fit(data.train.X, data.train.y, batch_size=int(hp["batch_size"]), epochs=max_epochs,
                      validation_data=(data.val.X, data.val.y), verbose=0)
        spent[trial.number] = max_epochs
        if constraint is not None:  # Optuna's way: the constraint value is known once the trial ran
            trial.set_constraint("params", float(n - constraint))
        keras.backend.clear_session()
        return max(h.history["val_accuracy"]), float(n)

    load = os.getloadavg()[0]
    t_wait = time.time()
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        t0 = time.time()
        study = optuna.create_study(directions=["maximize", "minimize"],
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(objective, n_trials=n_trials)
        wall = time.time() - t0
        fcntl.flock(fh, fcntl.LOCK_UN)
    done = [t for t in study.trials if t.values is not None]
    bad = [t for t in done if constraint is not None and t.values[1] > constraint]
    good = [t for t in done if t not in bad]
    return {"points": [(float(t.values[0]), float(t.values[1])) for t in good], "trials": len(study.trials),
            "infeasible_trials": len(bad), "epochs": sum(spent.values()),
            "infeasible_epochs": sum(spent[t.number] for t in bad), "wall_s": round(wall, 1),
            "wall_with_lock_wait_s": round(time.time() - t_wait, 1), "load": round(load, 2)}


def one_run(name: str, method: str, rep: int, tmp: Path, lock: str, constraint: int | None,
            quick: bool, scale: tuple[float, float], n_trials: int | None = None) -> dict[str, Any]:
    """One method's run on one set and seed, scored: hypervolume and front of its feasible trials."""
    doc = yaml.safe_load(SPECS[name].read_text())
    tag = f"{name}-{method}-{rep}" + ("-constrained" if constraint is not None else "")
    if method.startswith("optuna"):
        r = run_optuna(SPECS[name], doc, rep, lock, constraint, quick, n_trials)
    else:
        r = run_sweep(sweep_spec(doc, method, rep, tmp, tag, constraint, quick), tmp / f"out-{tag}", lock)
    r["hypervolume"] = round(hypervolume_of(r["points"], scale), 4)
    r["front"] = front_of(r["points"])
    r["best_val_accuracy"] = max((a for a, _ in r["points"]), default=float("nan"))
    r["repeat"] = rep
    with open(tmp / "runs.jsonl", "a") as fh:  # kept as it goes: a crash late in the run loses nothing
        fh.write(json.dumps({"set": name, "method": method, "constrained": constraint is not None, **r}) + "\n")
    print(f"{tag}: hypervolume={r['hypervolume']:.4f} best_val={r['best_val_accuracy']:.4f} "
          f"front={len(r['front'])} epochs={r['epochs']} infeasible_epochs={r['infeasible_epochs']} "
          f"({r['wall_s']} s, load {r['load']})", flush=True)
    return r


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians over repeats of the figures the page reports."""
    keys = ("hypervolume", "best_val_accuracy", "epochs", "infeasible_epochs", "infeasible_trials", "wall_s")
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def bench_set(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Every method and repeat on one data set: unconstrained fronts, then the constrained pass."""
    from orchestrator.data.pipeline import load_for
    from orchestrator.spec import load_spec

    doc = yaml.safe_load(SPECS[name].read_text())
    _, data = load_for(load_spec(SPECS[name]))
    sizes = space_sizes(doc, tuple(data.input_shape), data.n_classes)
    scale = size_scale(sizes)
    constraint = int(statistics.median(sizes))
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    constrained: dict[str, list[dict[str, Any]]] = {"ours": [], "optuna": []}
    for rep in range(args.repeats):
        order = METHODS[rep % 3:] + METHODS[:rep % 3]  # rotate who goes first
        for method in order:
            runs[method].append(one_run(name, method, rep, tmp, args.lock, None, args.quick, scale))
        if not args.no_constrained:
            for method in (("ours", "optuna") if rep % 2 == 0 else ("optuna", "ours")):
                constrained[method].append(one_run(name, method, rep, tmp, args.lock, constraint, args.quick, scale))
    return {"spec": str(SPECS[name].relative_to(ROOT)), "space_params": {"min": sizes[0], "max": sizes[-1],
            "median": constraint, "architectures": len(sizes)},
            "rows": {"train": len(data.train), "val": len(data.val)},
            "runs": runs, "medians": {m: medians(rs) for m, rs in runs.items()},
            "constraint": {"params": {"max": constraint}},
            "constrained_runs": constrained,
            "constrained_medians": {m: medians(rs) for m, rs in constrained.items() if rs}}


def extra(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """What the first pass left out, on the same sets, seeds and scale: Optuna's multi-objective TPE
    given the epochs our run of the same set and seed spent (as many full-length trials as fit in
    them), and the constrained pass (ours and Optuna, every repeat)."""
    from orchestrator.data.pipeline import load_for
    from orchestrator.spec import load_spec

    base = json.loads(Path(args.json).read_text())
    out: dict[str, Any] = {}
    for name in args.sets.split(","):
        doc = yaml.safe_load(SPECS[name].read_text())
        _, data = load_for(load_spec(SPECS[name]))
        sizes = space_sizes(doc, tuple(data.input_shape), data.n_classes)
        scale, constraint = size_scale(sizes), int(statistics.median(sizes))
        equal, constrained = [], {"ours": [], "optuna": []}
        for rep in range(args.repeats):
            ours = base["sets"][name]["runs"]["ours"][rep]
            n = max(1, ours["epochs"] // doc["model"]["epochs"])
            r = one_run(name, "optuna_equal_epochs", rep, tmp, args.lock, None, args.quick, scale, n)
            equal.append({**r, "ours_epochs": ours["epochs"], "ours_hypervolume": ours["hypervolume"],
                          "optuna_full_hypervolume": base["sets"][name]["runs"]["optuna"][rep]["hypervolume"]})
            for method in (("ours", "optuna") if rep % 2 == 0 else ("optuna", "ours")):
                constrained[method].append(one_run(name, method, rep, tmp, args.lock, constraint, args.quick, scale))
        out[name] = {"equal_epochs": equal, "constraint": {"params": {"max": constraint}},
                     "constrained_runs": constrained,
                     "constrained_medians": {m: medians(rs) for m, rs in constrained.items()},
                     "equal_epochs_medians": {
                         "ours": statistics.median(r["ours_hypervolume"] for r in equal),
                         "optuna_equal_epochs": statistics.median(r["hypervolume"] for r in equal),
                         "optuna_full": statistics.median(r["optuna_full_hypervolume"] for r in equal)}}
    return out


def extra_tables(sets: dict[str, Any]) -> str:
    """The extra pass's tables (markdown)."""
    lines = ["| set | seed | ours: epochs, hypervolume | Optuna, same epochs: trials, epochs, hypervolume | "
             "Optuna, same trials (96 epochs): hypervolume |", "|---|---|---|---|---|"]
    for name, s in sets.items():
        for r in s["equal_epochs"]:
            lines.append(f"| {name} | {r['repeat']} | {r['ours_epochs']}, {r['ours_hypervolume']:.3f} | "
                         f"{r['trials']}, {r['epochs']}, {r['hypervolume']:.3f} | {r['optuna_full_hypervolume']:.3f} |")
        med = s["equal_epochs_medians"]
        lines.append(f"| {name} | median | **{med['ours']:.3f}** | **{med['optuna_equal_epochs']:.3f}** | "
                     f"{med['optuna_full']:.3f} |")
    return "\n".join([*lines, "", *constrained_table(sets, " (median)")])


def constrained_table(sets: dict[str, Any], median: str = "") -> list[str]:
    """The constrained pass's table (markdown lines): per set and method, infeasible trials and their
    epochs per repeat, medians of the epochs spent and of the feasible front's hypervolume."""
    out = [("| set | method | params max | infeasible trials (per repeat) | epochs on infeasible trials "
            f"(per repeat) | epochs spent{median} | hypervolume of the feasible front{median} |"),
           "|---|---|---|---|---|---|---|"]
    for name, s in sets.items():
        for m, rs in s["constrained_runs"].items():
            if rs:
                med = s["constrained_medians"][m]
                out.append(f"| {name} | {m} | {s['constraint']['params']['max']} | "
                           f"{', '.join(str(r['infeasible_trials']) for r in rs)} | "
                           f"{', '.join(str(r['infeasible_epochs']) for r in rs)} | {med['epochs']:g} | "
                           f"{med['hypervolume']:.3f} |")
    return out


def tables(result: dict[str, Any]) -> str:
    """The page's tables (markdown) from a result: medians per set and method, then the constrained pass."""
    out = ["| set | method | hypervolume (median) | per repeat | best val_accuracy | front size | epochs spent | run s |",
           "|---|---|---|---|---|---|---|---|"]
    for name, s in result["sets"].items():
        for m, rs in s["runs"].items():
            med = s["medians"][m]
            hv = ", ".join(f"{r['hypervolume']:.3f}" for r in rs)
            front = statistics.median(len(r["front"]) for r in rs)
            out.append(f"| {name} | {m} | **{med['hypervolume']:.3f}** | {hv} | {med['best_val_accuracy']:.4f} | "
                       f"{front:g} | {med['epochs']:g} | {med['wall_s']:.0f} |")
    return "\n".join([*out, "", *constrained_table(result["sets"])])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 trials x 2 epochs, 1 repeat")
    ap.add_argument("--sets", default="digits,generated")
    ap.add_argument("--lock", default="/tmp/integration.lock", help="held during every run")
    ap.add_argument("--no-constrained", action="store_true", help="skip the pass with a params constraint")
    ap.add_argument("--json", default=str(JSON_PATH))
    ap.add_argument("--tables", action="store_true", help="only print the page's tables from --json")
    ap.add_argument("--extra", action="store_true",
                    help="read --json's runs; run Optuna on our epochs and the constrained pass; write --extra-json")
    ap.add_argument("--extra-json", default=str(HERE / "results" / "pareto_extra.json"))
    args = ap.parse_args(argv)
    if args.extra:
        tmp = Path(tempfile.mkdtemp(prefix="pareto-extra-"))
        t0, started = time.time(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        uptime = subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()
        sets = extra(args, tmp)
        result = {"date": started, "uptime_before": uptime,
                  "uptime_after": subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip(),
                  "command": "benchmarks/pareto.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                  "base": args.json, "repeats": args.repeats, "total_wall_s": round(time.time() - t0, 1), "sets": sets}
        Path(args.extra_json).write_text(json.dumps(result, indent=2) + "\n")
        print(extra_tables(sets))
        print(f"total {result['total_wall_s']:.0f} s; wrote {args.extra_json}")
        return 0
    if args.tables:
        print(tables(json.loads(Path(args.json).read_text())))
        return 0
    if args.quick:
        args.repeats = 1
    tmp = Path(tempfile.mkdtemp(prefix="pareto-bench-"))
    print(f"each run is appended to {tmp / 'runs.jsonl'}", flush=True)
    t0 = time.time()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    uptime = subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()
    sets = {name: bench_set(name, args, tmp) for name in args.sets.split(",")}
    result = {
        "date": started, "uptime_before": uptime,
        "uptime_after": subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "command": "benchmarks/pareto.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "budget": "equal trials and max epochs per trial for every method (spec's search.num_samples x model.epochs)",
        "hypervolume": {"axes": "val_accuracy (max), size = (log10 params - log10 min) / (log10 max - log10 min) (min)",
                        "reference": [REF_ACCURACY, REF_SIZE]},
        "repeats": args.repeats, "quick": args.quick, "total_wall_s": 0.0, "sets": sets,
    }
    result["total_wall_s"] = round(time.time() - t0, 1)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, s in sets.items():
        for m, med in {**s["medians"], **{f"{k} (constrained)": v for k, v in s["constrained_medians"].items()}}.items():
            print(f"median {name} {m}: " + " ".join(f"{k}={v:.4g}" for k, v in med.items()))
    print(tables(result))
    print(f"total {result['total_wall_s']:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
