"""The nightly decisions, pure: which previous configurations warm-start tonight's search
(:func:`warm_start_points`), and whether tonight regressed against the best previous night
(:func:`compare`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ..errors import SpecError
from ..spec import Choice, Constant, Grid, IntRange, LogUniform, Param, SweepSpec, Uniform, active
from .history import Night

__all__ = ["DEFAULT_TOLERANCE", "DEFAULT_WARM_START", "DEFAULT_COST_TOLERANCE", "COMPARED_COSTS", "watched_costs",
           "Comparison",
           "parse_tolerance", "cost_tolerance", "warm_start_points", "compare", "test_noise",
           "TEST_NOISE_STANDARD_ERRORS"]

DEFAULT_TOLERANCE = "0.01"
DEFAULT_WARM_START = 3
# The selected model's costs compared with the last night's (size, size on disk, speed) when a caller
# names none (a nightly names those its spec ranks or bounds: watched_costs), and how much bigger or
# slower is still no regression when --tolerance is not a percentage (an absolute tolerance is in the
# metric's units, meaningless for bytes or milliseconds).
COMPARED_COSTS = ("params", "model_bytes", "latency_ms")
DEFAULT_COST_TOLERANCE = 0.10
# A test accuracy is one measurement on the test split's n rows: two equally good models differ on it
# by about sqrt(p(1-p)/n) (0.015 for 0.96 on 180 rows, two or three rows), so a drop within this many
# of those standard errors is no regression, whatever the tolerance (the validation score, which
# chose the model, is held to the tolerance alone).
TEST_NOISE_STANDARD_ERRORS = 2.0


def watched_costs(spec: SweepSpec) -> tuple[str, ...]:
    """The costs a night's selected model is held to: those its spec ranks (``objectives``) or bounds
    (``constraints``). A spec that names none is compared on its metric only: a bigger model is
    then no regression the user asked to hear of, and a latency measured on a shared node moves by
    more than 10% from night to night on its own."""
    from ..spec import COSTS

    named = {o.name for o in spec.objectives} | set(spec.constraints)
    return tuple(n for n in COSTS if n in named)


def parse_tolerance(text: str | float) -> Callable[[float], float]:
    """``0.01`` (absolute, in the metric's units) or ``2%`` (of the previous best's magnitude).

    Returns a function of the previous best value giving the allowed slack (>= 0).
    """
    raw = str(text).strip()
    relative = raw.endswith("%")
    try:
        value = float(raw[:-1] if relative else raw)
    except ValueError:
        raise SpecError("--tolerance", f"must be a number (absolute) or a percentage such as 2%, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise SpecError("--tolerance", f"must be >= 0, got {raw!r}")
    if relative:
        return lambda ref: abs(ref) * value / 100.0
    return lambda ref: value


def cost_tolerance(text: str | float) -> float:
    """The relative slack allowed on a cost: ``--tolerance`` when it is a percentage (``5%``: 0.05),
    else :data:`DEFAULT_COST_TOLERANCE`."""
    raw = str(text).strip()
    parse_tolerance(raw)  # the same errors as for the metric
    return float(raw[:-1]) / 100.0 if raw.endswith("%") else DEFAULT_COST_TOLERANCE


def _fits(p: Param, value: Any) -> tuple[bool, Any]:
    """Whether ``value`` is one tonight's distribution ``p`` can produce; the value as ``p`` types it."""
    if value is None or (isinstance(value, bool) and not isinstance(p, (Choice, Grid))):
        return False, value
    if isinstance(p, (Choice, Grid)):
        for v in p.values:
            if type(v) is bool or type(value) is bool:
                if v is value:
                    return True, v
            elif v == value:  # 32 == 32.0; the spec's own value (and type) is used
                return True, v
        return False, value
    try:
        x = float(value)
    except (TypeError, ValueError):
        return False, value
    if not math.isfinite(x):
        return False, value
    if isinstance(p, IntRange):
        if not x.is_integer():
            return False, value
        return (p.low <= x <= p.high), int(x)
    if isinstance(p, (Uniform, LogUniform)):
        # a relative hair of slack: a value written to JSON and read back is still inside
        eps = 1e-12 * max(abs(p.low), abs(p.high), 1.0)
        return (p.low - eps <= x <= p.high + eps), min(max(x, p.low), p.high)
    return False, value


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _describe(p: Param) -> str:
    if isinstance(p, (Choice, Grid)):
        return "{" + ", ".join(map(str, p.values)) + "}"
    if isinstance(p, (Uniform, LogUniform, IntRange)):
        return f"[{p.low:g}, {p.high:g}]"
    return p.type


