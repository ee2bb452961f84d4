"""The end of a run with a stand-in strategy (no Ray, no TensorFlow): the test split is handed to
exactly one evaluation, with or without a refit, and what it returns becomes RUN_DIR/model/ and
the selected row's figures."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from orchestrator.data import load_for
from orchestrator.execution.context import RunContext
from orchestrator.execution.finalize import compute_line, finalize
from orchestrator.progress import ProgressView
from orchestrator.results import RunTables, load
from orchestrator.results.reading import score_line, score_line_of
from orchestrator.serving import Exported
from orchestrator.spec import load_spec


class OneLookStrategy:
    """Records every evaluation it is asked for; scores the test split as a stand-in would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, int | None]] = []

    def evaluate(self, ctx, selected, data, refit_epochs=None):
        self.calls.append((selected, data, refit_epochs))
        n, k = len(data.test.y), max(ctx.prepared.n_classes, 1)
        outputs = np.full((n, k), 1.0 / k, dtype=np.float32)
        outputs[np.arange(n), data.test.y] += 0.5  # a perfect stand-in
        outputs /= outputs.sum(axis=1, keepdims=True)
        # a refit reports its epochs as a trial does (no validation split: val_* NaN), lr halving each epoch
        rows = tuple({"epoch": e, "learning_rate": 0.01 * 0.5 ** (e - 1), "train_loss": 1.0 / e,
                      "val_loss": float("nan"), "diverged": False, "objective": -1e30, "stop_reason": ""}
                     for e in range(1, (refit_epochs or 0) + 1))
        return SimpleNamespace(metrics={"test_accuracy": 1.0, "test_loss": 0.1}, refit_epochs=refit_epochs,
                               exported=Exported(b"not a real keras file", outputs, "probabilities", [], {}),
                               export_error=None, refit_rows=rows)

    def tidy(self, ctx) -> None:
        pass


def context(tmp_path, refit: str, test: float = 0.1, terminal: io.StringIO | None = None) -> RunContext:
    spec = load_spec("search_spaces/quickstart.yaml")
    spec = spec.with_overrides(final=spec.final.model_copy(update={"refit": refit}))
    if test != 0.1:  # train takes what test gives up
        split = spec.data.split.model_copy(update={"train": 0.8 - test, "test": test})
        spec = spec.with_overrides(data=spec.data.model_copy(update={"split": split}))
    _raw, prepared = load_for(spec)
    tables = RunTables("r1", spec.metric_name, spec.mode)
    for tid, curve in {"t_00000": [0.5, 0.7, 0.6], "t_00001": [0.8, 0.9, 0.85]}.items():
        tables.trial_started(tid, {"learning_rate": 0.01, "units": 16})
        for epoch, value in enumerate(curve, start=1):
            tables.epoch(tid, {"epoch": epoch, "val_accuracy": value, "objective": value, "val_loss": 1 - value,
                               "train_loss": 1 - value})
        tables.trial_ended(tid, "completed", "max_epochs")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    view = ProgressView("t", 2, spec.metric_name, spec.mode, [], console=Console(file=terminal or io.StringIO(),
                                                                                 width=300),
                        interactive=False)
    info = {"run_id": "r1", "started_at": 0.0, "budget": {}, "versions": {}, "spec": spec.to_dict(),
            "data": prepared.report}  # as run.json has them
    return RunContext(spec, prepared, tables, info, run_dir, view, sink=None)


