"""The end of every run, whatever its strategy: diagnose, select on validation, test once, write.

:func:`finalize` is the one tail of a run: every trial's learning curve is diagnosed, the trial
with the best validation metric is selected, the strategy scores it on the test split (the only
time a run reads that split; a refit's epochs become ``refit_epochs.parquet``), and the tables
and the final run.json are written. Imports Ray nowhere (the strategy's evaluation does).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any

from ..results.status import UNTRAINED_WHY
from .context import RunResult

if TYPE_CHECKING:
    from .. import data as data_mod
    from ..results import RunTables
    from ..strategy import RunContext, Strategy

__all__ = ["finalize", "diagnose_trials", "test_only", "write_results", "no_test_reason", "compute_line"]


def diagnose_trials(tables: RunTables, baseline: float) -> None:
    """Label every trial's learning curve (see :func:`orchestrator.decisions.diagnosis.diagnose`); a
    trial that recorded no epoch has none (``diagnosis`` null)."""
    from ..decisions.diagnosis import diagnose

    for tid, t in tables.trials.items():
        if not tables.curve(tid, "train_loss"):  # no epoch recorded (failed, or stopped before it): no curve
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
    selected = choose(ctx)
    test_metrics: dict[str, float | None] = {}
    if selected is not None:
        refit_epochs = refit_epochs_of(ctx, selected)
        data = (TrialData.of(prepared, splits=("train", "val", "test")) if refit_epochs
                else TrialData.of(test_only(prepared), splits=("test",)))
        outcome = strategy.evaluate(ctx, selected, data, refit_epochs)
        tables.selected = selected
        if outcome is not None:
            no_test = no_test_reason(ctx)
            # no test split: the model is exported unscored; its test columns are there, null
            test_metrics = outcome.metrics if not no_test else dict.fromkeys(unscored_columns(tables, selected))
            tables.test_metrics = test_metrics
            if no_test:
                ctx.view.print(f"note: no test split ({no_test}): the selected model is exported without a test score")
            if refit_epochs:
                tables.refit = {"refit": ctx.spec.final.refit, "refit_epochs": refit_epochs}
                tables.record_refit(selected, outcome.refit_rows)  # RUN_DIR/refit_epochs.parquet
                note_refit_divergence(ctx, outcome.refit_rows)
            ctx.phase = "exporting the selected model"
            export_model(ctx, selected, outcome, test_metrics)
    strategy.tidy(ctx)
    ctx.phase = "writing the results"
    return write_results(ctx, selected, test_metrics)


def choose(ctx: RunContext) -> str | None:
    """The one trial the run keeps, on validation only: the best first objective among the
    selectable trials, or -- with several objectives, constraints or another select rule -- what
    the rule picks among the feasible ones (:meth:`~orchestrator.results.RunTables.selection`),
    whose objectives, constraints, choice and front go into run.json. No feasible trial: why, in
    one line (the constraint that ruled out most trials, the closest trial), printed and kept."""
    tables = ctx.tables
    selection = tables.selection()
    ctx.info.update(tables.goals.to_json())
    if selection is None:
        return tables.select_best()
    ctx.info["feasible_count"] = sum(bool(v) for v in selection.feasible.values())
    ctx.info["front"] = [{"trial_id": tid, **{n: json_value(tables.values(tid)[n])
                                             for n in tables.goals.objective_names()}}
                         for tid in selection.front]
    ctx.info["select"] = {**ctx.info["select"], "selected": selection.selected, "why": selection.why}
    if selection.selected is None and selection.reason:
        ctx.info["no_result_reason"] = selection.reason
        ctx.view.print(f"no feasible trial: {selection.reason}")
    return selection.selected


def no_test_reason(ctx: RunContext) -> str | None:
    """Why the run has no test split to score (``data.split.test is 0``), or None when it has one."""
    if len(ctx.prepared.test):
        return None
    split = getattr(getattr(ctx.spec, "data", None), "split", None)
    return "data.split.test is 0" if split is not None and not split.test else "the test split has no rows"


def unscored_columns(tables: RunTables, selected: str) -> list[str]:
    """The test columns a scored model would have had: ``test_<m>`` for each ``val_<m>`` the
    selected trial reported (``test_loss``, ``test_accuracy``)."""
    return [f"test_{k[4:]}" for k in tables.epoch_fields
            if k.startswith("val_") and any(math.isfinite(v) for v in tables.curve(selected, k))]


def json_value(v: float) -> float | None:
    """``v`` for run.json (JSON has no NaN: None)."""
    return float(v) if math.isfinite(v) else None


def refit_epochs_of(ctx: RunContext, selected: str) -> int | None:
    """``final: {refit: train+val}``: the epochs to train the selected configuration for (those at
    which it was best on validation); None: score its checkpoint."""
    if ctx.spec.final.refit == "none":
        return None
    return max(1, int(ctx.tables.best(selected)[1] or 1))


def note_refit_divergence(ctx: RunContext, rows: Any) -> None:
    """Say in one line when the refit diverged: the divergence guard stopped it, and the model
    scored and exported is the one it stopped at (its rows in refit_epochs.parquet say so too)."""
    diverged = next((r for r in rows if r.get("diverged")), None)
    if diverged is not None:
        ctx.view.print(f"note: the refit on train+val diverged at epoch {diverged['epoch']} and was stopped; "
                       "the test score is that model's (see refit_epochs.parquet)")


def export_model(ctx: RunContext, selected: str, outcome: Any, test_metrics: dict[str, float | None]) -> None:
    """Write ``RUN_DIR/model/`` (:func:`orchestrator.serving.write_model_dir`) and point run.json to
    it; a model that could not be exported is said in one line and in run.json, and the run stands."""
    from ..serving import MODEL_DIR, write_model_dir

    if outcome.exported is None:
        ctx.info["model"] = {"path": None, "error": outcome.export_error}
        ctx.view.print(f"note: the selected model was scored but not exported ({outcome.export_error})")
        return
    spec, prepared, tables = ctx.spec, ctx.prepared, ctx.tables
    best, best_epoch = tables.best(selected)
    model_info = {
        "run_id": ctx.info.get("run_id"), "trial_id": selected, "spec_name": spec.name,
        "config": tables.trials[selected].config,
        "metric": {"name": spec.metric_name, "mode": spec.mode, "best": best, "best_epoch": best_epoch},
        "test_metrics": test_metrics,
        "refit": spec.final.refit, "refit_epochs": outcome.refit_epochs,
        "task": prepared.task, "target": prepared.target, "classes": prepared.preprocessing.get("classes", []),
        "input_shape": list(prepared.input_shape), "data": {"name": prepared.report.get("name"),
                                                            "source": prepared.report.get("source", "table")},
        "family": str(spec.model.kind), "builder": spec.model.builder,
        **model_goals(tables, selected),
        "versions": ctx.info.get("versions", {}),
        "created_at": time.time(),
    }
    write_model_dir(ctx.run_dir, model_info, prepared.preprocessing, outcome.exported, prepared.test_rows)
    ctx.info["model"] = {"path": MODEL_DIR, "file": f"{MODEL_DIR}/model.keras", "refit": spec.final.refit,
                         "custom_objects": outcome.exported.custom_objects}


def model_goals(tables: RunTables, selected: str) -> dict[str, Any]:
    """What model.json says of the model's trade-offs: its ``costs`` (``params``, ``model_bytes``,
    ``latency_ms``, ..., as measured when its trial built it; ``train_seconds`` its trial's), its
    ``objectives`` with its value of each (a metric at its best epoch) and the run's
    ``constraints``; a deployment reads whether it fits its limits there without the run."""
    values = tables.values(selected)
    goals = tables.goals.to_json()
    return {"costs": tables.trial_costs(selected), "constraints": goals["constraints"],
            "objectives": [{**o, "value": json_value(values[o["name"]])} for o in goals["objectives"]]}


def write_results(ctx: RunContext, selected: str | None, test_metrics: dict[str, float | None]) -> RunResult:
    """Write the tables and the final run.json (and copy them to the run's URI); print the compute line."""
    from ..results import clean_json, write_json
    from ..results.reading import score_line_of
    from ..storage import RUN_FILES

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
            **tables.refit, **selected_values(tables, selected),
        },
    })
    write_json(clean_json(info), ctx.run_dir / "run.json")
    if ctx.mirror is not None:
        from ..serving import MODEL_DIR, MODEL_FILES

        # the model before run.json (which points to it), so a reader never finds the pointer first
        model_files = tuple(f"{MODEL_DIR}/{n}" for n in MODEL_FILES) if info.get("model", {}).get("path") else ()
        ctx.mirror.push(tuple(n for n in RUN_FILES if n != "run.json") + model_files + ("run.json",))
    ctx.view.print(compute_line(info["compute"]))
    model_file = (info.get("model") or {}).get("file")
    scored = {k: v for k, v in test_metrics.items() if v is not None}  # none without a test split
    return RunResult(ctx.location, info["run_id"], info["status"], selected, best_value, scored, counts,
                     spec.metric_name, None if not model_file else f"{ctx.location}/{model_file}",
                     reason=info.get("no_result_reason"), why=(info.get("select") or {}).get("why"),
                     test_line=score_line_of(info) if selected else "")


