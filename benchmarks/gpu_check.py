"""On a machine with a GPU: the CNN example at a quarter of a GPU per trial and at a whole one.

    .venv/bin/python benchmarks/gpu_check.py [--samples 8] [--epochs 15] [--budget 170] [--md PATH]

Runs ``search_spaces/cnn_digits.yaml`` twice through ``sweep run`` on an embedded Ray, with
``resources: {cpu: 1, gpu: 0.25}`` and then ``{cpu: 1, gpu: 1}``: the same search seed, the same
``num_samples`` and no scheduler, so both runs train the same trials for every epoch. For each it
records trials per minute, each trial's peak GPU memory (the ``gpu_peak_mb`` column of
``trials.parquet``: TensorFlow's allocator peak), the memory limit the worker gave TensorFlow for
that share (:func:`orchestrator.training.worker.gpu_memory_limit_mb`; a whole GPU gets memory
growth, no limit) and whether every peak stayed under it; and, polled from ``nvidia-smi`` while the
run goes on, the most memory the GPU had in use (every process: what several trials on one GPU
take together). Writes ``benchmarks/gpu_check.md`` (the machine, the date, the GPU's name and
memory). Both runs together take under 8 minutes on one H100 (``--budget`` caps each run).

On a machine without a GPU (no ``nvidia-smi``, or it lists none) it says so in one line and exits
0 without running or writing anything.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from orchestrator.training.worker import GPU_RESERVE_MB, gpu_memory_limit_mb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SPEC = ROOT / "search_spaces" / "cnn_digits.yaml"
MD_PATH = HERE / "gpu_check.md"
SHARES = (0.25, 1.0)


def gpu_inventory() -> list[dict[str, Any]]:
    """The GPUs ``nvidia-smi`` lists (index, name, total memory in MiB, driver); empty without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,name,memory.total,driver_version",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4 and parts[2].replace(".", "", 1).isdigit():
            gpus.append({"index": parts[0], "name": parts[1], "memory_mb": float(parts[2]), "driver": parts[3]})
    return gpus


class GpuMemoryPoll:
    """The most memory in use on any GPU (every process, MiB) while the block runs, from nvidia-smi once a second."""

    def __init__(self) -> None:
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=10, check=True).stdout
                used = [float(v) for v in out.split() if v.replace(".", "", 1).isdigit()]
                if used:
                    self.peak_mb = max(self.peak_mb or 0.0, *used)
            except (OSError, subprocess.SubprocessError):
                pass
            self._stop.wait(1.0)

    def __enter__(self) -> "GpuMemoryPoll":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def spec_for(share: float, samples: int, epochs: int, where: Path) -> Path:
    """The shipped CNN spec at ``share`` of a GPU per trial, ``samples`` trials of ``epochs`` each, no scheduler."""
    import yaml

    doc = yaml.safe_load(SPEC.read_text())
    doc["resources"] = {"cpu": 1, "gpu": share}
    doc["search"].update(num_samples=samples, seed=0)
    doc["model"]["epochs"] = epochs
    doc["scheduler"] = {"type": "none"}  # every trial to its last epoch: the same work at both shares
    path = where / f"cnn_gpu_{share:g}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_share(share: float, args: argparse.Namespace, where: Path) -> dict[str, Any]:
    """One ``sweep run`` at ``share``: its trials frame (None when it failed), wall time, GPU memory in use."""
    import pandas as pd

    out = where / f"out_{share:g}"
    sweep = str(Path(sys.executable).with_name("sweep"))
    cmd = [sweep, "run", str(spec_for(share, args.samples, args.epochs, where)), "--out", str(out),
           "--budget", str(args.budget)]
    t0 = time.time()
    with GpuMemoryPoll() as poll:
        # its own process group, so that a run past the cap is stopped with the Ray it started
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            _, err = p.communicate(timeout=args.budget + 45)
            last = (err.strip().splitlines() or ["no message"])[-1]
            failed = f"exit {p.returncode}: {last[:200]}" if p.returncode else ""
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            failed = f"killed after {args.budget + 45} s"
    wall = time.time() - t0
    runs = sorted(out.glob("*/trials.parquet")) if out.exists() else []
    trials = pd.read_parquet(runs[-1]) if runs else None
    return {"share": share, "trials": trials, "wall_s": wall, "gpu_used_peak_mb": poll.peak_mb, "failed": failed}