@pytest.mark.parametrize("refit", ["none", "train+val"])
def test_the_test_split_reaches_one_evaluation_and_its_model_is_exported(tmp_path, refit: str) -> None:
    ctx = context(tmp_path, refit)
    strategy = OneLookStrategy()
    result = finalize(ctx, strategy)
    (selected, data, refit_epochs), = strategy.calls  # one evaluation, one look at the test split
    n_test = len(ctx.prepared.test)
    assert selected == "t_00001" and len(data.test.y) == n_test > 0
    if refit == "none":
        assert refit_epochs is None and len(data.train.y) == len(data.val.y) == 0
    else:  # trained on train+val for the epochs at which the trial was best (epoch 2)
        assert refit_epochs == 2
        assert (len(data.train.y), len(data.val.y)) == (len(ctx.prepared.train), len(ctx.prepared.val))
    info = json.loads((ctx.run_dir / "run.json").read_text())
    sel = info["selected"]
    assert sel["best_val_accuracy"] == 0.9 and sel["test_accuracy"] == 1.0
    assert sel.get("refit") == (None if refit == "none" else "train+val")
    trials = pd.read_parquet(ctx.run_dir / "trials.parquet")
    row = trials[trials["is_selected"]].iloc[0]
    assert row["best_val_accuracy"] == 0.9 and row["test_accuracy"] == 1.0
    # the exported model: run.json points to it, its test predictions sit next to the raw test rows
    assert info["model"]["path"] == "model" and result.model.endswith("model/model.keras")
    done = pd.read_parquet(ctx.run_dir / "model" / "test_predictions.parquet")
    assert len(done) == n_test and (done["prediction"] == done["target"]).all()
    meta = json.loads((ctx.run_dir / "model" / "model.json").read_text())
    assert meta["trial_id"] == "t_00001" and meta["refit"] == refit and meta["classes"] == list(range(10))
    assert sorted(p.name for p in (ctx.run_dir / "model").iterdir()) == [
        "model.json", "model.keras", "preprocessing.json", "test_predictions.parquet"]
    assert not [p for p in ctx.run_dir.iterdir() if p.name.startswith(".model")]  # no temporary left


@pytest.mark.parametrize("refit", ["none", "train+val"])
def test_a_refit_leaves_its_epochs_beside_the_trials_and_load_reads_them(tmp_path, refit: str) -> None:
    ctx = context(tmp_path, refit)
    finalize(ctx, OneLookStrategy())
    run = load(ctx.run_dir)
    if refit == "none":
        assert not (ctx.run_dir / "refit_epochs.parquet").exists() and run.refit_epochs.empty
        return
    refit_epochs = pd.read_parquet(ctx.run_dir / "refit_epochs.parquet")
    epochs = pd.read_parquet(ctx.run_dir / "epochs.parquet")
    # the selected trial's id, one row per refit epoch (its best epoch: 2), epochs.parquet's columns
    assert list(refit_epochs["trial_id"]) == ["t_00001", "t_00001"] and list(refit_epochs["epoch"]) == [1, 2]
    assert set(refit_epochs.columns) <= set(epochs.columns) | {"learning_rate", "diverged"}
    assert list(refit_epochs["learning_rate"]) == [0.01, 0.005] and refit_epochs["val_loss"].isna().all()
    pd.testing.assert_frame_equal(run.refit_epochs, refit_epochs)


@pytest.mark.parametrize("refit", ["none", "train+val"])
def test_without_a_test_split_the_model_is_exported_unscored_and_the_run_says_so(tmp_path, refit: str) -> None:
    terminal = io.StringIO()
    ctx = context(tmp_path, refit, test=0.0, terminal=terminal)
    assert len(ctx.prepared.test) == 0
    result = finalize(ctx, OneLookStrategy())
    printed = terminal.getvalue()
    assert "note: no test split (data.split.test is 0): the selected model is exported without a test score" in printed
    # the schema stays: the test columns are there, null; run.json's selected says null, not a number
    info = json.loads((ctx.run_dir / "run.json").read_text())
    assert info["status"] == "complete" and info["selected"]["test_accuracy"] is None
    assert info["selected"]["test_loss"] is None
    trials = pd.read_parquet(ctx.run_dir / "trials.parquet")
    assert trials["test_accuracy"].isna().all() and trials["test_loss"].isna().all()
    assert result.test_metrics == {}
    # ... and the model is exported all the same, with no test rows to predict
    assert result.model.endswith("model/model.keras") and info["model"]["path"] == "model"
    meta = json.loads((ctx.run_dir / "model" / "model.json").read_text())
    assert meta["test_metrics"] == {"test_loss": None, "test_accuracy": None} and meta["refit"] == refit
    assert len(pd.read_parquet(ctx.run_dir / "model" / "test_predictions.parquet")) == 0
    want = "test (once): " if refit == "none" else "test (once, refit on train+val): "
    assert score_line_of(info) == result.test_line == want + "none (data.split.test is 0)"
    assert load(ctx.run_dir).test_line == result.test_line  # as `sweep run` prints it, from run.json


