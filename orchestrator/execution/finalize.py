"""The end of every run, whatever its strategy: diagnose, select on validation, test once, write.

:func:`finalize` is the one tail of a run: every trial's learning curve is diagnosed, the trial
with the best validation metric is selected, the strategy scores it on the test split (the only
time a run reads that split), and the tables and the final run.json are written. Imports Ray
nowhere (the strategy's evaluation does).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from .context import RunResult

if TYPE_CHECKING:
    from .. import data as data_mod
    from ..results import RunTables
    from .context import RunContext
    from .strategies import Strategy

__all__ = ["finalize", "diagnose_trials", "test_only", "write_results"]


def diagnose_trials(tables: RunTables, baseline: float) -> None:
    """Label every trial's learning curve (see :func:`orchestrator.diagnosis.diagnose`)."""
    from ..diagnosis import diagnose

    for tid, t in tables.trials.items():
        if t.status == "error" and not tables.curve(tid, "train_loss"):
            continue
        d = diagnose(tables.curve(tid, "train_loss"), tables.curve(tid, "val_loss"),
                     diverged=t.status == "diverged", baseline_loss=baseline)
        tables.diagnoses[tid] = {"label": d.label, "reason": d.reason, "stop_epoch": d.stop_epoch,
                                 "figures": d.figures}


def test_only(prepared: data_mod.Prepared) -> data_mod.Prepared:
    """The prepared data with train/val emptied: the final evaluation sees the test split only."""
    from .. import data as data_mod

    empty = data_mod.Split(prepared.test.X[:0], prepared.test.y[:0])
    return dataclasses.replace(prepared, train=empty, val=empty)


def finalize(ctx: RunContext, strategy: Strategy) -> RunResult:
    """End a run whose search is over: the trials still running are stopped (``ctx.stopped_reason``),
    curves are diagnosed, the best trial on validation is selected and tested once, the
    strategy tidies up, and the results are written (:func:`write_results`)."""
    from ..training import TrialData, baseline_loss

    tables, prepared = ctx.tables, ctx.prepared
    for tid, t in tables.trials.items():
        if t.status == "running":  # never ended (driver interrupted, or the time budget ran out)
            tables.trial_ended(tid, "stopped", ctx.stopped_reason)
    ctx.phase = "the final evaluation"
    diagnose_trials(tables, baseline_loss(prepared.task, prepared.n_classes, prepared.train.y))
    selected = tables.select_best()
    test_metrics: dict[str, float] = {}
    if selected is not None:
        test_metrics = strategy.evaluate(ctx, selected, TrialData.of(test_only(prepared), splits=("test",)))
        tables.selected = selected
        tables.test_metrics = test_metrics
    strategy.tidy(ctx)
    ctx.phase = "writing the results"
    return write_results(ctx, selected, test_metrics)


def write_results(ctx: RunContext, selected: str | None, test_metrics: dict[str, float]) -> RunResult:
    """Write the tables and the final run.json (and copy them to the run's URI); print the compute line."""
    from ..results import clean_json, write_json

    tables, info, spec = ctx.tables, ctx.info, ctx.spec
    tables.flush(ctx.run_dir)
    counts: dict[str, int] = {}
    for t in tables.trials.values():
        counts[t.status] = counts.get(t.status, 0) + 1
    best_value = tables.best(selected)[0] if selected else None
    ended = time.time()
    search_end = info.pop("search_ended_at", ended)
    info["budget"]["search_elapsed_s"] = search_end - info["started_at"]
    info.update({
        "status": "complete" if selected else "no_result",
        "ended_at": ended,
        "elapsed_s": ended - info["started_at"],
        "counts": counts,
        "compute": tables.compute(),
        "selected": None if not selected else {
            "trial_id": selected, "config": tables.trials[selected].config,
            f"best_{spec.metric_name}": best_value, "best_epoch": tables.best(selected)[1], **test_metrics,
        },
    })
    write_json(clean_json(info), ctx.run_dir / "run.json")
    if ctx.mirror is not None:
        ctx.mirror.push()
    ctx.view.print(compute_line(info["compute"]))
    return RunResult(ctx.location, info["run_id"], info["status"], selected, best_value, test_metrics, counts,
                     spec.metric_name)


def compute_line(c: dict[str, Any]) -> str:
    """The line saying what the run's trials cost and what early stopping saved."""
    return (f"compute: {c['epochs_trained']} epochs in {c['trial_seconds']:.1f} trial-seconds; training every "
            f"trial to its full length: {c['epochs_full']} epochs, ~{c['trial_seconds_full']:.1f} trial-seconds "
            f"(early stopping saved {100 * c['epochs_saved_fraction']:.0f}% of epochs)")
