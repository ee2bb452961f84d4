"""The babysitter's decisions on scripted learning curves, and how it picks the next model.

No Ray, no TensorFlow: the curves are lists typed in here, shaped like the digits runs the
diagnosis thresholds were calibrated on (baseline loss ln(10) = 2.303).
"""

from __future__ import annotations

import math
import random
import textwrap
from pathlib import Path

import pytest

from orchestrator.decisions.babysit_rules import (
    ACTIONS,
    Applied,
    Decision,
    ModelOutcome,
    Rules,
    clamp,
    decide,
    lr_bounds,
    next_config,
    start_config,
)
from orchestrator.spec import BabysitSpec, Choice, Constant, IntRange, LogUniform, Uniform, load_spec

BASE = math.log(10)
RULES = Rules(BabysitSpec(patience=3, cooldown=2, max_decays=2, max_reverts=3), lr_low=1e-4, lr_high=1.0)


def _decide(train, val, metric=None, lr=0.01, mode="min", interventions=(), rules=RULES) -> Decision:
    return decide(train, val, val if metric is None else metric, lr, mode=mode, baseline_loss=BASE, rules=rules,
                  applied=[Applied(e, a) for e, a in interventions])


# ------------------------------------------------------------------------------------------
# decide: one scripted curve per action
# ------------------------------------------------------------------------------------------


def test_a_healthy_curve_continues():
    d = _decide([1.9, 1.1, 0.7, 0.5, 0.4], [1.8, 1.0, 0.7, 0.55, 0.45])
    assert d.action == "continue" and d.new_lr == d.old_lr == 0.01
    assert not d.stops and d.revert_to_epoch is None


def test_nan_loss_reverts_to_the_best_epoch_and_cuts_the_learning_rate():
    d = _decide([1.5, 0.9, math.nan], [1.4, 0.8, math.nan], lr=0.5)
    assert d.action == "revert_and_cut_lr" and d.reason == "diverged"
    assert d.old_lr == 0.5 and d.new_lr == pytest.approx(0.5 * RULES.babysit.lr_cut)
    assert d.revert_to_epoch == 2
    assert not d.stops


def test_an_exploding_training_loss_reverts_even_right_after_a_change():
    # cooldown does not protect a blow-up: epoch 4 follows a raise at epoch 3
    d = _decide([2.0, 1.5, 1.2, 25.0], [2.0, 1.4, 1.1, 30.0], lr=0.9, interventions=[(3, "raise_lr")])
    assert d.action == "revert_and_cut_lr" and d.reason == "diverged"
    assert d.revert_to_epoch == 3 and d.new_lr < 0.9


def test_a_diverged_first_epoch_reverts_to_the_initial_weights():
    d = _decide([math.inf], [math.inf], lr=1.0)
    assert d.action == "revert_and_cut_lr" and d.revert_to_epoch == 0


def test_a_loss_far_above_the_trivial_predictors_is_divergence_from_the_first_epoch():
    # Adam at lr=3 on digits: the first epoch's loss is already hundreds (no "first value" to compare)
    d = _decide([869.0], [999.0], lr=3.0)
    assert d.action == "revert_and_cut_lr" and d.reason == "diverged" and d.revert_to_epoch == 0


def test_still_worse_than_the_trivial_predictor_after_a_few_epochs_cuts_the_learning_rate():
    d = _decide([3.1, 3.0, 3.05], [3.2, 3.1, 3.0], lr=0.5)
    assert d.action == "revert_and_cut_lr" and "trivial" in d.detail
    # the same curve is not "too slow": raising the rate would make it worse
    assert d.new_lr < 0.5


def test_a_model_that_never_beat_the_trivial_loss_is_not_called_overfitting():
    train = [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.5]
    val = [8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0]
    rules = Rules(BabysitSpec(), lr_low=1e-4, lr_high=1.0, explode_factor=100.0)
    assert _decide(train, val, lr=0.01, rules=rules).action != "stop_overfit"


def test_swinging_losses_are_oscillation_and_cut_the_learning_rate():
    val = [1.2, 0.5, 1.3, 0.45, 1.25, 0.5]
    train = [1.5, 0.9, 1.4, 0.8, 1.3, 0.9]
    d = _decide(train, val, lr=0.3)
    assert d.action == "revert_and_cut_lr" and d.reason == "oscillating"
    assert d.revert_to_epoch == 4  # the lowest validation loss
    assert d.new_lr == pytest.approx(0.09)


