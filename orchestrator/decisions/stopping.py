"""Early-stopping decisions as pure functions of the curves so far.

Ray's own schedulers (ASHA, Hyperband, median stopping, PBT) do the scheduling; this module holds
what is ours: the plateau criteria (per trial and for the whole sweep) and the PBT mutation table.
Deciders return decisions; the Ray adapters in :mod:`orchestrator.execution.stoppers` apply
them. Imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from .space import tune_table
from ..spec import SweepSpec, pbt_mutable

__all__ = [
    "improved",
    "trial_plateaued",
    "ExperimentPlateau",
    "pbt_mutation_table",
    "KeepInSpace",
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
    """What PBT may perturb: ``{name: (ray.tune function, args)}`` over the hyperparameters named in
    ``scheduler.mutations``, else those :func:`~orchestrator.spec.pbt_mutable` picks.

    A range is a Ray Tune distribution (resampled, or multiplied by 0.8 or 1.2: :class:`KeepInSpace`
    keeps the product within the range); a choice or a grid is ``("list", (values,))``, a plain list
    for Ray Tune's PBT, which resamples from it or moves to a neighbouring value (as a distribution it
    would multiply a choice's number too: a batch size of 16, 32 or 64 became 25 and 37).
    """
    table = tune_table(spec)
    out: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for name in spec.scheduler.mutations or pbt_mutable(spec.params, spec.model.kind):
        fn, args = table[name]
        if fn != "constant":  # the spec refuses a constant in scheduler.mutations
            out[name] = ("list", args) if fn in ("grid_search", "choice") else (fn, args)
    return out


@dataclass(frozen=True)
class KeepInSpace:
    """PBT's ``custom_explore_fn``: a perturbed range hyperparameter put back within the spec's range.

    Ray Tune's PBT multiplies a value by 0.8 or 1.2, which leaves the range at its ends (a learning
    rate above ``high``, a dropout of 1 or more); the value is clipped to ``[low, high]`` (an integer
    range's value stays an integer).
    """

    bounds: tuple[tuple[str, float, float, bool], ...]  # (name, low, high, integer)

    @classmethod
    def of(cls, spec: SweepSpec) -> "KeepInSpace":
        bounds = []
        for name, (fn, args) in pbt_mutation_table(spec).items():
            if fn in ("uniform", "loguniform"):
                bounds.append((name, float(args[0]), float(args[1]), False))
            elif fn in ("randint", "lograndint"):  # Ray's high is exclusive (tune_table adds 1)
                bounds.append((name, float(args[0]), float(args[1] - 1), True))
        return cls(tuple(bounds))

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for name, low, high, integer in self.bounds:
            value = config.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = min(max(value, low), high)
                config[name] = int(round(value)) if integer else float(value)
        return config


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
