"""What every strategy is: the interface, the options of a run, and the run a strategy is handed.

A strategy is how a run spends its compute (``strategy: parallel`` through Ray Tune, ``strategy:
babysit`` one model at a time). It reports what its trials do as the events of
:mod:`orchestrator.trial_events` into ``ctx.sink``; then the run's end
(:func:`orchestrator.execution.finalize.finalize`) selects on validation and asks it to score the
selected trial on the test split, once.

This module sits below the packages that implement strategies (:mod:`orchestrator.execution`,
:mod:`orchestrator.babysit`), so that each imports it and neither imports the other's side: the
execution package holds the registry and the parallel strategy, the babysit package its own.
Imports neither Ray, TensorFlow, pandas nor rich.
"""

from __future__ import annotations

import threading

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .spec import count_trials

if TYPE_CHECKING:
    from . import data as data_mod
    from .progress import ProgressView
    from .results import RunTables
    from .spec import SweepSpec
    from .trial_events import TrialEvent

__all__ = ["Sink", "RunOptions", "RunContext", "Strategy"]


class Sink(Protocol):
    """Where a strategy reports its trial events (:class:`orchestrator.execution.events.EventSink`)."""

    def emit(self, event: TrialEvent) -> None:
        """Record one trial event."""
        ...


@dataclass(frozen=True)
class RunOptions:
    """How ``sweep run`` (or ``sweep resume``) asked for the run, beyond the spec.

    Attributes:
        warm_start: configurations to try first (a search algorithm's ``points_to_evaluate``).
        tensorboard: also write each trial's curves for TensorBoard.
        budget_s: the search's wall-clock budget from the run's start, or None.
        restore: continue an interrupted run from its saved state (``sweep resume``).
        cancel: set by the warm runtime when the sweep's client went away: the search stops (its
            trials' resources released) and the run is left incomplete, as an interrupt leaves it.
    """

    warm_start: list[dict[str, Any]] | None = None
    tensorboard: bool = False
    budget_s: float | None = None
    restore: bool = False
    cancel: threading.Event | None = None


@dataclass
class RunContext:
    """One run under way: its spec, data, tables, run.json contents and where they are written.

    Attributes:
        spec: the sweep, resources resolved.
        prepared: the prepared data (a strategy hands trials everything but the test split).
        tables: the run's trials, epochs and events (fed by ``sink``).
        info: the contents of run.json (written at the start and by finalize).
        run_dir: the local run directory (for a run on a URI, its staging copy).
        view: the terminal's progress view.
        sink: turns the strategy's trial events into rows, progress and flushes (the execution
            side's :class:`~orchestrator.execution.events.EventSink`).
        mirror: a run on a URI: copies ``run_dir`` there (None for a local run).
        started: when the run started (epoch seconds; a resume keeps the first start).
        deadline: a time budget's end (epoch seconds), or None.
        stopped_reason: the stop reason of trials still running when the search ended.
        phase: what the run is doing now (``the search``, ``the end of the search``, ``the final
            evaluation``, ``writing the results``), named in the one-line message if it fails.
    """

    spec: SweepSpec
    prepared: data_mod.Prepared
    tables: RunTables
    info: dict[str, Any]
    run_dir: Path
    view: ProgressView
    sink: Sink
    mirror: Any = None
    started: float = 0.0
    deadline: float | None = None
    stopped_reason: str = "interrupted"
    phase: str = "setting up the run"

    @property
    def location(self) -> Any:
        """Where the run lives: the run directory, or the URI its staging copy is mirrored to."""
        return self.run_dir if self.mirror is None else self.mirror.remote


class Strategy:
    """One way to spend a run's compute. Subclasses implement :meth:`run` and :meth:`evaluate`.

    Attributes:
        name: the spec's ``strategy`` value.
        cannot_resume: what ``sweep resume`` says after the run directory when it refuses a run
            of this strategy (None: it can be resumed).
    """

    name: ClassVar[str] = ""
    cannot_resume: ClassVar[str | None] = "cannot be resumed (run it again)"

    def __init__(self, options: RunOptions) -> None:
        self.options = options

    def planned_trials(self, spec: SweepSpec) -> int:
        """How many trials the run plans (``budget.trials`` in run.json, the progress total)."""
        return count_trials(spec)

    def run(self, ctx: RunContext) -> None:
        """Run the search, reporting every trial event to ``ctx.sink``; return when it is over.

        Sets ``ctx.info["search_ended_at"]`` (when the training ended) before it returns.
        """
        raise NotImplementedError

    def evaluate(self, ctx: RunContext, selected: str, test_data: Any, refit_epochs: int | None = None) -> Any:
        """Score the ``selected`` trial's best weights (or, with ``refit_epochs``, its configuration
        trained again on train+val through the trials' epoch path) on ``test_data``'s test split,
        the run's only look at it, and export the scored model: a
        :class:`~orchestrator.training.evaluate.TestOutcome` (with the refit's epoch rows); None
        when its weights are gone."""
        raise NotImplementedError

    def tidy(self, ctx: RunContext) -> None:
        """After the final evaluation of a run that ended well: drop what is no longer needed."""

    def close(self) -> None:
        """Release what the strategy holds in Ray (its actors); called however the run ended."""
