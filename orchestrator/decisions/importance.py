"""Which hyperparameters mattered, per objective, from Optuna's importance evaluators.

:func:`importance` turns a trials table into one in-memory Optuna study per objective (each row a
trial made with ``optuna.trial.create_trial``, its value the objective's ``best_<name>`` column,
every row with the SAME distribution object per hyperparameter, built from the spec's params by
:func:`distributions`) and asks Optuna's evaluator for each hyperparameter's share of the
objective's variation. No model of our own: the forest is Optuna's fANOVA (scikit-learn's random
forest, seeded), the alternative Optuna's PED-ANOVA (Parzen estimators, no randomness).

Which evaluator (``evaluator="auto"``, :func:`choose_evaluator`): fANOVA while trials x objectives
is at most :data:`FANOVA_MAX_WORK`, PED-ANOVA above. Measured on this project's 2-core machine
while other work ran on it (load 2 to 5), six hyperparameters, Optuna 5.1, per objective: fANOVA
(Optuna's 64 trees) took 1.2-1.4 s at 20-50 trials, 2.1-3.7 s at 100, 4.2-4.6 s at 200, 18-20 s at
500 and 58 s at 1000 (it grows faster than the trial count); PED-ANOVA stayed under 0.1 s up to
1000. So a 500-trial run is ranked by PED-ANOVA in about a second for two objectives (plus
Optuna's import, 1-5 s on that machine), and fANOVA -- the better estimate on few trials -- is used while it costs a few seconds
in all (100 trials of one objective, 50 of two, 33 of three).

Which trials: those with at least one finished epoch (``epochs >= 1`` when the table has the
column) and a finite value of the objective. Conditional hyperparameters are included: a row where
one was inactive (its ``hp_<name>`` is null/NaN) gets a stand-in drawn uniformly from its
distribution (a log range on its log scale, a categorical among its choices), fixed by a hash of
the trial id, the parameter's name and the seed -- so every trial has every parameter, as fANOVA
requires, and the same table gets the same stand-ins on every call. Drawn, not fixed: a fixed
stand-in (the low end, the first choice) turns the parameter into a copy of its condition --
``momentum`` (active with sgd) would rank as high as the ``optimizer`` that switches it on;
measured on the generated table of ``tests/unit/test_importance.py``, where PED-ANOVA then ranked
``momentum`` above the learning rate. A drawn stand-in carries no signal, so the parameter is
ranked on the rows where it was active. A numeric value outside its range (PBT may perturb past
the spec's bounds) is clamped to the range.

Pure: the standard library and optuna (imported when called); pandas only if the caller hands
in a DataFrame.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import warnings
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from .select import as_objectives, as_rows, value_of

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["importance", "distributions", "choose_evaluator", "EVALUATORS", "FANOVA_MAX_WORK", "MIN_TRIALS"]

EVALUATORS = ("auto", "fanova", "ped_anova")
# fANOVA while (trials x objectives) is at most this (a few seconds on 2 busy cores; see the docstring).
FANOVA_MAX_WORK = 100
# Fewer trials than this with a finished epoch and a finite value: nothing to rank.
MIN_TRIALS = 2


def _field(p: Any, name: str) -> Any:
    """A field of a spec param (a pydantic model) or of its JSON form (a mapping)."""
    return p.get(name) if isinstance(p, Mapping) else getattr(p, name, None)


def distributions(spec_params: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """One Optuna distribution per searched hyperparameter of the spec (constants left out).

    ``choice``/``grid`` -> ``CategoricalDistribution`` (the values in the spec's order),
    ``uniform``/``loguniform`` -> ``FloatDistribution`` (log for loguniform), ``int``/``randint``
    -> ``IntDistribution`` (``log`` as written; both ends included, as in the spec).

    Args:
        spec_params: ``spec.params`` (``Param`` models) or their JSON form from run.json.

    Raises:
        ValueError: a parameter of a kind this does not know.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, BaseDistribution] = {}
    for name, p in spec_params.items():
        kind = _field(p, "type")
        if kind in (None, "constant"):
            continue
        if kind in ("choice", "grid"):
            out[name] = CategoricalDistribution(list(_field(p, "values")))
        elif kind in ("uniform", "loguniform"):
            out[name] = FloatDistribution(float(_field(p, "low")), float(_field(p, "high")), log=kind == "loguniform")
        elif kind in ("int", "randint"):
            out[name] = IntDistribution(int(_field(p, "low")), int(_field(p, "high")), log=bool(_field(p, "log")))
        else:
            raise ValueError(f"params.{name}: no importance for a parameter of type {kind!r}")
    return out


def choose_evaluator(n_trials: int, n_objectives: int, evaluator: str = "auto") -> str:
    """``fanova`` or ``ped_anova``: the one asked for, or for ``auto`` fANOVA while
    ``n_trials * n_objectives <= FANOVA_MAX_WORK`` (see the module's docstring).

    Raises:
        ValueError: an evaluator not in :data:`EVALUATORS`.
    """
    if evaluator not in EVALUATORS:
        raise ValueError(f"evaluator must be one of {', '.join(EVALUATORS)}, got {evaluator!r}")
    if evaluator != "auto":
        return evaluator
    return "fanova" if n_trials * max(n_objectives, 1) <= FANOVA_MAX_WORK else "ped_anova"


def _missing(v: Any) -> bool:
    """None, NaN or pandas' NA (an inactive conditional parameter)."""
    if v is None:
        return True
    try:
        return bool(v != v)
    except TypeError:  # pandas.NA: its comparisons are NA, whose truth is undefined
        return True


