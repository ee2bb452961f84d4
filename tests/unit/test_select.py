"""Unit tests for orchestrator.decisions.select: feasibility, Pareto ranks, each select rule (best,
within, knee) and the no-result reason, on hand-made trials tables. No Ray, no TensorFlow.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from orchestrator.decisions.select import Selection, excess, select, value_of
from orchestrator.spec import Bound, Objective, SelectSpec

NAN = math.nan
ACC = Objective(name="val_accuracy", mode="max")
PARAMS = Objective(name="params", mode="min")


def trial(tid, acc, params, status="completed", **extra):
    return {"trial_id": tid, "status": status, "best_val_accuracy": acc, "params": params, **extra}


# A run as users see it: accuracy grows with the model, with diminishing returns.
RUN = [
    trial("t0", 0.900, 2_000),
    trial("t1", 0.955, 12_000),
    trial("t2", 0.962, 60_000),
    trial("t3", 0.965, 250_000),
    trial("t4", 0.950, 40_000),   # dominated by t1
    trial("t5", 0.970, 900_000, status="diverged"),  # best value, but diverged: never selected
    trial("t6", NAN, 1_000, status="error"),
]


def test_best_picks_the_best_first_objective_among_the_selectable():
    s = select(RUN, [ACC, PARAMS], {}, SelectSpec(rule="best"))
    assert isinstance(s, Selection)
    assert s.selected == "t3"
    assert "best val_accuracy" in s.why


def test_pareto_ranks_and_the_front():
    s = select(RUN, [ACC, PARAMS])
    assert s.pareto_rank == {"t0": 0, "t1": 0, "t2": 0, "t3": 0, "t4": 1, "t5": None, "t6": None}
    assert s.front == ("t3", "t2", "t1", "t0")  # best first objective first
    assert all(s.feasible.values())  # no constraint: every trial is feasible


def test_best_ties_go_to_the_earlier_best_epoch_then_the_earlier_trial():
    rows = [trial("a", 0.9, 10, best_epoch=5), trial("b", 0.9, 10, best_epoch=3), trial("c", 0.9, 10, best_epoch=3)]
    assert select(rows, [ACC]).selected == "b"
    rows = [trial("a", 0.9, 10), trial("b", 0.9, 10)]
    assert select(rows, [ACC]).selected == "a"


def test_best_of_a_tie_on_the_first_objective_is_the_one_on_the_front():
    # as in a real sweep: two widths reach the same accuracy; the bigger one, earlier and at an
    # earlier epoch, is dominated by the smaller one and must not be the choice
    rows = [trial("big", 0.9666, 4_810, best_epoch=2), trial("small", 0.9666, 2_410, best_epoch=4),
            trial("tiny", 0.51, 610, best_epoch=4)]
    s = select(rows, [ACC, PARAMS])
    assert s.pareto_rank == {"big": 1, "small": 0, "tiny": 0}
    assert s.selected == "small" and s.selected in s.front
    # one objective: no front to keep to; the earlier best epoch as before
    assert select(rows, [ACC]).selected == "big"


def test_constraints_rule_out_trials_and_infeasible_ones_rank_after_the_feasible_front():
    s = select(RUN, [ACC, PARAMS], {"params": Bound(max=100_000)})
    assert s.selected == "t2"  # t3 has 250k parameters
    assert s.feasible == {"t0": True, "t1": True, "t2": True, "t3": False, "t4": True, "t5": False, "t6": True}
    # t3 would be on the front; infeasible, it ranks after the feasible fronts (0: t0 t1 t2, 1: t4).
    assert s.pareto_rank["t3"] == 2 and s.pareto_rank["t4"] == 1
    assert s.front == ("t2", "t1", "t0")


def test_a_metric_constraint_is_judged_on_the_best_column_and_a_missing_value_breaks_it():
    rows = [trial("a", 0.96, 10, best_val_loss=0.7, val_loss=0.2),  # best_ wins over the plain column
            trial("b", 0.94, 10, best_val_loss=0.3),
            trial("c", 0.97, 10)]  # no val_loss at all
    s = select(rows, [ACC], {"val_loss": {"max": 0.5}})
    assert s.feasible == {"a": False, "b": True, "c": False}
    assert s.selected == "b"
    assert value_of({"val_loss": 0.2}, "val_loss") == 0.2
    assert value_of({"best_val_loss": None, "val_loss": 0.2}, "val_loss") == 0.2


def test_a_trial_that_broke_a_cost_constraint_before_training_is_never_feasible():
    rows = [trial("a", 0.9, 10), trial("b", NAN, 5, status="infeasible")]
    s = select(rows, [ACC], {"params": Bound(min=1)})
    assert s.feasible == {"a": True, "b": False} and s.selected == "a" and s.pareto_rank["b"] is None


def test_within_picks_the_smallest_model_within_the_tolerance_of_the_best():
    rule = SelectSpec(rule="within", of="val_accuracy", tolerance=0.01, then="params")
    s = select(RUN, [ACC, PARAMS], {}, rule)
    # best selectable accuracy 0.965; within 0.01: t1 (0.955, exactly on the edge), t2, t3, t4 -> smallest t1
    assert s.selected == "t1"
    assert "lowest params" in s.why and "within 0.01 of the best val_accuracy" in s.why
    assert select(RUN, [ACC, PARAMS], {}, {"rule": "within", "tolerance": 0.005}).selected == "t2"
    assert select(RUN, [ACC, PARAMS], {}, {"rule": "within", "tolerance": 0.0}).selected == "t3"


def test_within_defaults_and_ties():
    # Defaults: of = the first objective, then = the second (else params), tolerance 0.01.
    assert select(RUN, [ACC, PARAMS], {}, "within").selected == "t1"
    assert select(RUN, [ACC], {}, "within").selected == "t1"  # then: params
    # Equal `then`: the better `of` wins, then the earlier trial.
    rows = [trial("a", 0.95, 100), trial("b", 0.96, 100), trial("c", 0.96, 100), trial("d", 0.961, 500)]
    assert select(rows, [ACC, PARAMS], {}, "within").selected == "b"


def test_within_on_a_loss_and_a_latency():
    rows = [{"trial_id": "a", "best_val_loss": 0.30, "latency_ms": 4.0},
            {"trial_id": "b", "best_val_loss": 0.32, "latency_ms": 1.0},
            {"trial_id": "c", "best_val_loss": 0.36, "latency_ms": 0.5}]
    rule = {"rule": "within", "of": "val_loss", "tolerance": 0.05, "then": "latency_ms"}
    assert select(rows, [("val_loss", "min")], {}, rule).selected == "b"  # c is 0.06 worse
    # A constraint still rules a trial out before the rule looks.
    assert select(rows, [("val_loss", "min")], {"latency_ms": {"max": 0.9}}, rule).selected == "c"


def test_knee_picks_the_knee_of_the_feasible_front():
    s = select(RUN, [ACC, PARAMS], {}, SelectSpec(rule="knee"))
    assert s.selected == "t1"  # 0.955 at 12k parameters: most of the accuracy at a fraction of the size
    assert "knee" in s.why


def test_knee_of_a_front_of_two_points_is_the_best_first_objective():
    rows = [trial("a", 0.90, 1_000), trial("b", 0.95, 50_000), trial("c", 0.80, 60_000)]
    s = select(rows, [ACC, PARAMS], {}, "knee")
    assert s.front == ("b", "a") and s.selected == "b"


def test_no_feasible_trial_names_the_constraint_that_ruled_out_most_and_the_closest_trial():
    rows = [trial("a", 0.90, 150_000, latency_ms=1.0),
            trial("b", 0.95, 400_000, latency_ms=3.0),
            trial("c", 0.93, 110_000, latency_ms=2.5),
            trial("d", NAN, 900_000, status="infeasible", latency_ms=9.0)]
    constraints = {"latency_ms": Bound(max=2.0), "params": Bound(max=100_000)}
    s = select(rows, [ACC, PARAMS], constraints)
    assert s.selected is None and s.front == () and not any(s.feasible.values())
    assert s.binding == "params"  # ruled out all 4; latency only 3
    # relative excess: a 0.5, b 3.0 + 0.5, c 0.1 + 0.25 = 0.35, d inf
    assert s.closest == "c" and s.closest_excess == pytest.approx(0.35)
    assert s.reason.startswith("params <= 100000 ruled out 4 of 4 trials; the closest trial, c, broke")
    assert "latency_ms 2.5 (25.0% out)" in s.reason and "params 110000 (10.0% out)" in s.reason
    assert "\n" not in s.reason


def test_no_trial_with_a_finite_objective():
    rows = [trial("a", NAN, 10, status="error"), trial("b", 0.9, 10, status="diverged")]
    s = select(rows, [ACC, PARAMS])
    assert s.selected is None and s.reason == "no trial finished with a finite value of val_accuracy, params"
    assert select([], [ACC]).selected is None


def test_eligible_overrides_the_status():
    s = select(RUN, [ACC, PARAMS], {}, "best", eligible={"t0", "t1", "t5"})
    assert s.selected == "t5" and s.pareto_rank["t3"] is None


def test_a_dataframe_and_plain_names_work_as_well():
    frame = pd.DataFrame(RUN)
    s = select(frame, ["val_accuracy", "params"], {"params": {"max": 100_000}}, "within")
    assert s.selected == "t1" and s.front == ("t2", "t1", "t0")


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="unknown select rule"):
        select(RUN, [ACC], {}, "median")
    with pytest.raises(ValueError, match="tolerance"):
        select(RUN, [ACC], {}, {"rule": "within", "tolerance": -1})
    with pytest.raises(ValueError, match="objective"):
        select(RUN, [], {})


def test_excess_is_relative_to_the_bound_broken():
    assert excess(120.0, {"max": 100}) == pytest.approx(0.2)
    assert excess(0.8, Bound(min=0.9)) == pytest.approx(0.1 / 0.9)
    assert excess(0.5, {"max": 0}) == pytest.approx(0.5)
    assert excess(50.0, {"max": 100, "min": 10}) == 0.0
    assert excess(NAN, {"max": 1}) == math.inf


def test_knee_of_a_front_that_does_not_bulge_is_the_best_first_objective():
    # A straight front (in normalised units): no point bulges towards the ideal one.
    rows = [trial("a", 0.90, 1_000), trial("b", 0.95, 2_000), trial("c", 1.00, 3_000)]
    s = select(rows, [ACC, PARAMS], {}, "knee")
    assert s.selected == "c" and "no knee" in s.why
