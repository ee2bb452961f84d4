"""Which one trial a run keeps: feasibility, Pareto ranks and the select rule, on the trials' values.

:func:`select` takes one row per trial (a plain mapping or a pandas DataFrame's rows) holding
``trial_id`` and the trial's values: a metric as ``best_<name>`` (its value at the trial's best
epoch; ``<name>`` when there is no ``best_`` column) and a cost by its name (``params``,
``latency_ms``, ...). It returns a :class:`Selection`:

- ``feasible``: every constraint (``{name: Bound(max, min)}``, both ends included) holds on the
  trial's value; a missing or non-finite value breaks it, and a trial whose status is
  ``infeasible`` (its model broke a cost constraint before training) is never feasible;
- ``pareto_rank``: the non-dominated rank on the objectives among the trials that can be selected
  (eligible, with a finite value of every objective): the feasible ones first (0 = the front of
  the feasible trials), the infeasible ones after the last feasible front (a feasible trial is
  always ranked ahead of an infeasible one, as in Optuna's constrained domination); None for the
  others;
- ``selected``: what the rule picks among the feasible ones -- ``best`` (the best first
  objective), ``within`` (the best ``then`` among the trials within ``tolerance`` of the best
  ``of``), ``knee`` (:func:`~orchestrator.decisions.pareto.knee_index` of the front);
- when no trial can be selected: ``reason``, one line naming the constraint that ruled out most
  trials and the closest trial (the smallest relative excess over the constraints it broke).

Pure: numpy and the standard library (pandas only if the caller hands in a DataFrame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Mapping, Sequence

from .pareto import knee_index, non_dominated_ranks
from ..spec import DEFAULT_TOLERANCE, Bound, default_mode

__all__ = ["Selection", "select", "as_rows", "as_objectives", "value_of", "bound_of", "excess",
           "NOT_SELECTABLE"]

# Statuses whose trial is never selected (when the caller does not say which are eligible):
# as RunTables.selectable, a diverged, errored or unfinished trial, and one that broke a cost
# constraint before training.
NOT_SELECTABLE = ("diverged", "error", "running", "infeasible")


@dataclass(frozen=True)
class Selection:
    """What :func:`select` decided.

    Attributes:
        selected: the chosen trial id (None: no feasible trial could be selected).
        feasible: per trial id, whether it keeps every constraint.
        pareto_rank: per trial id, its non-dominated rank (0 = on the feasible front) or None.
        front: the feasible front's trial ids, best first objective first.
        why: one line saying why ``selected`` was chosen ("" when nothing was).
        reason: when nothing was selected, one line saying why (else None).
        binding: when no trial is feasible, the constraint that ruled out most trials.
        closest: when no trial is feasible, the trial that came closest to keeping them.
        closest_excess: its relative excess, summed over the constraints it broke.
    """

    selected: str | None
    feasible: dict[str, bool] = field(default_factory=dict)
    pareto_rank: dict[str, int | None] = field(default_factory=dict)
    front: tuple[str, ...] = ()
    why: str = ""
    reason: str | None = None
    binding: str | None = None
    closest: str | None = None
    closest_excess: float | None = None


def as_rows(rows: Any) -> list[dict[str, Any]]:
    """A DataFrame (its records) or an iterable of mappings as a list of plain dicts."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        return [dict(r) for r in rows.to_dict("records")]
    return [dict(r) for r in rows]


def as_objectives(objectives: Iterable[Any]) -> list[tuple[str, str]]:
    """Objectives as ``(name, mode)``: spec ``Objective``s, ``(name, mode)`` pairs, mappings with
    ``name``/``mode``, or bare names (their mode from the name, :func:`orchestrator.spec.default_mode`)."""
    out: list[tuple[str, str]] = []
    for o in objectives:
        if isinstance(o, str):
            name, mode = o, None
        elif isinstance(o, Mapping):
            name, mode = o["name"], o.get("mode")
        elif isinstance(o, (tuple, list)):
            name, mode = o[0], o[1] if len(o) > 1 else None
        else:
            name, mode = o.name, getattr(o, "mode", None)
        out.append((str(name), str(mode or default_mode(str(name)))))
    if not out:
        raise ValueError("at least one objective is needed")
    return out