def test_oscillation_is_judged_on_the_epochs_since_the_last_change():
    # the swings happened before the cut at epoch 6; since then the curve is smooth
    val = [1.2, 0.5, 1.3, 0.45, 1.25, 0.5, 0.44, 0.40, 0.37, 0.35]
    train = [1.5, 0.9, 1.4, 0.8, 1.3, 0.9, 0.45, 0.40, 0.36, 0.33]
    d = _decide(train, val, lr=0.09, interventions=[(6, "revert_and_cut_lr")])
    assert d.action == "continue"


def test_divergence_after_the_allowed_reverts_stops_the_model():
    spent = [(2, "revert_and_cut_lr"), (4, "revert_and_cut_lr"), (6, "revert_and_cut_lr")]
    d = _decide([1.5, 0.9, 0.8, 0.7, 0.6, 0.5, math.nan], [1.4, 0.8] + [0.7] * 4 + [math.nan], lr=0.01,
                interventions=spent)
    assert d.action == "stop_diverged" and d.stops
    assert d.revert_to_epoch is not None


def test_divergence_at_the_lowest_learning_rate_stops_the_model():
    d = _decide([1.5, math.nan], [1.4, math.nan], lr=RULES.lr_low)
    assert d.action == "stop_diverged"


def test_learning_too_slowly_raises_the_learning_rate_within_the_space():
    train = [2.30, 2.29, 2.29, 2.28]
    d = _decide(train, [2.30, 2.29, 2.29, 2.28], lr=1e-4)
    assert d.action == "raise_lr" and d.reason == "too_slow"
    assert d.new_lr == pytest.approx(3e-4)
    near_top = _decide(train, train, lr=0.8)
    assert near_top.action == "raise_lr" and near_top.new_lr == RULES.lr_high  # clamped
    at_top = _decide(train, train, lr=RULES.lr_high)
    assert at_top.action != "raise_lr"


def test_too_slow_waits_for_the_cooldown_after_a_raise():
    train = [2.30, 2.29, 2.29, 2.28, 2.27]
    assert _decide(train, train, lr=3e-4, interventions=[(4, "raise_lr")]).action == "continue"
    train7 = train + [2.26, 2.25]
    assert _decide(train7, train7, lr=3e-4, interventions=[(4, "raise_lr")]).action == "raise_lr"


def test_a_plateau_decays_the_learning_rate_then_stops_the_converged_model():
    train = [1.2, 0.5, 0.3, 0.25, 0.24, 0.235, 0.232]
    acc = [0.80, 0.90, 0.95, 0.96, 0.958, 0.959, 0.957]
    val = [1.1, 0.5, 0.3, 0.26, 0.262, 0.261, 0.263]
    d = _decide(train, val, acc, lr=0.01, mode="max")
    assert d.action == "decay_lr" and d.reason == "plateau"
    assert d.new_lr == pytest.approx(0.005)
    # after two decays that did not help, the model is done
    more_acc = acc + [0.958, 0.957, 0.958, 0.956]
    more_train = train + [0.231, 0.230, 0.230, 0.229]
    more_val = val + [0.262, 0.263, 0.262, 0.263]
    d2 = _decide(more_train, more_val, more_acc, lr=0.0025, mode="max",
                 interventions=[(4, "decay_lr"), (7, "decay_lr")])
    assert d2.action == "stop_converged" and d2.stops
    assert d2.revert_to_epoch == 4  # the best accuracy


def test_min_delta_makes_tiny_gains_count_as_a_plateau():
    acc = [0.80, 0.90, 0.950, 0.9501, 0.9502, 0.9503]
    train = [1.2, 0.5, 0.30, 0.28, 0.27, 0.26]
    strict = Rules(BabysitSpec(patience=3, min_delta=0.001), lr_low=1e-4, lr_high=1.0)
    assert _decide(train, train, acc, mode="max").action == "continue"
    assert _decide(train, train, acc, mode="max", rules=strict).action == "decay_lr"


def test_validation_loss_rising_while_training_falls_stops_an_overfitting_model():
    train = [1.5, 0.8, 0.5, 0.35, 0.25, 0.18, 0.12, 0.08]
    val = [1.4, 0.8, 0.55, 0.5, 0.56, 0.64, 0.72, 0.80]
    d = _decide(train, val, lr=0.01)
    assert d.action == "stop_overfit" and d.reason == "overfit" and d.stops
    assert d.revert_to_epoch == 4


def test_a_model_stuck_high_is_underfitting_and_asks_for_more_capacity():
    # it learned something (not too slow), then levelled off at ~55% of the trivial loss
    train = [2.0, 1.5, 1.3, 1.27, 1.265, 1.262, 1.261, 1.260]
    val = [1.9, 1.45, 1.28, 1.26, 1.258, 1.259, 1.259, 1.26]
    d = _decide(train, val, lr=0.01)
    assert d.action == "next_more_capacity" and d.reason == "underfit" and d.stops


