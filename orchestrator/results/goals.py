"""What a run's tables rank trials by: its objectives, constraints and select rule (:class:`Goals`).

The tables (:class:`~orchestrator.results.RunTables`) hold one :class:`Goals`; with one objective
and no constraint (:attr:`Goals.ranked` False) they select as they always did, the best first
objective. Otherwise the rule is :func:`orchestrator.decisions.select.select`, applied to the
trials' values (:meth:`Goals.select`). Pure: neither Ray nor TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..spec import COSTS, MODEL_COSTS, Bound, Objective, SelectSpec

if TYPE_CHECKING:
    from ..decisions.select import Selection
    from ..spec import SweepSpec

__all__ = ["Goals", "COST_COLUMNS", "MODEL_COST_COLUMNS", "finite"]

# The cost names (a name that is not one is a metric) ...
COST_COLUMNS: tuple[str, ...] = tuple(COSTS)
# ... and those a trial's model reports in its rows, each a column of trials.parquet (train_seconds
# already was one: the seconds until the trial's last report).
MODEL_COST_COLUMNS: tuple[str, ...] = tuple(MODEL_COSTS)


@dataclass(frozen=True)
class Goals:
    """A run's objectives (the first one is its metric), constraints and select rule."""

    objectives: tuple[Objective, ...]
    constraints: Mapping[str, Bound] = field(default_factory=dict)
    rule: SelectSpec = field(default_factory=SelectSpec)

    @classmethod
    def single(cls, metric: str, mode: str) -> "Goals":
        """One objective, no constraint, the best trial: a run as before several objectives."""
        return cls((Objective(name=metric, mode=mode),))

    @classmethod
    def of(cls, spec: SweepSpec) -> "Goals":
        """The goals of a resolved spec."""
        return cls(tuple(spec.objectives) or (Objective(name=spec.metric_name, mode=spec.mode),),
                   dict(spec.constraints), spec.select)

    @property
    def ranked(self) -> bool:
        """Whether trials are ranked on a front and judged feasible: several objectives or constraints
        (or a select rule other than the best first objective)."""
        return len(self.objectives) > 1 or bool(self.constraints) or self.rule.rule != "best"

    def objective_names(self) -> list[str]:
        """The objectives' names, the metric first."""
        return [o.name for o in self.objectives]

    def names(self) -> list[str]:
        """Every name a trial is judged by: the objectives, the constraints, the select rule's."""
        out = self.objective_names()
        for n in (*self.constraints, self.rule.of, self.rule.then):
            if n and n not in out:
                out.append(n)
        return out

    def metric_names(self) -> list[str]:
        """:meth:`names` that are metrics (reported per epoch), not costs."""
        return [n for n in self.names() if n not in COST_COLUMNS]

    def to_json(self) -> dict[str, Any]:
        """run.json's ``objectives``, ``constraints`` (``{name: {max, min}}``) and the rule."""
        return {"objectives": [{"name": o.name, "mode": o.mode} for o in self.objectives],
                "constraints": {n: {"max": b.max, "min": b.min} for n, b in self.constraints.items()},
                "select": self.rule.model_dump(mode="json")}

    def select(self, rows: Sequence[Mapping[str, Any]], selectable: Sequence[str]) -> Selection:
        """The select rule over the trials' ``rows`` (``trial_id``, ``best_<metric>``, costs): the
        chosen trial, Pareto ranks and front among the ``selectable`` ones; every trial's
        feasibility; and, when none is feasible, the constraint that ruled out most trials."""
        from ..decisions.select import select

        return select(list(rows), self.objectives, dict(self.constraints), self.rule, eligible=set(selectable))


def finite(v: Any) -> bool:
    """Whether ``v`` is a finite number (a bool is not)."""
    if isinstance(v, bool) or v is None:
        return False
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False