def _number(v: Any) -> float:
    """``v`` as a float; NaN for None, a bool, pandas' NA or anything not a number."""
    if v is None or isinstance(v, bool):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def value_of(row: Mapping[str, Any], name: str) -> float:
    """A trial's value of ``name``: ``best_<name>`` when the row has a number there, else
    ``<name>``; NaN when it has neither."""
    v = _number(row.get(f"best_{name}"))
    return v if not math.isnan(v) else _number(row.get(name))


def bound_of(bound: Any) -> tuple[float | None, float | None]:
    """A constraint's ``(max, min)`` from a spec ``Bound`` or a ``{max, min}`` mapping."""
    if isinstance(bound, Mapping):
        hi, lo = bound.get("max"), bound.get("min")
    else:
        hi, lo = getattr(bound, "max", None), getattr(bound, "min", None)
    return (None if hi is None else float(hi)), (None if lo is None else float(lo))


def excess(value: float, bound: Any) -> float:
    """How far ``value`` lies outside ``bound``, relative to the bound it breaks (0 inside).

    ``(value - max) / |max|`` above a max, ``(min - value) / |min|`` below a min (a bound of 0
    divides by 1: the excess in the value's units); ``inf`` for a missing or non-finite value.
    """
    if not math.isfinite(value):
        return math.inf
    hi, lo = bound_of(bound)
    if hi is not None and value > hi:
        return (value - hi) / (abs(hi) or 1.0)
    if lo is not None and value < lo:
        return (lo - value) / (abs(lo) or 1.0)
    return 0.0


def _rule(rule: Any, objectives: list[tuple[str, str]]) -> tuple[str, str, float, str]:
    """``(rule, of, tolerance, then)`` from a spec ``SelectSpec``, a mapping, a rule name or None,
    with the ``within`` defaults (of: the first objective; then: the second, else ``params``)."""
    if rule is None or isinstance(rule, str):
        fields: Mapping[str, Any] = {"rule": rule or "best"}
    elif isinstance(rule, Mapping):
        fields = rule
    else:
        fields = {k: getattr(rule, k, None) for k in ("rule", "of", "tolerance", "then")}
    name = str(fields.get("rule") or "best")
    if name not in ("best", "within", "knee"):
        raise ValueError(f"unknown select rule {name!r} (best, within, knee)")
    of = str(fields.get("of") or objectives[0][0])
    then = str(fields.get("then") or (objectives[1][0] if len(objectives) > 1 else "params"))
    tol = fields.get("tolerance")
    tolerance = DEFAULT_TOLERANCE if tol is None else float(tol)
    if tolerance < 0:
        raise ValueError(f"select tolerance must be >= 0, got {tolerance}")
    return name, of, tolerance, then


def _mode(name: str, objectives: list[tuple[str, str]]) -> str:
    """The direction of ``name``: its objective's mode, else the one its name says."""
    return next((m for n, m in objectives if n == name), None) or str(default_mode(name))


def _better_key(value: float, mode: str) -> float:
    """A sort key, lower is better; a non-finite value sorts last."""
    if not math.isfinite(value):
        return math.inf
    return value if mode == "min" else -value


def _ranks(ids: list[str], values: dict[str, list[float]], feasible: dict[str, bool],
           modes: list[str]) -> dict[str, int]:
    """Pareto ranks: feasible trials among themselves, then infeasible ones after the last feasible front."""
    out: dict[str, int] = {}
    offset = 0
    for group in ([t for t in ids if feasible[t]], [t for t in ids if not feasible[t]]):
        if not group:
            continue
        ranks = non_dominated_ranks([values[t] for t in group], modes)
        out.update({t: offset + r for t, r in zip(group, ranks)})
        offset += max(ranks) + 1
    return out


