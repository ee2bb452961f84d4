"""The rung decision of a multi-objective ASHA, as a pure function of the values recorded at a rung.

Asynchronous successive halving (ASHA) looks at a trial when it reaches a rung (``grace_period *
eta**k`` epochs) and lets it go on only when it is in the top ``1/eta`` of the trials recorded at
that rung so far. Ray Tune's ``ASHAScheduler`` does so for one metric; the adapter
(:class:`orchestrator.execution.moasha.MultiObjectiveASHA`, a Ray Tune ``TrialScheduler``) keeps
the books and asks :func:`rung_continues` here, so the decision can be tested on scripted values.

The cut rule is Ray's (``ray/tune/schedulers/async_hyperband.py``, ``_Bracket.on_result`` and
``cutoff``): the cutoff is the ``(1 - 1/eta)`` percentile (numpy's linear interpolation) of the
values the OTHER trials recorded at the rung, and the trial stops when its value is below it (the
first trial at a rung always continues). With one objective :func:`rung_continues` applies it to
the values themselves (``min`` objectives negated, as Ray does), so it decides as Ray's ASHA. With
several objectives there is no common scale, so it applies the same rule to each trial's place in
:func:`~orchestrator.decisions.pareto.promotion_order` (front by front, spread inside a front, as
Syne Tune's MOASHA ranks): with ``n`` trials at a rung, the first ``ceil(n/eta)`` or so go on.

Non-finite values (a diverged or missing objective): with one objective the recorded ones are left
out of the cutoff and a non-finite new value stops unless nothing finite is recorded (Ray would
let a NaN through, as ``nan < cutoff`` is False); with several, such a point ranks last.

numpy and the standard library only.
"""

from __future__ import annotations

import math
from typing import Collection, Sequence

import numpy as np

from .pareto import promotion_order

__all__ = ["rung_continues", "cutoff", "rung_milestones", "rung_to_record"]


def cutoff(rewards: Sequence[float], eta: float) -> float | None:
    """Ray's ASHA cutoff: the ``(1 - 1/eta)`` percentile of ``rewards`` (higher is better).

    Args:
        rewards: the other trials' values at the rung, higher better; non-finite ones are left out.
        eta: the reduction factor (> 1).

    Returns:
        The value a new trial must reach to continue; None when there is nothing to compare with.
    """
    finite = [float(r) for r in rewards if math.isfinite(float(r))]
    if not finite:
        return None
    return float(np.percentile(finite, (1.0 - 1.0 / eta) * 100.0))


def _key(v: Sequence[float]) -> tuple[float | str, ...]:
    """A vector as a key in which NaN equals NaN."""
    return tuple("nan" if math.isnan(float(x)) else float(x) for x in v)


def _without_new(recorded: Sequence[Sequence[float]], value: Sequence[float]) -> list[tuple[float, ...]]:
    """``recorded`` less the new trial's entry (the last one equal to ``value``; none if absent)."""
    rows = [tuple(float(x) for x in r) for r in recorded]
    new = _key(value)
    for i in range(len(rows) - 1, -1, -1):
        if _key(rows[i]) == new:
            return rows[:i] + rows[i + 1:]
    return rows


def _positions(points: list[tuple[float, ...]], modes: Sequence[str]) -> list[int]:
    """Each point's place in the promotion order; equal points share the place of the first of them."""
    place: dict[tuple[float | str, ...], int] = {}
    out = [0] * len(points)
    for pos, i in enumerate(promotion_order(points, modes)):
        out[i] = place.setdefault(_key(points[i]), pos)
    return out


def rung_continues(recorded: Sequence[Sequence[float]], value: Sequence[float], modes: Sequence[str],
                   eta: float) -> bool:
    """Whether a trial that just reached a rung goes on (see the module's docstring for the rule).

    Called by the multi-objective ASHA each time a trial reaches one of its rungs.

    Args:
        recorded: the objective vectors recorded at this rung, the new trial's included (as the
            adapter keeps them: it records the vector, then asks). When no entry equals ``value``,
            ``recorded`` is taken to hold the other trials only.
        value: the new trial's objective vector at the rung, one value per objective.
        modes: ``min`` or ``max`` per objective.
        eta: the reduction factor (> 1): about one trial in ``eta`` goes on.

    Returns:
        True to continue, False to stop the trial.

    Raises:
        ValueError: ``eta`` not above 1, or vectors whose length is not that of ``modes``.
    """
    if not eta > 1:
        raise ValueError(f"eta must be above 1, got {eta}")
    if len(value) != len(modes) or any(len(r) != len(modes) for r in recorded):
        raise ValueError(f"each vector needs one value per objective ({len(modes)})")
    others = _without_new(recorded, value)
    if not others:
        return True  # the first trial at a rung: nothing to compare with, as in Ray
    if len(modes) == 1:
        sign = 1.0 if modes[0] == "max" else -1.0
        new = sign * float(value[0])
        cut = cutoff([sign * r[0] for r in others], eta)
        if cut is None:
            return True
        return math.isfinite(new) and new >= cut
    points = [*others, tuple(float(x) for x in value)]
    places = _positions(points, modes)
    # The reward is the place, negated: higher is nearer the head of the promotion order.
    cut = cutoff([-p for p in places[:-1]], eta)
    return cut is None or -places[-1] >= cut


def rung_milestones(grace_period: float, max_t: float, eta: float, bracket: int = 0) -> list[float]:
    """The rungs of one ASHA bracket, highest first, laid out as Ray's ``_Bracket`` lays them.

    ``grace_period * eta ** (k + bracket)`` for ``k`` in ``range(int(log(max_t/grace_period) /
    log(eta) - bracket + 1))``: the epochs at which a trial of that bracket is judged. The last
    one may equal ``max_t`` (where the trial ends anyway); Ray's own float rounding of the count
    is kept so both schedulers judge at the same epochs.

    Args:
        grace_period: the first rung (>= 1).
        max_t: the most epochs a trial trains (>= grace_period).
        eta: the reduction factor (> 1).
        bracket: the bracket's index ``s`` (its first rung is ``grace_period * eta ** s``).

    Returns:
        The milestones, highest first (empty when the bracket has none).
    """
    if not (eta > 1 and 0 < grace_period <= max_t):
        raise ValueError("need 0 < grace_period <= max_t and eta > 1")
    count = int(math.log(max_t / grace_period) / math.log(eta) - bracket + 1)
    return [grace_period * eta ** (k + bracket) for k in reversed(range(max(count, 0)))]


def rung_to_record(iteration: float, milestones: Sequence[float], recorded_at: Collection[float]) -> float | None:
    """The rung a result at ``iteration`` is judged at, as Ray's bracket finds it.

    The highest milestone the trial has reached (``iteration >= milestone``) at which it has no
    record yet; None when there is none (between rungs or past its last one: it continues).

    Args:
        iteration: the trial's epochs so far.
        milestones: the bracket's rungs (:func:`rung_milestones`), any order.
        recorded_at: the milestones at which the trial already has a record.
    """
    for m in sorted(milestones, reverse=True):
        if iteration >= m and m not in recorded_at:
            return m
    return None
