"""The figures of a learning curve: pure numbers a diagnosis, the babysitter and a guard read.

This module is pure (numpy and the standard library only, loadable on its own): every function
takes per-epoch losses (``loss`` / ``val_loss`` as a trial recorded them) and returns a number.
:mod:`.diagnosis` turns :func:`compute_figures` into a label; :mod:`.babysit_rules` reads a few of
the figures after every epoch; :func:`explodes` and :func:`is_finite_curve` answer "has this
training loss diverged so far?".

How the numbers are measured (all helpers below are module-level and pure):

* ``rel_improvement`` -- with ``baseline_loss`` (the loss of a trivial predictor: ``ln(n_classes)``
  for cross-entropy, the target variance for MSE): ``(baseline - last_train) / baseline``, i.e. the
  share of the trivial loss the model got rid of (negative: worse than trivial). Without it:
  ``(first_train - last_train) / first_train``.
* ``oscillation`` -- the *excess variation* per epoch of the validation curve or of the training
  curve, whichever is larger (both are in ``figures`` as ``val_oscillation``/``train_oscillation``).
  Each epoch-to-epoch change is taken relative to the loss level there
  (``(v[i+1]-v[i]) / mean(v[i], v[i+1])``, the level floored at ``oscillation_floor`` x the
  reference loss -- ``baseline_loss``, else the curve's first value -- so that wiggles of a loss that
  is already near 0 do not count as huge); from the sum of their absolute values we subtract what a
  single fall-then-rise needs (``|sum of changes down to the minimum| + |sum after it|``); the rest,
  divided by the number of changes, is the average relative swing per epoch that no smooth
  down(-then-up) trend explains. A monotone curve or a clean overfitting "U" scores 0; one 40%
  spike in 20 epochs about 0.04; a curve jumping +-30% every epoch about 0.5.
* ``val_rise`` -- ``last_val / min_val - 1``.
* ``train_rise`` -- how far the last two training losses (the lower of them) are above the curve's
  minimum, relative to that minimum (floored like the oscillation level).
* ``train_slope`` / ``val_slope`` -- least-squares slope of the last ``tail_epochs`` losses divided
  by their mean: the relative change per epoch at the end (-0.05: still falling 5% per epoch).
* ``gap`` -- ``(last_val - last_train) / last_train``.
* ``explode_ratio`` -- largest training loss / first training loss.

NaN/inf values are skipped when computing the figures (their first epoch is reported as
``nonfinite_epoch``); ``figures`` only holds ``int``, ``float`` or ``None`` (never NaN), so it can be
written to JSON as is.

The default :class:`Thresholds` were calibrated on real Keras runs (scikit-learn digits and
diabetes; see ``tests/unit/test_diagnosis.py`` for the curves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

__all__ = [
    "Figure",
    "Thresholds",
    "as_curve",
    "compute_figures",
    "explodes",
    "is_finite_curve",
    "first_nonfinite_epoch",
    "explode_ratio",
    "first_explode_epoch",
    "relative_improvement",
    "oscillation",
    "tail_slope",
    "val_rise",
    "rise_above_min",
]

Figure = float | int | None


@dataclass(frozen=True)
class Thresholds:
    """The tunable numbers of :func:`.diagnosis.diagnose` (defaults calibrated on real runs).

    Attributes:
        explode_factor: the training loss *diverged* once it exceeds this multiple of its first
            (finite) value.
        oscillation_level: *oscillating* when ``oscillation`` (mean unexplained relative swing per
            epoch of the validation or the training curve, whichever is larger) is at least this.
            Real lr=1.0 Adam runs on digits scored 0.21-0.45; steady runs 0-0.04; shaky but
            converging runs (SGD lr=1.0, 2x512 nets at Adam lr=0.01) up to 0.078; a 2x512 run whose
            validation loss visibly bounced between 0.85 and 2.3 scored 0.10-0.11.
        oscillation_floor: relative changes are measured against at least this fraction of the
            reference loss (``baseline_loss``, else the curve's first value), so that jitter of a
            loss that is already close to 0 does not read as a large relative swing.
        unstable_rise: *oscillating* (unstable) as well when the last two training losses are both
            this far (relative to the minimum, floored as above) above the curve's minimum.
            Real runs that stayed stable: 0; a 2x512 net at Adam lr=0.01 whose training loss
            tripled in its last three epochs: 0.75.
        too_slow_improvement: *too_slow* when ``rel_improvement`` is below this (the model got rid
            of less than 10% of the trivial predictor's loss, or of its first-epoch loss).
        high_loss_level: with a baseline, a final training loss of at least this fraction of
            ``baseline_loss`` is "still high": *underfit* when it has levelled off, *too_slow* when
            train and validation losses are both still clearly falling.
        underfit_max_improvement: without a baseline, a levelled-off curve whose
            ``rel_improvement`` (first -> last) is below this counts as *underfit*.
        plateau_slope: the training loss has "levelled off" when it falls by less than this
            fraction per epoch over the last ``tail_epochs`` epochs (``-train_slope <`` this);
            a validation loss with ``-val_slope >=`` this is "still falling".
        tail_epochs: how many final epochs the slopes are fitted on.
        overfit_rise: *overfit* needs ``val_rise`` of at least this. Healthy digits runs (Adam
            lr=0.01) crept up to 13% above their minimum cross-entropy; real overfitting runs (2x512
            nets on 100-150 rows) rose 32-245%.
        overfit_patience: ... and the validation minimum at least this many epochs before the end.
        overfit_train_fall: ... and the training loss at least this fraction lower at the end than
            at the validation minimum ("while training loss kept falling").
        min_epochs: below this many epochs only *diverged* is decided; otherwise *good* if the loss
            is already improving (``rel_improvement >= too_slow_improvement``), else *too_slow*.
        min_epochs_oscillation: fewest epochs needed to call a curve *oscillating*.
        min_epochs_overfit: fewest epochs needed to call *overfit*.
        min_epochs_underfit: fewest epochs needed to call *underfit* (a plateau needs a few epochs).
    """

    explode_factor: float = 10.0
    oscillation_level: float = 0.125
    oscillation_floor: float = 0.10
    unstable_rise: float = 0.5
    too_slow_improvement: float = 0.10
    high_loss_level: float = 0.35
    underfit_max_improvement: float = 0.5
    plateau_slope: float = 0.01
    tail_epochs: int = 5
    overfit_rise: float = 0.20
    overfit_patience: int = 3
    overfit_train_fall: float = 0.05
    min_epochs: int = 3
    min_epochs_oscillation: int = 4
    min_epochs_overfit: int = 6
    min_epochs_underfit: int = 5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"Thresholds.{f.name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"Thresholds.{f.name} must be >= 0, got {value!r}")
        if self.explode_factor <= 1:
            raise ValueError(f"Thresholds.explode_factor must be > 1, got {self.explode_factor!r}")
        if self.tail_epochs < 2:
            raise ValueError(f"Thresholds.tail_epochs must be >= 2, got {self.tail_epochs!r}")
        if self.min_epochs < 1:
            raise ValueError(f"Thresholds.min_epochs must be >= 1, got {self.min_epochs!r}")


# ----------------------------------------------------------------------------------------------
# small pure helpers


def as_curve(curve: Sequence[float] | None) -> np.ndarray:
    """``curve`` as a float array, ``None`` values (a NaN that went through JSON) read as NaN."""
    if curve is None:
        return np.zeros(0, dtype=float)
    # None (e.g. a NaN that went through JSON) reads as NaN
    return np.array([math.nan if v is None else v for v in curve], dtype=float).reshape(-1)


def is_finite_curve(curve: Sequence[float] | None) -> bool:
    """True when every value of ``curve`` is a finite number (an empty curve is finite)."""
    a = as_curve(curve)
    return bool(np.all(np.isfinite(a)))


def first_nonfinite_epoch(curve: Sequence[float] | None) -> int | None:
    """The 1-based epoch of the first NaN/inf value, or ``None`` if all are finite."""
    a = as_curve(curve)
    bad = np.flatnonzero(~np.isfinite(a))
    return int(bad[0]) + 1 if bad.size else None


def explode_ratio(curve: Sequence[float] | None) -> float | None:
    """Largest finite value divided by the first finite value (``None`` if not computable).

    ``None`` when there are fewer than two finite values or the first one is not positive.
    """
    a = as_curve(curve)
    a = a[np.isfinite(a)]
    if a.size < 2 or a[0] <= 0:
        return None
    return float(np.max(a) / a[0])


def first_explode_epoch(curve: Sequence[float] | None, factor: float = Thresholds.explode_factor) -> int | None:
    """The 1-based epoch of the first finite value above ``factor`` x the first finite value
    (``None`` if there is none, or the first finite value is not positive)."""
    a = as_curve(curve)
    finite = np.flatnonzero(np.isfinite(a))
    if finite.size < 2 or a[finite[0]] <= 0:
        return None
    over = finite[a[finite] > factor * a[finite[0]]]
    return int(over[0]) + 1 if over.size else None


def explodes(train_loss_so_far: Sequence[float] | None, factor: float = Thresholds.explode_factor) -> bool:
    """Whether the training loss has blown up: a NaN/inf value, or a value above ``factor`` x the
    first finite value: the question a training-time divergence guard asks after every epoch.
    """
    if not is_finite_curve(train_loss_so_far):
        return True
    ratio = explode_ratio(train_loss_so_far)
    return ratio is not None and ratio > factor


def relative_improvement(train_loss: Sequence[float] | None, baseline_loss: float | None = None) -> float | None:
    """``(baseline - last) / baseline`` with a (positive, finite) baseline, else
    ``(first - last) / |first|``, over the finite training losses; ``None`` if not computable."""
    a = as_curve(train_loss)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return None
    last = float(a[-1])
    if _valid_baseline(baseline_loss):
        return (float(baseline_loss) - last) / float(baseline_loss)
    first = float(a[0])
    if first == 0:
        return None
    return (first - last) / abs(first)


def oscillation(curve: Sequence[float] | None, reference: float | None = None, floor: float = 0.0) -> float | None:
    """Mean relative swing per epoch that a single fall-then-rise trend does not explain.

    Each change between consecutive finite values is divided by their mean absolute level (at least
    ``floor * reference``, ``reference`` defaulting to the first finite value). From the total of the
    absolute changes we subtract what a curve that falls monotonically to its minimum and then rises
    monotonically would need (``|sum of changes before the minimum| + |sum after it|``); the excess
    is divided by the number of changes. 0 for monotone or U-shaped curves. ``None`` with fewer than
    three finite values.
    """
    a = as_curve(curve)
    a = a[np.isfinite(a)]
    if a.size < 3:
        return None
    ref = abs(float(reference)) if reference is not None and math.isfinite(reference) else abs(float(a[0]))
    level = np.maximum((np.abs(a[1:]) + np.abs(a[:-1])) / 2.0, floor * ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.where(level > 0, np.diff(a) / np.where(level > 0, level, 1.0), 0.0)
    k = int(np.argmin(a))  # steps[:k] lead down to the minimum, steps[k:] leave it
    explained = abs(float(np.sum(steps[:k]))) + abs(float(np.sum(steps[k:])))
    excess = max(0.0, float(np.sum(np.abs(steps))) - explained)
    return excess / steps.size


def tail_slope(curve: Sequence[float] | None, window: int = Thresholds.tail_epochs) -> float | None:
    """Least-squares slope of the last ``window`` finite values divided by their mean absolute
    level: the relative change per epoch at the end of the curve (negative = falling). ``None``
    with fewer than two finite values or a zero level."""
    a = as_curve(curve)
    a = a[np.isfinite(a)][-max(2, int(window)):]
    if a.size < 2:
        return None
    level = float(np.mean(np.abs(a)))
    if level == 0:
        return None
    x = np.arange(a.size, dtype=float)
    slope = float(np.polyfit(x, a, 1)[0])
    return slope / level


def val_rise(val_loss: Sequence[float] | None) -> float | None:
    """``last / min - 1`` over the finite validation losses (``None`` if not computable)."""
    a = as_curve(val_loss)
    a = a[np.isfinite(a)]
    if a.size == 0 or float(np.min(a)) <= 0:
        return None
    return float(a[-1] / np.min(a) - 1.0)


def rise_above_min(curve: Sequence[float] | None, floor_value: float = 0.0, last: int = 1) -> float | None:
    """How far the curve ended above its minimum: ``(min(last values) - min) / max(|min|, floor_value)``
    over the finite values, ``last`` being how many final values must all be that high (``None``
    if not computable)."""
    a = as_curve(curve)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return None
    low = float(np.min(a))
    denom = max(abs(low), floor_value)
    if denom == 0:
        return None
    return (float(np.min(a[-max(1, int(last)):])) - low) / denom


def _valid_baseline(baseline_loss: float | None) -> bool:
    return baseline_loss is not None and math.isfinite(baseline_loss) and baseline_loss > 0


def _num(x: float | None) -> float | None:
    """A plain float, or None for None/NaN/inf (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ----------------------------------------------------------------------------------------------
# every figure of one trial


def compute_figures(train_loss: Sequence[float] | None, val_loss: Sequence[float] | None = None, *,
                    baseline_loss: float | None = None, thresholds: Thresholds | None = None) -> dict[str, Figure]:
    """All the figures :func:`.diagnosis.diagnose` uses (see the module docstring), JSON-serialisable."""
    th = thresholds or Thresholds()
    tr_all = as_curve(train_loss)
    va_all = as_curve(val_loss)
    tr = tr_all[np.isfinite(tr_all)]
    va = va_all[np.isfinite(va_all)]
    base = float(baseline_loss) if _valid_baseline(baseline_loss) else None

    min_val_epoch = None
    if va.size:
        finite_idx = np.flatnonzero(np.isfinite(va_all))
        min_val_epoch = int(finite_idx[int(np.argmin(va))]) + 1

    # reference levels for the floors: the trivial loss, else each curve's first value
    train_ref = base if base is not None else (float(tr[0]) if tr.size else 0.0)
    val_ref = base if base is not None else (float(va[0]) if va.size else 0.0)
    val_osc = oscillation(va, val_ref, th.oscillation_floor)
    train_osc = oscillation(tr, train_ref, th.oscillation_floor)
    both = [x for x in (val_osc, train_osc) if x is not None]

    gap = None
    if tr.size and va.size and tr[-1] != 0:
        gap = float((va[-1] - tr[-1]) / abs(tr[-1]))

    nonfinite = [e for e in (first_nonfinite_epoch(tr_all), first_nonfinite_epoch(va_all)) if e is not None]
    return {
        "epochs": int(tr_all.size),
        "first_train_loss": _num(tr[0]) if tr.size else None,
        "last_train_loss": _num(tr[-1]) if tr.size else None,
        "min_train_loss": _num(np.min(tr)) if tr.size else None,
        "min_val_loss": _num(np.min(va)) if va.size else None,
        "min_val_epoch": min_val_epoch,
        "last_val_loss": _num(va[-1]) if va.size else None,
        "baseline_loss": base,
        "rel_improvement": _num(relative_improvement(tr, base)),
        "val_rise": _num(val_rise(va)),
        "train_rise": _num(rise_above_min(tr, th.oscillation_floor * abs(train_ref), last=2)),
        "oscillation": _num(max(both)) if both else None,
        "val_oscillation": _num(val_osc),
        "train_oscillation": _num(train_osc),
        "gap": _num(gap),
        "train_slope": _num(tail_slope(tr, th.tail_epochs)),
        "val_slope": _num(tail_slope(va, th.tail_epochs)),
        "explode_ratio": _num(explode_ratio(tr)),
        "nonfinite_epoch": min(nonfinite) if nonfinite else None,
    }