def warm_start_points(spec: SweepSpec, previous: list[Night], k: int = DEFAULT_WARM_START
                      ) -> tuple[list[dict[str, Any]], list[Night], list[str]]:
    """Tonight's warm-start configurations from previous nights' selected trials.

    Taken from the ``k`` most recent nights and the best night so far (on tonight's metric), most
    recent first, each restricted to the hyperparameters tonight's spec searches (constants and
    grid parameters are left out: the grid is tried for every point anyway) and to values
    tonight's space can produce; inactive conditional values (null) are left to the sampler.
    Duplicates are dropped, and there are never more points than samples. A grid search gets none.

    Returns:
        ``(points, nights they came from, notes on what was dropped and why)``.
    """
    notes: list[str] = []
    if k <= 0 or spec.search.algorithm == "grid":
        if k > 0 and previous:
            notes.append("grid search tries every configuration: no warm start")
        return [], [], notes
    usable = [n for n in previous if n.config]
    recent = sorted(usable, key=lambda n: n.date, reverse=True)[:k]
    best = _best_night([n for n in usable if n.metric == spec.metric_name and n.mode == spec.mode])
    sources = recent + ([best] if best is not None and best not in recent else [])
    searched = {name: p for name, p in spec.searched.items() if not isinstance(p, (Constant, Grid))}
    limit = spec.search.resolved_num_samples  # never grid here (returned above)
    points: list[dict[str, Any]] = []
    used: list[Night] = []
    for night in sources:
        assert night.config is not None
        point: dict[str, Any] = {}
        for name, p in searched.items():
            if name not in night.config or night.config[name] is None:
                continue
            ok, value = _fits(p, night.config[name])
            if ok:
                point[name] = value
            else:
                notes.append(f"date={night.date}: {name}={_show(night.config[name])} is outside tonight's "
                             f"{_describe(p)}; left to the sampler")
        # A conditional value whose condition does not hold in this point is not one tonight's
        # space would produce: leave it out (where the condition is decided by the point).
        context = {n: p.value for n, p in spec.params.items() if isinstance(p, Constant)} | point
        for name in [n for n in point if spec.params[n].when]:
            when = spec.params[name].when or {}
            if all(c in context for c in when) and not active(spec.params, name, context):
                del point[name]
        if not point:
            notes.append(f"date={night.date}: nothing of its configuration fits tonight's search space")
            continue
        if point in points:
            continue
        if len(points) >= limit:
            notes.append(f"date={night.date}: left out; {limit} warm-start points fill search.num_samples")
            continue
        points.append(point)
        used.append(night)
    return points, used, notes


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def _best_night(nights: list[Night]) -> Night | None:
    """The best usable night (ties: the most recent)."""
    best: Night | None = None
    for n in sorted(nights, key=lambda n: n.date):
        if not n.usable:
            continue
        if best is None or not _better(best.value, n.value, n.mode or "min"):  # type: ignore[arg-type]
            best = n
    return best


def _test_key(metric: str) -> str:
    return "test_" + metric.removeprefix("val_")


@dataclass(frozen=True)
class Comparison:
    """Tonight against the best previous night (same metric), and tonight's selected model's
    costs against the last night's (``cost_reference``; None when no earlier night had costs)."""

    metric: str
    mode: str
    value: float | None
    reference: Night | None
    tolerance: float
    regressions: list[str]
    summary: str
    costs: dict[str, float] = field(default_factory=dict)
    cost_reference: Night | None = None
    cost_tolerance: float = DEFAULT_COST_TOLERANCE
    test_rows: int | None = None

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def to_dict(self) -> dict[str, Any]:
        ref, cref = self.reference, self.cost_reference
        return {
            "metric": self.metric, "mode": self.mode, "value": self.value, "tolerance": self.tolerance,
            "previous_best": None if ref is None else {
                "date": ref.date.isoformat(), "run_id": ref.run_id, "value": ref.value, **ref.test},
            "test_rows": self.test_rows, "costs": dict(self.costs), "cost_tolerance": self.cost_tolerance,
            "last_night_costs": None if cref is None else {
                "date": cref.date.isoformat(), "run_id": cref.run_id, **cref.costs},
            "regressions": list(self.regressions), "regressed": self.regressed, "summary": self.summary,
        }


def test_noise(key: str, reference: float, rows: int | None) -> float:
    """How far a test accuracy (``key`` ends in ``accuracy``) on ``rows`` rows may fall from the
    reference night's by chance: :data:`TEST_NOISE_STANDARD_ERRORS` binomial standard errors, the
    proportion taken one row away from 0 and 1 (a perfect score is no exact measurement either);
    0 for another metric or an unknown row count."""
    if not rows or rows <= 0 or not key.endswith("accuracy") or not 0.0 <= reference <= 1.0:
        return 0.0
    p = (reference * rows + 1) / (rows + 2)
    return TEST_NOISE_STANDARD_ERRORS * math.sqrt(p * (1 - p) / rows)


