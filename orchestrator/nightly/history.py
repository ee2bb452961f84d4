"""Reading a nightly history: its ``date=YYYY-MM-DD`` partitions, each night's run (from its
run.json; the selected model's costs from its trials.parquet row when run.json lacks them), and
the whole history as one set of tables (:func:`load_history`)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import SpecError

if TYPE_CHECKING:
    from ..results import Runs

__all__ = ["PARTITION_KEY", "STAGING", "Night", "is_remote_uri", "parse_date", "partition_name", "read_nights",
           "load_history", "run_costs"]

PARTITION_KEY = "date"
STAGING = "_staging"

_PARTITION_RE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def is_remote_uri(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is a URI (``s3://``, ``gs://``, ``file://``, ...) rather than a path."""
    from ..storage import is_uri

    return is_uri(location)


def _root(history: Any) -> Any:
    """The history as a local Path, or as the storage Location of a URI."""
    from ..storage import Location, resolve

    if isinstance(history, Location) or is_remote_uri(os.fspath(history)):
        return resolve(history, "--history", check=False)
    return Path(history)


def _run_jsons(partition: Any) -> list[Any]:
    """The ``<run>/run.json`` files directly in a partition (a Path's glob, or one listing of a Location)."""
    if isinstance(partition, Path):
        return list(partition.glob("*/run.json"))
    return [partition / rel for rel in partition.walk_files() if rel.count("/") == 1 and rel.endswith("/run.json")]


def _dir_key(d: Any) -> str:
    return str(d.resolve()) if isinstance(d, Path) else str(d)


def parse_date(text: str | _dt.date | None) -> _dt.date:
    """``YYYY-MM-DD`` (or None: today, local time) as a date; SpecError naming ``--date`` otherwise."""
    if text is None:
        return _dt.date.today()
    if isinstance(text, _dt.date):
        return text
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise SpecError("--date", f"must be YYYY-MM-DD, got {text!r}")
    try:
        return _dt.date.fromisoformat(text.strip())
    except ValueError as e:
        raise SpecError("--date", f"{e}, got {text!r}") from None


def partition_name(date: _dt.date) -> str:
    """The partition directory's name: ``date=YYYY-MM-DD``."""
    return f"{PARTITION_KEY}={date.isoformat()}"


@dataclass(frozen=True)
class Night:
    """One night of the history, from its run's run.json (and the selected row's costs)."""

    date: _dt.date
    partition: Path
    run_dir: Path
    run_id: str
    status: str | None
    metric: str | None
    mode: str | None
    value: float | None  # the selected trial's best validation metric
    test: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] | None = None  # the selected trial's hyperparameters
    costs: dict[str, float] = field(default_factory=dict)  # the selected model's costs (params, latency_ms, ...)

    @property
    def usable(self) -> bool:
        return self.value is not None and math.isfinite(self.value) and self.mode in ("min", "max")


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _read_night(date: _dt.date, partition: Path) -> Night | None:
    """The night's run (the latest started, should a partition hold more than one); None if none."""
    best: tuple[float, Night] | None = None
    for run_json in _run_jsons(partition):
        try:
            info = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # unreadable: not a run this module can use
        if not isinstance(info, dict):
            continue
        budget = info.get("budget") or {}
        sel = info.get("selected") or {}
        metric = budget.get("metric")
        night = Night(
            date=date, partition=partition, run_dir=run_json.parent,
            run_id=str(info.get("run_id") or run_json.parent.name), status=info.get("status"),
            metric=metric, mode=budget.get("mode"),
            value=_finite(sel.get(f"best_{metric}")) if metric else None,
            test={k: float(v) for k, v in sel.items() if k.startswith("test_") and _finite(v) is not None},
            config=sel.get("config") if isinstance(sel.get("config"), dict) else None,
            costs=run_costs(run_json.parent, info),
        )
        started = _finite(info.get("started_at")) or 0.0
        if best is None or started > best[0]:
            best = (started, night)
    return best[1] if best else None


