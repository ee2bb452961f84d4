"""The ``within`` rule on CNNs (issue #24's acceptance): the smallest model within one point of the best.

    .venv/bin/python benchmarks/within.py [--repeats 1] [--quick] [--sets digits,sequence]
                                          [--lock /tmp/integration.lock]

Specs: ``search_spaces/within_cnn_digits.yaml`` (digits read as 8x8 images) and
``search_spaces/within_cnn_sequence.yaml`` (the generated waveform task of
``search_spaces/examples/sequence_data.py``, 48 steps), both ``family: cnn`` with objectives
val_accuracy (max) and params (min), multi-objective TPE + multi-objective ASHA, and
``select: {rule: within, of: val_accuracy, tolerance: 0.01, then: params}``. Each run is one
``flock LOCK sweep run SPEC`` (search seed = repeat); from its tables: the best validation accuracy
of the run's feasible trials and that model's parameters (among trials tied on the best accuracy,
the smallest: the hardest comparison for the rule), the selected trial's validation accuracy,
parameters and its one test score, and the ratio best params / selected params. The acceptance:
best - selected <= 0.01 and ratio >= 5. The test line ``sweep run`` printed is kept verbatim.
Writes ``benchmarks/results/within.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
JSON_PATH = HERE / "results" / "within.json"
SPECS = {"digits": ROOT / "search_spaces" / "within_cnn_digits.yaml",
         "sequence": ROOT / "search_spaces" / "within_cnn_sequence.yaml"}


def parse_sets(items: list[str]) -> dict[str, list[tuple[list[str], Any]]]:
    """``--set [SET:]KEY.PATH=YAML`` overrides, per set name (``*``: every set)."""
    out: dict[str, list[tuple[list[str], Any]]] = {}
    for item in items:
        target, _, assignment = item.rpartition(":") if ":" in item.split("=", 1)[0] else ("*", "", item)
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item}: expected [SET:]KEY.PATH=VALUE")
        out.setdefault(target or "*", []).append((key.split("."), yaml.safe_load(value)))
    return out


def apply_sets(doc: dict[str, Any], name: str, sets: dict[str, list[tuple[list[str], Any]]]) -> None:
    for path, value in sets.get("*", []) + sets.get(name, []):
        node = doc
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value


def spec_for(name: str, seed: int, where: Path, quick: bool, algorithm: str | None = None,
             one_objective: bool = False, sets: dict[str, list[tuple[list[str], Any]]] | None = None) -> Path:
    """The shipped spec with the repeat's search seed (a smoke run: 4 trials of 3 epochs; another
    search algorithm where asked; with ``one_objective``, the search ranks val_accuracy alone and
    only the selection looks at the size; ``sets``: the ``--set`` overrides)."""
    doc = yaml.safe_load(SPECS[name].read_text())
    apply_sets(doc, name, sets or {})
    doc["search"]["seed"] = seed
    if one_objective:
        doc["objectives"] = [{"name": "val_accuracy", "mode": "max"}]
    if algorithm:
        doc["search"]["algorithm"] = algorithm
    if quick:
        doc["search"]["num_samples"], doc["model"]["epochs"] = 4, 3
        doc["scheduler"]["grace_period"] = 1
    if "loader" in doc["data"]:  # named relative to the spec: keep it found from the copy
        doc["data"]["loader"] = str(SPECS[name].parent / doc["data"]["loader"])
    path = where / f"{name}_{seed}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def judge(trials: Any) -> dict[str, Any]:
    """Best and selected trial of a run's table, the gap in accuracy and the ratio of parameters."""
    ok = trials[trials["feasible"].fillna(False).astype(bool)]
    top = ok["best_val_accuracy"].max()
    best = ok[ok["best_val_accuracy"] == top].sort_values("params").iloc[0]
    sel = trials[trials["is_selected"]].iloc[0]
    gap = float(best["best_val_accuracy"] - sel["best_val_accuracy"])
    ratio = float(best["params"]) / float(sel["params"])
    return {"best": {"trial_id": best["trial_id"], "val_accuracy": float(best["best_val_accuracy"]),
                     "params": int(best["params"]), "tied_at_best": int((ok["best_val_accuracy"] == top).sum())},
            "selected": {"trial_id": sel["trial_id"], "val_accuracy": float(sel["best_val_accuracy"]),
                         "params": int(sel["params"]), "test_accuracy": float(sel["test_accuracy"]),
                         "hp": {k.removeprefix("hp_"): (v.item() if hasattr(v, "item") else v)
                                for k, v in sel.items() if k.startswith("hp_") and v is not None}},
            "gap": round(gap, 4), "ratio": round(ratio, 2),
            "accepted": bool(gap <= 0.01 + 1e-9 and ratio >= 5.0),
            "trials": len(trials), "feasible": len(ok)}


