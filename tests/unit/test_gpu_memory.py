"""Each trial's peak GPU memory: a column of trials.parquet where a GPU is used, null without one.

The worker adds ``gpu_peak_mb`` to every epoch row of a trial that runs on a GPU (TensorFlow's
memory info); the table keeps the trial's largest. No TensorFlow here: rows are scripted, and the
CPU path is checked to ask TensorFlow nothing.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from orchestrator.results import RunTables


def _tables() -> RunTables:
    tables = RunTables("r1", "val_accuracy", "max", resources={"cpu": 1.0, "gpu": 0.5})
    for tid, peaks in {"gpu_trial": [310.5, 402.0, 398.25], "cpu_trial": [None, None]}.items():
        tables.trial_started(tid, {"learning_rate": 0.01})
        for epoch, peak in enumerate(peaks, start=1):
            row = {"epoch": epoch, "val_accuracy": 0.5, "train_loss": 1.0, "val_loss": 1.0}
            if peak is not None:
                row["gpu_peak_mb"] = peak
            tables.epoch(tid, row)
        tables.trial_ended(tid, "completed", "max_epochs")
    return tables


def test_trials_parquet_holds_each_trials_peak_gpu_memory_and_null_without_a_gpu(tmp_path) -> None:
    _tables().flush(tmp_path)
    trials = pd.read_parquet(tmp_path / "trials.parquet").set_index("trial_id")
    assert trials.loc["gpu_trial", "gpu_peak_mb"] == 402.0  # the largest of its epochs
    assert pd.isna(trials.loc["cpu_trial", "gpu_peak_mb"])
    epochs = pd.read_parquet(tmp_path / "epochs.parquet")
    assert list(epochs[epochs.trial_id == "gpu_trial"]["gpu_peak_mb"]) == [310.5, 402.0, 398.25]


def test_the_column_survives_a_resume_from_the_journal(tmp_path) -> None:
    journal = tmp_path / "journal.jsonl"
    tables = RunTables("r1", "val_accuracy", "max")
    tables.open_journal(journal)
    tables.trial_started("t", {"learning_rate": 0.01})
    tables.epoch("t", {"epoch": 1, "val_accuracy": 0.5, "gpu_peak_mb": 123.0})
    tables.close_journal()
    replayed = RunTables.replay(journal, "r1", "val_accuracy", "max")
    assert replayed.trials_frame().set_index("trial_id").loc["t", "gpu_peak_mb"] == 123.0


def test_without_a_gpu_the_worker_asks_tensorflow_nothing() -> None:
    code = ("import sys; from orchestrator.training import worker; "
            "print(worker.visible_gpus(), worker.gpu_peak_mb(worker.visible_gpus()), "
            "worker.reset_gpu_peak(()), 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["()", "None", "None", "False"]
