"""The babysitter's space: learning-rate bounds, clamping, the first model and the next one.

:func:`next_config` picks the next model's hyperparameters from the models so far (one change at a
time, as the course advises), always inside the spec's search space (:func:`clamp`). Its moves on
the architecture depend on the model (:data:`ARCHITECTURE_MOVES`): units and layers for the MLP,
filters, convolution blocks and the dense layer for the CNN, none for a user's builder (its names
mean what its author says). Pure functions of the spec and the models so far; no Ray, no TensorFlow.
:mod:`orchestrator.decisions.babysit_rules` (the per-epoch decisions) re-exports the public names.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Sequence

from .stopping import improved
from ..spec import Choice, Constant, Grid, IntRange, LogUniform, Param, SweepSpec, Uniform

__all__ = ["ModelOutcome", "ARCHITECTURE_MOVES", "GAP_REGULARISE", "lr_bounds", "clamp", "start_config",
           "next_config"]


def lr_bounds(spec: SweepSpec) -> tuple[float, float]:
    """The learning rates the babysitter may use: the spec's range, or around a fixed value."""
    p = spec.params["learning_rate"]
    if isinstance(p, (Uniform, LogUniform)):
        return float(p.low), float(p.high)
    if isinstance(p, (Choice, Grid)):
        vals = [float(v) for v in p.values]
        if len(vals) > 1:
            return min(vals), max(vals)
        return vals[0] / 1000, vals[0] * 10
    v = float(p.value)  # type: ignore[union-attr]
    return v / 1000, v * 10


def _nearest(values: list[Any], v: Any) -> Any:
    if v in values:
        return v
    nums = [x for x in values if isinstance(x, (int, float)) and not isinstance(x, bool)]
    if nums and isinstance(v, (int, float)) and not isinstance(v, bool):
        if v > 0 and all(x > 0 for x in nums):
            return min(nums, key=lambda x: abs(math.log(x) - math.log(v)))
        return min(nums, key=lambda x: abs(x - v))
    return values[0]


def _clamp_one(p: Param, v: Any) -> Any:
    if isinstance(p, Constant):
        return p.value
    if isinstance(p, (Choice, Grid)):
        return _nearest(list(p.values), v)
    if v is None:
        return _center(p)
    if isinstance(p, IntRange):
        return int(min(p.high, max(p.low, round(float(v)))))
    return float(min(p.high, max(p.low, float(v))))  # type: ignore[union-attr]


