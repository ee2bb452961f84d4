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
column) and a finite value of the objective.

Which hyperparameters get an importance: only those that VARIED over those trials. One inactive
in every trial (``momentum`` when no trial drew sgd) or holding one value in all of them carries
no information and gets none: it is left out of the ranking (its reason in ``left_out``, which the
CLI and the report print as "not ranked"), never handed a share.

Conditional hyperparameters (a trial where one was inactive has a null ``hp_<name>``) are given to
Optuna as Optuna records them itself: the trial simply does not hold the parameter. No stand-in
value is made up for it. Drawn stand-ins (what this module used to do) are noise that fANOVA's
forest can split on: on 4 trials of the quickstart, with no sgd trial, ``momentum`` -- made of
stand-ins only -- ranked first with 0.488, and on 16-24 generated trials a momentum that did
nothing got up to 0.29. A fixed stand-in is no better: it makes the parameter a copy of its
condition. What each evaluator then does, as Optuna defines it:

- PED-ANOVA (Optuna's conditional PED-ANOVA) ranks a conditional parameter natively, the trials
  where it is inactive forming a regime of their own.
- fANOVA uses only the trials that hold every parameter it ranks. So it ranks the parameters
  active in every trial (Optuna's own default, the intersection search space), over all the
  trials; a conditional one is left out ("conditional, active in k of n trials") rather than
  ranked on a subset of trials, which would change what every other number means.

Too few trials (:func:`min_trials`): an objective with fewer usable trials than
:data:`TRIALS_PER_PARAM` (4) per ranked hyperparameter, and at least :data:`MIN_TRIALS` (10), is
not ranked at all (``ValueError``, shown as "not computed: too few trials ..."): the importances
always add up to 1, so noise reads as a confident ranking. Measured with fANOVA on
``only_one_matters`` of ``tests/unit/test_importance.py`` (4 varied hyperparameters, 12 data
seeds): the one that drives the objective ranked first in 6/12 tables at 8 trials (2 per
parameter: a coin toss), 9/12 at 16 (4 per parameter), 10/12 at 20, 11/12 at 24 and 12/12 at 32;
on a pure-noise objective the top share was 0.40-0.53 at every size, so a share is no caveat by
itself. An objective on which no ranked hyperparameter has a measurable effect (Optuna's
importances all 0, which it would turn into equal shares) gets an empty ranking, each parameter
noted "no measurable effect". PED-ANOVA (compared on the top 10% of the trials) needs at least
:data:`PED_ANOVA_MIN_TRIALS` (50): on ``quickstart_like`` of the tests, a ``params`` objective of
the units alone gave ``learning_rate`` 0.74 and ``units`` 0.21 at 24 trials, units 0.23-0.95 over 6
data seeds at 40, and 0.73-0.91 (always first) at 50. ``auto`` picks PED-ANOVA only above
:data:`FANOVA_MAX_WORK` trials x objectives, at 51 trials or more. A numeric value outside its range (PBT may perturb past the spec's
bounds) is clamped to the range.

Pure: the standard library and optuna (imported when called); pandas only if the caller hands
in a DataFrame.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from .select import as_objectives, as_rows, value_of

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["importance", "distributions", "choose_evaluator", "EVALUATORS", "FANOVA_MAX_WORK", "MIN_TRIALS",
           "TRIALS_PER_PARAM", "PED_ANOVA_MIN_TRIALS", "min_trials"]

EVALUATORS = ("auto", "fanova", "ped_anova")
# fANOVA while (trials x objectives) is at most this (a few seconds on 2 busy cores; see the docstring).
FANOVA_MAX_WORK = 100
# Fewer usable trials than TRIALS_PER_PARAM per ranked (varied) hyperparameter, or than
# MIN_TRIALS, for an objective: not ranked at all (:func:`min_trials`; see the module's docstring).
MIN_TRIALS = 10
TRIALS_PER_PARAM = 4
# PED-ANOVA compares its top 10% of trials with the rest: below this it ranks noise.
PED_ANOVA_MIN_TRIALS = 50


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


def _param_value(name: str, v: Any, dist: BaseDistribution) -> Any:
    """A table's value of ``name`` as ``dist`` holds it (None when missing: inactive), clamped
    into the range when a number lies outside it."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if _missing(v):
        return None
    if isinstance(dist, CategoricalDistribution):
        for c in dist.choices:
            # 32.0 read back from Parquet is the choice 32; True is not the choice 1.
            if isinstance(c, bool) == isinstance(v, bool) and c == v:
                return c
        raise ValueError(f"params.{name}: the trials hold {v!r}, not one of {list(dist.choices)}")
    x = min(max(float(v), dist.low), dist.high)  # type: ignore[attr-defined]
    return int(round(x)) if isinstance(dist, IntDistribution) else x


def _values(rows: list[dict[str, Any]], dists: dict[str, BaseDistribution]) -> list[dict[str, Any]]:
    """Each row's active hyperparameters as their distributions hold them (inactive ones absent)."""
    out = []
    for r in rows:
        vals = {p: _param_value(p, r.get(f"hp_{p}"), d) for p, d in dists.items()}
        out.append({p: v for p, v in vals.items() if v is not None})
    return out


def _why_not_ranked(name: str, values: list[dict[str, Any]], evaluator: str) -> str | None:
    """Why ``name`` gets no importance over these trials' ``values`` (None: it is ranked): inactive
    in every trial, one value in all, or -- for fANOVA -- inactive in some (see the module's
    docstring)."""
    active = [v[name] for v in values if name in v]
    if not active:
        return "inactive in every trial"
    if len({repr(a) for a in active}) == 1:
        return f"one value ({active[0]!r}) in every trial"
    if len(active) < len(values) and evaluator == "fanova":
        return (f"conditional, active in {len(active)} of {len(values)} trials: fANOVA ranks only what every "
                "trial holds (--evaluator ped_anova ranks it)")
    return None


def min_trials(n_params: int, evaluator: str = "fanova") -> int:
    """The fewest usable trials that rank ``n_params`` varied hyperparameters (see the module's
    docstring): :data:`TRIALS_PER_PARAM` per parameter, at least :data:`MIN_TRIALS`; with
    PED-ANOVA at least :data:`PED_ANOVA_MIN_TRIALS`. One varied hyperparameter takes the whole
    share (or none: no measurable effect) on any sample, so it needs only two trials."""
    if n_params <= 1:
        return 2
    floor = PED_ANOVA_MIN_TRIALS if evaluator == "ped_anova" else MIN_TRIALS
    return max(floor, TRIALS_PER_PARAM * n_params)


def _study(values: list[dict[str, Any]], rows: list[dict[str, Any]], dists: dict[str, BaseDistribution],
           names: list[str], name: str, mode: str, seed: int) -> Any:
    """An in-memory study of ``rows`` on one objective: each trial holds the parameters of
    ``names`` that were active in it (an inactive one is absent, as in an Optuna study whose
    objective never suggested it)."""
    import optuna

    study = optuna.create_study(direction="minimize" if mode == "min" else "maximize",
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    trials = []
    for v, r in zip(values, rows):
        held = [p for p in names if p in v]
        trials.append(optuna.trial.create_trial(params={p: v[p] for p in held},
                                                distributions={p: dists[p] for p in held},  # the same objects
                                                value=value_of(r, name)))
    study.add_trials(trials)
    return study


def _finished(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with at least one finished epoch (all of them when the table has no ``epochs``)."""
    def epochs(r: dict[str, Any]) -> float:
        v = r.get("epochs")
        return math.inf if "epochs" not in r else (-1.0 if _missing(v) else float(v))

    return [r for r in rows if epochs(r) >= 1]


def importance(trials_frame: Any, spec_params: Mapping[str, Any], objectives: Sequence[Any],
               evaluator: str = "auto", seed: int = 0,
               left_out: dict[str, dict[str, str]] | None = None) -> dict[str, list[tuple[str, float]]]:
    """Per objective, the varied hyperparameters ranked by importance (see the module's docstring).

    Called by ``sweep importance``, ``sweep show``, the report and ``run.importance``.

    Args:
        trials_frame: trials.parquet as a DataFrame (or a sequence of row mappings): ``hp_<name>``
            per hyperparameter, ``best_<objective>`` (or the cost's own column) per objective,
            and ``epochs``.
        spec_params: the spec's params (``spec.params``, or their JSON form from run.json);
            constants are not ranked.
        objectives: spec ``Objective``s or ``(name, mode)`` pairs, the first the metric.
        evaluator: ``auto``, ``fanova`` or ``ped_anova`` (:func:`choose_evaluator`).
        seed: fANOVA's forest seed: the same ranking on every call.
        left_out: when given, filled with ``{objective: {param: why}}`` for each searched
            parameter that gets no importance (inactive in every trial, one value in all of
            them, conditional under fANOVA, or no measurable effect).

    Returns:
        ``{objective name: [(param, importance), ...]}``, most important first (importances sum
        to 1; equal ones in the spec's order); a parameter that is not ranked is not in it.

    Raises:
        ValueError: no searched hyperparameter in the table or none that varied, fewer usable
            trials for an objective than :func:`min_trials` of the parameters it would rank, a
            categorical value no choice holds, or an unknown evaluator.
    """
    objs = as_objectives(objectives)
    table = as_rows(trials_frame)
    rows = _finished(table)
    dists = {n: d for n, d in distributions(spec_params).items() if any(f"hp_{n}" in r for r in table)}
    if not dists:
        raise ValueError("no searched hyperparameter to rank")
    usable = {n: [r for r in rows if math.isfinite(value_of(r, n))] for n, _ in objs}
    which = choose_evaluator(max(len(rs) for rs in usable.values()), len(objs), evaluator)
    order = {p: i for i, p in enumerate(dists)}
    plan: dict[str, tuple[list[dict[str, Any]], list[str]]] = {}
    notes: dict[str, dict[str, str]] = {}
    for n, rs in usable.items():
        values = _values(rs, dists)
        why = {p: w for p in dists if (w := _why_not_ranked(p, values, which))}
        names = [p for p in dists if p not in why]
        if not names:
            raise ValueError(f"no searched hyperparameter varied across the {len(rs)} trial(s) that finished an "
                             f"epoch with a finite {n}: nothing to rank")
        if len(rs) < (need := min_trials(len(names), which)):
            floor = PED_ANOVA_MIN_TRIALS if which == "ped_anova" else MIN_TRIALS
            raise ValueError(f"too few trials to rank: {len(rs)} finished an epoch with a finite {n}, for "
                             f"{len(names)} varied hyperparameter(s); at least {need} are needed "
                             f"({TRIALS_PER_PARAM} per varied hyperparameter, at least {floor} with {which}) "
                             "before the ranking means more than noise")
        plan[n], notes[n] = (values, names), why
    out: dict[str, list[tuple[str, float]]] = {}
    with _quiet_optuna():
        from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator, get_param_importances

        for name, mode in objs:
            values, names = plan[name]
            if len({value_of(r, name) for r in usable[name]}) == 1:  # fANOVA would raise on zero variance
                notes[name].update({p: f"no measurable effect: {name} is the same in every trial" for p in names})
                out[name] = []
                continue
            ev = FanovaImportanceEvaluator(seed=seed) if which == "fanova" else PedAnovaImportanceEvaluator()
            study = _study(values, usable[name], dists, names, name, mode, seed)
            raw = {p: float(v) for p, v in get_param_importances(study, evaluator=ev, params=names,
                                                                 normalize=False).items()}
            raw = {p: v if math.isfinite(v) and v > 0 else 0.0 for p, v in raw.items()}
            total = sum(raw.values())
            if total <= 0:  # Optuna would hand out equal shares: nothing here is measurably important
                notes[name].update({p: f"no measurable effect on {name}" for p in names})
                out[name] = []
                continue
            out[name] = sorted(((p, v / total) for p, v in raw.items()), key=lambda pv: (-pv[1], order[pv[0]]))
    if left_out is not None:
        left_out.update(notes)
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
