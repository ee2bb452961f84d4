#!/usr/bin/env python
"""Benchmark: from a launch (a command, or a call in a notebook-like process) to the first finished epoch.

Usage (from the repository root; the method and the figures: benchmarks/startup.md)::

    .venv/bin/python benchmarks/startup.py [--repeats 5] [--specs quickstart,csv] [--wall]
        [--paths plain,cold,warm,notebook] [--commit REV] [--json PATH] [--md PATH --title T]
    .venv/bin/python benchmarks/startup.py --quick      # smoke test: 1 repeat, quickstart, no warm path

Paths, on the same data, interleaved within each repeat, medians over repeats: ``plain`` (a
generated Keras script, a fresh process), ``cold`` (``sweep run --no-runtime``), ``warm`` (``sweep
run`` with ``sweep up`` before; skipped where there is no ``sweep up``), ``notebook`` (one
long-lived process: the plain script's loop in process, ``orchestrator.run`` 1st and 2nd embedded,
then with the runtime), ``--wall`` (the shipped quickstart's wall clock). A sweep's first finished
epoch is run.json's ``started_at`` plus the smallest first-epoch ``elapsed_s`` of epochs.parquet;
its phases come from run.json, the journal's ``start`` lines and ``$SWEEP_TRIAL_STATS`` (PHASES).
Each path-run holds ``flock /tmp/integration.lock`` from before its launch time is read.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON, SWEEP = ROOT / ".venv" / "bin" / "python", ROOT / ".venv" / "bin" / "sweep"
LOCK = "/tmp/integration.lock"
TIMEOUT_S = 900
COLUMNS = ("plain", "cold", "cold (before)", "warm", "loop", "notebook 1st", "notebook 2nd", "notebook-warm")
PHASES = {  # key: (row label, what it holds)
    "imports": ("interpreter + imports", (
        "plain: launch -> after its imports (keras, numpy, pandas, sklearn); sweep: launch -> run.json's "
        "started_at (interpreter, CLI imports, the spec read); notebook: the call -> started_at")),
    "data": ("data", "plain, loop: read and split the data"),
    "ray_data_setup": ("data + Ray + Tune setup + actor", (
        "started_at -> the driver's on_trial_start of the first trial (journal.jsonl): the data prepared while "
        "Ray starts or connects, Tune's setup, the trial actor's start; lumped: no timestamp between them")),
    "to_worker": ("data to the worker", (
        "on_trial_start -> the trial function starts in the worker (Tune's with_parameters fetch of the arrays)")),
    "tf_import": ("TF import in the worker", "tf_ready_s: TensorFlow imported and confined (~0 when preloaded)"),
    "model": ("model build", (
        "plain: build + compile; sweep: model_s (build + compile, or the cache, + its cost probe: params, size, "
        "latency)")),
    "fit_start": ("fit start", "sweep: setup_s - tf_ready_s - model_s (placement, input pipeline, fit's start)"),
    "epoch": ("first epoch (+ trace)", (
        "the first epoch with the tracing of the train/val steps (plain, loop: from model.fit's call; sweep: "
        "first_epoch_s, from on_epoch_begin)")),
}
SPLIT = {  # the lumped phase split by the product's stamps ($SWEEP_TRIAL_STATS); key: (row label, what it holds)
    "ray_ready": ("  of which: Ray ready", "started_at -> ray.init returned (in a thread, beside the data)"),
    "data_ready": ("  of which: data ready", "started_at -> the data loaded, split and the model checked"),
    "to_search": ("  then: until tuner.fit", "the later of the two -> tuner.fit's call (run dir, run.json, Tune's set-up)"),
    "actor_boot": ("  then: actor's worker up", (
        "tuner.fit -> the trial actor's worker has imported the trainable (Tune's trial and placement group, "
        "the worker's start unless prestarted, its imports and the function's unpickling)")),
    "actor_ready": ("  then: to on_trial_start", "that import -> the driver's on_trial_start"),
    "worker_born": ("  (worker process born at)", "the trial's worker process start, from started_at (< 0: before it)"),
}
ROWS = {k: v for key, row in PHASES.items() for k, v in ((key, row), *(SPLIT.items() if key == "ray_data_setup" else ()))}
RATIOS = (("cold / plain", "cold", "plain", 1.5), ("warm / plain", "warm", "plain", 1.0),
          ("notebook 1st / loop", "notebook 1st", "loop", 3.0), ("notebook 2nd / loop", "notebook 2nd", "loop", 3.0),
          ("notebook-warm / loop", "notebook-warm", "loop", 3.0), ("cold / cold (before)", "cold", "cold (before)", 1.0))

PLAIN_SCRIPT = '''"""A plain Keras script: the sweep's data and split sizes, an MLP, one epoch; timestamps as JSON."""
import json
import sys
import time

