"""A run from start to end: ``sweep run`` (:func:`run_sweep`) and ``sweep resume`` (:func:`resume_sweep`).

The data flow of one run: the spec's data is prepared while Ray starts (:mod:`.ray_start`), the
run directory and its run.json are made (for a run on a URI, a local staging copy mirrored there),
the spec's strategy (:mod:`.strategies`) runs the search and reports trial events into the sink
(:mod:`.events`), and :func:`~orchestrator.execution.finalize.finalize` selects, tests once and
writes the results. A failure on the way leaves the run resumable (:class:`.lifecycle.RunGuard`).
Imports Ray only once a run starts.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..progress import ProgressView
from .context import JOURNAL, RunContext, RunResult
from .events import EventSink
from .finalize import finalize
from ..decisions.space import count_trials
from ..storage import drop_staging, staging
from ..training.probe import check_model, lines_before
from ..stats_file import stamp
from .lifecycle import RunGuard, run_info
from .ray_start import RayLogs, RayStart, check_fits, connect_ray, describe_ray, keep_embedded, resolve_resources
from .strategies import STRATEGIES, RunOptions, Strategy, make_strategy

if TYPE_CHECKING:
    from .. import data as data_mod
    from ..spec import SweepSpec

__all__ = ["run_sweep", "resume_sweep"]


def run_sweep(spec: SweepSpec, out: str | Path = "results", *, address: str | None = None,
              view: ProgressView | None = None, ray_resources: dict[str, float] | None = None,
              warm_start: list[dict[str, Any]] | None = None, tensorboard: bool = False,
              budget_s: float | None = None, dashboard: bool = False,
              cancel: threading.Event | None = None) -> RunResult:
    """Run a sweep end to end and write its run directory.

    Args:
        spec: the validated sweep.
        out: parent directory of run directories: a local path, or a URI pyarrow can write
            (``s3://bucket/prefix``, ``gs://...``, ``file:///...``; see :mod:`orchestrator.storage`).
        address: a Ray cluster to connect to; None starts Ray embedded (or reuses one already
            initialised in this process).
        view: progress display (a default one on stdout when None).
        ray_resources: ``num_cpus``/``num_gpus`` for an embedded Ray (default: what the machine has).
        warm_start: configurations to try first (the search algorithm's ``points_to_evaluate``;
            each replaces one sample; hyperparameters a point leaves out are sampled as usual).
        tensorboard: also write each trial's per-epoch curves as TensorBoard event files (in its
            directory under ``RUN_DIR/tune``; ``tensorboard --logdir RUN_DIR/tune``).
        budget_s: wall-clock seconds the search may take, counted from this call (``sweep
            compare``): a parallel sweep gets Ray Tune's ``time_budget_s`` (what is left of it when
            the Tuner starts), the babysitter a deadline. The final test evaluation comes after it.
            None: no time limit.
        dashboard: start Ray's dashboard (on 127.0.0.1) with the embedded Ray this starts
            (``--dashboard``); a cluster's or an already running Ray keeps its own.
        cancel: when set (by the warm runtime's host, its client gone), the search stops and the
            run is left incomplete and resumable, as after an interrupt. None: an event of the
            run's own, which Ctrl-C sets while the search runs in the main thread.

    Returns:
        A :class:`RunResult`.

    Raises:
        SpecError: the spec's data cannot be used (nothing is left running).
        UsageError: ``out`` cannot be written, or a trial asks for more than any node has.
        RunFailed: anything else failed once the run had started (the run is left resumable,
            the traceback is in ``RUN_DIR/traceback.txt``).
    """
    started = time.time()
    from ..results import new_run_id
    from ..storage import Location, Mirror, resolve

    where = resolve(out, "--out")  # an unknown scheme or an unreachable bucket fails before Ray starts
    # A user's data file or loader may be unusable (a bad value, a class too rare to stratify), and
    # so may a user's model builder: they are read, called and built before Ray starts, so a bad one
    # starts nothing. A built-in data set for a built-in model loads while Ray (and its workers'
    # TensorFlow import) starts; it fails only on a bad data.samples (Ray is then shut down).
    early = (load_data_and_check_model(spec, view) if spec.data.dataset is None or spec.model.kind == "builder"
             else None)
    # on a cluster the code the spec names goes with the job, so its builder or loader imports on every node
    ray_start = RayStart(address, ray_resources, spec=spec, out=out, dashboard=dashboard)
    try:
        run_id = new_run_id(spec.name, started)
        mirror: Mirror | None = None
        if isinstance(where, Location):  # tables and journal staged locally, copied there
            run_dir = staging(run_id)
            mirror = Mirror(run_dir, where / run_id)
        else:
            run_dir = where / run_id
        prepared, view = early or load_data_and_check_model(spec, view)
        stamp("data_ready")
    except BaseException:
        ray_start.abandon()
        raise
    options = RunOptions(warm_start=warm_start, tensorboard=tensorboard, budget_s=budget_s,
                         cancel=cancel or threading.Event())
    guard: RunGuard | None = None
    try:
        with RayLogs.held() as logs, RunGuard(logs) as guard:
            started_ray = ray_start.join()
            if ray_start.shipped:  # what went to the cluster, said once the progress view exists
                view.print(ray_start.shipped)
            ctx, strategy = _start(spec, prepared, view, run_id, run_dir, mirror, started, options, address,
                                   started_ray, guard)
            return _run_strategy(ctx, strategy)
    finally:
        _close(guard, mirror, run_dir, bool(ray_start.started))


def load_data_and_check_model(spec: SweepSpec, view: ProgressView | None,
                              console: Any = None) -> tuple[data_mod.Prepared, ProgressView]:
    """Load and split the data (:func:`orchestrator.data.load_for`) and check the model can be built
    on it (a bad file or builder fails here, before anything starts); make the view and print the
    data line and the model's lines on it."""
    from .. import data as data_mod

    raw, prepared = data_mod.load_for(spec)
    model = check_model(spec, prepared)
    view = view or ProgressView(spec.name, count_trials(spec), spec.metric_name, spec.mode, list(spec.searched),
                                console=console)
    view.print(data_line(raw.name, prepared.report))
    for line in lines_before(spec, prepared, model):
        view.print(line)
    return prepared, view


def data_line(name: str, rep: dict[str, Any]) -> str:
    """What ``sweep run`` says of the data it prepared: rows per split, then what was done to a
    table (dropped, imputed, one-hot encoded) or the shape of one example."""
    rows = f"data {name}: {rep['rows_train']} train / {rep['rows_val']} val / {rep['rows_test']} test rows, "
    shape = rep.get("input_shape")
    if rep.get("source", "table") != "table":  # arrays: an npz file, an image folder, a loader's arrays
        return rows + f"examples shaped {tuple(shape or (rep['n_features'],))} ({rep['source']})"
    return (rows + f"{rep['n_features']} features; dropped {rep['rows_dropped_missing_target']} rows without a "
            f"target, imputed {sum(rep['missing_values_imputed'].values())} missing values, one-hot encoded "
            f"{len(rep['categorical_columns'])} columns"
            + (f"; examples shaped {tuple(shape)}" if shape and len(shape) > 1 else ""))


def _start(spec: SweepSpec, prepared: data_mod.Prepared, view: ProgressView, run_id: str, run_dir: Path,
           mirror: Any, started: float, options: RunOptions, address: str | None, started_ray: bool,
           guard: RunGuard) -> tuple[RunContext, Strategy]:
    """Make the run directory, its run.json and its tables; the context the strategy runs in."""
    from ..results import Goals, RunTables, clean_json, write_json

    requested = spec.resources
    spec = resolve_resources(spec)  # `auto` -> what this Ray instance or cluster has
    for note in check_fits(spec, Path(spec.source or "spec").name):
        view.print(f"note: {note}")
    run_dir.mkdir(parents=True, exist_ok=False)
    if mirror is not None:
        try:
            mirror.remote.mkdir()
        except OSError as e:  # a bucket that does not exist, no permission to write
            raise UsageError("--out", f"{mirror.remote}: cannot write: {str(e).splitlines()[0]}") from None
    strategy = make_strategy(spec.strategy, options)
    about_ray, hosts = describe_ray(address, started_ray)
    info = run_info(spec, run_id, started, ray_info=about_ray, hosts=hosts,
                    planned_trials=strategy.planned_trials(spec), budget_s=options.budget_s, requested=requested,
                    data_report=prepared.report,
                    tensorboard_dir=str(run_dir / "tune") if options.tensorboard else None)
    tables = RunTables(run_id, spec.metric_name, spec.mode, strategy=spec.strategy,
                       resources=spec.resources.model_dump(), goals=Goals.of(spec))
    ctx = RunContext(spec, prepared, tables, info, run_dir, view, EventSink(tables, view, run_dir, mirror),
                     mirror=mirror, started=started,
                     deadline=None if options.budget_s is None else started + options.budget_s,
                     stopped_reason="budget" if options.budget_s is not None else "interrupted")
    guard.ctx, guard.resumable = ctx, strategy.cannot_resume is None
    write_json(clean_json(info), run_dir / "run.json")
    tables.open_journal(run_dir / JOURNAL)
    tables.flush(run_dir)
    if mirror is not None:
        mirror.push()
    return ctx, strategy


def _run_strategy(ctx: RunContext, strategy: Strategy) -> RunResult:
    """The search, then the one end every run has; the strategy's actors are released either way."""
    try:
        strategy.run(ctx)
        cancel = strategy.options.cancel
        if cancel is not None and cancel.is_set():  # Ctrl-C, or its client went away: no selection, left resumable
            raise KeyboardInterrupt
        return finalize(ctx, strategy)
    finally:
        strategy.close()


def _close(guard: RunGuard | None, mirror: Any, run_dir: Path, started_ray: bool) -> None:
    """However the run ended: its journal closed, its staging copy dropped, the Ray it started kept
    warm for the process's next run (Ray stops it when the process exits)."""
    ctx = guard.ctx if guard is not None else None
    if ctx is not None:
        ctx.tables.close_journal()
    if mirror is not None:
        drop_staging(run_dir)
    keep_embedded(started_ray)  # an embedded Ray stays for this process's next run (a notebook), restocked


def resume_sweep(run_dir: str | Path, *, address: str | None = None, view: ProgressView | None = None,
                 ray_resources: dict[str, float] | None = None, console: Any = None,
                 cancel: threading.Event | None = None) -> RunResult:
    """Continue an interrupted run in place (``sweep resume``).

    Ray Tune restores the experiment from ``RUN_DIR/tune``: finished trials stay finished,
    unfinished and errored ones continue from their last checkpoints. The tables are rebuilt from
    the run's journal, so re-reported epochs replace their rows instead of duplicating them.

    Raises:
        UsageError: not a run directory, a complete one, one of a strategy that cannot be resumed,
            or one with nothing Ray Tune can restore.
        RunFailed: as for :func:`run_sweep`.

    ``cancel``: as for :func:`run_sweep` (the warm runtime's host sets it when the client went away).
    """
    from ..storage import RUN_FILES, Location, Mirror, resolve

    where = resolve(run_dir, "RUN_DIR")
    mirror: Mirror | None = None
    if isinstance(where, Location):  # pull the run's own files into a local staging copy
        if not (where / "run.json").is_file():
            raise UsageError(where.name, f"{where}: not a run directory (no run.json)")
        local = staging(where.name)
        where.download(RUN_FILES, local)
        mirror = Mirror(local, where)
    else:
        local = where
    try:
        info, spec = _read_run(local, where, has_tune=(where / "tune").is_dir())
        prepared, view = load_data_and_check_model(spec, view, console)
        return _resume(spec, prepared, view, info, local, where, mirror, address, ray_resources, cancel)
    finally:
        if mirror is not None:
            drop_staging(local)


def _read_run(local: Path, shown: Any, has_tune: bool) -> tuple[dict[str, Any], SweepSpec]:
    """run.json of a run that can be resumed, and its spec; else the one-line reason why not."""
    from ..spec import SweepSpec

    name = getattr(shown, "name", None) or local.name
    if not (local / "run.json").is_file():
        raise UsageError(name, f"{shown}: not a run directory (no run.json)")
    try:
        info = json.loads((local / "run.json").read_text(encoding="utf-8"))
        refusal = STRATEGIES[info.get("strategy") or "parallel"].cannot_resume
        spec = None if refusal else SweepSpec.model_validate(info["spec"])
    except Exception as e:  # unreadable or from an incompatible version
        raise UsageError(f"{name}: run.json", f"cannot be read back: {str(e).splitlines()[0]}") from None
    if refusal or spec is None:
        raise UsageError(name, f"{shown} {refusal}")
    if info.get("status") == "complete":
        raise UsageError(name, f"{shown} is complete; nothing to resume")
    if not (local / JOURNAL).is_file() or not has_tune:
        raise UsageError(name, f"{shown} has no journal or Ray Tune state to resume from")
    return info, spec


def _resume(spec: SweepSpec, prepared: data_mod.Prepared, view: ProgressView, info: dict[str, Any], local: Path,
            shown: Any, mirror: Any, address: str | None, ray_resources: dict[str, float] | None,
            cancel: threading.Event | None = None) -> RunResult:
    from ..results import Goals, RunTables, clean_json, write_json
    from .tune_setup import can_restore

    name = getattr(shown, "name", None) or local.name
    guard: RunGuard | None = None
    started_ray = False
    try:
        with RayLogs.held() as logs, RunGuard(logs) as guard:
            started_ray = connect_ray(address, ray_resources, spec=spec, out=local.parent)
            spec = resolve_resources(spec)
            tables = RunTables.replay(local / JOURNAL, info["run_id"], spec.metric_name, spec.mode,
                                      resources=spec.resources.model_dump(), goals=Goals.of(spec))
            guard.ctx = ctx = RunContext(spec, prepared, tables, info, local, view,
                                         EventSink(tables, view, local, mirror), mirror=mirror,
                                         started=info["started_at"])
            for note in check_fits(spec):
                view.print(f"note: {note}")
            if not can_restore(ctx):
                raise UsageError(name, f"{shown}/tune holds no Ray Tune experiment state to restore")
            tables.open_journal(local / JOURNAL)
            info.update({"status": "running", "ended_at": None,
                         "resumed": [*info.get("resumed", []), {"at": time.time(), "pid": os.getpid()}]})
            write_json(clean_json(info), local / "run.json")
            if mirror is not None:
                mirror.push()
            return _run_strategy(ctx, make_strategy(spec.strategy, RunOptions(restore=True, cancel=cancel or threading.Event())))
    finally:
        if guard is not None and guard.ctx is not None:
            guard.ctx.tables.close_journal()
        keep_embedded(started_ray)