def _cost_text(name: str, v: float) -> str:
    return f"{v:.4g} ms" if name.endswith("_ms") else f"{v:.0f}"


def _cost_regressions(costs: Mapping[str, float], previous: list[Night], slack: float, names: Iterable[str]
                      ) -> tuple[list[str], Night | None]:
    """Tonight's selected model bigger or slower than the last night's by more than ``slack``
    (relative), per cost of ``names`` both nights have; and that last night."""
    last = max((n for n in previous if n.costs), key=lambda n: n.date, default=None)
    if last is None or not costs:
        return [], None
    out, compared = [], 0
    for name in names:
        now, before = costs.get(name), last.costs.get(name)
        if now is None or before is None or not (math.isfinite(now) and math.isfinite(before)) or before <= 0:
            continue
        compared += 1
        if now > before * (1 + slack):
            out.append(f"{name} {_cost_text(name, now)} > {_cost_text(name, before)} of the selected model on "
                       f"date={last.date} (+{100 * (now / before - 1):.0f}%, tolerance {100 * slack:.0f}%)")
    return out, last if compared else None


def compare(metric: str, mode: str, value: float | None, test: dict[str, float], previous: list[Night],
            tolerance: str | float = DEFAULT_TOLERANCE, costs: Mapping[str, float] | None = None,
            watch: Iterable[str] = COMPARED_COSTS, test_rows: int | None = None) -> Comparison:
    """Compare tonight's selected validation metric and test score with the best previous night,
    and its selected model's costs with the last night's.

    The reference is the previous night with the best value of the same validation metric
    (selection on validation data, as within a run). Tonight regresses when its validation metric
    is worse than the reference's by more than the tolerance, or when its test score
    (``test_accuracy`` for ``val_accuracy``, ``test_loss`` for ``val_loss``, ...) is, or when its
    selected model is bigger or slower on a cost of ``watch`` (a nightly passes
    :func:`watched_costs`) than the last night's with costs by more than :func:`cost_tolerance`
    (relative). A test accuracy measured on ``test_rows`` rows is allowed at least
    :data:`TEST_NOISE_STANDARD_ERRORS` of its own standard error (:func:`test_noise`).
    """
    slack_of = parse_tolerance(tolerance)
    cost_slack = cost_tolerance(tolerance)
    cost_lines, last = _cost_regressions(costs or {}, previous, cost_slack, watch)
    extra = {"costs": dict(costs or {}), "cost_reference": last, "cost_tolerance": cost_slack, "test_rows": test_rows}
    ref = _best_night([n for n in previous if n.metric == metric and n.mode == mode])
    if ref is None:
        first = f"first night with {metric}: nothing to compare with"
        return Comparison(metric, mode, value, None, 0.0, cost_lines,
                          "regression: " + "; ".join(cost_lines) if cost_lines else first, **extra)
    assert ref.value is not None
    where = f"date={ref.date}, run {ref.run_id}"
    slack = slack_of(ref.value)
    worse_sign = "<" if mode == "max" else ">"
    regressions = []
    if value is None or not math.isfinite(value):
        regressions.append(f"{metric} has no value tonight (no usable trial); previous best {ref.value:.4f} ({where})")
    else:
        limit = ref.value - slack if mode == "max" else ref.value + slack
        if _better(limit, value, mode):
            regressions.append(f"{metric} {value:.4f} {worse_sign} previous best {ref.value:.4f} "
                               f"(tolerance {slack:.4g}; {where})")
    key = _test_key(metric)
    if key in test and key in ref.test:
        t, r = test[key], ref.test[key]
        slack_t, noise = slack_of(r), test_noise(key, r, test_rows)
        limit = r - max(slack_t, noise) if mode == "max" else r + max(slack_t, noise)
        if math.isfinite(t) and _better(limit, t, mode):
            why = (f"tolerance {slack_t:.4g}" if slack_t >= noise else
                   f"{TEST_NOISE_STANDARD_ERRORS:g} standard errors of an accuracy on {test_rows} test rows, {noise:.4g}")
            regressions.append(f"{key} {t:.4f} {worse_sign} {r:.4f} on that night ({why})")
    regressions += cost_lines
    if regressions:
        summary = "regression: " + "; ".join(regressions)
    else:
        assert value is not None
        better_sign, side = (">=", "minus") if mode == "max" else ("<=", "plus")
        summary = (f"no regression: {metric} {value:.4f} {better_sign} previous best {ref.value:.4f} "
                   f"{side} the tolerance {slack:.4g} ({where})")
        if last is not None:
            summary += f"; costs within {100 * cost_slack:.0f}% of date={last.date}'s"
    return Comparison(metric, mode, value, ref, slack, regressions, summary, **extra)