def test_every_action_is_reached_by_some_curve_above():
    # the table of actions is what the tests above cover; a new action needs a test
    assert set(ACTIONS) == {"continue", "revert_and_cut_lr", "decay_lr", "raise_lr", "stop_overfit",
                            "next_more_capacity", "stop_diverged", "stop_converged"}


# ------------------------------------------------------------------------------------------
# the space: bounds, start, next model
# ------------------------------------------------------------------------------------------


def _load(tmp_path: Path, params: str, extra: str = "") -> object:
    f = tmp_path / "s.yaml"
    f.write_text(textwrap.dedent(f"""
        data: {{dataset: digits}}
        metric: val_accuracy
        strategy: babysit
        {extra}
        params:
        """) + textwrap.indent(textwrap.dedent(params), "  "), encoding="utf-8")
    return load_spec(f)


SPACE = """
learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0}
units: {type: choice, values: [16, 32, 64, 128, 256]}
dropout: {type: uniform, low: 0.0, high: 0.5}
hidden_layers: {type: int, low: 1, high: 3}
"""


def test_rules_take_the_learning_rate_bounds_from_the_space(tmp_path):
    spec = _load(tmp_path, SPACE)
    assert lr_bounds(spec) == (1e-4, 1.0)
    rules = Rules.of(spec)
    assert (rules.lr_low, rules.lr_high) == (1e-4, 1.0)
    fixed = _load(tmp_path, "units: 32\n", "model: {learning_rate: 0.01}")
    assert lr_bounds(fixed) == pytest.approx((1e-5, 0.1))


def test_the_first_model_starts_in_the_middle_of_the_space(tmp_path):
    spec = _load(tmp_path, SPACE)
    c, why = next_config([], spec)
    assert c == start_config(spec)
    assert c["learning_rate"] == pytest.approx(0.01)  # geometric middle of 1e-4..1
    assert c["units"] == 64 and c["dropout"] == pytest.approx(0.25) and c["hidden_layers"] == 2
    assert "first" in why


def test_clamp_snaps_to_choices_and_clips_ranges(tmp_path):
    spec = _load(tmp_path, SPACE)
    c = clamp(spec, {"learning_rate": 5.0, "units": 100, "dropout": -0.3, "hidden_layers": 9, "epochs": 999})
    assert c["learning_rate"] == 1.0 and c["units"] == 128 and c["dropout"] == 0.0 and c["hidden_layers"] == 3
    assert c["epochs"] == 20  # a constant stays what the spec says


def _outcome(config, action, best=0.9, lr=0.003, train=0.2, val=0.3):
    return ModelOutcome(config=config, action=action, best_value=best, lr_at_best=lr,
                        train_loss_at_best=train, val_loss_at_best=val)


def test_after_overfitting_the_next_model_is_more_regularised(tmp_path):
    spec = _load(tmp_path, SPACE)
    first = start_config(spec)
    c, why = next_config([_outcome(first, "stop_overfit")], spec)
    assert c["dropout"] == pytest.approx(first["dropout"] + 0.1)
    assert c["learning_rate"] == pytest.approx(0.003)  # the rate that worked carries over
    assert "overfit" in why
    # with no regularisation to add (dropout fixed), less capacity instead
    spec2 = _load(tmp_path, "units: {type: choice, values: [16, 32, 64, 128, 256]}\n")
    c2, _ = next_config([_outcome(start_config(spec2), "stop_overfit")], spec2)
    assert c2["units"] == 32


def test_after_underfitting_the_next_model_has_more_capacity(tmp_path):
    spec = _load(tmp_path, SPACE)
    first = start_config(spec)
    c, why = next_config([_outcome(first, "next_more_capacity")], spec)
    assert c["units"] == 128 and c["hidden_layers"] == first["hidden_layers"]
    assert "underfit" in why


def test_after_diverging_the_next_model_has_a_smaller_learning_rate(tmp_path):
    spec = _load(tmp_path, SPACE)
    first = start_config(spec)
    c, _ = next_config([_outcome(first, "stop_diverged", best=math.nan, lr=None)], spec)
    assert c["learning_rate"] < first["learning_rate"]


def test_after_a_converged_model_the_gap_says_regularise_or_grow(tmp_path):
    spec = _load(tmp_path, SPACE)
    first = start_config(spec)
    high_variance, _ = next_config([_outcome(first, "stop_converged", train=0.05, val=0.30)], spec)
    assert high_variance["dropout"] > first["dropout"]
    high_bias, _ = next_config([_outcome(first, "stop_converged", train=0.30, val=0.31)], spec)
    assert high_bias["units"] > first["units"]


