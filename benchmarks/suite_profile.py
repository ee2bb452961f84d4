"""Where the integration suite's time goes: CPU by kind of process, TensorFlow imports, searches.

    .venv/bin/python benchmarks/suite_profile.py [--tests tests/integration] [--every 1.0]
                                                 [--json benchmarks/results/suite_profile.json]

Runs ``pytest -q -ra --durations=0 TESTS`` under ``flock /tmp/integration.lock`` with
``$SWEEP_TRIAL_STATS`` set, and meanwhile samples:

- the machine's CPU (psutil's ``cpu_times``, at the start and the end): the share of both cores
  busy over the run;
- every process's CPU time (psutil, every ``--every`` seconds), grouped by kind (a
  Ray Tune trial actor, the test evaluator, the pytest process, Ray's own processes, a ``sweep``
  command, ...). A process is counted from its last sample before it ended, so each loses up to
  ``--every`` seconds of CPU; one that lived less than that may be missed altogether.

From ``$SWEEP_TRIAL_STATS``: the searches started (``search_start`` stamps), the trials, the trial
workers and how many of them imported TensorFlow in their first trial (with the median import).
Writes the JSON and prints a summary; ``benchmarks/suite_profile.md`` holds a recorded run.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
JSON_PATH = HERE / "results" / "suite_profile.json"


def _machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of all CPUs since boot."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    return sum(t) - idle - getattr(t, "steal", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0), idle


def kind_of(cmdline: str) -> str:
    """A process's kind, from its command line (Ray renames its workers ``ray::Class.method``)."""
    if cmdline.startswith("ray::"):
        name = cmdline.split()[0]
        if name.startswith(("ray::ImplicitFunc", "ray::_Inner", "ray::FunctionTrainable")):
            return "trial actor (Tune)"
        if name.startswith("ray::Evaluator") or name.startswith("ray::evaluate"):
            return "test evaluator"
        if name in ("ray::IDLE",):
            return "Ray worker, idle or starting"
        return "Ray: " + name.removeprefix("ray::").split(".")[0]
    if "default_worker.py" in cmdline:
        return "Ray worker, idle or starting"
    # a command's arguments may name pytest's temporary folders: the product's commands first
    for needle, kind in (("orchestrator.cli", "sweep command (driver)"), ("bin/sweep", "sweep command (driver)"),
                         ("orchestrator.runtime", "warm runtime host"), ("-m pytest", "pytest (test process, in-process sweeps' drivers)"),
                         ("bin/pytest", "pytest (test process, in-process sweeps' drivers)"),
                         ("gcs_server", "Ray: gcs_server"), ("raylet", "Ray: raylet"),
                         ("dashboard", "Ray: dashboard"), ("log_monitor", "Ray: log monitor"),
                         ("autoscaler", "Ray: autoscaler monitor"), ("ray.util.client", "Ray: client server"),
                         ("ray start", "Ray: ray start"), ("ray job", "Ray: job CLI"),
                         ("benchmarks/", "benchmark script"),
                         ("chrom", "Chromium (report checks)")):
        if needle in cmdline:
            return kind
    if not cmdline:
        return "ended before its command line was read"
    return "other Python (tests' helpers, probes)" if "python" in cmdline.split()[0] else "other"


