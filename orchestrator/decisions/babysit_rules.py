"""The babysitter ("panda"): decisions on one model's learning curves, and the next model to try.

The course's way to tune with little compute: train one model at a time, look at its curves after
every epoch, and adjust it as it trains. This module holds the decisions, as pure functions of
the curves so far (no Ray, no TensorFlow); :mod:`orchestrator.babysit.worker` applies them
inside ``model.fit`` and the runner records each as a row of ``events.parquet``.

:func:`decide` looks at the epochs so far and returns one :class:`Decision`, checked in this order:

=====================  ==============================================================  =====================
action                 when                                                            what is done
=====================  ==============================================================  =====================
``revert_and_cut_lr``  a loss is NaN/inf or exploded (``divergence.explode_factor`` x  restore the best
                       its first value or the trivial predictor's), it is still worse  earlier epoch's
                       than the trivial predictor's after a few epochs, or, since the  weights,
                       last change, the curves swing up and down                       ``lr *= lr_cut``
                       (:func:`~orchestrator.decisions.curves.oscillation`) or the training
                       loss climbed back well above its minimum
``stop_diverged``      as above, but ``max_reverts`` reverts were spent or the          stop; keep the best
                       learning rate is already at its lower bound                     epoch
``stop_overfit``       validation loss rose ``overfit_rise`` above its minimum for     stop; keep the best
                       ``overfit_patience`` epochs while training loss kept falling    epoch; next model:
                                                                                       more regularisation
                                                                                       or less capacity
``raise_lr``           (almost) nothing learned yet: the training loss is hardly       ``lr *= lr_raise``
                       below the trivial predictor's (``too_slow``)
``next_more_capacity`` the metric stopped improving while the training loss levelled   stop; next model:
                       off high (underfitting)                                         more capacity
``decay_lr``           the metric has not improved for ``patience`` epochs             ``lr *= lr_decay``
``stop_converged``     ... and ``max_decays`` decays did not help                      stop; keep the best
                                                                                       epoch
``continue``           none of the above, or within ``cooldown`` epochs of a change    nothing
=====================  ==============================================================  =====================

:func:`next_config` picks the next model's hyperparameters from the models so far (one change at a
time, as the course advises), always inside the spec's search space (:func:`clamp`); it lives with
the space's other rules in :mod:`orchestrator.decisions.babysit_moves` and is re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from .babysit_moves import ModelOutcome, clamp, lr_bounds, next_config, start_config
from .curves import Thresholds, oscillation, relative_improvement, rise_above_min, tail_slope
from .stopping import improved
from ..spec import BabysitSpec, SweepSpec

__all__ = [
    "ACTIONS",
    "LR_ACTIONS",
    "STOP_ACTIONS",
    "Rules",
    "Decision",
    "Applied",
    "ModelOutcome",
    "decide",
    "blown_up",
    "lr_bounds",
    "clamp",
    "start_config",
    "next_config",
]

ACTIONS = ("continue", "revert_and_cut_lr", "decay_lr", "raise_lr", "stop_overfit", "next_more_capacity",
           "stop_diverged", "stop_converged")
LR_ACTIONS = ("revert_and_cut_lr", "decay_lr", "raise_lr")
STOP_ACTIONS = ("stop_overfit", "next_more_capacity", "stop_diverged", "stop_converged")
REVERTS = ("revert_and_cut_lr", "stop_diverged")


@dataclass(frozen=True)
class Rules:
    """Everything :func:`decide` needs besides the curves: the spec's ``babysit`` section, the
    learning-rate bounds, the divergence factor and the diagnosis thresholds."""

    babysit: BabysitSpec = field(default_factory=BabysitSpec)
    lr_low: float = 1e-6
    lr_high: float = 1.0
    explode_factor: float = 10.0
    thresholds: Thresholds = field(default_factory=Thresholds)

    @classmethod
    def of(cls, spec: SweepSpec) -> "Rules":
        low, high = lr_bounds(spec)
        return cls(spec.babysit, low, high, spec.divergence.explode_factor,
                   Thresholds(explode_factor=spec.divergence.explode_factor))


@dataclass(frozen=True)
class Applied:
    """A decision already applied to this model (1-based epoch after which it was taken).

    Not an events row: the babysitter reports each decision to the run as an
    :class:`orchestrator.trial_events.Intervention`; this is the decider's own memory of them.
    """

    epoch: int
    action: str


@dataclass(frozen=True)
class Decision:
    """What to do after an epoch.

    Attributes:
        action: one of :data:`ACTIONS`.
        reason: a short code (``diverged``, ``oscillating``, ``overfit``, ``too_slow``, ``underfit``,
            ``plateau``, ``converged``, ``ok``, ``cooldown``).
        detail: one sentence with the figures behind it.
        old_lr, new_lr: the learning rate before and after (equal when unchanged).
        revert_to_epoch: for reverts and stops, the 1-based epoch whose weights to restore (0: the
            initial weights; None: keep the current ones).
    """

    action: str
    reason: str
    detail: str
    old_lr: float
    new_lr: float
    revert_to_epoch: int | None = None

    @property
    def stops(self) -> bool:
        return self.action in STOP_ACTIONS


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _best_epoch(values: Sequence[float], mode: str, min_delta: float = 0.0) -> int:
    """1-based epoch of the best finite value (0 when there is none; ties: the earliest; a later
    value counts as better only by more than ``min_delta``)."""
    best, at = math.nan, 0
    for i, v in enumerate(values, start=1):
        if improved(_f(v), best, mode, min_delta):
            best, at = _f(v), i
    return at


def blown_up(train_loss: Sequence[float], val_loss: Sequence[float], baseline_loss: float | None,
             explode_factor: float) -> list[bool]:
    """Per epoch: whether it diverged (a NaN/inf loss, or a training loss past ``explode_factor`` x
    its first finite value or x the trivial predictor's). Such epochs are never "the best epoch":
    a revert does not go back to them and selection skips them (their rows are flagged ``diverged``)."""
    ref = baseline_loss if baseline_loss is not None and math.isfinite(baseline_loss) and baseline_loss > 0 else None
    out, first = [], math.nan
    for i, t in enumerate(train_loss):
        t = _f(t)
        v = _f(val_loss[i]) if i < len(val_loss) else 0.0
        if math.isnan(first) and math.isfinite(t):
            first = t
        bad = not (math.isfinite(t) and math.isfinite(v))
        bad = bad or (first > 0 and t > explode_factor * first) or (ref is not None and t > explode_factor * ref)
        out.append(bool(bad))
    return out


def _g(x: float) -> str:
    return f"{x:.3g}"


def decide(train_loss: Sequence[float], val_loss: Sequence[float], metric: Sequence[float], lr: float, *,
           mode: str, baseline_loss: float | None, rules: Rules,
           applied: Sequence[Applied] = ()) -> Decision:
    """The babysitter's decision after the last epoch of ``train_loss`` (see the module's table).

    The rules are tried in the table's order, each by a small pure helper returning a Decision or None.

    Args:
        train_loss, val_loss: per-epoch losses so far (epoch 1 first; NaN allowed).
        metric: the spec's validation metric per epoch (may be ``val_loss`` itself).
        lr: the learning rate the last epoch trained with.
        mode: ``min`` or ``max`` for ``metric``.
        baseline_loss: the trivial predictor's loss (``ln(classes)``, the target variance), or None.
        rules: :class:`Rules`.
        applied: decisions other than ``continue`` already applied to this model.

    Returns:
        A :class:`Decision`.
    """
    s = _Situation.of(train_loss, val_loss, metric, lr, mode=mode, baseline_loss=baseline_loss, rules=rules,
                      applied=applied)
    if s.n == 0:
        return s.decision("continue", "ok", "no epoch yet")
    return (_diverging(s) or _unstable(s) or _cooling_down(s) or _worse_than_trivial(s) or _overfitting(s)
            or _too_slow(s) or _plateau(s) or s.decision("continue", "ok", f"epoch {s.n}: learning"))


@dataclass(frozen=True)
class _Situation:
    """What :func:`decide`'s rules read, computed once from the curves so far."""

    tr: list[float]
    va: list[float]
    me: list[float]
    lr: float
    mode: str
    rules: Rules
    ref: float | None  # the trivial predictor's loss, when usable
    best_epoch: int  # the best healthy epoch: what a stop keeps
    best_before: int  # what a revert goes back to: the current epoch is the problem
    changes: list[Applied]
    since: int  # the window: epochs after the last change
    reverts: int
    rel: float | None  # relative improvement of the training loss

    @classmethod
    def of(cls, train_loss: Sequence[float], val_loss: Sequence[float], metric: Sequence[float], lr: float, *,
           mode: str, baseline_loss: float | None, rules: Rules,
           applied: Sequence[Applied]) -> "_Situation":
        """The situation after the last epoch of ``train_loss`` (arguments as for :func:`decide`)."""
        tr = [_f(v) for v in train_loss]
        va = [_f(v) for v in val_loss]
        me = [_f(v) for v in metric]
        bad = blown_up(tr, va, baseline_loss, rules.explode_factor)
        healthy = [math.nan if b_ else v for v, b_ in zip(me, bad)]
        changes = [i for i in applied if i.action != "continue"]
        ref = (baseline_loss if baseline_loss is not None and math.isfinite(baseline_loss) and baseline_loss > 0
               else None)
        return cls(tr, va, me, float(lr), mode, rules, ref, _best_epoch(healthy, mode),
                   _best_epoch(healthy[:-1], mode), changes, max((i.epoch for i in changes), default=0),
                   sum(i.action in REVERTS for i in changes), relative_improvement(tr, ref))

    @property
    def n(self) -> int:  # epochs so far
        return len(self.tr)

    @property
    def last_tr(self) -> float:  # the last epoch's training loss
        return self.tr[-1]

    def decision(self, action: str, reason: str, detail: str, new_lr: float | None = None) -> Decision:
        """A :class:`Decision` (a revert goes back to ``best_before``, a stop keeps ``best_epoch``)."""
        target = self.best_before if action in REVERTS else self.best_epoch if action in STOP_ACTIONS else None
        return Decision(action, reason, detail, self.lr, self.lr if new_lr is None else new_lr, target)

    def cut(self, reason: str, detail: str) -> Decision:
        """Revert and cut the learning rate, or stop when no revert or no lower rate is left."""
        b, lr, rules = self.rules.babysit, self.lr, self.rules
        if self.reverts >= b.max_reverts or lr <= rules.lr_low * (1 + 1e-9):
            why = (f"{self.reverts} reverts spent" if self.reverts >= b.max_reverts
                   else f"the learning rate is at its lower bound {_g(rules.lr_low)}")
            return self.decision("stop_diverged", reason,
                                 f"{detail}; {why}: stopping, back to epoch {self.best_before}")
        new = max(rules.lr_low, lr * b.lr_cut)
        return self.decision("revert_and_cut_lr", reason,
                             f"{detail}: back to epoch {self.best_before}'s weights, learning rate {_g(lr)} -> "
                             f"{_g(new)}", new)