def test_the_test_line_says_which_model_was_scored(tmp_path) -> None:
    scores = {"test_accuracy": 0.95, "test_loss": 0.19651}
    assert score_line(scores) == "test (once): test_accuracy=0.9500 test_loss=0.1965"
    assert score_line(scores, "train+val") == "test (once, refit on train+val): test_accuracy=0.9500 test_loss=0.1965"
    assert score_line({}, "none", "data.split.test is 0") == "test (once): none (data.split.test is 0)"
    for refit in ("none", "train+val"):  # as a finished run's run.json has it
        (tmp_path / refit).mkdir()
        ctx = context(tmp_path / refit, refit)
        result = finalize(ctx, OneLookStrategy())
        info = json.loads((ctx.run_dir / "run.json").read_text())
        head = "test (once)" if refit == "none" else "test (once, refit on train+val)"
        assert score_line_of(info) == result.test_line == f"{head}: test_accuracy=1.0000 test_loss=0.1000"


def compute_of(trials: list[tuple[str, str, int, int]]) -> dict:
    """run.json's compute for trials ``(status, stop_reason, epochs trained, epochs configured)``."""
    tables = RunTables("r1", "val_accuracy", "max")
    for i, (status, reason, trained, planned) in enumerate(trials):
        tid = f"t_{i:05d}"
        tables.trial_started(tid, {"epochs": planned, "batch_size": 32})
        for epoch in range(1, trained + 1):
            tables.epoch(tid, {"epoch": epoch, "val_accuracy": 0.5, "train_loss": 1.0, "epoch_s": 1.0,
                               "trial_elapsed_s": float(epoch)})
        tables.trial_ended(tid, status, reason)
    return tables.compute()


def test_early_stopping_is_credited_only_with_the_epochs_a_stop_decision_saved() -> None:
    # every trial failed: nothing was early stopping's
    line = compute_line(compute_of([("error", "error", 0, 10), ("error", "error", 2, 10)]))
    assert "(early stopping saved 0% of epochs; not trained: 90% because trials failed)" in line
    # ASHA stopped one (6 of 40 epochs), one failed (5), one was interrupted (8), one ran out of budget (6)
    c = compute_of([("stopped", "asha_rung_0", 4, 10), ("error", "error", 5, 10), ("stopped", "interrupted", 2, 10),
                    ("stopped", "budget", 4, 10), ("completed", "max_epochs", 10, 10)])
    assert c["epochs_untrained"] == {"early_stopping": 6, "error": 5, "interrupted": 8, "budget": 6}
    line = compute_line(c)
    assert line.startswith("compute: 25 epochs in ")
    assert line.endswith("training every trial to its full length: 50 epochs, ~50.0 trial-seconds (early stopping "
                         "saved 12% of epochs; not trained: 10% because trials failed, 16% because the run was "
                         "interrupted, 12% because the time budget ran out)")
    # patience, a stopper and the divergence guard are stop decisions too; nothing else to say
    line = compute_line(compute_of([("stopped", "patience", 5, 10), ("stopped", "plateau", 5, 10),
                                    ("diverged", "diverged", 5, 10), ("completed", "max_epochs", 10, 10)]))
    assert line.endswith("(early stopping saved 38% of epochs)")


def test_a_regression_run_without_a_test_split_exports_its_model(tmp_path) -> None:
    from orchestrator.serving import write_model_dir

    empty = Exported(b"not a real keras file", np.zeros((0, 1), dtype=np.float32), "values", [], {})
    model_dir = write_model_dir(tmp_path, {"task": "regression", "classes": []}, {}, empty, None)
    assert len(pd.read_parquet(model_dir / "test_predictions.parquet")) == 0  # numpy cannot reshape 0 rows to (0, -1)


def test_a_trial_without_an_epoch_gets_no_diagnosis() -> None:
    """A trial a time budget ended before its first epoch has no curve: it is not `too_slow`."""
    from orchestrator.execution.finalize import diagnose_trials

    tables = RunTables("r", "val_loss", "min")
    tables.trial_started("trained", {})
    for epoch, loss in ((1, 2.0), (2, 1.0), (3, 0.5), (4, 0.3)):
        tables.epoch("trained", {"epoch": epoch, "train_loss": loss, "val_loss": loss, "trial_elapsed_s": epoch})
    tables.trial_ended("trained", "completed", "max_epochs")
    tables.trial_started("late", {})
    tables.trial_ended("late", "stopped", "budget")
    diagnose_trials(tables, baseline=2.3)
    frame = tables.trials_frame().set_index("trial_id")
    assert frame.loc["trained", "diagnosis"] == "good"
    assert pd.isna(frame.loc["late", "diagnosis"]) and pd.isna(frame.loc["late", "diagnosis_reason"])