def clamp(spec: SweepSpec, config: dict[str, Any], free_lr: bool = False) -> dict[str, Any]:
    """``config`` moved inside the spec's space: ranges clipped, choices snapped to the nearest
    listed value (on a log scale for positive numbers), constants restored, inactive conditional
    hyperparameters ``None``.

    ``free_lr``: a *fixed* learning rate is only where the babysitter starts; with this, the
    learning rate is clipped to :func:`lr_bounds` instead of restored (the next model starts at
    the rate babysitting found). A searched learning rate always stays in its range.
    """
    from .space import resolve_config

    out = {k: _clamp_one(p, config.get(k)) for k, p in spec.params.items()}
    lr = config.get("learning_rate")
    if free_lr and isinstance(spec.params["learning_rate"], Constant) and _finite(lr):
        low, high = lr_bounds(spec)
        out["learning_rate"] = min(high, max(low, float(lr)))
    return resolve_config(spec, out)


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _center(p: Param) -> Any:
    if isinstance(p, Constant):
        return p.value
    if isinstance(p, (Choice, Grid)):
        vals = list(p.values)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            return sorted(vals)[(len(vals) - 1) // 2]
        return vals[0]
    if isinstance(p, LogUniform):
        return math.sqrt(p.low * p.high)
    if isinstance(p, Uniform):
        return (p.low + p.high) / 2
    if isinstance(p, IntRange):
        if p.log:
            return int(round(math.sqrt(p.low * p.high)))
        return (p.low + p.high) // 2
    raise TypeError(f"unknown parameter kind {p!r}")  # pragma: no cover


def start_config(spec: SweepSpec) -> dict[str, Any]:
    """Where a person would start: the middle of every range (the geometric middle on a log scale),
    the middle of a numeric choice, the first listed value of a categorical one."""
    return clamp(spec, {k: _center(p) for k, p in spec.params.items()})


@dataclass(frozen=True)
class ModelOutcome:
    """What one babysat model taught: its configuration, how it ended, and its best epoch.

    Attributes:
        config: the resolved hyperparameters it started with.
        action: the decision that ended it (a :data:`STOP_ACTIONS` member), ``max_epochs`` or ``budget``.
        best_value: the best value of the spec's metric (NaN when none).
        lr_at_best: the learning rate of its best epoch (what the babysitter found to work).
        train_loss_at_best, val_loss_at_best: the losses at that epoch (for the bias/variance gap).
    """

    config: dict[str, Any]
    action: str
    best_value: float
    lr_at_best: float | None = None
    train_loss_at_best: float | None = None
    val_loss_at_best: float | None = None


# One step of each hyperparameter the babysitter changes between models: (kind, amount).
# "mul": multiply (divide going down), "add": add (subtract going down); a choice moves to the next value.
_STEPS: dict[str, tuple[str, float]] = {
    "units": ("mul", 2.0), "hidden_layers": ("add", 1), "dropout": ("add", 0.1), "l2": ("mul", 10.0),
    "filters": ("mul", 2.0), "conv_layers": ("add", 1), "dense_units": ("mul", 2.0),
    "learning_rate": ("mul", 3.0),
}
# Per model kind, the moves tried in order (name, up?): (regularise: more regularisation, else less
# capacity; grow: more capacity, else less regularisation). A builder's names mean what its author
# says: no move on them (its next models change the learning rate, or draw from the space).
ARCHITECTURE_MOVES: dict[str, tuple[list[tuple[str, bool]], list[tuple[str, bool]]]] = {
    "mlp": ([("dropout", True), ("l2", True), ("units", False), ("hidden_layers", False)],
            [("units", True), ("hidden_layers", True), ("dropout", False), ("l2", False)]),
    "cnn": ([("dropout", True), ("l2", True), ("filters", False), ("conv_layers", False), ("dense_units", False)],
            [("filters", True), ("conv_layers", True), ("dense_units", True), ("dropout", False), ("l2", False)]),
    "builder": ([], []),
}
GAP_REGULARISE = 0.25  # validation loss this much above training loss: high variance -> regularise


def _step(spec: SweepSpec, name: str, value: Any, up: bool) -> Any:
    """``value`` moved one step up or down inside the space (unchanged at an edge or for a constant)."""
    p = spec.params[name]
    if isinstance(p, Constant):
        return p.value
    if isinstance(p, (Choice, Grid)):
        vals = sorted(v for v in p.values if isinstance(v, (int, float)) and not isinstance(v, bool))
        if not vals:
            return value
        cur = _nearest(vals, value if value is not None else vals[0])
        i = vals.index(cur)
        return vals[min(len(vals) - 1, i + 1)] if up else vals[max(0, i - 1)]
    kind, amount = _STEPS[name]
    v = float(value if value is not None else _center(p))
    if kind == "mul":
        if v <= 0:  # from 0 (no L2, no dense layer): the range's smallest positive value
            smallest = 1 if isinstance(p, IntRange) else 1e-4
            v = float(p.low) if p.low > 0 else (smallest if up else 0.0)  # type: ignore[union-attr]
            return _clamp_one(p, v) if up else _clamp_one(p, 0.0)
        v = v * amount if up else v / amount
    else:
        v = v + amount if up else v - amount
    return _clamp_one(p, v)


def _try(spec: SweepSpec, config: dict[str, Any], moves: list[tuple[str, bool]]) -> tuple[dict[str, Any], str | None]:
    """Apply the first move of ``moves`` that changes the configuration (one change at a time)."""
    for name, up in moves:
        if name not in spec.searched or config.get(name) is None:
            continue
        new = _step(spec, name, config[name], up)
        if new != config[name]:
            out = dict(config)
            out[name] = new
            return clamp(spec, out, free_lr=True), name
    return config, None


def _regularise(spec: SweepSpec, config: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    return _try(spec, config, ARCHITECTURE_MOVES[spec.model.kind][0])


def _grow(spec: SweepSpec, config: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    return _try(spec, config, ARCHITECTURE_MOVES[spec.model.kind][1])


def _no_move(spec: SweepSpec, otherwise: str) -> str:
    """Why no architecture move was made: a builder's names are its author's, else ``otherwise``."""
    return "no architecture move for a builder's own hyperparameters" if spec.model.kind == "builder" else otherwise


def _draw_untried(spec: SweepSpec, config: dict[str, Any], tried: list[dict[str, Any]], rng: random.Random
                  ) -> tuple[dict[str, Any], str]:
    """``config`` with one searched hyperparameter drawn at random until it is one not tried
    (at most 20 draws); the text says which (empty when none was found)."""
    from .space import draw

    names = list(spec.searched)
    for _ in range(20 if names else 0):
        name = rng.choice(names)
        candidate = clamp(spec, {**config, name: draw(spec.params[name], rng)}, free_lr=True)
        if candidate not in tried:
            return candidate, f"; already tried, so {name} drawn at random"
    return config, ""


def next_config(history: Sequence[ModelOutcome], spec: SweepSpec, rng: random.Random | None = None
                ) -> tuple[dict[str, Any], str]:
    """The next model's hyperparameters, from what the previous models taught.

    - none yet: :func:`start_config`;
    - the last one overfit: its configuration with more regularisation (dropout up, else L2 up) or
      less capacity (fewer units, else fewer layers; for a CNN fewer filters, blocks, dense units);
    - it underfit: more capacity (more units, else more layers, else less regularisation; for a
      CNN more filters, else blocks, else dense units);
    - it diverged for good: its configuration with a smaller learning rate;
    - it converged (or ran out of epochs): the best model so far, regularised when its validation
      loss was well above its training loss (high variance), grown otherwise (high bias).

    Every next model starts at the learning rate the model it builds on had at its best epoch (what
    babysitting it found), and everything is clamped inside the spec's space. When the result is a
    configuration already tried, one searched hyperparameter is drawn at random instead (``rng``;
    seeded by the caller, so this stays deterministic). A builder's model gets no architecture
    move (:data:`ARCHITECTURE_MOVES`): after its learning rate, the next model is such a draw.

    Returns:
        ``(config, why)``: the resolved configuration and one sentence saying what changed and why.
    """
    if not history:
        return start_config(spec), "first model: the middle of the search space"
    rng = rng or random.Random(len(history))
    last = history[-1]
    mode = spec.mode
    finite = [h for h in history if math.isfinite(h.best_value)]
    best = finite[0] if finite else last
    for h in finite[1:]:
        if improved(h.best_value, best.best_value, mode):
            best = h
    if last.action in ("stop_overfit", "next_more_capacity", "stop_diverged"):
        base = last
    else:
        base = best
    config = dict(base.config)
    if base.lr_at_best is not None and math.isfinite(base.lr_at_best):
        config["learning_rate"] = base.lr_at_best  # what babysitting it found to work
    config = clamp(spec, config, free_lr=True)
    why = ""
    changed: str | None = None
    if last.action == "stop_overfit":
        config, changed = _regularise(spec, config)
        why = "the last model overfit: " + (f"more regularisation / less capacity ({changed})" if changed
                                            else _no_move(spec, "nothing left to regularise in the space"))
    elif last.action == "next_more_capacity":
        config, changed = _grow(spec, config)
        why = "the last model underfit: " + (f"more capacity ({changed})" if changed
                                             else _no_move(spec, "no more capacity in the space"))
    elif last.action == "stop_diverged":
        start_lr = float(last.config.get("learning_rate") or config["learning_rate"])
        new = clamp(spec, {**config, "learning_rate": min(float(config["learning_rate"]), start_lr) / 10},
                    free_lr=True)
        changed = "learning_rate" if new["learning_rate"] != config["learning_rate"] else None
        config = new
        why = f"the last model diverged: learning rate {start_lr:.3g} -> {config['learning_rate']:.3g}"
    else:
        gap = None
        if base.train_loss_at_best and base.val_loss_at_best is not None and base.train_loss_at_best > 0:
            gap = (base.val_loss_at_best - base.train_loss_at_best) / base.train_loss_at_best
        if gap is not None and gap > GAP_REGULARISE:
            config, changed = _regularise(spec, config)
            why = (f"building on the best model (validation loss {gap:.0%} above training): regularise "
                   f"({changed or _no_move(spec, 'nothing left to change')})")
        else:
            config, changed = _grow(spec, config)
            why = (f"building on the best model (small train/validation gap): more capacity "
                   f"({changed or _no_move(spec, 'none left')})")
    tried = [clamp(spec, h.config, free_lr=True) for h in history]
    if config in tried or changed is None:
        config, drawn = _draw_untried(spec, config, tried, rng)
        why += drawn
    return config, why
