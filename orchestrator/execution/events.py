"""The one sink that turns trial events into table rows, progress and flushes.

A strategy (:mod:`orchestrator.execution.strategies`, :mod:`orchestrator.babysit`) reports what
its trials do as the small events of :mod:`orchestrator.trial_events` (re-exported here for the
execution side); :class:`EventSink` records each in the run's :class:`~orchestrator.results.RunTables`
(whose journal makes the run resumable), shows it in the progress view, and writes the tables
every :data:`FLUSH_EVERY_S` seconds (copying them to the run's URI, for a run on one). Imports
neither Ray nor TensorFlow.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from ..trial_events import (EpochReported, Intervention, SearchEnded, TrialEnded, TrialEvent, TrialRetried,
                            TrialStarted)

if TYPE_CHECKING:
    from ..progress import ProgressView
    from ..results import RunTables

__all__ = ["TrialStarted", "EpochReported", "Intervention", "TrialEnded", "TrialRetried", "SearchEnded",
           "TrialEvent", "EventSink", "FLUSH_EVERY_S"]

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 10.0


class EventSink:
    """Records trial events: table rows (and their journal), the progress view, periodic flushes.

    Args:
        tables: the run's tables.
        view: the terminal's progress view.
        run_dir: the local run directory the tables are written to.
        mirror: a run on a URI: a :class:`~orchestrator.storage.Mirror` copying ``run_dir`` there
            at every flush.
    """

    def __init__(self, tables: RunTables, view: ProgressView, run_dir: Path, mirror: Any = None) -> None:
        self.tables, self.view, self.run_dir, self.mirror = tables, view, Path(run_dir), mirror
        self.last_flush = time.time()

    def emit(self, event: TrialEvent) -> None:
        """Record ``event``; write the tables when the last write is :data:`FLUSH_EVERY_S` old."""
        self._record(event)
        if time.time() - self.last_flush > FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Write the tables (and copy the run directory to its URI, for a run on one).

        A copy that fails (a network hiccup) is logged and retried at the next flush; the sweep
        goes on. The copy at the end of the run is the one that must succeed.
        """
        self.tables.flush(self.run_dir)
        self.push()
        self.last_flush = time.time()

    def push(self, names: tuple[str, ...] | None = None) -> None:
        """Copy the run directory's files (or only ``names``) to its URI; a failure is logged."""
        if self.mirror is None:
            return
        try:
            self.mirror.push() if names is None else self.mirror.push(names)
        except Exception as e:  # noqa: BLE001 - retried at the next flush
            log.warning("could not copy the run directory to %s (will retry): %s", self.mirror.remote,
                        str(e).splitlines()[0] if str(e) else type(e).__name__)

    # -- one method per event ------------------------------------------------------------------
    @functools.singledispatchmethod
    def _record(self, event: Any) -> None:
        raise TypeError(f"not a trial event: {event!r}")

    @_record.register
    def _started(self, event: TrialStarted) -> None:
        self.tables.trial_started(event.trial_id, event.config, at=event.at)
        self.view.set_running(event.running)

    @_record.register
    def _epoch(self, event: EpochReported) -> None:
        tables, row = self.tables, event.row
        tables.epoch(event.trial_id, row)
        if row.get("infeasible"):  # not an epoch: the model broke a constraint before training (costs kept)
            return
        value = math.nan if row.get("diverged") else float(row.get(tables.metric, math.nan))
        self.view.epoch(event.trial_id, value, tables.trials[event.trial_id].config)

    @_record.register
    def _intervention(self, event: Intervention) -> None:
        self.tables.event(event.trial_id, event.epoch, event.source, event.decision, event.reason, event.detail,
                          at=event.at, old_value=event.old_value, new_value=event.new_value)
        if event.config is not None:
            self.tables.set_config(event.trial_id, event.config)

    @_record.register
    def _ended(self, event: TrialEnded) -> None:
        tables, tid = self.tables, event.trial_id
        if event.config is not None and tid not in tables.trials:
            tables.trial_started(tid, event.config)
        tables.trial_ended(tid, event.status, event.reason, event.error, at=event.at,
                           record_event=event.record_event)
        best, _ = tables.best(tid)
        self.view.trial_finished(tid, event.status, event.reason, len(tables.curve(tid, tables.metric)), best,
                                 tables.trials[tid].config)
        if event.error:  # the traceback is in the trial's error.txt under tune/
            self.view.print(f"  {tid}: {escape(event.error)}")
        self.view.set_running(event.running)

    @_record.register
    def _retried(self, event: TrialRetried) -> None:
        self.tables.trial_retried(event.trial_id, event.reason, event.error)
        self.view.print(f"trial {event.trial_id} failed ({escape(event.error)}); retry {event.attempt} of "
                        f"{event.allowed} from its last checkpoint")

    @_record.register
    def _search_ended(self, event: SearchEnded) -> None:
        self.tables.search_ended_at = event.at
