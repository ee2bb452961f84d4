"""Which hyperparameters mattered, per objective, in one run or a nightly history: Optuna's
importance evaluators (:func:`orchestrator.decisions.importance.importance`: fANOVA, PED-ANOVA
for many trials, seeded) on the trials that finished at least one epoch, as one table
(:data:`COLUMNS`: ``objective, param, importance, rank``, rank 1 the most important).

When it is computed: on demand (``sweep show``, ``sweep report``, ``sweep importance``,
``run.importance``), never at the end of a run, where it would add seconds to every sweep for a
table few runs are asked for. A finished local run caches its ranking in run.json
(``importance``), keyed by a fingerprint of exactly what was ranked (the trials, their
hyperparameters and objective values, the evaluator and the seed): the next call reads it back,
and a run whose trials changed (a resumed run) is ranked again. The cache is written only when it
is safe: the run has finished (``complete`` or ``no_result``), run.json is unchanged since it was
read (it is written atomically, as the run writes it), and the directory is writable; a run on a
storage URI or a read-only copy is ranked every time and left as it was.

What is not ranked: a searched hyperparameter that did not vary over the trials (inactive in
every one, or one value in all), a conditional one under fANOVA, or one with no measurable effect
gets no importance and is not in the table; the table's ``attrs["left_out"]`` holds
``{objective: {param: why}}`` and :func:`left_out_line` says it in one line (``sweep show``,
``sweep importance`` and the report print it). Too few trials for the ranking to mean more than
noise (:func:`orchestrator.decisions.importance.min_trials`) is :class:`ImportanceUnavailable`:
no ranking at all, its one-line reason shown instead.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .front import objectives_of

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "EVALUATORS", "run_importance", "history_importance", "table_of", "ImportanceUnavailable",
           "left_out_line", "terminal_table"]

COLUMNS = ("objective", "param", "importance", "rank")
EVALUATORS = ("auto", "fanova", "ped_anova")
FINISHED = ("complete", "no_result")  # run.json statuses whose trials no longer change
# In the cache's fingerprint: a ranking cached by an earlier way of ranking is not read back
# (v2: no stand-ins for inactive values, unvaried parameters left out, a minimum of trials).
METHOD = "v2"


class ImportanceUnavailable(ValueError):
    """Nothing to rank: no searched hyperparameter, none that varied, or too few trials with a
    finished epoch for the ranking to mean anything."""


def table_of(ranking: Mapping[str, Iterable[tuple[str, float]]],
             left_out: Mapping[str, Mapping[str, str]] | None = None) -> "pd.DataFrame":
    """``{objective: [(param, importance), ...]}`` (each list most important first) as the
    :data:`COLUMNS` table; ``left_out`` (``{objective: {param: why}}``) in its ``attrs``."""
    import pandas as pd

    rows = [{"objective": obj, "param": str(p), "importance": float(v), "rank": i}
            for obj, pairs in ranking.items() for i, (p, v) in enumerate(pairs, start=1)]
    table = pd.DataFrame(rows, columns=list(COLUMNS)).astype({"rank": "int64"})
    table.attrs["left_out"] = {str(o): {str(p): str(w) for p, w in why.items()}
                               for o, why in (left_out or {}).items() if why}
    return table


def left_out_line(table: "pd.DataFrame") -> str:
    """One line naming the hyperparameters the table gives no importance, and why ("" when none):
    ``not ranked (no importance): momentum (inactive in every trial)``; per objective when they
    differ between objectives."""
    left = table.attrs.get("left_out") or {}
    if not left:
        return ""

    def text(why: Mapping[str, str]) -> str:
        return ", ".join(f"{p} ({w})" for p, w in why.items())

    parts = {text(w) for w in left.values()}
    if len(parts) == 1 and len(left) == len(set(table["objective"]) | set(left)):
        return f"not ranked (no importance): {parts.pop()}"
    return "not ranked (no importance): " + "; ".join(f"for {o}: {text(w)}" for o, w in left.items())


def terminal_table(ranking: "pd.DataFrame", top: int | None = None) -> Any:
    """The table for the terminal (``sweep show``, ``sweep importance``): a row per rank, a column
    per objective holding ``param  importance``, and under it :func:`left_out_line` when it says
    something. Imports rich."""
    from rich.console import Group
    from rich.table import Table

    table = Table()
    table.add_column("rank", justify="right")
    objectives = list(dict.fromkeys(ranking["objective"]))
    for name in objectives:
        table.add_column(name, no_wrap=True)
    depth = int(ranking["rank"].max()) if len(ranking) else 0
    for rank in range(1, min(depth, top or depth) + 1):
        cells = [str(rank)]
        for name in objectives:
            row = ranking[(ranking["objective"] == name) & (ranking["rank"] == rank)]
            cells.append("" if row.empty else f"{row['param'].iloc[0]}  {row['importance'].iloc[0]:.3f}")
        table.add_row(*cells)
    line = left_out_line(ranking)
    return Group(table, line) if line else table


def _searched(params: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's searched parameters (constants are not ranked)."""
    return {n: p for n, p in params.items() if isinstance(p, Mapping) and p.get("type") != "constant"}


