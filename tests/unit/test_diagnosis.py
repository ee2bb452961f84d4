"""Unit tests for orchestrator.decisions.diagnosis and the figures it reads, .curves (pure; no tensorflow, no ray).

REAL holds learning curves from real Keras runs (rounded to 4 significant digits), produced by a
throwaway calibration script: scikit-learn digits (1797 rows, 64 features, 10 classes; 70% train /
20% validation split, StandardScaler fitted on the train split) and diabetes (442 rows, 10 features,
raw target); batch size 32. baseline = ln(10) for digits cross-entropy, the train-target variance
for diabetes MSE. The default Thresholds were tuned on these and ~100 more such runs (3-6 seeds).
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import numpy as np
import pytest

from orchestrator.decisions.curves import (
    Thresholds,
    explode_ratio,
    explodes,
    first_explode_epoch,
    first_nonfinite_epoch,
    is_finite_curve,
    oscillation,
    relative_improvement,
    rise_above_min,
    tail_slope,
    val_rise,
)
from orchestrator.decisions.diagnosis import LABELS, Diagnosis, diagnose

NAN = float("nan")
INF = float("inf")
LN10 = math.log(10)

# name -> train/val curves, baseline, the expected label with and without the baseline, stop_epoch.
# Setups:
#   digits-adam-lr*/digits-sgd-lr*: one hidden layer of 64 relu, softmax, 20 epochs, Adam / plain SGD
#   diabetes-overfit-2x512-n100-adam0.01: 2x512 relu, no regularisation, 100 training rows, 60 epochs
#   digits-overfit-2x512-n150-adam0.01: 2x512 relu, no regularisation, 150 training rows, 40 epochs
#   diabetes-linear-*: no hidden layer (linear regression), MSE, 30 epochs
#   digits-1unit-adam0.01: a single hidden relu unit (too simple), 20 epochs
REAL = {
    "digits-adam-lr1-s0": dict(
        train=[254.8, 258.5, 129.7, 73.68, 59.36, 68.41, 113.2, 141.6, 89.38, 85.05, 100.5, 42.56, 103.8, 109.1, 115.4, 94.33, 36.02, 59.93, 90.72, 123.0],
        val=[432.1, 420.5, 270.8, 222.5, 493.0, 342.8, 494.2, 551.4, 502.4, 583.3, 627.5, 621.5, 1122.0, 983.5, 974.1, 628.4, 771.5, 640.2, 574.7, 662.3],
        baseline=2.3026, label="oscillating", label_no_baseline="oscillating", stop_epoch=None),
    "digits-adam-lr1e-07-s0": dict(
        train=[2.562, 2.561, 2.561, 2.561, 2.561, 2.561, 2.56, 2.56, 2.56, 2.56, 2.56, 2.56, 2.559, 2.559, 2.559, 2.559, 2.559, 2.559, 2.558, 2.558],
        val=[2.625, 2.625, 2.625, 2.625, 2.625, 2.625, 2.624, 2.624, 2.624, 2.624, 2.624, 2.624, 2.623, 2.623, 2.623, 2.623, 2.623, 2.623, 2.622, 2.622],
        baseline=2.3026, label="too_slow", label_no_baseline="too_slow", stop_epoch=None),
    "digits-adam-lr0.01-s1": dict(
        train=[0.5945, 0.1031, 0.04365, 0.0197, 0.01193, 0.00722, 0.004882, 0.003751, 0.003003, 0.002444, 0.002048, 0.001739, 0.001501, 0.001303, 0.001148, 0.001015, 0.0009091, 0.0008145, 0.0007353, 0.0006689],
        val=[0.1689, 0.1182, 0.1107, 0.1083, 0.1071, 0.106, 0.1068, 0.1081, 0.1092, 0.1102, 0.111, 0.1121, 0.1132, 0.1141, 0.1151, 0.116, 0.1171, 0.1179, 0.1187, 0.1194],
        baseline=2.3026, label="good", label_no_baseline="good", stop_epoch=None),
    "digits-sgd-lr0.01-s0": dict(
        train=[2.269, 1.778, 1.442, 1.197, 1.011, 0.8669, 0.7549, 0.667, 0.5966, 0.5396, 0.4925, 0.4532, 0.42, 0.3915, 0.3667, 0.3449, 0.3258, 0.3087, 0.2935, 0.2797],
        val=[2.038, 1.642, 1.36, 1.15, 0.9896, 0.8669, 0.7718, 0.6969, 0.6367, 0.5875, 0.5465, 0.5119, 0.4822, 0.4565, 0.4339, 0.4139, 0.396, 0.3798, 0.3652, 0.3519],
        baseline=2.3026, label="good", label_no_baseline="good", stop_epoch=None),
    "digits-sgd-lr1-s0": dict(
        train=[0.5256, 0.1813, 0.04962, 0.03178, 0.008455, 0.005224, 0.003547, 0.002893, 0.002461, 0.002154, 0.001913, 0.001725, 0.00157, 0.00144, 0.00133, 0.001236, 0.001153, 0.00108, 0.001018, 0.0009593],
        val=[0.8752, 0.1408, 0.1101, 0.105, 0.1047, 0.1042, 0.104, 0.1037, 0.1035, 0.1034, 0.1034, 0.1033, 0.1033, 0.1033, 0.1034, 0.1034, 0.1034, 0.1034, 0.1035, 0.1035],
        baseline=2.3026, label="good", label_no_baseline="good", stop_epoch=None),
    "digits-sgd-lr2-s0": dict(
        train=[66.81, 5.462e4, 8.129e6, 1.203e10, 1.261e14, 9.876e16, 1.357e19, 1.348e21, 2.383e24, 1.673e26, 2.239e28, 3.717e30, 3.686e32, 1.926e35, NAN, NAN, NAN, NAN, NAN, NAN],
        val=[1296.0, 6.663e5, 2.428e8, 1.141e12, 2.351e15, 7.681e17, 1.691e20, 3.557e22, 4.871e25, 6.625e26, 2.705e29, 1.536e32, 4.176e33, 8.512e35, NAN, NAN, NAN, NAN, NAN, NAN],
        baseline=2.3026, label="diverged", label_no_baseline="diverged", stop_epoch=None),
    "diabetes-overfit-2x512-n100-adam0.01-s2": dict(
        train=[2.756e4, 9352.0, 7869.0, 3824.0, 4713.0, 3022.0, 3094.0, 2257.0, 2425.0, 1978.0, 1891.0, 1864.0, 1847.0, 1761.0, 1675.0, 1649.0, 1586.0, 1548.0, 1536.0, 1509.0, 1476.0, 1453.0, 1430.0, 1404.0, 1385.0, 1364.0, 1342.0, 1325.0, 1306.0, 1287.0, 1270.0, 1252.0, 1235.0, 1217.0, 1199.0, 1182.0, 1163.0, 1145.0, 1127.0, 1110.0, 1091.0, 1072.0, 1056.0, 1037.0, 1017.0, 1002.0, 976.7, 957.1, 937.8, 916.0, 893.9, 871.6, 845.4, 821.8, 795.4, 770.0, 740.3, 709.9, 679.3, 652.3],
        val=[1.361e4, 1.379e4, 4086.0, 5179.0, 4462.0, 6275.0, 4348.0, 3948.0, 3919.0, 4302.0, 3895.0, 3870.0, 4140.0, 4158.0, 3956.0, 4010.0, 4106.0, 4021.0, 4050.0, 4162.0, 4141.0, 4146.0, 4197.0, 4184.0, 4204.0, 4249.0, 4255.0, 4281.0, 4307.0, 4321.0, 4355.0, 4378.0, 4392.0, 4429.0, 4456.0, 4482.0, 4502.0, 4539.0, 4578.0, 4593.0, 4626.0, 4656.0, 4678.0, 4712.0, 4734.0, 4779.0, 4779.0, 4819.0, 4820.0, 4876.0, 4894.0, 4928.0, 4945.0, 4970.0, 5001.0, 5036.0, 5041.0, 5086.0, 5111.0, 5125.0],
        baseline=5958.8574, label="overfit", label_no_baseline="overfit", stop_epoch=12),
    "digits-overfit-2x512-n150-adam0.01-s1": dict(
        train=[1.724, 0.4684, 0.1614, 0.1142, 0.07617, 0.008837, 0.003026, 0.005299, 0.001363, 0.002047, 0.0002813, 0.0005067, 0.0006715, 0.0001483, 8.769e-5, 6.229e-5, 4.91e-5, 4.122e-5, 3.6e-5, 3.233e-5, 2.957e-5, 2.739e-5, 2.562e-5, 2.412e-5, 2.281e-5, 2.166e-5, 2.063e-5, 1.969e-5, 1.883e-5, 1.804e-5, 1.732e-5, 1.665e-5, 1.602e-5, 1.544e-5, 1.489e-5, 1.438e-5, 1.389e-5, 1.344e-5, 1.301e-5, 1.26e-5],
        val=[0.6201, 0.7006, 0.7085, 0.6159, 0.7701, 0.8258, 0.9854, 1.0, 1.316, 1.379, 1.259, 1.233, 1.175, 1.134, 1.108, 1.09, 1.077, 1.067, 1.06, 1.055, 1.05, 1.047, 1.044, 1.041, 1.039, 1.036, 1.034, 1.033, 1.031, 1.029, 1.028, 1.026, 1.025, 1.023, 1.022, 1.021, 1.02, 1.018, 1.017, 1.016],
        baseline=2.3026, label="overfit", label_no_baseline="overfit", stop_epoch=4),
    "diabetes-linear-sgd0.01-s1": dict(
        train=[2.533e4, 1.732e4, 1.243e4, 9253.0, 7152.0, 5753.0, 4820.0, 4196.0, 3779.0, 3499.0, 3312.0, 3186.0, 3101.0, 3044.0, 3006.0, 2979.0, 2962.0, 2949.0, 2941.0, 2935.0, 2931.0, 2928.0, 2926.0, 2925.0, 2924.0, 2923.0, 2923.0, 2922.0, 2922.0, 2922.0],
        val=[1.812e4, 1.319e4, 9874.0, 7627.0, 6111.0, 5091.0, 4407.0, 3949.0, 3644.0, 3440.0, 3304.0, 3214.0, 3155.0, 3116.0, 3090.0, 3074.0, 3063.0, 3057.0, 3053.0, 3051.0, 3050.0, 3049.0, 3049.0, 3050.0, 3051.0, 3051.0, 3052.0, 3053.0, 3053.0, 3054.0],
        baseline=6302.8955, label="underfit", label_no_baseline="good", stop_epoch=None),
    "digits-1unit-adam0.01-s0": dict(
        train=[2.22, 2.016, 1.94, 1.892, 1.856, 1.831, 1.81, 1.794, 1.78, 1.768, 1.759, 1.751, 1.743, 1.736, 1.73, 1.725, 1.72, 1.715, 1.711, 1.707],
        val=[2.071, 1.959, 1.908, 1.871, 1.845, 1.827, 1.815, 1.801, 1.791, 1.782, 1.775, 1.768, 1.763, 1.756, 1.751, 1.746, 1.742, 1.738, 1.734, 1.738],
        baseline=2.3026, label="underfit", label_no_baseline="underfit", stop_epoch=None),
    "diabetes-linear-adam0.5-s0": dict(
        train=[2.823e4, 2.553e4, 2.355e4, 2.191e4, 2.043e4, 1.908e4, 1.784e4, 1.67e4, 1.563e4, 1.464e4, 1.371e4, 1.285e4, 1.205e4, 1.129e4, 1.059e4, 9941.0, 9334.0, 8771.0, 8248.0, 7763.0, 7315.0, 6901.0, 6519.0, 6167.0, 5845.0, 5548.0, 5277.0, 5029.0, 4803.0, 4597.0],
        val=[2.631e4, 2.42e4, 2.246e4, 2.091e4, 1.95e4, 1.822e4, 1.704e4, 1.595e4, 1.494e4, 1.4e4, 1.314e4, 1.233e4, 1.159e4, 1.09e4, 1.026e4, 9668.0, 9120.0, 8613.0, 8144.0, 7712.0, 7313.0, 6947.0, 6610.0, 6301.0, 6018.0, 5760.0, 5524.0, 5309.0, 5115.0, 4938.0],
        baseline=6286.4419, label="too_slow", label_no_baseline="good", stop_epoch=None),}


REAL_NAMES = sorted(REAL)
EXPECTED_KEYS = {
    "epochs", "first_train_loss", "last_train_loss", "min_val_loss", "min_val_epoch", "last_val_loss",
    "rel_improvement", "val_rise", "oscillation", "gap",
}


def assert_json_safe(d: Diagnosis) -> None:
    # strict JSON (no NaN/inf) round-trips
    text = json.dumps(d.to_dict(), allow_nan=False)
    assert json.loads(text)["label"] == d.label
    for key, value in d.figures.items():
        assert value is None or type(value) in (int, float), (key, value)


def decay(n: int, start: float = 2.0, end: float = 0.1, rate: float = 0.2) -> list[float]:
    return [end + (start - end) * math.exp(-rate * i) for i in range(n)]


# ---------------------------------------------------------------------------------------------
# real curves


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_curve_with_baseline(name):
    r = REAL[name]
    d = diagnose(r["train"], r["val"], baseline_loss=r["baseline"])
    assert d.label == r["label"], d.reason
    assert d.stop_epoch == r["stop_epoch"]
    assert EXPECTED_KEYS <= set(d.figures)
    assert d.reason and "\n" not in d.reason
    assert_json_safe(d)


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_curve_without_baseline(name):
    r = REAL[name]
    d = diagnose(r["train"], r["val"])
    assert d.label == r["label_no_baseline"], d.reason


@pytest.mark.parametrize("name", REAL_NAMES)
@pytest.mark.parametrize("scale", [0.8, 1.2])
def test_real_curves_are_not_on_a_knifes_edge(name, scale):
    """Moving every judgement threshold by +-20% does not change any real label."""
    r = REAL[name]
    th = Thresholds()
    moved = replace(
        th,
        oscillation_level=th.oscillation_level * scale,
        unstable_rise=th.unstable_rise * scale,
        too_slow_improvement=th.too_slow_improvement * scale,
        high_loss_level=th.high_loss_level * scale,
        plateau_slope=th.plateau_slope * scale,
        overfit_rise=th.overfit_rise * scale,
        explode_factor=th.explode_factor * scale,
    )
    assert diagnose(r["train"], r["val"], baseline_loss=r["baseline"], thresholds=moved).label == r["label"]
    assert diagnose(r["train"], r["val"], thresholds=moved).label == r["label_no_baseline"]


def test_real_learning_rate_sweep_reads_like_the_course():
    """lr 1.0 oscillates, 1e-7 learns nothing, 0.01 is good (Adam, digits)."""
    kw = {"baseline_loss": LN10}
    assert diagnose(REAL["digits-adam-lr1-s0"]["train"], REAL["digits-adam-lr1-s0"]["val"], **kw).label in (
        "oscillating", "diverged")
    slow = diagnose(REAL["digits-adam-lr1e-07-s0"]["train"], REAL["digits-adam-lr1e-07-s0"]["val"], **kw)
    assert slow.label == "too_slow"
    assert slow.figures["rel_improvement"] < 0  # still worse than a uniform guess
    good = diagnose(REAL["digits-adam-lr0.01-s1"]["train"], REAL["digits-adam-lr0.01-s1"]["val"], **kw)
    assert good.label == "good"
    assert 0.1 < good.figures["val_rise"] < Thresholds().overfit_rise  # crept up, but not overfitting


def test_real_overfit_stop_epochs_are_the_validation_minimum():
    for name, epoch in (("diabetes-overfit-2x512-n100-adam0.01-s2", 12), ("digits-overfit-2x512-n150-adam0.01-s1", 4)):
        r = REAL[name]
        d = diagnose(r["train"], r["val"], baseline_loss=r["baseline"])
        assert d.label == "overfit"
        assert d.stop_epoch == epoch == d.figures["min_val_epoch"]
        assert int(np.argmin(r["val"])) + 1 == epoch
        assert f"epoch {epoch}" in d.reason and "rose" in d.reason


def test_real_sgd_divergence_names_the_explosion_first():
    r = REAL["digits-sgd-lr2-s0"]
    d = diagnose(r["train"], r["val"], baseline_loss=LN10)
    assert d.label == "diverged"
    assert "exploded" in d.reason and "epoch 2" in d.reason and "NaN at epoch 15" in d.reason
    assert d.figures["nonfinite_epoch"] == 15
    assert explodes(r["train"][:2]) and not explodes(r["train"][:1])
    assert_json_safe(d)


# ---------------------------------------------------------------------------------------------
# diverged


def test_nan_in_train_is_diverged():
    d = diagnose([2.3, 1.5, NAN, NAN], [2.2, 1.4, NAN, NAN])
    assert d.label == "diverged"
    assert "NaN at epoch 3" in d.reason
    assert d.figures["nonfinite_epoch"] == 3
    assert d.figures["last_train_loss"] == 1.5  # figures use the finite values
    assert d.stop_epoch is None
    assert_json_safe(d)


def test_inf_in_train_is_diverged():
    d = diagnose([2.3, 1.0, INF], [2.0, 1.0, 1.0])
    assert d.label == "diverged"
    assert "inf at epoch 3" in d.reason
    assert_json_safe(d)


def test_nan_only_in_validation_is_diverged():
    d = diagnose(decay(10), decay(9) + [NAN])
    assert d.label == "diverged"
    assert "validation loss became NaN at epoch 10" in d.reason


def test_none_reads_as_nan():
    d = diagnose([2.0, 1.0, None, 0.5], [2.0, 1.0, 0.8, 0.6])
    assert d.label == "diverged"
    assert "NaN at epoch 3" in d.reason


def test_explosion_is_diverged():
    d = diagnose([1.0, 3.0, 12.0, 50.0, 40.0], [1.0, 2.0, 10.0, 40.0, 30.0])
    assert d.label == "diverged"
    assert "exploded to 12 at epoch 3" in d.reason
    assert d.figures["explode_ratio"] == 50.0


def test_explosion_is_decided_even_with_two_epochs():
    assert diagnose([1.0, 25.0], [1.0, 30.0]).label == "diverged"
    assert diagnose([1.0, NAN], []).label == "diverged"


def test_guard_flag_forces_diverged():
    d = diagnose(decay(20), decay(20, end=0.2), diverged=True)
    assert d.label == "diverged"
    assert "guard" in d.reason


def test_explosion_respects_the_threshold():
    curve = [1.0, 2.0, 6.0, 3.0, 2.0, 1.0, 0.8, 0.7]
    assert diagnose(curve, curve).label != "diverged"
    assert diagnose(curve, curve, thresholds=Thresholds(explode_factor=5.0)).label == "diverged"


# ---------------------------------------------------------------------------------------------
# too few epochs


def test_no_epochs():
    d = diagnose([], [])
    assert d.label == "too_slow"
    assert "no epochs" in d.reason
    assert d.figures["epochs"] == 0
    assert_json_safe(d)


def test_one_epoch_without_baseline_cannot_show_improvement():
    d = diagnose([2.3], [2.2])
    assert d.label == "too_slow"
    assert "too few epochs to judge: 1" in d.reason


def test_one_epoch_well_below_baseline_is_good_but_says_so():
    d = diagnose([0.5], [0.6], baseline_loss=LN10)
    assert d.label == "good"
    assert "too few epochs to judge: 1" in d.reason


def test_two_improving_epochs_are_good_with_an_honest_reason():
    d = diagnose([2.0, 1.0], [1.9, 1.1])
    assert d.label == "good"
    assert d.reason.startswith("too few epochs to judge: 2")
    assert d.figures["epochs"] == 2
    assert d.figures["oscillation"] is None  # needs three points
    assert_json_safe(d)


def test_two_flat_epochs_are_not_good():
    d = diagnose([2.0, 1.99], [2.0, 1.99])
    assert d.label == "too_slow"
    assert "too few epochs to judge: 2" in d.reason


# ---------------------------------------------------------------------------------------------
# oscillating


def test_swinging_curves_oscillate():
    train = [2.0, 1.2, 1.8, 0.9, 1.7, 1.0, 1.9, 0.8, 1.6, 1.1]
    val = [2.1, 1.0, 2.0, 1.1, 1.9, 0.9, 2.2, 1.0, 1.8, 1.2]
    d = diagnose(train, val, baseline_loss=LN10)
    assert d.label == "oscillating"
    assert d.figures["oscillation"] > 0.4
    assert "swings" in d.reason


def test_oscillation_beats_overfit():
    train = decay(20, rate=0.3, end=0.01)
    val = [1.0, 0.6, 0.5, 0.9, 0.5, 1.1, 0.6, 1.2, 0.7, 1.3, 0.8, 1.4, 0.9, 1.5, 0.9, 1.6, 1.0, 1.7, 1.1, 1.8]
    assert diagnose(train, val).label == "oscillating"


def test_training_loss_climbing_back_up_is_unstable():
    train = [2.0, 1.2, 0.8, 0.5, 0.4, 0.35, 0.3, 0.45, 0.55, 0.6]
    val = [2.0, 1.2, 0.8, 0.6, 0.55, 0.5, 0.5, 0.6, 0.65, 0.7]
    d = diagnose(train, val, baseline_loss=LN10)
    assert d.label == "oscillating"
    assert "climbed back up" in d.reason
    # one last-epoch spike alone is not enough
    assert diagnose(train[:7] + [0.3, 0.6], val[:9], baseline_loss=LN10).label != "oscillating"


@pytest.mark.parametrize("seed", range(6))
def test_noisy_but_improving_is_good(seed):
    rng = np.random.default_rng(seed)
    n = 25
    train = np.array(decay(n, start=2.3, end=0.05, rate=0.25)) * (1 + 0.03 * rng.standard_normal(n))
    val = np.array(decay(n, start=2.2, end=0.15, rate=0.25)) * (1 + 0.06 * rng.standard_normal(n))
    d = diagnose(train.tolist(), val.tolist(), baseline_loss=LN10)
    assert d.label == "good", d.reason
    d = diagnose(train.tolist(), val.tolist())
    assert d.label == "good", d.reason


def test_jitter_of_an_almost_zero_loss_is_not_oscillation():
    train = decay(10, start=1.0, end=0.0, rate=1.0) + [1e-4, 3e-4, 1e-4, 4e-4, 1e-4, 3e-4]
    val = decay(10, start=1.0, end=0.05, rate=1.0) + [0.05, 0.052, 0.05, 0.053, 0.05, 0.052]
    d = diagnose(train, val, baseline_loss=LN10)
    assert d.label == "good", d.reason


# ---------------------------------------------------------------------------------------------
# too slow


def test_flat_curve_is_too_slow():
    d = diagnose([1.0] * 20, [1.1] * 20)
    assert d.label == "too_slow"
    assert "0%" in d.reason
    assert diagnose([2.30] * 20, [2.31] * 20, baseline_loss=LN10).label == "too_slow"


def test_worse_than_trivial_is_too_slow_and_says_above():
    d = diagnose([2.60 - 0.0002 * i for i in range(20)], [2.62 - 0.0002 * i for i in range(20)], baseline_loss=LN10)
    assert d.label == "too_slow"
    assert "above the trivial-predictor loss" in d.reason
    assert d.figures["rel_improvement"] < 0


def test_still_falling_but_still_high_is_too_slow():
    train = [3.0 * 0.96**i for i in range(30)]  # ends at ~0.88 of the baseline, falling 4%/epoch
    val = [3.1 * 0.96**i for i in range(30)]
    d = diagnose(train, val, baseline_loss=3.0 * 0.96**29 / 0.88)
    assert d.label == "too_slow"
    assert "still falling" in d.reason
    # without a baseline there is no telling "high": it is learning, so good
    assert diagnose(train, val).label == "good"


# ---------------------------------------------------------------------------------------------
# overfit


def overfit_curves(n: int = 30, min_epoch: int = 8, rise: float = 0.4):
    train = decay(n, start=2.0, end=0.01, rate=0.25)
    down = np.linspace(2.0, 0.5, min_epoch)
    up = 0.5 * (1 + rise * np.linspace(0, 1, n - min_epoch + 1)[1:])
    return train, np.concatenate([down, up]).tolist()


def test_u_shaped_validation_is_overfit_with_stop_epoch():
    train, val = overfit_curves()
    d = diagnose(train, val, baseline_loss=LN10)
    assert d.label == "overfit"
    assert d.stop_epoch == 8 == d.figures["min_val_epoch"]
    assert d.figures["val_rise"] == pytest.approx(0.4)
    assert "rose 40%" in d.reason and "epoch 8" in d.reason
    assert d.figures["oscillation"] == pytest.approx(0.0, abs=1e-9)
    assert diagnose(train, val).label == "overfit"


def test_small_rise_is_not_overfit():
    train, val = overfit_curves(rise=0.1)
    d = diagnose(train, val, baseline_loss=LN10)
    assert d.label == "good"
    assert d.stop_epoch is None
    assert "10% above its minimum" in d.reason


def test_overfit_needs_a_sustained_rise():
    train, val = overfit_curves(n=20, min_epoch=18)  # minimum two epochs before the end
    assert diagnose(train, val, baseline_loss=LN10).label != "overfit"


def test_overfit_needs_training_loss_to_keep_falling():
    head = decay(8, start=2.0, end=0.4)
    train = head + [head[-1]] * 22  # flat from the validation minimum on
    _, val = overfit_curves()
    d = diagnose(train, val, baseline_loss=LN10)
    assert d.label != "overfit"
    assert d.stop_epoch is None
    assert "40% above its minimum" in d.reason


def test_overfit_threshold_is_tunable():
    train, val = overfit_curves(rise=0.4)
    assert diagnose(train, val, thresholds=Thresholds(overfit_rise=0.5)).label == "good"


# ---------------------------------------------------------------------------------------------
# underfit


def test_high_flat_curves_with_val_below_train_are_underfit_not_overfit():
    train = [2.3, 2.0, 1.85, 1.75, 1.7, 1.68, 1.67, 1.665, 1.662, 1.66, 1.659, 1.659, 1.658, 1.658, 1.658]
    val = [x - 0.05 for x in train]
    d = diagnose(train, val, baseline_loss=LN10)
    assert d.label == "underfit"
    assert d.stop_epoch is None
    assert d.figures["gap"] < 0
    assert "levelled off at 72%" in d.reason


def test_underfit_without_baseline_uses_the_improvement_from_epoch_one():
    train = [1.0, 0.9, 0.85, 0.82, 0.81, 0.805, 0.803, 0.802, 0.801, 0.8, 0.8, 0.8]
    val = [1.0, 0.9, 0.86, 0.83, 0.82, 0.815, 0.813, 0.812, 0.811, 0.81, 0.81, 0.81]
    d = diagnose(train, val)
    assert d.label == "underfit"
    assert "20%" in d.reason


def test_low_flat_curves_are_good():
    train = decay(20, start=2.0, end=0.05, rate=0.8)
    val = decay(20, start=2.0, end=0.08, rate=0.8)
    assert diagnose(train, val, baseline_loss=LN10).label == "good"
    assert diagnose(train, val).label == "good"


# ---------------------------------------------------------------------------------------------
# general behaviour


def test_missing_validation_uses_training_curve():
    d = diagnose(decay(10), [])
    assert d.label == "good"
    assert d.figures["min_val_loss"] is None and d.figures["val_rise"] is None and d.figures["gap"] is None
    assert d.figures["oscillation"] == d.figures["train_oscillation"]
    assert diagnose(decay(10), None).label == "good"
    assert diagnose([2.0, 1.0, 2.0, 0.9, 2.1, 0.8, 2.0, 0.9], None).label == "oscillating"
    assert_json_safe(d)


@pytest.mark.parametrize("baseline", [0.0, -1.0, NAN, INF])
def test_unusable_baseline_is_ignored(baseline):
    d = diagnose(decay(10), decay(10), baseline_loss=baseline)
    assert d.figures["baseline_loss"] is None
    assert d.label == "good"


def test_figures_are_the_documented_numbers():
    train = [2.0, 1.0, 0.5, 0.4]
    val = [2.1, 1.2, 0.9, 1.0]
    f = diagnose(train, val, baseline_loss=2.0).figures
    assert f["epochs"] == 4
    assert f["first_train_loss"] == 2.0 and f["last_train_loss"] == 0.4
    assert f["min_val_loss"] == 0.9 and f["min_val_epoch"] == 3 and f["last_val_loss"] == 1.0
    assert f["rel_improvement"] == pytest.approx((2.0 - 0.4) / 2.0)
    assert f["val_rise"] == pytest.approx(1.0 / 0.9 - 1)
    assert f["gap"] == pytest.approx((1.0 - 0.4) / 0.4)
    assert diagnose(train, val).figures["rel_improvement"] == pytest.approx(0.8)


def test_every_label_is_reachable_and_known():
    train, val = overfit_curves()
    seen = {
        diagnose([1.0, NAN], []).label,
        diagnose([2.0, 1.2, 1.8, 0.9, 1.7, 1.0, 1.9, 0.8], [2.0, 1.0, 2.0, 1.1, 1.9, 0.9, 2.2, 1.0]).label,
        diagnose([1.0] * 10, [1.0] * 10).label,
        diagnose(train, val).label,
        diagnose([2.3, 2.0, 1.8, 1.7, 1.66, 1.65, 1.65, 1.65], [2.2, 1.9, 1.75, 1.66, 1.62, 1.61, 1.61, 1.61],
                 baseline_loss=LN10).label,
        diagnose(decay(10), decay(10)).label,
    }
    assert seen == set(LABELS)


def test_diagnosis_is_frozen():
    d = diagnose(decay(5), decay(5))
    with pytest.raises(FrozenInstanceError):
        d.label = "good"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        Thresholds().overfit_rise = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("kwargs", [dict(overfit_rise=-0.1), dict(explode_factor=1.0), dict(tail_epochs=1),
                                    dict(min_epochs=0), dict(oscillation_level=NAN), dict(plateau_slope="x")])
def test_invalid_thresholds_are_rejected(kwargs):
    with pytest.raises(ValueError):
        Thresholds(**kwargs)


def test_inputs_may_be_numpy_arrays():
    train, val = overfit_curves()
    assert diagnose(np.array(train), np.array(val)).label == "overfit"


# ---------------------------------------------------------------------------------------------
# helpers


def test_is_finite_curve():
    assert is_finite_curve([])
    assert is_finite_curve([1.0, 0.5])
    assert not is_finite_curve([1.0, NAN])
    assert not is_finite_curve([1.0, -INF])
    assert not is_finite_curve([1.0, None])


def test_explodes():
    assert not explodes([])
    assert not explodes([2.3])
    assert not explodes([2.3, 5.0, 20.0])
    assert explodes([2.3, 5.0, 24.0])
    assert explodes([2.3, 5.0, 24.0], factor=10)
    assert not explodes([2.3, 5.0, 24.0], factor=20)
    assert explodes([2.3, NAN])
    assert explodes([2.3, INF])
    assert not explodes([0.0, 5.0])  # no positive reference to blow up from


def test_nonfinite_and_explode_epochs():
    assert first_nonfinite_epoch([1.0, 2.0]) is None
    assert first_nonfinite_epoch([1.0, 2.0, NAN, INF]) == 3
    assert first_explode_epoch([1.0, 5.0, 11.0, 20.0]) == 3
    assert first_explode_epoch([1.0, 5.0]) is None
    assert explode_ratio([2.0, 1.0, 8.0]) == 4.0
    assert explode_ratio([2.0]) is None


def test_oscillation_measure():
    assert oscillation([1.0, 2.0]) is None
    assert oscillation([3.0, 2.0, 1.5, 1.2, 1.0]) == pytest.approx(0.0)  # monotone
    assert oscillation([3.0, 2.0, 1.0, 1.5, 2.5]) == pytest.approx(0.0)  # a clean "U"
    swing = oscillation([1.0, 1.3, 1.0, 1.3, 1.0, 1.3, 1.0, 1.3, 1.0])
    assert swing == pytest.approx(0.3 / 1.15, rel=1e-6)  # every step is unexplained by a trend
    spike = oscillation(decay(20, start=1.0, end=0.5, rate=0.1)[:10] + [0.9] + decay(20, start=1.0, end=0.5, rate=0.1)[11:])
    assert 0.02 < spike < 0.08
    # the floor: swings of an almost-zero loss are measured against floor * reference
    tiny = [1e-4, 2e-4, 1e-4, 2e-4, 1e-4]
    assert oscillation(tiny) > 0.5
    assert oscillation(tiny, reference=1.0, floor=0.1) < 0.01


def test_tail_slope():
    assert tail_slope([1.0]) is None
    assert tail_slope([1.0, 1.0, 1.0]) == pytest.approx(0.0)
    assert tail_slope([5.0, 4.0, 3.0, 2.0, 1.0, 0.0], window=3) == pytest.approx(-1.0 / 1.0)
    assert tail_slope([2.0] * 10 + [1.0, 0.99, 0.98, 0.97, 0.96]) == pytest.approx(-0.01 / 0.98)


def test_relative_improvement_and_rises():
    assert relative_improvement([2.0, 1.0]) == pytest.approx(0.5)
    assert relative_improvement([2.0, 1.0], baseline_loss=4.0) == pytest.approx(0.75)
    assert relative_improvement([2.0, 3.0], baseline_loss=2.5) == pytest.approx(-0.2)
    assert relative_improvement([]) is None
    assert relative_improvement([0.0, 0.0]) is None
    assert val_rise([2.0, 1.0, 1.5]) == pytest.approx(0.5)
    assert val_rise([]) is None
    assert rise_above_min([2.0, 1.0, 1.5, 2.0], last=2) == pytest.approx(0.5)
    assert rise_above_min([0.001, 0.002], floor_value=0.1) == pytest.approx(0.01)


# ---------------------------------------------------------------------------------------------
# purity


DECISIONS = Path(__file__).resolve().parents[2] / "orchestrator" / "decisions"


def test_module_imports_only_numpy_and_the_standard_library():
    path = DECISIONS / "curves.py"  # the figures; diagnosis.py adds only .curves (next test)
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "curves.py must not import from the package"
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "math", "dataclasses", "typing", "numpy"}, imported


def test_diagnosis_imports_only_the_figures_from_the_package():
    tree = ast.parse((DECISIONS / "diagnosis.py").read_text())
    imported, relative = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            relative.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert relative == {".curves"}, relative
    assert imported <= {"__future__", "math", "dataclasses", "typing", "numpy"}, imported


def test_module_loads_standalone_without_heavy_frameworks():
    """Loaded on its own (not through the package __init__), it pulls in no framework."""
    path = DECISIONS / "curves.py"
    code = (
        "import importlib, importlib.util, sys, types\n"
        f"spec = importlib.util.spec_from_file_location('curves_alone', {str(path)!r})\n"
        "alone = importlib.util.module_from_spec(spec); sys.modules['curves_alone'] = alone\n"
        "spec.loader.exec_module(alone)\n"
        "assert alone.compute_figures([2.0, 1.0, 0.5, 0.3])['epochs'] == 4\n"
        # diagnosis.py with its one sibling, in a bare package: neither __init__ of the product runs
        f"pkg = types.ModuleType('decisions_alone'); pkg.__path__ = [{str(DECISIONS)!r}]\n"
        "sys.modules['decisions_alone'] = pkg\n"
        "mod = importlib.import_module('decisions_alone.diagnosis')\n"
        "assert mod.diagnose([2.0, 1.0, 0.5, 0.3], [2.0, 1.1, 0.6, 0.4]).label == 'good'\n"
        "assert sorted(m for m in sys.modules if m.startswith('decisions_alone.')) == "
        "['decisions_alone.curves', 'decisions_alone.diagnosis']\n"
        "heavy = [m for m in ('tensorflow', 'ray', 'pandas', 'keras', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
