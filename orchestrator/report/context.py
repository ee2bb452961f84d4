"""What every section of the report needs, computed once from a run: :class:`Context`.

Also the limits that keep the number of figures bounded whatever the size of the run.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..results import Run
from .analysis import param_kinds
from .page import BAD_STATUSES

__all__ = ["Context", "Curves", "rank_trials", "TOP_CURVES", "STOPPED_CURVES", "OVERVIEW_MAX_LINES",
           "SCATTER_MAX", "MAX_PARAM_PLOTS", "TABLE_MAX_ROWS"]

TOP_CURVES = 6            # panels of the best trials
STOPPED_CURVES = 6        # panels of stopped / diverged / failed trials
OVERVIEW_MAX_LINES = 300  # curves drawn in the all-trials overview
SCATTER_MAX = 2000        # points per scatter plot
MAX_PARAM_PLOTS = 12      # Goldilocks plots
TABLE_MAX_ROWS = 1000     # rows of the trials table


@dataclass
class Context:
    """A run as the sections read it: its tables with missing columns filled in, the metric and
    its direction, the hyperparameters worth plotting, the trials best first and their curves."""

    run: Run
    info: dict[str, Any]
    trials: pd.DataFrame
    epochs: pd.DataFrame
    events: pd.DataFrame
    metric: str
    mode: str
    col: str
    params: dict[str, dict[str, Any]]
    ranked: pd.DataFrame
    curves: "Curves | dict[str, pd.DataFrame]" = field(default_factory=dict)

    @functools.cached_property
    def importance(self) -> tuple[pd.DataFrame | None, str]:
        """Which hyperparameters mattered (:func:`orchestrator.results.importance.run_importance`), computed
        once for the sections that read it: ``(table, "")``, or ``(None, why not)``."""
        from ..results.importance import ImportanceUnavailable, run_importance

        try:
            return run_importance(self.run), ""
        except ImportanceUnavailable as e:
            return None, str(e)

    def importance_order(self) -> list[str]:
        """The hyperparameters worth plotting, the most important for the metric first (as they
        are, when the importance is unknown)."""
        table, _ = self.importance
        if table is None or table.empty:
            return list(self.params)
        first = table[table["objective"] == self.metric].sort_values("rank")
        ranked = [p for p in first["param"] if p in self.params]
        return ranked + [p for p in self.params if p not in ranked]

    @classmethod
    def of(cls, run: Run) -> "Context":
        """The context of ``run`` (the metric from run.json, else guessed from the columns)."""
        info = run.info if isinstance(run.info, dict) else {}
        trials = run.trials.copy() if run.trials is not None else pd.DataFrame()
        epochs = run.epochs.copy() if run.epochs is not None else pd.DataFrame()
        events = run.events.copy() if run.events is not None else pd.DataFrame()
        spec = info.get("spec") if isinstance(info.get("spec"), dict) else {}
        budget = info.get("budget") if isinstance(info.get("budget"), dict) else {}
        metric = budget.get("metric") or (spec.get("metric") or {}).get("name")
        mode = budget.get("mode") or (spec.get("metric") or {}).get("mode")
        if not metric:  # infer from the columns
            cands = [c.removeprefix("best_") for c in trials.columns
                     if c.startswith("best_") and c not in ("best_epoch", "best_val_loss")]
            metric = cands[0] if cands else "val_loss"
        if mode not in ("min", "max"):
            mode = "max" if "accuracy" in metric else "min"
        col = f"best_{metric}"
        for c, default in (("trial_id", ""), ("status", ""), ("stop_reason", ""), ("epochs", 0),
                           ("best_epoch", 0), (col, math.nan), ("is_selected", False)):
            if c not in trials:
                trials[c] = default
        trials["trial_id"] = trials["trial_id"].astype(str)
        trials[col] = pd.to_numeric(trials[col], errors="coerce")
        trials["is_selected"] = trials["is_selected"].fillna(False).astype(bool)
        params = param_kinds(spec.get("params") if isinstance(spec.get("params"), dict) else None, trials)
        ranked = rank_trials(trials, col, mode)
        ctx = cls(run, info, trials, epochs, events, metric, mode, col, params, ranked)
        if not epochs.empty and "trial_id" in epochs and "epoch" in epochs:
            epochs["trial_id"] = epochs["trial_id"].astype(str)
            epochs = epochs.sort_values(["trial_id", "epoch"])
            ctx.epochs = epochs
            ctx.curves = Curves(epochs)
        return ctx

    @property
    def max_epochs(self) -> float:
        """The most epochs a trial could train (the budget; else the longest trial)."""
        b = self.info.get("budget") if isinstance(self.info.get("budget"), dict) else {}
        try:
            return float(b.get("max_epochs") or 0) or float(pd.to_numeric(self.trials["epochs"], errors="coerce").max())
        except (TypeError, ValueError):
            return 1.0

    @property
    def train_col(self) -> str:
        """The training counterpart of the metric (``train_accuracy`` for ``val_accuracy``)."""
        return "train_" + self.metric.removeprefix("val_")

    def better(self, a: float, b: float) -> bool:
        """Whether metric value ``a`` is better than ``b``."""
        return a > b if self.mode == "max" else a < b

    def stop_event(self, trial_id: str) -> dict[str, Any] | None:
        """The last ``stop`` event of a trial (who stopped it, and why), if any."""
        ev = self.events
        if ev.empty or "trial_id" not in ev:
            return None
        rows = ev[(ev["trial_id"].astype(str) == trial_id) & (ev.get("decision", "stop") == "stop")]
        return None if rows.empty else rows.iloc[-1].to_dict()


class Curves(Mapping):
    """trial_id -> that trial's epoch rows, sliced on demand from the epochs sorted by trial.

    (A groupby into 500 frames costs more than everything the report does with the few it draws.)
    """

    def __init__(self, epochs: pd.DataFrame) -> None:
        self._epochs = epochs.reset_index(drop=True)
        ids = self._epochs["trial_id"].to_numpy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], dtype=int)
        ends = np.r_[starts[1:], len(ids)]
        self._bounds = {str(ids[a]): (int(a), int(b)) for a, b in zip(starts, ends)}

    def __getitem__(self, tid: str) -> pd.DataFrame:
        a, b = self._bounds[tid]
        return self._epochs.iloc[a:b]

    def __iter__(self):
        return iter(self._bounds)

    def __len__(self) -> int:
        return len(self._bounds)

    def __contains__(self, tid: object) -> bool:
        return tid in self._bounds


def rank_trials(trials: pd.DataFrame, col: str, mode: str) -> pd.DataFrame:
    """Trials best first: the selected one, then usable trials by metric, then diverged/failed ones."""
    if trials.empty:
        return trials
    sign = -1.0 if mode == "max" else 1.0
    values = pd.to_numeric(trials[col], errors="coerce").astype(float)
    usable = ~trials["status"].isin(BAD_STATUSES) & np.isfinite(values)
    key = pd.DataFrame({
        "sel": ~trials["is_selected"].astype(bool),
        "bad": ~usable,
        "v": np.where(np.isfinite(values), sign * values, np.inf),
        "e": pd.to_numeric(trials["best_epoch"], errors="coerce").fillna(0),
    }, index=trials.index)
    order = key.sort_values(["sel", "bad", "v", "e"], kind="stable").index
    return trials.loc[order].reset_index(drop=True)
