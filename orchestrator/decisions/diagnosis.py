"""Read a trial's learning curves and say what went wrong (or that nothing did).

Pure (numpy, the standard library and :mod:`.curves`): :func:`diagnose` is called on the
per-epoch ``loss`` / ``val_loss`` a trial recorded, takes the figures :func:`.curves.compute_figures`
measures (how each is measured is told there) and picks a label.

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

The numbers each label compares against are :class:`.curves.Thresholds`, calibrated on real Keras
runs (see ``tests/unit/test_diagnosis.py`` for the curves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .curves import Figure, Thresholds, as_curve, compute_figures, first_explode_epoch, first_nonfinite_epoch

# Thresholds is re-exported: it is diagnose()'s argument
__all__ = ["LABELS", "Diagnosis", "Thresholds", "diagnose"]

LABELS = ("diverged", "oscillating", "too_slow", "underfit", "overfit", "good")


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
# how the reasons write numbers


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
    tr_all = as_curve(train_loss)
    va_all = as_curve(val_loss)
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
