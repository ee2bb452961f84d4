"""What one run carries from its start to its end, and what it leaves behind.

:class:`RunContext` is handed to a strategy and to :func:`~orchestrator.execution.finalize.finalize`;
:class:`RunResult` is what :func:`~orchestrator.execution.run.run_sweep` returns. Imports neither
Ray nor pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .. import data as data_mod
    from ..progress import ProgressView
    from ..results import RunTables
    from ..spec import SweepSpec
    from .events import EventSink

__all__ = ["RunResult", "RunContext", "JOURNAL"]

JOURNAL = "journal.jsonl"  # every recorded report, appended at once: what a resume starts from


@dataclass(frozen=True)
class RunResult:
    """What a finished run left behind."""

    run_dir: Path  # or, for a run on a URI, its Location (str() is the URI)
    run_id: str
    status: str
    selected: str | None
    best_value: float | None
    test_metrics: dict[str, float]
    counts: dict[str, int]
    metric: str = ""
    model: str | None = None  # the exported model's file (RUN_DIR/model/model.keras), when there is one


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
        sink: turns the strategy's trial events into rows, progress and flushes.
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
    sink: EventSink
    mirror: Any = None
    started: float = 0.0
    deadline: float | None = None
    stopped_reason: str = "interrupted"
    phase: str = "setting up the run"

    @property
    def location(self) -> Any:
        """Where the run lives: the run directory, or the URI its staging copy is mirrored to."""
        return self.run_dir if self.mirror is None else self.mirror.remote