def _diverging(s: _Situation) -> Decision | None:
    """Divergence: immediate, whatever the cooldown."""
    n, tr, va, factor = s.n, s.tr, s.va, s.rules.explode_factor
    last_tr, last_va = tr[-1], va[-1] if va else math.nan
    first_tr = next((v for v in tr if math.isfinite(v)), math.nan)
    if not math.isfinite(last_tr) or (va and not math.isfinite(last_va)):
        return s.cut("diverged", f"epoch {n}: the loss is not finite (train {last_tr}, val {last_va})")
    if math.isfinite(first_tr) and first_tr > 0 and last_tr > factor * first_tr:
        return s.cut("diverged", f"epoch {n}: training loss {_g(last_tr)} exploded past "
                                 f"{factor:g}x its first value {_g(first_tr)}")
    if s.ref is not None and last_tr > factor * s.ref:
        return s.cut("diverged", f"epoch {n}: training loss {_g(last_tr)} is more than {factor:g}x "
                                 f"the trivial predictor's {_g(s.ref)}")
    return None


def _unstable(s: _Situation) -> Decision | None:
    """Oscillation or instability since the last change."""
    th, since, n = s.rules.thresholds, s.since, s.n
    win_tr, win_va = s.tr[since:], s.va[since:]
    if len(win_tr) < th.min_epochs_oscillation:
        return None
    osc = max((x for x in (oscillation(win_va, s.ref, th.oscillation_floor),
                           oscillation(win_tr, s.ref, th.oscillation_floor)) if x is not None), default=None)
    if osc is not None and osc >= th.oscillation_level:
        return s.cut("oscillating", f"epochs {since + 1}-{n}: the losses swing {osc:.0%} per epoch "
                                    f"(threshold {th.oscillation_level:.0%})")
    rise = rise_above_min(win_tr, th.oscillation_floor * (s.ref or abs(win_tr[0])), last=2)
    if rise is not None and rise >= th.unstable_rise:
        return s.cut("oscillating", f"epochs {since + 1}-{n}: training loss climbed back {rise:.0%} above "
                                    f"its minimum")
    return None


