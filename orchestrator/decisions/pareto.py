"""The Pareto front of trials measured on two or three objectives, as pure functions of their values.

Every function takes the objective values as rows (one per trial, one column per objective) and
the ``modes`` (``"min"``/``"max"``, one per column): internally each column is turned to "lower is
better" (a ``max`` column is negated), so the dominance rule is the usual one. Values are plain
numbers; a point with a non-finite value (NaN, +inf, -inf, in whichever direction) is taken to be
worse than every finite point -- dominated by each of them -- and is never on the front.

- :func:`non_dominated_ranks` -- each point's front (0 = the Pareto front, 1 = the front once the
  first is taken away, ...);
- :func:`spread_order` -- the points of one front in the order that covers it best: the extremes
  first, then repeatedly the point farthest from those already taken (a farthest-first traversal
  or epsilon-net, the tie-break Syne Tune's MOASHA uses inside a front);
- :func:`promotion_order` -- every point, front by front, spread inside each front: who goes
  first when only some may (the multi-objective ASHA's rung order);
- :func:`hypervolume` -- the volume the points dominate up to a reference point, exact for one to
  three objectives (how the benchmark scores a front);
- :func:`knee_index` -- the knee of a front: the point farthest from the line (or plane) through
  its extremes, towards the ideal point.

numpy and the standard library only.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["as_minimised", "finite_rows", "non_dominated_ranks", "spread_order", "promotion_order",
           "hypervolume", "knee_index"]

# Below this a distance or a volume is taken for 0 (values are normalised to [0, 1] first).
_EPS = 1e-12


def as_minimised(values: Sequence[Sequence[float]] | np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """``values`` as a float array of shape (points, objectives) in which lower is better everywhere.

    Args:
        values: one row per point, one value per objective.
        modes: ``min`` or ``max`` per objective.

    Returns:
        A new array; ``max`` columns negated. Non-finite entries stay non-finite.

    Raises:
        ValueError: a mode that is neither ``min`` nor ``max``, or rows that do not have one value
            per mode.
    """
    k = len(modes)
    if any(m not in ("min", "max") for m in modes):
        raise ValueError(f"modes must be 'min' or 'max', got {list(modes)}")
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return np.zeros((0, k))
    if arr.ndim != 2 or arr.shape[1] != k:
        raise ValueError(f"expected one value per objective ({k}) on each row, got shape {arr.shape}")
    signs = np.array([1.0 if m == "min" else -1.0 for m in modes])
    return arr * signs


def finite_rows(arr: np.ndarray) -> np.ndarray:
    """A boolean mask of the rows of ``arr`` whose values are all finite."""
    if arr.size == 0:
        return np.zeros(arr.shape[0], dtype=bool)
    return np.all(np.isfinite(arr), axis=1)


def _dominance(arr: np.ndarray) -> np.ndarray:
    """``D[i, j]``: point i dominates point j (no worse everywhere, better somewhere; lower is better)."""
    n = arr.shape[0]
    dom = np.zeros((n, n), dtype=bool)
    # One row at a time: memory n*n booleans, not n*n*objectives.
    for i in range(n):
        no_worse = np.all(arr[i] <= arr, axis=1)
        better = np.any(arr[i] < arr, axis=1)
        dom[i] = no_worse & better
    return dom


def _fronts(arr: np.ndarray) -> list[np.ndarray]:
    """The indices (into ``arr``, all rows finite) of each successive front, best first."""
    n = arr.shape[0]
    if n == 0:
        return []
    dom = _dominance(arr)
    dominated_by = dom.sum(axis=0)
    left = np.ones(n, dtype=bool)
    fronts = []
    while left.any():
        front = np.flatnonzero(left & (dominated_by == 0))
        fronts.append(front)
        left[front] = False
        dominated_by = dominated_by - dom[front].sum(axis=0)
    return fronts


def non_dominated_ranks(values: Sequence[Sequence[float]] | np.ndarray, modes: Sequence[str]) -> list[int]:
    """Each point's non-dominated rank: 0 for the Pareto front, 1 for the front of the rest, ...

    Called by the select rule (a trial's ``pareto_rank``), the report (each pair's front) and,
    through :func:`promotion_order`, the multi-objective ASHA.

    Args:
        values: one row per point, one value per objective (any number of objectives).
        modes: ``min`` or ``max`` per objective.

    Returns:
        One rank per point, in the order given. Points with equal values share a rank. Points
        with a non-finite value all get the rank after the last finite front (at least 1: they
        are never on the front).
    """
    arr = as_minimised(values, modes)
    ok = finite_rows(arr)
    ranks = np.zeros(arr.shape[0], dtype=int)
    idx = np.flatnonzero(ok)
    fronts = _fronts(arr[idx])
    for r, front in enumerate(fronts):
        ranks[idx[front]] = r
    ranks[~ok] = max(len(fronts), 1)
    return [int(r) for r in ranks]


def _normalised(arr: np.ndarray) -> np.ndarray:
    """Each column scaled to [0, 1] over the rows given (a constant column becomes 0)."""
    lo = arr.min(axis=0)
    span = arr.max(axis=0) - lo
    span[span <= 0] = 1.0
    return (arr - lo) / span


def _best_of(arr: np.ndarray, j: int) -> int:
    """The row best (lowest) in column ``j``; ties by the other columns in order, then the first row."""
    keys = [arr[:, c] for c in reversed(range(arr.shape[1])) if c != j] + [arr[:, j]]
    order = np.lexsort(keys)  # stable: equal rows keep their order
    return int(order[0])


def spread_order(points: Sequence[Sequence[float]] | np.ndarray, modes: Sequence[str] | None = None) -> list[int]:
    """The points of one front in farthest-first order: the extremes, then the best spread.

    First the best point of each objective (objective 0's first), then repeatedly the point whose
    distance to the nearest point already taken is the largest, distances measured after scaling
    each objective to [0, 1] over the points given. The ordering Syne Tune's MOASHA uses to break
    ties inside a front (an epsilon-net, Clarkson 2005): a prefix of any length covers the front
    as evenly as a prefix can. Deterministic: equal distances go to the earlier point.

    Args:
        points: one row per point (finite values), one value per objective.
        modes: ``min``/``max`` per objective; None when ``points`` are already "lower is better".

    Returns:
        Indices into ``points``, every one once.
    """
    arr = np.asarray(points, dtype=float) if modes is None else as_minimised(points, modes)
    n = arr.shape[0] if arr.size else 0
    if n == 0:
        return []
    if not finite_rows(arr).all():
        raise ValueError("spread_order takes finite values only (promotion_order puts non-finite points last)")
    norm = _normalised(arr)
    order: list[int] = []
    for j in range(arr.shape[1]):
        e = _best_of(arr, j)
        if e not in order:
            order.append(e)
    left = [i for i in range(n) if i not in order]
    nearest = np.min(np.linalg.norm(norm[left][:, None, :] - norm[order][None, :, :], axis=2), axis=1) \
        if left else np.zeros(0)
    while left:
        pick = int(np.argmax(nearest))  # the first of equal maxima: the earlier point
        chosen = left.pop(pick)
        nearest = np.delete(nearest, pick)
        order.append(chosen)
        if left:
            nearest = np.minimum(nearest, np.linalg.norm(norm[left] - norm[chosen], axis=1))
    return order


def promotion_order(values: Sequence[Sequence[float]] | np.ndarray, modes: Sequence[str]) -> list[int]:
    """Every point in the order it would be promoted: front by front, spread inside each front.

    The order the multi-objective ASHA ranks a rung by (Syne Tune's MOASHA non-dominated
    priority): all of the Pareto front before any point of the next front, and inside a front
    :func:`spread_order`. Points with a non-finite value come last, in the order given.

    Args:
        values: one row per point, one value per objective.
        modes: ``min`` or ``max`` per objective.

    Returns:
        Indices into ``values``, every one once, the first to promote first.
    """
    arr = as_minimised(values, modes)
    ok = finite_rows(arr)
    idx = np.flatnonzero(ok)
    order: list[int] = []
    for front in _fronts(arr[idx]):
        members = idx[front]
        order.extend(int(members[i]) for i in spread_order(arr[members]))
    order.extend(int(i) for i in np.flatnonzero(~ok))
    return order


def _hv2(points: np.ndarray, ref: np.ndarray) -> float:
    """The area dominated by ``points`` (lower is better, each strictly inside ``ref``) up to ``ref``."""
    if points.shape[0] == 0:
        return 0.0
    pts = points[np.lexsort((points[:, 1], points[:, 0]))]
    area, best_y = 0.0, math.inf
    for i in range(pts.shape[0]):
        # Sweep along x: from this point's x to the next one's, the covered height is ref_y
        # minus the lowest y seen so far (a dominated point leaves it unchanged).
        best_y = min(best_y, pts[i, 1])
        next_x = pts[i + 1, 0] if i + 1 < pts.shape[0] else ref[0]
        area += (next_x - pts[i, 0]) * (ref[1] - best_y)
    return float(area)


def hypervolume(values: Sequence[Sequence[float]] | np.ndarray, modes: Sequence[str],
                reference: Sequence[float]) -> float:
    """The volume of objective space the points dominate, bounded by ``reference``; exact.

    The usual score of a front (larger is better): the benchmark compares the fronts of two
    searches with it, against one reference point.

    Args:
        values: one row per point, one value per objective (1 to 3 objectives).
        modes: ``min`` or ``max`` per objective.
        reference: the worst corner, one value per objective, in the objectives' own units and
            directions (e.g. ``(0.0, 200000)`` for ``val_accuracy`` max and ``params`` min).

    Returns:
        The volume (0.0 when no point is better than the reference in every objective). Points
        with a non-finite value, and points not strictly better than the reference everywhere,
        add nothing.

    Raises:
        ValueError: more than 3 objectives, or a reference of the wrong length or not finite.
    """
    k = len(modes)
    if not 1 <= k <= 3:
        raise ValueError(f"hypervolume is exact for 1 to 3 objectives, got {k}")
    ref = as_minimised([list(reference)], modes)[0] if len(reference) == k else None
    if ref is None or not np.all(np.isfinite(ref)):
        raise ValueError(f"reference must be {k} finite values, got {list(reference)}")
    arr = as_minimised(values, modes)
    if arr.shape[0]:
        arr = arr[finite_rows(arr) & np.all(arr < ref, axis=1)]
    if arr.shape[0] == 0:
        return 0.0
    if k == 1:
        return float(ref[0] - arr[:, 0].min())
    if k == 2:
        return _hv2(arr, ref)
    # Three objectives: slice along the third; between two consecutive z values the covered
    # area is the 2-D hypervolume of the points at or below the lower one.
    pts = arr[np.argsort(arr[:, 2], kind="stable")]
    volume = 0.0
    for i in range(pts.shape[0]):
        next_z = pts[i + 1, 2] if i + 1 < pts.shape[0] else ref[2]
        if next_z > pts[i, 2]:
            volume += (next_z - pts[i, 2]) * _hv2(pts[: i + 1, :2], ref[:2])
    return float(volume)


def knee_index(front_values: Sequence[Sequence[float]] | np.ndarray, modes: Sequence[str]) -> int:
    """The knee of a front: the point that bulges farthest towards the ideal point.

    Each objective is scaled to [0, 1] over the front (0 = its best value). With two objectives
    the knee is the point farthest from the line through the front's two extremes (the best
    point of each objective), on the side of the ideal point (0, 0); with three, the point
    farthest from the plane through the three extremes, on the ideal point's side. When the
    extremes do not span a plane (two of them coincide or they lie on a line), the distance is
    taken from the line through the two extremes farthest apart. A front that does not bulge
    (straight or hollow: no point on the ideal side), one or two points, or one objective: the
    best point of the first objective.

    Args:
        front_values: the front's points (finite values), one value per objective.
        modes: ``min`` or ``max`` per objective (1 to 3).

    Returns:
        An index into ``front_values`` (equal distances: the earlier point).

    Raises:
        ValueError: an empty front, more than 3 objectives, or a non-finite value.
    """
    arr = as_minimised(front_values, modes)
    k = len(modes)
    if arr.shape[0] == 0:
        raise ValueError("knee_index of an empty front")
    if k > 3:
        raise ValueError(f"knee_index takes 1 to 3 objectives, got {k}")
    if not finite_rows(arr).all():
        raise ValueError("knee_index takes finite values only")
    fallback = _best_of(arr, 0)
    if arr.shape[0] <= 2 or k == 1:
        return fallback
    norm = _normalised(arr)
    extremes = [_best_of(arr, j) for j in range(k)]
    dist = _towards_ideal(norm, extremes)
    best = int(np.argmax(dist))
    return best if dist[best] > _EPS else fallback


def _towards_ideal(norm: np.ndarray, extremes: list[int]) -> np.ndarray:
    """Each point's distance from the line/plane through ``extremes``, positive on the side of the
    ideal point (the origin of the normalised space); unsigned when that side is undefined."""
    k = norm.shape[1]
    a = norm[extremes[0]]
    if k == 3:
        normal = np.cross(norm[extremes[1]] - a, norm[extremes[2]] - a)
        length = float(np.linalg.norm(normal))
        if length > _EPS:
            return _signed(norm, a, normal / length)
    distinct = np.unique(norm[extremes], axis=0)
    if distinct.shape[0] < 2:
        return np.zeros(norm.shape[0])
    # The two extremes farthest apart define the line.
    gaps = np.linalg.norm(distinct[:, None, :] - distinct[None, :, :], axis=2)
    i, j = np.unravel_index(int(np.argmax(gaps)), gaps.shape)
    p, q = distinct[i], distinct[j]
    direction = (q - p) / np.linalg.norm(q - p)
    if k == 2:
        return _signed(norm, p, np.array([-direction[1], direction[0]]))
    rel = norm - p
    return np.linalg.norm(rel - np.outer(rel @ direction, direction), axis=1)


def _signed(norm: np.ndarray, anchor: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Distances from the hyperplane through ``anchor`` with unit ``normal``, positive towards the
    origin (unsigned when the origin lies on it)."""
    side = float(np.dot(-anchor, normal))
    d = (norm - anchor) @ normal
    if abs(side) <= _EPS:
        return np.abs(d)
    return d if side > 0 else -d