def select(rows: Any, objectives: Sequence[Any], constraints: Mapping[str, Any] | None = None, rule: Any = None,
           *, eligible: Collection[str] | None = None) -> Selection:
    """Feasibility, Pareto ranks and the one trial the select rule keeps (see the module's docstring).

    Called once per run, at its end (on validation values only: the test split is read later,
    by the chosen trial alone), and by tests on hand-made tables.

    Args:
        rows: one row per trial, in trial order (``trial_id``, ``best_<metric>`` values, costs;
            optionally ``status`` and ``best_epoch``): a DataFrame or a sequence of mappings.
        objectives: 1 to 3 objectives (spec ``Objective``s or ``(name, mode)``), the first the metric.
        constraints: ``{name: Bound}`` (or ``{name: {"max": x, "min": y}}``); None or empty: none.
        rule: the spec's ``SelectSpec`` (or a mapping, or ``"best"``/``"within"``/``"knee"``;
            None: best).
        eligible: the trial ids that may be selected and ranked; None: those whose ``status`` (when
            the row has one) is not in :data:`NOT_SELECTABLE`. Either way a trial also needs a
            finite value of every objective.

    Returns:
        A :class:`Selection`. Ties: ``best`` takes the trial on the better Pareto front (so the
        choice is on the front), then the earlier best epoch (when rows carry ``best_epoch``),
        then the earlier row; ``within`` the better ``of``, then the earlier row.
    """
    table = as_rows(rows)
    objs = as_objectives(objectives)
    bounds = dict(constraints or {})
    name, of, tolerance, then = _rule(rule, objs)
    ids = [str(r.get("trial_id", i)) for i, r in enumerate(table)]
    by_id = dict(zip(ids, table))
    modes = [m for _, m in objs]
    values = {t: [value_of(by_id[t], n) for n, _ in objs] for t in ids}
    feasible = {t: str(by_id[t].get("status")) != "infeasible"
                and all(excess(value_of(by_id[t], c), b) == 0.0 for c, b in bounds.items()) for t in ids}
    allowed = set(map(str, eligible)) if eligible is not None else {
        t for t in ids if str(by_id[t].get("status")) not in NOT_SELECTABLE}
    candidates = [t for t in ids if t in allowed and all(math.isfinite(v) for v in values[t])]
    ranks = _ranks(candidates, values, feasible, modes)
    pool = [t for t in candidates if feasible[t]]
    front = sorted((t for t in pool if ranks[t] == 0),
                   key=lambda t: [_better_key(v, m) for v, m in zip(values[t], modes)])  # stable: ties by row
    base = dict(feasible=feasible, pareto_rank={t: ranks.get(t) for t in ids}, front=tuple(front))
    if not pool:
        return Selection(None, **base, **_no_result(table, ids, objs, bounds))
    if name == "within":
        chosen, why = _within(pool, by_id, objs, of, tolerance, then)
    elif name == "knee" and len(objs) > 1 and len(front) > 2:
        chosen = front[knee_index([values[t] for t in front], modes)]
        # An extreme lies on the line through the extremes: it is chosen only when nothing bulges.
        why = (f"the knee of the Pareto front ({len(front)} trials)" if chosen != front[0] else
               f"the front ({len(front)} trials) has no knee: best {objs[0][0]}")
    else:
        chosen = _best(pool, by_id, objs[0], ranks)
        lead = "" if name == "best" else f"the front has {len(front)} point(s), no knee: "
        why = f"{lead}best {objs[0][0]} ({value_of(by_id[chosen], objs[0][0]):g})"
    return Selection(chosen, **base, why=why)