def run_once(name: str, seed: int, tmp: Path, lock: str, quick: bool, algorithm: str | None = None,
             one_objective: bool = False, sets: dict[str, list[tuple[list[str], Any]]] | None = None) -> dict[str, Any]:
    """One locked ``sweep run``; its judgement, the printed test line and the command."""
    import pandas as pd

    spec = spec_for(name, seed, tmp, quick, algorithm, one_objective, sets)
    out = tmp / f"out-{name}-{seed}"
    cmd = ["flock", lock, SWEEP, "run", str(spec), "--out", str(out)]
    load = os.getloadavg()[0]
    p = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    run_dir = next(d for d in out.iterdir() if d.is_dir())
    info = json.loads((run_dir / "run.json").read_text())
    r = judge(pd.read_parquet(run_dir / "trials.parquet"))
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    r.update({"seed": seed, "load": round(load, 2), "epochs": len(epochs),
              "wall_s": round(float(info["ended_at"] - info["started_at"]), 1),
              "printed": [ln for ln in p.stdout.splitlines() if ln.startswith("selected ")],
              "select": info.get("select"), "run_dir": str(run_dir),
              "command": f"flock {lock} .venv/bin/sweep run {SPECS[name].relative_to(ROOT)} (search.seed={seed}"
                         + (f", search.algorithm={algorithm}" if algorithm else "")
                         + (", objectives=[val_accuracy max]" if one_objective else "")
                         + "".join(f", {'.'.join(k)}={json.dumps(v)}" for k, v in
                                   (sets or {}).get("*", []) + (sets or {}).get(name, [])) + ")"})
    b, s = r["best"], r["selected"]
    print(f"{name} seed {seed}: best val={b['val_accuracy']:.4f} params={b['params']}; selected val="
          f"{s['val_accuracy']:.4f} params={s['params']} test={s['test_accuracy']:.4f}; gap={r['gap']:.4f} "
          f"ratio={r['ratio']:.1f} accepted={r['accepted']} ({r['wall_s']} s, load {r['load']})", flush=True)
    for line in r["printed"]:
        print("   ", line, flush=True)
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1, help="search seeds 0..N-1 per set")
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 trials x 3 epochs, 1 repeat")
    ap.add_argument("--sets", default="digits,sequence")
    ap.add_argument("--lock", default="/tmp/integration.lock")
    ap.add_argument("--algorithm", default=None, help="override search.algorithm (e.g. random)")
    ap.add_argument("--one-objective", action="store_true",
                    help="search on val_accuracy alone (params only in the select rule)")
    ap.add_argument("--seeds", default=None, help="search seeds, e.g. 0,1 (default: 0..repeats-1)")
    ap.add_argument("--set", action="append", default=[], metavar="[SET:]KEY.PATH=YAML",
                    help="override a key of the specs' copies (of one set with SET:), e.g. "
                         "sequence:data.args.n=20000 or search.num_samples=32; recorded in the JSON")
    ap.add_argument("--json", default=str(JSON_PATH))
    args = ap.parse_args(argv)
    sets = parse_sets(args.set)
    repeats = 1 if args.quick else args.repeats
    tmp = Path(tempfile.mkdtemp(prefix="within-bench-"))
    uptime = subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in args.sets.split(",")}
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else list(range(repeats))
    for i, seed in enumerate(seeds):
        for name in (list(runs) if i % 2 == 0 else list(runs)[::-1]):
            runs[name].append(run_once(name, seed, tmp, args.lock, args.quick, args.algorithm, args.one_objective,
                                       sets))
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "uptime_before": uptime,
              "uptime_after": subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip(),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "command": "benchmarks/within.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "specs": {n: str(SPECS[n].relative_to(ROOT)) for n in runs}, "quick": args.quick,
              "algorithm_override": args.algorithm, "one_objective": args.one_objective, "spec_changes": args.set,
              "runs": runs,
              "accepted": {n: f"{sum(r['accepted'] for r in rs)}/{len(rs)}" for n, rs in runs.items()}}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"accepted: {result['accepted']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
