"""Driver-side Ray Tune callback: every report becomes an epoch row, every ending a trial row.

Imports Ray (the runner imports this module only when a sweep starts).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Iterator

from ray.tune import Callback
from rich.markup import escape

from .progress import ProgressView
from .results import RunTables, classify_failure, end_status
from .space import max_epochs, resolve_config
from .spec import SweepSpec

__all__ = ["Recorder", "error_text", "failure", "attach"]

log = logging.getLogger(__name__)

# Ray Tune pickles its callbacks with the experiment state and unpickles them on restore. The
# tables and the terminal cannot travel in that pickle, so a restored Recorder picks them up here,
# by run directory, from the resume that is restoring it. A run on a URI is keyed by its URI (its
# local staging directory is a new one on every resume) and also gets the staging directory and
# the mirror that copies it to the URI.
_LIVE: dict[str, tuple[RunTables, ProgressView, Path, Any]] = {}


def _key(run_dir: Path, location: Any = None) -> str:
    # a URI's filesystem and path (its query, endpoint options, may be spelt differently on resume)
    return f"{location.fs.type_name}://{location.path}" if location is not None else str(Path(run_dir).resolve())


@contextlib.contextmanager
def attach(run_dir: Path, tables: RunTables, view: ProgressView, mirror: Any = None) -> Iterator[None]:
    """Make ``tables`` and ``view`` the ones a Recorder of ``run_dir`` unpickled meanwhile uses.

    ``mirror`` (a :class:`~orchestrator.storage.Mirror`): the run lives at ``mirror.remote`` and
    ``run_dir`` is its local staging copy.
    """
    key = _key(run_dir, mirror.remote if mirror is not None else None)
    _LIVE[key] = (tables, view, Path(run_dir), mirror)
    try:
        yield
    finally:
        _LIVE.pop(key, None)

FLUSH_EVERY_S = 10.0


def _chain(err: BaseException) -> list[Any]:
    """``err`` and what it wraps (Ray's ``cause``, Python's ``__cause__``/``__context__``)."""
    seen: list[Any] = []
    todo = [err]
    while todo and len(seen) < 10:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [getattr(e, "cause", None) if isinstance(getattr(e, "cause", None), BaseException) else None,
                 e.__cause__, e.__context__]
    return seen


def failure(trial: Any) -> tuple[str, str]:
    """Why ``trial`` last failed: ``(reason, one-line message)`` (see :func:`classify_failure`)."""
    try:
        err = None
        local = getattr(trial, "pickled_error_file", None)  # written at once; storage gets it later
        if local and os.path.exists(local):
            from ray import cloudpickle

            with open(local, "rb") as f:
                err = cloudpickle.load(f)
        if err is None:
            err = trial.get_pickled_error()
        if err is not None:
            chain = _chain(err)
            types = [c.__name__ for e in chain for c in type(e).__mro__]
            root = chain[0]
            for e in chain:  # the user's exception rather than Ray's wrapper around it
                if not type(e).__module__.startswith("ray."):
                    root = e
                    break
            text = f"{type(root).__name__}: {root}" if root is not chain[0] or not str(root) else str(root)
            return classify_failure(types, text)
    except Exception:
        pass
    try:
        lines = [ln for ln in str(trial.get_error() or "").splitlines() if ln.strip()]
        return classify_failure([], lines[-1] if lines else "error")
    except Exception:
        return "error", "error"


def error_text(trial: Any) -> str:
    """The one-line cause of a trial's failure."""
    return failure(trial)[1]