class ProcessSampler:
    """CPU seconds per process (pid, start), sampled through psutil until stopped."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.base: dict[tuple[int, float], float] = {}
        self.last: dict[tuple[int, float], tuple[float, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _scan(self) -> dict[tuple[int, float], tuple[float, str]]:
        seen: dict[tuple[int, float], tuple[float, str]] = {}
        for proc in psutil.process_iter(["pid", "create_time", "cpu_times", "cmdline"]):
            info = proc.info
            if info.get("cpu_times") is None or info.get("create_time") is None:
                continue  # gone, or not ours to read
            cmd = " ".join(info.get("cmdline") or []).strip()[:200]
            seen[(info["pid"], info["create_time"])] = (info["cpu_times"].user + info["cpu_times"].system, cmd)
        return seen

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            for key, (ticks, cmd) in self._scan().items():
                old = self.last.get(key)
                self.last[key] = (ticks, cmd or (old[1] if old else ""))

    def start(self) -> None:
        self.base = {k: t for k, (t, _) in self._scan().items()}
        self._thread.start()

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        self._thread.join()
        out: dict[str, dict[str, float]] = collections.defaultdict(lambda: {"cpu_s": 0.0, "processes": 0})
        me = os.getpid()
        for (pid, start), (ticks, cmd) in self.last.items():
            used = ticks - self.base.get((pid, start), 0.0)
            if used <= 0 or pid == me:
                continue
            kind = kind_of(cmd)
            out[kind]["cpu_s"] += used
            out[kind]["processes"] += 1
        return {k: {"cpu_s": round(v["cpu_s"], 1), "processes": int(v["processes"])}
                for k, v in sorted(out.items(), key=lambda kv: -kv[1]["cpu_s"])}


def trial_stats(path: Path) -> dict[str, Any]:
    """Searches, trials, trial workers and their TensorFlow imports, from ``$SWEEP_TRIAL_STATS``."""
    rows = []
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    trials = [r for r in rows if "trial_id" in r]
    cold = [r for r in trials if r.get("tf_preloaded") is False]
    imports = sorted(float(r["tf_ready_s"]) for r in cold if "tf_ready_s" in r)
    return {"searches": sum(1 for r in rows if r.get("stamp") == "search_start"),
            "trials_with_a_line": len(trials), "trial_workers": len({r.get("pid") for r in trials}),
            "tf_imports_in_a_first_trial": len(cold),
            "tf_import_s_median": round(statistics.median(imports), 2) if imports else None,
            "tf_import_s_sum": round(sum(imports), 1)}


def durations(log: str) -> list[dict[str, Any]]:
    """pytest's ``--durations=0`` lines: seconds, phase, test."""
    out = []
    for m in re.finditer(r"^([0-9.]+)s (call|setup|teardown)\s+(\S+)$", log, re.M):
        out.append({"s": float(m.group(1)), "phase": m.group(2), "test": m.group(3)})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", default="tests/integration")
    ap.add_argument("--every", type=float, default=1.0, help="seconds between process samples")
    ap.add_argument("--lock", default="/tmp/integration.lock")
    ap.add_argument("--json", default=str(JSON_PATH))
    args = ap.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="suite-profile-"))
    stats = folder / "trial_stats.jsonl"
    env = {**os.environ, "SWEEP_TRIAL_STATS": str(stats)}
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    load_before = os.getloadavg()
    sampler = ProcessSampler(args.every)
    busy0, idle0 = _machine_cpu()
    started = time.time()
    sampler.start()
    cmd = ["flock", args.lock, sys.executable, "-m", "pytest", "-q", "-ra", "--durations=0", "-p", "no:cacheprovider",
           *args.tests.split()]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - started
    kinds = sampler.stop()
    busy1, idle1 = _machine_cpu()
    summary = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), "commit": head,
              "command": " ".join(cmd[2:]), "pytest_rc": p.returncode, "pytest_summary": summary,
              "wall_s": round(wall, 1), "load_before": [round(x, 2) for x in load_before],
              "load_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
              "machine_busy_share": round((busy1 - busy0) / max(1, (busy1 - busy0) + (idle1 - idle0)), 3),
              "machine_cpu_s": round(busy1 - busy0, 1),
              "sampled_cpu_s": round(sum(v["cpu_s"] for v in kinds.values()), 1), "by_kind": kinds,
              "trial_stats": trial_stats(stats), "durations": durations(p.stdout)}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"{summary}; wall {wall:.0f} s; both cores busy {100 * result['machine_busy_share']:.0f}% "
          f"({result['machine_cpu_s']:.0f} CPU-s, {result['sampled_cpu_s']:.0f} sampled by process)")
    for kind, v in kinds.items():
        print(f"  {v['cpu_s']:8.1f} s  {v['processes']:4d}  {kind}")
    print("  ", result["trial_stats"])
    return 0 if p.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
