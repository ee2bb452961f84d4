"""The live tables of one run: :class:`RunTables`, filled while a sweep runs, journaled, and
flushed as Parquet.

Epoch rows are keyed by ``(trial_id, epoch)``: recording the same epoch twice replaces it
instead of duplicating it.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from .files import json_default, utc_timestamp, write_parquet
from .goals import COST_COLUMNS, MODEL_COST_COLUMNS, Goals, finite

if TYPE_CHECKING:
    from ..decisions.select import Selection

__all__ = ["RunTables", "EPOCH_FIELDS", "REFIT_EPOCHS"]


# Per-epoch fields copied from a trial's report into epochs.parquet (when present).
EPOCH_FIELDS = (
    "elapsed_s", "trial_elapsed_s", "epoch_s",
    "train_loss", "val_loss", "train_accuracy", "val_accuracy",
    "train_mae", "val_mae", "train_mse", "val_mse",
    "learning_rate", "diverged",
    "gpu_peak_mb",  # where a GPU is used: the trial's peak GPU memory so far (MB, summed over its GPUs)
)
REFIT_EPOCHS = "refit_epochs.parquet"  # the refit's epochs (final: {refit: train+val}), when there was one
_PLACEMENT_FIELDS = ("node_id", "node_ip", "pid", "gpu_ids", "cuda_visible_devices", "tf_intra_op_threads")


@dataclass
class _Trial:
    trial_id: str
    config: dict[str, Any]
    status: str = "running"
    stop_reason: str = ""
    error: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    placement: dict[str, Any] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1
    retries: int = 0  # restarts after a failure (Ray Tune's max_failures)
    costs: dict[str, float] = field(default_factory=dict)  # what its model costs (params, latency_ms, ...)
    infeasible: bool = False  # its model broke a cost constraint: it never trained
    # Each attempt (a Hyperband, median or PBT pause and resume, a retry, `sweep resume`) reports
    # its seconds from its own start: the seconds of the attempts before it are added to them.
    elapsed_before: float = 0.0


class RunTables:
    """In-memory trials, epochs and events of one run, written as Parquet on :meth:`flush`.

    Args:
        run_id: the run's id (a column of every table).
        metric: the spec's validation metric (e.g. ``val_accuracy``).
        mode: ``min`` or ``max``.
        strategy: ``parallel`` for Ray Tune sweeps, ``babysit`` for the babysitter.
        resources: per-trial ``{"cpu": .., "gpu": ..}`` recorded on each trial row.
        goals: several objectives, constraints, a select rule (:class:`~orchestrator.results.goals.Goals`);
            None: the one ``metric``, no constraint, the best trial.
    """

    def __init__(self, run_id: str, metric: str, mode: str, strategy: str = "parallel",
                 resources: dict[str, float] | None = None, goals: Goals | None = None) -> None:
        self.run_id = run_id
        self.metric = metric
        self.mode = mode
        self.goals = goals if goals is not None else Goals.single(metric, mode)
        # besides EPOCH_FIELDS, the metrics the objectives and constraints name (a builder's val_auc)
        self.epoch_fields = (*EPOCH_FIELDS, *(n for n in self.goals.metric_names() if n not in EPOCH_FIELDS))
        self.strategy = strategy
        self.resources = resources or {"cpu": 1.0, "gpu": 0.0}
        self.trials: dict[str, _Trial] = {}
        self.epochs: dict[tuple[str, int], dict[str, Any]] = {}
        # The same rows by trial, so one trial's curve costs its own epochs, not the run's (with
        # thousands of trials, scanning every epoch per query made the driver quadratic).
        self._epochs_of: dict[str, dict[int, dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.diagnoses: dict[str, dict[str, Any]] = {}
        self.selected: str | None = None
        self.test_metrics: dict[str, float] = {}
        self.refit: dict[str, Any] = {}  # final: {refit: train+val}: "refit" and "refit_epochs" of the selected row
        self.refit_rows: list[dict[str, Any]] = []  # ... and the refit's epochs (refit_epochs.parquet)
        self.node_ips: dict[str, str] = {}  # Ray node id -> the address Ray knows the node by
        self.search_ended_at: float | None = None  # when Ray Tune's experiment ended (the Tune event callback stamps it)

    # A journal (JSON lines, appended and flushed at every call) makes a run resumable after the
    # driver is killed: the Parquet files are rewritten every few seconds, the journal at once,
    # so it is always at least as recent as Ray Tune's own experiment snapshot.
    def open_journal(self, path: str | Path) -> None:
        """Append every recording call to ``path`` from now on.

        A last line the previous driver did not finish (killed mid-write) is ended first, so that
        it does not swallow the first line written now.
        """
        path = Path(path)
        torn = False
        if path.exists() and path.stat().st_size:
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
        self._journal = open(path, "a", encoding="utf-8")
        if torn:
            self._journal.write("\n")
            self._journal.flush()

    def close_journal(self) -> None:
        """Stop journaling (the end of the run, or of this driver)."""
        if getattr(self, "_journal", None) is not None:
            self._journal.close()
            self._journal = None

    def _log(self, kind: str, **data: Any) -> None:
        j = getattr(self, "_journal", None)
        if j is not None:
            j.write(json.dumps({"kind": kind, **data}, default=json_default) + "\n")
            j.flush()

    @classmethod
    def replay(cls, journal: str | Path, run_id: str, metric: str, mode: str, strategy: str = "parallel",
               resources: dict[str, float] | None = None, goals: Goals | None = None) -> "RunTables":
        """Rebuild a run's tables from its journal (a torn last line is ignored)."""
        tables = cls(run_id, metric, mode, strategy, resources, goals)
        with open(journal, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the driver died while writing this line
                kind = entry.pop("kind", None)
                if kind == "start":
                    tables.trial_started(entry["trial_id"], entry["config"], at=entry.get("at"))
                elif kind == "epoch":
                    tables.epoch(entry["trial_id"], entry["result"], at=entry.get("at"))
                elif kind == "end":
                    tables.trial_ended(entry["trial_id"], entry["status"], entry["stop_reason"],
                                       entry.get("error", ""), at=entry.get("at"),
                                       record_event=entry.get("record_event", True))
                elif kind == "event":
                    tables.event(**entry)
                elif kind == "config":
                    tables.set_config(entry["trial_id"], entry["config"])
                elif kind == "retry":
                    tables.trial_retried(entry["trial_id"], entry["reason"], entry.get("error", ""),
                                         at=entry.get("at"))
        return tables

    def trial_started(self, trial_id: str, config: dict[str, Any], at: float | None = None) -> None:
        """Called when a trial starts (again, after a failure or a resume: the attempt is counted).

        A trial that had already ended keeps its status until it ends again: Ray Tune restores its
        experiment from a snapshot taken every few seconds, so after a driver crash it may run a
        trial the journal already saw finish (from its last checkpoint, to the same end).
        """
        self._log("start", trial_id=trial_id, config=config, at=at or time.time())
        if trial_id in self.trials:
            t = self.trials[trial_id]
            t.attempts += 1
            t.elapsed_before = float(t.last.get("trial_elapsed_s") or 0.0)  # over its attempts so far
        else:
            self.trials[trial_id] = _Trial(trial_id, dict(config))

    def set_config(self, trial_id: str, config: dict[str, Any]) -> None:
        """Replace a trial's hyperparameters (PBT's exploit/explore)."""
        self._log("config", trial_id=trial_id, config=config)
        self.trials[trial_id].config = dict(config)

    def epoch(self, trial_id: str, result: dict[str, Any], at: float | None = None) -> None:
        """Record one epoch's report (idempotent per ``(trial_id, epoch)``).

        The model's costs (``params``, ``latency_ms``, ...) it carries are kept on the trial. The
        one row of an infeasible trial (``infeasible``: its model broke a cost constraint before
        its first epoch) records its costs and adds no epoch row.
        """
        at = at or time.time()
        keep = {k: v for k, v in result.items() if k in self.epoch_fields or k in _PLACEMENT_FIELDS
                or k in COST_COLUMNS or k in ("epoch", "started_at", "stop_reason", "diverged", "objective",
                                              "infeasible")}
        self._log("epoch", trial_id=trial_id, result=keep, at=at)
        t = self.trials.get(trial_id) or self.trials.setdefault(trial_id, _Trial(trial_id, {}))
        if finite(result.get("trial_elapsed_s")):  # the trial's seconds over all its attempts
            spent = t.elapsed_before + float(result["trial_elapsed_s"])
            total = {k: spent for k in ("trial_elapsed_s", "train_seconds") if k in result}
            result, keep = {**result, **total}, {**keep, **{k: v for k, v in total.items() if k in keep}}
        t.costs.update({k: float(result[k]) for k in MODEL_COST_COLUMNS if finite(result.get(k))})
        if result.get("infeasible"):
            t.infeasible, t.last, t.ended_at = True, keep, at
            if "started_at" in result and t.started_at is None:
                t.started_at = float(result["started_at"])
            return
        epoch = int(result["epoch"])
        row = {"run_id": self.run_id, "trial_id": trial_id, "epoch": epoch}
        for k in self.epoch_fields:
            if k in result:
                row[k] = result[k]
        self.epochs[(trial_id, epoch)] = row
        self._epochs_of.setdefault(trial_id, {})[epoch] = row
        if "started_at" in result and t.started_at is None:  # its first attempt's start
            t.started_at = float(result["started_at"])
        for k in _PLACEMENT_FIELDS:
            if k in result:
                t.placement[k] = result[k]
        t.last = keep
        t.ended_at = at

    def trial_retried(self, trial_id: str, reason: str, error: str, at: float | None = None) -> None:
        """A trial failed and Ray Tune restarts it from its last checkpoint: count it, add an event."""
        at = at or time.time()
        self._log("retry", trial_id=trial_id, reason=reason, error=error, at=at)
        t = self.trials.get(trial_id) or self.trials.setdefault(trial_id, _Trial(trial_id, {}))
        t.retries += 1
        self._add_event(trial_id, int(t.last.get("epoch", 0)), "error", "retry", reason, error[:500], at)

    def trial_ended(self, trial_id: str, status: str, stop_reason: str, error: str = "",
                    at: float | None = None, record_event: bool = True) -> None:
        """Record how a trial ended, and an event when something other than its budget stopped it
        (unless ``record_event`` is False: the babysitter records its own stops as events).

        An ``infeasible`` trial's reason names the first constraint its model broke
        (``constraint_params``), whichever strategy reported it.
        """
        at = at or time.time()
        if status == "infeasible" and trial_id in self.trials and not stop_reason.startswith("constraint_"):
            broken = self.broken_constraints(trial_id)
            stop_reason = f"constraint_{broken[0]}" if broken else "constraint"
        self._log("end", trial_id=trial_id, status=status, stop_reason=stop_reason, error=error, at=at,
                  record_event=record_event)
        t = self.trials.get(trial_id) or self.trials.setdefault(trial_id, _Trial(trial_id, {}))
        t.status, t.stop_reason, t.error = status, stop_reason, error
        t.ended_at = at
        if record_event and stop_reason not in ("max_epochs", ""):
            source = ("guard" if status == "diverged" else "early_stopping" if stop_reason == "patience"
                      else "error" if status == "error" else "constraint" if status == "infeasible"
                      else "stopper" if stop_reason in ("plateau", "experiment_plateau") else "scheduler")
            self._add_event(trial_id, int(t.last.get("epoch", 0)), source, "stop", stop_reason, error[:500], at)

    def event(self, trial_id: str, epoch: int, source: str, decision: str, reason: str, detail: str = "",
              at: float | None = None, old_value: float | None = None, new_value: float | None = None) -> None:
        """Append one intervention row to events.parquet (``old_value``/``new_value``: the learning
        rate before and after a babysitter's change)."""
        at = at or time.time()
        self._log("event", trial_id=trial_id, epoch=epoch, source=source, decision=decision, reason=reason,
                  detail=detail, at=at, old_value=old_value, new_value=new_value)
        self._add_event(trial_id, epoch, source, decision, reason, detail, at, old_value, new_value)

    def _add_event(self, trial_id: str, epoch: int, source: str, decision: str, reason: str, detail: str,
                   at: float, old_value: float | None = None, new_value: float | None = None) -> None:
        self.events.append({
            "run_id": self.run_id, "trial_id": trial_id, "epoch": epoch, "at": utc_timestamp(at),
            "source": source, "decision": decision, "reason": reason, "detail": detail,
            "old_value": math.nan if old_value is None else float(old_value),
            "new_value": math.nan if new_value is None else float(new_value),
        })

    # -- queries -----------------------------------------------------------------------------
    def curve(self, trial_id: str, column: str) -> list[float]:
        """One trial's per-epoch values of ``column`` in epoch order."""
        rows = self._epochs_of.get(trial_id, {})
        return [float(rows[e].get(column, math.nan)) for e in sorted(rows)]

    def best(self, trial_id: str) -> tuple[float, int]:
        """Best finite value of the metric and its epoch (``nan, 0`` when there is none)."""
        values = self.curve(trial_id, self.metric)
        # An epoch flagged diverged (the babysitter goes on after reverting it) is never the best.
        flags = self.curve(trial_id, "diverged")
        values = [math.nan if f == 1.0 else v for v, f in zip(values, flags)]
        # The reported epoch numbers, not positions: a trial PBT restored from a donor's
        # checkpoint goes on from the donor's epoch, so its epochs need not be 1, 2, 3, ...
        epochs = sorted(self._epochs_of.get(trial_id, {}))
        best, at = math.nan, 0
        for i, v in zip(epochs, values):
            if not math.isfinite(v):
                continue
            if math.isnan(best) or (v < best if self.mode == "min" else v > best):
                best, at = v, i
        return best, at

    def selectable(self) -> list[str]:
        """Trials eligible for selection: not diverged, errored or infeasible, with a finite best."""
        return [tid for tid, t in self.trials.items()
                if t.status not in ("diverged", "error", "running", "infeasible") and math.isfinite(self.best(tid)[0])]

    def select_best(self) -> str | None:
        """The trial with the best validation metric among :meth:`selectable` (ties: earliest)."""
        ids = self.selectable()
        if not ids:
            return None
        sign = 1 if self.mode == "min" else -1
        return min(ids, key=lambda tid: (sign * self.best(tid)[0], self.best(tid)[1]))

    def values(self, trial_id: str) -> dict[str, float]:
        """The trial's value of every objective and constraint name: a metric at its best epoch
        (best by the first objective), a cost as its model reported it, ``train_seconds`` as the
        trials table has it (NaN: unknown)."""
        t = self.trials[trial_id]
        _, at = self.best(trial_id)
        row = self._epochs_of.get(trial_id, {}).get(at, {}) if at else {}
        out: dict[str, float] = {}
        for name in self.goals.names():
            if name == "train_seconds":
                out[name] = _train_seconds(t)
            elif name in COST_COLUMNS:
                out[name] = float(t.costs.get(name, math.nan))
            else:
                v = row.get(name)
                out[name] = float(v) if finite(v) else math.nan
        return out

    def trial_costs(self, trial_id: str) -> dict[str, float]:
        """What the trial's model costs (``params``, ``model_bytes``, ``latency_ms``, ... as it
        reported them) and its ``train_seconds``: the finite ones."""
        t = self.trials[trial_id]
        out = {k: float(v) for k, v in t.costs.items() if finite(v)}
        if finite(_train_seconds(t)):
            out["train_seconds"] = _train_seconds(t)
        return out

    def broken_constraints(self, trial_id: str) -> list[str]:
        """The constraints the trial's values break (a value it does not have breaks none here)."""
        values = self.values(trial_id)
        return [n for n, b in self.goals.constraints.items() if finite(values.get(n)) and not b.allows(values[n])]

    def selection(self) -> Selection | None:
        """The run's select rule over its trials (:func:`orchestrator.decisions.select.select`): the
        chosen trial among the feasible :meth:`selectable` ones, feasibility, Pareto ranks, the
        front. None for a run with one objective and no constraint (:meth:`select_best` decides)."""
        if not self.goals.ranked:
            return None
        return self.goals.select(self._goal_rows(), self.selectable())

    def _goal_rows(self) -> list[dict[str, Any]]:
        """One row per trial for the select rule: ``trial_id``, ``best_<name>`` of every metric
        name, every cost by its name."""
        rows = []
        for tid in self.trials:
            row: dict[str, Any] = {"trial_id": tid}
            for name, v in self.values(tid).items():
                row[name if name in COST_COLUMNS else f"best_{name}"] = v
            rows.append(row)
        return rows

    def compute(self) -> dict[str, Any]:
        """Compute spent, and what training every trial to its configured length would have cost.

        A trial stopped early is extrapolated at a steady-state epoch time: its own epochs after
        the first (which carries set-up and tracing, counted once), or, for a trial stopped after
        one epoch, the median steady epoch of the run's trials with the same batch size.
        ``epochs_untrained`` splits the epochs not trained of that full length by why:
        ``early_stopping`` (a scheduler, stopper, patience, the divergence guard or the babysitter
        stopped the trial), ``error`` (it failed), ``interrupted`` (Ctrl-C), ``budget`` (a time budget
        ran out); only the first is what early stopping saved (:data:`.status.UNTRAINED_WHY` words
        the others).
        """
        import statistics

        steady_by_batch: dict[Any, list[float]] = {}
        for tid, t in self.trials.items():
            steady_by_batch.setdefault(t.config.get("batch_size"), []).extend(
                v for v in self.curve(tid, "epoch_s")[1:] if math.isfinite(v))
        all_steady = [v for vs in steady_by_batch.values() for v in vs]
        trained = len(self.epochs)
        seconds = full_epochs = full_seconds = 0.0
        untrained = {"early_stopping": 0, "error": 0, "interrupted": 0, "budget": 0}
        for tid, t in self.trials.items():
            if t.infeasible:  # never meant to train: neither spent nor saved by early stopping
                continue
            epoch_s = [v for v in self.curve(tid, "epoch_s") if math.isfinite(v)]
            n = len(self.curve(tid, "train_loss"))
            spent = float(t.last.get("trial_elapsed_s") or 0.0) if t.last else 0.0
            planned = int(t.config.get("epochs") or n)
            seconds += spent
            full_epochs += max(planned, n)
            why = ("error" if t.status == "error" else t.stop_reason if t.stop_reason in ("interrupted", "budget")
                   else "early_stopping")
            untrained[why] += max(0, planned - n)
            if n:
                pool = epoch_s[1:] or steady_by_batch.get(t.config.get("batch_size")) or all_steady or epoch_s
                per_epoch = statistics.median(pool) if pool else 0.0
                full_seconds += spent + per_epoch * max(0, planned - n)
        return {
            "epochs_trained": trained, "trial_seconds": seconds,
            "epochs_full": int(full_epochs), "trial_seconds_full": full_seconds,
            "epochs_saved_fraction": 1 - trained / full_epochs if full_epochs else 0.0,
            "trial_seconds_saved_fraction": 1 - seconds / full_seconds if full_seconds else 0.0,
            "epochs_untrained": untrained,
        }

    # -- frames ------------------------------------------------------------------------------
    def trials_frame(self) -> pd.DataFrame:
        """trials.parquet: one row per trial, with its best metric, its model's costs, placement,
        diagnosis and ``hp_*`` columns; with several objectives or constraints also ``best_<name>``
        of every objective, ``feasible`` and ``pareto_rank`` (see :meth:`goal_columns`)."""
        rows = []
        goal_columns = self.goal_columns()
        for tid, t in self.trials.items():
            best, best_epoch = self.best(tid)
            curve = self.curve(tid, self.metric)
            last = next((v for v in reversed(curve) if math.isfinite(v)), math.nan)
            n_epochs = len(curve)
            train_seconds = _train_seconds(t)
            row: dict[str, Any] = {
                "run_id": self.run_id, "strategy": self.strategy, "trial_id": tid,
                "status": t.status, "stop_reason": t.stop_reason, "error": t.error,
                "epochs": n_epochs, "best_epoch": best_epoch,
                f"best_{self.metric}": best, f"last_{self.metric}": last,
                "train_seconds": train_seconds,
                "started_at": utc_timestamp(t.started_at), "ended_at": utc_timestamp(t.ended_at),
                "attempts": t.attempts, "retries": t.retries,
                "cpus": float(self.resources.get("cpu", 1.0)), "gpus": float(self.resources.get("gpu", 0.0)),
                "node_ip": self.node_ips.get(t.placement.get("node_id"), t.placement.get("node_ip")),
                "node_id": t.placement.get("node_id"), "pid": t.placement.get("pid"),
                "gpu_ids": t.placement.get("gpu_ids", ""),
                "cuda_visible_devices": t.placement.get("cuda_visible_devices", ""),
                "tf_intra_op_threads": t.placement.get("tf_intra_op_threads"),
                "gpu_peak_mb": max((v for v in self.curve(tid, "gpu_peak_mb") if math.isfinite(v)), default=None),
            }
            if self.metric != "val_loss":
                row["best_val_loss"] = min((v for v in self.curve(tid, "val_loss") if math.isfinite(v)),
                                           default=math.nan)
            row.update(goal_columns.get(tid, {}))
            d = self.diagnoses.get(tid, {})
            row["diagnosis"] = d.get("label")
            row["diagnosis_reason"] = d.get("reason")
            row["should_stop_epoch"] = d.get("stop_epoch")
            row["diagnosis_figures"] = json.dumps(d["figures"], default=json_default) if d.get("figures") else None
            row["is_selected"] = tid == self.selected
            for k, v in self.test_metrics.items():
                row[k] = v if tid == self.selected else None
            for k, v in self.refit.items():
                row[k] = v if tid == self.selected else None
            for k, v in t.config.items():
                row[f"hp_{k}"] = v
            rows.append(row)
        df = pd.DataFrame(rows)
        if not df.empty:
            for c in ("pid", "should_stop_epoch", "tf_intra_op_threads"):
                if c in df:
                    df[c] = df[c].astype("Int64")
            df["gpu_peak_mb"] = df["gpu_peak_mb"].astype("Float64")  # null without a GPU
            if "pareto_rank" in df:
                df["pareto_rank"] = df["pareto_rank"].astype("Int64")  # null: not ranked
                df["feasible"] = df["feasible"].astype(bool)
        return df

    def goal_columns(self) -> dict[str, dict[str, Any]]:
        """Per trial, the trials table's columns of costs and objectives: every cost its model
        reported (``params``, ``params_total``, ``model_bytes``, ``latency_ms``, ``latency_batch_ms``;
        ``train_seconds`` keeps its meaning), and -- with several objectives or constraints --
        ``best_<name>`` of each objective (a metric at the trial's best epoch, a cost as
        reported), ``feasible`` and ``pareto_rank`` (0: on the front of the feasible selectable
        trials; None: not ranked)."""
        selection = self.selection()
        out: dict[str, dict[str, Any]] = {}
        for tid, t in self.trials.items():
            cols: dict[str, Any] = dict(t.costs)
            if selection is not None:
                values = self.values(tid)
                for name in self.goals.objective_names()[1:]:
                    cols[f"best_{name}"] = values[name]
                cols["feasible"] = bool(selection.feasible.get(tid, False))
                rank = selection.pareto_rank.get(tid)
                cols["pareto_rank"] = None if rank is None else int(rank)
            out[tid] = cols
        return out

    def epochs_frame(self) -> pd.DataFrame:
        """epochs.parquet: one row per trial and epoch, by trial then epoch."""
        return _epoch_frame(sorted(self.epochs.values(), key=lambda r: (r["trial_id"], r["epoch"])))

    def events_frame(self) -> pd.DataFrame:
        """events.parquet: one row per intervention (typed columns even when there is none)."""
        cols = ["run_id", "trial_id", "epoch", "at", "source", "decision", "reason", "detail", "old_value",
                "new_value"]
        df = pd.DataFrame(self.events, columns=cols)
        if df.empty:
            df = df.astype({"run_id": "string", "trial_id": "string", "epoch": "int64", "source": "string",
                            "decision": "string", "reason": "string", "detail": "string", "old_value": "float64",
                            "new_value": "float64"})
            df["at"] = pd.Series([], dtype="datetime64[ns, UTC]")
        return df

    def record_refit(self, trial_id: str, rows: Sequence[dict[str, Any]]) -> None:
        """Keep the refit's epoch rows (``final: {refit: train+val}``) of the selected ``trial_id``."""
        self.refit_rows = [{"run_id": self.run_id, "trial_id": trial_id, "epoch": int(r["epoch"]),
                            **{k: r[k] for k in EPOCH_FIELDS if k in r}} for r in rows]

    def refit_frame(self) -> pd.DataFrame:
        """refit_epochs.parquet: the refit's epochs, with epochs.parquet's columns (``val_*`` NaN: it
        has no validation split)."""
        return _epoch_frame(self.refit_rows)

    def flush(self, run_dir: str | Path) -> None:
        """Write the three tables atomically (and the refit's epochs, once there was a refit)."""
        write_parquet(self.trials_frame(), Path(run_dir, "trials.parquet"))
        write_parquet(self.epochs_frame(), Path(run_dir, "epochs.parquet"))
        write_parquet(self.events_frame(), Path(run_dir, "events.parquet"))
        if self.refit_rows:
            write_parquet(self.refit_frame(), Path(run_dir, REFIT_EPOCHS))


def _train_seconds(t: _Trial) -> float:
    """A trial's ``train_seconds`` as trials.parquet has it: its seconds until its last report."""
    return float(t.last.get("trial_elapsed_s", math.nan)) if t.last else math.nan


def _epoch_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Epoch rows as a frame (its key columns even when there is none; ``diverged`` a boolean)."""
    df = pd.DataFrame(rows, columns=None if rows else ["run_id", "trial_id", "epoch"])
    if "diverged" in df:
        df["diverged"] = df["diverged"].fillna(False).astype(bool)
    return df
