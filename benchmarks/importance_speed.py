"""How long ``sweep importance RUN_DIR`` takes on a 500-trial run (issue #24: under 10 s on 2 cores).

    .venv/bin/python benchmarks/importance_speed.py [--trials 500] [--repeats 3] [--lock /tmp/integration.lock]
    .venv/bin/python benchmarks/importance_speed.py --source RUN_DIR     # scale up an existing run
    .venv/bin/python benchmarks/importance_speed.py --quick              # a smoke run: 60 trials, 1 repeat

A real sweep of 500 trials takes hours here, so the 500-trial run directory is a real small run
scaled up. First a real ``sweep run`` of the quickstart space (``search_spaces/quickstart.yaml``,
16 trials as shipped, with two objectives -- ``val_accuracy`` and ``params`` -- so the ranking runs
once per objective; ``--single`` keeps the quickstart's one metric), under ``--lock`` when given
(the timing below holds it too, so no sweep runs meanwhile).
Then each of its trials is copied into a new run directory until there are ``--trials`` of them:
its row of trials.parquet and its rows of epochs.parquet under a new trial id, its continuous
hyperparameters moved by a small seeded jitter inside the spec's range (a log range on its log
scale) so that no two rows are equal; every column, dtype and the run.json of the real run are
kept (only the trial ids, those hyperparameters and ``is_selected`` -- one trial -- change). So the
tables ``sweep importance`` reads have the real format; only their length is made up.

Timed: the CLI as a user runs it, ``sweep importance RUN_DIR`` in a new process (imports,
reading the Parquet files, Optuna, printing), wall clock, ``--repeats`` times; before each call
run.json is put back as it was, so every call computes the ranking (a finished run caches it in
run.json: the cached call is timed once too, separately), and so is ``import optuna.importance``
alone in a new process (Optuna imports scikit-learn's forests for fANOVA there, even when
PED-ANOVA is used). Optionally (``--fanova``) one call with ``--evaluator fanova`` (on copied rows
fANOVA's trees are shallower than on 500 distinct trials: a lower bound of its time). The load
average is recorded before every call. Writes ``benchmarks/results/importance_speed.json`` and
``benchmarks/importance_speed.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
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
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from tpe_default import locked, machine  # the benchmarks' folder, put on the path above

SWEEP = str(Path(sys.executable).with_name("sweep"))
JSON_PATH = HERE / "results" / "importance_speed.json"
MD_PATH = HERE / "importance_speed.md"
QUICKSTART = ROOT / "search_spaces" / "quickstart.yaml"
TARGET_S = 10.0
COPIED = ("run.json", "events.parquet")  # read by `sweep importance` besides the two tables rewritten


def real_run(work: Path, samples: int, single: bool, lock: Path | None) -> Path:
    """A real ``sweep run`` of the quickstart space (two objectives unless ``single``); its run dir."""
    doc = yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))
    doc["name"] = "importance-speed"
    if not single:
        doc["objectives"] = [{"name": "val_accuracy", "mode": "max"}, {"name": "params", "mode": "min"}]
    spec = work / "importance_speed.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    out = work / "real"
    with locked(lock):
        p = subprocess.run([SWEEP, "run", str(spec), "--out", str(out), "--num-samples", str(samples)],
                           cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"sweep run {spec} failed ({p.returncode}): {p.stderr.strip()[-1500:]}")
    return next(d for d in out.iterdir() if (d / "run.json").is_file())


def _jitter(value: Any, p: dict[str, Any], u: float) -> Any:
    """``value`` of a continuous spec param moved by a factor/offset fixed by ``u`` in [-1, 1], kept
    in range; anything else (a choice, a null of an inactive conditional parameter) as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return value
    kind, low, high = p.get("type"), p.get("low"), p.get("high")
    if kind == "loguniform":
        return float(min(high, max(low, value * math.exp(0.1 * u))))
    if kind == "uniform":
        return float(min(high, max(low, value + 0.02 * u * (high - low))))
    return value


