"""TPE + ASHA against random + ASHA through ``sweep run``: should a spec that names no search
algorithm get tpe? (issue #24, point 7; the switch is ``DEFAULT_ALGORITHM_IS_TPE`` in
``orchestrator/spec/sections.py``).

    .venv/bin/python benchmarks/tpe_default.py [--repeats 3] [--budget 150] [--lock /tmp/integration.lock]
    .venv/bin/python benchmarks/tpe_default.py --quick        # a smoke run: 1 repeat, 45 s, digits only
    .venv/bin/python benchmarks/tpe_default.py --render      # the RESULTS.md section from the JSON

Two sets:

- ``digits``: ``search_spaces/quickstart.yaml`` (the space ``sweep run`` uses with no file:
  optimizer, log learning rate, momentum under sgd, units, batch size; MLP, 12 epochs, ASHA grace
  2, reduction factor 3) on scikit-learn's digits;
- ``table``: the generated classification table of ``benchmarks/peers.py`` (``hard``:
  make_classification, 4000 rows, 40 features, 6 classes x 3 clusters, 3% flipped labels) with the
  peers' larger space (7 parameters, 1-3 hidden layers, dropout; 27 epochs, ASHA grace 1,
  reduction factor 3).

Each run is one ``sweep run SPEC --budget B`` process (an embedded Ray; ``search.num_samples`` so
large that the budget ends the search), the spec the same for both algorithms except
``search.algorithm``; the search seed is the repeat's number for both. The best validation score
at each checkpoint (30, 60, 150 s of a 150 s budget) is read from epochs.parquet: an epoch counts
at ``run.json started_at + elapsed_s``, measured from the moment the command was launched (so
imports, Ray's start and data loading count, as a user waits for them). Repeats are interleaved:
within a repeat each set runs tpe then random, the order swapped every repeat; the load average
is recorded before each run. Writes ``benchmarks/results/tpe_default.json`` after every run (a
run cut short keeps what it measured) and prints the RESULTS.md section (medians).
"""

from __future__ import annotations

import argparse
import contextlib
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
from typing import Any, Iterator

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SWEEP = str(Path(sys.executable).with_name("sweep"))
JSON_PATH = HERE / "results" / "tpe_default.json"
QUICKSTART = ROOT / "search_spaces" / "quickstart.yaml"
ALGORITHMS = ("tpe", "random")
SETS = ("digits", "table")
FRACTIONS = (0.2, 0.4, 1.0)  # 30, 60, 150 s of a 150 s budget
NUM_SAMPLES = 10_000  # more than a budget lets start: the budget ends the search


