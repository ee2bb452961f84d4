"""What a strategy reports about its trials: small frozen events, one per thing a trial does.

A strategy's trials (Ray Tune's, through :mod:`orchestrator.execution.tune_events`; the
babysitter's models, from :mod:`orchestrator.babysit.worker`) are reported as these values, and
one sink (:class:`orchestrator.execution.events.EventSink`) turns them into table rows. This
module sits below both sides: a worker process builds the events without importing rich, pandas
or the execution package (a Ray worker unpickles them from here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

__all__ = ["TrialStarted", "EpochReported", "Intervention", "TrialEnded", "TrialRetried", "SearchEnded",
           "TrialEvent"]


@dataclass(frozen=True)
class TrialStarted:
    """A trial started (again, after a failure or a resume); ``running``: trials running now."""

    trial_id: str
    config: dict[str, Any]
    running: int
    at: float | None = None


@dataclass(frozen=True)
class EpochReported:
    """A trial reported an epoch: ``row`` holds its metrics (see ``results.EPOCH_FIELDS``)."""

    trial_id: str
    row: dict[str, Any]


@dataclass(frozen=True)
class Intervention:
    """A decision about a running trial (a babysitter's change, PBT's exploit): one events row.

    ``config``: the trial's hyperparameters from now on, when the decision replaced them.
    """

    trial_id: str
    epoch: int
    source: str
    decision: str
    reason: str
    detail: str = ""
    at: float | None = None
    old_value: float | None = None
    new_value: float | None = None
    config: dict[str, Any] | None = None


@dataclass(frozen=True)
class TrialEnded:
    """A trial ended with ``status`` for ``reason`` (``error``: its one-line message).

    ``record_event``: add a stop row to events.parquet (False when the strategy recorded its own
    decision as an :class:`Intervention`). ``config``: recorded first when the trial never started.
    """

    trial_id: str
    status: str
    reason: str
    running: int
    at: float | None = None
    error: str = ""
    record_event: bool = True
    config: dict[str, Any] | None = None


@dataclass(frozen=True)
class TrialRetried:
    """A trial failed and is restarted from its last checkpoint (``attempt`` of ``allowed``)."""

    trial_id: str
    reason: str
    error: str
    attempt: int
    allowed: int


@dataclass(frozen=True)
class SearchEnded:
    """The search is over (what follows is reading results back and the final evaluation)."""

    at: float


TrialEvent = Union[TrialStarted, EpochReported, Intervention, TrialEnded, TrialRetried, SearchEnded]
