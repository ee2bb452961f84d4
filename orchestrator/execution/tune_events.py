"""Ray Tune's callbacks, translated into trial events for the run's :class:`EventSink`.

:class:`TuneEvents` is the parallel strategy's only listener on Tune: every report becomes an
:class:`EpochReported`, every ending a :class:`TrialEnded` with the status and stop reason the
tables use. Imports Ray (the parallel strategy imports this module when a sweep starts).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Iterator

from ray.tune import Callback

from ..internals import trial_actor, trial_error
from ..results import classify_failure, end_status
from ..decisions.space import max_epochs, resolve_config
from ..spec import SweepSpec
from .events import EpochReported, EventSink, Intervention, SearchEnded, TrialEnded, TrialRetried, TrialStarted

__all__ = ["TuneEvents", "attach", "failure"]

# Ray Tune pickles its callbacks with the experiment state and unpickles them on restore. The
# sink (tables, terminal) cannot travel in that pickle, so a restored TuneEvents picks it up here,
# by run directory, from the resume that is restoring it. A run on a URI is keyed by its URI (its
# local staging directory is a new one on every resume).
_LIVE: dict[str, EventSink] = {}


def _key(run_dir: Path, location: Any = None) -> str:
    # a URI's filesystem and path (its query, endpoint options, may be spelt differently on resume)
    return f"{location.fs.type_name}://{location.path}" if location is not None else str(Path(run_dir).resolve())


def _sink_key(sink: EventSink) -> str:
    return _key(sink.run_dir, sink.mirror.remote if sink.mirror is not None else None)


@contextlib.contextmanager
def attach(sink: EventSink) -> Iterator[None]:
    """Make ``sink`` the one a :class:`TuneEvents` of its run, unpickled meanwhile, reports to."""
    key = _sink_key(sink)
    _LIVE[key] = sink
    try:
        yield
    finally:
        _LIVE.pop(key, None)


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
    """Why ``trial`` last failed: ``(reason, one-line message)`` (see ``results.classify_failure``)."""
    try:
        err = trial_error(trial)
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


class TuneEvents(Callback):
    """Feeds the run's :class:`EventSink` from Tune's callbacks.

    Tune pickles its callbacks with the experiment state; the sink stays out of that pickle (a
    restored one is given the resume's sink, see :func:`attach`).
    """

    def __init__(self, sink: EventSink, spec: SweepSpec, stopper: Any = None) -> None:
        self.sink: EventSink | None = sink
        self.spec, self.stopper = spec, stopper
        self.key = _sink_key(sink)
        self.max_epochs = max_epochs(spec)
        self.killed: set[str] = set()  # trials on_step_end killed at a time budget's deadline

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "stopper": self.stopper, "key": self.key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.spec, self.stopper, self.key = state["spec"], state["stopper"], state["key"]
        sink = _LIVE.get(self.key)
        if sink is None and len(_LIVE) == 1:  # the run directory moved since: the one being resumed
            sink = next(iter(_LIVE.values()))
        self.sink = sink
        self.max_epochs = max_epochs(self.spec)
        self.killed = set()

    def get_state(self) -> dict | None:
        """Called by Tune just before it saves (and then uploads) its experiment state.

        For a run on a URI, the journal goes up first: the journal at the location is then always
        at least as recent as Tune's snapshot there, as it is on a local disk, so a resume never
        misses a trial that Tune's state says has finished. Nothing is stored in Tune's state.
        """
        if self.sink is not None:
            self.sink.push(("journal.jsonl",))
        return None

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        """Past a time budget's deadline, kill the trials that have not reported an epoch yet.

        They are still starting (a worker importing TensorFlow under load): none has anything to
        lose, and Ray Tune would wait up to 10 s for each to acknowledge a stop. Trials that are
        training stop by themselves at their next batch (the trainable knows the deadline).
        """
        deadline = getattr(self.stopper, "deadline", None)
        if deadline is None or self.sink is None or time.time() < deadline:
            return
        import ray

        reported = {tid for tid, _ in self.sink.tables.epochs}
        for t in trials:
            actor = trial_actor(t)
            if t.status == "RUNNING" and actor is not None and t.trial_id not in self.killed | reported:
                self.killed.add(t.trial_id)
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # already gone
                    pass

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """The search is over (Ray Tune then reads every trial's results back for ``tuner.fit``'s
        ResultGrid, seconds with many trials under load): stamp when the training ended."""
        if self.sink is not None:
            self.sink.emit(SearchEnded(time.time()))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.sink is not None:
            running = sum(t.status == "RUNNING" or t is trial for t in trials)
            self.sink.emit(TrialStarted(trial.trial_id, resolve_config(self.spec, trial.config), running))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self.sink is None or "epoch" not in result:
            return
        self._config_changed(trial, result)
        self.sink.emit(EpochReported(trial.trial_id, result))

    def _config_changed(self, trial: Any, result: dict) -> None:
        """PBT replaced this trial's config (exploit + explore): record it as an event."""
        assert self.sink is not None
        t = self.sink.tables.trials.get(trial.trial_id)
        if t is None:
            return
        new = resolve_config(self.spec, trial.config)
        if new == t.config:
            return
        changed = {k: (t.config.get(k), v) for k, v in new.items() if t.config.get(k) != v}
        detail = "; ".join(f"{k}: {old!r} -> {v!r}" for k, (old, v) in changed.items())
        self.sink.emit(Intervention(trial.trial_id, int(result.get("epoch", 0)) - 1, "scheduler", "exploit",
                                    "pbt_exploit", detail, config=new))

    def _ended(self, trial: Any, trials: list, errored: bool) -> None:
        if self.sink is None:
            return
        spec, tid = self.spec, trial.trial_id
        known = self.sink.tables.trials.get(tid)
        config = known.config if known is not None else resolve_config(spec, trial.config)
        status, reason = end_status(errored=errored, last=known.last if known is not None else {},
                                    max_epochs=int(config.get("epochs") or self.max_epochs),
                                    scheduler=spec.scheduler.type, grace_period=spec.scheduler.grace_period,
                                    reduction_factor=spec.scheduler.reduction_factor)
        by_stopper = self.stopper.reason_for(tid) if self.stopper is not None else None
        if status == "stopped" and by_stopper:
            reason = by_stopper
        error = ""
        if errored and tid in self.killed:
            status, reason, errored = "stopped", "budget", False  # killed by on_step_end at the deadline
        if errored:
            reason, error = failure(trial)
        running = sum(x.status == "RUNNING" for x in trials if x is not trial)
        self.sink.emit(TrialEnded(tid, status, reason, running, error=error,
                                  config=None if known is not None else config))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, trials, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial, trials, errored=True)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """The trial failed and Ray Tune restarts it (``max_failures``): count it, keep why."""
        if self.sink is None:
            return
        reason, error = failure(trial)
        self.sink.emit(TrialRetried(trial.trial_id, reason, error, trial.num_failures, self.spec.max_failures))
