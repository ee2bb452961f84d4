"""Execution: Ray's start, the Tune experiment, the strategies, their events, and the run's end.

The modules, in the order a run goes through them:

- :mod:`.run` -- :func:`run_sweep` / :func:`resume_sweep`: a run's life from start to end;
- :mod:`.lifecycle` -- run.json and failures (a failed run left resumable, its traceback kept);
- :mod:`.ray_start` -- an embedded Ray (or a cluster's), its workers, what fits on it;
- :mod:`.strategies` -- how a run spends its compute (parallel through Ray Tune, babysit);
- :mod:`.tune_setup`, :mod:`.tune_events`, :mod:`.stoppers` -- the parallel strategy's Ray Tune
  experiment, its callbacks as trial events, its stoppers;
- :mod:`.events` -- trial events and the one sink that records them;
- :mod:`.finalize` -- the one end of every run: diagnose, select, test once, write.

Importing this package imports neither Ray nor TensorFlow: the names below load their module
when first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_sweep", "resume_sweep", "RunResult", "JOURNAL", "connect_ray", "shutdown_ray", "warm_workers",
           "resolve_resources"]


def __getattr__(name: str) -> Any:
    if name in ("run_sweep", "resume_sweep"):
        from . import run

        return getattr(run, name)
    if name in ("RunResult", "JOURNAL"):
        from . import context

        return getattr(context, name)
    if name in ("connect_ray", "shutdown_ray", "warm_workers", "resolve_resources"):
        from . import ray_start

        return getattr(ray_start, name)
    raise AttributeError(f"module 'orchestrator.execution' has no attribute {name!r}")
