"""Load benchmark: many trivial trials through the orchestrator vs the same trials on plain Ray Tune.

Both sides run in their own process, one after the other, with an embedded Ray of ``--cpus`` CPUs
(1 CPU per trial):

- **orchestrator**: ``sweep run benchmarks/specs/load.yaml --num-samples N`` (the whole product
  path: runner, recorder, journal, Parquet tables, progress, diagnosis, final test evaluation);
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
    code = ("import sys; from orchestrator.cli import main; import orchestrator.runner as r; "
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


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for n in sorted({r["n"] for r in rows}):
        o = [r for r in rows if r["n"] == n and r["side"] == "orchestrator"]
        t = [r for r in rows if r["n"] == n and r["side"] == "ray_tune"]
        med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
        ratios = [a["wall_s"] / b["wall_s"] for a, b in zip(sorted(o, key=lambda r: r["repeat"]),
                                                            sorted(t, key=lambda r: r["repeat"]))]
        out.append({
            "n": n, "repeats": len(o),
            "orchestrator_wall_s": med(o, "wall_s"), "tune_wall_s": med(t, "wall_s"),
            "orchestrator_bound_s": med(o, "bound_s"), "tune_bound_s": med(t, "bound_s"),
            "orchestrator_wall_over_bound": med(o, "wall_over_bound"), "tune_wall_over_bound": med(t, "wall_over_bound"),
            "orchestrator_over_tune": statistics.median(ratios),
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
        write_report(json.loads(RESULTS.read_text()))
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
             "| trials | repeats | orchestrator wall s | Ray Tune wall s | orch / Tune | orch wall / bound | "
             "Tune wall / bound | s per trial (orch / Tune) | driver RSS growth MB (orch / Tune) | "
             "files in run dir (orch / Tune) |",
             "|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in doc["summary"]:
        lines.append(
            f"| {r['n']} | {r['repeats']} | {r['orchestrator_wall_s']:.1f} | {r['tune_wall_s']:.1f} | "
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
**How the figures were taken.** The machine has 2 cores and was shared with three other jobs the
whole time (load averages 8 to 24 on 2 cores, in the table above; the unit tests of this branch ran
for 2 of the 17 minutes of the 2,000-trial orchestrator run), so single runs vary by +-25% (the
three 100-trial repeats of the orchestrator: 93, 76 and 56 s). Commands, in order:
`--trials 0 --trials-repeat 40 --repeats-small 1`, `--append --trials 0 --trials-repeat 100
--repeats-small 3`, `--append --trials 400 --repeats 1 --trials-repeat 0 --repeats-small 0`,
`--append --trials 2000 --repeats 1 --trials-repeat 0 --repeats-small 0`. 2,000 trials were run
once per side (15-17 minutes each here); the repeats (3, medians) are at 100 trials. All were
taken at commit 3b585c7, before the RunTables fix below.

**Re-run at 2,000 on a quiet machine** (2026-11-22 16:29, commit 75e100f, after the RunTables
fix; load average 0.0-2.8 before each side; `--append --trials 2000 --repeats 1 --trials-repeat 0
--repeats-small 0`): orchestrator 84.2 s, hand-written Ray Tune 233.4 s (0.36x: the target of
<= 1.05x is met); wall / physical bound 2.28 for the orchestrator (target 1.15: missed) and 5.62
for Ray Tune; trials' own median 0.029 s (orchestrator) and 0.037 s (Tune); driver RSS peak 545
and 510 MB; files 4,009 and 4,004. The 2,000 row of the summary table is the median of this run
and the loaded one above, so read the two runs in the table of every run instead. One quiet run
per side only: the Ray Tune script's 233 s against the orchestrator's 84 s is a larger gap than
any other size showed, and is not explained yet (both use reused actors and the same trial
function); it needs repeats before it is quoted as a speed-up.

**What a trial is.** One epoch of a 4-unit MLP on 70 rows (benchmarks/specs/load.yaml): a median
0.12-0.20 s of a trial's own time (trainable start to its report), except the first trial of each
worker, which imports TensorFlow and builds the model (about 15 s here). Both sides run exactly
this work (`load_handwritten.py` calls the orchestrator's `run_trial`), so the Ray Tune script
differs only by what the orchestrator adds around Tune.

**Against Ray Tune (target <= 1.05x): met at 100 trials (0.96x, median of 3), 1.06x at 400, missed
at 2,000 by 0.055 (1.105x: 1,001 s vs 906 s, one run each).** At small counts the orchestrator
adds a fixed cost (reading and splitting the data before Ray starts, the final test evaluation of
the selected trial in a TensorFlow worker, the curve diagnosis, the last Parquet writes), 5-25 s,
which is the 1.56x at 40 trials. At 2,000 the run ended about 4 minutes after its last trial
directory appeared; a py-spy dump in that window found the driver waiting for the final test
evaluation, whose worker had started only ~30 s earlier (so the minutes before went to the end of
`tuner.fit` and the work after it; not profiled further in this session). One cause that is ours
and clear from the code: `RunTables` answered every per-trial query (a trial's curve, its best
epoch) by scanning *all* epochs of the run, so the table rewrite every 10 s, the diagnosis and the
end-of-run selection were quadratic in the trial count. Measured in isolation on
2,000 one-epoch trials: `trials_frame` 2.08 s -> 0.25 s, `select_best` 2.92 s -> 0.02 s after
indexing epochs by trial (commit "RunTables: index epochs by trial"). That is fixed but not yet
re-measured end to end at 2,000.

**Against the physical bound (target <= 1.15x): missed by both sides, by 2.4-5x.** With trials
this short, the wall is set by Ray Tune's own per-trial cost (starting a trial on a reused actor,
its placement group, result processing, experiment-state snapshots: about 0.25-0.45 s of driver
and raylet time per trial on these 2 loaded cores, which also run the trials), not by the trials.
The hand-written Ray Tune script is itself 2.4-3.5x its bound, so no orchestration on top of Tune
can reach 1.15x here without replacing Tune's trial scheduling (which this project does not do).
The orchestrator's 5.3x at 2,000 is partly its own trials being faster in that run (sum 375 s vs
525 s for Tune: a smaller bound) and partly the quadratic driver work above. For trials of a few
seconds or more the same per-trial cost is a small fraction (benchmarks/placement.md: Tune-phase
efficiency 0.62 with 27-epoch trials).

**Driver memory: grows with the trial count on both sides, the orchestrator's extra is bounded.**
RSS growth from 20% of the run to the peak of its last 20%: orchestrator 47 / 55 / 47 / 189 MB at
40 / 100 / 400 / 2,000 trials, plain Tune driver 18 / 24 / 44 / 144 MB; peaks 322 / 330 / 370 /
566 MB vs 311 / 318 / 349 / 511 MB. The growth with the count is Ray Tune's (it keeps a Trial
object and its last result per trial, as the plain script shows); the orchestrator adds 30-55 MB
on top at every size (its tables: a row per trial and per epoch, and pyarrow).

**Files: bounded per trial.** Outside `tune/` a run directory always holds 5 files (run.json,
three Parquet tables, the journal), whatever the trial count. Inside `tune/`, Ray Tune keeps 2 files
per trial (its per-trial directory with the one checkpoint kept), exactly as the plain Tune
script does (4,009 vs 4,004 files for 2,000 trials).
"""


if __name__ == "__main__":
    main()
