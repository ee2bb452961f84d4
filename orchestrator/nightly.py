"""Nightly sweeps: one run per night into a history partitioned by date, warm-started, compared.

The history is nothing but run directories in Hive-style date partitions::

    HISTORY/date=2026-11-20/<run_id>/run.json, trials.parquet, epochs.parquet, events.parquet, tune/
    HISTORY/date=2026-11-21/<run_id>/...
    HISTORY/_staging/                  a night in progress (and its lock); never read as history

so pandas (:func:`load_history`) and DuckDB read it as one table::

    select * from read_parquet('HISTORY/*/*/trials.parquet', hive_partitioning=true, union_by_name=true)

even when the search space changed between nights: every trial row holds every hyperparameter
(a fixed one its value, an inactive conditional one null), and a column one night's files lack (a
hyperparameter added in a later version) is null in that night's rows.

A night (:func:`run_nightly`):

1. reads the previous nights (partitions dated *before* tonight, so re-running a date sees the
   same past);
2. warm-starts the search with their selected configurations (:func:`warm_start_points`): the
   ``K`` most recent nights and the best night so far, restricted to the hyperparameters tonight's
   spec searches and to values tonight's space allows;
3. runs the sweep into ``HISTORY/_staging/date=D.<token>/`` and, when it finished, swaps that in
   as ``HISTORY/date=D/`` (a rename; an earlier run of the same date is replaced, a failed night
   leaves it untouched). A history on a URI (``s3://``, ``gs://``) has no renames: the run is
   copied into the partition, run.json last, then the partition's other runs are deleted;
4. compares tonight's selected validation metric, and its test score, with the best previous
   night's (:func:`compare`): worse by more than the tolerance is a regression.

This module imports neither Ray nor TensorFlow; the sweep itself is :func:`orchestrator.runner.run_sweep`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .errors import SpecError
from .spec import Choice, Constant, Grid, IntRange, LogUniform, Param, SweepSpec, Uniform, active

if TYPE_CHECKING:
    from .results import Runs
    from .runner import RunResult

__all__ = [
    "PARTITION_KEY",
    "REGRESSION_EXIT_CODE",
    "Night",
    "Comparison",
    "NightlyResult",
    "parse_date",
    "parse_tolerance",
    "partition_name",
    "read_nights",
    "warm_start_points",
    "compare",
    "run_nightly",
    "load_history",
    "is_remote_uri",
]

PARTITION_KEY = "date"
STAGING = "_staging"
REGRESSION_EXIT_CODE = 3
DEFAULT_TOLERANCE = "0.01"
DEFAULT_WARM_START = 3

_PARTITION_RE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def is_remote_uri(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is a URI (``s3://``, ``gs://``, ``file://``, ...) rather than a path."""
    from .storage import is_uri

    return is_uri(location)


def _root(history: Any) -> Any:
    """The history as a local Path, or as the storage Location of a URI."""
    from .storage import Location, resolve

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


# --------------------------------------------------------------------------------------------
# Reading the history
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Night:
    """One night of the history, from its run's run.json (no Parquet is read)."""

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
        )
        started = _finite(info.get("started_at")) or 0.0
        if best is None or started > best[0]:
            best = (started, night)
    return best[1] if best else None


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

    from .results import read_runs

    history = _root(history)
    parts = list(_partitions(history))
    parts = [(d, p) for d, p in parts if _run_jsons(p)]
    if not parts:
        raise FileNotFoundError(f"{history}: no nightly partitions (date=YYYY-MM-DD/<run>/run.json)")
    runs = read_runs([p for _, p in parts])
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


# --------------------------------------------------------------------------------------------
# Warm start
# --------------------------------------------------------------------------------------------


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
    limit = spec.search.num_samples or 16
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
    """Tonight against the best previous night (same metric)."""

    metric: str
    mode: str
    value: float | None
    reference: Night | None
    tolerance: float
    regressions: list[str]
    summary: str

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def to_dict(self) -> dict[str, Any]:
        ref = self.reference
        return {
            "metric": self.metric, "mode": self.mode, "value": self.value, "tolerance": self.tolerance,
            "previous_best": None if ref is None else {
                "date": ref.date.isoformat(), "run_id": ref.run_id, "value": ref.value, **ref.test},
            "regressions": list(self.regressions), "regressed": self.regressed, "summary": self.summary,
        }