def test_the_next_model_builds_on_the_best_one_not_the_last(tmp_path):
    spec = _load(tmp_path, SPACE)
    a = start_config(spec)
    b = dict(a, units=256)
    c, _ = next_config([_outcome(a, "stop_converged", best=0.97, train=0.05, val=0.3),
                        _outcome(b, "stop_converged", best=0.91, train=0.05, val=0.3)], spec)
    assert c["units"] == 64  # from a (the best), regularised


def test_a_configuration_already_tried_is_replaced_by_a_random_draw(tmp_path):
    spec = _load(tmp_path, SPACE)
    first = start_config(spec)
    grown = dict(first, units=128)  # what growing the first (best) model gives
    history = [_outcome(first, "stop_converged", best=0.97, lr=None, train=0.3, val=0.3),
               _outcome(grown, "stop_converged", best=0.95, lr=None, train=0.3, val=0.3)]
    c, why = next_config(history, spec, random.Random(0))
    assert c not in [clamp(spec, h.config) for h in history]
    assert "at random" in why
    assert c == next_config(history, spec, random.Random(0))[0]  # seeded: reproducible


@pytest.mark.parametrize("seed", range(40))
def test_the_next_model_is_always_inside_the_space(tmp_path, seed):
    spec = _load(tmp_path, SPACE + "l2: {type: loguniform, low: 1.0e-6, high: 1.0e-2}\n"
                 "optimizer: {type: choice, values: [adam, sgd]}\n")
    rng = random.Random(seed)
    history = []
    for _ in range(6):
        wild = {"learning_rate": 10 ** rng.uniform(-7, 2), "units": rng.choice([1, 7, 64, 999]),
                "dropout": rng.uniform(-1, 2), "hidden_layers": rng.randint(-2, 9), "l2": rng.choice([0.0, 5.0]),
                "optimizer": rng.choice(["adam", "sgd"])}
        action = rng.choice(["stop_overfit", "next_more_capacity", "stop_diverged", "stop_converged", "budget"])
        history.append(ModelOutcome(wild, action, rng.choice([math.nan, rng.random()]),
                                    lr_at_best=10 ** rng.uniform(-7, 2), train_loss_at_best=rng.random(),
                                    val_loss_at_best=rng.random()))
        c, _ = next_config(history, spec, rng)
        for name, p in spec.params.items():
            v = c[name]
            if isinstance(p, Constant):
                assert v == p.value
            elif isinstance(p, Choice):
                assert v in p.values
            elif isinstance(p, (Uniform, LogUniform)):
                assert p.low <= v <= p.high, (name, v)
            elif isinstance(p, IntRange):
                assert p.low <= v <= p.high and isinstance(v, int), (name, v)


# ------------------------------------------------------------------------------------------
# where it lives: orchestrator/babysit/, below execution/, speaking the parallel path's events
# ------------------------------------------------------------------------------------------


def test_the_babysitters_worker_builds_trial_events_without_rich_pandas_ray_or_tensorflow() -> None:
    import subprocess
    import sys

    code = ("import sys, orchestrator.babysit.worker as w, orchestrator.trial_events as e; "
            "assert w.Intervention is e.Intervention and w.TrialEnded is e.TrialEnded; "
            "print(sorted(m for m in ('rich', 'pandas', 'ray', 'tensorflow', 'keras', 'orchestrator.execution') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_babysit_and_training_packages_never_import_execution() -> None:
    import importlib.util
    import sys

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("structure", root / "scripts" / "structure.py")
    structure = importlib.util.module_from_spec(spec)
    sys.modules["structure"] = structure
    spec.loader.exec_module(structure)
    modules = structure.scan(root / "orchestrator")
    below = [m for m in modules.values() if m.name.startswith(("orchestrator.babysit", "orchestrator.training",
                                                                 "orchestrator.strategy", "orchestrator.trial_events"))]
    assert len(below) > 10
    assert [(m.name, i) for m in below for i in m.imports if i.startswith("orchestrator.execution")] == []


def test_the_babysit_strategy_is_the_registrys_and_reports_the_sinks_own_events() -> None:
    from orchestrator.babysit import BabysitStrategy
    from orchestrator.execution.events import EpochReported, Intervention
    from orchestrator.execution.strategies import STRATEGIES, RunOptions, make_strategy
    from orchestrator.trial_events import EpochReported as Reported, Intervention as Decided

    assert STRATEGIES["babysit"] is BabysitStrategy and isinstance(make_strategy("babysit", RunOptions()),
                                                                  BabysitStrategy)
    assert (EpochReported, Intervention) == (Reported, Decided)  # one vocabulary, no translation
