"""Load benchmark: many trivial trials through the orchestrator vs the same trials on plain Ray Tune.

Both sides run in their own process, one after the other, with an embedded Ray of ``--cpus`` CPUs
(1 CPU per trial):

- **orchestrator**: ``sweep run benchmarks/specs/load.yaml --num-samples N`` (the whole product
  path: execution, event sink, journal, Parquet tables, progress, diagnosis, final test evaluation);
- **ray tune**: ``benchmarks/load_handwritten.py``, a ``tune.Tuner`` script whose trials do the
  same Keras work (they call the orchestrator's training function), without the orchestration.

For each run it records the command's wall time, the sum of the trials' own times
(``trial_elapsed_s``: trainable start to its last epoch's report), the physical bound (that sum /
CPUs), the driver's resident memory sampled from outside every 0.2 s (psutil, Ray's vendored
copy), and the files left in the run directory. Repeats alternate the two sides; medians are
reported.

    python benchmarks/load_bench.py --trials 2000 --repeats 1 --trials-repeat 200 --repeats-small 3

Writes benchmarks/results/load.json and benchmarks/load.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "load.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "load.json"
REPORT = ROOT / "benchmarks" / "load.md"
PY = sys.executable


def _psutil():
    import ray  # noqa: F401  (puts Ray's vendored psutil on sys.path)
    import psutil

    return psutil


class RssSampler:
    """Samples one process' RSS (MB) every ``every`` seconds from this (outside) process."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._proc = _psutil().Process(pid)
        self._t0 = time.time()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.time() - self._t0, self._proc.memory_info().rss / 2**20))
            except Exception:
                return
            self._stop.wait(every)

    def stop(self) -> list[tuple[float, float]]:
        self._stop.set()
        self._thread.join(timeout=2)
        return self.samples


def _files(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path))


def _rss_summary(samples: list[tuple[float, float]], wall: float) -> dict:
    """RSS once the sweep is under way (at 20% of the wall) vs the peak in its last 20%."""
    if not samples:
        return {}
    early = [r for t, r in samples if t >= 0.2 * wall] or [samples[-1][1]]
    late = [r for t, r in samples if t >= 0.8 * wall] or [samples[-1][1]]
    return {"rss_at_20pct_mb": round(early[0], 1), "rss_peak_last_20pct_mb": round(max(late), 1),
            "rss_growth_mb": round(max(late) - early[0], 1), "rss_peak_mb": round(max(r for _, r in samples), 1)}


