"""Ray Tune's Optuna searcher, told what each trial really was (one objective or several).

:class:`SweepOptunaSearch` is Ray Tune's :class:`~ray.tune.search.optuna.OptunaSearch` (Optuna's
TPE sampler, multi-objective when the spec has several objectives) with three changes in what
the sampler is told when a trial ends; everything else (asking, warm start, saving for
``sweep resume``) is Ray's:

- **its best epoch, not its last.** Ray's class tells a finished trial the values of its last
  report. Here a trial is told the values of its best epoch by the first objective (the
  ``objective`` column), with the other objectives (``objective_1``, ``objective_2``) read on
  that same epoch -- the epoch selection and the tables use too.
- **a trial a scheduler stopped, with one objective, is PRUNED**, with its best value so far as
  its intermediate value at every step it reached. Optuna's TPE ranks pruned trials by the step
  they reached first, then by that value, and puts them in its good group only after every
  complete trial (``optuna.samplers._tpe.sampler._split_trials``): the order ASHA promotes in,
  and the setting Optuna's TPE is tuned with (TPE + a pruner). Telling it COMPLETE with the best
  value would rank a trial stopped at its first rung against full-length ones on equal terms.
  With several objectives Optuna keeps no intermediate values (Ray's class reports none either):
  a stopped trial is told COMPLETE with its best epoch's values (the multi-objective TPE splits
  complete trials by non-dominated sorting, as the multi-objective ASHA stops them).
- **constraints.** Every trial that ends gets one constraint value per spec constraint (> 0:
  broken, by its relative excess over the bound; 0: kept), so TPE puts infeasible trials in its
  bad group and learns where the boundary is from feasible ones too. An infeasible trial (a cost broke a
  constraint before its first epoch) is told COMPLETE with the values its one row carries.

Imports Ray and Optuna (:func:`~orchestrator.execution.tune_setup.search_alg` imports this module).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Sequence

import optuna
from ray.tune.search.optuna import OptunaSearch

from ..decisions.select import excess
from ..spec.objectives import objective_column
from ..training.epoch import improves  # pure: what "better" means for an epoch's metric

__all__ = ["SweepOptunaSearch", "constraint_values", "tpe_sampler"]

log = logging.getLogger(__name__)

# What a trial's row carries that the searcher keeps about it (the rest of the row is not needed).
_KEPT = ("epoch", "stop_reason", "infeasible", "diverged", "training_iteration")


def constraint_values(row: Mapping[str, Any], constraints: Mapping[str, Any]) -> dict[str, float]:
    """One value per constraint of ``row`` for Optuna: > 0 broken, 0 kept.

    The relative excess over the bound (:func:`orchestrator.decisions.select.excess`, as the
    selection judges it), so that constraints in different units (parameters, milliseconds) add
    up comparably when TPE orders infeasible trials by their summed excess. A value the row does
    not hold as a finite number (a metric an infeasible trial never measured) sets nothing for its
    constraint.

    Args:
        row: the trial's values by name (costs, metrics of its best epoch).
        constraints: ``{name: Bound}``.
    """
    out: dict[str, float] = {}
    for name, bound in constraints.items():
        v = row.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[name] = excess(float(v), bound)
    return out


def tpe_sampler(seed: int | None, constrained: bool) -> optuna.samplers.TPESampler:
    """Optuna's TPE sampler (multi-objective when the study has several directions).

    Optuna 5 takes constraint values per trial (``Trial.set_constraint``, which the searcher calls
    before it tells a trial); an older Optuna reads them through ``constraints_func``, here from
    the trial's ``constraints`` user attribute the searcher sets as well.
    """
    kwargs: dict[str, Any] = {}
    if constrained and not hasattr(optuna.trial.Trial, "set_constraint"):
        kwargs["constraints_func"] = _constraints_from_user_attr
    return optuna.samplers.TPESampler(seed=seed, **kwargs)


def _constraints_from_user_attr(trial: Any) -> Sequence[float]:
    return list(trial.user_attrs.get("constraints", {}).values())


class SweepOptunaSearch(OptunaSearch):
    """Ray Tune's OptunaSearch telling each trial's best epoch, pruned trials, and constraints.

    Args:
        space: Optuna's define-by-run function (:func:`orchestrator.decisions.space.optuna_space`).
        modes: ``min``/``max`` per objective; the result columns are ``objective``, ``objective_1``, ...
            (:func:`orchestrator.spec.objectives.objective_column`).
        sampler: the sampler (:func:`tpe_sampler`).
        constraints: the spec's ``{name: bound}`` (empty: none).
        points_to_evaluate: configurations tried first (a nightly warm start).
    """

    def __init__(self, space: Any, modes: Sequence[str], sampler: Any, constraints: Mapping[str, Any] | None = None,
                 points_to_evaluate: list[dict[str, Any]] | None = None) -> None:
        metrics = [objective_column(i) for i in range(len(modes))]
        several = len(metrics) > 1
        super().__init__(space=space, metric=metrics if several else metrics[0],
                         mode=list(modes) if several else modes[0], sampler=sampler,
                         points_to_evaluate=points_to_evaluate)
        self.objective_names, self.objective_modes = metrics, list(modes)
        self.constraints = dict(constraints or {})
        self.best_rows: dict[str, dict[str, Any]] = {}  # trial id -> the best row so far (first objective)

    def _keep_best(self, trial_id: str, result: Mapping[str, Any]) -> dict[str, Any]:
        """Fold ``result`` into the trial's best row (by the first objective; ties keep the earlier)."""
        first, mode = self.objective_names[0], self.objective_modes[0]
        row = {k: result[k] for k in (*self.objective_names, *self.constraints, *_KEPT) if k in result}
        best = self.best_rows.get(trial_id)
        value = row.get(first)
        if best is None or (value is not None and improves(float(value), float(best.get(first, math.nan)), mode)):
            best = row
        # the last report's own fields say how the trial ended, whichever epoch was best
        best = {**best, "last": {k: row.get(k) for k in ("stop_reason", "infeasible", "epoch")},
                "reported_step": (self.best_rows.get(trial_id) or {}).get("reported_step")}
        self.best_rows[trial_id] = best
        return best

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Keep the trial's best epoch; with one objective, report its best value so far as the
        intermediate value of this step (what a PRUNED trial is ranked by)."""
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        best = self._keep_best(trial_id, result)
        first = self.objective_names[0]
        if len(self.objective_names) == 1 and best.get(first) is not None and "training_iteration" in result:
            best["reported_step"] = int(result["training_iteration"])
            self._ot_trials[trial_id].report(float(best[first]), best["reported_step"])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Tell Optuna how the trial ended (see the module's docstring)."""
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        if error or not result or self.objective_names[0] not in result:
            self.best_rows.pop(trial_id, None)
            super().on_trial_complete(trial_id, result=None, error=error)  # FAIL, or PRUNED with no value
            return
        best = self._keep_best(trial_id, result)
        ot_trial = self._ot_trials[trial_id]
        if self.constraints:
            kept = constraint_values(best, self.constraints)
            ot_trial.set_user_attr("constraints", kept)
            if hasattr(ot_trial, "set_constraint"):
                for name, v in kept.items():
                    ot_trial.set_constraint(name, v)
        state, values = optuna.trial.TrialState.COMPLETE, [float(best[m]) for m in self.objective_names
                                                           if m in best]
        if self._pruned(best):
            # the step it was stopped at counts as reached (Tune hands that result only to this method)
            step = result.get("training_iteration")
            if step is not None and int(step) != best.get("reported_step"):
                ot_trial.report(float(best[self.objective_names[0]]), int(step))
            state, values = optuna.trial.TrialState.PRUNED, None
        elif len(values) != len(self.objective_names):  # an objective column missing: nothing to tell
            state, values = optuna.trial.TrialState.PRUNED, None
        try:
            self._ot_study.tell(ot_trial, values if values is None or len(values) > 1 else values[0], state=state)
        except Exception as exc:  # noqa: BLE001 - as Ray's own class: a refused value is logged
            log.warning("optuna refused trial %s: %s", trial_id, exc)
        self._completed_trials.add(trial_id)
        self.best_rows.pop(trial_id, None)

    def _pruned(self, best: Mapping[str, Any]) -> bool:
        """A one-objective trial that something outside it stopped (its last row gives no reason of
        its own: not max_epochs, patience, budget, diverged) and that was not infeasible."""
        last = best.get("last") or {}
        return (len(self.objective_names) == 1 and not last.get("infeasible")
                and not (last.get("stop_reason") or ""))
