"""A finished run's trade-offs as users see them: its objectives and constraints (read back from
run.json), the column of trials.parquet that holds each objective's value, and the Pareto front
as a table (``sweep show``, the report, MLflow, the export and the nightly check read it here).

Nothing is decided again: ``pareto_rank``, ``feasible`` and ``is_selected`` are the run's own
columns (written by the run's selection, :mod:`orchestrator.decisions.select`). A run with one
objective and no constraint has no front (:func:`has_front` is False). Pure pandas: neither Ray
nor TensorFlow.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["cost_names", "objectives_of", "constraints_of", "has_front", "value_column", "front_table",
           "selected_costs", "bound_text"]


def cost_names() -> tuple[str, ...]:
    """The costs every trial records (``params``, ``params_total``, ``model_bytes``, ``latency_ms``,
    ``latency_batch_ms``, ``train_seconds``), in the spec's order."""
    from ..spec.objectives import COSTS

    return tuple(COSTS)


def _default_mode(name: str) -> str:
    from ..spec.objectives import default_mode

    return str(default_mode(name))


def _objective(entry: Any) -> tuple[str, str] | None:
    """``{"name": n, "mode": m}`` or ``[n, m]`` (or a bare name) as ``(name, mode)`` (parsed as the
    selection parses objectives, :func:`orchestrator.decisions.select.as_objectives`); None for an
    entry run.json cannot have meant as one; a mode other than min/max: the name's default."""
    from ..decisions.select import as_objectives

    if isinstance(entry, Mapping):
        name = entry.get("name")
    else:
        name = entry[0] if isinstance(entry, (list, tuple)) and entry else entry
    if not isinstance(name, str) or not name:
        return None
    ((name, mode),) = as_objectives([entry])
    return name, mode if mode in ("min", "max") else _default_mode(name)


def objectives_of(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run's objectives as ``(name, mode)``, the first one the run's metric.

    From run.json's ``objectives`` (written by a run with several objectives or constraints), else
    its spec's ``objectives``, else its one metric (``budget.metric``/``mode``, or the spec's
    ``metric``): a run older than objectives has exactly one.
    """
    spec = info.get("spec") if isinstance(info.get("spec"), Mapping) else {}
    for source in (info.get("objectives"), spec.get("objectives")):
        if isinstance(source, (list, tuple)) and source:
            found = [o for o in map(_objective, source) if o is not None]
            if found:
                return found
    budget = info.get("budget") if isinstance(info.get("budget"), Mapping) else {}
    metric = spec.get("metric") if isinstance(spec.get("metric"), Mapping) else {}
    name = budget.get("metric") or metric.get("name")
    if not name:
        return []
    mode = budget.get("mode") or metric.get("mode")
    return [(str(name), mode if mode in ("min", "max") else _default_mode(str(name)))]


def constraints_of(info: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """The run's constraints, ``{name: {"max": x or None, "min": y or None}}`` (empty: none)."""
    spec = info.get("spec") if isinstance(info.get("spec"), Mapping) else {}
    for source in (info.get("constraints"), spec.get("constraints")):
        if isinstance(source, Mapping) and source:
            return {str(k): {"max": _bound(v, "max"), "min": _bound(v, "min")} for k, v in source.items()
                    if isinstance(v, Mapping)}
    return {}


def _bound(v: Mapping[str, Any], key: str) -> float | None:
    x = v.get(key)
    return None if x is None else float(x)


def bound_text(name: str, bound: Mapping[str, float | None]) -> str:
    """A constraint in words: ``params <= 200000``, ``0.1 <= val_loss <= 0.5``."""
    lo, hi = bound.get("min"), bound.get("max")
    if lo is not None and hi is not None:
        return f"{lo:g} <= {name} <= {hi:g}"
    return f"{name} <= {hi:g}" if hi is not None else f"{name} >= {lo:g}"


def has_front(info: Mapping[str, Any]) -> bool:
    """Whether the run ranks trials on a front: several objectives, or constraints."""
    return len(objectives_of(info)) > 1 or bool(constraints_of(info))


def value_column(trials: "pd.DataFrame", name: str) -> str | None:
    """The column of ``trials`` holding objective ``name``'s value: ``best_<name>`` (a metric at
    the trial's best epoch, or a cost as reported), else ``<name>`` (a cost column); None: neither."""
    for col in (f"best_{name}", name):
        if col in trials.columns:
            return col
    return None


def front_table(trials: "pd.DataFrame", info: Mapping[str, Any]) -> "pd.DataFrame":
    """The front's trials (``pareto_rank`` 0), best first on the first objective.

    Columns: ``trial_id``, ``status``, one per objective (named as the objective), the other costs
    the table has, ``feasible``, ``pareto_rank``, ``is_selected``. The selected trial is always a
    row (it is on the front unless a select rule chose otherwise). Empty when the run has no
    front (one objective, no constraint) or its table has no ``pareto_rank``.
    """
    import pandas as pd

    if trials.empty or "pareto_rank" not in trials.columns or not has_front(info):
        return pd.DataFrame()
    objectives = objectives_of(info)
    rank = pd.to_numeric(trials["pareto_rank"], errors="coerce")
    selected = trials["is_selected"].fillna(False).astype(bool) if "is_selected" in trials else rank != rank
    rows = trials[(rank == 0) | selected]
    out = pd.DataFrame({"trial_id": rows["trial_id"].astype(str),
                        "status": rows["status"] if "status" in rows else ""}, index=rows.index)
    for name, _ in objectives:
        col = value_column(rows, name)
        out[name] = pd.to_numeric(rows[col], errors="coerce") if col else math.nan
    for cost in cost_names():
        if cost in rows.columns and cost not in out.columns:
            out[cost] = pd.to_numeric(rows[cost], errors="coerce")
    out["feasible"] = rows["feasible"].astype("boolean") if "feasible" in rows else pd.NA
    out["pareto_rank"] = rank.loc[rows.index].astype("Int64")
    out["is_selected"] = selected.loc[rows.index]
    first, mode = objectives[0]
    return out.sort_values(first, ascending=mode == "min", na_position="last", kind="stable").reset_index(drop=True)


def selected_costs(row: Mapping[str, Any] | "pd.Series") -> dict[str, float]:
    """The finite costs of one trial's row (the selected trial's, for model.json and the nightly check)."""
    out = {}
    for cost in cost_names():
        try:
            v = float(row[cost])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(v):
            out[cost] = v
    return out