def run_orchestrator(trials: int, cpus: int, work: Path) -> dict:
    out = work / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ("import sys; from orchestrator.cli import main; import orchestrator.execution as r; "
            "orig = r.run_sweep\n"
            "def run(spec, out, **kw):\n"
            f"    kw.setdefault('ray_resources', {{'num_cpus': {cpus}}}); return orig(spec, out, **kw)\n"
            "r.run_sweep = run\n"
            "sys.exit(main(sys.argv[1:]))")
    t0 = time.time()
    proc = subprocess.Popen([PY, "-c", code, "run", str(SPEC), "--num-samples", str(trials), "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work)
    sampler = RssSampler(proc.pid)
    stdout, _ = proc.communicate()
    wall = time.time() - t0
    samples = sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"sweep run exited {proc.returncode}:\n{stdout[-3000:]}")
    import pandas as pd

    run_dir = next(p for p in out.iterdir() if p.is_dir())
    trials_df = pd.read_parquet(run_dir / "trials.parquet")
    elapsed = trials_df["train_seconds"].astype(float)
    return {"side": "orchestrator", "trials": int(len(trials_df)), "errors": int((trials_df["status"] == "error").sum()),
            "wall_s": wall, "trial_s_sum": float(elapsed.sum()), "trial_s_median": float(elapsed.median()),
            "files": _files(run_dir), "files_outside_tune": _files(run_dir) - _files(run_dir / "tune"),
            **_rss_summary(samples, wall)}


def run_tune(trials: int, cpus: int, work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.time()
    proc = subprocess.Popen([PY, str(ROOT / "benchmarks" / "load_handwritten.py"), "--spec", str(SPEC),
                             "--trials", str(trials), "--cpus", str(cpus), "--out", str(work / "hw")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work)
    sampler = RssSampler(proc.pid)
    stdout, _ = proc.communicate()
    wall = time.time() - t0
    samples = sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"load_handwritten.py exited {proc.returncode}:\n{stdout[-3000:]}")
    result = json.loads([ln for ln in stdout.splitlines() if ln.startswith("{")][-1])
    elapsed = [x for x in result["trial_elapsed_s"] if x == x]
    return {"side": "ray_tune", "trials": result["trials"], "errors": result["errors"], "wall_s": wall,
            "trial_s_sum": float(sum(elapsed)), "trial_s_median": float(statistics.median(elapsed)),
            "files": _files(work / "hw"), **_rss_summary(samples, wall)}


def measure(trials: int, repeats: int, cpus: int) -> list[dict]:
    rows = []
    for rep in range(repeats):
        for side in (("orchestrator", "ray_tune") if rep % 2 == 0 else ("ray_tune", "orchestrator")):
            with tempfile.TemporaryDirectory(prefix="loadbench") as tmp:
                load = os.getloadavg()
                fn = run_orchestrator if side == "orchestrator" else run_tune
                row = fn(trials, cpus, Path(tmp))
            row.update({"repeat": rep + 1, "n": trials, "cpus": cpus, "load_before": [round(x, 1) for x in load],
                        "bound_s": row["trial_s_sum"] / cpus})
            row["wall_over_bound"] = row["wall_s"] / row["bound_s"]
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


QUIET_LOAD = 3.0  # 1-minute load average before a run at or under which the machine counts as quiet


def quiet(row: dict) -> bool:
    return row["load_before"][0] <= QUIET_LOAD


def summarise(rows: list[dict]) -> list[dict]:
    """Medians per trial count and side, over the quiet runs of that count when there are any on
    both sides (the machine is shared: a loaded run says more about the other jobs), else over all."""
    out = []
    for n in sorted({r["n"] for r in rows}):
        o = [r for r in rows if r["n"] == n and r["side"] == "orchestrator"]
        t = [r for r in rows if r["n"] == n and r["side"] == "ray_tune"]
        only_quiet = any(map(quiet, o)) and any(map(quiet, t))
        if only_quiet:
            o, t = [r for r in o if quiet(r)], [r for r in t if quiet(r)]
        med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
        out.append({
            "n": n, "repeats": min(len(o), len(t)), "quiet_only": only_quiet,
            "orchestrator_runs": len(o), "tune_runs": len(t),
            "orchestrator_wall_s": med(o, "wall_s"), "tune_wall_s": med(t, "wall_s"),
            "orchestrator_bound_s": med(o, "bound_s"), "tune_bound_s": med(t, "bound_s"),
            "orchestrator_wall_over_bound": med(o, "wall_over_bound"), "tune_wall_over_bound": med(t, "wall_over_bound"),
            "orchestrator_over_tune": med(o, "wall_s") / med(t, "wall_s"),
            "orchestrator_s_per_trial": med(o, "wall_s") / n, "tune_s_per_trial": med(t, "wall_s") / n,
            "orchestrator_rss_growth_mb": med(o, "rss_growth_mb"), "tune_rss_growth_mb": med(t, "rss_growth_mb"),
            "orchestrator_rss_peak_mb": med(o, "rss_peak_mb"), "tune_rss_peak_mb": med(t, "rss_peak_mb"),
            "orchestrator_files": med(o, "files"), "orchestrator_files_outside_tune": med(o, "files_outside_tune"),
            "tune_files": med(t, "files"),
        })
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--trials-repeat", type=int, default=200, help="smaller size measured --repeats-small times")
    ap.add_argument("--repeats-small", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--append", action="store_true", help="keep the rows already in results/load.json")
    ap.add_argument("--report-only", action="store_true", help="rewrite load.md from results/load.json")
    args = ap.parse_args()
    if args.report_only:
        doc = json.loads(RESULTS.read_text())
        doc["summary"] = summarise(doc["rows"])
        RESULTS.write_text(json.dumps(doc, indent=1))
        write_report(doc)
        return

    rows = json.loads(RESULTS.read_text())["rows"] if args.append and RESULTS.exists() else []
    if args.repeats_small and args.trials_repeat:
        rows += measure(args.trials_repeat, args.repeats_small, args.cpus)
    if args.repeats and args.trials:
        rows += measure(args.trials, args.repeats, args.cpus)
    summary = summarise(rows)
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    doc = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "commit": commit,
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
           "command": " ".join(["python", "benchmarks/load_bench.py", *sys.argv[1:]]),
           "rows": rows, "summary": summary}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=1))
    print(json.dumps(summary, indent=1))
    write_report(doc)