def summarise(run: dict[str, Any], total_mb: float) -> dict[str, Any]:
    """Figures of one run (a :func:`run_share` result) on a GPU of ``total_mb``: per trial and overall."""
    import pandas as pd

    share, trials = run["share"], run["trials"]
    limit = gpu_memory_limit_mb(total_mb, share)
    ceiling = float(limit) if limit is not None else total_mb  # a whole GPU: no limit but the GPU itself
    rows: list[dict[str, Any]] = []
    if trials is not None and len(trials):
        has_peak = "gpu_peak_mb" in trials.columns
        for _, t in trials.sort_values("trial_id").iterrows():
            peak = None if not has_peak or pd.isna(t["gpu_peak_mb"]) else float(t["gpu_peak_mb"])  # <NA>: none counted
            rows.append({"trial_id": str(t["trial_id"]), "status": str(t["status"]), "epochs": int(t["epochs"]),
                         "gpu_ids": str(t.get("gpu_ids", "") or ""), "peak_mb": peak,
                         "under": None if peak is None else peak <= ceiling})
    completed = sum(r["status"] == "completed" for r in rows)  # every epoch: no scheduler, only the budget stops
    phase_s = None
    if trials is not None and len(trials) and trials["started_at"].notna().any() and trials["ended_at"].notna().any():
        phase_s = (trials["ended_at"].max() - trials["started_at"].min()).total_seconds()
    peaks = [r["peak_mb"] for r in rows if r["peak_mb"] is not None]
    return {
        "share": share, "limit_mb": limit, "rows": rows, "trials": len(rows), "completed": completed,
        "errors": sum(r["status"] == "error" for r in rows), "wall_s": run["wall_s"], "phase_s": phase_s,
        "per_minute": 60 * completed / phase_s if phase_s else None,
        "peak_max_mb": max(peaks) if peaks else None,
        "all_under": all(r["under"] for r in rows) if rows and len(peaks) == len(rows) else None,
        "gpu_used_peak_mb": run["gpu_used_peak_mb"], "failed": run["failed"],
        "no_peak_column": trials is not None and "gpu_peak_mb" not in trials.columns,
    }


def _f(x: float | None, fmt: str = ".0f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**NO**")


def _limit(mb: int | None) -> str:
    return "none (memory growth)" if mb is None else f"{mb}"


