"""The report's judgements, pure (numpy and pandas, no drawing): which hyperparameters to plot and
how, and where a hyperparameter was too low, right, or too high."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["param_kinds", "goldilocks_regions"]

_NUMERIC_TYPES = ("uniform", "loguniform", "int", "randint")


def param_kinds(spec_params: dict[str, Any] | None, trials: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The hyperparameters worth plotting, each ``{"kind": "numeric"|"categorical", "log": bool, "values": [...]}``.

    Only searched ones (not constants in the spec) whose ``hp_<name>`` column holds more than one
    value. The axis is logarithmic for ``loguniform`` and ``int`` with ``log: true``, and for a
    ``grid``/``choice`` of positive numbers spanning at least a factor of 100 (the spec's own
    values, e.g. learning rates 1.0, 0.01, 1e-7). Without a spec (an old run.json), every
    ``hp_*`` column with more than one value, numeric when its dtype is.
    """
    out: dict[str, dict[str, Any]] = {}
    spec_params = spec_params or {}
    names = ([n for n, p in spec_params.items() if isinstance(p, dict) and p.get("type") != "constant"]
             if spec_params else [c.removeprefix("hp_") for c in trials.columns if c.startswith("hp_")])
    for name in names:
        col = f"hp_{name}"
        if col not in trials or trials[col].nunique(dropna=True) < 2:
            continue
        p = spec_params.get(name) or {}
        t = p.get("type")
        values = list(p.get("values") or [])
        if t in _NUMERIC_TYPES:
            kind = "numeric"
            log = t == "loguniform" or (t in ("int", "randint") and bool(p.get("log")))
        elif t in ("choice", "grid"):
            numeric = bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            kind = "numeric" if numeric else "categorical"
            log = numeric and min(values) > 0 and max(values) / min(values) >= 100
        else:  # no spec: go by the column
            s = trials[col]
            kind = ("numeric" if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                    else "categorical")
            v = pd.to_numeric(s, errors="coerce").dropna() if kind == "numeric" else pd.Series([], dtype=float)
            log = kind == "numeric" and len(v) > 0 and v.min() > 0 and v.max() / v.min() >= 100
        out[name] = {"kind": kind, "log": bool(log), "values": values}
    return out


def goldilocks_regions(x: Sequence[float], y: Sequence[float], mode: str, log: bool = False,
                       chance: float = 0.05) -> dict[str, Any] | None:
    """Where a hyperparameter was too low, right, or too high, judged from the trials.

    A trial is *good* when its metric is within ``tol`` of the best one (the *threshold*), where
    ``tol`` is half the distance from the best to the median trial (at least 1% of the best
    value); trials without a result (``nan``: diverged, failed) are never good. The good trials'
    values span ``lo``..``hi``; every trial below ``lo`` or above ``hi`` is, by construction, worse
    than the threshold. Such a region is *shaded* (called too low / too high) only when it is
    clearly not luck:

    - its ``n`` trials all missing is unlikely by chance: if the ``g`` good trials of ``N`` had
      landed anywhere, the ``n`` at this end would all be bad with probability
      ``C(N - g, n) / C(N, n)``; shaded when that is under ``chance`` (with 500 random trials,
      the few at an edge of a hyperparameter that does not matter are often all bad, and must
      not be shaded); or
    - even its best trial is poor: worse than the median by more than half the best-to-median
      gap (a grid of one trial per value: learning rate 1e-7 at 12% when 0.01 scores 98%).

    When neither region is shaded, the hyperparameter shows no clear sweet spot
    (``sweet_spot`` is False): good trials were found across its range.

    Returns:
        ``None`` with fewer than two trials or no finite metric, else a dict with ``best``,
        ``median``, ``threshold``, ``tol``, ``poor`` (the "even the best is poor" line), ``lo``/``hi``,
        ``n_good``, ``n_below``/``n_above`` (trials below ``lo`` / above ``hi``),
        ``p_below``/``p_above`` (the chance figures), ``low_shaded``/``high_shaded``,
        ``sweet_spot``, ``low_edge``/``high_edge`` (the inner boundaries of the regions, halfway on
        the plot's scale between the last bad value and the good range; ``None`` when empty) and
        ``log`` (False when a log axis was asked for values that are not all positive).
    """
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    keep = np.isfinite(xa)
    xa, ya = xa[keep], ya[keep]
    finite = np.isfinite(ya)
    if len(xa) < 2 or not finite.any():
        return None
    if log and (xa <= 0).any():
        log = False
    maximize = mode == "max"
    best = float(ya[finite].max() if maximize else ya[finite].min())
    median = float(np.median(ya[finite]))
    tol = max(0.5 * abs(best - median), 0.01 * abs(best), 1e-12)
    threshold = best - tol if maximize else best + tol
    poor = median - 0.5 * abs(best - median) if maximize else median + 0.5 * abs(best - median)
    good = finite & ((ya >= threshold) if maximize else (ya <= threshold))
    total, n_good = len(xa), int(good.sum())
    lo, hi = float(xa[good].min()), float(xa[good].max())
    below, above = xa < lo, xa > hi
    fwd = np.log10 if log else (lambda v: v)
    inv = (lambda v: 10 ** v) if log else (lambda v: v)

    def judge(mask: np.ndarray) -> tuple[float, bool]:
        n = int(mask.sum())
        if not n:
            return 1.0, False
        # the chance that the n trials at this end are all bad if the good ones were anywhere
        # (drawn without replacement: C(N - good, n) / C(N, n))
        p = float(np.prod([(total - n_good - i) / (total - i) for i in range(n)])) if n <= total - n_good else 0.0
        ys = ya[mask & finite]
        best_there = (ys.max() if maximize else ys.min()) if len(ys) else (-np.inf if maximize else np.inf)
        return p, bool(p < chance or (best_there < poor if maximize else best_there > poor))

    p_below, low_shaded = judge(below)
    p_above, high_shaded = judge(above)
    low_edge = float(inv((fwd(xa[below].max()) + fwd(lo)) / 2)) if below.any() else None
    high_edge = float(inv((fwd(xa[above].min()) + fwd(hi)) / 2)) if above.any() else None
    return {"best": best, "median": median, "threshold": threshold, "tol": tol, "poor": poor, "lo": lo, "hi": hi,
            "n_good": int(good.sum()), "n_below": int(below.sum()), "n_above": int(above.sum()),
            "p_below": p_below, "p_above": p_above, "low_shaded": low_shaded, "high_shaded": high_shaded,
            "sweet_spot": low_shaded or high_shaded, "low_edge": low_edge, "high_edge": high_edge, "log": log}