def _cooling_down(s: _Situation) -> Decision | None:
    """Too few epochs since the last change to judge its effect."""
    if s.n - s.since < max(1, s.rules.babysit.cooldown) and s.since > 0:
        return s.decision("continue", "cooldown", f"{s.n - s.since} epoch(s) since the last change at epoch {s.since}")
    return None


def _worse_than_trivial(s: _Situation) -> Decision | None:
    """Worse than the trivial predictor after a few epochs: the learning rate is too high."""
    th, rel = s.rules.thresholds, s.rel
    if (len(s.tr[s.since:]) >= th.min_epochs and rel is not None and s.ref is not None
            and rel < -th.too_slow_improvement):
        return s.cut("diverged", f"after {s.n} epochs the training loss {_g(s.last_tr)} is {-rel:.0%} above the "
                                 f"trivial predictor's {_g(s.ref)}")
    return None


def _overfitting(s: _Situation) -> Decision | None:
    """Overfitting over the whole model: validation up from its minimum, training still down."""
    th = s.rules.thresholds
    finite_va = [(i, v) for i, v in enumerate(s.va, start=1) if math.isfinite(v)]
    if len(finite_va) < th.min_epochs_overfit:
        return None
    last_va = s.va[-1] if s.va else math.nan
    m_ep, m_va = min(finite_va, key=lambda p: p[1])
    rise = last_va / m_va - 1 if m_va > 0 else 0.0
    tr_at_min = s.tr[m_ep - 1]
    fall = (tr_at_min - s.last_tr) / tr_at_min if math.isfinite(tr_at_min) and tr_at_min > 0 else 0.0
    learned = s.ref is None or m_va < s.ref  # a model that never beat the trivial loss is not overfitting
    if learned and s.n - m_ep >= th.overfit_patience and rise >= th.overfit_rise and fall >= th.overfit_train_fall:
        return s.decision("stop_overfit", "overfit",
                          f"validation loss rose {rise:.0%} above its minimum {_g(m_va)} at epoch {m_ep} while "
                          f"training loss fell {fall:.0%}: stopping, keeping epoch {s.best_epoch}")
    return None