def selected_values(tables: RunTables, selected: str) -> dict[str, float | None]:
    """The selected trial's other objectives (``best_<name>``) and its model's costs, for run.json
    (nothing more with one objective and no constraint)."""
    if not tables.goals.ranked:
        return {}
    values = tables.values(selected)
    out = {f"best_{n}": json_value(values[n]) for n in tables.goals.objective_names()[1:]}
    return {**out, **{k: json_value(v) for k, v in tables.trials[selected].costs.items()}}


def compute_line(c: dict[str, Any]) -> str:
    """The line saying what the run's trials cost and what early stopping saved: only the epochs a
    stop decision saved are early stopping's; those of failed trials, of an interrupted run or past
    a time budget are said apart (``epochs_untrained``: :meth:`RunTables.compute`)."""
    full, untrained = c["epochs_full"], c["epochs_untrained"]

    def pct(why: str) -> str:
        return f"{100 * untrained.get(why, 0) / full if full else 0.0:.0f}%"

    others = [f"{pct(k)} because {words}" for k, words in UNTRAINED_WHY.items() if untrained.get(k)]
    return (f"compute: {c['epochs_trained']} epochs in {c['trial_seconds']:.1f} trial-seconds; training every "
            f"trial to its full length: {full} epochs, ~{c['trial_seconds_full']:.1f} trial-seconds "
            f"(early stopping saved {pct('early_stopping')} of epochs"
            + (f"; not trained: {', '.join(others)}" if others else "") + ")")