def compare(metric: str, mode: str, value: float | None, test: dict[str, float], previous: list[Night],
            tolerance: str | float = DEFAULT_TOLERANCE) -> Comparison:
    """Compare tonight's selected validation metric and test score with the best previous night.

    The reference is the previous night with the best value of the same validation metric
    (selection on validation data, as within a run). Tonight regresses when its validation metric
    is worse than the reference's by more than the tolerance, or when its test score
    (``test_accuracy`` for ``val_accuracy``, ``test_loss`` for ``val_loss``, ...) is.
    """
    slack_of = parse_tolerance(tolerance)
    ref = _best_night([n for n in previous if n.metric == metric and n.mode == mode])
    if ref is None:
        return Comparison(metric, mode, value, None, 0.0, [],
                          f"first night with {metric}: nothing to compare with")
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
        slack_t = slack_of(r)
        limit = r - slack_t if mode == "max" else r + slack_t
        if math.isfinite(t) and _better(limit, t, mode):
            regressions.append(f"{key} {t:.4f} {worse_sign} {r:.4f} on that night (tolerance {slack_t:.4g})")
    if regressions:
        summary = "regression: " + "; ".join(regressions)
    else:
        assert value is not None
        better_sign, side = (">=", "minus") if mode == "max" else ("<=", "plus")
        summary = (f"no regression: {metric} {value:.4f} {better_sign} previous best {ref.value:.4f} "
                   f"{side} the tolerance {slack:.4g} ({where})")
    return Comparison(metric, mode, value, ref, slack, regressions, summary)


# --------------------------------------------------------------------------------------------
# A night
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NightlyResult:
    """What :func:`run_nightly` did."""

    date: _dt.date
    partition: Path
    result: "RunResult"
    warm_start: list[dict[str, Any]]
    warm_start_from: list[str]
    notes: list[str]
    comparison: Comparison | None  # None when the run produced no usable result
    replaced: bool  # an earlier run of this date was replaced

    @property
    def regressed(self) -> bool:
        return self.comparison is not None and self.comparison.regressed


class _Lock:
    """An exclusive, non-blocking lock on one date of the history (flock on a file in _staging)."""

    def __init__(self, path: Path, date: _dt.date) -> None:
        self.path, self.date, self._f = path, date, None

    def __enter__(self) -> "_Lock":
        import fcntl

        self._f = open(self.path, "a+")
        try:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._f.close()
            raise SpecError("--date", f"another nightly run for {partition_name(self.date)} is in progress "
                            f"(lock {self.path})") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        import fcntl

        if self._f is not None:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
            self._f.close()


def _update_run_json(run_dir: Any, section: dict[str, Any]) -> None:
    from .results import clean_json, write_json

    path = run_dir / "run.json"  # a local Path, or a storage Location (written whole either way)
    info = json.loads(path.read_text(encoding="utf-8"))
    info["nightly"] = section
    write_json(clean_json(info), path)


def _remote_lock_path(root: Any, name: str) -> Path:
    """A history on a URI has no file to flock: the lock is per machine, in the temp directory."""
    import hashlib
    import tempfile

    d = Path(tempfile.gettempdir()) / "sweep-nightly-locks"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{hashlib.sha1(str(root).encode()).hexdigest()[:16]}-{name}.lock"


def _publish_remote(staging: Any, run_name: str, target: Any) -> bool:
    """Copy a finished night from the staging area into its partition on a URI; True if it replaced one.

    Object stores rename nothing, so the run is copied (its run.json last: readers find a run by it),
    then every other entry of the partition (the earlier run of the date, or what a killed copy
    left) is deleted, then the staging copy. Re-running the date always ends with one run there.
    """
    import pyarrow.fs as pafs

    old = [e for e in target.iterdir()] if target.is_dir() else []
    (staging / run_name).copy_tree_to(target / run_name)
    for e in old:
        if e.name == run_name:
            continue
        if e.fs.get_file_info(e.path).type == pafs.FileType.Directory:
            e.rmtree()
        else:
            e.fs.delete_file(e.path)
    staging.rmtree()
    return bool(old)