def scale_up(source: Path, dest: Path, n: int, seed: int = 0) -> dict[str, Any]:
    """``dest``: ``source``'s run with its trials copied until there are ``n`` (see the module's docstring)."""
    import numpy as np
    import pandas as pd

    info = json.loads((source / "run.json").read_text(encoding="utf-8"))
    params = (info.get("spec") or {}).get("params") or {}
    trials = pd.read_parquet(source / "trials.parquet")
    epochs = pd.read_parquet(source / "epochs.parquet")
    real = trials[trials["epochs"] >= 1] if "epochs" in trials else trials  # copies of trials that trained
    rng = np.random.default_rng(seed)
    rows, curves = [], []
    for i in range(n):
        t = real.iloc[i % len(real)].to_dict()
        new_id = f"{t['trial_id']}_{i:04d}"
        for name, p in params.items():
            col = f"hp_{name}"
            if isinstance(p, dict) and col in t:
                t[col] = _jitter(t[col], p, float(rng.uniform(-1, 1)))
        curve = epochs[epochs["trial_id"] == real.iloc[i % len(real)]["trial_id"]].copy()
        curve["trial_id"] = new_id
        t["trial_id"] = new_id
        if "is_selected" in t:
            t["is_selected"] = bool(t["is_selected"]) and i < len(real)
        rows.append(t)
        curves.append(curve)
    dest.mkdir(parents=True)
    big = pd.DataFrame(rows).astype(trials.dtypes.to_dict())
    big.to_parquet(dest / "trials.parquet", index=False)
    pd.concat(curves, ignore_index=True).astype(epochs.dtypes.to_dict()).to_parquet(dest / "epochs.parquet",
                                                                                   index=False)
    for name in COPIED:
        if (source / name).exists():
            shutil.copy2(source / name, dest / name)
    return {"real_trials": int(len(trials)), "real_trials_trained": int(len(real)), "real_epochs": int(len(epochs)),
            "trials": int(len(big)), "epochs": int(sum(len(c) for c in curves)),
            "objectives": [o.get("name") for o in info.get("objectives") or []] or [info["spec"]["metric"]["name"]],
            "params": [k for k, p in params.items() if isinstance(p, dict) and p.get("type") != "constant"]}


def timed(run_dir: Path, *extra: str) -> dict[str, Any]:
    """One ``sweep importance RUN_DIR`` in a new process: wall seconds, load before, its first line."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.run([SWEEP, "importance", str(run_dir), *extra], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"sweep importance {run_dir} failed ({p.returncode}): {p.stderr.strip()[-800:]}")
    return {"wall_s": round(wall, 2), "load": round(load, 2), "first_line": p.stdout.splitlines()[0],
            "stdout": p.stdout}


def import_time() -> dict[str, Any]:
    """Wall seconds of a new process that only imports ``optuna.importance`` (the evaluators)."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import optuna.importance"], check=True, capture_output=True)
    return {"wall_s": round(time.perf_counter() - t0, 2), "load": round(load, 2)}


