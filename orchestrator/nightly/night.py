"""A night: tonight's sweep run into the history's staging area, warm-started, compared with the
best previous night, then swapped in as its date's partition (:func:`run_nightly`)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import SpecError
from ..spec import SweepSpec
from .history import STAGING, Night, parse_date, partition_name, read_nights, run_costs
from .rules import (DEFAULT_TOLERANCE, DEFAULT_WARM_START, Comparison, compare, parse_tolerance, warm_start_points,
                    watched_costs)

if TYPE_CHECKING:
    from ..execution import RunResult

__all__ = ["REGRESSION_EXIT_CODE", "NightlyResult", "run_nightly"]

REGRESSION_EXIT_CODE = 3


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
    from ..results import clean_json, write_json

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


def _open_history(history: str | Path) -> tuple[Any, bool, Any]:
    """The history's root (a Path, or a storage Location), whether it is remote, and its staging
    area, created; a SpecError naming ``--history`` when it cannot be used."""
    from ..storage import Location, resolve

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
    return root, remote, staging_root


def _clear_stale(staging_root: Any, name: str, remote: bool) -> None:
    """Remove what a killed earlier attempt at this date left in the staging area (its lock is held)."""
    if remote:
        for stale in staging_root.iterdir():
            if stale.name.startswith(f"{name}."):
                stale.rmtree()
    for stale in ([] if remote else staging_root.glob(f"{name}.*")):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _plan_warm_start(spec: SweepSpec, previous: list[Night], k: int, name: str, say: Callable[[str], None]
                     ) -> tuple[list[dict[str, Any]], list[Night], list[str]]:
    """:func:`warm_start_points` of the previous nights, said aloud."""
    points, sources, notes = warm_start_points(spec, previous, k)
    if points:
        say(f"nightly {name}: warm start with {len(points)} configuration(s) from "
            + ", ".join(partition_name(n.date) for n in sources))
    else:
        say(f"nightly {name}: no warm start" + ("" if previous else " (first night)"))
    for note in notes:
        say(f"  warm start: {note}")
    return points, sources, notes


def _run_staged(run: Callable[..., "RunResult"], spec: SweepSpec, staging: Any, remote: bool,
                **kwargs: Any) -> "RunResult":
    """Run the sweep into ``staging``; a night that fails (or is interrupted) leaves no staging copy."""
    if not remote:
        staging.mkdir()
    try:
        return run(spec, staging, **kwargs)
    except BaseException:
        if remote:
            staging.rmtree()
        else:
            shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish_local(staging_root: Path, staging: Path, target: Path, name: str) -> bool:
    """Swap the staging copy in as the date's partition (renames inside the history); True if it
    replaced an earlier run of the date."""
    replaced = target.exists()
    old = staging_root / f"{name}.replaced-{secrets.token_hex(4)}"
    if replaced:
        os.replace(target, old)  # both renames stay inside HISTORY: one filesystem
    os.replace(staging, target)
    if replaced:
        shutil.rmtree(old, ignore_errors=True)
    return replaced


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
        address, view, ray_resources: as for :func:`orchestrator.execution.run_sweep`.
        log: where to say what happens (warm start, replacement); default: nowhere.
        run: the function that runs the sweep (default :func:`orchestrator.execution.run_sweep`;
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
    root, remote, staging_root = _open_history(history)
    if run is None:
        from ..execution import run_sweep as run

    name = partition_name(night)
    lock = _remote_lock_path(root, name) if remote else staging_root / f"{name}.lock"
    with _Lock(lock, night):
        _clear_stale(staging_root, name, remote)
        previous = [n for n in read_nights(root) if n.date < night]
        points, sources, notes = _plan_warm_start(spec, previous, warm_start, name, say)
        staging = staging_root / f"{name}.{secrets.token_hex(4)}"
        result = _run_staged(run, spec, staging, remote, address=address, view=view, ray_resources=ray_resources,
                             warm_start=points or None)
        comparison = None
        if result.selected is not None:
            from ..results.files import read_run_info

            run_dir = result.run_dir if remote else Path(result.run_dir)
            info = read_run_info(run_dir)
            comparison = compare(spec.metric_name, spec.mode, result.best_value, dict(result.test_metrics), previous,
                                 tolerance, costs=run_costs(run_dir, info), watch=watched_costs(spec),
                                 test_rows=(info.get("data") or {}).get("rows_test"))
        _update_run_json(result.run_dir if remote else Path(result.run_dir), {
            "date": night.isoformat(), "history": str(root),
            "warm_start": points, "warm_start_from": [partition_name(n.date) for n in sources],
            "warm_start_notes": notes, "comparison": None if comparison is None else comparison.to_dict(),
        })
        target = root / name
        run_name = result.run_dir.name if remote else Path(result.run_dir).name
        replaced = (_publish_remote(staging, run_name, target) if remote
                    else _publish_local(staging_root, staging, target, name))
        if replaced:
            say(f"nightly {name}: replaced the earlier run of this date")
    return NightlyResult(night, target, _published(result, target / run_name), points,
                         [partition_name(n.date) for n in sources], notes, comparison, replaced)


def _published(result: "RunResult", run_dir: Any) -> "RunResult":
    """The night's result with every path in it (the run, its model) where the night now lies: the
    staging copy they were written to is gone once the night is renamed (or copied) into place."""
    model = result.model
    staged = str(result.run_dir).rstrip("/") + "/"
    if model and str(model).startswith(staged):
        model = f"{run_dir}/{str(model)[len(staged):]}"
    return dataclasses.replace(result, run_dir=run_dir, model=model)