def run_nightly(spec: SweepSpec, history: str | Path, date: str | _dt.date | None = None, *,
                tolerance: str | float = DEFAULT_TOLERANCE, warm_start: int = DEFAULT_WARM_START,
                address: str | None = None, view: Any = None, ray_resources: dict[str, float] | None = None,
                log: Callable[[str], None] | None = None, run: Callable[..., "RunResult"] | None = None,
                ) -> NightlyResult:
    """Run tonight's sweep into ``HISTORY/date=D/``, warm-started, and compare it with the past.

    Args:
        spec: the validated sweep (tonight's search space; it may differ from earlier nights').
        history: the history's root directory: a local path (a mounted shared filesystem too), or
            a URI pyarrow can write (``s3://bucket/nightly``; see :mod:`orchestrator.storage`).
        date: the night (``YYYY-MM-DD`` or a date; default today, local time).
        tolerance: how much worse than the best previous night is still no regression: an
            absolute amount in the metric's units (``0.01``) or a percentage of it (``"2%"``).
        warm_start: how many of the most recent previous nights' selected configurations to try
            first (the best night so far is added); 0 turns warm starting off.
        address, view, ray_resources: as for :func:`orchestrator.runner.run_sweep`.
        log: where to say what happens (warm start, replacement); default: nowhere.
        run: the function that runs the sweep (default :func:`orchestrator.runner.run_sweep`;
            tests pass a stand-in).

    Returns:
        A :class:`NightlyResult`; ``.regressed`` says whether tonight regressed.

    Raises:
        SpecError: a bad date, tolerance or history location, another run of the same date in
            progress, or whatever the sweep raises before it starts. A night that fails leaves the
            history as it was (an earlier run of the same date included).
    """
    say = log or (lambda _msg: None)
    night = parse_date(date)
    parse_tolerance(tolerance)  # fail before anything runs
    if warm_start < 0:
        raise SpecError("--warm-start", f"must be >= 0, got {warm_start}")
    from .storage import Location, resolve

    root = resolve(history, "--history")
    remote = isinstance(root, Location)
    try:
        if root.exists() and not root.is_dir():
            raise SpecError("--history", f"{root} is not a directory")
    except OSError as e:  # a URI that cannot be reached
        raise SpecError("--history", f"{root}: cannot reach: {str(e).splitlines()[0]}") from None
    staging_root = root / STAGING
    try:
        if remote:
            staging_root.mkdir()
        else:
            staging_root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpecError("--history", f"{root}: cannot create: {getattr(e, 'strerror', None) or e}") from None
    if run is None:
        from .runner import run_sweep as run

    name = partition_name(night)
    lock = _remote_lock_path(root, name) if remote else staging_root / f"{name}.lock"
    with _Lock(lock, night):
        # What a killed earlier attempt at this date left behind (we hold the date's lock).
        if remote:
            for stale in staging_root.iterdir():
                if stale.name.startswith(f"{name}."):
                    stale.rmtree()
        for stale in ([] if remote else staging_root.glob(f"{name}.*")):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)

        previous = [n for n in read_nights(root) if n.date < night]
        points, sources, notes = warm_start_points(spec, previous, warm_start)
        if points:
            say(f"nightly {name}: warm start with {len(points)} configuration(s) from "
                + ", ".join(partition_name(n.date) for n in sources))
        else:
            say(f"nightly {name}: no warm start" + ("" if previous else " (first night)"))
        for note in notes:
            say(f"  warm start: {note}")

        staging = staging_root / f"{name}.{secrets.token_hex(4)}"
        if not remote:
            staging.mkdir()
        try:
            result = run(spec, staging, address=address, view=view, ray_resources=ray_resources,
                         warm_start=points or None)
        except BaseException:
            if remote:
                staging.rmtree()
            else:
                shutil.rmtree(staging, ignore_errors=True)
            raise

        comparison = None
        if result.selected is not None:
            comparison = compare(spec.metric_name, spec.mode, result.best_value, dict(result.test_metrics), previous,
                                 tolerance)
        _update_run_json(result.run_dir if remote else Path(result.run_dir), {
            "date": night.isoformat(), "history": str(root),
            "warm_start": points, "warm_start_from": [partition_name(n.date) for n in sources],
            "warm_start_notes": notes, "comparison": None if comparison is None else comparison.to_dict(),
        })

        target = root / name
        run_name = result.run_dir.name if remote else Path(result.run_dir).name
        if remote:
            replaced = _publish_remote(staging, run_name, target)
        else:
            replaced = target.exists()
            old = staging_root / f"{name}.replaced-{secrets.token_hex(4)}"
            if replaced:
                os.replace(target, old)  # both renames stay inside HISTORY: one filesystem
            os.replace(staging, target)
            if replaced:
                shutil.rmtree(old, ignore_errors=True)
        if replaced:
            say(f"nightly {name}: replaced the earlier run of this date")
    run_dir = target / run_name
    return NightlyResult(night, target, dataclasses.replace(result, run_dir=run_dir), points,
                         [partition_name(n.date) for n in sources], notes, comparison, replaced)