def run_costs(run_dir: Any, info: dict[str, Any] | None = None) -> dict[str, float]:
    """The costs of a run's selected model (``params``, ``model_bytes``, ``latency_ms``, ...).

    From run.json's ``selected`` (a run with several objectives or constraints writes them there),
    else from the selected trial's row of trials.parquet (only those columns are read); empty for
    a run without a selected trial or from before costs were recorded.
    """
    from ..results.front import cost_names, selected_costs

    if info is None:
        from ..results.files import read_run_info

        info = read_run_info(run_dir)
    sel = (info or {}).get("selected") or {}
    found = selected_costs(sel) if isinstance(sel, dict) else {}
    if found or not isinstance(sel, dict) or not sel.get("trial_id"):
        return found
    try:
        import pyarrow.parquet as pq

        f = run_dir / "trials.parquet"
        source = str(f) if isinstance(f, Path) else f.fs.open_input_file(f.path)
        pf = pq.ParquetFile(source)
        columns = [c for c in ("trial_id", *cost_names()) if c in pf.schema_arrow.names]
        if len(columns) < 2:
            return {}
        rows = pf.read(columns=columns).to_pandas()
    except (OSError, ValueError):  # no table (a run that failed early), or an unreadable one
        return {}
    rows = rows[rows["trial_id"].astype(str) == str(sel["trial_id"])]
    return {} if rows.empty else selected_costs(rows.iloc[0])


def _partitions(history: Any) -> Iterator[tuple[_dt.date, Any]]:
    if not history.is_dir():
        return
    for p in sorted(history.iterdir(), key=lambda p: p.name):
        m = _PARTITION_RE.match(p.name)
        if m and p.is_dir():
            try:
                yield _dt.date.fromisoformat(m.group(1)), p
            except ValueError:
                continue


def read_nights(history: str | Path) -> list[Night]:
    """Every night of ``history`` that holds a run, oldest first."""
    out = []
    for date, part in _partitions(_root(history)):
        night = _read_night(date, part)
        if night is not None:
            out.append(night)
    return out


def load_history(history: str | Path) -> "Runs":
    """Load a nightly history as one set of tables, with a ``date`` column on every row.

    Returns :class:`~orchestrator.results.Runs` (``.runs``, ``.trials``, ``.epochs``,
    ``.events``), ordered by date; a column some night's tables lack is null in that night's rows.
    Only ``date=YYYY-MM-DD`` partitions are read (not a night still in progress).

    Raises:
        FileNotFoundError: no partition with a run in ``history``.
    """
    import pandas as pd

    from ..results import load_many

    history = _root(history)
    parts = list(_partitions(history))
    parts = [(d, p) for d, p in parts if _run_jsons(p)]
    if not parts:
        raise FileNotFoundError(f"{history}: no nightly partitions (date=YYYY-MM-DD/<run>/run.json)")
    runs = load_many([p for _, p in parts])
    date_of_dir = {_dir_key(p): pd.Timestamp(d) for d, p in parts}
    run_dates = [date_of_dir.get(_dir_key(path.parent)) for path in runs.paths]
    by_run = dict(zip(runs.runs["run_id"], run_dates))

    def _with_date(df: pd.DataFrame, dates: list[Any] | None = None) -> pd.DataFrame:
        if df.empty or "run_id" not in df:
            return df
        df = df.copy()
        values = dates if dates is not None else df["run_id"].map(by_run)
        df.insert(0, PARTITION_KEY, pd.to_datetime(pd.Series(list(values), index=df.index)))
        return df

    def _by_date(df: pd.DataFrame) -> pd.DataFrame:  # a backfilled night started later than the next one
        if df.empty or PARTITION_KEY not in df:
            return df
        return df.sort_values(PARTITION_KEY, kind="stable").reset_index(drop=True)

    return dataclasses.replace(runs, runs=_by_date(_with_date(runs.runs, run_dates)),
                               trials=_by_date(_with_date(runs.trials)), epochs=_by_date(_with_date(runs.epochs)),
                               events=_by_date(_with_date(runs.events)))
