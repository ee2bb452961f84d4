"""Unit tests for orchestrator.decisions.pareto: non-dominated sorting with mixed modes, the spread
order inside a front, the promotion order, exact hypervolume (checked against inclusion-exclusion)
and the knee of a front -- on hand-made points. No Ray, no TensorFlow.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from orchestrator.decisions.pareto import (
    hypervolume,
    knee_index,
    non_dominated_ranks,
    promotion_order,
    spread_order,
)

NAN, INF = math.nan, math.inf
ACC_PARAMS = ["max", "min"]  # val_accuracy (higher better), params (lower better)


def test_ranks_two_objectives_with_mixed_modes():
    #            acc   params
    points = [(0.90, 1000),   # a: front (smallest)
              (0.95, 5000),   # b: front
              (0.97, 20000),  # c: front (most accurate)
              (0.94, 6000),   # d: dominated by b only -> front 1
              (0.89, 2000),   # e: dominated by a only -> front 1 (d and e do not dominate each other)
              (0.80, 30000)]  # f: dominated by everything
    assert non_dominated_ranks(points, ACC_PARAMS) == [0, 0, 0, 1, 1, 2]


def test_the_same_points_in_min_min_give_other_fronts():
    points = [(0.90, 1000), (0.95, 5000), (0.80, 30000)]
    assert non_dominated_ranks(points, ["min", "min"]) == [0, 1, 0]  # 0.80 is now the best first value


def test_equal_points_share_a_rank_and_a_tie_in_one_objective_is_decided_by_the_other():
    points = [(1.0, 2.0), (1.0, 2.0), (1.0, 3.0), (2.0, 1.0)]
    assert non_dominated_ranks(points, ["min", "min"]) == [0, 0, 1, 0]


def test_three_objectives():
    # acc max, params min, latency min
    points = [(0.9, 100, 5.0), (0.9, 100, 4.0), (0.95, 200, 9.0), (0.85, 50, 9.0), (0.85, 200, 9.0)]
    assert non_dominated_ranks(points, ["max", "min", "min"]) == [1, 0, 0, 0, 2]


def test_non_finite_points_are_never_on_the_front():
    points = [(0.5, 100), (NAN, 10), (0.9, INF), (0.6, 200), (INF, 1)]
    # +inf accuracy is not "best": a non-finite value is worse than every finite one.
    assert non_dominated_ranks(points, ACC_PARAMS) == [0, 1, 1, 0, 1]
    assert non_dominated_ranks([(NAN, 1.0)], ["min", "min"]) == [1]
    assert non_dominated_ranks([], ["min", "min"]) == []


def test_bad_modes_and_shapes_are_refused():
    with pytest.raises(ValueError, match="modes"):
        non_dominated_ranks([(1, 2)], ["min", "up"])
    with pytest.raises(ValueError, match="one value per objective"):
        non_dominated_ranks([(1, 2, 3)], ["min", "min"])


def test_spread_order_takes_the_extremes_first_then_the_farthest_point():
    # A front in (min, min): x from 0 to 10, y = 10 - x, points crowded near one end.
    front = [(1.0, 9.0), (0.0, 10.0), (1.5, 8.5), (5.0, 5.0), (10.0, 0.0), (2.0, 8.0)]
    order = spread_order(front, ["min", "min"])
    assert order[:2] == [1, 4]  # best x, best y
    assert order[2] == 3  # (5, 5): farthest from both extremes
    assert sorted(order) == list(range(len(front)))
    # The crowded points come last; among them the one farthest from what was taken goes first.
    assert order[3] == 5  # (2, 8) is farther from (0,10) and (5,5) than (1,9) or (1.5,8.5)


def test_spread_order_ties_go_to_the_earlier_point_and_duplicates_come_last():
    front = [(0.0, 1.0), (1.0, 0.0), (0.0, 1.0)]
    assert spread_order(front, ["min", "min"]) == [0, 1, 2]
    assert spread_order([], ["min"]) == []
    assert spread_order([(3.0,)]) == [0]


def test_spread_order_honours_modes():
    # With acc max, the best first objective is the HIGHEST accuracy.
    front = [(0.90, 1000), (0.97, 20000), (0.95, 5000)]
    assert spread_order(front, ACC_PARAMS)[:2] == [1, 0]


def test_promotion_order_goes_front_by_front_and_puts_non_finite_last():
    points = [(0.80, 30000), (0.97, 20000), (NAN, 10), (0.90, 1000), (0.94, 6000), (0.95, 5000)]
    order = promotion_order(points, ACC_PARAMS)
    assert set(order[:3]) == {1, 3, 5}  # the front: 0.97/20000, 0.90/1000, 0.95/5000
    assert order[:2] == [1, 3]  # its extremes first: the best accuracy, then the smallest
    assert order[3:] == [4, 0, 2]  # front 1, front 2, then the NaN point


def _box_union_volume(points, ref):
    """Inclusion-exclusion over the boxes [p, ref] (min everywhere): exact, exponential, for checking."""
    total = 0.0
    for r in range(1, len(points) + 1):
        for subset in itertools.combinations(points, r):
            corner = [max(p[d] for p in subset) for d in range(len(ref))]
            vol = math.prod(max(0.0, ref[d] - corner[d]) for d in range(len(ref)))
            total += (-1) ** (r + 1) * vol
    return total


@pytest.mark.parametrize("k", [2, 3])
def test_hypervolume_equals_inclusion_exclusion_on_random_points(k):
    rng = random.Random(k)
    for _ in range(25):
        points = [tuple(rng.choice([rng.random(), round(rng.random(), 1)]) for _ in range(k))
                  for _ in range(rng.randint(1, 7))]
        ref = tuple([1.0] * k)
        assert hypervolume(points, ["min"] * k, ref) == pytest.approx(_box_union_volume(points, ref), abs=1e-12)


def test_hypervolume_by_hand_with_mixed_modes():
    # acc max, params min; reference (0.0 acc, 100 params)
    points = [(0.5, 20), (0.8, 60), (0.4, 80)]  # the last is dominated
    # As (min, min) with acc negated: boxes [-0.5, 0]x[20, 100] and [-0.8, 0]x[60, 100]:
    # 0.5*80 + (0.8-0.5)*40 = 40 + 12 = 52.
    assert hypervolume(points, ACC_PARAMS, (0.0, 100)) == pytest.approx(52.0)
    assert hypervolume([(0.9, 5.0, 1.0)], ["max", "min", "min"], (0.0, 10.0, 2.0)) == pytest.approx(0.9 * 5 * 1)
    assert hypervolume([(3.0,), (2.0,)], ["min"], (5.0,)) == pytest.approx(3.0)


def test_hypervolume_ignores_points_beyond_the_reference_and_non_finite_ones():
    assert hypervolume([(2.0, 0.5), (NAN, 0.1), (0.5, 1.0)], ["min", "min"], (1.0, 1.0)) == 0.0
    assert hypervolume([], ["min", "min"], (1.0, 1.0)) == 0.0
    with pytest.raises(ValueError, match="1 to 3"):
        hypervolume([(1, 1, 1, 1)], ["min"] * 4, (2, 2, 2, 2))
    with pytest.raises(ValueError, match="reference"):
        hypervolume([(1, 1)], ["min", "min"], (2,))


def test_a_better_front_has_a_larger_hypervolume():
    worse = [(0.90, 5000), (0.95, 50000)]
    better = [(0.92, 4000), (0.95, 30000), (0.97, 90000)]
    ref = (0.5, 100000)
    assert hypervolume(better, ACC_PARAMS, ref) > hypervolume(worse, ACC_PARAMS, ref)


def test_knee_of_a_two_objective_front():
    # (min, min): a front bulging at (1, 1) towards the ideal point (0, 0).
    front = [(0.0, 10.0), (1.0, 1.0), (10.0, 0.0), (3.0, 0.5), (0.5, 4.0)]
    assert knee_index(front, ["min", "min"]) == 1


def test_knee_with_accuracy_max_and_params_min():
    # The knee: most of the accuracy for a fraction of the size.
    front = [(0.80, 1_000), (0.95, 10_000), (0.96, 60_000), (0.97, 200_000)]
    assert knee_index(front, ACC_PARAMS) == 1


def test_a_straight_or_hollow_front_has_no_knee_and_gives_the_best_first_objective():
    straight = [(0.0, 2.0), (1.0, 1.0), (2.0, 0.0)]
    assert knee_index(straight, ["min", "min"]) == 0
    hollow = [(0.0, 2.0), (1.8, 1.8), (2.0, 0.0)]  # bulges away from the ideal point
    assert knee_index(hollow, ["min", "min"]) == 0
    assert knee_index([(0.9, 100), (0.8, 10)], ACC_PARAMS) == 0  # two points: best accuracy
    assert knee_index([(5.0,), (3.0,), (4.0,)], ["min"]) == 1


def test_knee_of_a_three_objective_front():
    # Extremes (0,1,1), (1,0,1), (1,1,0) span the plane x+y+z=2; (0.2,0.2,0.2) bulges towards 0.
    front = [(0.0, 1.0, 1.0), (1.0, 0.0, 1.0), (1.0, 1.0, 0.0), (0.6, 0.6, 0.6), (0.2, 0.2, 0.2)]
    assert knee_index(front, ["min", "min", "min"]) == 4


def test_knee_with_three_objectives_whose_extremes_coincide_uses_the_line():
    # The best of objectives 1 and 2 is one point: the extremes lie on a line.
    front = [(0.0, 1.0, 1.0), (1.0, 0.0, 0.0), (0.1, 0.1, 0.1), (0.5, 0.5, 0.5)]
    assert knee_index(front, ["min", "min", "min"]) == 2


def test_knee_refuses_empty_or_non_finite_fronts():
    with pytest.raises(ValueError, match="empty"):
        knee_index([], ["min", "min"])
    with pytest.raises(ValueError, match="finite"):
        knee_index([(1.0, NAN), (0.0, 1.0), (2.0, 0.0)], ["min", "min"])