def _too_slow(s: _Situation) -> Decision | None:
    """Learning too slowly: raise the learning rate while it is below its upper bound."""
    th, rules, rel, lr = s.rules.thresholds, s.rules, s.rel, s.lr
    if len(s.tr[s.since:]) >= th.min_epochs and rel is not None and rel < th.too_slow_improvement:
        if lr < rules.lr_high * (1 - 1e-9):
            new = min(rules.lr_high, lr * rules.babysit.lr_raise)
            return s.decision("raise_lr", "too_slow", f"after {s.n} epochs the training loss {_g(s.last_tr)} is only "
                                                      f"{rel:.0%} below the trivial predictor's: learning rate "
                                                      f"{_g(lr)} -> {_g(new)}", new)
    return None


def _plateau(s: _Situation) -> Decision | None:
    """No improvement for ``patience`` epochs: underfit (more capacity next), decay, or done."""
    b, th, rules, lr, rel = s.rules.babysit, s.rules.thresholds, s.rules, s.lr, s.rel
    win_me = s.me[s.since:]
    window_best = _best_epoch(win_me, s.mode, b.min_delta)
    stale = len(win_me) - window_best if window_best else len(win_me)
    if not (len(win_me) > b.patience and stale >= b.patience):
        return None
    slope = tail_slope(s.tr[s.since:], th.tail_epochs)
    level = s.last_tr / s.ref if s.ref else None
    if (level is not None and level >= th.high_loss_level and slope is not None
            and -slope < th.plateau_slope and rel is not None and rel >= th.too_slow_improvement):
        return s.decision("next_more_capacity", "underfit",
                          f"no improvement for {stale} epochs and training loss levelled off at {level:.0%} of "
                          f"the trivial predictor's: stopping; the next model gets more capacity")
    decays = sum(i.action == "decay_lr" for i in s.changes)
    if decays < b.max_decays and lr > rules.lr_low * (1 + 1e-9):
        new = max(rules.lr_low, lr * b.lr_decay)
        return s.decision("decay_lr", "plateau", f"no improvement of the metric for {stale} epochs: learning "
                                                 f"rate {_g(lr)} -> {_g(new)}", new)
    return s.decision("stop_converged", "converged", f"no improvement for {stale} epochs after {decays} "
                                                     f"decays: stopping, keeping epoch {s.best_epoch}")
