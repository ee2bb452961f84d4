"""Search space: the spec's distributions as Ray Tune's param_space (and Optuna's define-by-run).

The translation table (:func:`tune_table`) and everything that counts or resolves configurations
are pure Python. :func:`to_param_space` and :func:`optuna_space` turn the table into Ray Tune /
Optuna objects; Ray is imported only inside them, when the runner calls them.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

# count_trials belongs to the spec (which checks the grid limit with it); named here too, with
# the other functions that count and resolve configurations.
from ..spec import Choice, Constant, Grid, IntRange, LogUniform, Param, SweepSpec, Uniform, active, count_trials

__all__ = [
    "tune_table",
    "grid_points",
    "count_trials",
    "max_epochs",
    "resolve_config",
    "sample_config",
    "draw",
    "to_param_space",
    "optuna_space",
]


def tune_table(spec: SweepSpec) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Each hyperparameter as ``(ray.tune function name, args)``; constants as ``("constant", (v,))``.

    Integer ranges in the spec include ``high``; Ray's ``randint`` excludes it, hence ``high + 1``.
    """
    table: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for name, p in spec.params.items():
        if isinstance(p, Constant):
            table[name] = ("constant", (p.value,))
        elif isinstance(p, Grid):
            table[name] = ("grid_search", (list(p.values),))
        elif isinstance(p, Choice):
            table[name] = ("choice", (list(p.values),))
        elif isinstance(p, Uniform):
            table[name] = ("uniform", (p.low, p.high))
        elif isinstance(p, LogUniform):
            table[name] = ("loguniform", (p.low, p.high))
        elif isinstance(p, IntRange):
            table[name] = ("lograndint" if p.log else "randint", (p.low, p.high + 1))
        else:  # pragma: no cover - the spec admits no other kind
            raise TypeError(f"unknown parameter kind {p!r}")
    return table


def grid_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The full cross product of the grid parameters (one empty dict when there is no grid)."""
    grids = {k: p.values for k, p in spec.params.items() if isinstance(p, Grid)}
    keys = list(grids)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grids[k] for k in keys))]


def resolve_config(spec: SweepSpec, config: dict[str, Any]) -> dict[str, Any]:
    """Complete a sampled config: every hyperparameter present, inactive conditional ones ``None``."""
    out: dict[str, Any] = {}
    for name, p in spec.params.items():
        value = config.get(name, p.value if isinstance(p, Constant) else None)
        out[name] = value
    for name in spec.params:
        if not active(spec.params, name, out):
            out[name] = None
    return out


def draw(p: Param, rng: random.Random) -> Any:
    """One value of ``p`` drawn with ``rng`` (a constant's value; a grid drawn like a choice)."""
    if isinstance(p, Constant):
        return p.value
    if isinstance(p, (Grid, Choice)):
        return rng.choice(p.values)
    if isinstance(p, Uniform):
        return rng.uniform(p.low, p.high)
    if isinstance(p, LogUniform):
        return min(p.high, max(p.low, math.exp(rng.uniform(math.log(p.low), math.log(p.high)))))
    if isinstance(p, IntRange):
        if p.log:
            # exp(log(low)) can come out just below low (exp(log(8)) == 7.99...): clamp both ends.
            return max(p.low, min(p.high, int(math.exp(rng.uniform(math.log(p.low), math.log(p.high + 1))))))
        return rng.randint(p.low, p.high)
    raise TypeError(f"unknown parameter kind {p!r}")  # pragma: no cover


def sample_config(spec: SweepSpec, rng: random.Random) -> dict[str, Any]:
    """Draw one configuration without Ray (for the babysitter and for tests)."""
    return resolve_config(spec, {k: draw(p, rng) for k, p in spec.params.items()})


def to_param_space(spec: SweepSpec) -> dict[str, Any]:
    """Ray Tune's ``param_space`` for a grid or random search.

    Conditional parameters are sampled always and set to ``None`` by :func:`resolve_config` in
    the trainable when their condition does not hold, so the sampler stays Ray's own.
    """
    from ray import tune

    space: dict[str, Any] = {}
    for name, (fn, args) in tune_table(spec).items():
        space[name] = args[0] if fn == "constant" else getattr(tune, fn)(*args)
    return space


class OptunaSpace:
    """A define-by-run search space for Ray's OptunaSearch that honours conditions.

    Inactive conditional parameters are never suggested, so TPE does not model them; constants
    are returned as Optuna "constants" so they reach the trainable's config. A class (not a
    closure) because Ray pickles the searcher with its state.
    """

    def __init__(self, spec: SweepSpec) -> None:
        self.params = dict(spec.params)
        self.table = tune_table(spec)
        self.order = [n for n, p in self.params.items() if not p.when] + [
            n for n, p in self.params.items() if p.when]

    def __call__(self, trial: Any) -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        constants: dict[str, Any] = {}
        for name in self.order:
            fn, args = self.table[name]
            if self.params[name].when and not active(self.params, name, {**constants, **chosen}):
                continue
            if fn == "constant":
                constants[name] = args[0]
            elif fn == "choice":
                chosen[name] = trial.suggest_categorical(name, args[0])
            elif fn in ("uniform", "loguniform"):
                chosen[name] = trial.suggest_float(name, args[0], args[1], log=fn == "loguniform")
            elif fn in ("randint", "lograndint"):
                chosen[name] = trial.suggest_int(name, args[0], args[1] - 1, log=fn == "lograndint")
            else:  # grid is refused for tpe by the spec
                raise ValueError(f"{name}: {fn} is not supported by the tpe search")
        return constants


def optuna_space(spec: SweepSpec) -> OptunaSpace:
    """The define-by-run function for ``spec`` (see :class:`OptunaSpace`)."""
    return OptunaSpace(spec)


def max_epochs(spec: SweepSpec) -> int:
    """The most epochs any trial of the sweep may train (the schedulers' ``max_t``)."""
    return spec.max_epochs