def render(doc: dict[str, Any]) -> str:
    """The Markdown page of a result document."""
    m, s = doc["machine"], doc["scaled"]
    cold = doc["cold"]
    verdict = "PASS" if doc["median_cold_s"] < TARGET_S else "MISS"
    L = ["# `sweep importance` on a 500-trial run", "",
         "_Written by `benchmarks/importance_speed.py` from `benchmarks/results/importance_speed.json`; "
         "rerun it to refresh._", "",
         f"- Command: `{doc['command']}`",
         f"- Date: {doc['date']}",
         f"- Machine: {m['cpus']} CPUs ({m.get('cpu_model', '?')}), {m['platform']}; load average at start "
         f"{doc['load_at_start']} (the machine is shared with other work)",
         f"- Versions: python {m['python']}, optuna {m.get('optuna', '?')}", "",
         "## The run directory", "",
         f"A real `sweep run` of the quickstart space (`search_spaces/quickstart.yaml`, `--num-samples "
         f"{doc['samples']}`, objectives {', '.join(f'`{o}`' for o in s['objectives'])}) gave "
         f"{s['real_trials']} trials ({s['real_trials_trained']} trained at least one epoch), "
         f"{s['real_epochs']} epochs. Scaled up to **{s['trials']} trials** and {s['epochs']} epochs by copying "
         "those trials (their trials.parquet row and epochs.parquet rows under a new trial id, the continuous "
         "hyperparameters jittered inside the spec's range); run.json, the columns and their types are the "
         "real run's. Ranked hyperparameters: " + ", ".join(f"`{p}`" for p in s["params"]) + ".", "",
         "## Timing (wall clock of the CLI command, a new process each time)", "",
         "| call | evaluator | wall s | load before |", "|---|---|---:|---:|"]
    L += [f"| computed {i + 1} | auto | {c['wall_s']:.2f} | {c['load']:.2f} |" for i, c in enumerate(cold)]
    L.append(f"| cached (run.json) | auto | {doc['cached']['wall_s']:.2f} | {doc['cached']['load']:.2f} |")
    if doc.get("fanova"):
        L.append(f"| computed | fanova (forced; copied rows: a lower bound) | {doc['fanova']['wall_s']:.2f} | "
                 f"{doc['fanova']['load']:.2f} |")
    if doc.get("import_importance"):
        imp = doc["import_importance"]
        L.append(f"| `python -c 'import optuna.importance'` alone | -- | {imp['wall_s']:.2f} | {imp['load']:.2f} |")
    L += ["", f"**Median of {len(cold)} computed calls: {doc['median_cold_s']:.2f} s** (target: under "
          f"{TARGET_S:.0f} s) -- **{verdict}**. `auto` ranks {s['trials']} trials with "
          f"{doc['auto_evaluator']}: `choose_evaluator` in `orchestrator/decisions/importance.py` keeps fANOVA "
          f"while trials x objectives <= {doc['fanova_max_work']}.", "",
          f"Where the time goes: the cached call ({doc['cached']['wall_s']:.2f} s) is the CLI's start, pandas and "
          "reading the tables; importing Optuna's evaluators alone takes "
          f"{doc.get('import_importance', {}).get('wall_s', float('nan')):.2f} s in a new process (`optuna.importance` "
          "imports scikit-learn's forests for fANOVA even when PED-ANOVA ranks); the rest is building one in-memory "
          "study per objective and PED-ANOVA itself.", "",
          "What the command printed (the first computed call):", "", "```", doc["cold"][0]["stdout"].rstrip(), "```", ""]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    from orchestrator.decisions.importance import FANOVA_MAX_WORK, choose_evaluator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=16, help="trials of the real sweep (default 16, the quickstart's)")
    ap.add_argument("--source", type=Path, default=None, help="scale up this run directory (no sweep)")
    ap.add_argument("--single", action="store_true", help="the quickstart's one metric, not two objectives")
    ap.add_argument("--fanova", action="store_true", help="also time one call with --evaluator fanova")
    ap.add_argument("--lock", type=Path, default=None, help="a file to flock around the real sweep and the timing")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 60 trials, 1 repeat, no page written")
    a = ap.parse_args(argv)
    if a.quick:
        a.trials, a.repeats = 60, 1
    work = Path(tempfile.mkdtemp(prefix="importance-speed-"))
    doc: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                           "load_at_start": [round(x, 2) for x in os.getloadavg()], "samples": a.samples,
                           "command": " ".join(["python benchmarks/importance_speed.py",
                                                *(argv if argv is not None else sys.argv[1:])])}
    source = a.source or real_run(work, a.samples, a.single, a.lock)
    doc["source"] = str(source)
    big = work / "scaled" / source.name
    doc["scaled"] = scale_up(source, big, a.trials)
    pristine = (big / "run.json").read_bytes()
    doc["cold"] = []
    with locked(a.lock):  # no sweep of ours or of the other lock holders runs while the CLI is timed
        for _ in range(a.repeats):
            (big / "run.json").write_bytes(pristine)  # no cached ranking: each call computes it
            doc["cold"].append(timed(big))
            print(f"computed: {doc['cold'][-1]['wall_s']} s (load {doc['cold'][-1]['load']})", flush=True)
        doc["cached"] = timed(big)
        if a.fanova:
            (big / "run.json").write_bytes(pristine)
            doc["fanova"] = timed(big, "--evaluator", "fanova")
        doc["import_importance"] = import_time()
    doc["median_cold_s"] = statistics.median(c["wall_s"] for c in doc["cold"])
    doc["auto_evaluator"] = choose_evaluator(doc["scaled"]["trials"], len(doc["scaled"]["objectives"]))
    doc["fanova_max_work"] = FANOVA_MAX_WORK
    print(doc["cold"][0]["stdout"])
    print(f"median computed: {doc['median_cold_s']:.2f} s; cached {doc['cached']['wall_s']} s"
          + (f"; fanova {doc['fanova']['wall_s']} s" if a.fanova else ""))
    if not a.quick:
        JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
        JSON_PATH.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        MD_PATH.write_text(render(doc), encoding="utf-8")
        print(f"wrote {MD_PATH.relative_to(ROOT)} and {JSON_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
