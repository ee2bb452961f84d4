"""benchmarks/gpu_check.py: the page it writes from two runs' trials, and its one line without a GPU.

The GPU runs themselves need a GPU machine; here the figures and the page are checked on trials
frames shaped like ``trials.parquet`` (no Ray, no TensorFlow).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
H100_MIB = 81559.0  # what nvidia-smi reports for an H100 80GB HBM3


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def _trials(peaks: list[float | None], statuses: list[str] | None = None, *, span_s: float = 60.0,
            peak_column: bool = True) -> pd.DataFrame:
    """A trials.parquet-like frame: trials started together, the last ending ``span_s`` later."""
    n = len(peaks)
    start = pd.Timestamp("2026-01-01T00:00:00Z")
    df = pd.DataFrame({
        "trial_id": [f"t{i}" for i in range(n)],
        "status": statuses or ["completed"] * n,
        "epochs": [15] * n,
        "gpu_ids": ["0"] * n,
        "started_at": [start] * n,
        "ended_at": [start + pd.Timedelta(seconds=span_s * (i + 1) / n) for i in range(n)],
    })
    if peak_column:
        df["gpu_peak_mb"] = pd.array(peaks, dtype="Float64")
    return df


def _machine() -> dict:
    return {"gpus": [{"index": "0", "name": "NVIDIA H100 80GB HBM3", "memory_mb": H100_MIB, "driver": "570.1"}],
            "cpus": 16, "platform": "Linux-test", "commit": "abc123", "date": "2026-01-01T00:00:00+00:00",
            "versions": "tensorflow 2.21.0", "samples": 4, "epochs": 15}


def _run(share: float, trials: pd.DataFrame | None, failed: str = "") -> dict:
    return {"share": share, "trials": trials, "wall_s": 95.0, "gpu_used_peak_mb": 9000.0, "failed": failed}


def test_the_page_shows_each_share_its_limit_trials_per_minute_and_that_every_trial_stayed_under(gpu_check):
    quarter = gpu_check.summarise(_run(0.25, _trials([812.5, 1200.0, 950.0, 1010.0])), H100_MIB)
    whole = gpu_check.summarise(_run(1.0, _trials([1500.0, 1400.0, 1450.0, 1300.0], span_s=120.0)), H100_MIB)
    limit = gpu_check.gpu_memory_limit_mb(H100_MIB, 0.25)  # what the worker gave TensorFlow
    assert quarter["limit_mb"] == limit == int(H100_MIB / 4 - gpu_check.GPU_RESERVE_MB)
    assert quarter["per_minute"] == pytest.approx(4.0) and whole["per_minute"] == pytest.approx(2.0)
    assert quarter["all_under"] is True and whole["all_under"] is True and whole["limit_mb"] is None
    page = gpu_check.render(_machine(), "python benchmarks/gpu_check.py --samples 4", [quarter, whole])
    assert "NVIDIA H100 80GB HBM3 (81559 MiB)" in page and "2026-01-01T00:00:00+00:00" in page
    assert f"| 0.25 | 4 (4, 0) | 95 | 60 | 4.0 | 1200 | {limit} | yes | 9000 |" in page
    assert "| 1 | 4 (4, 0) | 95 | 120 | 2.0 | 1500 | none (memory growth) | yes | 9000 |" in page
    assert f"| 0.25 | t1 | completed | 15 | 0 | 1200 | {limit} | yes |" in page


def test_a_trial_past_its_limit_is_flagged(gpu_check):
    s = gpu_check.summarise(_run(0.25, _trials([900.0, 25000.0])), H100_MIB)
    assert s["all_under"] is False
    page = gpu_check.render(_machine(), "cmd", [s])
    assert "| 0.25 | t1 | completed | 15 | 0 | 25000 |" in page and "**NO**" in page


def test_trials_that_counted_no_gpu_memory_say_tensorflow_ran_without_the_gpu(gpu_check):
    s = gpu_check.summarise(_run(0.25, _trials([None, None])), H100_MIB)
    assert s["peak_max_mb"] is None and s["all_under"] is None
    page = gpu_check.render(_machine(), "cmd", [s])
    assert "TensorFlow ran them without the GPU" in page
    absent = gpu_check.render(_machine(), "cmd", [gpu_check.summarise(_run(1.0, _trials([1.0], peak_column=False)),
                                                                     H100_MIB)])
    assert "no `gpu_peak_mb` column" in absent


def test_a_failed_run_and_an_error_trial_are_reported(gpu_check):
    s = gpu_check.summarise(_run(1.0, _trials([700.0, None], ["completed", "error"]), failed="exit 1: boom"), H100_MIB)
    assert (s["completed"], s["errors"]) == (1, 1)
    page = gpu_check.render(_machine(), "cmd", [s, gpu_check.summarise(_run(0.25, None, "killed after 215 s"),
                                                                       H100_MIB)])
    assert "`sweep run` failed (exit 1: boom)" in page and "(killed after 215 s)" in page
    assert "| 0.25 | 0 (0, 0) | 95 | n/a | n/a |" in page


def test_without_a_gpu_it_says_so_in_one_line_and_writes_nothing(tmp_path):
    md = tmp_path / "gpu_check.md"
    env = {**os.environ, "PATH": str(tmp_path)}  # no nvidia-smi to be found
    p = subprocess.run([sys.executable, str(SCRIPT), "--md", str(md)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines() == [
        "gpu_check: no GPU on this machine (nvidia-smi lists none): nothing run, nothing written"]
    assert not md.exists()
