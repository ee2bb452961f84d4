"""What every run keeps around its strategy: its run.json and its failures.

- :func:`run_info` is the run.json a run starts with;
- :class:`RunGuard`: a failure after the run started leaves the run resumable (run.json says
  ``incomplete``, the tables hold every finished epoch) and, when it is not the user's input,
  becomes one :class:`~orchestrator.errors.RunFailed` line naming what failed and the file its
  traceback went to.

Imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import RunFailed, SpecError, UsageError
from ..decisions.space import max_epochs

if TYPE_CHECKING:
    from ..results import RunTables
    from ..spec import SweepSpec
    from .context import RunContext

__all__ = ["run_info", "versions", "mark_incomplete", "RunGuard",
           "TRACEBACK_FILE"]

log = logging.getLogger(__name__)

TRACEBACK_FILE = "traceback.txt"  # in the run directory, after an unexpected failure


def versions() -> dict[str, str]:
    """The versions of Python and of the libraries a run's numbers depend on (run.json)."""
    out = {"python": platform.python_version()}
    for pkg in ("orchestrator", "ray", "tensorflow", "tensorflow-cpu", "keras", "numpy", "pandas", "pyarrow",
                "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_info(spec: SweepSpec, run_id: str, started: float, *, ray_info: dict[str, Any], hosts: list[str],
             planned_trials: int, budget_s: float | None, requested: Any, data_report: dict[str, Any],
             tensorboard_dir: str | None = None) -> dict[str, Any]:
    """The run.json a run starts with (status ``running``; finalize adds how it ended).

    ``ray_info``: the Ray it runs on (address, started here, cluster resources); ``hosts``: its
    nodes' addresses; ``requested``: the spec's resources before ``auto`` was resolved.
    """
    info: dict[str, Any] = {
        "run_id": run_id, "name": spec.name, "status": "running", "strategy": spec.strategy,
        "spec_file": spec.source, "spec": spec.to_dict(),
        "started_at": started, "ended_at": None,
        "versions": versions(),
        "driver": {"host": socket.gethostname(), "pid": os.getpid(), "argv": sys.argv},
        "ray": ray_info,
        "hosts": hosts,
        "budget": {"trials": planned_trials, "time_s": budget_s, "metric": spec.metric_name, "mode": spec.mode,
                   "max_epochs": max_epochs(spec), "resources": spec.resources.model_dump(),
                   **({"resources_requested": requested.model_dump()} if requested.is_auto else {})},
        "data": data_report,
    }
    if tensorboard_dir is not None:
        info["tensorboard"] = tensorboard_dir
    return info


def mark_incomplete(run_dir: Path, tables: RunTables | None, mirror: Any = None) -> None:
    """After a failure: keep what the finished epochs told us and say the run is incomplete."""
    from ..results import write_json

    try:
        if tables is not None:
            tables.flush(run_dir)
        info = json.loads((run_dir / "run.json").read_text())
        info.update({"status": "incomplete", "ended_at": time.time()})
        write_json(info, run_dir / "run.json")
    except Exception:
        pass
    if mirror is not None:
        try:
            mirror.push()
        except Exception as e:  # noqa: BLE001 - the failure being reported is the caller's
            log.warning("could not copy %s to %s: %s", run_dir, mirror.remote, e)


# Failures that are the user's to fix or the user's doing: they go up as they are.
_PASSED_ON = (SpecError, UsageError, RunFailed)


class RunGuard:
    """Around a run: no failure leaves it unresumable, and none prints a traceback.

    Until :attr:`ctx` is set (just before run.json is first written), a failure has no run to
    mark; from then on, any failure marks the run incomplete (tables flushed, copied to the run's
    URI). A :class:`SpecError` or :class:`UsageError` (the user's input), an interrupt or a
    :class:`RunFailed` then goes up as it is. Anything else is written whole to
    ``RUN_DIR/traceback.txt`` (for a run on a URI, copied there; before the run directory exists,
    to a temporary file), followed by the Ray log lines held back meanwhile, and raised as one
    :class:`RunFailed` naming ``ctx.phase``.

    Args:
        logs: the held-back Ray log records (:class:`~orchestrator.execution.ray_start.RayLogs`).

    Attributes:
        ctx: the run, once it has a run directory.
        resumable: the run's strategy can be resumed (the message then says how).
    """

    def __init__(self, logs: Any = None) -> None:
        self.ctx: RunContext | None = None
        self.logs = logs
        self.resumable = True

    def __enter__(self) -> RunGuard:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if error is None:
            return
        ctx = self.ctx
        if ctx is not None:
            mark_incomplete(ctx.run_dir, ctx.tables, ctx.mirror)
        if isinstance(error, _PASSED_ON) or not isinstance(error, Exception):
            return  # raised as it is
        phase = ctx.phase if ctx is not None else "setting up the run"
        written = self._write_traceback(error)
        shown = ctx.location if ctx is not None and self.resumable else None
        raise RunFailed(phase, error, shown, written) from error

    def _write_traceback(self, error: BaseException) -> str | None:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        held = list(getattr(self.logs, "records", []))
        if held:
            text += "\nRay's log lines meanwhile (kept out of the terminal):\n" + "\n".join(held) + "\n"
        ctx = self.ctx
        try:
            if ctx is not None:
                (ctx.run_dir / TRACEBACK_FILE).write_text(text, encoding="utf-8")
                if ctx.mirror is None:
                    return str(ctx.run_dir / TRACEBACK_FILE)
                try:
                    ctx.mirror.push((TRACEBACK_FILE,))
                    return str(ctx.mirror.remote / TRACEBACK_FILE)
                except Exception:  # noqa: BLE001 - keep it on this machine instead
                    pass
            fd, path = tempfile.mkstemp(prefix="sweep-traceback-", suffix=".txt")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            return path
        except OSError:
            return None
