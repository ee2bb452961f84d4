"""Unit tests for orchestrator.decisions.stopping: the plateau deciders driven by scripted curves, the PBT
mutation table and the checkpoint cadence, built from specs. No Ray, no TensorFlow, no training.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from orchestrator.decisions.stopping import (
    ExperimentPlateau,
    checkpoint_every,
    improved,
    pbt_mutation_table,
    KeepInSpace,
    trial_plateaued,
)
from orchestrator.errors import SpecError
from orchestrator.spec import SweepSpec, parse_spec

NAN, INF = math.nan, math.inf


def _spec(**sections: Any) -> SweepSpec:
    doc: dict[str, Any] = {"data": {"dataset": "digits"}}
    doc.update(sections)
    return parse_spec(doc)


def _first_stop(values: list[float], **kw: Any) -> int | None:
    """The 1-based epoch at which trial_plateaued first says stop, feeding the curve one epoch at a time."""
    for n in range(1, len(values) + 1):
        if trial_plateaued(values[:n], **kw):
            return n
    return None


# -- improved ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, best, mode, expected", [
    (0.5, 0.6, "min", True),
    (0.7, 0.6, "min", False),
    (0.6, 0.6, "min", False),  # equal is not better
    (0.7, 0.6, "max", True),
    (0.5, 0.6, "max", False),
    (0.6, 0.6, "max", False),
])
def test_improved_follows_the_mode(value: float, best: float, mode: str, expected: bool) -> None:
    assert improved(value, best, mode) is expected


def test_improved_needs_more_than_min_delta() -> None:
    assert improved(0.95, 1.0, "min", min_delta=0.01)
    assert not improved(0.995, 1.0, "min", min_delta=0.01)
    assert improved(1.05, 1.0, "max", min_delta=0.01)
    assert not improved(1.005, 1.0, "max", min_delta=0.01)


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_non_finite_value_never_improves(mode: str, bad: float) -> None:
    assert not improved(bad, 1.0, mode)
    assert not improved(bad, NAN, mode)  # not even as a first value


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("value", [0.0, -3.0, 1e9])
def test_first_finite_value_always_improves(mode: str, value: float) -> None:
    assert improved(value, NAN, mode)
    assert improved(value, NAN, mode, min_delta=100.0)


# -- trial_plateaued -----------------------------------------------------------------------------


def test_steadily_improving_curve_never_plateaus() -> None:
    curve = [1.0 / n for n in range(1, 31)]
    assert _first_stop(curve, mode="min", patience=3) is None
    assert _first_stop([-v for v in curve], mode="max", patience=1) is None


def test_flat_after_epoch_3_stops_at_the_third_non_improving_epoch() -> None:
    curve = [1.0, 0.8, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    assert not trial_plateaued(curve[:5], mode="min", patience=3)  # two flat epochs: not yet
    assert trial_plateaued(curve[:6], mode="min", patience=3)
    assert _first_stop(curve, mode="min", patience=3) == 6


def test_worse_values_count_as_no_improvement_and_a_new_best_resets_the_count() -> None:
    curve = [1.0, 0.5, 0.7, 0.9, 0.4, 0.6, 0.6, 0.6]
    # best 0.5 at epoch 2, worse at 3 and 4, new best 0.4 at 5, then 3 worse epochs -> stop at 8
    assert _first_stop(curve, mode="min", patience=3) == 8


def test_improvements_below_min_delta_do_not_count() -> None:
    curve = [1.0, 0.999, 0.998, 0.997, 0.996]
    assert _first_stop(curve, mode="min", patience=3) is None
    assert _first_stop(curve, mode="min", patience=3, min_delta=0.01) == 4


def test_nan_epochs_count_as_no_improvement() -> None:
    assert _first_stop([1.0, NAN, NAN, NAN], mode="min", patience=3) == 4


def test_grace_period_delays_the_decision() -> None:
    flat = [0.5] * 12
    assert _first_stop(flat, mode="min", patience=2) == 3
    assert _first_stop(flat, mode="min", patience=2, grace_period=8) == 8
    assert not trial_plateaued(flat[:7], mode="min", patience=2, grace_period=8)


def test_max_mode_plateau() -> None:
    acc = [0.2, 0.5, 0.7, 0.7, 0.69, 0.7, 0.71]
    assert _first_stop(acc, mode="max", patience=3) == 6
    # the same numbers read as a loss (min) keep "improving" only at epoch 1 -> stop at epoch 4
    assert _first_stop(acc, mode="min", patience=3) == 4


# -- ExperimentPlateau ---------------------------------------------------------------------------


def _feed(plateau: ExperimentPlateau, values: list[float]) -> list[bool]:
    return [plateau.update(v) for v in values]


def test_experiment_plateau_stops_after_patience_results_without_new_best() -> None:
    p = ExperimentPlateau(mode="min", patience=3)
    decisions = _feed(p, [1.0, 0.9, 0.95, 0.92, 0.91, 0.5])
    assert decisions == [False, False, False, False, True, True]
    assert p.stopped  # once stopped, a later better result does not restart the sweep


def test_experiment_plateau_new_best_resets_the_count() -> None:
    p = ExperimentPlateau(mode="max", patience=2)
    assert _feed(p, [0.5, 0.4, 0.6, 0.6, 0.55]) == [False, False, False, False, True]


def test_experiment_plateau_min_delta_and_nan() -> None:
    p = ExperimentPlateau(mode="min", patience=2, min_delta=0.1)
    assert _feed(p, [1.0, 0.95, NAN]) == [False, False, True]


def test_experiment_plateau_never_stops_while_improving() -> None:
    p = ExperimentPlateau(mode="min", patience=1)
    assert not any(_feed(p, [10.0 - i for i in range(50)]))
    assert not p.stopped


# -- pbt_mutation_table --------------------------------------------------------------------------

PBT_PARAMS = {
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
    "units": {"type": "int", "low": 16, "high": 128},
    "batch_size": {"type": "choice", "values": [16, 32, 64]},
    "optimizer": {"type": "choice", "values": ["sgd", "adam"]},
    "hidden_layers": 2,
}


def test_pbt_mutations_default_to_searched_numeric_params_within_spec_ranges() -> None:
    spec = _spec(params=PBT_PARAMS, scheduler={"type": "pbt"})
    table = pbt_mutation_table(spec)
    assert table == {
        "learning_rate": ("loguniform", (1e-4, 1e-1)),
        "batch_size": ("list", ([16, 32, 64],)),  # a list: Ray's PBT moves to a neighbour or resamples
    }
    assert "units" not in table  # it shapes the weights, which an exploited trial takes from a donor
    assert "optimizer" not in table  # categorical
    assert "hidden_layers" not in table and "epochs" not in table  # constants / defaults


def test_pbt_mutations_uniform_and_log_int() -> None:
    spec = _spec(params={"dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
                         "batch_size": {"type": "int", "low": 8, "high": 256, "log": True}},
                 scheduler={"type": "pbt"})
    assert pbt_mutation_table(spec) == {
        "dropout": ("uniform", (0.0, 0.5)),
        "batch_size": ("lograndint", (8, 257)),  # ray's lograndint excludes high: 256 must stay reachable
    }


def test_pbt_refuses_to_perturb_what_shapes_the_weights() -> None:
    with pytest.raises(SpecError) as raised:
        _spec(params=PBT_PARAMS, scheduler={"type": "pbt", "mutations": ["learning_rate", "units"]})
    assert raised.value.key == "scheduler.mutations[1]"
    assert "units shapes the mlp's weights" in raised.value.message and "perturb learning_rate" in raised.value.message


def test_pbt_explicit_mutations_are_honoured() -> None:
    spec = _spec(params=PBT_PARAMS, scheduler={"type": "pbt", "mutations": ["learning_rate", "optimizer"]})
    assert pbt_mutation_table(spec) == {
        "learning_rate": ("loguniform", (1e-4, 1e-1)),
        "optimizer": ("list", (["sgd", "adam"],)),
    }


def test_pbt_perturbations_stay_in_the_spec_ranges() -> None:
    """Ray's PBT multiplies a range's value by 0.8 or 1.2; the explore function puts it back inside."""
    spec = _spec(params={**PBT_PARAMS, "dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
                         "batch_size": {"type": "int", "low": 16, "high": 128}},
                 scheduler={"type": "pbt"})
    keep = KeepInSpace.of(spec)
    config = {"learning_rate": 0.1 * 1.2, "units": 64, "batch_size": int(128 * 1.2), "dropout": 0.5 * 1.2,
              "optimizer": "adam", "hidden_layers": 2}
    assert keep(dict(config)) == {**config, "learning_rate": 0.1, "batch_size": 128, "dropout": 0.5}
    low = keep({"learning_rate": 1e-4 * 0.8, "batch_size": int(16 * 0.8), "dropout": 0.0})
    assert low == {"learning_rate": 1e-4, "batch_size": 16, "dropout": 0.0} and isinstance(low["batch_size"], int)
    inside = {"learning_rate": 0.01, "batch_size": 50, "dropout": 0.25}
    assert keep(dict(inside)) == inside


# -- checkpoint_every ----------------------------------------------------------------------------


@pytest.mark.parametrize("sections, expected", [
    ({"scheduler": {"type": "pbt", "perturbation_interval": 4}}, 4),
    ({"scheduler": {"type": "pbt", "perturbation_interval": 4}, "max_failures": 2}, 4),
    ({"scheduler": {"type": "hyperband"}}, 1),
    ({"scheduler": {"type": "asha"}, "max_failures": 1}, 1),
    ({"max_failures": 3}, 1),
    ({"scheduler": {"type": "asha"}}, 0),
    ({"scheduler": {"type": "median"}}, 0),
    ({}, 0),
])
def test_checkpoint_every(sections: dict[str, Any], expected: int) -> None:
    sections.setdefault("params", {"learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-1}})
    assert checkpoint_every(_spec(**sections)) == expected