import keras
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

IMPORTED = time.time()


def load(source, target):
    if source == "digits":
        X, y = load_digits(return_X_y=True)
    else:
        frame = pd.read_csv(source)
        y = frame.pop(target).to_numpy()
        X = frame.to_numpy()
    n_val, n_test = round(len(y) * 0.2), round(len(y) * 0.1)
    X_tr, X_rest, y_tr, y_rest = train_test_split(X.astype("float32"), y, test_size=n_val + n_test,
                                                  stratify=y, random_state=0)
    X_val, _, y_val, _ = train_test_split(X_rest, y_rest, test_size=n_test, stratify=y_rest, random_state=0)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0) + 1e-7
    return (X_tr - mean) / std, y_tr, (X_val - mean) / std, y_val, int(np.max(y)) + 1


def main(source, target="label"):
    stamps = {"called": time.time()}
    X, y, X_val, y_val, classes = load(source, target)
    stamps["data"] = time.time()
    model = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stamps["model"] = time.time()
    stamp = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: stamps.setdefault("epoch", time.time()))
    model.fit(X, y, validation_data=(X_val, y_val), epochs=1, batch_size=32, verbose=0, callbacks=[stamp])
    return stamps


if __name__ == "__main__":
    print(json.dumps({**main(*sys.argv[1:]), "imported": IMPORTED}))
'''

DRIVER_SCRIPT = '''"""A notebook stand-in: a first cell's imports, then a JSON command a line on stdin, a reply a line."""
import json
import os
import sys
import time

reply = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # what the product prints goes to stderr
sys.path.insert(0, sys.argv[1])
import plain  # noqa: E402 - keras, numpy, pandas, sklearn
import orchestrator  # noqa: E402

reply.write(json.dumps({"ready": time.time()}) + "\\n")
for line in sys.stdin:
    cmd = json.loads(line)
    try:
        if cmd["do"] == "loop":
            out = plain.main(cmd["source"], cmd["target"])
        elif cmd["do"] == "settle":  # a user reads the first call's output before running the next cell
            t, warm = time.time(), []
            try:
                import ray
                from orchestrator.execution.ray_start import tensorflow_ready
                from orchestrator.processes import idle_ray_workers
                from orchestrator.internals import raylet_pid
                want, raylet = int(ray.cluster_resources().get("CPU", 1)), raylet_pid()
                while raylet and time.time() - t < 120:
                    warm = tensorflow_ready(idle_ray_workers(parent=raylet))
                    if len(warm) >= want:
                        break
                    time.sleep(0.5)
            except (ImportError, ray.exceptions.RaySystemError):  # a commit that keeps no Ray between calls
                pass
            out = {"waited": time.time() - t, "warm": len(warm)}
        else:
            os.environ.pop("SWEEP_NO_RUNTIME", None) if cmd["runtime"] else os.environ.update(SWEEP_NO_RUNTIME="1")
            called = time.time()
            run = orchestrator.run(cmd["spec"], out=cmd["out"], num_samples=cmd["num_samples"])
            out = {"called": called, "returned": time.time(), "run_dir": str(run.path)}
    except Exception as e:  # noqa: BLE001 - reported to the benchmark
        out = {"error": f"{type(e).__name__}: {e}"}
    reply.write(json.dumps(out) + "\\n")