def _unit(*key: Any) -> float:
    """A number in [0, 1) fixed by ``key`` (a hash: the same on every call and every machine)."""
    digest = hashlib.blake2b("\x1f".join(map(str, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def _stand_in(dist: BaseDistribution, u: float) -> Any:
    """The value at quantile ``u`` of ``dist`` under a uniform draw (log ranges on their log scale)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return dist.choices[min(int(u * len(dist.choices)), len(dist.choices) - 1)]
    low, high = dist.low, dist.high  # type: ignore[attr-defined]
    if isinstance(dist, IntDistribution):
        if dist.log:
            return min(high, int(math.exp(math.log(low) + u * (math.log(high + 1) - math.log(low)))))
        return min(high, low + int(u * (high - low + 1)))
    if dist.log:  # type: ignore[attr-defined]
        return min(high, math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
    return low + u * (high - low)


def _param_value(name: str, v: Any, dist: BaseDistribution, u: float) -> Any:
    """A table's value of ``name`` as ``dist`` holds it: the stand-in at quantile ``u`` when
    missing (inactive), clamped into the range when a number lies outside it."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if _missing(v):
        return _stand_in(dist, u)
    if isinstance(dist, CategoricalDistribution):
        for c in dist.choices:
            # 32.0 read back from Parquet is the choice 32; True is not the choice 1.
            if isinstance(c, bool) == isinstance(v, bool) and c == v:
                return c
        raise ValueError(f"params.{name}: the trials hold {v!r}, not one of {list(dist.choices)}")
    x = min(max(float(v), dist.low), dist.high)  # type: ignore[attr-defined]
    return int(round(x)) if isinstance(dist, IntDistribution) else x


def _study(rows: list[dict[str, Any]], dists: dict[str, BaseDistribution], name: str, mode: str,
           seed: int) -> Any:
    """An in-memory study of ``rows`` on one objective (the rows already filtered)."""
    import optuna

    study = optuna.create_study(direction="minimize" if mode == "min" else "maximize",
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    study.add_trials([
        optuna.trial.create_trial(
            params={p: _param_value(p, r.get(f"hp_{p}"), d, _unit(seed, r.get("trial_id", i), p))
                    for p, d in dists.items()},
            distributions=dists,  # the same objects on every row
            value=value_of(r, name))
        for i, r in enumerate(rows)])
    return study


def _finished(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with at least one finished epoch (all of them when the table has no ``epochs``)."""
    def epochs(r: dict[str, Any]) -> float:
        v = r.get("epochs")
        return math.inf if "epochs" not in r else (-1.0 if _missing(v) else float(v))

    return [r for r in rows if epochs(r) >= 1]


def importance(trials_frame: Any, spec_params: Mapping[str, Any], objectives: Sequence[Any],
               evaluator: str = "auto", seed: int = 0) -> dict[str, list[tuple[str, float]]]:
    """Per objective, the searched hyperparameters ranked by importance (see the module's docstring).

    Called by ``sweep importance``, ``sweep show``, the report and ``run.importance``.

    Args:
        trials_frame: trials.parquet as a DataFrame (or a sequence of row mappings): ``hp_<name>``
            per hyperparameter, ``best_<objective>`` (or the cost's own column) per objective,
            and ``epochs``.
        spec_params: the spec's params (``spec.params``, or their JSON form from run.json);
            constants are not ranked.
        objectives: spec ``Objective``s or ``(name, mode)`` pairs, the first the metric.
        evaluator: ``auto``, ``fanova`` or ``ped_anova`` (:func:`choose_evaluator`).
        seed: fANOVA's forest seed and the stand-ins' hash: the same ranking on every call.

    Returns:
        ``{objective name: [(param, importance), ...]}``, most important first (importances sum
        to 1; equal ones in the spec's order).

    Raises:
        ValueError: no searched hyperparameter in the table, fewer than :data:`MIN_TRIALS`
            usable trials for an objective, a categorical value no choice holds, or an unknown
            evaluator.
    """
    objs = as_objectives(objectives)
    table = as_rows(trials_frame)
    rows = _finished(table)
    dists = {n: d for n, d in distributions(spec_params).items() if any(f"hp_{n}" in r for r in table)}
    if not dists:
        raise ValueError("no searched hyperparameter to rank")
    usable = {n: [r for r in rows if math.isfinite(value_of(r, n))] for n, _ in objs}
    for n, rs in usable.items():
        if len(rs) < MIN_TRIALS:
            raise ValueError(f"{len(rs)} trial(s) finished an epoch with a finite {n}: "
                             f"at least {MIN_TRIALS} are needed to rank hyperparameters")
    which = choose_evaluator(max(len(rs) for rs in usable.values()), len(objs), evaluator)
    order = {p: i for i, p in enumerate(dists)}
    out: dict[str, list[tuple[str, float]]] = {}
    with _quiet_optuna():
        from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator, get_param_importances

        for name, mode in objs:
            ev = FanovaImportanceEvaluator(seed=seed) if which == "fanova" else PedAnovaImportanceEvaluator()
            scores = get_param_importances(_study(usable[name], dists, name, mode, seed), evaluator=ev,
                                           params=list(dists))
            out[name] = sorted(((p, float(v)) for p, v in scores.items()), key=lambda pv: (-pv[1], order[pv[0]]))
    return out


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's study-creation logs and its experimental/evaluator warnings silenced for one call;
    its log level restored after."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(level)
