"""Early-stopping decisions as pure functions of the curves so far.

Ray's own schedulers (ASHA, Hyperband, median stopping, PBT) do the scheduling; this module holds
what is ours: the plateau criteria (per trial and for the whole sweep) and the PBT mutation table.
Deciders return decisions; the Ray adapters in :mod:`orchestrator.stoppers` apply them. Imports
neither Ray nor TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from .spec import Choice, Grid, IntRange, LogUniform, SweepSpec, Uniform

__all__ = [
    "improved",
    "trial_plateaued",
    "ExperimentPlateau",
    "pbt_mutation_table",
    "checkpoint_every",
]


def improved(value: float, best: float, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` in direction ``mode``."""
    if not math.isfinite(value):
        return False
    if not math.isfinite(best):
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def trial_plateaued(values: Sequence[float], *, mode: str, patience: int, min_delta: float = 0.0,
                    grace_period: int = 0) -> bool:
    """A trial has plateaued when its best has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        values: the metric per epoch so far (epoch 1 first).
        mode: ``min`` or ``max``.
        patience: epochs without improvement that end the trial.
        min_delta: the least change that counts as an improvement.
        grace_period: no decision before this many epochs.

    Returns:
        True when the trial should stop.
    """
    if len(values) < max(grace_period, patience + 1):
        return False
    best, since = math.nan, 0
    for v in values:
        if improved(v, best, mode, min_delta):
            best, since = v, 0
        else:
            since += 1
    return since >= patience


@dataclass
class ExperimentPlateau:
    """Stop the whole sweep when the best result so far has not improved for ``patience`` results.

    Feed every reported value to :meth:`update`; it returns True once the sweep should stop.
    """

    mode: str
    patience: int
    min_delta: float = 0.0
    best: float = math.nan
    since: int = 0
    stopped: bool = field(default=False)

    def update(self, value: float) -> bool:
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.since = value, 0
        else:
            self.since += 1
        if self.since >= self.patience:
            self.stopped = True
        return self.stopped


def pbt_mutation_table(spec: SweepSpec) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """What PBT may perturb: ``{name: (ray.tune function, args)}`` over the searched numeric
    hyperparameters (or those named in ``scheduler.mutations``), within the spec's own ranges."""
    names = spec.scheduler.mutations or [
        n for n, p in spec.searched.items()
        if isinstance(p, (Uniform, LogUniform, IntRange)) or (
            isinstance(p, (Choice, Grid)) and all(isinstance(v, (int, float)) for v in p.values))
    ]
    table: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for n in names:
        p = spec.params[n]
        if isinstance(p, Uniform):
            table[n] = ("uniform", (p.low, p.high))
        elif isinstance(p, LogUniform):
            table[n] = ("loguniform", (p.low, p.high))
        elif isinstance(p, IntRange):
            table[n] = ("lograndint" if p.log else "randint", (p.low, p.high + 1))
        elif isinstance(p, (Choice, Grid)):
            table[n] = ("choice", (list(p.values),))
    return table


def checkpoint_every(spec: SweepSpec) -> int:
    """Epochs between regular checkpoints (0: only when the metric improves).

    Hyperband pauses and resumes trials, PBT copies checkpoints between trials, and retries
    resume from the last checkpoint: those need recent ones.
    """
    s = spec.scheduler
    if s.type == "pbt":
        return s.perturbation_interval
    if s.type == "hyperband" or spec.max_failures > 0:
        return 1
    return 0