'''

CSV_SPEC = """name: user_csv
data: {path: data.csv, target: label, task: classification}
model: {hidden_layers: 1, epochs: 6}
params: {optimizer: adam, learning_rate: {type: loguniform, low: 1.0e-4, high: 0.03}, units: 64, batch_size: 32}
metric: {name: val_accuracy, mode: max}
search: {algorithm: random, num_samples: 2, seed: 0}
scheduler: {type: asha, grace_period: 2, reduction_factor: 3}
resources: {cpu: 1, gpu: 0}
"""


def make_specs(names: list[str], src: Path, ws: Path) -> list[dict[str, Any]]:
    """The specs to run: the shipped quickstart, and a user's CSV (4000 rows, 40 numeric features, 10
    classes, seeded, generated into ``ws``) with its spec next to it."""
    import numpy as np
    import pandas as pd

    specs = []
    if "quickstart" in names:
        specs.append({"key": "quickstart", "name": "quickstart (digits)", "source": "digits", "target": "label",
                      "spec": src / "search_spaces" / "quickstart.yaml"})
    if "csv" in names:
        rng = np.random.default_rng(0)
        y = rng.integers(0, 10, 4000)
        X = rng.normal(0.0, 1.0, (10, 40))[y] + rng.normal(0.0, 2.0, (4000, 40))
        frame = pd.DataFrame(X.round(4), columns=[f"f{i:02d}" for i in range(40)]).assign(label=y)
        frame.to_csv(ws / "data.csv", index=False)
        (ws / "user_csv.yaml").write_text(CSV_SPEC)
        specs.append({"key": "csv", "name": "user CSV (4000 x 40, 10 classes)", "source": str(ws / "data.csv"),
                      "target": "label", "spec": ws / "user_csv.yaml"})
    return specs


def git(*args: str) -> str:
    """A git command's output in the repository (empty on failure)."""
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.rstrip() if done.returncode == 0 else ""


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Hold ``flock /tmp/integration.lock`` (as the integration tests do) for one path-run."""
    with open(LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def launch(cmd: list[str], src: Path, env: dict[str, str], log: Path) -> tuple[float, float, str]:
    """Run ``cmd`` to completion in ``src`` (its output to ``log``): launch time, exit time, stdout.

    Raises:
        RuntimeError: it exited non-zero (naming ``log``).
    """
    with open(log, "w") as err:
        t0 = time.time()
        done = subprocess.run(cmd, cwd=src, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                              timeout=TIMEOUT_S, check=False)
        ended = time.time()
        err.write(done.stdout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} exited {done.returncode} (see {log})")
    return t0, ended, done.stdout


def sweep_figures(run_dir: Path, t0: float, stats: Path) -> dict[str, Any]:
    """Launch (or call) ``t0`` -> the run's first finished epoch, and its phases (see PHASES)."""
    import pandas as pd

    info = json.loads((run_dir / "run.json").read_text())
    started = float(info["started_at"])
    epochs = pd.read_parquet(run_dir / "epochs.parquet", columns=["trial_id", "epoch", "elapsed_s"])
    first = epochs[epochs["epoch"] == epochs["epoch"].min()]
    row = first.loc[first["elapsed_s"].idxmin()]
    tid, end = str(row["trial_id"]), started + float(row["elapsed_s"])
    out: dict[str, Any] = {"total_s": end - t0, "trial_id": tid, "phases": {"imports": started - t0},
                           "ray": {k: (info.get("ray") or {}).get(k) for k in ("address", "started_here")}}
    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]
    actor_at = min((j["at"] for j in journal if j.get("kind") == "start" and j.get("trial_id") == tid), default=None)
    lines = stats.read_text().splitlines() if stats.exists() else []
    records = [json.loads(line) for line in lines if line.endswith("}")]  # a line being written is skipped
    trial = next((r for r in reversed(records) if r.get("trial_id") == tid and r.get("started", 0) >= started), None)
    if trial is None or actor_at is None:  # no worker figures: the rest in one figure, kept out of the phases
        missing = "trial stats line" if trial is None else "journal start line"
        out.update(after_start_s=end - started, note=f"no {missing} for the trial")
        return out
    out["phases"].update({
        "ray_data_setup": actor_at - started, "to_worker": trial["started"] - actor_at,
        "tf_import": trial["tf_ready_s"], "model": trial["model_s"],
        "fit_start": trial["setup_s"] - trial["tf_ready_s"] - trial["model_s"], "epoch": trial["first_epoch_s"]})
    out.update(tf_preloaded=trial.get("tf_preloaded"), cache_hit=trial.get("cache_hit"),
               unaccounted_s=out["total_s"] - sum(out["phases"].values()),
               split=split(records, started, actor_at, trial))
    return out


def split(records: list[dict[str, Any]], started: float, actor_at: float, trial: dict[str, Any]) -> dict[str, float]:
    """The lumped phase (started_at -> on_trial_start) by the driver's stamps and the trial's own
    (see SPLIT); a stamp this run did not write (a warm runtime's host, a reused Ray) is left out."""
    stamps = {r["stamp"]: r["at"] for r in records if "stamp" in r and r["at"] >= started - 1e-3}
    out: dict[str, float] = {}
    for key in ("ray_ready", "data_ready"):
        if key in stamps:
            out[key] = stamps[key] - started
    if "search_start" in stamps:
        ready = [stamps[k] for k in ("ray_ready", "data_ready") if k in stamps]
        out["to_search"] = stamps["search_start"] - max(ready or [started])
        if trial.get("worker_imported_at"):
            out["actor_boot"] = max(trial["worker_imported_at"], stamps["search_start"]) - stamps["search_start"]
    if trial.get("worker_imported_at"):
        out["actor_ready"] = actor_at - max(trial["worker_imported_at"], stamps.get("search_start", 0.0))
    if trial.get("worker_born_at"):
        out["worker_born"] = trial["worker_born_at"] - started
    return out


def stamped(stamps: dict[str, float], t0: float) -> dict[str, Any]:
    """Figures of the plain script (launched at ``t0``) or of the loop (``t0``: its call) from its timestamps."""
    phases = {"imports": stamps["imported"] - t0} if "imported" in stamps else {}
    phases.update(data=stamps["data"] - stamps["called"], model=stamps["model"] - stamps["data"],
                  epoch=stamps["epoch"] - stamps["model"])
    return {"total_s": stamps["epoch"] - t0, "phases": phases}


class Bench:
    """One benchmark invocation: its workspace, the source tree measured, the product's features."""

    def __init__(self, ws: Path, src: Path, env: dict[str, str]) -> None:
        self.ws, self.src, self.stats = ws, src, ws / "trial_stats.jsonl"
        # one trial stats file (records matched by trial id); a runtime of the benchmark's own
        self.env = {**env, "SWEEP_TRIAL_STATS": str(self.stats), "SWEEP_RUNTIME_DIR": str(ws / "runtime")}
        self.env.pop("SWEEP_NO_RUNTIME", None)
        self.cold_env = {**self.env, "SWEEP_NO_RUNTIME": "1"}
        help_of = [subprocess.run([str(SWEEP), *args, "--help"], cwd=src, env=self.env, capture_output=True,
                                  text=True, check=False).stdout for args in (["run"], [])]
        self.features = {"no_runtime_flag": "--no-runtime" in help_of[0],
                         "runtime": re.search(r"^\W{0,4}up\s{2,}\S", help_of[1], re.MULTILINE) is not None}
        (ws / "plain.py").write_text(PLAIN_SCRIPT)
        (ws / "driver.py").write_text(DRIVER_SCRIPT)
        (ws / "logs").mkdir()

    def out_dir(self, tag: str) -> Path:
        """A fresh ``--out`` folder for one run."""
        path = self.ws / "runs" / tag
        path.mkdir(parents=True)
        return path

    def plain(self, spec: dict[str, Any], tag: str) -> dict[str, Any]:
        """The plain Keras script as a fresh process."""
        t0, _, stdout = launch([str(PYTHON), str(self.ws / "plain.py"), spec["source"], spec["target"]], self.src,
                               self.env, self.ws / "logs" / f"{tag}.log")
        return stamped(json.loads(stdout.strip().splitlines()[-1]), t0)

    def sweep(self, spec: Path, tag: str, warm: bool, num_samples: int | None = 2) -> dict[str, Any]:
        """``sweep run`` as a fresh process: cold (no runtime) or ``warm`` (the runtime up)."""
        out = self.out_dir(tag)
        cmd = [str(SWEEP), "run", str(spec), "--out", str(out)]
        cmd += [] if num_samples is None else ["--num-samples", str(num_samples)]
        cmd += ["--no-runtime"] if not warm and self.features["no_runtime_flag"] else []
        t0, ended, _ = launch(cmd, self.src, self.env if warm else self.cold_env, self.ws / "logs" / f"{tag}.log")
        return {**sweep_figures(next(out.iterdir()), t0, self.stats), "wall_s": ended - t0}

    def notebook(self, spec: dict[str, Any], tag: str, warm: bool) -> dict[str, dict[str, Any]]:
        """One notebook-like process: the in-process loop, the 1st and 2nd ``orchestrator.run`` embedded,
        then one with the runtime (``warm``). A failure ends the session; what it measured is kept."""
        with open(self.ws / "logs" / f"{tag}.log", "w") as log:
            proc = subprocess.Popen([str(PYTHON), str(self.ws / "driver.py"), str(self.ws)], cwd=self.src,
                                    env=self.cold_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                    text=True)
        assert proc.stdin is not None and proc.stdout is not None

        def ask(**cmd: Any) -> dict[str, Any]:
            if cmd:
                proc.stdin.write(json.dumps(cmd) + "\n")
                proc.stdin.flush()
            line = proc.stdout.readline()
            if not line or "error" in json.loads(line):
                raise RuntimeError(f"notebook driver: {line.strip() or 'exited'} (see {tag}.log)")
            return json.loads(line)

        out: dict[str, dict[str, Any]] = {}
        try:
            ask()  # ready: its imports done
            stamps = ask(do="loop", source=spec["source"], target=spec["target"])
            out["loop"] = stamped(stamps, stamps["called"])
            for name, runtime in [("notebook 1st", False), ("notebook 2nd", False)] + ([("notebook-warm", True)] if warm else []):
                # a user reads a call's output before the next cell: the process's own Ray has
                # restocked its workers by then (a call right after one would race that restock)
                settled = ask(do="settle") if name in ("notebook 2nd", "notebook-warm") else {}
                reply = ask(do="run", spec=str(spec["spec"]), out=str(self.out_dir(f"{tag}-{len(out)}")),
                            num_samples=2, runtime=runtime)
                out[name] = {**sweep_figures(Path(reply["run_dir"]), reply["called"], self.stats),
                             "wall_s": reply["returned"] - reply["called"]}
                if settled:
                    out[name].update(restock_wait_s=settled["waited"], warm_before=settled["warm"])
        except Exception as e:  # noqa: BLE001 - reported; the benchmark goes on
            out["notebook"] = {"error": f"{type(e).__name__}: {e}"}
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        return out

    def runtime(self, command: str) -> str | None:
        """``sweep up`` or ``sweep down`` (its workers inherit SWEEP_TRIAL_STATS); None, or why it failed."""
        try:
            launch([str(SWEEP), command], self.src, self.env, self.ws / "logs" / f"sweep-{command}.log")
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            return str(e)
        return None


def one_repeat(bench: Bench, specs: list[dict[str, Any]], paths: list[str], index: int, wall: bool,
               base: Bench | None = None) -> dict[str, Any]:
    """Every path on every spec once, interleaved (the baseline's cold run and wall clock right after
    ours); each path-run under the lock, the load beside it."""
    rep: dict[str, Any] = {"repeat": index, "load_before": os.getloadavg(), "runs": {}}
    jobs = []
    for spec in specs:
        for path in paths:
            jobs.append((spec["name"], path, spec, bench))
            if base is not None and path == "cold":
                jobs.append((spec["name"], path, spec, base))
    if wall:
        jobs += [("wall", "wall", None, bench)] + ([("wall", "wall", None, base)] if base is not None else [])
    for name, path, spec, runner in jobs:
        tag = f"{spec['key'] if spec else 'quickstart'}-{path}-{index}"
        got = _one_path(runner, path, spec, tag, paths)
        for column, fig in got.items():
            column = column if runner is bench else f"{column} (before)"
            rep["runs"].setdefault(name, {})[column] = fig
            key = "wall_s" if path == "wall" else "total_s"
            shown = f"{fig[key]:.2f} s" if key in fig else fig["error"]
            label = name if name == column else f"{name} {column}"
            print(f"[repeat {index}] {label}: {shown} (load {fig['load1']:.2f})", flush=True)
    rep["load_after"] = os.getloadavg()
    return rep


def _one_path(bench: Bench, path: str, spec: dict[str, Any] | None, tag: str,
              paths: list[str]) -> dict[str, dict[str, Any]]:
    """One path-run under the lock: its figures by column, each with the 1-min load at its start."""
    with locked():
        load = os.getloadavg()[0]
        try:
            if path == "plain":
                got = {path: bench.plain(spec, tag)}
            elif path == "notebook":
                got = bench.notebook(spec, tag, warm="warm" in paths)
            elif path == "wall":  # the shipped quickstart, as `make run` runs it
                got = {path: bench.sweep(bench.src / "search_spaces" / "quickstart.yaml", tag, False, None)}
            else:
                got = {path: bench.sweep(spec["spec"], tag, warm=path == "warm")}
        except Exception as e:  # noqa: BLE001 - reported; the other runs go on
            got = {path: {"error": f"{type(e).__name__}: {e}"}}
    return {column: {**fig, "load1": load} for column, fig in got.items()}


def summarize(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repeats per spec, path and phase; ratios of the medians of launch -> first epoch."""
    summary: dict[str, Any] = {}
    for name in repeats[0]["runs"]:
        figs: dict[str, list[dict[str, Any]]] = {}
        for rep in repeats:
            for path, fig in rep["runs"].get(name, {}).items():
                if "total_s" in fig:
                    figs.setdefault(path, []).append(fig)
        medians: dict[str, dict[str, float]] = {}
        fewer: dict[str, dict[str, int]] = {}  # medians over fewer runs than the path's total: how many
        for path, fs in figs.items():
            for key in ("total_s", "wall_s", *PHASES, *SPLIT):
                values = [f[key] if key in f else f["phases"].get(key, f.get("split", {}).get(key)) for f in fs
                          if key in f or key in f["phases"] or key in f.get("split", {})]
                if values:
                    medians.setdefault(path, {})[key] = statistics.median(values)
                if 0 < len(values) < len(fs):
                    fewer.setdefault(path, {})[key] = len(values)
        ratios = {label: {"value": medians[a]["total_s"] / medians[b]["total_s"], "target": target}
                  for label, a, b, target in RATIOS if a in medians and b in medians}
        summary[name] = {"medians": medians, "fewer_runs": fewer, "ratios": ratios}
    return summary


def markdown(result: dict[str, Any], title: str, json_path: str) -> str:
    """The section of startup.md for one invocation: how it ran, medians per phase, ratios, runs."""
    m, reps = result["meta"], result["repeats"]
    loads = [r["load_before"][0] for r in reps] + [r["load_after"][0] for r in reps]
    lines = [f"## {title}", "", f"`{m['command']}` — {m['date']}, commit {m['git']['commit'][:12]}"
             + (f" ({m['git']['measured']})" if m["git"]["measured"] else ""), "",
             f"Machine: {m['cpu_count']} CPUs ({m['cpu']}), Python {m['versions'].get('python')}, Ray "
             f"{m['versions'].get('ray')}, TensorFlow {m['versions'].get('tensorflow')}; 1-min load average "
             f"{min(loads):.2f}-{max(loads):.2f} before/after the repeats (each in `{json_path}`). Product: "
             f"`--no-runtime` {'present' if m['features']['no_runtime_flag'] else 'absent'}, `sweep up` "
             f"{'present' if m['features']['runtime'] else 'absent (warm path skipped)'}.", ""]
    for name, s in result["summary"].items():
        cols = [c for c in (*COLUMNS, "wall", "wall (before)") if c in s["medians"]]
        runs = {c: [r["runs"][name][c] for r in reps if c in r["runs"].get(name, {})] for c in cols}
        if name == "wall":
            lines += ["### Quickstart wall clock (16 trials, cold, launch to exit): median "
                      + ", ".join(f"{s['medians'][c]['wall_s']:.1f} s" + ("" if c == "wall" else f" {c[5:]}")
                                  for c in cols), ""]
            lines += [f"Runs{'' if c == 'wall' else ' ' + c[5:]} (s, 1-min load): " + ", ".join(
                f"{f['wall_s']:.1f} ({f['load1']:.1f})" for f in runs[c] if "wall_s" in f) for c in cols]
            lines.append("")
            continue
        lines += [f"### {name}: seconds from launch (or call) to the first finished epoch, medians of {len(reps)}",
                  "", "| phase | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols),
                  "| **total** | " + " | ".join(f"**{s['medians'][c]['total_s']:.2f}**" for c in cols) + " |"]
        fewer = s.get("fewer_runs", {})
        lines += [f"| {label} | " + " | ".join(
            "—" if key not in s["medians"][c] else f"{s['medians'][c][key]:.2f}"
            + (f" (of {fewer[c][key]})" if key in fewer.get(c, {}) else "") for c in cols) + " |"
                  for key, (label, _) in ROWS.items() if any(key in s["medians"][c] for c in cols)]
        lines += ["", "| ratio (of the medians) | value | target | |", "|---|---:|---:|---|"]
        lines += [f"| {label} | {r['value']:.2f}x | <= {r['target']:.1f}x | {'pass' if r['value'] <= r['target'] else 'miss'} |"
                  for label, r in s["ratios"].items()]
        lines += ["", "Runs (total s, with the 1-min load at the path-run's start):", ""]
        lines += [f"- {c}: " + ", ".join(f"{f['total_s']:.1f} ({f['load1']:.1f})" if "total_s" in f else "error"
                                         for f in fs) for c, fs in runs.items()]
        lines.append("")
    lines += ["Phases (each a median of its own, so they need not add up to the total's median):", ""]
    lines += [f"- {label.strip()}: {what}" for label, what in ROWS.values()]
    return "\n".join(lines) + "\n"


def write_section(path: Path, title: str, text: str) -> None:
    """Replace the ``## title`` section of ``path`` with ``text`` (appended when it has none)."""
    old = path.read_text() if path.exists() else "# Start-up: from a launch to the first finished epoch\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    new = pattern.sub(lambda _: text + "\n", old, count=1) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def meta(commit: str | None, features: dict[str, bool]) -> dict[str, Any]:
    """Date, command, machine, versions and commit of this invocation."""
    versions = {"python": platform.python_version()}
    for pkg in ("ray", "tensorflow", "tensorflow-cpu", "keras"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[pkg] = metadata.version(pkg)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    measured = (f"git archive of {commit}" if commit
                else "working tree with local changes: " + ", ".join(c[3:] for c in changed) if changed else "")
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["python", "benchmarks/startup.py", *sys.argv[1:]]), "cpu_count": os.cpu_count(),
            "cpu": cpu, "versions": versions, "features": features,
            "git": {"commit": git("rev-parse", commit or "HEAD"), "measured": measured}}


def export(commit: str, ws: Path, env: dict[str, str]) -> Path:
    """``commit``'s orchestrator and search_spaces in ``ws/src``, first on ``env``'s PYTHONPATH (and the
    processes' working directory, where Ray's workers look too), so that the product measured is that one."""
    src = ws / "src"
    src.mkdir()
    archive = subprocess.run(["git", "archive", commit, "orchestrator", "search_spaces"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH")) if p)
    return src


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--specs", default="quickstart,csv", help="quickstart and/or csv (a generated user's CSV)")
    ap.add_argument("--paths", default="plain,cold,warm,notebook", help="notebook: the loop and orchestrator.run")
    ap.add_argument("--wall", action="store_true", help="also the shipped quickstart's wall clock, once a repeat")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 repeat, quickstart, plain,cold,notebook")
    ap.add_argument("--commit", help="measure this commit (git archive) instead of the working tree")
    ap.add_argument("--baseline", metavar="REV", help="also this commit's cold run and wall clock, right after ours in each repeat")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "startup.json"))
    ap.add_argument("--md", help="write the tables as a section of this Markdown file")
    ap.add_argument("--title", default="Results", help="that section's title")
    ap.add_argument("--report", metavar="JSON", help="run nothing: the tables again from this JSON (to --md)")
    args = ap.parse_args()
    if args.report:
        result = json.loads(Path(args.report).read_text())
        result["summary"] = summarize(result["repeats"])
        Path(args.report).write_text(json.dumps(result, indent=1, default=str) + "\n")
        publish(result, args.report, args.md, args.title)
        return
    if args.quick:
        args.repeats, args.specs, args.paths, args.wall = 1, "quickstart", "plain,cold,notebook", False
    if args.commit:  # the commit itself: a branch may move meanwhile
        args.commit = git("rev-parse", "--verify", args.commit) or ap.error(f"--commit: no commit {args.commit}")
    if args.baseline:
        args.baseline = git("rev-parse", "--verify", args.baseline) or ap.error(f"--baseline: no commit {args.baseline}")
    ws, env = Path(tempfile.mkdtemp(prefix="startup-bench-")), dict(os.environ)
    try:
        bench = Bench(ws, export(args.commit, ws, env) if args.commit else ROOT, env)
        base = None
        if args.baseline:
            (ws / "base").mkdir()
            base_env = dict(os.environ)
            base = Bench(ws / "base", export(args.baseline, ws / "base", base_env), base_env)
        paths = args.paths.split(",")
        if "warm" in paths and not bench.features["runtime"]:
            print("note: `sweep --help` has no `up` (no warm runtime yet): the warm path is skipped", flush=True)
            paths.remove("warm")
        failed = bench.runtime("up") if "warm" in paths else None
        if failed:
            print(f"note: `sweep up` failed ({failed}): the warm path is skipped", flush=True)
            paths.remove("warm")
        result: dict[str, Any] = {"meta": meta(args.commit, bench.features), "repeats": []}
        if args.baseline:
            result["meta"]["baseline"] = args.baseline
        try:
            specs = make_specs(args.specs.split(","), bench.src, ws)
            for i in range(args.repeats):
                result["repeats"].append(one_repeat(bench, specs, paths, i, args.wall, base))
        finally:
            if "warm" in paths and bench.runtime("down"):
                print("note: `sweep down` failed (see its log)", flush=True)
    finally:
        shutil.rmtree(ws, ignore_errors=True)
    result["summary"] = summarize(result["repeats"])
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1, default=str) + "\n")
    publish(result, args.json, args.md, args.title)


def publish(result: dict[str, Any], json_path: str, md: str | None, title: str) -> None:
    """Print the tables, and write them as the ``title`` section of ``md`` when given."""
    shown = os.path.relpath(json_path, ROOT) if Path(json_path).resolve().is_relative_to(ROOT) else json_path
    text = markdown(result, title, shown)
    print(text)
    if md:
        write_section(Path(md), title, text)


if __name__ == "__main__":
    main()