def _best(pool: list[str], by_id: dict[str, dict[str, Any]], objective: tuple[str, str],
          ranks: Mapping[str, int] | None = None) -> str:
    """The best trial of ``pool`` on ``objective``; ties: the better Pareto rank (of ``ranks``:
    of two trials equally good on the first objective, one the other dominates on the rest is
    never the choice -- the choice stays on the front), then the earlier best epoch, then the
    earlier row."""
    name, mode = objective

    def key(t: str) -> tuple[float, float, float]:
        epoch = _number(by_id[t].get("best_epoch"))
        rank = float((ranks or {}).get(t, 0))
        return _better_key(value_of(by_id[t], name), mode), rank, epoch if math.isfinite(epoch) else 0.0

    return min(pool, key=key)  # min keeps the first of equal keys: the earlier row


def _within(pool: list[str], by_id: dict[str, dict[str, Any]], objs: list[tuple[str, str]], of: str,
            tolerance: float, then: str) -> tuple[str, str]:
    """``within``: among the trials whose ``of`` is within ``tolerance`` of the best, the best ``then``."""
    of_mode, then_mode = _mode(of, objs), _mode(then, objs)
    finite = [t for t in pool if math.isfinite(value_of(by_id[t], of))]
    if not finite:  # `of` is a name no trial reports: fall back to the best first objective
        chosen = _best(pool, by_id, objs[0])
        return chosen, f"no trial reports {of}: best {objs[0][0]}"
    best = min(_better_key(value_of(by_id[t], of), of_mode) for t in finite)
    # Compared in "lower is better" terms; a hair of slack so 0.96 - 0.01 keeps 0.95.
    slack = tolerance + 1e-9 * max(1.0, abs(best))
    near = [t for t in finite if _better_key(value_of(by_id[t], of), of_mode) <= best + slack]
    chosen = min(near, key=lambda t: (_better_key(value_of(by_id[t], then), then_mode),
                                      _better_key(value_of(by_id[t], of), of_mode)))
    word = "lowest" if then_mode == "min" else "highest"
    best_of = best if of_mode == "min" else -best
    return chosen, (f"{word} {then} ({value_of(by_id[chosen], then):g}) among the {len(near)} trial(s) "
                    f"within {tolerance:g} of the best {of} ({best_of:g})")


def _no_result(table: list[dict[str, Any]], ids: list[str], objs: list[tuple[str, str]],
               bounds: dict[str, Any]) -> dict[str, Any]:
    """Why nothing was selected: the constraint that ruled out most trials and the closest trial
    (the smallest relative excess, summed over the constraints it broke), or -- when no trial
    broke a constraint -- that none has a finite value of every objective."""
    broke = {c: sum(1 for r in table if math.isfinite(value_of(r, c)) and excess(value_of(r, c), b) > 0)
             for c, b in bounds.items()}
    if not any(broke.values()):
        return {"reason": f"no trial finished with a finite value of {', '.join(n for n, _ in objs)}"}
    binding = max(bounds, key=lambda c: broke[c])  # ties: the first constraint the spec names
    totals = {t: sum(excess(value_of(r, c), b) for c, b in bounds.items()) for t, r in zip(ids, table)}
    hi, lo = bound_of(bounds[binding])
    reason = f"{Bound(max=hi, min=lo).text(binding)} ruled out {broke[binding]} of {len(ids)} trials"
    near = [t for t in ids if 0 < totals[t] < math.inf]
    if not near:
        return {"reason": reason, "binding": binding}
    closest = min(near, key=lambda t: totals[t])  # ties: the earlier trial
    row = dict(zip(ids, table))[closest]
    broken = [f"{c} {value_of(row, c):g} ({excess(value_of(row, c), b):.1%} out)"
              for c, b in bounds.items() if excess(value_of(row, c), b) > 0]
    reason += f"; the closest trial, {closest}, broke {', '.join(broken)}"
    return {"reason": reason, "binding": binding, "closest": closest, "closest_excess": totals[closest]}

