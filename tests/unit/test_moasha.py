"""Unit tests for orchestrator.decisions.moasha: the multi-objective ASHA's rung decision on scripted
values (with one objective it must decide as Ray's ASHA does), and the rung layout. No Ray.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from orchestrator.decisions.moasha import cutoff, rung_continues, rung_milestones, rung_to_record

NAN = math.nan


def ray_asha_continues(others: list[float], value: float, mode: str, eta: float) -> bool:
    """Ray Tune's ASHA at one rung, transcribed from ray/tune/schedulers/async_hyperband.py (2.x):
    the scheduler multiplies the metric by -1 for mode "min"; ``_Bracket.cutoff`` is
    ``np.nanpercentile(recorded, (1 - 1 / rf) * 100)`` over the values recorded before this
    trial (None when there are none); ``on_result`` stops when ``cur_rew < cutoff``."""
    sign = 1.0 if mode == "max" else -1.0
    recorded = [sign * v for v in others]
    if not recorded:
        return True
    cut = np.nanpercentile(recorded, (1 - 1 / eta) * 100)
    return not (sign * value < cut)


@pytest.mark.parametrize("eta", [2, 3, 4, 2.5])
@pytest.mark.parametrize("mode", ["min", "max"])
def test_one_objective_decides_as_rays_asha(eta, mode):
    rng = random.Random(f"{eta}{mode}")
    for _ in range(30):
        arrivals = [round(rng.uniform(0, 1), rng.choice([1, 3])) for _ in range(rng.randint(1, 15))]
        recorded: list[tuple[float]] = []
        for v in arrivals:
            expected = ray_asha_continues([r[0] for r in recorded], v, mode, eta)
            recorded.append((v,))  # the adapter records the value, then asks
            assert rung_continues(recorded, (v,), [mode], eta) == expected, (arrivals, v)


def test_one_objective_by_hand():
    # val_loss (min), eta 3: the cutoff is the 1/3 percentile of the losses -> the best third goes on.
    others = [(0.5,), (0.4,), (0.3,)]
    assert rung_continues([*others, (0.35,)], (0.35,), ["min"], 3)
    assert not rung_continues([*others, (0.45,)], (0.45,), ["min"], 3)
    assert cutoff([-0.5, -0.4, -0.3], 3) == pytest.approx(-0.3666666, rel=1e-5)


def test_the_first_trial_at_a_rung_goes_on():
    assert rung_continues([(0.1, 5.0)], (0.1, 5.0), ["max", "min"], 3)
    assert rung_continues([], (NAN,), ["min"], 3)


def test_recorded_may_leave_the_new_trial_out():
    others = [(0.9, 1000.0), (0.8, 500.0), (0.7, 200.0), (0.6, 5000.0)]
    for new in [(0.95, 100.0), (0.5, 9000.0), (0.8, 400.0)]:
        assert rung_continues(others, new, ["max", "min"], 3) == rung_continues([*others, new], new, ["max", "min"], 3)


def test_several_objectives_the_front_goes_on_the_dominated_stop():
    # acc (max), params (min); 5 trials recorded, eta 3.
    others = [(0.90, 1000.0), (0.95, 5000.0), (0.80, 800.0), (0.70, 9000.0), (0.75, 8000.0)]
    best_acc = (0.97, 20000.0)  # a new extreme of the front: first in the promotion order
    smallest = (0.60, 100.0)  # the other extreme
    dominated = (0.72, 8500.0)  # behind nearly everyone
    for new in (best_acc, smallest):
        assert rung_continues([*others, new], new, ["max", "min"], 3)
    assert not rung_continues([*others, dominated], dominated, ["max", "min"], 3)


def test_several_objectives_ties_in_the_front_are_broken_by_spread():
    # Every point is on one front: the two extremes and a cluster near the most accurate one.
    # With eta 3 and 7 points about 2 go on: after the extremes, the point farthest from those
    # taken. A new point in the empty middle of the front goes on; one in the cluster waits.
    others = [(0.60, 100.0), (0.97, 20000.0), (0.965, 19000.0), (0.96, 18000.0), (0.955, 17000.0),
              (0.95, 16000.0)]
    middle = (0.85, 5000.0)
    crowded = (0.968, 19500.0)
    assert rung_continues([*others, middle], middle, ["max", "min"], 3)
    assert not rung_continues([*others, crowded], crowded, ["max", "min"], 3)
    extreme = (0.99, 30000.0)  # a new extreme of the front is taken first
    assert rung_continues([*others, extreme], extreme, ["max", "min"], 3)


def test_about_one_in_eta_go_on_with_several_objectives():
    # A rung where everyone reports at once: the k-th arrival is judged against the k-1 before it.
    rng = random.Random(7)
    points = [(rng.random(), rng.random()) for _ in range(60)]
    recorded: list[tuple[float, float]] = []
    go_on = 0
    for p in points:
        recorded.append(p)
        go_on += rung_continues(recorded, p, ["max", "min"], 3)
    assert 10 <= go_on <= 30  # asynchronous: early arrivals pass more easily, as in Ray's ASHA


def test_non_finite_values_stop():
    assert not rung_continues([(0.5,), (0.4,), (NAN,)], (NAN,), ["min"], 3)
    assert not rung_continues([(0.9, 10.0), (0.8, 5.0), (NAN, 1.0)], (NAN, 1.0), ["max", "min"], 3)
    # A non-finite recorded value is left out of the cutoff.
    assert rung_continues([(NAN,), (0.4,)], (0.4,), ["min"], 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="eta"):
        rung_continues([(1.0,)], (1.0,), ["min"], 1)
    with pytest.raises(ValueError, match="one value per objective"):
        rung_continues([(1.0, 2.0)], (1.0,), ["min", "min"], 3)


def test_rungs_are_laid_out_as_rays_bracket():
    # Ray: MAX_RUNGS = int(log(max_t / min_t) / log(rf) - s + 1); rungs min_t * rf ** (k + s), highest first.
    assert rung_milestones(1, 10, 2) == [8, 4, 2, 1]
    assert rung_milestones(1, 9, 3) == [9, 3, 1]
    assert rung_milestones(1, 9, 3, bracket=1) == [9, 3]
    assert rung_milestones(2, 20, 3) == [18, 6, 2]
    assert rung_milestones(4, 4, 3) == [4]
    with pytest.raises(ValueError):
        rung_milestones(5, 4, 3)


def test_the_rung_a_result_is_judged_at():
    rungs = [8, 4, 2, 1]
    assert rung_to_record(5, rungs, {1, 2}) == 4
    assert rung_to_record(5, rungs, {1, 2, 4}) is None  # between rungs: it goes on
    assert rung_to_record(3, rungs, set()) == 2  # the highest one reached, as Ray's bracket looks it up
    assert rung_to_record(0.5, rungs, set()) is None