def _frame(trials: "pd.DataFrame", params: Mapping[str, Any], objectives: list[tuple[str, str]]) -> "pd.DataFrame":
    """The columns the ranking reads: trial ids, epochs, hyperparameters, objective values."""
    from .front import value_column

    cols = [c for c in ("trial_id", "epochs", "status") if c in trials.columns]
    cols += [f"hp_{n}" for n in params if f"hp_{n}" in trials.columns]
    for name, _ in objectives:
        col = value_column(trials, name)
        if col and col not in cols:
            cols.append(col)
    return trials[cols]


def _rank(trials: "pd.DataFrame", params: Mapping[str, Any], objectives: list[tuple[str, str]],
          evaluator: str, seed: int) -> "pd.DataFrame":
    """The ranking of ``trials`` (the one call into the decisions), as a table."""
    from ..decisions.importance import importance

    if not params:
        raise ImportanceUnavailable("no searched hyperparameter to rank")
    try:
        left_out: dict[str, dict[str, str]] = {}
        ranking = importance(trials, params, objectives, evaluator=evaluator, seed=seed, left_out=left_out)
    except ValueError as e:  # too few trials, nothing varied, a value no distribution holds
        raise ImportanceUnavailable(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    if not any(ranking.values()):
        raise ImportanceUnavailable("no hyperparameter had a measurable effect on any objective")
    return table_of(ranking, left_out)


def _fingerprint(frame: "pd.DataFrame", evaluator: str, seed: int) -> str:
    """What the ranking depends on, hashed: the rows ranked (sorted), the evaluator, the seed."""
    ordered = frame.sort_values("trial_id", kind="stable") if "trial_id" in frame else frame
    text = ordered.to_json(orient="split", index=False, double_precision=15)
    return hashlib.sha1(f"{METHOD}|{evaluator}|{seed}|{text}".encode()).hexdigest()[:16]


def _cached(info: Mapping[str, Any], key: str) -> "pd.DataFrame | None":
    entry = info.get("importance")
    if not isinstance(entry, Mapping) or entry.get("fingerprint") != key:
        return None
    ranking = entry.get("objectives")
    if not isinstance(ranking, Mapping):
        return None
    left = entry.get("left_out") if isinstance(entry.get("left_out"), Mapping) else {}
    return table_of({str(k): [(str(p), float(v)) for p, v in pairs] for k, pairs in ranking.items()}, left)


def _store(path: Any, info: Mapping[str, Any], entry: dict[str, Any]) -> bool:
    """Add ``importance`` to a finished local run's run.json when nothing changed it since it was
    read; False (and nothing written) otherwise."""
    from .files import clean_json, write_json

    if not isinstance(path, Path) or info.get("status") not in FINISHED:
        return False
    target = path / "run.json"
    try:
        now = json.loads(target.read_text(encoding="utf-8"))
        if now != clean_json(dict(info)):  # a resume (or another writer) got there first
            return False
        write_json(clean_json({**now, "importance": entry}), target)
    except (OSError, ValueError):  # read-only, vanished, unreadable: stay a read
        return False
    return True


def run_importance(run: Any, evaluator: str = "auto", seed: int = 0, cache: bool = True) -> "pd.DataFrame":
    """The importance table (:data:`COLUMNS`) of one run, per objective of the run.

    Args:
        run: a :class:`~orchestrator.results.Run` (its ``info`` and ``trials``).
        evaluator: ``auto`` (fANOVA, PED-ANOVA for many trials), ``fanova`` or ``ped_anova``.
        seed: the evaluator's seed: the same ranking on every call.
        cache: read and write run.json's ``importance`` (see the module's docstring).

    Raises:
        ImportanceUnavailable: no searched hyperparameter, none that varied, or too few trials
            to rank (:func:`orchestrator.decisions.importance.min_trials`).
    """
    info = run.info if isinstance(run.info, Mapping) else {}
    spec = info.get("spec") if isinstance(info.get("spec"), Mapping) else {}
    params = _searched(spec.get("params") or {})
    objectives = objectives_of(info)
    frame = _frame(run.trials, params, objectives)
    key = _fingerprint(frame, evaluator, seed)
    hit = _cached(info, key) if cache else None
    if hit is not None:
        return hit
    table = _rank(frame, params, objectives, evaluator, seed)
    if cache:
        ranking = {obj: [[p, float(v)] for p, v in zip(g["param"], g["importance"])]
                   for obj, g in table.groupby("objective", sort=False)}
        _store(run.path, info, {"fingerprint": key, "evaluator": evaluator, "seed": seed,
                                "trials": int(len(frame)), "objectives": ranking,
                                "left_out": table.attrs.get("left_out", {})})
    return table


def history_importance(paths: Iterable[Any], trials: "pd.DataFrame", evaluator: str = "auto",
                       seed: int = 0) -> "pd.DataFrame":
    """The importance table of many runs ranked as one (a nightly history, runs of one space).

    The objectives are the latest run's; each hyperparameter's distribution is the widest any of
    the runs searched (the union of a choice's values, the lowest low and highest high of a range,
    log when every run searched it on a log scale), so every night's values lie inside it. A trial
    of a run that did not search a parameter holds its fixed value, or null (then ranked as the
    decisions document for an inactive conditional parameter).
    """
    from .files import read_run_info

    infos = [read_run_info(p) for p in paths]
    infos = [i for i in infos if i]
    if not infos:
        raise ImportanceUnavailable("no readable run.json")
    latest = max(infos, key=lambda i: float(i.get("started_at") or 0.0))
    params = merged_params([(i.get("spec") or {}).get("params") or {} for i in infos])
    objectives = objectives_of(latest)
    return _rank(_frame(trials, params, objectives), params, objectives, evaluator, seed)


def merged_params(spaces: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The searched parameters of several runs' spec params (``{name: {"type": ..}}``), each with
    the widest distribution any of them gave it (:func:`_widen`)."""
    out: dict[str, dict[str, Any]] = {}
    for space in spaces:
        for name, p in _searched(space).items():
            out[name] = _widen(out[name], dict(p)) if name in out else dict(p)
    return out


_DISCRETE = ("choice", "grid")


def _widen(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """A distribution holding both ``a``'s and ``b``'s values: two choices give the union of their
    values; otherwise a range from the lowest to the highest number either holds, on a log scale
    only when both were, an integer range only when both were (a choice of strings and a range
    cannot be joined: ``b``, the later run's, is kept)."""
    if a == b:
        return a
    if a.get("type") in _DISCRETE and b.get("type") in _DISCRETE:
        values = list(a.get("values") or [])
        values += [v for v in b.get("values") or [] if not any(v == w and type(v) is type(w) for w in values)]
        return {**a, "values": values}
    numbers = [*_numbers(a), *_numbers(b)]
    if any(not _number(v) for v in numbers) or not numbers:
        return b
    kinds = {p.get("type") if p.get("type") not in _DISCRETE else _kind_of(p) for p in (a, b)}
    logs = all(p.get("type") == "loguniform" or (p.get("type") in ("int", "randint") and p.get("log"))
               for p in (a, b))
    low, high = float(min(numbers)), float(max(numbers))
    if kinds <= {"int", "randint"}:
        return {"type": "int", "low": int(low), "high": int(high), "log": bool(logs and low > 0), "when": a.get("when")}
    kind = "loguniform" if logs and low > 0 else "uniform"
    return {"type": kind, "low": low, "high": high, "when": a.get("when")}


def _numbers(p: Mapping[str, Any]) -> list[Any]:
    return list(p.get("values") or []) if p.get("type") in _DISCRETE else [p.get("low"), p.get("high")]


def _kind_of(p: Mapping[str, Any]) -> str:
    """A choice of numbers as the range kind it joins: ``int`` when every value is an integer."""
    return "int" if all(isinstance(v, int) and not isinstance(v, bool) for v in p.get("values") or []) else "uniform"


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
