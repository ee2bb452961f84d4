"""Ray Tune adapters for the plateau criteria of :mod:`orchestrator.decisions.stopping`, and the time budget.

Imports Ray. The decisions themselves are the pure functions in ``scheduling``; this class only
feeds them Ray's results and remembers why each trial was stopped, for the trials table.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from ray.tune import Stopper

from ..decisions.stopping import ExperimentPlateau, trial_plateaued
from ..spec import SweepSpec

__all__ = ["SweepStopper"]


class SweepStopper(Stopper):
    """Per-trial plateau and sweep-level plateau in one Ray ``Stopper``.

    ``reasons`` maps a trial id to the reason it was stopped (``plateau`` or
    ``experiment_plateau``); the parallel strategy's Tune callback reads it when the trial ends.
    """

    def __init__(self, spec: SweepSpec, deadline: float | None = None, cancel: threading.Event | None = None) -> None:
        self.deadline = deadline  # a time budget's end: no trial starts after it (``stop_all``)
        self.cancel = cancel  # set when a warm runtime's client went away: every trial stops
        self.mode = spec.mode
        self.metric = spec.metric_name
        self.plateau = spec.stoppers.plateau
        exp = spec.stoppers.experiment_plateau
        self.experiment = ExperimentPlateau(spec.mode, exp.patience, exp.min_delta) if exp else None
        self.curves: dict[str, list[float]] = {}
        self.reasons: dict[str, str] = {}
        # PBT decides at a trial's last report too: it then gave the trial a donor's checkpoint and a
        # new configuration that never trained (the trial restarted only to end), while the trials
        # table named that configuration; a report that ends the trial (its stop_reason set: its
        # last epoch, a divergence, the budget) is ended here, before the scheduler sees it.
        self.end_on_last_report = spec.scheduler.type == "pbt"

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if self.end_on_last_report and result.get("stop_reason"):
            return True
        if self.metric not in result or result.get("diverged"):
            return False
        value = float(result[self.metric])
        curve = self.curves.setdefault(trial_id, [])
        epoch = int(result.get("epoch", len(curve) + 1))
        del curve[epoch - 1:]  # a restored trial reports earlier epochs again
        curve.append(value if math.isfinite(value) else math.nan)
        if self.experiment is not None and self.experiment.update(value):
            self.reasons.setdefault(trial_id, "experiment_plateau")
            return True
        p = self.plateau
        if p is not None and trial_plateaued(curve, mode=self.mode, patience=p.patience, min_delta=p.min_delta,
                                             grace_period=p.grace_period):
            self.reasons[trial_id] = "plateau"
            return True
        return False

    def __getstate__(self) -> dict[str, Any]:
        # Tune saves the stopper with the experiment: the cancel event stays in this process
        return {**self.__dict__, "cancel": None}

    # Past the deadline, trials stop by themselves at their next batch and report that partial
    # epoch; the experiment ends this much later so those reports arrive (Tune would otherwise
    # wait for each trial to acknowledge its stop).
    DRAIN_S = 1.0

    def past_deadline(self, drain: float = 0.0) -> bool:
        return self.deadline is not None and time.time() >= self.deadline + drain

    def stop_all(self) -> bool:
        return (bool(self.experiment and self.experiment.stopped) or self.past_deadline(self.DRAIN_S)
                or (self.cancel is not None and self.cancel.is_set()))

    def reason_for(self, trial_id: str) -> str | None:
        """Why this stopper ended ``trial_id`` (None if it did not)."""
        if trial_id in self.reasons:
            return self.reasons[trial_id]
        if self.experiment and self.experiment.stopped:
            return "experiment_plateau"
        if self.past_deadline():
            return "budget"
        if self.cancel is not None and self.cancel.is_set():
            return "interrupted"
        return None