def render(machine: dict[str, Any], command: str, summaries: list[dict[str, Any]]) -> str:
    """The page ``benchmarks/gpu_check.md``: the machine, the two runs side by side, then every trial."""
    gpus = machine["gpus"]
    gpu_line = ", ".join(f"GPU {g['index']}: {g['name']} ({g['memory_mb']:.0f} MiB)" for g in gpus)
    lines = [
        "# GPU check: the CNN example at a quarter and at a whole GPU per trial", "",
        f"_Written by `benchmarks/gpu_check.py` on {machine['date']}; rerun it on a machine with a GPU to refresh._", "",
        f"- Command: `{command}`",
        f"- Machine: {machine['cpus']} CPUs, {machine['platform']}; {gpu_line}; driver {gpus[0]['driver']}",
        f"- Versions: {machine['versions']}; code {machine['commit']}",
        f"- Spec: `search_spaces/cnn_digits.yaml` with `resources: {{cpu: 1, gpu: S}}`, {machine['samples']} trials "
        f"(search seed 0) of {machine['epochs']} epochs, no scheduler: the same trials, every epoch, at both shares",
        "", "| GPU per trial | trials (completed, errors) | command wall s | trial phase s | trials per minute "
        "| peak GPU MB of a trial (max) | TensorFlow's limit per trial MB | every trial under it "
        "| GPU memory in use, all processes (max MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for s in summaries:
        lines.append(f"| {s['share']:g} | {s['trials']} ({s['completed']}, {s['errors']}) | {_f(s['wall_s'])} "
                     f"| {_f(s['phase_s'])} | {_f(s['per_minute'], '.1f')} | {_f(s['peak_max_mb'])} "
                     f"| {_limit(s['limit_mb'])} | {_verdict(s['all_under'])} | {_f(s['gpu_used_peak_mb'])} |")
    lines += ["", "## Each trial", "", "| GPU per trial | trial | status | epochs | GPU ids | peak GPU MB "
              "| limit MB | under it |", "|---:|---|---|---:|---|---:|---:|---|"]
    for s in summaries:
        for r in s["rows"]:
            lines.append(f"| {s['share']:g} | {r['trial_id']} | {r['status']} | {r['epochs']} | {r['gpu_ids'] or '-'} "
                         f"| {_f(r['peak_mb'])} | {_limit(s['limit_mb'])} | {_verdict(r['under'])} |")
    lines += ["", "## Notes", "", *_notes(summaries)]
    return "\n".join(lines) + "\n"


def _notes(summaries: list[dict[str, Any]]) -> list[str]:
    notes = [
        "- Trials per minute: completed trials (every epoch; only the budget stops one early) over the trial phase, "
        "from the first trial's start to the last one's end (`started_at`, `ended_at` in trials.parquet).",
        "- Peak GPU MB: the trial's `gpu_peak_mb` (TensorFlow's allocator peak, "
        "`tf.config.experimental.get_memory_info`). The limit is what the worker gave TensorFlow for a fractional "
        f"share: share x the GPU's memory - {GPU_RESERVE_MB} MB for the CUDA context "
        "(`gpu_memory_limit_mb` in `orchestrator/training/worker.py`); a whole GPU gets memory growth and no limit "
        "(then \"under it\" compares with the GPU's memory).",
    ]
    for s in summaries:
        if s["failed"]:
            notes.append(f"- At {s['share']:g} GPU per trial `sweep run` failed ({s['failed']}).")
        if s["no_peak_column"]:
            notes.append(f"- At {s['share']:g}: trials.parquet has no `gpu_peak_mb` column (a tree before it).")
        elif s["rows"] and s["peak_max_mb"] is None:
            notes.append(f"- At {s['share']:g}: no trial counted GPU memory: TensorFlow ran them without the GPU "
                         "(no CUDA libraries? `pip install '.[gpu]'`).")
    return notes


def machine_info(gpus: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Where and when the check ran (the GPUs, CPUs, versions, code)."""
    versions = []
    for name in ("tensorflow", "keras", "ray"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} absent")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"gpus": gpus, "cpus": os.cpu_count(), "platform": platform.platform(), "commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": ", ".join(versions), "samples": args.samples, "epochs": args.epochs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=8, help="trials per run (search.num_samples)")
    ap.add_argument("--epochs", type=int, default=15, help="epochs per trial (model.epochs)")
    ap.add_argument("--budget", type=int, default=170, help="wall-clock cap of each run, seconds")
    ap.add_argument("--md", type=Path, default=MD_PATH, help="where to write the page")
    args = ap.parse_args(argv)
    gpus = gpu_inventory()
    if not gpus:
        print("gpu_check: no GPU on this machine (nvidia-smi lists none): nothing run, nothing written")
        return 0
    command = "python benchmarks/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:])
    summaries = []
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        for share in SHARES:
            print(f"gpu_check: {args.samples} trials at {share:g} GPU per trial ...", flush=True)
            summaries.append(summarise(run_share(share, args, Path(tmp)), gpus[0]["memory_mb"]))
            s = summaries[-1]
            print(f"gpu_check:   {s['completed']}/{s['trials']} trials completed in {s['wall_s']:.0f} s"
                  f"{'; ' + s['failed'] if s['failed'] else ''}", flush=True)
    args.md.write_text(render(machine_info(gpus, args), command.strip(), summaries))
    print(f"gpu_check: wrote {args.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