class Recorder(Callback):
    """Feeds :class:`RunTables` and the progress view from Tune's events.

    Tune pickles its callbacks with the experiment state; the tables and the terminal stay out
    of that pickle (a restored recorder is given new ones by the runner).
    """

    def __init__(self, tables: RunTables, spec: SweepSpec, view: ProgressView, run_dir: Path,
                 stopper: Any = None, mirror: Any = None) -> None:
        self.tables, self.spec, self.view, self.run_dir = tables, spec, view, Path(run_dir)
        self.stopper = stopper
        self.mirror = mirror  # a run on a URI: copies run_dir (local staging) there at each flush
        self.key = _key(self.run_dir, mirror.remote if mirror is not None else None)
        self.max_epochs = max_epochs(spec)
        self.last_flush = time.time()
        self.killed: set[str] = set()  # trials on_step_end killed at a time budget's deadline

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "run_dir": str(self.run_dir), "stopper": self.stopper, "key": self.key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.spec, self.run_dir, self.stopper = state["spec"], Path(state["run_dir"]), state["stopper"]
        self.key = state.get("key") or str(self.run_dir.resolve())
        live = _LIVE.get(self.key)
        if live is None and len(_LIVE) == 1:  # the run directory moved since: the one being resumed
            live = next(iter(_LIVE.values()))
        self.tables, self.view, self.mirror = (None, None, None)  # type: ignore[assignment]
        if live:
            self.tables, self.view, self.run_dir, self.mirror = live
        self.max_epochs = max_epochs(self.spec)
        self.killed = set()
        self.last_flush = time.time()

    def flush(self) -> None:
        """Write the tables (and copy the run directory to its URI, for a run on one).

        A copy that fails (a network hiccup) is logged and retried at the next flush; the sweep
        goes on. The copy at the end of the run is the one that must succeed.
        """
        self.tables.flush(self.run_dir)
        self._push()
        self.last_flush = time.time()

    def _push(self, names: tuple[str, ...] | None = None) -> None:
        if self.mirror is None:
            return
        try:
            self.mirror.push() if names is None else self.mirror.push(names)
        except Exception as e:  # noqa: BLE001 - retried at the next flush
            log.warning("could not copy the run directory to %s (will retry): %s", self.mirror.remote,
                        str(e).splitlines()[0] if str(e) else type(e).__name__)

    def get_state(self) -> dict | None:
        """Called by Tune just before it saves (and then uploads) its experiment state.

        For a run on a URI, the journal goes up first: the journal at the location is then always
        at least as recent as Tune's snapshot there, as it is on a local disk, so a resume never
        misses a trial that Tune's state says has finished. Nothing is stored in Tune's state.
        """
        if self.tables is not None:
            self._push(("journal.jsonl",))
        return None

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        """Past a time budget's deadline, kill the trials that have not reported an epoch yet.

        They are still starting (a worker importing TensorFlow under load): none has anything to
        lose, and Ray Tune would wait up to 10 s for each to acknowledge a stop. Trials that are
        training stop by themselves at their next batch (the trainable knows the deadline).
        """
        deadline = getattr(self.stopper, "deadline", None)
        if deadline is None or self.tables is None or time.time() < deadline:
            return
        import ray

        killed = self.killed
        reported = {tid for tid, _ in self.tables.epochs}
        for t in trials:
            actor = getattr(getattr(t, "temporary_state", None), "ray_actor", None)
            if (t.status == "RUNNING" and actor is not None and t.trial_id not in killed
                    and t.trial_id not in reported):
                killed.add(t.trial_id)
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # already gone
                    pass

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """The search is over (Ray Tune then reads every trial's results back for ``tuner.fit``'s
        ResultGrid, seconds with many trials under load): stamp when the training ended."""
        if self.tables is not None:
            self.tables.search_ended_at = time.time()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.tables is None:
            return
        self.tables.trial_started(trial.trial_id, resolve_config(self.spec, trial.config))
        self.view.set_running(sum(t.status == "RUNNING" or t is trial for t in trials))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self.tables is None or "epoch" not in result:
            return
        self._config_changed(trial, result)
        self.tables.epoch(trial.trial_id, result)
        value = float(result.get(self.spec.metric_name, math.nan))
        self.view.epoch(trial.trial_id, math.nan if result.get("diverged") else value,
                        self.tables.trials[trial.trial_id].config)
        if time.time() - self.last_flush > FLUSH_EVERY_S:
            self.flush()

    def _config_changed(self, trial: Any, result: dict) -> None:
        """PBT replaced this trial's config (exploit + explore): record it as an event."""
        t = self.tables.trials.get(trial.trial_id)
        if t is None:
            return
        new = resolve_config(self.spec, trial.config)
        if new == t.config:
            return
        changed = {k: (t.config.get(k), v) for k, v in new.items() if t.config.get(k) != v}
        detail = "; ".join(f"{k}: {old!r} -> {v!r}" for k, (old, v) in changed.items())
        self.tables.event(trial.trial_id, int(result.get("epoch", 0)) - 1, "scheduler", "exploit",
                          "pbt_exploit", detail)
        self.tables.set_config(trial.trial_id, new)

    def _ended(self, trial: Any, trials: list, errored: bool) -> None:
        if self.tables is None:
            return
        tables, spec = self.tables, self.spec
        if trial.trial_id not in tables.trials:
            tables.trial_started(trial.trial_id, resolve_config(spec, trial.config))
        t = tables.trials[trial.trial_id]
        limit = int(t.config.get("epochs") or self.max_epochs)
        status, reason = end_status(errored=errored, last=t.last, max_epochs=limit, scheduler=spec.scheduler.type,
                                    grace_period=spec.scheduler.grace_period,
                                    reduction_factor=spec.scheduler.reduction_factor)
        by_stopper = self.stopper.reason_for(trial.trial_id) if self.stopper is not None else None
        if status == "stopped" and by_stopper:
            reason = by_stopper
        error = ""
        if errored and trial.trial_id in self.killed:
            status, reason, errored = "stopped", "budget", False  # killed by on_step_end at the deadline
        if errored:
            reason, error = failure(trial)
        tables.trial_ended(trial.trial_id, status, reason, error)
        best, _ = tables.best(trial.trial_id)
        self.view.trial_finished(trial.trial_id, status, reason, len(tables.curve(trial.trial_id, spec.metric_name)),
                                 best, t.config)
        if error:  # the traceback is in the trial's error.txt under tune/
            self.view.print(f"  {trial.trial_id}: {escape(error)}")
        self.view.set_running(sum(x.status == "RUNNING" for x in trials if x is not trial))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, trials, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, trials, errored=True)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """The trial failed and Ray Tune restarts it (``max_failures``): count it, keep why."""
        if self.tables is None:
            return
        reason, error = failure(trial)
        self.tables.trial_retried(trial.trial_id, reason, error)
        self.view.print(f"trial {trial.trial_id} failed ({escape(error)}); retry {trial.num_failures} of "
                        f"{self.spec.max_failures} from its last checkpoint")
