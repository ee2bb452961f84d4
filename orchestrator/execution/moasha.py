"""A multi-objective ASHA as a Ray Tune scheduler: the rung decision is
:func:`orchestrator.decisions.moasha.rung_continues`, this class only keeps the books.

It does what Ray's own ``ASHAScheduler`` (``AsyncHyperBandScheduler``) does, with a vector of
objectives where Ray's has one number: trials are spread over ``brackets`` the same way, the rungs
sit at ``grace_period * reduction_factor ** (k + s)`` epochs of bracket ``s`` (so a stop is
recorded as ``asha_rung_<k>`` by :func:`orchestrator.results.end_status` as for Ray's ASHA), a
trial's values at a rung are those of its report at that rung (Ray's ASHA records the current
value, not the best so far), and a trial that reaches ``max_t`` is stopped. At a rung the trial
continues when it is in the top ``1/reduction_factor`` of the trials recorded there by
non-dominated sorting, ties in a front broken by spreading over the front (Syne Tune's MOASHA).
A decider, as Ray's schedulers are: it returns CONTINUE or STOP and never touches a trial.

The report of an infeasible trial (its model broke a cost constraint; it ends by itself) is
never recorded at a rung: its values say nothing of how well it trains.

Imports Ray (:func:`~orchestrator.execution.tune_setup.scheduler` imports this module).
"""

from __future__ import annotations

import math
import pickle
import random
from typing import Any, Sequence

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from ..decisions.moasha import rung_continues, rung_milestones, rung_to_record
from ..spec.objectives import objective_column

__all__ = ["MultiObjectiveASHA"]


class MultiObjectiveASHA(FIFOScheduler):
    """Asynchronous successive halving over several objectives (see the module's docstring).

    Args:
        modes: ``min``/``max`` per objective; their values are read from the result columns
            ``objective``, ``objective_1``, ``objective_2``, or from ``columns``.
        max_t: the most epochs a trial trains (``training_iteration``).
        grace_period: the first rung, in epochs.
        reduction_factor: eta: one trial in eta goes on at each rung.
        brackets: Ray's ASHA brackets (bracket ``s`` starts at ``grace_period * eta ** s``).
        seed: the draw that puts a trial in a bracket (with one bracket, no draw).
        columns: the result columns to rank, one per mode (a metric or a cost; in a result whose
            epoch diverged every one counts as its worst, as the objective columns already do,
            so that a small model does not sit on the front by having diverged).
    """

    def __init__(self, modes: Sequence[str], max_t: int, grace_period: int = 1, reduction_factor: float = 3,
                 brackets: int = 1, seed: int | None = 0, time_attr: str = "training_iteration",
                 columns: Sequence[str] | None = None) -> None:
        if max_t < grace_period or grace_period < 1 or reduction_factor <= 1 or brackets < 1:
            raise ValueError("need 1 <= grace_period <= max_t, reduction_factor > 1, brackets >= 1")
        super().__init__()
        self.modes = list(modes)
        self.columns = list(columns) if columns is not None else [objective_column(i) for i in range(len(self.modes))]
        if len(self.columns) != len(self.modes):
            raise ValueError("one column per mode")
        self.max_t, self.eta, self.time_attr = max_t, float(reduction_factor), time_attr
        self.brackets = [rung_milestones(grace_period, max_t, self.eta, s) for s in range(brackets)]
        # per bracket, per rung milestone: the objective vectors recorded there, by trial id
        self.recorded: list[dict[float, dict[str, tuple[float, ...]]]] = [
            {m: {} for m in rungs} for rungs in self.brackets]
        self.bracket_of: dict[str, int] = {}
        self.rng = random.Random(seed)
        self.stopped = 0

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """Tune passes its ``metric``/``mode`` (the first objective); this scheduler reads its own columns."""
        return True

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        """Put the trial in a bracket, as Ray's ASHA does (brackets with more rungs more likely)."""
        sizes = [len(r) for r in self.brackets]
        weights = [math.exp(n - max(sizes)) for n in sizes]
        self.bracket_of[trial.trial_id] = (0 if len(sizes) == 1
                                           else self.rng.choices(range(len(sizes)), weights=weights)[0])

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        """CONTINUE, or STOP at ``max_t`` or when the rung it just reached says so."""
        if self.time_attr not in result or result.get("infeasible"):
            return TrialScheduler.CONTINUE
        if result[self.time_attr] >= self.max_t:
            self.stopped += 1
            return TrialScheduler.STOP
        decision = self.decide(trial.trial_id, result)
        if decision == TrialScheduler.STOP:
            self.stopped += 1
        return decision

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        """Record the trial's last values at the rung it reached (as Ray's ASHA does); forget it."""
        if result and self.time_attr in result and not result.get("infeasible"):
            self.decide(trial.trial_id, result)
        self.bracket_of.pop(trial.trial_id, None)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self.bracket_of.pop(trial.trial_id, None)

    def decide(self, trial_id: str, result: dict) -> str:
        """At the highest rung ``result`` reaches that has no record of this trial yet: record its
        objective vector there and ask :func:`rung_continues` (STOP or CONTINUE); between rungs
        and past its last rung: CONTINUE."""
        b = self.bracket_of.setdefault(trial_id, 0)
        rungs = self.recorded[b]
        milestone = rung_to_record(result[self.time_attr], self.brackets[b],
                                   [m for m, rec in rungs.items() if trial_id in rec])
        if milestone is None:
            return TrialScheduler.CONTINUE
        value = self.vector(result)
        rungs[milestone][trial_id] = value
        go_on = rung_continues(list(rungs[milestone].values()), value, self.modes, self.eta)
        return TrialScheduler.CONTINUE if go_on else TrialScheduler.STOP

    def vector(self, result: dict) -> tuple[float, ...]:
        """The result's objective values (a missing or non-finite one, or any of a diverged epoch:
        the worst value of its mode)."""
        out = []
        diverged = bool(result.get("diverged"))
        for column, mode in zip(self.columns, self.modes):
            try:
                v = math.nan if diverged else float(result.get(column, math.nan))
            except (TypeError, ValueError):
                v = math.nan
            out.append(v if math.isfinite(v) else (math.inf if mode == "min" else -math.inf))
        return tuple(out)

    def debug_string(self) -> str:
        rungs = "; ".join(f"bracket {b}: " + ", ".join(f"{m:g} epochs: {len(r)} recorded" for m, r in rec.items())
                          for b, rec in enumerate(self.recorded))
        return f"MultiObjectiveASHA: {self.stopped} stopped; {rungs}"

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))