def write_report(doc: dict) -> None:
    """The figures of results/load.json as benchmarks/load.md (the notes come from NOTES)."""
    lines = ["# Benchmark: load (many trivial trials)", "",
             f"_Written by `benchmarks/load_bench.py` from `benchmarks/results/load.json`; {doc['when']}, "
             f"code {doc['commit']}, {doc['machine']['cpus']} CPUs ({doc['machine']['platform']}), shared with "
             "other work (load averages per run below)._", "",
             f"Command: `{doc['command']}`", "",
             "Targets: wall <= 1.15 x physical bound (sum of trial times / CPUs); wall <= 1.05 x the same "
             "trials on plain Ray Tune; driver memory and files bounded.", "",
             f"Medians per trial count over the runs taken on a quiet machine (1-minute load average <= {QUIET_LOAD:g} "
             "before the run; runs: orchestrator / Ray Tune) where both sides have one, else over every run; "
             "orch / Tune is the ratio of the two medians.", "",
             "| trials | runs | orchestrator wall s | Ray Tune wall s | orch / Tune | orch wall / bound | "
             "Tune wall / bound | s per trial (orch / Tune) | driver RSS growth MB (orch / Tune) | "
             "files in run dir (orch / Tune) |",
             "|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in doc["summary"]:
        lines.append(
            f"| {r['n']} | {r['orchestrator_runs']} / {r['tune_runs']}{' (quiet)' if r['quiet_only'] else ''} | "
            f"{r['orchestrator_wall_s']:.1f} | {r['tune_wall_s']:.1f} | "
            f"{r['orchestrator_over_tune']:.2f} | {r['orchestrator_wall_over_bound']:.2f} | "
            f"{r['tune_wall_over_bound']:.2f} | {r['orchestrator_s_per_trial']:.2f} / {r['tune_s_per_trial']:.2f} | "
            f"{r['orchestrator_rss_growth_mb']:.0f} / {r['tune_rss_growth_mb']:.0f} | "
            f"{r['orchestrator_files']:.0f} ({r['orchestrator_files_outside_tune']:.0f} outside tune/) / "
            f"{r['tune_files']:.0f} |")
    lines += ["", "Every run:", "",
              "| trials | repeat | side | wall s | trial s (sum) | trial s (median) | bound s | wall / bound | "
              "RSS at 20% MB | RSS peak MB | files | load before |",
              "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in doc["rows"]:
        lines.append(f"| {r['n']} | {r['repeat']} | {r['side']} | {r['wall_s']:.1f} | {r['trial_s_sum']:.1f} | "
                     f"{r['trial_s_median']:.3f} | {r['bound_s']:.1f} | {r['wall_over_bound']:.2f} | "
                     f"{r.get('rss_at_20pct_mb', float('nan')):.0f} | {r.get('rss_peak_mb', float('nan')):.0f} | "
                     f"{r['files']} | {', '.join(str(x) for x in r['load_before'])} |")
    lines += ["", "## Notes", "", NOTES.strip(), ""]
    REPORT.write_text("\n".join(lines))


NOTES = """
**Summary.** On a quiet machine (three runs per side at 2,000 trials, 2026-11-22, load average
0.0-3 before each run) 2,000 trivial trials take 82.7 s (median; 78.4-84.2) through `sweep run`
against 233.5 s (232-235) for the same trials in a hand-written Ray Tune script: 0.35x, so the
<= 1.05x target is met with room. The wall is 2.32x the physical bound (target 1.15x: missed; the
Ray Tune script is 5.6x its own). Driver memory: peak 547 MB against 511 MB; files: 4,009 against
4,004.

**How the figures were taken.** The 40-, 100- and 400-trial rows and the first 2,000-trial pair
were taken at commit 3b585c7 on a machine shared with three other jobs (load averages 8 to 24 on
2 cores; single runs vary by +-25% there: the three 100-trial repeats of the orchestrator took 93,
76 and 56 s). Commands, in order: `--trials 0 --trials-repeat 40 --repeats-small 1`, `--append
--trials 0 --trials-repeat 100 --repeats-small 3`, `--append --trials 400 --repeats 1
--trials-repeat 0 --repeats-small 0`, `--append --trials 2000 --repeats 1 --trials-repeat 0
--repeats-small 0`. After the RunTables fix below, 2,000 trials were re-run on a quiet machine:
once at commit 75e100f (`--append --trials 2000 --repeats 1 --trials-repeat 0 --repeats-small 0`),
then twice more, sides alternating (`--append --trials 2000 --repeats 2 --trials-repeat 0
--repeats-small 0`). The summary's 2,000 row is the median of those three quiet runs per side; the
smaller sizes were only measured loaded.

**What a trial is.** One epoch of a 4-unit MLP on 70 rows (benchmarks/specs/load.yaml): a median
0.03-0.04 s of a trial's own time on a quiet machine (0.12-0.20 s loaded), except the first trial
of each worker, which imports TensorFlow and builds the model. Both sides run exactly this work
(`load_handwritten.py` calls the orchestrator's `run_trial`), so the Ray Tune script differs only
by what the orchestrator adds around Tune.

**Why the hand-written Ray Tune script is 2.8x slower at 2,000 trials.** Its `CheckpointConfig(
num_to_keep=1)`, the usual way to keep one checkpoint per trial, makes Ray Tune force a snapshot of
the whole experiment state every `num_to_keep` checkpoints of any trial
(`_ExperimentCheckpointManager.on_trial_checkpoint`): here after every trial, and each snapshot
serialises all 2,000 trials to JSON and uploads the state files, so the driver's work grows with
the square of the trial count. A py-spy profile of the script's driver over 25 s of the run:
891 of 1,216 samples of its main thread in `TuneController.checkpoint` (JSON encoding of the
trials), and a second thread copying the state files. The orchestrator keeps every checkpoint
while the sweep runs (`num_to_keep=None`, pruned to the best and the latest when the sweep ends;
introduced for the resume race described in the README), so Tune snapshots on its own timer only:
its driver's profile over the same 25 s has no sample in `checkpoint`. Two other explanations were
ruled out with single runs of the script: Ray Tune's old output engine (`RAY_AIR_NEW_OUTPUT=0`:
232.8 s) and workers at the driver's priority (`worker_niceness` 0, as `sweep run` sets it:
236.9 s). At 100 and 400 trials (loaded machine) the two sides were within 6% of each other (1.02x
and 1.06x): the quadratic term is small there, and the orchestrator's fixed cost (reading and
splitting the data, the final test evaluation, the diagnosis, the last Parquet writes, 5-25 s)
shows, as at 40 trials (1.56x).

**The RunTables fix.** `RunTables` answered every per-trial query (a trial's curve, its best epoch)
by scanning *all* epochs of the run, so the table rewrite every 10 s, the diagnosis and the
end-of-run selection were quadratic in the trial count. Measured in isolation on 2,000 one-epoch
trials: `trials_frame` 2.08 s -> 0.25 s, `select_best` 2.92 s -> 0.02 s after indexing epochs by
trial (commit "RunTables: index epochs by trial"). The loaded 2,000-trial run before it took
1,001 s against 906 s for the script (1.10x).

**Against the physical bound (target <= 1.15x): missed, 2.32x (Ray Tune by hand: 5.6x).** The
bound is the trials' own seconds / 2 CPUs: 36 s for 2,000 trials of 0.03 s. Ray Tune spends about
40 ms of driver and raylet time per trial here (starting it on a reused actor, its placement
group, the result, the checkpoint; the profile above: `_internal_kv_get`, actor calls,
`placement_group` / `remove_placement_group`), on the same 2 cores that run the trials, so for
trials this short the wall is Ray Tune's per-trial cost, not the trials. Reaching 1.15x would mean
replacing Tune's trial scheduling (which this project does not do) or running several trials per
Tune trial (which would break the one-row-per-trial contract and early stopping). For trials of a
few seconds the same per-trial cost is a small fraction (benchmarks/placement.md).

**Driver memory: grows with the trial count on both sides, the orchestrator's extra is bounded.**
RSS growth from 20% of the run to the peak of its last 20%: orchestrator 47 / 55 / 47 MB at 40 /
100 / 400 trials (loaded) and 210 MB at 2,000 (quiet median), plain Tune driver 18 / 24 / 44 and
135 MB; peaks 322 / 330 / 370 / 547 MB against 311 / 318 / 349 / 511 MB. The growth with the count
is Ray Tune's (it keeps a Trial object and its last result per trial, as the plain script shows);
the orchestrator adds 30-75 MB on top (its tables: a row per trial and per epoch, and pyarrow),
about 36 MB at 2,000 trials in peak terms.

**Files: bounded per trial.** Outside `tune/` a run directory always holds 5 files (run.json,
three Parquet tables, the journal), whatever the trial count. Inside `tune/`, Ray Tune keeps 2 files
per trial (its per-trial directory with the one checkpoint kept), exactly as the plain Tune
script does (4,009 vs 4,004 files for 2,000 trials).
"""


if __name__ == "__main__":
    main()
