"""What one run carries from its start to its end, and what it leaves behind.

:class:`RunContext` (defined below the strategies, in :mod:`orchestrator.strategy`, and named here
for the execution side) is handed to a strategy and to
:func:`~orchestrator.execution.finalize.finalize`; :class:`RunResult` is what
:func:`~orchestrator.execution.run.run_sweep` returns. Imports neither Ray nor pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..strategy import RunContext

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
    # no result because no trial was feasible: the constraint that ruled out most and the closest trial
    reason: str | None = None
    # why the select rule picked the selected trial (several objectives, constraints or a rule
    # other than best): run.json's select.why
    why: str | None = None
    # the line `sweep run` prints of the one test score: "test (once): test_accuracy=0.9500 ...",
    # "test (once, refit on train+val): ...", "test (once): none (data.split.test is 0)"
    test_line: str = ""