def _peers() -> Any:
    """benchmarks/peers.py (its generated table and its space), imported from this folder."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import peers

    return peers


def spec_for(set_name: str, algorithm: str, seed: int, work: Path, epochs: int | None) -> Path:
    """The set's spec with ``search.algorithm`` and the repeat's search seed."""
    if set_name == "digits":
        doc = yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))
    else:
        peers = _peers()
        table = work / "hard"
        ds = peers.prepare_dataset("hard", table) if not (table / "hard.parquet").exists() else {
            **peers.DATASETS["hard"], "name": "hard", "parquet": str(table / "hard.parquet"), "epochs": peers.EPOCHS}
        doc = yaml.safe_load(peers.write_spec(ds, work / "table_base.yaml", seed).read_text(encoding="utf-8"))
    doc["name"] = f"tpe-default-{set_name}-{algorithm}"
    doc["search"] = {"algorithm": algorithm, "num_samples": NUM_SAMPLES, "seed": seed}
    if epochs:
        doc["model"]["epochs"] = epochs
    path = work / f"{set_name}_{algorithm}_{seed}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


@contextlib.contextmanager
def locked(lock: Path | None) -> Iterator[float]:
    """Hold ``lock`` (flock) for one sweep; yields the seconds spent waiting for it."""
    if lock is None:
        yield 0.0
        return
    t0 = time.time()
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield time.time() - t0
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def best_at(run_dir: Path, launched: float, metric: str, mode: str, marks: list[float]) -> list[float | None]:
    """The best ``metric`` over the epochs finished ``mark`` seconds after the launch, per mark."""
    import pandas as pd

    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    offset = float(info["started_at"]) - launched
    at = offset + epochs["elapsed_s"].astype(float)
    out: list[float | None] = []
    for mark in marks:
        vals = epochs.loc[at <= mark, metric].dropna()
        out.append(None if vals.empty else float(vals.max() if mode == "max" else vals.min()))
    return out


def run_once(spec: Path, out: Path, budget: float, marks: list[float]) -> dict[str, Any]:
    """One ``sweep run SPEC --budget B``: the best validation score at each mark, counts, wall time."""
    import pandas as pd

    doc = yaml.safe_load(spec.read_text(encoding="utf-8"))
    metric, mode = doc["metric"]["name"], doc["metric"].get("mode", "max")
    load = os.getloadavg()[0]
    launched = time.time()
    p = subprocess.run([SWEEP, "run", str(spec), "--out", str(out), "--budget", f"{budget:g}"], cwd=ROOT,
                       capture_output=True, text=True)
    wall = time.time() - launched
    if p.returncode != 0:  # recorded, not fatal: the other runs still count (a failure is a finding)
        return {"best": [None] * len(marks), "metric": metric, "mode": mode, "failed": p.stderr.strip()[-500:],
                "wall_s": round(wall, 1), "load": round(load, 2), "trials": 0, "epochs": 0}
    run_dir = next(d for d in out.iterdir() if d.is_dir() and (d / "run.json").exists())
    trials = pd.read_parquet(run_dir / "trials.parquet")
    n_epochs = len(pd.read_parquet(run_dir / "epochs.parquet"))
    return {"best": best_at(run_dir, launched, metric, mode, marks), "metric": metric, "mode": mode,
            "trials": int(len(trials)), "epochs": int(n_epochs), "wall_s": round(wall, 1), "load": round(load, 2),
            "run_dir": str(run_dir)}


def machine() -> dict[str, Any]:
    """CPUs, model, memory, platform and versions: where the figures were measured."""
    from importlib import metadata

    info: dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    for pkg in ("ray", "tensorflow", "optuna"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[pkg] = metadata.version(pkg)
    return info


def summarize(runs: list[dict[str, Any]], marks: list[float]) -> dict[str, Any]:
    """Per set and algorithm: the median best score at each mark (None: the median run had no epoch
    by then); per set: is tpe at least as good as random at every mark (higher is better for max,
    lower for min)?"""
    out: dict[str, Any] = {}
    for s in sorted({r["set"] for r in runs}):
        mode = next(r["mode"] for r in runs if r["set"] == s)
        worst = -math.inf if mode == "max" else math.inf  # a run with no epoch by a mark counts as the worst
        med: dict[str, list[float | None]] = {}
        for a in ALGORITHMS:
            rs = [r for r in runs if r["set"] == s and r["algorithm"] == a]
            meds = [statistics.median([worst if r["best"][i] is None else r["best"][i] for r in rs]) if rs
                    else worst for i in range(len(marks))]
            med[a] = [None if math.isinf(m) else m for m in meds]
        # At least as good: better or equal, or neither had an epoch by then (a tie).
        repeats = {a: sum(r["set"] == s and r["algorithm"] == a for r in runs) for a in ALGORITHMS}
        ok = [r is None or (t is not None and (t >= r if mode == "max" else t <= r))
              for t, r in zip(med["tpe"], med["random"])] if all(repeats.values()) else []
        out[s] = {"median_best": med, "mode": mode, "tpe_at_least_as_good": ok, "repeats": repeats}
    return out


def _cell(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def render(doc: dict[str, Any]) -> str:
    """The dated RESULTS.md section of a result document (``--render``)."""
    m, marks = doc["machine"], doc["marks_s"]
    loads = [r["load"] for r in doc["runs"]]
    summary = summarize(doc["runs"], marks)  # from the runs, whichever version wrote the summary
    n_rep = len({r["repeat"] for r in doc["runs"]})
    planned = f" (of {doc['repeats']} planned: stopped there, the time box)" if n_rep < doc["repeats"] else ""
    head = " | ".join(f"best @{k:g} s" for k in marks)
    L = [f"## TPE or random search by default ({doc['date'][:10]})", "",
         "_Written by `benchmarks/tpe_default.py --render` from `benchmarks/results/tpe_default.json`._", "",
         f"- Command: `{doc['command']}` (each `sweep run` under the shared lock, one sweep per acquisition)",
         f"- Date: {doc['date']}; {doc.get('wall_min', '?')} min of wall clock",
         f"- Machine: {m['cpus']} CPUs ({m.get('cpu_model', '?')}), {m['platform']}; load average "
         f"{doc['load_at_start']} at the start, {min(loads):.2f} to {max(loads):.2f} before the runs (shared "
         f"with other work; repeats interleaved)",
         f"- Versions: python {m['python']}, ray {m.get('ray', '?')}, tensorflow {m.get('tensorflow', '?')}, "
         f"optuna {m.get('optuna', '?')}", "",
         f"`sweep run SPEC --budget {doc['budget_s']:g}` per algorithm, the spec identical but for "
         "`search.algorithm` (`tpe` or `random`, both with ASHA), `num_samples` 10000 so the budget ends the search, "
         "search seed = repeat. Best validation accuracy over the epochs finished by each checkpoint, counted from "
         "the command's launch (imports, Ray's start and data loading included). "
         f"Medians of {n_rep} repeats{planned}; within a repeat tpe and random alternate, the first swapped each "
         "repeat. Sets: **digits** = `search_spaces/quickstart.yaml` (the quickstart space, 12 epochs, ASHA grace 2); "
         "**table** = `benchmarks/peers.py`'s generated `hard` table (make_classification, 4000 rows, 40 features, "
         "6 classes) with the peers' 7-parameter space (27 epochs, ASHA grace 1).", "",
         f"| set | algorithm | {head} | trials (median) | epochs (median) |",
         "|---|---|" + "---:|" * (len(marks) + 2)]
    for s, v in summary.items():
        for alg in ALGORITHMS:
            rs = [r for r in doc["runs"] if r["set"] == s and r["algorithm"] == alg]
            if not rs:  # a run cut short
                continue
            cells = " | ".join(_cell(x) for x in v["median_best"][alg])
            L.append(f"| {s} | {alg} + ASHA | {cells} | {statistics.median(r['trials'] for r in rs):g} | "
                     f"{statistics.median(r['epochs'] for r in rs):g} |")
    L += ["", "—: the median run had finished no epoch by then (a run without one counts as the worst; "
          "two dashes are a tie).", "", "Every run (best at the checkpoints):", ""]
    for r in doc["runs"]:
        extra = f" FAILED: {r['failed'][:120]}" if r.get("failed") else ""
        L.append(f"- repeat {r['repeat']} {r['set']} {r['algorithm']}: "
                 + ", ".join(_cell(b) for b in r["best"])
                 + f" ({r['trials']} trials, {r['epochs']} epochs, load {r['load']:.2f}){extra}")
    L.append("")
    for s, v in summary.items():
        ok = ", ".join(f"{k:g} s: {'yes' if o else 'no'}" for k, o in zip(marks, v["tpe_at_least_as_good"]))
        L.append(f"- **{s}**: tpe at least as good as random (median) at {ok}." if ok
                 else f"- **{s}**: not compared (one algorithm has no run yet).")
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget", type=float, default=150.0, help="seconds per sweep (default 150)")
    ap.add_argument("--sets", default=",".join(SETS), help="digits,table")
    ap.add_argument("--epochs", type=int, default=None, help="override model.epochs (smoke runs)")
    ap.add_argument("--lock", type=Path, default=None,
                    help="a file to flock around each sweep, one sweep per acquisition (a shared machine)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1 repeat, 45 s, digits, 4 epochs")
    ap.add_argument("--json", type=Path, default=JSON_PATH)
    ap.add_argument("--render", action="store_true", help="print the RESULTS.md section of --json, run nothing")
    a = ap.parse_args(argv)
    if a.render:
        print(render(json.loads(a.json.read_text(encoding="utf-8"))), end="")
        return 0
    if a.quick:
        a.repeats, a.budget, a.sets, a.epochs = 1, 45.0, "digits", 4
        a.json = Path(tempfile.gettempdir()) / "tpe_default_quick.json"
    sets = [s for s in a.sets.split(",") if s]
    marks = [round(f * a.budget, 1) for f in FRACTIONS]
    work = Path(tempfile.mkdtemp(prefix="tpe-default-"))
    doc: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                           "load_at_start": [round(x, 2) for x in os.getloadavg()],
                           "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
                           "budget_s": a.budget, "marks_s": marks, "sets": sets, "repeats": a.repeats,
                           "epochs_override": a.epochs, "runs": []}
    started = time.time()
    for rep in range(a.repeats):
        order = list(ALGORITHMS) if rep % 2 == 0 else list(reversed(ALGORITHMS))
        for s in sets:
            for alg in order:
                spec = spec_for(s, alg, rep, work, a.epochs)
                with locked(a.lock) as waited:
                    r = run_once(spec, work / f"out-{s}-{alg}-{rep}", a.budget, marks)
                r.update({"set": s, "algorithm": alg, "repeat": rep, "lock_wait_s": round(waited, 1)})
                doc["runs"].append(r)
                doc["summary"] = summarize(doc["runs"], marks)
                doc["wall_min"] = round((time.time() - started) / 60, 1)
                a.json.parent.mkdir(parents=True, exist_ok=True)
                a.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
                best = ", ".join("—" if b is None else f"{b:.4f}" for b in r["best"])
                print(f"repeat {rep} {s} {alg}: best at {marks} s = {best} ({r['trials']} trials, {r['epochs']} "
                      f"epochs, {r['wall_s']} s, load {r['load']})", flush=True)
    print(render(doc), end="")
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
