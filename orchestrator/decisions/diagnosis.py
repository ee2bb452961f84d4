"""Read a trial's learning curves and say what went wrong (or that nothing did).

This module is pure (numpy only): it is called on the per-epoch ``loss`` / ``val_loss`` a trial
recorded, and its two small helpers :func:`explodes` and :func:`is_finite_curve` are also called by
the training-time divergence guard after every epoch.

The labels, in order of precedence (the first that applies wins)::

    diverged     NaN/inf in a loss, the guard flagged it, or the training loss blew up past
                 ``explode_factor`` x its first value.                    -> lower the learning rate
    oscillating  the validation (or training) loss swings up and down from epoch to epoch, or the
                 training loss climbed back up well above its minimum.   -> lower the learning rate
    too_slow     (almost) nothing was learned: the training loss is hardly below the trivial
                 predictor's loss (or, without one, hardly below its first value); or, with a
                 baseline, both losses are still clearly falling but the training loss is still high.
                                                                          -> raise the learning rate
                                                                             or train longer
    overfit      the validation loss fell, then rose clearly above its minimum for several epochs
                 while the training loss kept falling; ``stop_epoch`` is the minimum.
                                                                          -> stop earlier/regularise
    underfit     the training loss has levelled off while still high (relative to the trivial
                 predictor; without one, after little improvement) and validation does not rise.
                 Validation at or below training is typical, but the gap is only reported, not
                 required: converged linear models on real diabetes splits ended anywhere from 11%
                 below to 24% above their training loss.                 -> a bigger model
    good         none of the above, and the loss really improved.

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
    "LABELS",
    "Diagnosis",
    "Thresholds",
    "diagnose",
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

LABELS = ("diverged", "oscillating", "too_slow", "underfit", "overfit", "good")

Figure = float | int | None


@dataclass(frozen=True)
class Thresholds:
    """The tunable numbers of :func:`diagnose` (defaults calibrated on real runs).

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


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` concluded.

    Attributes:
        label: one of :data:`LABELS`.
        reason: one short sentence with the numbers behind the label.
        figures: the numbers that justify it (``int``/``float``/``None`` only; JSON-serialisable).
        stop_epoch: for ``overfit``, the 1-based epoch of the validation-loss minimum (where early
            stopping should have stopped); otherwise ``None``.
    """

    label: str
    reason: str
    figures: dict[str, Figure]
    stop_epoch: int | None = None

    def to_dict(self) -> dict[str, object]:
        """A plain JSON-serialisable dict of this diagnosis."""
        return {"label": self.label, "reason": self.reason, "figures": dict(self.figures),
                "stop_epoch": self.stop_epoch}


# ----------------------------------------------------------------------------------------------
# small pure helpers


def _array(curve: Sequence[float] | None) -> np.ndarray:
    if curve is None:
        return np.zeros(0, dtype=float)
    # None (e.g. a NaN that went through JSON) reads as NaN
    return np.array([math.nan if v is None else v for v in curve], dtype=float).reshape(-1)


def is_finite_curve(curve: Sequence[float] | None) -> bool:
    """True when every value of ``curve`` is a finite number (an empty curve is finite)."""
    a = _array(curve)
    return bool(np.all(np.isfinite(a)))


def first_nonfinite_epoch(curve: Sequence[float] | None) -> int | None:
    """The 1-based epoch of the first NaN/inf value, or ``None`` if all are finite."""
    a = _array(curve)
    bad = np.flatnonzero(~np.isfinite(a))
    return int(bad[0]) + 1 if bad.size else None


def explode_ratio(curve: Sequence[float] | None) -> float | None:
    """Largest finite value divided by the first finite value (``None`` if not computable).

    ``None`` when there are fewer than two finite values or the first one is not positive.
    """
    a = _array(curve)
    a = a[np.isfinite(a)]
    if a.size < 2 or a[0] <= 0:
        return None
    return float(np.max(a) / a[0])


def first_explode_epoch(curve: Sequence[float] | None, factor: float = Thresholds.explode_factor) -> int | None:
    """The 1-based epoch of the first finite value above ``factor`` x the first finite value
    (``None`` if there is none, or the first finite value is not positive)."""
    a = _array(curve)
    finite = np.flatnonzero(np.isfinite(a))
    if finite.size < 2 or a[finite[0]] <= 0:
        return None
    over = finite[a[finite] > factor * a[finite[0]]]
    return int(over[0]) + 1 if over.size else None


def explodes(train_loss_so_far: Sequence[float] | None, factor: float = Thresholds.explode_factor) -> bool:
    """Whether the training loss has blown up: a NaN/inf value, or a value above ``factor`` x the
    first finite value. This is what the training-time divergence guard calls after every epoch.
    """
    if not is_finite_curve(train_loss_so_far):
        return True
    ratio = explode_ratio(train_loss_so_far)
    return ratio is not None and ratio > factor


def relative_improvement(train_loss: Sequence[float] | None, baseline_loss: float | None = None) -> float | None:
    """``(baseline - last) / baseline`` with a (positive, finite) baseline, else
    ``(first - last) / |first|``, over the finite training losses; ``None`` if not computable."""
    a = _array(train_loss)
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
    a = _array(curve)
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
    a = _array(curve)
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
    a = _array(val_loss)
    a = a[np.isfinite(a)]
    if a.size == 0 or float(np.min(a)) <= 0:
        return None
    return float(a[-1] / np.min(a) - 1.0)


def rise_above_min(curve: Sequence[float] | None, floor_value: float = 0.0, last: int = 1) -> float | None:
    """How far the curve ended above its minimum: ``(min(last values) - min) / max(|min|, floor_value)``
    over the finite values, ``last`` being how many final values must all be that high (``None``
    if not computable)."""
    a = _array(curve)
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


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _pct(x: float | None) -> str:
    if x is None:
        return "n/a"
    if 0.995 <= abs(x) < 1:  # do not round 99.97% up to a misleading 100%
        return f"{100 * x:.3g}%"
    return f"{100 * x:.0f}%"


def _below(rel: float | None, what: str) -> str:
    """'37% below <what>' or, for a negative improvement, '12% above <what>'."""
    if rel is None:
        return f"not comparable with {what}"
    return f"{_pct(rel)} below {what}" if rel >= 0 else f"{_pct(-rel)} above {what}"


# ----------------------------------------------------------------------------------------------
# the diagnosis


def compute_figures(train_loss: Sequence[float] | None, val_loss: Sequence[float] | None = None, *,
                    baseline_loss: float | None = None, thresholds: Thresholds | None = None) -> dict[str, Figure]:
    """All the figures :func:`diagnose` uses (see the module docstring), JSON-serialisable."""
    th = thresholds or Thresholds()
    tr_all = _array(train_loss)
    va_all = _array(val_loss)
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


def diagnose(train_loss: Sequence[float], val_loss: Sequence[float] | None = None, *, diverged: bool = False,
             baseline_loss: float | None = None, thresholds: Thresholds | None = None) -> Diagnosis:
    """Label a trial from its per-epoch training and validation losses (epoch 1 first).

    The labels are tried in the module docstring's order of precedence, each by one small pure
    helper below (``_diverged``, ``_too_few_epochs``, ...) that returns a verdict or ``None``.

    Args:
        train_loss: training loss per epoch; may contain NaN/inf (or ``None``, read as NaN).
        val_loss: validation loss per epoch (may be empty or ``None``: then overfitting cannot be
            judged and oscillation is measured on the training curve).
        diverged: set by the training guard when it stopped the trial; forces ``diverged``.
        baseline_loss: loss of a trivial predictor (``ln(n_classes)`` for cross-entropy, the target
            variance for MSE). Ignored unless positive and finite.
        thresholds: the tunable numbers; :class:`Thresholds` defaults when ``None``.
    """
    th = thresholds or Thresholds()
    tr_all = _array(train_loss)
    va_all = _array(val_loss)
    fig = compute_figures(tr_all, va_all, baseline_loss=baseline_loss, thresholds=th)
    if diverged:
        return Diagnosis("diverged", f"the training guard stopped the run as diverged after {fig['epochs']} epoch(s)",
                         fig)
    label, reason, stop_epoch = (_diverged(tr_all, va_all, fig, th) or _too_few_epochs(fig, th)
                                 or _oscillating(tr_all, fig, th) or _too_slow(fig, th)
                                 or _overfit(tr_all, va_all, fig, th) or _underfit(fig, th) or _good(fig))
    return Diagnosis(label, reason, fig, stop_epoch)


#: What one check concluded: ``(label, reason, stop_epoch)``.
_Verdict = tuple[str, str, int | None]


def _improving(fig: dict[str, Figure], th: Thresholds) -> bool:
    """Whether the training loss improved enough not to be ``too_slow``."""
    rel = fig["rel_improvement"]
    return rel is not None and rel >= th.too_slow_improvement


def _level(fig: dict[str, Figure]) -> float | None:
    """The last training loss as a share of the trivial-predictor loss (None without one)."""
    base, last_tr = fig["baseline_loss"], fig["last_train_loss"]
    return (last_tr / base) if (base is not None and last_tr is not None) else None


def _diverged(tr_all: np.ndarray, va_all: np.ndarray, fig: dict[str, Figure], th: Thresholds) -> _Verdict | None:
    """A non-finite or exploding loss; whichever happened first is named first."""
    events = []  # (epoch, text)
    bad_tr = first_nonfinite_epoch(tr_all)
    if bad_tr is not None:
        events.append((bad_tr, f"training loss became {_nonfinite_name(tr_all[bad_tr - 1])} at epoch {bad_tr}"))
    boom = first_explode_epoch(tr_all, th.explode_factor)
    if boom is not None:
        first = fig["first_train_loss"]
        value = float(tr_all[boom - 1])
        events.append((boom, f"training loss exploded to {_g(value)} at epoch {boom}, {value / first:.3g}x its "
                             f"first value {_g(first)} (limit {th.explode_factor:g}x)"))
    bad_va = first_nonfinite_epoch(va_all)
    if bad_va is not None:
        events.append((bad_va, f"validation loss became {_nonfinite_name(va_all[bad_va - 1])} at epoch {bad_va}"))
    if not events:
        return None
    events.sort(key=lambda e: e[0])
    return "diverged", " and ".join(text for _, text in events[:2]), None


def _too_few_epochs(fig: dict[str, Figure], th: Thresholds) -> _Verdict | None:
    """Fewer epochs than ``min_epochs``: judged on the improvement so far only."""
    n, rel = fig["epochs"], fig["rel_improvement"]
    if n >= th.min_epochs:
        return None
    if n == 0:
        return "too_slow", "no epochs recorded: nothing was learned", None
    what = "the trivial-predictor loss" if fig["baseline_loss"] is not None else "its first value"
    if _improving(fig, th):
        return "good", f"too few epochs to judge: {n}; so far training loss is {_below(rel, what)}", None
    return "too_slow", f"too few epochs to judge: {n}; so far training loss is only {_below(rel, what)}", None


def _oscillating(tr_all: np.ndarray, fig: dict[str, Figure], th: Thresholds) -> _Verdict | None:
    """A loss swinging from epoch to epoch, or the training loss climbing back above its minimum."""
    if fig["epochs"] < th.min_epochs_oscillation:
        return None
    osc = fig["oscillation"]
    osc_name = "validation" if osc is not None and osc == fig["val_oscillation"] else "training"
    if osc is not None and osc >= th.oscillation_level:
        return "oscillating", (f"{osc_name} loss swings {_pct(osc)} per epoch on average beyond its "
                               f"overall trend (limit {_pct(th.oscillation_level)})"), None
    train_rise = fig["train_rise"]
    if train_rise is not None and train_rise >= th.unstable_rise:
        min_tr_epoch = int(np.argmin(tr_all)) + 1
        return "oscillating", (f"training loss climbed back up {_pct(train_rise)} above its minimum "
                               f"{_g(fig['min_train_loss'])} at epoch {min_tr_epoch} "
                               f"(limit {_pct(th.unstable_rise)}): unstable learning"), None
    return None


def _too_slow(fig: dict[str, Figure], th: Thresholds) -> _Verdict | None:
    """(Almost) nothing learned; or, with a baseline, still falling but still high."""
    n, rel, base, last_tr = fig["epochs"], fig["rel_improvement"], fig["baseline_loss"], fig["last_train_loss"]
    if rel is None:
        return "too_slow", (f"training loss improvement cannot be measured (first value "
                            f"{_g(fig['first_train_loss'])}, last {_g(last_tr)}) after {n} epochs"), None
    if not _improving(fig, th):
        if base is not None:
            where = _below(rel, f"the trivial-predictor loss {_g(base)}")
            return "too_slow", (f"training loss {_g(last_tr)} after {n} epochs is "
                                f"{'only ' if rel is not None and rel >= 0 else 'still '}{where}: "
                                f"almost nothing learned"), None
        moved = f"only fell {_pct(rel)}" if rel is not None and rel >= 0 else f"rose {_pct(-(rel or 0.0))}"
        return "too_slow", (f"training loss {moved} in {n} epochs "
                            f"({_g(fig['first_train_loss'])} -> {_g(last_tr)}): almost nothing learned"), None
    slope, v_slope, level = fig["train_slope"], fig["val_slope"], _level(fig)
    still_falling = slope is not None and -slope >= th.plateau_slope
    val_falling = v_slope is None or -v_slope >= th.plateau_slope
    if level is not None and level >= th.high_loss_level and still_falling and val_falling:
        return "too_slow", (f"training loss is still falling {_pct(-slope)} per epoch but after {n} epochs "
                            f"is still at {_pct(level)} of the trivial-predictor loss {_g(base)}"), None
    return None


def _overfit(tr_all: np.ndarray, va_all: np.ndarray, fig: dict[str, Figure], th: Thresholds) -> _Verdict | None:
    """Validation loss clearly above its minimum for a while, the training loss still falling."""
    n, rise, min_ep, last_tr = fig["epochs"], fig["val_rise"], fig["min_val_epoch"], fig["last_train_loss"]
    if not (n >= th.min_epochs_overfit and rise is not None and min_ep is not None and rise >= th.overfit_rise
            and np.isfinite(va_all).sum() - _finite_rank(va_all, min_ep) >= th.overfit_patience):
        return None
    tr_at_min = float(tr_all[min_ep - 1]) if min_ep <= tr_all.size and np.isfinite(tr_all[min_ep - 1]) else None
    if tr_at_min is not None and tr_at_min > 0 and last_tr is not None:
        fall = (tr_at_min - last_tr) / tr_at_min
        if fall >= th.overfit_train_fall:
            return "overfit", (f"validation loss rose {_pct(rise)} from its minimum {_g(fig['min_val_loss'])} "
                               f"at epoch {min_ep} while training loss kept falling ({_pct(fall)} lower); "
                               f"training could have stopped at epoch {min_ep}"), min_ep
    return None


def _underfit(fig: dict[str, Figure], th: Thresholds) -> _Verdict | None:
    """The training loss levelled off while still high (or after little improvement)."""
    slope, rel, base, last_tr, level = (fig["train_slope"], fig["rel_improvement"], fig["baseline_loss"],
                                        fig["last_train_loss"], _level(fig))
    plateaued = slope is not None and -slope < th.plateau_slope
    if not (fig["epochs"] >= th.min_epochs_underfit and plateaued):
        return None
    vs = ""
    if fig["last_val_loss"] is not None:
        vs = f" (validation {_g(fig['last_val_loss'])} vs training {_g(last_tr)})"
    if level is not None and level >= th.high_loss_level:
        return "underfit", (f"training loss levelled off at {_pct(level)} of the trivial-predictor "
                            f"loss {_g(base)}{vs}: the model is too simple"), None
    if base is None and rel < th.underfit_max_improvement:
        return "underfit", (f"training loss levelled off after falling only {_pct(rel)} "
                            f"({_g(fig['first_train_loss'])} -> {_g(last_tr)}){vs}"), None
    return None


def _good(fig: dict[str, Figure]) -> _Verdict:
    """None of the above: how far the loss fell, and where validation stands."""
    rise, base, min_ep = fig["val_rise"], fig["baseline_loss"], fig["min_val_epoch"]
    tail = ""
    if fig["min_val_loss"] is not None and rise is not None:
        if rise < 0.005:
            tail = f"; validation loss {_g(fig['last_val_loss'])} is at its minimum"
        else:
            tail = (f"; validation loss is {_pct(rise)} above its minimum {_g(fig['min_val_loss'])} "
                    f"at epoch {min_ep}")
    what_n = (f"the trivial-predictor loss {_g(base)}" if base is not None
              else f"its first value {_g(fig['first_train_loss'])}")
    return "good", (f"training loss {_g(fig['last_train_loss'])} is {_below(fig['rel_improvement'], what_n)} "
                    f"after {fig['epochs']} epochs{tail}"), None


def _finite_rank(curve: np.ndarray, epoch: int) -> int:
    """How many finite values there are up to and including 1-based ``epoch``."""
    return int(np.isfinite(curve[:epoch]).sum())


def _nonfinite_name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "inf" if value > 0 else "-inf"
